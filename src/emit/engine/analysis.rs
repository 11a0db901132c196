//! The one seam between the engines and the metric layer.
//!
//! Every query an engine runs (Argo Rollouts' AnalysisTemplates, Flagger's MetricTemplates,
//! `canaryc promote` through `canary-promote.json`) is built here, from the same functions that
//! build the alerts, so an analysis and an alert cannot disagree on what "py3 is worse" means.
//!
//! Error-rate and latency triggers, and error-rate and latency criteria, are sequential tests
//! (`super::super::sequential`): the engine reads the margin the bundle's recording rules record
//! (`canary:py3_error_ratio:margin`, `canary:py3_latency_slow_ratio:margin`,
//! `canary:stage_evidence:margin`), the very series the alert decides on. Those series exist only
//! in a Prometheus that loads `prometheus-alerts.yaml`: the runbooks say so (engine/docs.rs).
//! A trigger breaches on a margin above 0; a criterion passes on a margin at or above 0, which
//! needs enough requests to show py3 is not worse, so a quiet stage never passes for lack of
//! evidence. The other triggers and criteria (health, memory, CPU, request rate) are thresholds
//! over `super::super::metrics`, as the alerts are.
//!
//! A query returns one sample per service (`by (service)`), or none when there is nothing to
//! judge (no recorded margin yet, or too few requests for a threshold query). A condition says
//! what the sample must satisfy; "no sample" is never a pass.

use serde::Serialize;

use super::super::metrics::Source;
use super::super::prometheus::{duration, rate_window};
use super::super::sequential::{Rules, Test};
use crate::ir::{
    CheckIr, CheckMetric, Condition, EvidenceIr, EvidenceTest, Interpreter as Copy, Ir, Op,
    ServiceIr, StageIr, TriggerKind, fmt,
};

/// How long the engines ride out a Prometheus they cannot query before giving up: ten
/// minutes, a restart with a WAL replay. Argo Rollouts retries a measurement in error every
/// 10 s (`DefaultErrorRetryInterval`, argoproj/argo-rollouts analysis/analysis.go) and turns
/// the run to Error after `consecutiveErrorLimit` (default 4: 40 s) errors in a row, which
/// aborts the Rollout (rollout/analysis.go): a routine Prometheus restart would roll a healthy
/// py3 back.
pub const OUTAGE_BUDGET_SECS: u64 = 600;
const ARGO_ERROR_RETRY_SECS: u64 = 10;
/// A trigger query's timeout: Argo's default (30 s, metricproviders/prometheus).
pub const TRIGGER_TIMEOUT_SECS: u64 = 30;
/// A stage criterion reads a whole hold (days of samples): Prometheus's own query timeout
/// (`--query.timeout`, 2 m) rather than Argo's 30 s.
pub const STAGE_TIMEOUT_SECS: u64 = 120;

/// Errors in a row an Argo metric tolerates: the outage budget in retries.
pub fn consecutive_error_limit() -> u32 {
    (OUTAGE_BUDGET_SECS / ARGO_ERROR_RETRY_SECS) as u32
}

/// The condition in Argo Rollouts' expression language, over the provider's `result` (a list
/// with one number per sample).
fn argo(c: Condition) -> String {
    format!("result[0] {} {}", c.op.as_str(), fmt(c.threshold))
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
    /// Seconds Prometheus may take to answer.
    pub timeout_secs: u64,
}

impl Query {
    /// Argo: a criterion passes only on a sample that satisfies it (NaN satisfies nothing).
    pub fn argo_success(&self) -> String {
        format!("len(result) > 0 && {}", argo(self.condition))
    }

    /// Argo: a trigger breaches only on a sample that satisfies it; no sample (too little
    /// traffic) or NaN (nothing to compare with: py2 serves nothing at 100%) is no breach.
    pub fn argo_breach(&self) -> String {
        format!("len(result) > 0 && {}", argo(self.condition))
    }

    /// The complement of `argo_breach`, so a trigger's measurement is never Inconclusive
    /// (which would pause the Rollout for a person: canary-systems.md §2.3).
    pub fn argo_no_breach(&self) -> String {
        format!(
            "len(result) == 0 || isNaN(result[0]) || {}",
            argo(Condition {
                op: self.condition.op.negated(),
                threshold: self.condition.threshold
            })
        )
    }
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
    let baseline = baseline_window(ir, stage);
    let rules = naming(ir);
    let mut used = vec![false; stage.evidence.len()];
    let mut out: Vec<Query> = Vec::new();
    for check in &stage.checks {
        let query = match evidence_of(stage, check, &mut used) {
            Some(evidence) => Some(evidence_query(
                &rules,
                &rules.check_margin(stage, evidence),
                service,
                check,
            )),
            None => check_query(ir, &src, check, &w, baseline.as_deref()),
        };
        let Some(query) = query else {
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

/// The sequential test that judges `check`, if the recording rules have one: the stage's first
/// unused evidence of the same criterion and metric (`all metrics within 10%` is one of each).
fn evidence_of<'a>(
    stage: &'a StageIr,
    check: &CheckIr,
    used: &mut [bool],
) -> Option<&'a EvidenceIr> {
    let position = stage.evidence.iter().enumerate().position(|(i, e)| {
        !used[i]
            && e.text == check.text
            && matches!(
                (check.metric, e.test),
                (CheckMetric::ErrorRate, EvidenceTest::ErrorRate(_))
                    | (CheckMetric::Latency, EvidenceTest::Latency(_))
            )
    })?;
    used[position] = true;
    Some(&stage.evidence[position])
}

/// A criterion judged by its recorded evidence: it passes once the margin is at least 0.
fn evidence_query(rules: &Rules<'_>, test: &Test, service: &ServiceIr, check: &CheckIr) -> Query {
    Query {
        name: String::new(),
        text: check.text.clone(),
        promql: rules.margin_of(test, &service.name),
        condition: Condition {
            op: Op::Ge,
            threshold: 0.0,
        },
        timeout_secs: STAGE_TIMEOUT_SECS,
    }
}

/// Where a stage at 100% finds py2's values: py2 serves nothing during it, so a criterion
/// relative to py2 compares with py2 over the stage before, just before this one began
/// (`[PREVIOUS_HOLD] offset THIS_HOLD`). `None` for a stage py2 still serves.
fn baseline_window(ir: &Ir, stage: &StageIr) -> Option<String> {
    if stage.traffic < 100.0 {
        return None;
    }
    let index = ir.stages.iter().position(|s| s.name == stage.name)?;
    let previous = ir.stages[..index]
        .iter()
        .rev()
        .find(|s| s.traffic < 100.0)?;
    Some(format!(
        "{}] offset {}",
        duration(check_window(ir, previous)),
        duration(check_window(ir, stage))
    ))
}

/// `py2` (an expression over `[w]` ranges) over the baseline window instead.
fn at_baseline(py2: &str, w: &str, baseline: Option<&str>) -> String {
    match baseline {
        Some(b) => py2.replace(&format!("[{w}]"), &format!("[{b}")),
        None => py2.to_string(),
    }
}

fn check_query(
    ir: &Ir,
    src: &Source<'_>,
    check: &CheckIr,
    w: &str,
    baseline: Option<&str>,
) -> Option<Query> {
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
        // Off Kubernetes a percentage needs the plan's memory limit.
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
        let py2 = at_baseline(&py2, w, baseline);
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
            op: check.op,
            threshold,
        },
        timeout_secs: STAGE_TIMEOUT_SECS,
    })
}

/// The rules as far as an analysis of one service uses them: the names and labels of
/// recorded series (`Rules::series`, `margin_of`, `check_margin` read only the plan's name),
/// without `Rules::new`'s fleet-wide source, a list of every service that each service's
/// analysis built again (quadratic in services, issue 15).
fn naming(ir: &Ir) -> Rules<'_> {
    Rules {
        ir,
        src: Source::for_services(ir, Vec::new()),
    }
}

/// The sequential tests of the plan's triggers, built once for the fleet. A test's rules cover
/// every service (their selectors list the fleet), so building them again for each service's
/// analysis made a build quadratic in services (issue 15); an analysis needs only the series
/// the test records and its labels (`Rules::margin_of`).
pub struct TriggerTests {
    /// By trigger, in `ir.triggers` order: `None` for a threshold trigger.
    tests: Vec<Option<Test>>,
}

impl TriggerTests {
    pub fn new(ir: &Ir) -> TriggerTests {
        let rules = Rules::new(ir);
        let tests = ir
            .triggers
            .iter()
            .map(|trigger| {
                trigger
                    .is_sequential()
                    .then(|| rules.trigger(trigger))
                    .flatten()
                    // The records are the alerts' business; the margin's name and labels are
                    // all an analysis reads.
                    .map(|test| Test {
                        records: Vec::new(),
                        ..test
                    })
            })
            .collect();
        TriggerTests { tests }
    }

    /// The test of the `index`th trigger of the IR.
    fn of(&self, index: usize) -> Option<&Test> {
        self.tests.get(index).and_then(Option::as_ref)
    }
}

/// The rollback triggers of one service, each as a query whose sample breaches when the alert
/// would fire: a sequential test's margin above 0, or a threshold held for its whole window
/// (the alert's `for:`).
pub fn rollback_triggers(ir: &Ir, tests: &TriggerTests, service: &ServiceIr) -> Vec<Query> {
    let src = source(ir, service);
    let rules = naming(ir);
    let mut queries: Vec<Query> = Vec::new();
    let mut alerts: Vec<&str> = Vec::new();
    for (index, trigger) in ir.triggers.iter().enumerate() {
        if trigger.is_sequential() {
            // Two triggers with one alert record one margin (CNR408): the first is judged, as
            // in the alerts (prometheus::rules).
            if alerts.contains(&trigger.alert.as_str()) {
                continue;
            }
            alerts.push(trigger.alert.as_str());
            let Some(test) = tests.of(index) else {
                continue;
            };
            queries.push(Query {
                name: metric_name(trigger.kind.as_str()),
                text: trigger.text.clone(),
                promql: rules.margin_of(test, &service.name),
                condition: Condition {
                    op: Op::Gt,
                    threshold: 0.0,
                },
                timeout_secs: TRIGGER_TIMEOUT_SECS,
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
            duration(
                trigger
                    .window_secs
                    .unwrap_or(0)
                    .max(ir.metrics.scrape_interval_secs)
            )
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
            timeout_secs: TRIGGER_TIMEOUT_SECS,
        });
    }
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_py2_range_moves_to_the_stage_before() {
        let py2 = "sum(rate(x[24h])) / sum(rate(y[24h]))";
        assert_eq!(
            at_baseline(py2, "24h", Some("48h] offset 24h")),
            "sum(rate(x[48h] offset 24h)) / sum(rate(y[48h] offset 24h))"
        );
        assert_eq!(at_baseline(py2, "24h", None), py2);
    }
}
