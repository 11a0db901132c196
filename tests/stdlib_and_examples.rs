//! The stdlib, every example, and the plan snippets in the README and docs check clean.

use canaryc::stdlib::MODULES;

use crate::common::{check_text, code_blocks, repo};

fn assert_clean(name: &str, text: &str) {
    let (analysis, sources) = check_text(name, text);
    assert!(
        analysis.diagnostics.is_empty(),
        "{name} is not clean:\n{}",
        canaryc::diag::render::short(&analysis.diagnostics, &sources)
    );
}

#[test]
fn stdlib_modules_check_clean() {
    for module in MODULES {
        assert_clean(module.file_name, module.text);
    }
}

#[test]
fn stdlib_files_on_disk_are_all_embedded() {
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("stdlib"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = MODULES
        .iter()
        .map(|m| m.file_name.trim_start_matches("<std>/").to_string())
        .collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}

#[test]
fn the_standard_schedule_is_the_seed_schedule() {
    let (analysis, _) = check_text("p.plan", "plan p {\n  python = 2.7 -> 3.13\n}\n");
    let plan = analysis.plan.expect("a plan with defaults checks");
    let stages: Vec<(String, f64, u64)> = plan
        .schedule
        .stages
        .iter()
        .map(|s| {
            (
                s.name.value.clone(),
                s.traffic.value,
                s.hold.value / 3_600_000,
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            ("canary-1pct".into(), 1.0, 24),
            ("canary-5pct".into(), 5.0, 48),
            ("canary-25pct".into(), 25.0, 72),
            ("canary-50pct".into(), 50.0, 168),
            ("full-cutover".into(), 100.0, 336),
        ]
    );
    let total_hours: u64 = stages.iter().map(|s| s.2).sum();
    assert_eq!(total_hours, 27 * 24, "the standard schedule takes 27 days");
    assert_eq!(
        plan.rollback.len(),
        5,
        "std.rollback.defaults has five triggers (no divergence: nothing produces it, CNR513)"
    );
}

#[test]
fn overrides_change_only_what_they_name() {
    let (analysis, _) = check_text(
        "p.plan",
        "use std.schedules.standard\nuse std.rollback.defaults\nplan p {\n  python = 2.7 -> 3.13\n  schedule = standard { stage canary-25pct { hold = 96h } }\n  rollback = defaults { error_rate > 2% for 5m }\n}\n",
    );
    assert!(
        analysis.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        analysis.diagnostics
    );
    let plan = analysis.plan.unwrap();
    let holds: Vec<u64> = plan
        .schedule
        .stages
        .iter()
        .map(|s| s.hold.value / 3_600_000)
        .collect();
    assert_eq!(holds, vec![24, 48, 96, 168, 336]);
    let error_rate: Vec<_> = plan
        .rollback
        .iter()
        .filter(|t| t.metric.value == canaryc::model::Metric::ErrorRate)
        .collect();
    assert_eq!(
        error_rate.len(),
        1,
        "the override replaces the default trigger"
    );
    assert_eq!(
        error_rate[0].threshold.value,
        canaryc::model::Threshold::Percent(2.0)
    );
    assert_eq!(plan.rollback.len(), 5);
}

#[test]
fn every_example_plan_checks_clean() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        let plan = dir.join("canary.plan");
        if plan.is_file() {
            count += 1;
            let name = plan.display().to_string();
            let text = std::fs::read_to_string(&plan).unwrap();
            // The end-to-end examples scrape every second on purpose (their stages hold
            // minutes, so a run takes minutes): CNR458 is true of them and the only warning
            // they may carry.
            let e2e = dir.ends_with("e2e-compose") || dir.ends_with("e2e-wsgi");
            if e2e {
                let (analysis, sources) = check_text(&name, &text);
                let others: Vec<_> = analysis
                    .diagnostics
                    .into_iter()
                    .filter(|d| d.code != canaryc::diag::Code::ScrapeIntervalUncalibrated)
                    .collect();
                assert!(
                    others.is_empty(),
                    "{name} is not clean:\n{}",
                    canaryc::diag::render::short(&others, &sources)
                );
                continue;
            }
            assert_clean(&name, &text);
        }
    }
    assert!(count > 0, "no examples/*/canary.plan");
}

#[test]
fn plan_snippets_in_readme_and_docs_check_clean() {
    for doc in ["README.md", "docs/language.md"] {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        let snippets = code_blocks(&text, "plan");
        assert!(!snippets.is_empty(), "{doc} has no ```plan snippets");
        for (i, snippet) in snippets.iter().enumerate() {
            assert_clean(&format!("{doc} snippet {}", i + 1), snippet);
        }
    }
}
