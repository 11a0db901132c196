//! The parts that make a bare-metal canary roll back by itself: a Prometheus config that scrapes
//! HAProxy and both copies and loads the alerts, an Alertmanager config that routes rollback
//! alerts to a webhook, the hooks file for the `webhook` daemon (Debian package `webhook`), and
//! the scripts it runs: `canary-rollback.sh` (py3 to weight 0 and maintenance, through HAProxy's
//! runtime API, saved to the server-state file) and `canary-set-weight.sh` (stage changes).

use serde_json::json;

use super::haproxy::{WEIGHT_TOTAL, socket, state_file};
use super::{OutputFile, file, yaml};
use crate::ir::{Copy, Ir};

/// Where the runbook installs these files on the host.
pub fn install_dir(ir: &Ir) -> String {
    format!("/etc/canaryc/{}", ir.name)
}

pub fn files(ir: &Ir, compose: bool) -> Vec<OutputFile> {
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
        for copy in [Copy::Py2, Copy::Py3] {
            let port = if copy == Copy::Py2 {
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

fn alertmanager(ir: &Ir) -> String {
    let url = format!(
        "http://127.0.0.1:{}/hooks/canary-rollback-{}",
        ir.listen.webhook_port, ir.name
    );
    format!(
        "# Alertmanager for the {} canary. canary-notify has no integrations: add your pager or chat there.\n{}",
        ir.name,
        yaml::to_string(&alertmanager_routes(ir, &url))
    )
}

/// Rollback alerts of this plan to the rollback receiver at `url`; the rest to a receiver with
/// no integrations, for the team's pager.
pub(crate) fn alertmanager_routes(ir: &Ir, url: &str) -> serde_json::Value {
    json!({
        "route": {
            "receiver": "canary-notify",
            "group_by": ["alertname", "service"],
            "group_wait": "5s",
            "group_interval": "1m",
            "repeat_interval": "1h",
            "routes": [ {
                "receiver": "canary-rollback",
                "matchers": [ "canary=\"rollback\"", format!("plan=\"{}\"", ir.name) ],
                "group_wait": "0s",
                "continue": true
            } ]
        },
        "receivers": [
            { "name": "canary-notify" },
            { "name": "canary-rollback", "webhook_configs": [ { "url": url, "send_resolved": false } ] }
        ]
    })
}

fn hooks(ir: &Ir) -> String {
    let dir = install_dir(ir);
    let doc = json!([ {
        "id": format!("canary-rollback-{}", ir.name),
        "execute-command": format!("{dir}/canary-rollback.sh"),
        "command-working-directory": dir,
        "include-command-output-in-response": true,
        "pass-arguments-to-command": [ { "source": "payload", "name": "commonLabels.service" } ],
        "trigger-rule": { "match": { "type": "value", "value": "firing", "parameter": { "source": "payload", "name": "status" } } }
    } ]);
    format!(
        "# Hooks for the webhook daemon: webhook -hooks {dir}/webhook-hooks.yaml -ip 127.0.0.1 -port {}\n{}",
        ir.listen.webhook_port,
        yaml::to_string(&doc)
    )
}

fn script_header(ir: &Ir) -> String {
    let services: Vec<&str> = ir.services.iter().map(|s| s.name.as_str()).collect();
    format!(
        "#!/usr/bin/env bash\n# Generated by canaryc from canary.plan for the {name} canary.\nset -euo pipefail\n\n\
         SOCKET=\"${{HAPROXY_SOCKET:-{socket}}}\"\nSTATE_FILE=\"${{HAPROXY_STATE_FILE:-{state}}}\"\nSERVICES=({services})\n\n\
         # One command to HAProxy's runtime API; fails loudly if HAProxy says anything but nothing.\n\
         hap() {{\n  local reply\n  reply=$(printf '%s\\n' \"$1\" | socat stdio \"unix-connect:$SOCKET\")\n  if [ -n \"$reply\" ]; then\n    echo \"haproxy: $1: $reply\" >&2\n    return 1\n  fi\n}}\n\n\
         # Runtime changes are lost on reload unless saved for load-server-state-from-file.\n\
         save_state() {{\n  printf 'show servers state\\n' | socat stdio \"unix-connect:$SOCKET\" > \"$STATE_FILE.tmp\"\n  mv \"$STATE_FILE.tmp\" \"$STATE_FILE\"\n}}\n\n",
        name = ir.name,
        socket = socket(ir, false),
        state = state_file(ir),
        services = services.join(" "),
    )
}

fn rollback_script(ir: &Ir) -> String {
    let mut out = script_header(ir);
    // With canaryc's engine, the same rollback through `canaryc rollback`: it takes the lock
    // `canaryc promote` applies under, so a promote run cannot undo it, and records it.
    let promote = ir.targets.iter().any(|t| {
        t.engine == crate::model::Engine::Canaryc && t.infra == crate::model::InfraKind::BareMetal
    });
    let through_canaryc = if promote {
        format!(
            "PROMOTE_CONFIG=\"${{CANARY_PROMOTE_CONFIG:-{}/canary-promote.json}}\"\n\
             if command -v canaryc >/dev/null 2>&1 && [ -f \"$PROMOTE_CONFIG\" ]; then\n\
             \x20 for service in \"${{targets[@]}}\"; do\n    canaryc rollback --config \"$PROMOTE_CONFIG\" \"$service\"\n  done\n  exit 0\nfi\n",
            install_dir(ir)
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        "# Usage: canary-rollback.sh [SERVICE]   (all services without one)\n\
         # Sends every request back to py2: py3 gets weight 0 and maintenance, so even users pinned to\n\
         # py3 by cookie are redispatched to py2. Safe to run twice.\n\
         targets=(\"${{SERVICES[@]}}\")\n\
         if [ $# -gt 0 ] && [ -n \"$1\" ]; then\n  targets=(\"$1\")\nfi\n\
         {through_canaryc}\
         for service in \"${{targets[@]}}\"; do\n\
         \x20 hap \"set server $service/py2 state ready\"\n\
         \x20 hap \"set server $service/py2 weight {WEIGHT_TOTAL}\"\n\
         \x20 hap \"set server $service/py3 weight 0\"\n\
         \x20 hap \"set server $service/py3 state maint\"\n\
         \x20 echo \"$(date -u +%Y-%m-%dT%H:%M:%SZ) rolled back $service: py3 weight 0, maintenance\"\n\
         done\nsave_state\n"
    ));
    out
}

fn set_weight_script(ir: &Ir) -> String {
    let mut out = script_header(ir);
    let stages: Vec<String> = ir
        .stages
        .iter()
        .map(|s| format!("#   {:<16} {}%", s.name, crate::ir::fmt(s.traffic)))
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
         if [ $# -gt 1 ]; then\n  targets=(\"$2\")\nfi\n\
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
