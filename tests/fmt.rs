//! `canaryc fmt`: every example, stdlib file and valid case is already formatted; formatting is
//! idempotent and keeps the syntax tree (spans aside); the command's modes and exit codes.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use canaryc::source::FileId;

use crate::common::{canaryc, repo, stderr, stdout};

fn plan_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for pattern_dir in ["stdlib", "tests/cases/check/valid"] {
        for e in std::fs::read_dir(repo().join(pattern_dir)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    for dir in ["examples", "tests/cases/build"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let plan = e.unwrap().path().join("canary.plan");
            if plan.is_file() {
                files.push(plan);
            }
        }
    }
    files.retain(|f| f.extension().is_some_and(|e| e == "plan"));
    files.sort();
    files
}

#[test]
fn committed_plans_are_formatted() {
    let files = plan_files();
    assert!(files.len() > 15);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let formatted = canaryc::fmt::format(&text).unwrap();
        assert!(
            formatted == text,
            "{} is not formatted; run canaryc fmt on it",
            file.display()
        );
    }
}

fn same_tree(a: &str, b: &str) -> bool {
    let (x, _) = canaryc::syntax::parse(FileId(0), a);
    let (y, _) = canaryc::syntax::parse(FileId(0), b);
    x == y
}

fn assert_stable(text: &str) {
    let Ok(once) = canaryc::fmt::format(text) else {
        return;
    };
    let twice = canaryc::fmt::format(&once).expect("formatted output parses");
    assert_eq!(once, twice, "not idempotent for:\n{text}");
    assert!(
        same_tree(text, &once),
        "the tree changed for:\n{text}\n---\n{once}"
    );
    // Comments survive.
    assert_eq!(
        text.matches('#').count() - strings_hashes(text),
        once.matches('#').count() - strings_hashes(&once)
    );
}

/// `#` inside string literals, which are not comments.
fn strings_hashes(text: &str) -> usize {
    let mut n = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"' | '\n') => in_string = false,
            (true, false, '#') => n += 1,
            (false, _, '"') => in_string = true,
            (false, _, '#') => in_comment = true,
            _ => {}
        }
    }
    n
}

#[test]
fn formatting_every_committed_plan_and_case_is_stable() {
    for file in plan_files() {
        assert_stable(&std::fs::read_to_string(file).unwrap());
    }
    for e in std::fs::read_dir(repo().join("tests/cases/check/invalid")).unwrap() {
        assert_stable(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
}

#[test]
fn formatting_is_idempotent_and_keeps_the_tree_on_generated_input() {
    let seeds: Vec<String> = plan_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    // Re-space real plans: collapse or add whitespace and newlines at random token boundaries.
    let strategy = (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4), 1..20),
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(seed, edits)| {
            let mut text: Vec<char> = seed.chars().collect();
            for (index, kind) in edits {
                if text.is_empty() {
                    break;
                }
                let i = index.index(text.len());
                match kind {
                    0 if text[i] == ' ' => {
                        text[i] = '\n';
                    }
                    1 if text[i] == '\n' => {
                        text[i] = ' ';
                    }
                    2 => text.insert(i, ' '),
                    _ => text.insert(i, '\n'),
                }
            }
            let text: String = text.into_iter().collect();
            assert_stable(&text);
            Ok(())
        })
        .unwrap();
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-fmt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_lists_files_and_exits_1() {
    let dir = scratch("check");
    std::fs::write(dir.join("ugly.plan"), "plan x{python=2.7 -> 3.13}\n").unwrap();
    std::fs::write(
        dir.join("fine.plan"),
        "plan x {\n  python = 2.7 -> 3.13\n}\n",
    )
    .unwrap();
    let out = canaryc(&dir, &["fmt", "--check", "ugly.plan", "fine.plan"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "ugly.plan\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("ugly.plan")).unwrap(),
        "plan x{python=2.7 -> 3.13}\n",
        "--check writes nothing"
    );
    let write = canaryc(&dir, &["fmt", "ugly.plan"]);
    assert_eq!(write.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(dir.join("ugly.plan")).unwrap(),
        "plan x {\n  python = 2.7 -> 3.13\n}\n"
    );
    assert_eq!(
        canaryc(&dir, &["fmt", "--check", "ugly.plan"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn stdin_to_stdout_and_broken_files_are_left_alone() {
    let dir = scratch("stdin");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_canaryc"))
        .args(["fmt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"plan x{python=2.7->3.13}")
                .unwrap();
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "plan x {\n  python = 2.7 -> 3.13\n}\n"
    );
    std::fs::write(dir.join("broken.plan"), "plan x {\n").unwrap();
    let broken = canaryc(&dir, &["fmt", "broken.plan"]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(stderr(&broken).contains("CNR001"));
    assert_eq!(
        std::fs::read_to_string(dir.join("broken.plan")).unwrap(),
        "plan x {\n"
    );
}

/// Inputs the fuzzer found.
#[test]
fn regressions_from_fuzzing() {
    // A version with two dots is not a decimal: its value must not be NaN (NaN != NaN).
    assert_stable("plan x {\n  python = 2.7 -> 3.1.1\n}\n");
    // A comment inside an entry is printed after it, so it must break the `=` alignment run.
    assert_stable("schedule s {\n  stage #a {\n    traffic = 25%\n    hold = 16h\n  }\n}\n");
    assert_stable("const # c\n a = 1\nconst bb = 2\n");
}
