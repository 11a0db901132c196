//! Tidy: the rules ARCHITECTURE.md states about the code, checked against the code, in the
//! style of rust-analyzer's `xtask/src/tidy.rs`. Each rule reads the sources as text; a failure
//! names the file and says which way to fix it (the code or the document).
//!
//! 1. Every module under `src/` is in ARCHITECTURE.md's code map, and the code map names no
//!    module that does not exist.
//! 2. Only the files allowed to touch the disk do (`std::fs`, `File::open`, ...).
//! 3. Emitters see only the IR: no `crate::model` in `src/emit/` (with an allowlist of today's
//!    violators that must stay exact, so it can only shrink).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, as a path relative to `src/` with `/`, sorted.
fn source_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let src = root().join("src");
    let mut out = Vec::new();
    walk(&src, &src, &mut out);
    out
}

fn read(rel_to_src: &str) -> String {
    std::fs::read_to_string(root().join("src").join(rel_to_src)).unwrap()
}

/// The code, without comment lines (a doc comment may name what the code must not do).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

// ---------------------------------------------------------------------------------------------
// 1. The code map

/// One `### ` section of the code map: the backticked names in its heading and in its body.
struct Section {
    heading: String,
    heading_names: Vec<String>,
    names: Vec<String>,
}

/// `a/{b,c}.rs` -> `a/b.rs`, `a/c.rs` (one brace group, as the document writes them).
fn expand(name: &str) -> Vec<String> {
    match (name.find('{'), name.find('}')) {
        (Some(open), Some(close)) if open < close => name[open + 1..close]
            .split(',')
            .map(|part| format!("{}{part}{}", &name[..open], &name[close + 1..]))
            .collect(),
        _ => vec![name.to_string()],
    }
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(expand)
        .collect()
}

/// The code map: from `## Code map` to the next `## ` heading, cut at each `### `.
fn code_map() -> Vec<Section> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("\n## Code map\n")
        .expect("ARCHITECTURE.md has a `## Code map` section");
    let rest = &doc[start + "\n## Code map\n".len()..];
    let map = rest.find("\n## ").map_or(rest, |end| &rest[..end]);
    map.split("\n### ")
        .skip(1)
        .map(|section| {
            let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
            Section {
                heading: heading.to_string(),
                heading_names: backticked(heading),
                names: backticked(body),
            }
        })
        .collect()
}

/// The `src/` path a section is about (`src/check/` -> `check`, `src/ir.rs` -> `ir`), for each
/// `src/` name in its heading.
fn section_roots(section: &Section) -> Vec<String> {
    section
        .heading_names
        .iter()
        .filter_map(|n| n.strip_prefix("src/"))
        .map(|n| n.trim_end_matches('/').trim_end_matches(".rs").to_string())
        .collect()
}

/// Whether `file` (relative to `src/`) is described by `section`: named with its path, or, in
/// the section of its directory, by its path from there (`engine/argo.rs`), or by its file name
/// with each directory between named too (`engine/` ... `argo.rs`).
fn describes(section: &Section, file: &str) -> bool {
    let all: Vec<&String> = section.heading_names.iter().chain(&section.names).collect();
    if all
        .iter()
        .any(|n| n.as_str() == format!("src/{file}") || n.as_str() == file)
    {
        return true;
    }
    section_roots(section).iter().any(|root| {
        let Some(inner) = file
            .strip_prefix(root.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        if all.iter().any(|n| n.as_str() == inner) {
            return true;
        }
        let mut parts: Vec<&str> = inner.split('/').collect();
        let Some(name) = parts.pop() else {
            return false;
        };
        all.iter().any(|n| n.as_str() == name)
            && parts.iter().all(|dir| {
                all.iter()
                    .any(|n| n.starts_with(&format!("{dir}/")) || n.as_str() == *dir)
            })
    })
}

#[test]
fn every_module_is_in_the_code_map() {
    let map = code_map();
    let missing: Vec<String> = source_files()
        .into_iter()
        .filter(|file| !map.iter().any(|s| describes(s, file)))
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not describe these modules (add a line to the \
         section of their directory, naming the file):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_code_map_names_only_modules_that_exist() {
    let files = source_files();
    let root = root();
    let mut stale = Vec::new();
    for section in code_map() {
        let roots = section_roots(&section);
        if roots.is_empty() {
            continue; // `grammar/`, `tests/`: not modules.
        }
        for name in &section.heading_names {
            let exists = name
                .strip_prefix("src/")
                .is_none_or(|_| root.join(name.trim_end_matches('/')).exists());
            if !exists {
                stale.push(format!("### {}: {name}", section.heading));
            }
        }
        for name in &section.names {
            let is_path = name.ends_with(".rs")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
            if !is_path {
                continue;
            }
            let exists = root.join(name).is_file()
                || root.join("src").join(name).is_file()
                || roots.iter().any(|r| {
                    let prefix = format!("{r}/");
                    files.iter().any(|f| {
                        f.strip_prefix(&prefix).is_some_and(|inner| {
                            inner == name || inner.ends_with(&format!("/{name}"))
                        })
                    })
                });
            if !exists {
                stale.push(format!("### {}: {name}", section.heading));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md's code map names modules that do not exist (renamed or removed: \
         update the document):\n  {}",
        stale.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. The disk

/// The files that may touch the file system, each with the reason (ARCHITECTURE.md,
/// "Invariants"). A directory (ending in `/`) allows everything under it.
const DISK_ALLOWED: &[(&str, &str)] = &[
    (
        "cli/",
        "the command line reads plans and codebase files, writes outputs (cli/output/ is the \
         one writer) and the promote state",
    ),
    (
        "lsp/mod.rs",
        "the language server reads codebase files for diagnostics' excerpts and writes the \
         stdlib files go-to-definition opens",
    ),
    (
        "lsp/detection.rs",
        "the language server's detection thread; its tests build codebases on disk",
    ),
    (
        "detect/walk.rs",
        "the one reader of the codebase being detected (never writes)",
    ),
];

/// What touching the disk looks like in code.
const DISK_APIS: &[&str] = &[
    "std::fs",
    "fs::",
    "File::open",
    "File::create",
    "OpenOptions",
    "tempfile::",
];

fn disk_allowed(file: &str) -> bool {
    DISK_ALLOWED.iter().any(|(allowed, _)| {
        if allowed.ends_with('/') {
            file.starts_with(allowed)
        } else {
            file == *allowed
        }
    })
}

/// `fs::` as a path segment (so `rustix::fs::` and `unix::fs::` count, `refs::` does not).
fn uses_disk(line: &str) -> Option<&'static str> {
    DISK_APIS.iter().copied().find(|api| {
        line.match_indices(api).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            api.starts_with("std") || !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    })
}

#[test]
fn only_the_front_ends_and_the_walker_touch_the_disk() {
    let mut found = Vec::new();
    for file in source_files() {
        if disk_allowed(&file) {
            continue;
        }
        let text = read(&file);
        for (line, code) in code_lines(&text) {
            if let Some(api) = uses_disk(code) {
                found.push(format!("src/{file}:{line}: `{api}`: {}", code.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "only the front ends (cli/, the language server's I/O) and detect/walk.rs touch the \
         file system (ARCHITECTURE.md, Invariants); take the data as an argument or a callback \
         instead:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_disk_allowlist_names_files_that_exist_and_the_rule_can_fail() {
    for (allowed, reason) in DISK_ALLOWED {
        assert!(!reason.is_empty());
        assert!(
            root().join("src").join(allowed).exists(),
            "src/{allowed} is allowed to touch the disk but does not exist: update DISK_ALLOWED"
        );
    }
    assert_eq!(
        uses_disk("let t = std::fs::read_to_string(p)?;"),
        Some("std::fs")
    );
    assert_eq!(uses_disk("use rustix::fs::OFlags;"), Some("fs::"));
    assert_eq!(uses_disk("File::open(path)"), Some("File::open"));
    assert_eq!(uses_disk("let refs::x = prefs::y;"), None);
    assert!(disk_allowed("cli/output/txn.rs"));
    assert!(!disk_allowed("emit/mod.rs"));
    assert!(!disk_allowed("lsp/analysis.rs"));
}

// ---------------------------------------------------------------------------------------------
// 3. Emitters see only the IR

/// The emitters allowed to import the checked plan (`crate::model`): none, since lowering makes
/// every decision (issue 14, items 1-2). The test requires this list to be exactly the files that
/// import it, so an entry added for a new violation must also be removed when it is fixed.
const EMIT_MODEL_ALLOWLIST: &[&str] = &[];

/// `crate::model` in a path or in a grouped import (`use crate::{ir, model};`).
fn imports_model(text: &str) -> bool {
    code_lines(text).any(|(_, line)| line.contains("crate::model"))
        || text.match_indices("crate::{").any(|(at, _)| {
            let group = &text[at..];
            let group = &group[..group.find('}').unwrap_or(group.len())];
            group
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == "model")
        })
}

#[test]
fn emitters_see_only_the_ir() {
    let importing: BTreeSet<String> = source_files()
        .into_iter()
        .filter(|f| f.starts_with("emit/"))
        .filter(|f| imports_model(&read(f)))
        .collect();
    let allowed: BTreeSet<String> = EMIT_MODEL_ALLOWLIST.iter().map(|s| s.to_string()).collect();
    let new: Vec<&String> = importing.difference(&allowed).collect();
    let fixed: Vec<&String> = allowed.difference(&importing).collect();
    assert!(
        new.is_empty(),
        "these emitters import crate::model: backends see only the IR (ARCHITECTURE.md); \
         let lowering decide and give the emitter an IR type instead: {new:?}"
    );
    assert!(
        fixed.is_empty(),
        "these emitters no longer import crate::model: take them off EMIT_MODEL_ALLOWLIST in \
         tests/tidy.rs: {fixed:?}"
    );
}

#[test]
fn the_model_rule_sees_grouped_imports_and_ignores_comments() {
    assert!(imports_model("use crate::model::Router;\n"));
    assert!(imports_model("use crate::{ir::Ir, model};\n"));
    assert!(!imports_model("use crate::{ir::Ir, models_x};\n"));
    assert!(!imports_model(
        "//! never crate::model here\nuse crate::ir::Ir;\n"
    ));
}
