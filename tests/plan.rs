//! `canaryc plan <codebase>`: the seed's one-command planner. Flags, defaults, bad input.

use std::path::{Path, PathBuf};

use crate::common::{canaryc, repo, stderr, stdout};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-plan-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The written plan with runs of whitespace collapsed (the layout is the formatter's business).
fn plan_text(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("canary.plan")).unwrap();
    assert_eq!(
        canaryc::fmt::format(&text).unwrap(),
        text,
        "the written plan is formatted"
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_seed_command_line_works_verbatim() {
    for example in ["ledger-k8s-istio", "shop-compose", "billing-bare-metal"] {
        let dir = scratch(&format!("seed-{example}"));
        let codebase = repo().join("examples").join(example);
        let out = canaryc(
            &codebase,
            &[
                "plan",
                ".",
                "--target-version",
                "3.11",
                "--infra-type",
                "auto",
                "--output",
                &format!("{}/canary-deployment/", dir.display()),
                "--rollback-threshold",
                "1.0",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stderr(&out));
        let summary = stdout(&out);
        for part in [
            "Detected in .",
            "Ramp-up:",
            "total: ",
            "Wrote ",
            "Estimated cutover if it starts today (2026-11-27)",
        ] {
            assert!(
                summary.contains(part),
                "{example}: summary lacks {part:?}:\n{summary}"
            );
        }
        let written = dir.join("canary-deployment");
        assert!(written.join("canary.plan").is_file());
        assert!(written.join("canary-plan.md").is_file());
        // The written plan builds to the same files again.
        let rebuilt = canaryc(
            &written,
            &["build", "--check", "canary.plan", "--output", "."],
        );
        assert_eq!(
            rebuilt.status.code(),
            Some(0),
            "{example}: {}{}",
            stdout(&rebuilt),
            stderr(&rebuilt)
        );
    }
}

#[test]
fn defaults_are_the_seeds() {
    let dir = scratch("defaults");
    let out = canaryc(&dir, &["plan", &fixture("k8s-istio")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = plan_text(&dir);
    assert!(plan.contains("python = 2.7 -> 3.11"), "{plan}");
    assert!(plan.contains("infra = auto"));
    assert!(plan.contains("error_rate > 1% }"));
    assert!(plan.contains("schedule = standard"));
    assert!(
        plan.contains("plan ledger {"),
        "named after the team's Deployment"
    );
    assert!(
        stderr(&out).contains("Python 3.11 reaches end-of-life in October 2027"),
        "EOL warnings reach the user"
    );
    assert!(stdout(&out).contains("total: 27 days (648 hours)"));
    assert!(
        stdout(&out).contains("warning[CNR502]: Python 3.11 reaches end-of-life in October 2027"),
        "the summary names the end-of-life warning"
    );
}

#[test]
fn every_flag_changes_the_plan() {
    let dir = scratch("flags");
    let out = canaryc(
        &dir,
        &[
            "plan",
            &fixture("k8s-istio"),
            "--target-version",
            "3.13",
            "--infra-type",
            "bare-metal",
            "--output",
            "out",
            "--rollback-threshold",
            "0.5",
            "--schedule",
            "cautious",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = plan_text(&dir.join("out"));
    assert!(plan.contains("2.7 -> 3.13"));
    assert!(plan.contains("infra = bare-metal"));
    assert!(plan.contains("error_rate > 0.5% }"));
    assert!(plan.contains("use std.schedules.cautious") && plan.contains("schedule = cautious"));
    assert!(
        dir.join("out/systemd-py3.service").is_file(),
        "bare metal gets units"
    );
    assert!(stdout(&out).contains("total: 43 days"));
    assert!(!stderr(&out).contains("end-of-life"), "3.13 is supported");
}

#[test]
fn force_is_needed_to_write_among_other_files() {
    let dir = scratch("force");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let refused = canaryc(&dir, &["plan", &fixture("compose")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--force"));
    assert!(!dir.join("canary.plan").exists(), "nothing written");
    let forced = canaryc(&dir, &["plan", &fixture("compose"), "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(dir.join("canary.plan").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // Planning again over its own output needs no --force.
    let rerun = canaryc(&dir, &["plan", &fixture("compose"), "--output", "second"]);
    assert_eq!(rerun.status.code(), Some(0));
    let rerun = canaryc(&dir, &["plan", &fixture("compose"), "--output", "second"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
}

#[test]
fn bad_input_is_a_usage_error_and_writes_nothing() {
    let dir = scratch("bad");
    std::fs::write(dir.join("a-file"), "x").unwrap();
    let k8s = fixture("k8s-istio");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plan", "no-such-dir", "--output", "out"],
            "is not a directory",
        ),
        (vec!["plan", &k8s, "--output", "a-file"], "is a file"),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "2.7"],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "4.0"],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "3"],
            "not a Python 3 release",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--target-version",
                "banana",
            ],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "3.5"],
            "older than any Python",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--rollback-threshold", "0"],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "100.5",
            ],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "-1",
            ],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "lots",
            ],
            "not a number",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--infra-type", "mainframe"],
            "invalid value 'mainframe'",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--schedule", "yearly"],
            "invalid value 'yearly'",
        ),
        (vec!["plan"], "required"),
    ];
    for (args, message) in cases {
        let out = canaryc(&dir, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(!dir.join("out").exists(), "{args:?} wrote something");
        assert_eq!(std::fs::read_to_string(dir.join("a-file")).unwrap(), "x");
    }
}

#[test]
fn a_codebase_with_nothing_to_run_fails_clearly() {
    let dir = scratch("empty");
    let out = canaryc(&dir, &["plan", &fixture("empty"), "--output", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no command for"), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing written"));
    assert!(!dir.join("out").exists());
}
