//! The one seam between the engines and the metric layer.
//!
//! Every query an engine runs (Argo Rollouts' AnalysisTemplates, Flagger's MetricTemplates,
//! `canaryc promote` through `canary-promote.json`) is built here, from the same functions of
//! `super::super::metrics` that build the alerts, so an analysis and an alert cannot disagree on
//! what "py3's error rate" is. The metric layer is being rewritten into sequential tests (one
//! function per test yielding PromQL); when it lands, this file is the only one that changes.
//!
//! A query returns one sample per service (`sum by (service)`), or none when py3 has served too
//! few requests to judge (the same minimum-traffic guard as the alerts). A condition says what
//! the sample must satisfy; "no sample" is never a pass.

use serde::Serialize;

use super::super::metrics::Source;
use super::super::prometheus::{duration, rate_window};
use crate::ir::{CheckIr, CheckMetric, Copy, Ir, ServiceIr, StageIr, TriggerIr, TriggerKind, fmt};
use crate::model::Engine;

/// `value OP threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Condition {
    pub op: Op,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn parse(text: &str) -> Op {
        match text {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">=" => Op::Ge,
            _ => Op::Gt,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn negated(self) -> Op {
        match self {
            Op::Lt => Op::Ge,
            Op::Le => Op::Gt,
            Op::Gt => Op::Le,
            Op::Ge => Op::Lt,
        }
    }
}

impl Condition {
    /// Whether a sample satisfies the condition. NaN satisfies nothing.
    pub fn holds(self, value: f64) -> bool {
        match self.op {
            Op::Lt => value < self.threshold,
            Op::Le => value <= self.threshold,
            Op::Gt => value > self.threshold,
            Op::Ge => value >= self.threshold,
        }
    }

    /// The condition in Argo Rollouts' expression language, over the provider's `result`
    /// (a list with one number per sample).
    pub fn argo(self) -> String {
        format!("result[0] {} {}", self.op.as_str(), fmt(self.threshold))
    }
}

/// One query an engine runs for one service.
#[derive(Debug, Clone, Serialize)]
pub struct Query {
    /// A DNS-label name for the metric: `error-rate`, `latency-p99`.
    pub name: String,
    /// What the plan says: `error_rate < 0.1%`.
    pub text: String,
    pub promql: String,
    /// For a success criterion: what passes. For a rollback trigger: what breaches.
    pub condition: Condition,
}

impl Query {
    /// Argo: a criterion passes only on a sample that satisfies it.
    pub fn argo_success(&self) -> String {
        format!("len(result) > 0 && {}", self.condition.argo())
    }

    /// Argo: a trigger breaches only on a sample that satisfies it; no sample (too little
    /// traffic) is not a breach.
    pub fn argo_breach(&self) -> String {
        format!("len(result) > 0 && {}", self.condition.argo())
    }

    pub fn argo_no_breach(&self) -> String {
        format!(
            "len(result) == 0 || {}",
            Condition {
                op: self.condition.op.negated(),
                threshold: self.condition.threshold
            }
            .argo()
        )
    }
}

/// A trigger an engine cannot evaluate, and why (for the runbook).
#[derive(Debug, Clone)]
pub struct Skipped {
    pub trigger: TriggerIr,
    pub reason: String,
}

/// The window a stage's criteria are judged over: its hold, at least four scrapes.
pub fn check_window(ir: &Ir, stage: &StageIr) -> u64 {
    let hold = (stage.hold_hours * 3600.0).round() as u64;
    hold.max(ir.metrics.scrape_interval_secs * 4)
}

fn source<'a>(ir: &'a Ir, service: &'a ServiceIr) -> Source<'a> {
    Source::for_services(ir, vec![service])
}

fn guard(ir: &Ir, src: &Source<'_>, w: &str) -> String {
    format!(
        "{} >= {}",
        src.request_increase(Copy::Py3, w),
        ir.metrics.min_requests
    )
}

/// `name-like-this` from `error_rate` / `latency p99`.
fn metric_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The stage's success criteria for one service, judged over its hold.
pub fn stage_checks(ir: &Ir, service: &ServiceIr, stage: &StageIr) -> Vec<Query> {
    let src = source(ir, service);
    let w = duration(check_window(ir, stage));
    let mut out: Vec<Query> = Vec::new();
    for check in &stage.checks {
        let Some(query) = check_query(ir, &src, check, &w) else {
            continue;
        };
        let mut name = metric_name(&check.text);
        if out.iter().any(|q| q.name == name) {
            name = format!("{name}-{}", out.len() + 1);
        }
        out.push(Query { name, ..query });
    }
    out
}

fn check_query(ir: &Ir, src: &Source<'_>, check: &CheckIr, w: &str) -> Option<Query> {
    let q = check.quantile.unwrap_or(0.99);
    let (py3, py2, guarded) = match check.metric {
        CheckMetric::ErrorRate => (
            src.error_percent(Copy::Py3, w),
            src.error_percent(Copy::Py2, w),
            true,
        ),
        CheckMetric::Latency => (
            src.quantile_ms(Copy::Py3, q, w),
            src.quantile_ms(Copy::Py2, q, w),
            true,
        ),
        CheckMetric::HealthFailures => (
            src.health_failures(Copy::Py3, w),
            src.health_failures(Copy::Py2, w),
            false,
        ),
        CheckMetric::Memory => (
            src.memory_percent(Copy::Py3)?,
            src.memory_percent(Copy::Py2)?,
            false,
        ),
        CheckMetric::Cpu => (
            src.cpu_percent(Copy::Py3, w),
            src.cpu_percent(Copy::Py2, w),
            false,
        ),
        CheckMetric::RequestRate => (
            src.request_rate(Copy::Py3, w),
            src.request_rate(Copy::Py2, w),
            false,
        ),
    };
    // Relative to py2: the difference from the allowed multiple, compared with 0, so a py2
    // with no errors at all does not divide by zero.
    let (value, threshold) = if check.relative {
        (format!("({py3}) - {} * ({py2})", fmt(check.threshold)), 0.0)
    } else {
        (format!("({py3})"), check.threshold)
    };
    let promql = if guarded {
        format!("{value}\nand on(service) {}", guard(ir, src, w))
    } else {
        value
    };
    Some(Query {
        name: String::new(),
        text: check.text.clone(),
        promql,
        condition: Condition {
            op: Op::parse(&check.op),
            threshold,
        },
    })
}

/// Whether `engine` can evaluate the metric layer's query for `trigger`: on Kubernetes the
/// layer finds py3's pods and health by the plain Deployment's name (`NAME-py3-...`), which
/// an engine's pods do not have (Argo names them after the Rollout, Flagger after the target).
pub fn applies(engine: Engine, trigger: &TriggerIr) -> Result<(), String> {
    let pod_based = matches!(
        trigger.kind,
        TriggerKind::HealthFailures | TriggerKind::Memory | TriggerKind::Cpu
    );
    match engine {
        Engine::ArgoRollouts | Engine::Flagger if pod_based => Err(match trigger.kind {
            TriggerKind::HealthFailures => "the engine's own progress deadline aborts a py3 whose pods do not become ready".to_string(),
            _ => "the metric layer finds py3's pods by the plain Deployment's name, which the engine's pods do not have: alert only".to_string(),
        }),
        _ => Ok(()),
    }
}

/// The rollback triggers of one service, each as a query whose sample breaches when the
/// trigger's condition has held for its whole window (the alert's `for:`), and the triggers the
/// engine cannot evaluate.
pub fn rollback_triggers(
    ir: &Ir,
    service: &ServiceIr,
    engine: Engine,
) -> (Vec<Query>, Vec<Skipped>) {
    let src = source(ir, service);
    let mut queries = Vec::new();
    let mut skipped = Vec::new();
    for trigger in &ir.triggers {
        if let Err(reason) = applies(engine, trigger) {
            skipped.push(Skipped {
                trigger: trigger.clone(),
                reason,
            });
            continue;
        }
        let w = duration(rate_window(ir, trigger));
        let q = trigger.quantile.unwrap_or(0.99);
        let t = trigger.threshold;
        let ratio = trigger.text.contains("x py2");
        let (value, guarded, op) = match trigger.kind {
            TriggerKind::ErrorRate => (src.error_percent(Copy::Py3, &w), true, Op::Gt),
            TriggerKind::LatencyRatio => (
                format!(
                    "({}) / ({})",
                    src.quantile_ms(Copy::Py3, q, &w),
                    src.quantile_ms(Copy::Py2, q, &w)
                ),
                true,
                Op::Gt,
            ),
            TriggerKind::LatencyAbsolute => (src.quantile_ms(Copy::Py3, q, &w), true, Op::Gt),
            TriggerKind::HealthFailures => (src.health_failures(Copy::Py3, &w), false, Op::Gt),
            TriggerKind::Memory => match src.memory_percent(Copy::Py3) {
                Some(m) => (m, false, Op::Gt),
                None => continue,
            },
            TriggerKind::Cpu => (src.cpu_percent(Copy::Py3, &w), false, Op::Gt),
            TriggerKind::RequestRateLow | TriggerKind::RequestRateHigh => {
                let op = if trigger.kind == TriggerKind::RequestRateLow {
                    Op::Lt
                } else {
                    Op::Gt
                };
                let py3 = src.request_rate(Copy::Py3, &w);
                let value = if ratio {
                    format!("({py3}) / ({})", src.request_rate(Copy::Py2, &w))
                } else {
                    py3
                };
                (value, false, op)
            }
            // Left out in `lower` until the bundle has a comparator (CNR513).
            TriggerKind::Divergence => continue,
        };
        // Held for the whole window: the least breaching value over it, sampled every scrape.
        let over = if op == Op::Lt {
            "max_over_time"
        } else {
            "min_over_time"
        };
        let step = duration(ir.metrics.scrape_interval_secs);
        let held = format!(
            "{over}(({value})[{}:{step}])",
            duration(trigger.window_secs.max(ir.metrics.scrape_interval_secs))
        );
        let promql = if guarded {
            format!("{held}\nand on(service) {}", guard(ir, &src, &w))
        } else {
            held
        };
        queries.push(Query {
            name: metric_name(trigger.kind.as_str()),
            text: trigger.text.clone(),
            promql,
            condition: Condition { op, threshold: t },
        });
    }
    (queries, skipped)
}
