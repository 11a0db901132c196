//! What the runbook says about the sequential tests and the time-to-detect preview. The
//! statistics are decided in the IR (src/stats/, `ir.detection`); these only render them.

use super::doc::Doc;
use super::{hours, ladder_span, md};
use crate::ir::{Ir, TriggerKind};

/// How the error-rate and latency triggers and the criteria decide, for `canary-plan.md`.
pub(super) fn statistics(d: &mut Doc, ir: &Ir) {
    let (first, top) = ladder_span(ir);
    if ir.triggers.iter().any(|t| t.is_sequential()) {
        d.blank().line(format!(
            "Error-rate and latency triggers are sequential tests, not thresholds held for a window. Over {} windows from {} to {}, the recording rules compare py3's failures (or requests slower than a histogram bucket) with py2's rate over the last day, and weigh the evidence that py3 is worse by at least the trigger's threshold (`error_rate > 1%` means 1 point above py2's rate; see the language reference). The alert fires as soon as any window's evidence is enough for that window; the thresholds keep rollbacks of a healthy py3 to at most 1% of stages. There is no traffic minimum and no `for:`: little traffic means slow evidence, not no alert.",
            ir.detection.ladder.rungs.len(),
            first,
            top,
        ));
    }
    if ir
        .triggers
        .iter()
        .any(|t| t.kind == TriggerKind::Divergence)
    {
        d.blank().line(format!(
            "The divergence alert waits until {} responses have been compared in its window.",
            ir.metrics.min_requests
        ));
    }
    if ir.stages.iter().any(|s| !s.evidence.is_empty()) {
        d.blank().line("A stage's criteria are judged on the same counts: move on only when `canary:stage_evidence:margin{stage=\"STAGE\"}` is at or above 0 for every criterion of the stage (95% confidence that py3 is not worse than the criterion allows, over the hold, at most a day). A quiet stage has no evidence and does not pass.");
    }
    d.blank()
        .paragraph("`prometheus-alerts.test.yaml` proves, with `promtool test rules prometheus-alerts.test.yaml`, that a planted regression fires when the rules' reference evaluator says and that healthy seeded days never do, and that each other alert fires above its threshold and stays silent below it.")
        .paragraph("Load the rules with `promtool check rules prometheus-alerts.yaml` and add the file to Prometheus's `rule_files`. Import `monitoring-dashboard.json` into Grafana (Dashboards → New → Import) and pick the Prometheus datasource.");
}

/// The time-to-detect preview, when the plan states its traffic.
pub(super) fn time_to_detect(d: &mut Doc, ir: &Ir) {
    use crate::check::detection::{approx, count_text, percent_text, rate_text};
    let Some(p) = &ir.detection.preview else {
        return;
    };
    d.heading(2, "Time to detect").paragraph(format!(
        "At the plan's {} for `{}` (py2 failing {} of requests), median times from a regression's start to the rollback alert, and the failed requests py3 serves first. The simulator (benches/detection.rs) agrees with these within 25%.",
        rate_text(p.traffic),
        p.service,
        percent_text(p.py2_error_rate)
    ));
    d.table_header(&[
        "stage",
        "py3 traffic",
        "hold",
        "trigger",
        "regression",
        "caught",
        "failed (or slow) requests first",
    ]);
    for st in &p.stages {
        for c in &st.catches {
            let (caught, failed) = match c.detection {
                Some(x) if x.secs <= st.hold_secs as f64 => (approx(x.secs), count_text(x.failed)),
                Some(x) => (
                    format!("not within the hold ({})", approx(x.secs)),
                    "-".into(),
                ),
                None => ("not within a day's window".into(), "-".into()),
            };
            d.row(&[
                st.stage.clone(),
                rate_text(st.py3_rate),
                hours(st.hold_secs as f64 / 3600.0),
                md::code(&c.trigger),
                c.regression.to_string(),
                caught,
                failed,
            ]);
        }
    }
    let proofs: Vec<_> = p
        .stages
        .iter()
        .flat_map(|s| s.proofs.iter().map(move |x| (s, x)))
        .collect();
    if !proofs.is_empty() {
        d.blank()
            .paragraph("A healthy py3 (failing as often as py2) shows its stage's criteria after:")
            .table_header(&["stage", "criterion", "evidence after"]);
        for (st, pr) in proofs {
            let after = match pr.secs {
                Some(s) if s <= st.hold_secs as f64 => approx(s),
                _ if pr.requests.is_finite() => format!(
                    "not within the hold: needs ~{} requests",
                    count_text(pr.requests)
                ),
                _ => "never".into(),
            };
            d.row(&[st.stage.clone(), md::code(&pr.criterion), after]);
        }
    }
    d.blank();
}
