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

/// Every failure is said once, on stderr, as `error: ...`, with the exit code of its kind
/// (cli::Error): unusable input and refused outputs 2, failed writes and problems found 1.
#[test]
fn each_error_is_reported_once_with_its_exit_code() {
    let dir = scratch(
        "errors",
        &[
            ("clean.plan", CLEAN),
            ("broken.plan", BROKEN),
            ("a-file", "x"),
        ],
    );
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["check", "missing.plan", "clean.plan"],
            2,
            "error: cannot read missing.plan: No such file or directory (os error 2)\n\
             check failed: 2 files (1 could not be read), 0 errors, 0 warnings\n",
        ),
        (
            &["explain", "CNR9999"],
            2,
            "error: no diagnostic code `CNR9999`; `canaryc explain --list` shows every code\n",
        ),
        (
            &["detect", "no-such-dir"],
            2,
            "error: no-such-dir is not a directory; give the path of the service's code\n",
        ),
        (
            &["fmt", "missing.plan"],
            2,
            "error: cannot read missing.plan: No such file or directory (os error 2)\n",
        ),
        (&["build", "clean.plan", "--output", "a-file"], 2, "error: "),
    ];
    for (args, code, expected) in cases {
        let out = canaryc(&dir, args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with(expected), "{args:?}: {err}");
        assert_eq!(
            err.matches("error: ").count(),
            1,
            "{args:?}: said once: {err}"
        );
    }
    // Problems found: the diagnostics, then the closing line, not an `error:`.
    let out = canaryc(&dir, &["build", "broken.plan", "--output", "out"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).ends_with("build failed: 1 errors, 0 warnings; nothing written\n"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("out").exists());
}

/// Flag values are read by clap's value parsers: clap names the flag and the value, ours says
/// why, and nothing runs (exit 2).
#[test]
fn bad_flag_values_are_usage_errors_that_name_the_flag() {
    let dir = scratch("flags", &[]);
    let codebase = repo().join("tests/fixtures/compose");
    let codebase = codebase.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "plan",
                codebase,
                "--output",
                "out",
                "--target-version",
                "2.7",
            ],
            "error: invalid value '2.7' for '--target-version <VERSION>': not a Python 3 \
             release: use 3.9, 3.11, 3.12, 3.13 or a later 3.x\n",
        ),
        (
            &[
                "plan",
                codebase,
                "--output",
                "out",
                "--target-version",
                "3.5",
            ],
            "error: invalid value '3.5' for '--target-version <VERSION>': older than any \
             Python canaryc plans for: use 3.6 or later\n",
        ),
        (
            &[
                "plan",
                codebase,
                "--output",
                "out",
                "--rollback-threshold",
                "0",
            ],
            "error: invalid value '0' for '--rollback-threshold <PERCENT>': outside (0, 100]: \
             it is the error-rate percentage that rolls py3 back\n",
        ),
        (
            &["promote", "--every", "0s"],
            "error: invalid value '0s' for '--every <DURATION>': the interval must be above zero\n",
        ),
    ];
    for (args, expected) in cases {
        let out = canaryc(&dir, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with(expected),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!dir.join("out").exists(), "{args:?} wrote something");
    }
}
