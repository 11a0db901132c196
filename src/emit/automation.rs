//! The parts that make a bare-metal canary roll back by itself: a Prometheus config that scrapes
//! HAProxy and both copies and loads the alerts, an Alertmanager config that routes rollback
//! alerts to a webhook, the hooks file for the `webhook` daemon (Debian package `webhook`), and
//! the scripts it runs: `canary-rollback.sh` (py3 to weight 0 and maintenance, through HAProxy's
//! runtime API, saved to the server-state file) and `canary-set-weight.sh` (stage changes).
//!
//! The receiver is authenticated: Alertmanager sends a bearer token read from a root-only file
//! (`http_config.authorization.credentials_file`), the webhook daemon refuses a request without
//! one (403), and `canary-rollback.sh` compares it with the same file before acting. The
//! service comes from the alert's labels, so the script acts only on a service it was built
//! with; and every command it sends HAProxy's admin socket is one command (no `;`, no newline).

use serde_json::json;

use super::escape::shell;
use super::haproxy::WEIGHT_TOTAL;
use super::{OutputFile, file, yaml};
use crate::ir::{Interpreter, Ir};

/// What the webhook daemon accepts as an Authorization header before running anything.
const BEARER_SHAPE: &str = "^Bearer [A-Za-z0-9._~+/=-]{32,}$";

pub(crate) fn files(ir: &Ir, compose: bool) -> Vec<OutputFile> {
    if compose {
        return Vec::new();
    }
    vec![
        file(
            "prometheus.yml",
            "Prometheus: scrapes HAProxy and both copies, loads the alerts, sends them to Alertmanager",
            prometheus(ir),
        ),
        file(
            "alertmanager.yml",
            "Alertmanager: routes rollback alerts to the rollback webhook",
            alertmanager(ir),
        ),
        file(
            "webhook-hooks.yaml",
            "webhook daemon: runs canary-rollback.sh when a rollback alert arrives",
            hooks(ir),
        ),
        file(
            "canary-rollback.sh",
            "rolls py3 back through HAProxy's runtime API and saves the state",
            rollback_script(ir),
        ),
        file(
            "canary-set-weight.sh",
            "moves to a stage: sets py3's share through HAProxy's runtime API",
            set_weight_script(ir),
        ),
    ]
}

fn prometheus(ir: &Ir) -> String {
    let mut scrape = vec![json!({
        "job_name": "haproxy",
        "static_configs": [ { "targets": [format!("127.0.0.1:{}", ir.listen.stats_port)] } ]
    })];
    for s in &ir.services {
        for copy in [Interpreter::Py2, Interpreter::Py3] {
            let port = if copy == Interpreter::Py2 {
                s.port_py2
            } else {
                s.port_py3
            };
            scrape.push(json!({
                "job_name": s.object(copy),
                // The app labels its own metrics with service and version; keep them as they are.
                "honor_labels": true,
                "static_configs": [ {
                    "targets": [format!("127.0.0.1:{port}")],
                    "labels": { "service": s.name, "version": copy.as_str() }
                } ]
            }));
        }
        if let Some(c) = &s.compare {
            if let Some(t) = c.target(crate::ir::InfraKind::BareMetal) {
                scrape.push(comparator_scrape(c, t));
            }
        }
    }
    let doc = json!({
        "global": {
            "scrape_interval": super::prometheus::duration(ir.metrics.scrape_interval_secs),
            "evaluation_interval": super::prometheus::duration(ir.metrics.scrape_interval_secs),
        },
        "rule_files": ["prometheus-alerts.yaml"],
        "alerting": { "alertmanagers": [ { "static_configs": [ { "targets": [format!("127.0.0.1:{}", ir.listen.alertmanager_port)] } ] } ] },
        "scrape_configs": scrape,
    });
    format!(
        "# Prometheus for the {} canary: install next to prometheus-alerts.yaml.\n# The app copies expose http_requests_total and http_request_duration_seconds on /metrics.\n{}",
        ir.name,
        yaml::to_string(&doc)
    )
}

/// The scrape job of a comparator's admin `/metrics`: its job name is what the comparator-health
/// alert finds it by. The comparator labels its own series with `service`.
pub(crate) fn comparator_scrape(
    c: &crate::ir::ComparatorIr,
    t: &crate::ir::ComparatorTarget,
) -> serde_json::Value {
    json!({
        "job_name": c.name,
        "honor_labels": true,
        "static_configs": [ { "targets": [t.scrape] } ]
    })
}

fn alertmanager(ir: &Ir) -> String {
    let url = format!(
        "http://127.0.0.1:{}/hooks/canary-rollback-{}",
        ir.listen.webhook_port, ir.name
    );
    format!(
        "# Alertmanager for the {} canary. canary-notify has no integrations: add your pager or chat there.\n{}",
        ir.name,
        yaml::to_string(&alertmanager_routes(ir, &url, Some(&ir.host.token_file)))
    )
}

/// Rollback alerts of this plan to the rollback receiver at `url`; the rest to a receiver with
/// no integrations, for the team's pager.
pub(crate) fn alertmanager_routes(
    ir: &Ir,
    url: &str,
    token_file: Option<&str>,
) -> serde_json::Value {
    let mut webhook = json!({ "url": url, "send_resolved": false });
    if let Some(token_file) = token_file {
        // The rollback receiver runs only for a caller that has this token.
        webhook["http_config"] =
            json!({ "authorization": { "type": "Bearer", "credentials_file": token_file } });
    }
    json!({
        "route": {
            "receiver": "canary-notify",
            "group_by": ["alertname", "service"],
            "group_wait": "5s",
            "group_interval": "1m",
            "repeat_interval": "1h",
            "routes": [ {
                "receiver": "canary-rollback",
                "matchers": [ "canary=\"rollback\"", format!("plan={}", super::escape::promql::string(&ir.name)) ],
                "group_wait": "0s",
                "continue": true
            } ]
        },
        "receivers": [
            { "name": "canary-notify" },
            { "name": "canary-rollback", "webhook_configs": [ webhook ] }
        ]
    })
}

fn hooks(ir: &Ir) -> String {
    let dir = &ir.host.install_dir;
    // The token and the service reach the script in its environment, not its arguments (which
    // `ps` shows); the script checks the token against its file and the service against its list.
    let doc = json!([ {
        "id": format!("canary-rollback-{}", ir.name),
        "execute-command": format!("{dir}/canary-rollback.sh"),
        "command-working-directory": dir,
        "http-methods": ["POST"],
        "include-command-output-in-response": true,
        "include-command-output-in-response-on-error": true,
        "pass-arguments-to-command": [ { "source": "string", "name": "--from-webhook" } ],
        "pass-environment-to-command": [
            { "source": "header", "name": "Authorization", "envname": "CANARY_AUTHORIZATION" },
            { "source": "payload", "name": "commonLabels.service", "envname": "CANARY_SERVICE" }
        ],
        "trigger-rule-mismatch-http-response-code": 403,
        "trigger-rule": { "and": [
            { "match": { "type": "value", "value": "firing", "parameter": { "source": "payload", "name": "status" } } },
            { "match": { "type": "regex", "regex": BEARER_SHAPE, "parameter": { "source": "header", "name": "Authorization" } } }
        ] }
    } ]);
    format!(
        "# Hooks for the webhook daemon: webhook -hooks {dir}/webhook-hooks.yaml -ip 127.0.0.1 -port {}\n{}",
        ir.listen.webhook_port,
        yaml::to_string(&doc)
    )
}

/// `"${VAR:-default}"`: the default unless the environment says otherwise. Inside double quotes
/// a quoted default would keep its quotes, so one that needs quoting is written unquoted.
fn overridable(var: &str, default: &str) -> String {
    let word = shell::word(default);
    if word == default {
        format!("\"${{{var}:-{default}}}\"")
    } else {
        format!("${{{var}:-{word}}}")
    }
}

fn script_header(ir: &Ir) -> String {
    let services: Vec<String> = ir
        .services
        .iter()
        .map(|s| shell::word(&s.name).into_owned())
        .collect();
    format!(
        "#!/usr/bin/env bash\n# Generated by canaryc from canary.plan for the {name} canary.\nset -euo pipefail\n\n\
         SOCKET={socket}\nSTATE_FILE={state}\nSERVICES=({services})\n\n\
         # One command to HAProxy's runtime API; fails loudly if HAProxy says anything but nothing.\n\
         # The API runs each `;`- or newline-separated part as a command: refuse those outright.\n\
         hap() {{\n  local reply\n  case \"$1\" in\n    *';'* | *$'\\n'* | *$'\\r'*)\n      echo \"refusing to send HAProxy more than one command: $(printf '%q' \"$1\")\" >&2\n      return 1\n      ;;\n  esac\n  reply=$(printf '%s\\n' \"$1\" | socat stdio \"unix-connect:$SOCKET\")\n  if [ -n \"$reply\" ]; then\n    echo \"haproxy: $1: $reply\" >&2\n    return 1\n  fi\n}}\n\n\
         # Only the services this bundle was built for; anything else is refused, not passed on.\n\
         known_service() {{\n  local s\n  for s in \"${{SERVICES[@]}}\"; do\n    if [ \"$s\" = \"$1\" ]; then\n      return 0\n    fi\n  done\n  echo \"$0: refusing unknown service $(printf '%q' \"$1\"); this bundle knows: ${{SERVICES[*]}}\" >&2\n  return 1\n}}\n\n\
         # Runtime changes are lost on reload unless saved for load-server-state-from-file.\n\
         save_state() {{\n  printf 'show servers state\\n' | socat stdio \"unix-connect:$SOCKET\" > \"$STATE_FILE.tmp\"\n  mv \"$STATE_FILE.tmp\" \"$STATE_FILE\"\n}}\n\n",
        name = ir.name,
        socket = overridable("HAPROXY_SOCKET", &ir.host.socket),
        state = overridable("HAPROXY_STATE_FILE", &ir.host.state_file),
        services = services.join(" "),
    )
}

fn rollback_script(ir: &Ir) -> String {
    let mut out = script_header(ir);
    // With canaryc's engine, the same rollback through `canaryc rollback`: it takes the lock
    // `canaryc promote` applies under, so a promote run cannot undo it, and records it.
    let promote = ir.targets.iter().any(|t| {
        t.engine == crate::ir::Engine::Canaryc && t.infra == crate::ir::InfraKind::BareMetal
    });
    let through_canaryc = if promote {
        format!(
            "PROMOTE_CONFIG=\"${{CANARY_PROMOTE_CONFIG:-{}/canary-promote.json}}\"\n\
             if command -v canaryc >/dev/null 2>&1 && [ -f \"$PROMOTE_CONFIG\" ]; then\n\
             \x20 for service in \"${{targets[@]}}\"; do\n    canaryc rollback --config \"$PROMOTE_CONFIG\" \"$service\"\n  done\n  exit 0\nfi\n",
            ir.host.install_dir
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        "# Usage: canary-rollback.sh [SERVICE]   (all services without one)\n\
         # Sends every request back to py2: py3 gets weight 0 and maintenance, so even users pinned to\n\
         # py3 by cookie are redispatched to py2. Safe to run twice.\n\
         #\n\
         # The webhook daemon runs it as `canary-rollback.sh --from-webhook` with the request's\n\
         # Authorization header and the alert's service label in the environment: the header must\n\
         # carry the token Alertmanager sends, from {token}, or nothing happens.\n\
         if [ \"${{1:-}}\" = --from-webhook ]; then\n\
         \x20 refuse() {{\n    echo \"canary-rollback.sh: refused: $1\" >&2\n    exit 3\n  }}\n\
         \x20 token_file={token_default}\n\
         \x20 expected=$(cat \"$token_file\" 2>/dev/null) || refuse \"cannot read $token_file\"\n\
         \x20 [ -n \"$expected\" ] || refuse \"$token_file is empty\"\n\
         \x20 # Compare digests, so the time taken says nothing about the token.\n\
         \x20 given=$(printf '%s' \"${{CANARY_AUTHORIZATION:-}}\" | sha256sum)\n\
         \x20 wanted=$(printf 'Bearer %s' \"$expected\" | sha256sum)\n\
         \x20 [ \"$given\" = \"$wanted\" ] || refuse \"the request does not carry the rollback token\"\n\
         \x20 set -- \"${{CANARY_SERVICE:-}}\"\n\
         fi\n\
         targets=(\"${{SERVICES[@]}}\")\n\
         if [ $# -gt 0 ] && [ -n \"$1\" ]; then\n  known_service \"$1\" || exit 2\n  targets=(\"$1\")\nfi\n\
         {through_canaryc}\
         for service in \"${{targets[@]}}\"; do\n\
         \x20 hap \"set server $service/py2 state ready\"\n\
         \x20 hap \"set server $service/py2 weight {WEIGHT_TOTAL}\"\n\
         \x20 hap \"set server $service/py3 weight 0\"\n\
         \x20 hap \"set server $service/py3 state maint\"\n\
         \x20 echo \"$(date -u +%Y-%m-%dT%H:%M:%SZ) rolled back $service: py3 weight 0, maintenance\"\n\
         done\nsave_state\n",
        token = ir.host.token_file,
        token_default = overridable("CANARY_TOKEN_FILE", &ir.host.token_file),
    ));
    out
}

fn set_weight_script(ir: &Ir) -> String {
    let mut out = script_header(ir);
    let stages: Vec<String> = ir
        .stages
        .iter()
        .map(|s| {
            format!(
                "#   {:<16} {}%",
                super::escape::comment(&s.name),
                crate::ir::fmt(s.traffic)
            )
        })
        .collect();
    out.push_str(&format!(
        "# Usage: canary-set-weight.sh PERCENT [SERVICE]\n# Gives py3 PERCENT of new requests (0 to 100, decimals allowed). The plan's stages:\n{}\n\
         if [ $# -lt 1 ]; then\n  echo \"usage: $0 PERCENT [SERVICE]\" >&2\n  exit 2\nfi\n\
         percent=\"$1\"\n\
         if ! awk -v p=\"$percent\" 'BEGIN {{ exit !(p ~ /^[0-9]+([.][0-9]+)?$/ && p >= 0 && p <= 100) }}'; then\n  echo \"$0: PERCENT must be a number from 0 to 100, not $percent\" >&2\n  exit 2\nfi\n\
         # Weights out of {WEIGHT_TOTAL}; a share above zero never rounds down to nothing.\n\
         py3=$(awk -v p=\"$percent\" 'BEGIN {{ w = int(p * {WEIGHT_TOTAL} / 100 + 0.5); if (p > 0 && w == 0) w = 1; print w }}')\n\
         py2=$(( {WEIGHT_TOTAL} - py3 ))\n\
         targets=(\"${{SERVICES[@]}}\")\n\
         if [ $# -gt 1 ]; then\n  known_service \"$2\" || exit 2\n  targets=(\"$2\")\nfi\n\
         for service in \"${{targets[@]}}\"; do\n\
         \x20 hap \"set server $service/py3 state ready\"\n\
         \x20 hap \"set server $service/py2 weight $py2\"\n\
         \x20 hap \"set server $service/py3 weight $py3\"\n\
         \x20 echo \"$service: py3 at $percent% (weights py2 $py2, py3 $py3)\"\n\
         done\nsave_state\n",
        stages.join("\n")
    ));
    out
}
