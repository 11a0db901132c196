//! CNR518: behind HAProxy the latency conditions read the app's own histograms, so a runbook
//! for an app whose code imports no metrics library says they cannot work until it exports
//! them, and one whose code does, does not.

use std::path::Path;

use crate::common::{canaryc, copy_tree, repo, stderr};

const PLAN: &str = "plan billing {\n  codebase = \".\"\n  python   = 2.7 -> 3.12\n  infra    = bare-metal(router: haproxy)\n  service { }\n}\n";

/// `canaryc build` of the bare-metal fixture (plus `extra` files): its stderr and runbook.
fn build(extra: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("tests/fixtures/bare-metal"), dir.path());
    for (path, text) in extra {
        std::fs::write(dir.path().join(path), text).unwrap();
    }
    std::fs::write(dir.path().join("canary.plan"), PLAN).unwrap();
    let out = canaryc(dir.path(), &["build", "canary.plan", "--output", "out"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runbook =
        std::fs::read_to_string(Path::new(dir.path()).join("out/canary-plan.md")).unwrap();
    (stderr(&out), runbook)
}

#[test]
fn an_app_without_a_metrics_library_is_told_its_latency_conditions_depend_on_it() {
    let (diagnostics, runbook) = build(&[]);
    assert!(diagnostics.contains("CNR518"), "{diagnostics}");
    let note = runbook
        .lines()
        .find(|l| l.starts_with("**Check that the app exports its metrics.**"))
        .unwrap_or_else(|| panic!("no CNR518 note in the runbook:\n{runbook}"));
    // std.schedules.standard judges latency at canary-25pct (p99) and canary-50pct (all
    // metrics): the rollout waits at the first of them.
    assert!(note.contains("`billing`"), "{note}");
    assert!(note.contains("the latency triggers cannot fire"), "{note}");
    assert!(
        note.contains("stages canary-25pct, canary-50pct cannot pass their criteria, so the rollout waits at canary-25pct"),
        "{note}"
    );
}

#[test]
fn an_app_that_imports_prometheus_client_gets_no_note() {
    let (diagnostics, runbook) = build(&[(
        "billing/metrics.py",
        "from prometheus_client import Histogram\n\nLATENCY = Histogram('http_request_duration_seconds', 'latency', ['service', 'version'])\n",
    )]);
    assert!(!diagnostics.contains("CNR518"), "{diagnostics}");
    assert!(!runbook.contains("CNR518"), "{runbook}");
}
