//! `monitoring-dashboard.json`: an importable Grafana dashboard with a Prometheus datasource
//! variable and, per service, py2 and py3 side by side: requests, error percentage, p50/p99
//! latency, the traffic split, memory and CPU, health and, when the bundle runs `canaryc compare`,
//! response divergence. Thresholds are drawn at the rollback values.

use serde_json::{Value, json};

use super::metrics::Source;
use crate::ir::{Interpreter as Copy, Ir, TriggerKind};

const RATE: &str = "$__rate_interval";

fn target(expr: String, legend: &str, ref_id: &str) -> Value {
    json!({
        "datasource": { "type": "prometheus", "uid": "${datasource}" },
        "expr": expr,
        "legendFormat": legend,
        "refId": ref_id,
    })
}

fn threshold(ir: &Ir, kind: TriggerKind) -> Option<f64> {
    let t = ir.triggers.iter().find(|t| t.kind == kind)?;
    match t.effect {
        // Relative to py2: the line moves with py2's rate, so it is a series, not a line.
        Some(crate::stats::effect::Effect::AtLeast(bound)) => Some(bound * 100.0),
        Some(_) => None,
        None => Some(t.threshold),
    }
}

/// A recorded series of the plan for the dashboard's service.
fn recorded(ir: &Ir, name: &str, more: &str) -> String {
    format!(
        "{name}{{plan={},service=\"$service\"{more}}}",
        super::escape::promql::string(&ir.name)
    )
}

struct Panels {
    list: Vec<Value>,
    next_id: u64,
    y: u64,
}

impl Panels {
    fn add(
        &mut self,
        title: &str,
        unit: &str,
        targets: Vec<Value>,
        limit: Option<f64>,
        description: &str,
    ) {
        let x = (self.list.len() % 2) as u64 * 12;
        if x == 0 && !self.list.is_empty() {
            self.y += 8;
        }
        let mut steps = vec![json!({ "color": "green", "value": null })];
        if let Some(l) = limit {
            steps.push(json!({ "color": "red", "value": l }));
        }
        self.list.push(json!({
            "id": self.next_id,
            "type": "timeseries",
            "title": title,
            "description": description,
            "datasource": { "type": "prometheus", "uid": "${datasource}" },
            "gridPos": { "h": 8, "w": 12, "x": x, "y": self.y },
            "targets": targets,
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "thresholds": { "mode": "absolute", "steps": steps },
                    "custom": { "thresholdsStyle": { "mode": if limit.is_some() { "line" } else { "off" } } }
                },
                "overrides": []
            },
            "options": { "legend": { "displayMode": "list", "placement": "bottom" }, "tooltip": { "mode": "multi" } }
        }));
        self.next_id += 1;
    }
}

fn panels_for(src: &Source<'_>, ir: &Ir, panels: &mut Panels) {
    let both = |f: &dyn Fn(Copy) -> String| {
        vec![
            target(f(Copy::Py2), "py2", "A"),
            target(f(Copy::Py3), "py3", "B"),
        ]
    };
    panels.add(
        "Requests per second",
        "reqps",
        both(&|c| src.request_rate(c, RATE)),
        None,
        "Requests each copy serves.",
    );
    let mut errors = both(&|c| src.error_percent(c, RATE));
    let error_trigger = ir
        .triggers
        .iter()
        .find(|t| t.kind == TriggerKind::ErrorRate && t.effect.is_some());
    if let Some(t) = error_trigger {
        errors.push(target(
            format!(
                "{} * 100",
                recorded(
                    ir,
                    "canary:py3_error_ratio:alternative",
                    &format!(",alert={}", super::escape::promql::string(&t.alert))
                )
            ),
            "rate the rollback must catch",
            "C",
        ));
    }
    panels.add(
        "Server errors (%)",
        "percent",
        errors,
        threshold(ir, TriggerKind::ErrorRate),
        "5xx responses as a share of requests, and the rate the rollback trigger is built to catch (py2's day plus the threshold, for a relative one).",
    );
    panels.add(
        "Latency p50 and p99 (ms)",
        "ms",
        vec![
            target(src.quantile_ms(Copy::Py2, 0.5, RATE), "py2 p50", "A"),
            target(src.quantile_ms(Copy::Py3, 0.5, RATE), "py3 p50", "B"),
            target(src.quantile_ms(Copy::Py2, 0.99, RATE), "py2 p99", "C"),
            target(src.quantile_ms(Copy::Py3, 0.99, RATE), "py3 p99", "D"),
        ],
        threshold(ir, TriggerKind::LatencyAbsolute),
        "Response time quantiles from the latency histograms.",
    );
    panels.add(
        "py3 p99 as a multiple of py2's",
        "none",
        vec![target(
            format!(
                "{} / {}",
                src.quantile_ms(Copy::Py3, 0.99, RATE),
                src.quantile_ms(Copy::Py2, 0.99, RATE)
            ),
            "py3 / py2",
            "A",
        )],
        threshold(ir, TriggerKind::LatencyRatio),
        "The latency rollback trigger compares this ratio with its threshold.",
    );
    let py3 = src.request_rate(Copy::Py3, RATE);
    let py2 = src.request_rate(Copy::Py2, RATE);
    panels.add(
        "Traffic split (% to py3)",
        "percent",
        vec![target(
            format!("{py3} / ({py3} + {py2}) * 100"),
            "py3 share",
            "A",
        )],
        None,
        "The share of requests py3 actually served; compare with the stage's traffic.",
    );
    let mut resources = vec![
        target(src.cpu_percent(Copy::Py3, RATE), "py3 CPU", "A"),
        target(src.cpu_percent(Copy::Py2, RATE), "py2 CPU", "B"),
    ];
    if let (Some(m3), Some(m2)) = (src.memory_percent(Copy::Py3), src.memory_percent(Copy::Py2)) {
        resources.push(target(m3, "py3 memory", "C"));
        resources.push(target(m2, "py2 memory", "D"));
    }
    panels.add(
        "Memory and CPU (% of limit)",
        "percent",
        resources,
        threshold(ir, TriggerKind::Memory).or_else(|| threshold(ir, TriggerKind::Cpu)),
        "py3 objects differ in size from py2's: watch py3's memory as its share grows.",
    );
    panels.add(
        "Failing health checks",
        "short",
        both(&|c| src.health_failures(c, RATE)),
        threshold(ir, TriggerKind::HealthFailures),
        "Unavailable replicas or failed checks per copy.",
    );
    let margins: Vec<Value> = ir
        .triggers
        .iter()
        .filter(|t| t.is_sequential())
        .enumerate()
        .map(|(i, t)| {
            let name = if t.latency.is_some() {
                "canary:py3_latency_slow_ratio:margin"
            } else {
                "canary:py3_error_ratio:margin"
            };
            target(
                format!(
                    "max({})",
                    recorded(
                        ir,
                        name,
                        &format!(",alert={}", super::escape::promql::string(&t.alert))
                    )
                ),
                &t.alert,
                &((b'A' + (i % 26) as u8) as char).to_string(),
            )
        })
        .collect();
    if !margins.is_empty() {
        panels.add(
            "Rollback evidence (rolls back above 0)",
            "none",
            margins,
            Some(0.0),
            "For each sequential trigger, the best window's evidence that py3 is worse than the trigger allows, minus what that window needs (nats). Above zero the alert fires.",
        );
        panels.add(
            "Stage evidence (moves on at 0 and above)",
            "none",
            vec![target(
                format!("max by (stage, criterion) ({})", recorded(ir, "canary:stage_evidence:margin", "")),
                "__auto",
                "A",
            )],
            Some(0.0),
            "For each stage's criteria, the evidence that py3 is not worse than the criterion allows, minus what a pass needs (95% confidence). A stage has passed when all of its lines are at or above zero.",
        );
    }
    // Only where `canaryc compare` runs: without it nothing exports the series, and an empty
    // panel would read as "no divergence".
    if ir.comparator {
        panels.add(
            "Diverging responses (%)",
            "percent",
            vec![target(src.divergence_percent(RATE), "diverged", "A")],
            threshold(ir, TriggerKind::Divergence),
            "Share of compared responses where py3 answered differently from py2, from canaryc compare (canary_compared_responses_total on its admin /metrics); its /report names the endpoints and fields.",
        );
    }
}

pub(super) fn dashboard(ir: &Ir) -> String {
    let mut panels = Panels {
        list: Vec::new(),
        next_id: 1,
        y: 0,
    };
    // One set of panels; the `service` variable picks which service they show.
    if let Some(first) = ir.services.first() {
        let mut templated = first.clone();
        templated.name = "$service".into();
        let src = Source::for_services(ir, vec![&templated]);
        panels_for(&src, ir, &mut panels);
    }
    let names: Vec<&str> = ir.services.iter().map(|s| s.name.as_str()).collect();
    let first = names.first().copied().unwrap_or_default();
    let doc = json!({
        "title": format!("{} canary: Python {} vs {}", ir.name, ir.python_from, ir.python_to),
        "uid": format!("canary-{}", ir.name),
        "description": "Generated by canaryc from canary.plan.",
        "tags": ["canary", "python3", ir.name],
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "graphTooltip": 1,
        "time": { "from": "now-6h", "to": "now" },
        "refresh": "30s",
        "templating": { "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "hide": 0,
                "current": {}
            },
            {
                "name": "service",
                "label": "Service",
                "type": "custom",
                "query": names.join(","),
                "options": names.iter().enumerate().map(|(i, n)| json!({ "text": n, "value": n, "selected": i == 0 })).collect::<Vec<_>>(),
                "current": { "text": first, "value": first },
                "hide": if names.len() > 1 { 0 } else { 2 },
                "multi": false,
                "includeAll": false
            }
        ] },
        "annotations": { "list": [] },
        "panels": panels.list,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
