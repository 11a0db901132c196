//! canaryc's engine inside the Compose project: the bare-metal loop as services, so
//! `docker compose up` rolls back and ramps up by itself. Prometheus scrapes the load balancer
//! and both copies and evaluates the same alerts; Alertmanager routes rollback alerts to the
//! rollback receiver (the `webhook` daemon running `canaryc rollback`); `canary-promote` runs
//! `canaryc promote --every` against HAProxy's runtime API (its admin socket, shared through the
//! `haproxy-state` volume). Images are pinned by tag.

use serde_json::{Map, Value, json};

use crate::emit::{OutputFile, file, prometheus::duration, yaml};
use crate::ir::{Interpreter, Ir};

pub(crate) const PROMETHEUS_IMAGE: &str = "prom/prometheus:v2.53.1";
pub(crate) const ALERTMANAGER_IMAGE: &str = "prom/alertmanager:v0.27.0";
/// canaryc and the webhook daemon, built from `Dockerfile.canaryc`.
pub(crate) fn canaryc_image() -> String {
    format!("canaryc:{}", env!("CARGO_PKG_VERSION"))
}
/// How often `canary-promote` tries the next stage: every minute, or a quarter of the shortest
/// hold when holds are shorter (test plans), at least every 5s.
pub(crate) fn promote_every(ir: &Ir) -> u64 {
    let shortest = ir
        .stages
        .iter()
        .map(|s| (s.hold_hours * 3600.0).round() as u64)
        .min()
        .unwrap_or(240);
    (shortest / 4).clamp(5, 60)
}
const CONFIG_DIR: &str = "/etc/canaryc";

/// The services the loop adds to `docker-compose-canary.yml`, and its named volumes.
pub(crate) fn services(ir: &Ir) -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let bundle = |name: &str| json!(format!("./{name}:{CONFIG_DIR}/{name}:ro"));
    out.insert(
        "prometheus".into(),
        json!({
            "image": PROMETHEUS_IMAGE,
            "command": ["--config.file=/etc/canaryc/compose-prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"],
            "volumes": [bundle("compose-prometheus.yml"), bundle("prometheus-alerts.yaml"), "canary-prometheus:/prometheus"],
            "ports": ["127.0.0.1:${CANARY_PROMETHEUS_PORT:-9090}:9090"],
            "restart": "unless-stopped"
        }),
    );
    out.insert(
        "alertmanager".into(),
        json!({
            "image": ALERTMANAGER_IMAGE,
            "command": ["--config.file=/etc/canaryc/compose-alertmanager.yml", "--storage.path=/alertmanager", "--cluster.listen-address="],
            "volumes": [bundle("compose-alertmanager.yml"), "canary-alertmanager:/alertmanager"],
            "restart": "unless-stopped"
        }),
    );
    out.insert(
        "canary-rollback".into(),
        json!({
            "image": canaryc_image(),
            "command": ["webhook", "-hooks", "/etc/canaryc/compose-webhook-hooks.yaml", "-port", "9000", "-verbose"],
            "volumes": [bundle("compose-webhook-hooks.yaml"), bundle("canary-promote.json"), "haproxy-state:/var/lib/haproxy", "canary-promote-state:/var/lib/canaryc"],
            "depends_on": ["canary-lb"],
            "restart": "unless-stopped"
        }),
    );
    out.insert(
        "canary-promote".into(),
        json!({
            "image": canaryc_image(),
            "command": ["canaryc", "promote", "--config", "/etc/canaryc/canary-promote.json", "--every", duration(promote_every(ir))],
            "volumes": [bundle("canary-promote.json"), "haproxy-state:/var/lib/haproxy", "canary-promote-state:/var/lib/canaryc"],
            "depends_on": ["canary-lb", "prometheus"],
            "init": true,
            "restart": "unless-stopped"
        }),
    );
    (
        out,
        vec![
            "canary-prometheus".into(),
            "canary-alertmanager".into(),
            "canary-promote-state".into(),
        ],
    )
}

fn prometheus(ir: &Ir) -> String {
    let mut scrape = vec![json!({
        "job_name": "haproxy",
        "static_configs": [ { "targets": [format!("canary-lb:{}", ir.listen.stats_port)] } ]
    })];
    for s in &ir.services {
        for copy in [Interpreter::Py2, Interpreter::Py3] {
            scrape.push(json!({
                "job_name": s.object(copy),
                "honor_labels": true,
                "static_configs": [ {
                    "targets": [s.address(copy, true)],
                    "labels": { "service": s.name, "version": copy.as_str() }
                } ]
            }));
        }
        if let Some((c, t)) = crate::emit::compose::comparator(s) {
            scrape.push(crate::emit::automation::comparator_scrape(c, t));
        }
    }
    let every = crate::emit::prometheus::duration(ir.metrics.scrape_interval_secs);
    let doc = json!({
        "global": { "scrape_interval": every, "evaluation_interval": every },
        "rule_files": ["prometheus-alerts.yaml"],
        "alerting": { "alertmanagers": [ { "static_configs": [ { "targets": ["alertmanager:9093"] } ] } ] },
        "scrape_configs": scrape,
    });
    format!(
        "# Prometheus inside the {} canary's Compose stack: scrapes canary-lb and both copies, evaluates the rollback alerts.\n{}",
        ir.name,
        yaml::to_string(&doc)
    )
}

fn alertmanager(ir: &Ir) -> String {
    let url = format!(
        "http://canary-rollback:9000/hooks/canary-rollback-{}",
        ir.name
    );
    format!(
        "# Alertmanager inside the {} canary's Compose stack. canary-notify has no integrations: add your pager or chat there.\n{}",
        ir.name,
        // The receiver is reachable only on the stack's own network (no published port), and
        // `canaryc rollback` acts only on the plan's services.
        yaml::to_string(&crate::emit::automation::alertmanager_routes(
            ir, &url, None
        ))
    )
}

fn hooks(ir: &Ir) -> String {
    let doc = json!([ {
        "id": format!("canary-rollback-{}", ir.name),
        "execute-command": "/usr/local/bin/canaryc",
        "command-working-directory": "/",
        "include-command-output-in-response": true,
        "pass-arguments-to-command": [
            { "source": "string", "name": "rollback" },
            { "source": "string", "name": "--config" },
            { "source": "string", "name": "/etc/canaryc/canary-promote.json" },
            { "source": "payload", "name": "commonLabels.service" }
        ],
        "trigger-rule": { "match": { "type": "value", "value": "firing", "parameter": { "source": "payload", "name": "status" } } }
    } ]);
    format!(
        "# Hooks for the rollback receiver in the Compose stack: `canaryc rollback` through HAProxy's runtime API.\n{}",
        yaml::to_string(&doc)
    )
}

fn dockerfile(users: &str) -> String {
    format!(
        "# The image {} run: canaryc and the webhook daemon.\n\
         # Build it next to a canaryc binary: cp \"$(command -v canaryc)\" . && docker build -t {} -f Dockerfile.canaryc .\n\
         FROM debian:12-slim\n\
         RUN apt-get update && apt-get install -y --no-install-recommends webhook && rm -rf /var/lib/apt/lists/*\n\
         COPY canaryc /usr/local/bin/canaryc\n",
        users,
        canaryc_image()
    )
}

pub(crate) fn files(ir: &Ir) -> Vec<OutputFile> {
    vec![
        file(
            "compose-prometheus.yml",
            "Prometheus in the Compose stack: scrapes canary-lb and both copies, loads the alerts",
            prometheus(ir),
        ),
        file(
            "compose-alertmanager.yml",
            "Alertmanager in the Compose stack: routes rollback alerts to canary-rollback",
            alertmanager(ir),
        ),
        file(
            "compose-webhook-hooks.yaml",
            "the rollback receiver in the Compose stack: runs `canaryc rollback SERVICE` when a rollback alert arrives",
            hooks(ir),
        ),
        dockerfile_file(ir),
    ]
}

/// `Dockerfile.canaryc`: the image of canary-rollback, canary-promote and the comparator,
/// whichever of them the stack runs.
pub(crate) fn dockerfile_file(ir: &Ir) -> OutputFile {
    let comparator = ir
        .services
        .iter()
        .any(|s| crate::emit::compose::comparator(s).is_some());
    let looping = ir.targets.iter().any(|t| {
        t.infra == crate::ir::InfraKind::DockerCompose && t.engine == crate::ir::Engine::Canaryc
    });
    let users = match (looping, comparator) {
        (true, true) => "the canary-rollback and canary-promote services and the comparator",
        (false, true) => "the comparator service",
        _ => "the canary-rollback and canary-promote services",
    };
    let purpose = if comparator {
        format!("the image of {users} in the Compose stack: canaryc and the webhook daemon")
    } else {
        "the image of canary-rollback and canary-promote: canaryc and the webhook daemon".into()
    };
    OutputFile {
        name: "Dockerfile.canaryc".into(),
        purpose,
        contents: dockerfile(users),
    }
}
