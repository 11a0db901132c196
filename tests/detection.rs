//! The sequential tests end to end: the preview against the simulator, the alerts against the
//! test functions, and what the generated rules must and must not contain.

use canaryc::stats::effect::Effect;
use canaryc::stats::ladder::Ladder;
use canaryc::stats::preview;
use canaryc::stats::simulate::{self, Scenario};

use crate::common::check_text;

/// (total requests per second, py3's share, py3's failure rate once broken) of the cells the
/// preview is held to: the grid of benches/detection.rs at 10 and 100 requests per second, and
/// 1000 for regressions below the threshold (at 1 the medians are hours of simulation per run;
/// benches/detection.rs `table` compares every cell).
const CELLS: &[(f64, f64, f64)] = &[
    (10.0, 0.01, 0.02),
    (10.0, 0.01, 0.10),
    (10.0, 0.01, 1.0),
    (10.0, 0.05, 0.02),
    (10.0, 0.05, 1.0),
    (10.0, 0.25, 0.02),
    (10.0, 0.25, 0.10),
    (10.0, 0.50, 0.005),
    (100.0, 0.01, 0.02),
    (100.0, 0.05, 0.005),
    (100.0, 0.05, 0.10),
    (100.0, 0.25, 0.02),
    (100.0, 0.50, 1.0),
    (1000.0, 0.25, 0.005),
    (1000.0, 0.50, 0.005),
];

/// Cells for `error_rate > 2x py2`, the smallest threshold the calibration covers: 0.5% is
/// above its alternative (0.2%), so the GLR branch of the preview, not the indifference zone's.
const CELLS_2X: &[(f64, f64, f64)] = &[
    (10.0, 0.05, 0.005),
    (10.0, 0.25, 0.005),
    (100.0, 0.01, 0.005),
    (100.0, 0.05, 0.02),
    (1000.0, 0.01, 0.005),
];

#[test]
fn the_preview_agrees_with_the_simulator_within_a_quarter() {
    preview_within_a_quarter(Effect::Above(0.01), CELLS, 101);
}

#[test]
fn the_preview_agrees_with_the_simulator_for_2x_py2() {
    // 301 runs: the preview runs about 20% above the simulator at 1 req/s on the 1% stage
    // (benches/detection.rs `cell 100 0.01 0.005 1000 2x`: 1.20, the median's 95% interval
    // 1.14 to 1.23), and 101 runs put the median's sampling error (about 10%) on top.
    preview_within_a_quarter(Effect::Times(2.0), CELLS_2X, 301);
}

fn preview_within_a_quarter(effect: Effect, cells: &[(f64, f64, f64)], runs: u64) {
    // The standard schedule's ladder: the simulated rules tell the stage from py3's share, the
    // preview is given the stage's thresholds.
    let ladder = Ladder::new(
        15,
        &[
            (0.01, 24 * 3600),
            (0.05, 48 * 3600),
            (0.25, 72 * 3600),
            (0.5, 168 * 3600),
            (1.0, 336 * 3600),
        ],
    );
    let mut report = Vec::new();
    let mut worst: f64 = 0.0;
    for &(total, share, broken) in cells {
        let rate = total * share;
        let p = preview::detect(
            &ladder.at_share(share),
            effect,
            0.001,
            broken,
            rate,
            total * (1.0 - share) * 86_400.0,
        )
        .unwrap_or_else(|| panic!("the preview catches {broken} at {rate}/s"));
        let s = Scenario {
            total_rate: total,
            share,
            previous_share: share,
            p0: 0.001,
            broken: Some(broken),
            scrape_secs: 15,
            eval_secs: 15,
            // Long enough that every run is caught: the median is what is compared.
            hold_secs: 12 * 3600,
            effect,
            ladder: ladder.clone(),
            whole_hold: false,
        };
        let outcomes = s.runs(runs, 7);
        let median = simulate::quantile(&outcomes, 0.5).expect("caught");
        let failed = simulate::median_failed(&outcomes);
        let ratio = p.secs / median;
        // Failures are counted per run: at a few per stage their median is an integer.
        let failed_ratio = (p.failed + 1.0) / (failed + 1.0);
        worst = worst
            .max((ratio - 1.0).abs())
            .max((failed_ratio - 1.0).abs());
        report.push(format!(
            "{total} req/s x {}% at {}%: preview {:.0}s, simulator {median:.0}s ({ratio:.2}); failed {:.1} vs {failed:.1}",
            share * 100.0,
            broken * 100.0,
            p.secs,
            p.failed
        ));
    }
    eprintln!("{}", report.join("\n"));
    assert!(
        worst <= 0.25,
        "the preview is more than 25% off the simulator:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_alerts_are_the_test_functions() {
    let (analysis, _) = check_text(
        "p.plan",
        "plan p {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n  service { image py2 = \"r/p:2\" image py3 = \"r/p:3\" }\n}\n",
    );
    let plan = analysis.plan.expect("checks");
    let (ir, _) = canaryc::ir::lower(&plan, None, None);
    let rules = canaryc::emit::sequential::Rules::new(&ir);
    let files = canaryc::emit::emit(&ir);
    let alerts = &files
        .iter()
        .find(|f| f.name == "prometheus-alerts.yaml")
        .expect("alerts")
        .contents;
    let doc: serde_yaml::Value = serde_yaml::from_str(alerts).expect("YAML");
    let group = &doc["groups"][0]["rules"];
    for t in ir.triggers.iter().filter(|t| t.is_sequential()) {
        let test = rules.trigger(t).expect("a sequential test");
        let alert = group
            .as_sequence()
            .expect("rules")
            .iter()
            .find(|r| r["alert"].as_str() == Some(t.alert.as_str()))
            .expect("the alert");
        // An analysis reading `test.margin` with failure at > 0 decides as the alert does.
        assert_eq!(alert["expr"].as_str(), Some(test.fires_when().as_str()));
        assert!(alert.get("for").is_none(), "{}: no `for:`", t.alert);
        for r in &test.records {
            assert!(
                group
                    .as_sequence()
                    .expect("rules")
                    .iter()
                    .any(|g| g["record"].as_str() == Some(r.name.as_str())),
                "{} is recorded",
                r.name
            );
        }
    }
    // Every stage criterion of the standard schedule is a recorded test.
    for stage in &ir.stages {
        for check in &stage.evidence {
            let test = rules.check(stage, check);
            assert!(test.passes_when().ends_with(">= 0"));
            assert!(
                alerts.contains(&format!("stage: {}", stage.name))
                    || alerts.contains(&format!("stage: '{}'", stage.name))
            );
        }
    }
    // The sequential alerts are `margin > 0`, nothing more (above); only divergence keeps a
    // minimum of compared responses, and the standard set has no divergence trigger until a
    // comparator produces its metric (CNR513).
    assert_eq!(
        alerts.matches(">= 100\n").count(),
        0,
        "no minimum-traffic guard"
    );
}

#[test]
fn every_source_gets_the_sequential_rules() {
    for (infra, source) in [
        ("kubernetes(router: istio)", "istio"),
        ("kubernetes(router: nginx-ingress)", "nginx-ingress"),
        ("bare-metal(router: haproxy)", "haproxy"),
        ("bare-metal(router: haproxy)", "app"),
    ] {
        let text = format!(
            "plan p {{\n  python = 2.7 -> 3.13\n  infra = {infra}\n  monitor {{ source = {source} }}\n  service {{ image py2 = \"r/p:2\" image py3 = \"r/p:3\" command py2 = \"/srv/p/venv/bin/p\" command py3 = \"/srv/p/venv3/bin/p\" port = 8000 }}\n}}\n"
        );
        let (analysis, _) = check_text("p.plan", &text);
        let plan = analysis
            .plan
            .unwrap_or_else(|| panic!("{source}: {:?}", analysis.diagnostics));
        let (ir, _) = canaryc::ir::lower(&plan, None, None);
        let files = canaryc::emit::emit(&ir);
        let alerts = &files
            .iter()
            .find(|f| f.name == "prometheus-alerts.yaml")
            .expect("alerts")
            .contents;
        assert!(alerts.contains("canary:py3_error_ratio:margin"), "{source}");
        assert!(
            alerts.contains("canary:py3_latency_slow_ratio:margin"),
            "{source}"
        );
        let histogram = match source {
            "istio" => "istio_request_duration_milliseconds_bucket",
            "nginx-ingress" => "nginx_ingress_controller_request_duration_seconds_bucket",
            // HAProxy has no latency histograms: the app's own.
            _ => "http_request_duration_seconds_bucket",
        };
        assert!(alerts.contains(histogram), "{source}: {histogram}");
        if source == "haproxy" {
            // Retried failures count: HAProxy's retries hide py3's 500s from the 5xx counter.
            assert!(alerts.contains("haproxy_server_retry_warnings_total"));
        }
    }
}

#[test]
fn a_quiet_stage_warns_and_says_what_would_do() {
    let (analysis, _) = check_text(
        "p.plan",
        "plan p {\n  python = 2.7 -> 3.13\n  traffic = 0.2/s\n  rollback when { error_rate > 1% }\n}\n",
    );
    let d = analysis
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "CNR450")
        .expect("CNR450");
    assert!(d.message.contains("canary-1pct"), "{}", d.message);
    let help = d.help.as_deref().unwrap_or_default();
    assert!(help.contains("% of traffic"), "{help}");
    // Enough traffic: no warning about the triggers.
    let (loud, _) = check_text(
        "p.plan",
        "plan p {\n  python = 2.7 -> 3.13\n  traffic = 400/s\n  rollback when { error_rate > 1% }\n}\n",
    );
    assert!(!loud.diagnostics.iter().any(|d| d.code.as_str() == "CNR450"));
}

#[test]
fn thresholds_are_relative_unless_absolute() {
    use canaryc::model::Threshold;
    let (analysis, _) = check_text(
        "p.plan",
        "plan p {\n  python = 2.7 -> 3.13\n  rollback when {\n    error_rate > absolute(2%)\n    latency p99 > 1s\n  }\n}\n",
    );
    let plan = analysis.plan.expect("checks");
    assert_eq!(
        plan.rollback[0].threshold.value,
        Threshold::AbsolutePercent(2.0)
    );
    let (ir, _) = canaryc::ir::lower(&plan, None, None);
    assert_eq!(ir.triggers[0].effect, Some(Effect::AtLeast(0.02)));
    let (relative, _) = check_text(
        "p.plan",
        "plan p {\n  python = 2.7 -> 3.13\n  rollback when { error_rate > 1% for 5m }\n}\n",
    );
    let (ir, _) = canaryc::ir::lower(&relative.plan.expect("checks"), None, None);
    assert_eq!(ir.triggers[0].effect, Some(Effect::Above(0.01)));
    // The window of a sequential trigger is not part of what it tests.
    assert_eq!(ir.triggers[0].text, "error_rate > 1%");
}

#[test]
fn the_language_reference_shows_what_check_prints() {
    let doc =
        std::fs::read_to_string(crate::common::repo().join("docs/language.md")).expect("docs");
    let section = doc
        .split("## Time to detect")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Time to detect section");
    let plan = crate::common::code_blocks(section, "plan").remove(0);
    let shown = crate::common::code_blocks(section, "text").remove(0);
    let dir = std::env::temp_dir().join(format!("canaryc-ttd-doc-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("canary.plan"), plan).expect("write");
    let out = crate::common::canaryc(&dir, &["check"]);
    let _ = std::fs::remove_dir_all(&dir);
    let printed = crate::common::stderr(&out);
    let expected = shown.trim_start_matches("$ canaryc check\n");
    assert_eq!(printed.trim_end(), expected.trim_end());
}
