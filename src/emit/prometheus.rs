//! `prometheus-alerts.yaml` and `prometheus-alerts.test.yaml`.
//!
//! One alert per rollback trigger and service. Each carries `canary: rollback`, which the
//! Alertmanager route sends to the rollback receiver, a severity, a summary and a `runbook_url`
//! into the rollback runbook. Error-rate, latency and divergence alerts have a minimum-traffic
//! guard: a 1% canary that served three requests, one of them a 500, must not page anyone
//! (flagger#1035/#1689 in shared/reference/canary-systems.md).
//!
//! The test file holds `promtool test rules` cases proving that each alert fires above its
//! threshold and stays silent below it (and, for guarded alerts, silent on too little traffic).

use serde_json::{Value, json};

use super::metrics::{HealthShape, Metric, Source};
use super::yaml;
use crate::ir::{Copy, Ir, ServiceIr, TriggerIr, TriggerKind, fmt};

/// The window rates are taken over: the trigger's, kept between four scrape intervals (so that
/// rate() always has samples; a minute at the default 15s) and five minutes.
pub fn rate_window(ir: &Ir, trigger: &TriggerIr) -> u64 {
    let floor = ir.metrics.scrape_interval_secs * 4;
    trigger.window_secs.clamp(floor, 300.max(floor))
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

struct Rule {
    alert: String,
    expr: String,
    labels: Value,
    annotations: Value,
    window: u64,
}

fn rule(ir: &Ir, src: &Source<'_>, trigger: &TriggerIr) -> Option<Rule> {
    let w = duration(rate_window(ir, trigger));
    let guard = || {
        format!(
            "{} >= {}",
            src.request_increase(Copy::Py3, &w),
            ir.metrics.min_requests
        )
    };
    let t = fmt(trigger.threshold);
    let expr = match trigger.kind {
        TriggerKind::ErrorRate => format!(
            "({}) > {t}\nand on(service) {}",
            src.error_percent(Copy::Py3, &w),
            guard()
        ),
        TriggerKind::LatencyRatio => {
            let q = trigger.quantile.unwrap_or(0.99);
            format!(
                "{} > {t} * {}\nand on(service) {}",
                src.quantile_ms(Copy::Py3, q, &w),
                src.quantile_ms(Copy::Py2, q, &w),
                guard()
            )
        }
        TriggerKind::LatencyAbsolute => {
            let q = trigger.quantile.unwrap_or(0.99);
            format!(
                "{} > {t}\nand on(service) {}",
                src.quantile_ms(Copy::Py3, q, &w),
                guard()
            )
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
        labels: json!({
            "severity": "critical",
            "canary": "rollback",
            "plan": ir.name,
            "trigger": trigger.kind.as_str(),
        }),
        annotations: json!({
            "summary": format!("py3 rollback trigger `{}` fired", trigger.text),
            "description": format!(
                "The py3 copy of the service in this alert's `service` label breached the {} canary's rollback trigger ({}). {}",
                ir.name, trigger.text, super::engine::docs::alert_action(ir)
            ),
            "runbook_url": format!("canary-rollback-runbook.md#{}", alert.to_lowercase()),
        }),
        alert,
        expr,
        window: trigger.window_secs,
    })
}

fn rules(ir: &Ir) -> Vec<(&TriggerIr, Rule)> {
    let src = Source::new(ir);
    ir.triggers
        .iter()
        .filter_map(|t| rule(ir, &src, t).map(|r| (t, r)))
        .collect()
}

pub fn alerts(ir: &Ir) -> String {
    let rules: Vec<Value> = rules(ir)
        .into_iter()
        .map(|(_, r)| {
            json!({
                "alert": r.alert,
                "expr": r.expr,
                "for": duration(r.window),
                "labels": r.labels,
                "annotations": r.annotations,
            })
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
    let doc = json!({ "groups": [ { "name": group_name(ir), "rules": rules } ] });
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

/// Histogram buckets of one service where every observation falls at or below `upper`.
fn histogram(
    m: &Metric,
    service: &ServiceIr,
    bounds: &[f64],
    upper: f64,
    per_step: f64,
    steps: u64,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in bounds {
        let le = fmt(*b);
        let count = if *b >= upper { per_step } else { 0.0 };
        out.push((m.input(service, &[("le", &le)]), counter(count, steps)));
    }
    out.push((
        m.input(service, &[("le", "+Inf")]),
        counter(per_step, steps),
    ));
    out
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
        TriggerKind::ErrorRate => {
            if t < 100.0 {
                let bad = (volume * (t * 2.0).min(100.0) / 100.0).ceil().max(1.0);
                out.push(Case {
                    name: "fires above the threshold".into(),
                    series: requests(src, Copy::Py3, volume - bad.min(volume), bad),
                    fires: true,
                });
            }
            let bad = (volume * t / 200.0).floor();
            out.push(Case {
                name: "silent below the threshold".into(),
                series: requests(src, Copy::Py3, volume - bad, bad),
                fires: false,
            });
            if min > 1.0 {
                // Every request fails, but half of min_requests in the window is too few to judge.
                let trickle = min / 2.0 / rate_steps as f64;
                out.push(Case {
                    name: "silent on too little traffic".into(),
                    series: requests(src, Copy::Py3, 0.0, trickle),
                    fires: false,
                });
            }
        }
        TriggerKind::LatencyRatio | TriggerKind::LatencyAbsolute => {
            let (py2, unit) = src.latency(Copy::Py2);
            let (py3, _) = src.latency(Copy::Py3);
            // Bucket bounds in the histogram's unit, around the threshold.
            let fast_ms = if trigger.kind == TriggerKind::LatencyAbsolute {
                t / 4.0
            } else {
                100.0
            };
            let slow_ms = if trigger.kind == TriggerKind::LatencyAbsolute {
                t * 4.0
            } else {
                100.0 * (t * 4.0).max(2.0)
            };
            let to_unit = |ms: f64| ms / 1000.0 / unit;
            let bounds = [to_unit(fast_ms), to_unit(fast_ms * 2.0), to_unit(slow_ms)];
            let with_traffic = |py3_upper: f64| {
                let mut series = requests(src, Copy::Py3, volume, 0.0);
                series.extend(histogram(&py2, service, &bounds, bounds[0], volume, steps));
                series.extend(histogram(&py3, service, &bounds, py3_upper, volume, steps));
                series
            };
            out.push(Case {
                name: "fires above the threshold".into(),
                series: with_traffic(bounds[2]),
                fires: true,
            });
            out.push(Case {
                name: "silent below the threshold".into(),
                series: with_traffic(bounds[0]),
                fires: false,
            });
        }
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
    for (trigger, rule) in rules(ir) {
        let warmup = rate_window(ir, trigger) + trigger.window_secs;
        let eval = warmup + 120;
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
    let eval = super::comparator_alerts::eval_secs();
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
        "evaluation_interval": duration(step(ir)),
        "tests": tests,
    });
    format!(
        "# promtool test rules prometheus-alerts.test.yaml\n# Each rollback alert fires above its threshold and stays silent below it.\n{}",
        yaml::to_string(&doc)
    )
}
