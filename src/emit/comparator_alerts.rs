//! Alerts on the response comparator itself, when the bundle runs one: it is not scraped, or
//! most of what it mirrors cannot be compared. Neither is a rollback trigger (a comparator
//! that is down says nothing about py3): they carry `canary: comparator`, which the
//! Alertmanager route does not send to the rollback receiver, and `severity: warning`. While
//! the comparator is blind, the divergence alert cannot fire; these say so.

use serde_json::{Value, json};

use super::escape::promql;
use super::metrics::Source;
use super::prometheus::duration;
use crate::ir::Ir;

/// Error share above which the comparator is called blind: at 10% the divergence share it
/// reports is computed on a sample that leaves out what py3 or the second py2 copy failed.
pub(super) const ERROR_PERCENT: f64 = 10.0;
const WINDOW_SECS: u64 = 300;
const FOR_SECS: u64 = 600;

pub(super) struct HealthRule {
    pub alert: &'static str,
    pub expr: String,
    pub for_secs: u64,
    pub labels: Value,
    pub annotations: Value,
}

/// The services the bundle runs a comparator for.
fn services(ir: &Ir) -> Vec<&crate::ir::ServiceIr> {
    ir.services
        .iter()
        .filter(|s| s.compare.as_ref().is_some_and(|c| !c.targets.is_empty()))
        .collect()
}

pub(super) fn rules(ir: &Ir) -> Vec<HealthRule> {
    let compared = services(ir);
    if !ir.comparator || compared.is_empty() {
        return Vec::new();
    }
    let src = Source::for_services(ir, compared.clone());
    let w = duration(WINDOW_SECS);
    // `absent` keeps the labels of its selector's equality matchers: one per service, so
    // each alert names its service.
    let down = compared
        .iter()
        .map(|s| {
            format!(
                "absent(canary_compared_responses_total{{service={}}})",
                promql::string(&s.name)
            )
        })
        .collect::<Vec<_>>()
        .join(" or ");
    let labels = |what: &str| json!({ "severity": "warning", "canary": "comparator", "plan": ir.name, "comparator": what });
    let annotations = |summary: &str, description: String| {
        json!({
            "summary": summary,
            "description": description,
            "runbook_url": "canary-plan.md#response-comparator",
        })
    };
    vec![
        HealthRule {
            alert: "CanaryComparatorDown",
            expr: down,
            for_secs: FOR_SECS,
            labels: labels("down"),
            annotations: annotations(
                "the response comparator is not scraped",
                format!(
                    "Prometheus has no canary_compared_responses_total for the service in this alert's `service` label: its comparator is down or not scraped, and the {} canary's divergence alert cannot fire. Not a rollback: py3 is not judged by it.",
                    ir.name
                ),
            ),
        },
        HealthRule {
            alert: "CanaryComparatorErrors",
            expr: format!(
                "({}) > {}\nand on(service) {} >= {}",
                src.comparison_error_percent(&w),
                crate::ir::fmt(ERROR_PERCENT),
                src.comparisons().sum_by_service(
                    &src.services,
                    Some(("result", "=~\"same|diverged|noise|error\"")),
                    "increase",
                    Some(&w),
                    ""
                ),
                ir.metrics.min_requests
            ),
            for_secs: FOR_SECS,
            labels: labels("errors"),
            annotations: annotations(
                "the response comparator cannot compare much of what it mirrors",
                format!(
                    "More than {}% of the requests mirrored for the service in this alert's `service` label ended as result=\"error\" (the second py2 copy or py3 did not answer in time): the {} canary's divergence share is measured on what is left. See canary_compare_mirror_errors_total for which copy. Not a rollback trigger.",
                    crate::ir::fmt(ERROR_PERCENT),
                    ir.name
                ),
            ),
        },
    ]
}

/// One promtool case: its name, the alert it tests, the input series, whether the alert fires.
pub(super) type HealthCase = (String, &'static str, Vec<(String, String)>, bool);

/// promtool cases for `rules`' alerts.
pub(super) fn cases(ir: &Ir, step_secs: u64, steps: u64) -> Vec<HealthCase> {
    let compared = services(ir);
    let Some(service) = compared.first() else {
        return Vec::new();
    };
    let src = Source::for_services(ir, compared.clone());
    let c = src.comparisons();
    let counter = |per_step: f64| format!("0+{}x{steps}", crate::ir::fmt(per_step));
    let volume = (f64::from(ir.metrics.min_requests) * 2.0 * step_secs as f64 / WINDOW_SECS as f64)
        .ceil()
        .max(100.0);
    let results = |error: f64| {
        vec![
            (
                c.input(service, &[("result", "same")]),
                counter(volume - error),
            ),
            (c.input(service, &[("result", "diverged")]), counter(0.0)),
            (c.input(service, &[("result", "noise")]), counter(0.0)),
            (c.input(service, &[("result", "error")]), counter(error)),
            // Drops are a full queue, not a failing copy: never counted here.
            (
                c.input(service, &[("result", "dropped")]),
                counter(volume * 4.0),
            ),
        ]
    };
    let other = vec![(
        "canary_compared_responses_total{service=\"some-other-service\",result=\"same\"}"
            .to_string(),
        counter(volume),
    )];
    vec![
        (
            "fires when the comparator is not scraped".into(),
            "CanaryComparatorDown",
            other,
            true,
        ),
        (
            "silent while the comparator is scraped".into(),
            "CanaryComparatorDown",
            results(0.0),
            false,
        ),
        (
            "fires when many comparisons fail".into(),
            "CanaryComparatorErrors",
            results((volume * ERROR_PERCENT * 3.0 / 100.0).ceil()),
            true,
        ),
        (
            "silent when comparisons succeed (drops aside)".into(),
            "CanaryComparatorErrors",
            results((volume * ERROR_PERCENT / 400.0).floor()),
            false,
        ),
    ]
}

/// The evaluation time for the health cases: the window plus `for`, with room.
pub(super) fn eval_secs() -> u64 {
    WINDOW_SECS + FOR_SECS + 120
}
