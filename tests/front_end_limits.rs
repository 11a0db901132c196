//! Pathological plans through the binary: they finish, with diagnostics, without a panic.
//! Before: 44 unclosed `[` never finished (exponential backtracking), a label past column
//! 65,535 panicked in `check` and `build` (D6), a 65,536-character key panicked in `fmt` (D7),
//! and human diagnostics took quadratic time.

use std::path::PathBuf;

use crate::common::{canaryc, stderr, stdout};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-limits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn no_panic(output: &std::process::Output) {
    assert!(
        output.status.code().is_some_and(|c| c != 101) && !stderr(output).contains("panicked"),
        "{:?}\n{}",
        output.status,
        stderr(output)
    );
}

#[test]
fn unbalanced_brackets_are_a_syntax_error_not_a_hang() {
    let dir = dir("brackets");
    let shapes = [
        format!(
            "plan x {{\n  python = 2.7 -> 3.13\n  a = {}\n}}\n",
            "[".repeat(44)
        ),
        format!("plan x {{\n  a = {}\n}}\n", "f(".repeat(40)),
        format!("const a = {}{}\n", "[".repeat(60), ")".repeat(60)).repeat(300),
        format!("plan x {{\n  a = {}\n}}\n", "[".repeat(100_000)),
    ];
    for (n, text) in shapes.iter().enumerate() {
        let plan = dir.join(format!("p{n}.plan"));
        std::fs::write(&plan, text).unwrap();
        let output = canaryc(
            &dir,
            &["check", "--format", "short", plan.to_str().unwrap()],
        );
        no_panic(&output);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stdout(&output).contains("error[CNR001]"),
            "{}",
            stdout(&output)
        );
    }
}

/// D6: miette panicked rendering a label past column 65,535.
#[test]
fn a_diagnostic_past_column_65535_is_rendered() {
    let dir = dir("d6");
    let plan = dir.join("canary.plan");
    let text = format!(
        "plan x {{\n  python = 2.7 -> 3.13\n  description = \"{}\" bogus = 1\n}}\n",
        "a".repeat(70_000)
    );
    std::fs::write(&plan, text).unwrap();
    for args in [
        &["check", "canary.plan"][..],
        &["build", "canary.plan", "--output", "out"],
    ] {
        let output = canaryc(&dir, args);
        no_panic(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(err.contains("[canary.plan:3:70020]"), "{args:?}: {err}");
        let line = err
            .lines()
            .find(|l| l.contains("bogus = 1"))
            .unwrap_or_default();
        assert!(
            line.starts_with(" 3 │ …aaa") && line.ends_with("aaa\" bogus = 1"),
            "{args:?}: {err}"
        );
        assert!(
            err.lines().all(|l| l.chars().count() < 400),
            "{args:?}: {err}"
        );
    }
}

/// D7: `format!("{key:<width$}")` panics for a width above 65,535.
#[test]
fn fmt_aligns_a_65536_character_key() {
    let dir = dir("d7");
    let key = "k".repeat(65_536);
    std::fs::write(
        dir.join("canary.plan"),
        format!("plan x {{\n  {key} = 1\n  b = 2\n}}\n"),
    )
    .unwrap();
    let output = canaryc(&dir, &["fmt", "canary.plan"]);
    no_panic(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let formatted = std::fs::read_to_string(dir.join("canary.plan")).unwrap();
    assert!(
        formatted.contains(&format!("  b{} = 2\n", " ".repeat(65_535))),
        "not aligned"
    );
}

/// Many diagnostics in the human format: every one is rendered (the time is in
/// benches/scaling.rs; this was quadratic).
#[test]
fn thousands_of_human_diagnostics_are_all_rendered() {
    let dir = dir("many");
    let fields: String = (0..5_000).map(|i| format!("  bogus{i} = 1\n")).collect();
    std::fs::write(
        dir.join("canary.plan"),
        format!("plan x {{\n  python = 2.7 -> 3.13\n{fields}}}\n"),
    )
    .unwrap();
    let output = canaryc(&dir, &["check", "canary.plan"]);
    no_panic(&output);
    let err = stderr(&output);
    assert_eq!(err.matches("unknown field `bogus").count(), 5_000);
    assert!(
        err.contains("[canary.plan:5002:3]"),
        "the last one, at its line"
    );
}
