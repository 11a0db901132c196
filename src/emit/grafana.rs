//! `monitoring-dashboard.json`: an importable Grafana dashboard with a Prometheus datasource
//! variable and, per service, py2 and py3 side by side: requests, error percentage, p50/p99
//! latency, the traffic split, memory and CPU, health and response divergence. Thresholds are
//! drawn at the rollback values.

use serde_json::{Value, json};

use super::metrics::Source;
use crate::ir::{Copy, Ir, ServiceIr, TriggerKind};

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
    ir.triggers
        .iter()
        .find(|t| t.kind == kind)
        .map(|t| t.threshold)
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

fn service_panels(ir: &Ir, s: &ServiceIr, panels: &mut Panels) {
    let src = Source::new(ir, s);
    let both = |f: &dyn Fn(Copy) -> String| {
        vec![
            target(f(Copy::Py2), "py2", "A"),
            target(f(Copy::Py3), "py3", "B"),
        ]
    };
    panels.add(
        &format!("{}: requests per second", s.name),
        "reqps",
        both(&|c| src.rate(&src.requests(c), None, RATE)),
        None,
        "Requests each copy serves.",
    );
    panels.add(
        &format!("{}: server errors (%)", s.name),
        "percent",
        both(&|c| src.error_percent(c, RATE)),
        threshold(ir, TriggerKind::ErrorRate),
        "5xx responses as a share of requests; the red line is the rollback threshold.",
    );
    let src_ref = &src;
    let p = |q: f64| move |c: Copy| src_ref.quantile_ms(c, q, RATE);
    panels.add(
        &format!("{}: latency p50 and p99 (ms)", s.name),
        "ms",
        vec![
            target(p(0.5)(Copy::Py2), "py2 p50", "A"),
            target(p(0.5)(Copy::Py3), "py3 p50", "B"),
            target(p(0.99)(Copy::Py2), "py2 p99", "C"),
            target(p(0.99)(Copy::Py3), "py3 p99", "D"),
        ],
        threshold(ir, TriggerKind::LatencyAbsolute),
        "Response time quantiles from the latency histograms.",
    );
    panels.add(
        &format!("{}: py3 p99 as a multiple of py2's", s.name),
        "none",
        vec![target(
            format!("({}) / ({})", p(0.99)(Copy::Py3), p(0.99)(Copy::Py2)),
            "py3 / py2",
            "A",
        )],
        threshold(ir, TriggerKind::LatencyRatio),
        "The latency rollback trigger compares this ratio with its threshold.",
    );
    let py3 = src.rate(&src.requests(Copy::Py3), None, RATE);
    let py2 = src.rate(&src.requests(Copy::Py2), None, RATE);
    panels.add(
        &format!("{}: traffic split (% to py3)", s.name),
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
        &format!("{}: memory and CPU (% of limit)", s.name),
        "percent",
        resources,
        threshold(ir, TriggerKind::Memory).or_else(|| threshold(ir, TriggerKind::Cpu)),
        "py3 objects differ in size from py2's: watch py3's memory as its share grows.",
    );
    panels.add(
        &format!("{}: failing health checks", s.name),
        "short",
        both(&|c| src.health_failures(c, RATE)),
        threshold(ir, TriggerKind::HealthFailures),
        "Unavailable replicas or failed checks per copy.",
    );
    panels.add(
        &format!("{}: diverging responses (%)", s.name),
        "percent",
        vec![target(src.divergence_percent(RATE), "diverged", "A")],
        threshold(ir, TriggerKind::Divergence),
        "Share of compared responses where py3 answered differently from py2 (needs a response comparator exporting canary_compared_responses_total).",
    );
}

pub fn dashboard(ir: &Ir) -> String {
    let mut panels = Panels {
        list: Vec::new(),
        next_id: 1,
        y: 0,
    };
    for s in &ir.services {
        service_panels(ir, s, &mut panels);
    }
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
        "templating": { "list": [ {
            "name": "datasource",
            "label": "Prometheus",
            "type": "datasource",
            "query": "prometheus",
            "hide": 0,
            "current": {}
        } ] },
        "annotations": { "list": [] },
        "panels": panels.list,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
