//! Engines from the command line: `canaryc plan` picks Argo Rollouts unless the codebase runs
//! Flagger; `canaryc promote` and `canaryc rollback` refuse bad input with exit 2, and fail
//! with 1 when Prometheus or HAProxy cannot be reached.

use crate::common::{canaryc, repo, stderr, stdout};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-engines-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn plan_files(fixture: &str) -> Vec<String> {
    let dir = scratch(fixture);
    let out = dir.join("out");
    let codebase = repo().join("tests/fixtures").join(fixture);
    let run = canaryc(
        &dir,
        &[
            "plan",
            codebase.to_str().unwrap(),
            "--target-version",
            "3.12",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn plan_picks_flagger_where_the_team_runs_it_and_argo_elsewhere() {
    let flagger = plan_files("k8s-flagger");
    assert!(
        flagger.contains(&"k8s-flagger.yaml".to_string()),
        "{flagger:?}"
    );
    assert!(
        !flagger.iter().any(|f| f.starts_with("k8s-rollout")),
        "{flagger:?}"
    );
    let argo = plan_files("k8s-istio");
    assert!(argo.contains(&"k8s-rollout.yaml".to_string()), "{argo:?}");
    assert!(
        argo.contains(&"k8s-rollout-py3-ledger.patch".to_string()),
        "{argo:?}"
    );
}

#[test]
fn promote_and_rollback_refuse_bad_input_with_exit_2() {
    let dir = scratch("promote");
    let missing = canaryc(&dir, &["promote", "--config", "nope.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read nope.json"),
        "{}",
        stderr(&missing)
    );
    std::fs::write(dir.join("bad.json"), "{\"format_version\": 1}").unwrap();
    let bad = canaryc(&dir, &["promote", "--config", "bad.json"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("is not a canary-promote.json"));
    let every = canaryc(&dir, &["promote", "--every", "0s"]);
    assert_eq!(every.status.code(), Some(2));
    let both = canaryc(&dir, &["promote", "--restart", "--approve"]);
    assert_eq!(both.status.code(), Some(2));

    // A real configuration from a build, with HAProxy and Prometheus nowhere: exit 2, said why.
    let plan = repo().join("examples/e2e-wsgi/canary-deployment/canary-promote.json");
    let text = std::fs::read_to_string(plan)
        .unwrap()
        .replace(
            "/var/lib/canaryc/wsgi-shop",
            dir.join("state").to_str().unwrap(),
        )
        .replace(
            "/run/haproxy/wsgi-shop-admin.sock",
            dir.join("none.sock").to_str().unwrap(),
        );
    std::fs::write(dir.join("canary-promote.json"), text).unwrap();
    // Not a usage error: nothing changed, and the next run tries again.
    let unreachable = canaryc(&dir, &["promote", "--format", "json"]);
    assert_eq!(
        unreachable.status.code(),
        Some(1),
        "{}",
        stdout(&unreachable)
    );
    assert!(
        stderr(&unreachable).contains("HAProxy's runtime API"),
        "{}",
        stderr(&unreachable)
    );
    let rollback = canaryc(&dir, &["rollback", "not-a-service"]);
    assert_eq!(rollback.status.code(), Some(2));
    assert!(stderr(&rollback).contains("is not a service of wsgi-shop"));
}

#[test]
fn promote_help_teaches() {
    let out = canaryc(&repo(), &["promote", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for needle in [
        "--approve",
        "--restart",
        "--every",
        "--format",
        "Exit 0",
        "Examples:",
    ] {
        assert!(
            text.contains(needle),
            "promote --help lacks {needle}:\n{text}"
        );
    }
}
