//! `canaryc build`: golden outputs for every example and every case under tests/cases/build
//! (each committed next to its plan and compared with `build --check`), determinism, atomicity,
//! and secrets staying references.
//!
//! After an intended change to the outputs, regenerate the goldens with
//! `CANARYC_BLESS=1 cargo test --test integration build::` and review them with `git diff`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{canaryc, repo, stderr, stdout};

fn bless() -> bool {
    std::env::var_os("CANARYC_BLESS").is_some()
}

/// Every plan with committed outputs: (plan, its output directory).
fn goldens() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for (dir, output) in [
        ("examples", "canary-deployment"),
        ("tests/cases/build", "expected"),
    ] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let case = entry.unwrap().path();
            if case.join("canary.plan").is_file() {
                out.push((case.join("canary.plan"), case.join(output)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn committed_outputs_match_a_fresh_build() {
    let cases = goldens();
    assert!(cases.len() >= 10, "{cases:?}");
    for (plan, output) in cases {
        let (plan, output) = (plan.to_str().unwrap(), output.to_str().unwrap());
        let args: Vec<&str> = if bless() {
            // The goldens are tracked by git, so a merge may leave a manifest whose hashes no
            // longer match: overwriting them is safe.
            vec!["build", plan, "--output", output, "--force"]
        } else {
            vec!["build", "--check", plan, "--output", output]
        };
        let out = canaryc(&repo(), &args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{plan} drifted from {output}; run with CANARYC_BLESS=1 to regenerate:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-build-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn builds_are_byte_identical_on_any_day() {
    let dir = scratch("determinism");
    let plan = repo().join("examples/ledger-k8s-istio/canary.plan");
    let plan = plan.to_str().unwrap();
    let a = dir.join("a");
    let b = dir.join("b");
    let first = canaryc(&dir, &["build", plan, "--output", a.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_canaryc"))
        .args(["build", plan, "--output", b.to_str().unwrap()])
        .env("CANARYC_TODAY", "2031-06-30")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(0));
    let (a, b) = (read_dir(&a), read_dir(&b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between builds");
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("/tmp/") && !text.contains("/work/"),
            "{name} contains an absolute path"
        );
    }
}

const GOOD: &str = "plan ledger {\n  python = 2.7 -> 3.13\n  infra = bare-metal(router: haproxy)\n  service {\n    port = 8000\n    health = \"/healthz\"\n    command py2 = \"/srv/ledger/venv/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n    command py3 = \"/srv/ledger/venv3/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n  }\n}\n";

#[test]
fn a_failed_build_leaves_the_previous_outputs_intact() {
    let dir = scratch("atomic");
    std::fs::write(dir.join("canary.plan"), GOOD).unwrap();
    let ok = canaryc(&dir, &["build"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let before = read_dir(&dir.join("canary-deployment"));
    assert!(before.contains_key("haproxy-canary.cfg"));

    // A plan with an error: exit 1, nothing touched.
    std::fs::write(
        dir.join("canary.plan"),
        GOOD.replace("3.13", "3.13\n  schedule = nonexistent"),
    )
    .unwrap();
    let failed = canaryc(&dir, &["build"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stderr(&failed).contains("nothing written"));
    assert_eq!(read_dir(&dir.join("canary-deployment")), before);

    // A directory holding someone else's files is not replaced without --force.
    std::fs::write(dir.join("canary-deployment/notes.txt"), "mine").unwrap();
    std::fs::write(dir.join("canary.plan"), GOOD.replace("8000", "8100")).unwrap();
    let refused = canaryc(&dir, &["build"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("notes.txt"));
    let forced = canaryc(&dir, &["build", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert_eq!(
        std::fs::read_to_string(dir.join("canary-deployment/notes.txt")).unwrap(),
        "mine",
        "--force writes canaryc's files and keeps the others"
    );
    let cfg = std::fs::read_to_string(dir.join("canary-deployment/haproxy-canary.cfg")).unwrap();
    assert!(cfg.contains("bind *:8100"), "the new build is in place");

    // An output path that is a file: usage error, the file is untouched.
    std::fs::write(dir.join("taken"), "a file").unwrap();
    let file = canaryc(&dir, &["build", "--output", "taken"]);
    assert_eq!(file.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(dir.join("taken")).unwrap(),
        "a file"
    );

    // A write that fails part-way (here: the file system refuses) reports and leaves nothing.
    let unwritable = canaryc(
        &dir,
        &["build", "--output", "/proc/canaryc-cannot-write-here"],
    );
    assert_eq!(unwritable.status.code(), Some(1));
    assert!(stderr(&unwritable).contains("previous outputs are unchanged"));
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("canaryc-new") || n.contains("canaryc-old"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn check_reports_drift_as_a_diff() {
    let dir = scratch("drift");
    std::fs::write(dir.join("canary.plan"), GOOD).unwrap();
    assert_eq!(canaryc(&dir, &["build"]).status.code(), Some(0));
    assert_eq!(canaryc(&dir, &["build", "--check"]).status.code(), Some(0));
    std::fs::write(dir.join("canary.plan"), GOOD.replace("/healthz", "/health")).unwrap();
    let drift = canaryc(&dir, &["build", "--check"]);
    assert_eq!(drift.status.code(), Some(1));
    let diff = stdout(&drift);
    assert!(diff.contains("--- a/haproxy-canary.cfg"), "{diff}");
    assert!(diff.contains("-    option httpchk GET /healthz"), "{diff}");
    assert!(diff.contains("+    option httpchk GET /health"), "{diff}");
}

#[test]
fn secrets_stay_references() {
    let dir = scratch("secrets");
    let codebase = repo().join("tests/fixtures/k8s-secrets");
    std::fs::write(
        dir.join("canary.plan"),
        format!(
            "plan vault {{\n  codebase = \"{}\"\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n  service {{ image py3 = \"registry.internal/vault:3.13-1\" }}\n}}\n",
            codebase.display()
        ),
    )
    .unwrap();
    let out = canaryc(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files = read_dir(&dir.join("canary-deployment"));
    let py3 = String::from_utf8_lossy(&files["k8s-rollout-py3-vault.patch"]).into_owned();
    assert!(py3.contains("secretKeyRef"), "references are kept");
    assert!(py3.contains("vault-db") && py3.contains("vault-env"));
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        for secret in [
            "s3cr3t-hunter2-plain",
            "czNjcjN0LXRva2VuLWJhc2U2NA==",
            "s3cr3t-token-base64",
        ] {
            assert!(!text.contains(secret), "{name} contains a secret value");
        }
    }
    let detect = canaryc(
        &dir,
        &["detect", "--format", "json", codebase.to_str().unwrap()],
    );
    assert!(!stdout(&detect).contains("s3cr3t"));
}

#[test]
fn the_summary_says_what_was_built() {
    let dir = scratch("summary");
    std::fs::write(dir.join("canary.plan"), GOOD).unwrap();
    let out = canaryc(&dir, &["build"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("ledger: Python 2.7 -> 3.13 on bare-metal (haproxy)"),
        "{text}"
    );
    assert!(text.contains("total: 27 days (648 hours)"), "{text}");
    assert!(text.contains("canary-rollback.sh"), "{text}");
}

#[test]
fn the_plan_json_schema_in_docs_is_current() {
    let generated = canaryc::emit::plan_json::schema();
    let path = repo().join("docs/canary-plan.schema.json");
    if bless() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/canary-plan.schema.json is stale; run with CANARYC_BLESS=1"
    );
}
