//! Reading a plan file and, when it names a codebase, detecting facts there and merging them
//! in: the front half every command that takes a plan shares.

use std::path::{Path, PathBuf};

use super::Env;
use crate::check::{Options, check};
use crate::detect::Detection;
use crate::detect::merge::Merger;
use crate::detect::walk::Limits;
use crate::diag::{Code, Diagnostic};
use crate::model::Plan;
use crate::source::{SourceMap, Span};

#[allow(
    dead_code,
    reason = "the plan and detection feed `build`, which lands next"
)]
pub(crate) struct Loaded {
    /// The plan with detected facts merged in, when it checked without errors.
    pub plan: Option<Plan>,
    pub detection: Option<Detection>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and checks `path`; with `detect`, reads the plan's `codebase` (relative to the plan's
/// directory) and merges what it finds. Err is a usage error: the plan cannot be read.
pub(crate) fn load(
    path: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Result<Loaded, String> {
    let text = read_plan(path)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(load_text(
        &path.display().to_string(),
        text,
        base,
        env,
        sources,
        detect,
    ))
}

pub(crate) fn read_plan(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    String::from_utf8(bytes)
        .map_err(|_| format!("{} is not UTF-8 text; plans are UTF-8", path.display()))
}

/// As [`load`], for a plan that is not (yet) a file: `base` is where its `codebase` is relative to.
pub(crate) fn load_text(
    name: &str,
    text: String,
    base: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Loaded {
    let root = sources.add(name, text);
    let analysis = check(sources, root, &Options { today: env.today });
    let mut diagnostics = analysis.diagnostics;
    let undetected = |plan, diagnostics| Loaded {
        plan,
        detection: None,
        diagnostics,
    };
    let Some(plan) = analysis.plan else {
        return undetected(None, diagnostics);
    };
    let Some(codebase) = plan.codebase.clone().filter(|_| detect) else {
        return undetected(Some(plan), diagnostics);
    };
    let joined = base.join(&codebase.value);
    // Keep a relative path relative (diagnostics show it as the user wrote it), but resolve `..`
    // through directories that may not exist yet.
    let dir: PathBuf = if joined
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        super::normalize(&joined)
    } else {
        joined
    };
    if !dir.is_dir() {
        diagnostics.push(codebase_missing(codebase.span, &dir));
        return undetected(Some(plan), diagnostics);
    }
    let detection = match crate::detect::detect(&dir, &Limits::default()) {
        Ok(d) => d,
        Err(err) => {
            diagnostics.push(codebase_missing(codebase.span, &dir).note(err.to_string()));
            return undetected(Some(plan), diagnostics);
        }
    };
    let loader = |rel: &str| std::fs::read_to_string(dir.join(rel)).ok();
    let prefix = dir.display().to_string();
    let mut merger = Merger::new(sources, &loader, prefix.trim_start_matches("./"));
    let merged = merger.merge(&plan, &detection);
    diagnostics.append(&mut merger.diagnostics);
    crate::diag::sort(&mut diagnostics);
    Loaded {
        plan: Some(merged),
        detection: Some(detection),
        diagnostics,
    }
}

fn codebase_missing(span: Span, dir: &Path) -> Diagnostic {
    Diagnostic::new(
        Code::CodebaseMissing,
        span,
        format!("codebase {} is not a directory", dir.display()),
    )
    .label("nothing to detect here")
    .help(
        "`codebase` is relative to the plan file; without it canaryc uses only what the plan says",
    )
}
