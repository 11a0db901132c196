//! Command-line behaviour: exit codes, formats, colour, defaults, bad input.

use crate::common::{canaryc, repo, stderr, stdout};

fn scratch(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

const CLEAN: &str = "plan ledger {\n  python = 2.7 -> 3.13\n}\n";
const WARNS: &str = "plan ledger {\n  python = 2.7 -> 3.11\n}\n";
const BROKEN: &str = "plan ledger {\n  python = 2.7 -> 3.13\n  schedule { stage a { traffic = 5% hold = 24h } }\n}\n";

#[test]
fn check_defaults_to_canary_plan_in_the_current_directory() {
    let dir = scratch("default", &[("canary.plan", CLEAN)]);
    let out = canaryc(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "check ok: 1 file, 0 errors, 0 warnings\n");
}

#[test]
fn exit_codes_follow_the_documented_contract() {
    let dir = scratch(
        "exit",
        &[
            ("clean.plan", CLEAN),
            ("warns.plan", WARNS),
            ("broken.plan", BROKEN),
        ],
    );
    assert_eq!(
        canaryc(&dir, &["check", "clean.plan"]).status.code(),
        Some(0)
    );
    assert_eq!(
        canaryc(&dir, &["check", "warns.plan"]).status.code(),
        Some(0)
    );
    assert_eq!(
        canaryc(&dir, &["check", "--deny-warnings", "warns.plan"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        canaryc(&dir, &["check", "broken.plan"]).status.code(),
        Some(1)
    );
    let missing = canaryc(&dir, &["check", "missing.plan"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read missing.plan"));
    assert_eq!(
        canaryc(&dir, &["check", "--format", "xml"]).status.code(),
        Some(2)
    );
    assert_eq!(canaryc(&dir, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(canaryc(&dir, &[]).status.code(), Some(2));
}

#[test]
fn non_utf8_plans_are_bad_content_not_a_panic() {
    // Issue 16: bad content (CNR003, exit 1), not a usage error; tests/output_safety.rs has more.
    let dir = scratch("utf8", &[]);
    std::fs::write(dir.join("bad.plan"), b"plan \xff\xfe {}").unwrap();
    let out = canaryc(&dir, &["check", "bad.plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CNR003"));
    assert!(stderr(&out).contains("bad.plan is not UTF-8: byte 0xFF at line 1, column 6"));
}

#[test]
fn several_files_are_checked_together() {
    let dir = scratch("many", &[("a.plan", CLEAN), ("b.plan", BROKEN)]);
    let out = canaryc(&dir, &["check", "--format", "short", "a.plan", "b.plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "b.plan:3:34: error[CNR302]: the last stage, `a`, sends py3 only 5%\n"
    );
}

#[test]
fn json_output_is_versioned_with_positions() {
    let dir = scratch("json", &[("broken.plan", BROKEN)]);
    let out = canaryc(&dir, &["check", "--format", "json", "broken.plan"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["error_count"], 1);
    assert_eq!(doc["warning_count"], 0);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "CNR302");
    assert_eq!(d["file"], "broken.plan");
    assert_eq!(d["start"]["line"], 3);
    assert_eq!(d["start"]["column"], 34);
    assert_eq!(d["start"]["byte"], 70);
    assert_eq!(d["end"]["byte"], 72);
    assert!(d["help"].as_str().unwrap().contains("100%"));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let dir = scratch("colour", &[("broken.plan", BROKEN)]);
    let plain = canaryc(&dir, &["check", "broken.plan"]);
    assert!(
        !stderr(&plain).contains('\u{1b}'),
        "no escape codes off a terminal"
    );
    let forced = canaryc(&dir, &["--color", "always", "check", "broken.plan"]);
    assert!(stderr(&forced).contains('\u{1b}'), "--color always colours");
}

#[test]
fn help_teaches_with_examples_and_exits_zero() {
    let out = canaryc(&repo(), &["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("Examples:"));
    assert!(text.contains("--deny-warnings"));
    assert!(text.contains("CANARYC_TODAY"));
    let version = canaryc(&repo(), &["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(stdout(&version).starts_with("canaryc "));
}
