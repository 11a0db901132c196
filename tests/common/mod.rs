//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canaryc::check::{Analysis, Options, check};
use canaryc::date::Date;
use canaryc::source::SourceMap;

/// The date every test pretends is today, so end-of-life warnings do not drift.
pub(crate) const TODAY: &str = "2026-11-27";

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real binary, with the date pinned and colour off, run in `dir`.
pub(crate) fn canaryc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canaryc"))
        .args(args)
        .current_dir(dir)
        .env("CANARYC_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("the canaryc binary runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `canaryc plan` of a codebase of `files` (written under `app/`) into `out/` of the directory
/// returned; it must exit 0.
pub(crate) fn planned(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join("app").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = canaryc(
        dir.path(),
        &["plan", "app", "--output", "out", "--color", "never"],
    );
    assert_success(&out);
    dir
}

/// A file of the bundle [`planned`] wrote.
pub(crate) fn read(dir: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(dir.path().join("out").join(name)).unwrap()
}

/// Fails with the command's output unless it exited 0.
#[track_caller]
pub(crate) fn assert_success(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(out), stderr(out));
}

/// Checks `text` as a file named `name`, in-process.
pub(crate) fn check_text(name: &str, text: &str) -> (Analysis, SourceMap) {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text);
    let options = Options {
        today: Date::parse(TODAY).expect("valid date"),
    };
    let analysis = check(&mut sources, root, &options);
    (analysis, sources)
}

/// The fenced code blocks of a Markdown text tagged with `lang`.
pub(crate) fn code_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed
                .strip_prefix("```")
                .is_some_and(|l| l.trim() == lang) =>
            {
                current = Some(String::new());
            }
            Some(block) if trimmed.starts_with("```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Copies a directory tree (files and directories; nothing else is expected in fixtures).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every committed bundle, sorted: each example's `canary-deployment` and each build case's
/// `expected` (a directory with a `canary-plan.json`).
pub(crate) fn committed_bundles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, output) in [
        ("examples", "canary-deployment"),
        ("tests/cases/build", "expected"),
    ] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let bundle = entry.unwrap().path().join(output);
            if bundle.join("canary-plan.json").is_file() {
                out.push(bundle);
            }
        }
    }
    out.sort();
    out
}
