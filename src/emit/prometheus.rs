//! `prometheus-alerts.yaml` and `prometheus-alerts.test.yaml`.
//!
//! One alert per rollback trigger and service. Each carries `canary: rollback`, which the
//! Alertmanager route sends to the rollback receiver, a severity, a summary and a `runbook_url`
//! into the rollback runbook.
//!
//! Error-rate and latency triggers are sequential tests (src/stats/, emit/sequential.rs): the
//! group starts with the recording rules that count requests over the ladder of windows and
//! weigh the evidence, and their alerts fire on `margin > 0` with no `for:` and no traffic
//! guard: the evidence itself says when there is enough. The stages' success criteria are
//! recording rules too (`canary:stage_evidence:margin`, passed at `>= 0`). The other triggers
//! are thresholds held for their window (`for:`); divergence keeps a minimum of compared
//! responses (flagger#1035/#1689 in shared/reference/canary-systems.md).
//!
//! The test file holds `promtool test rules` cases: for sequential triggers, a planted
//! regression that fires exactly when the reference evaluator says and healthy seeded random
//! days that never do (emit/rule_tests.rs); for the others, firing above the threshold and
//! silence below it.

use serde_json::{Value, json};

use super::metrics::{HealthShape, Source};
use super::sequential::{Record, Rules};
use super::yaml;
use crate::ir::{Interpreter as Copy, Ir, ServiceIr, TriggerIr, TriggerKind, fmt};

/// The window rates are taken over: the trigger's, kept between four scrape intervals (so that
/// rate() always has samples; a minute at the default 15s) and five minutes.
pub fn rate_window(ir: &Ir, trigger: &TriggerIr) -> u64 {
    let floor = ir.metrics.scrape_interval_secs * 4;
    trigger
        .window_secs
        .unwrap_or(floor)
        .clamp(floor, 300.max(floor))
}

pub fn duration(secs: u64) -> String {
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

pub fn group_name(ir: &Ir) -> String {
    format!("canary-{}", ir.name)
}

/// The alert for a trigger. One rule covers every service: alerts carry a `service` label.
pub fn alert_name(trigger: &TriggerIr) -> String {
    trigger.alert.clone()
}

pub(crate) struct Rule {
    pub alert: String,
    pub expr: String,
    pub labels: Value,
    pub annotations: Value,
    /// The `for:` window; `None` for sequential tests.
    pub window: Option<u64>,
    pub records: Vec<Record>,
}

fn labels(ir: &Ir, trigger: &TriggerIr) -> Value {
    json!({
        "severity": "critical",
        "canary": "rollback",
        "plan": ir.name,
        "trigger": trigger.kind.as_str(),
    })
}

fn runbook_url(alert: &str) -> String {
    format!("canary-rollback-runbook.md#{}", alert.to_lowercase())
}

/// The alert of a sequential trigger: the test's `fires_when`, nothing added.
fn sequential_rule(ir: &Ir, rules: &Rules<'_>, trigger: &TriggerIr) -> Option<Rule> {
    let test = rules.trigger(trigger)?;
    let alert = alert_name(trigger);
    Some(Rule {
        labels: labels(ir, trigger),
        annotations: json!({
            "summary": format!("py3 rollback trigger `{}` fired", trigger.text),
            "description": format!(
                "The py3 copy of the service in this alert's `service` label is worse than the {} canary's rollback trigger allows ({}): over one of the windows from {} to {}, its requests are strong evidence of it (the evidence, minus what that window needs, is above zero; canary:*:margin records it). {}",
                ir.name,
                trigger.text,
                duration(ir.detection.ladder.rungs.first().map_or(1, |r| r.window_secs)),
                duration(ir.detection.ladder.top_secs()),
                super::engine::docs::alert_action(ir),
            ),
            "runbook_url": runbook_url(&alert),
        }),
        expr: test.fires_when(),
        alert,
        window: None,
        records: test.records,
    })
}

fn rule(ir: &Ir, src: &Source<'_>, rules: &Rules<'_>, trigger: &TriggerIr) -> Option<Rule> {
    if trigger.is_sequential() {
        return sequential_rule(ir, rules, trigger);
    }
    let w = duration(rate_window(ir, trigger));
    let t = fmt(trigger.threshold);
    let expr = match trigger.kind {
        // Sequential: handled above.
        TriggerKind::ErrorRate | TriggerKind::LatencyRatio | TriggerKind::LatencyAbsolute => {
            return None;
        }
        TriggerKind::HealthFailures => format!("{} > {t}", src.health_failures(Copy::Py3, &w)),
        TriggerKind::Memory => format!("{} > {t}", src.memory_percent(Copy::Py3)?),
        TriggerKind::Cpu => format!("{} > {t}", src.cpu_percent(Copy::Py3, &w)),
        TriggerKind::Divergence => format!(
            "({}) > {t}\nand on(service) {} >= {}",
            src.divergence_percent(&w),
            src.comparisons_increase(&w),
            ir.metrics.min_requests
        ),
        TriggerKind::RequestRateLow | TriggerKind::RequestRateHigh => {
            let op = if trigger.kind == TriggerKind::RequestRateLow {
                "<"
            } else {
                ">"
            };
            let py3 = src.request_rate(Copy::Py3, &w);
            if trigger.text.contains("x py2") {
                format!("{py3} {op} {t} * {}", src.request_rate(Copy::Py2, &w))
            } else {
                format!("{py3} {op} {t}")
            }
        }
    };
    let alert = alert_name(trigger);
    Some(Rule {
        labels: labels(ir, trigger),
        annotations: json!({
            "summary": format!("py3 rollback trigger `{}` fired", trigger.text),
            "description": format!(
                "The py3 copy of the service in this alert's `service` label breached the {} canary's rollback trigger ({}). {}",
                ir.name, trigger.text, super::engine::docs::alert_action(ir)
            ),
            "runbook_url": runbook_url(&alert),
        }),
        alert,
        expr,
        window: trigger.window_secs,
        records: Vec::new(),
    })
}

/// The alerts, one per trigger. Two sequential triggers with one alert name (CNR408 warns of
/// the duplicate) would record the same series: the first is kept.
pub(crate) fn rules(ir: &Ir) -> Vec<(&TriggerIr, Rule)> {
    let src = Source::new(ir);
    let sequential = Rules::new(ir);
    let mut out: Vec<(&TriggerIr, Rule)> = Vec::new();
    for t in &ir.triggers {
        if t.is_sequential() && out.iter().any(|(o, _)| o.alert == t.alert) {
            continue;
        }
        if let Some(r) = rule(ir, &src, &sequential, t) {
            out.push((t, r));
        }
    }
    out
}

/// Every recording rule: the triggers', then the stages' criteria, each written once.
pub(crate) fn records(ir: &Ir) -> Vec<Record> {
    let sequential = Rules::new(ir);
    let mut all: Vec<Record> = rules(ir).into_iter().flat_map(|(_, r)| r.records).collect();
    for stage in &ir.stages {
        for check in &stage.evidence {
            all.extend(sequential.check(stage, check).records);
        }
    }
    let mut out: Vec<Record> = Vec::new();
    for r in all {
        if !out.iter().any(|o| o.name == r.name && o.labels == r.labels) {
            out.push(r);
        }
    }
    out
}

pub fn alerts(ir: &Ir) -> String {
    let mut group: Vec<Value> = records(ir)
        .into_iter()
        .map(|r| {
            let mut labels = serde_json::Map::new();
            labels.insert("plan".into(), json!(ir.name));
            for (k, v) in r.labels {
                labels.insert(k, json!(v));
            }
            json!({ "record": r.name, "expr": r.expr, "labels": labels })
        })
        .chain(super::comparator_alerts::rules(ir).into_iter().map(|r| {
            json!({
                "alert": r.alert,
                "expr": r.expr,
                "for": duration(r.for_secs),
                "labels": r.labels,
                "annotations": r.annotations,
            })
        }))
        .collect();
    group.extend(rules(ir).into_iter().map(|(_, r)| {
        let mut rule = json!({
            "alert": r.alert,
            "expr": r.expr,
            "labels": r.labels,
            "annotations": r.annotations,
        });
        if let Some(w) = r.window {
            rule["for"] = json!(duration(w));
        }
        rule
    }));
    let doc = json!({ "groups": [ { "name": group_name(ir), "rules": group } ] });
    format!(
        "# Rollback alerts for the {} canary (Python {} -> {}): one rule per trigger, for every service.\n# Generated by canaryc from canary.plan; change the plan and rebuild rather than editing.\n{}",
        ir.name,
        ir.python_from,
        ir.python_to,
        yaml::to_string(&doc)
    )
}

/// Interval of the test series: the scrape interval, so every rate window spans four of them.
fn step(ir: &Ir) -> u64 {
    ir.metrics.scrape_interval_secs
}

struct Case {
    name: String,
    series: Vec<(String, String)>,
    fires: bool,
}

/// `start+incrementxN`.
fn counter(per_step: f64, steps: u64) -> String {
    format!("0+{}x{steps}", fmt(per_step))
}

fn gauge(value: f64, steps: u64) -> String {
    format!("{}x{steps}", fmt(value))
}

fn cases(
    ir: &Ir,
    src: &Source<'_>,
    service: &ServiceIr,
    trigger: &TriggerIr,
    steps: u64,
) -> Vec<Case> {
    let t = trigger.threshold;
    let min = f64::from(ir.metrics.min_requests);
    // Enough traffic that the guard passes in any rate window: min_requests per minute, twice.
    let rate_steps = rate_window(ir, trigger) / step(ir);
    let volume = (min * 2.0 / rate_steps as f64).ceil().max(100.0);
    let mut out = Vec::new();
    // Requests of one copy: `ok` successes and `bad` failures per step. Behind HAProxy the
    // failures are the ones it retried on the other copy (its `retry-on` hides them from the
    // server's 5xx count), so they go into the retry counter.
    let requests = |src: &Source<'_>, copy: Copy, ok: f64, bad: f64| -> Vec<(String, String)> {
        let e = src.error_label();
        let m = src.requests(copy);
        match src.retries(copy) {
            Some(retries) => vec![
                (m.input(service, &[(e.label, e.ok)]), counter(ok, steps)),
                (m.input(service, &[(e.label, e.error)]), counter(0.0, steps)),
                (retries.input(service, &[]), counter(bad, steps)),
            ],
            None => vec![
                (m.input(service, &[(e.label, e.ok)]), counter(ok, steps)),
                (m.input(service, &[(e.label, e.error)]), counter(bad, steps)),
            ],
        }
    };
    match trigger.kind {
        // Sequential: emit/rule_tests.rs.
        TriggerKind::ErrorRate | TriggerKind::LatencyRatio | TriggerKind::LatencyAbsolute => {}
        TriggerKind::HealthFailures => {
            let (series, shape) = src.health(Copy::Py3);
            let (bad, good) = match shape {
                HealthShape::Gauge => (gauge(t + 1.0, steps), gauge(0.0, steps)),
                HealthShape::Counter => (counter(t + 1.0, steps), counter(0.0, steps)),
                HealthShape::Up | HealthShape::NotReady => (gauge(0.0, steps), gauge(1.0, steps)),
            };
            // One series counts at most one failing instance.
            let fires = !(matches!(shape, HealthShape::Up | HealthShape::NotReady) && t >= 1.0);
            out.push(Case {
                name: "fires when checks fail".into(),
                series: vec![(series.input(service, &[]), bad)],
                fires,
            });
            out.push(Case {
                name: "silent when checks pass".into(),
                series: vec![(series.input(service, &[]), good)],
                fires: false,
            });
        }
        TriggerKind::Memory => {
            let Some((usage, limit)) = src.memory(Copy::Py3) else {
                return out;
            };
            let limit_bytes = service.memory_bytes.unwrap_or(512 << 20) as f64;
            let at = |pct: f64| {
                let mut s = vec![(
                    usage.input(service, &[]),
                    gauge((limit_bytes * pct / 100.0).round(), steps),
                )];
                if let Some(l) = &limit {
                    s.push((l.input(service, &[]), gauge(limit_bytes, steps)));
                }
                s
            };
            if t < 100.0 {
                out.push(Case {
                    name: "fires above the threshold".into(),
                    series: at((t + 100.0) / 2.0 + 0.5),
                    fires: true,
                });
            }
            out.push(Case {
                name: "silent below the threshold".into(),
                series: at(t / 2.0),
                fires: false,
            });
        }
        TriggerKind::Cpu => {
            let (usage, limit) = src.cpu(Copy::Py3);
            let cores = if limit.is_some() {
                1.0
            } else {
                f64::from(service.cpu_millis.unwrap_or(1000)) / 1000.0
            };
            let at = |pct: f64| {
                let mut s = vec![(
                    usage.input(service, &[]),
                    counter(cores * pct / 100.0 * step(ir) as f64, steps),
                )];
                if let Some(l) = &limit {
                    s.push((l.input(service, &[]), gauge(1.0, steps)));
                }
                s
            };
            if t < 100.0 {
                out.push(Case {
                    name: "fires above the threshold".into(),
                    series: at((t + 100.0) / 2.0 + 0.5),
                    fires: true,
                });
            }
            out.push(Case {
                name: "silent below the threshold".into(),
                series: at(t / 2.0),
                fires: false,
            });
        }
        TriggerKind::Divergence => {
            let c = src.comparisons();
            let at = |pct: f64| {
                let bad = (volume * pct / 100.0).ceil();
                vec![
                    (
                        c.input(service, &[("result", "same")]),
                        counter(volume - bad, steps),
                    ),
                    (
                        c.input(service, &[("result", "diverged")]),
                        counter(bad, steps),
                    ),
                ]
            };
            // Errors and drops are not comparisons: as many again must not dilute a breach.
            let with_uncompared = |pct: f64| {
                let mut series = at(pct);
                for result in ["error", "dropped"] {
                    series.push((
                        c.input(service, &[("result", result)]),
                        counter(volume * 4.0, steps),
                    ));
                }
                series
            };
            if t < 100.0 {
                out.push(Case {
                    name: "fires above the threshold".into(),
                    series: at((t * 2.0).min(100.0)),
                    fires: true,
                });
            }
            out.push(Case {
                name: "silent below the threshold".into(),
                series: at(0.0),
                fires: false,
            });
            if t < 100.0 {
                out.push(Case {
                    name: "fires when errors and drops outnumber comparisons".into(),
                    series: with_uncompared((t * 2.0).min(100.0)),
                    fires: true,
                });
            }
            // Half the guard's comparisons, all diverged, padded with errors: too few to judge.
            let trickle = (f64::from(ir.metrics.min_requests) / 2.0 / rate_steps as f64).max(0.0);
            if trickle > 0.0 && ir.metrics.min_requests > 1 {
                let mut series = vec![
                    (c.input(service, &[("result", "same")]), counter(0.0, steps)),
                    (
                        c.input(service, &[("result", "diverged")]),
                        counter(trickle, steps),
                    ),
                ];
                series.push((
                    c.input(service, &[("result", "error")]),
                    counter(volume, steps),
                ));
                out.push(Case {
                    name: "silent on too few comparisons".into(),
                    series,
                    fires: false,
                });
            }
        }
        TriggerKind::RequestRateLow | TriggerKind::RequestRateHigh => {
            let ratio = trigger.text.contains("x py2");
            let low = trigger.kind == TriggerKind::RequestRateLow;
            // Per-second rates for py3 that breach and respect the bound.
            let py2_rate = 10.0;
            let bound = if ratio { t * py2_rate } else { t };
            let (breach, respect) = if low {
                (bound / 4.0, bound * 2.0 + 1.0)
            } else {
                (bound * 2.0 + 1.0, bound / 4.0)
            };
            let at = |py3_rate: f64| {
                let mut s = requests(src, Copy::Py3, py3_rate * step(ir) as f64, 0.0);
                s.extend(requests(src, Copy::Py2, py2_rate * step(ir) as f64, 0.0));
                s
            };
            out.push(Case {
                name: "fires when the bound is crossed".into(),
                series: at(breach),
                fires: true,
            });
            out.push(Case {
                name: "silent within the bound".into(),
                series: at(respect),
                fires: false,
            });
        }
    }
    out
}

pub fn tests(ir: &Ir) -> String {
    let src = Source::new(ir);
    let mut tests = Vec::new();
    // The rules are the same for every service; testing them on the first proves them, and the
    // `service` label in the expected alert proves the grouping.
    let Some(service) = ir.services.first() else {
        return String::new();
    };
    let every = super::rule_tests::evaluation_interval(ir);
    let all = rules(ir);
    let sequential: Vec<&Rule> = all
        .iter()
        .filter(|(t, _)| t.is_sequential())
        .map(|(_, r)| r)
        .collect();
    for (trigger, rule) in &all {
        if trigger.is_sequential() {
            tests.extend(super::rule_tests::planted(ir, trigger, rule, service));
        }
    }
    tests.extend(super::rule_tests::healthy_days(
        ir,
        &all,
        &sequential,
        service,
    ));
    for (trigger, rule) in all.iter().filter(|(t, _)| !t.is_sequential()) {
        let trigger = *trigger;
        // Conditions hold from the first evaluation with a full rate window; `for:` counts
        // evaluations from there.
        let warmup = rate_window(ir, trigger) + trigger.window_secs.unwrap_or(0);
        let eval = (warmup + 120).div_ceil(every) * every + every;
        let steps = eval / step(ir) + 4;
        for case in cases(ir, &src, service, trigger, steps) {
            let input: Vec<Value> = case
                .series
                .iter()
                .map(|(s, v)| json!({ "series": s, "values": v }))
                .collect();
            let expected: Vec<Value> = if case.fires {
                let mut labels = rule.labels.clone();
                labels["service"] = json!(service.name);
                vec![json!({ "exp_labels": labels, "exp_annotations": rule.annotations })]
            } else {
                Vec::new()
            };
            tests.push(json!({
                "name": format!("{}: {}", rule.alert, case.name),
                "interval": duration(step(ir)),
                "input_series": input,
                "alert_rule_test": [ { "eval_time": duration(eval), "alertname": rule.alert, "exp_alerts": expected } ],
            }));
        }
    }
    // The comparator's own health alerts (not rollback triggers).
    // promtool evaluates the rules only every `evaluation_interval` (up to 15 minutes for the
    // sequential rules' long holds): an alert pending since the first evaluation with data
    // fires one `for` later, on an evaluation, so the check waits for that evaluation.
    let every = super::rule_tests::evaluation_interval(ir).max(1);
    let eval = (super::comparator_alerts::eval_secs() + every).div_ceil(every) * every;
    let health = super::comparator_alerts::rules(ir);
    for (name, alert, series, fires) in
        super::comparator_alerts::cases(ir, step(ir), eval / step(ir) + 4)
    {
        let Some(rule) = health.iter().find(|r| r.alert == alert) else {
            continue;
        };
        let input: Vec<Value> = series
            .iter()
            .map(|(s, v)| json!({ "series": s, "values": v }))
            .collect();
        let expected: Vec<Value> = if fires {
            let mut labels = rule.labels.clone();
            labels["service"] = json!(service.name);
            vec![json!({ "exp_labels": labels, "exp_annotations": rule.annotations })]
        } else {
            Vec::new()
        };
        tests.push(json!({
            "name": format!("{alert}: {name}"),
            "interval": duration(step(ir)),
            "input_series": input,
            "alert_rule_test": [ { "eval_time": duration(eval), "alertname": alert, "exp_alerts": expected } ],
        }));
    }
    let doc = json!({
        "rule_files": ["prometheus-alerts.yaml"],
        "evaluation_interval": duration(super::rule_tests::evaluation_interval(ir)),
        "tests": tests,
    });
    format!(
        "# promtool test rules prometheus-alerts.test.yaml\n# Sequential triggers: a planted regression fires when the reference evaluator says, healthy days never do.\n# Other triggers: each alert fires above its threshold and stays silent below it.\n{}",
        yaml::to_string(&doc)
    )
}
