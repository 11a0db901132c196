//! `canaryc build`: compile a plan (and its codebase) into the deployment files.
//!
//! The files are written through `output.rs`: all or nothing, crash-safe, and never deleting what
//! canaryc did not write. `--check` writes nothing: it compares with what is on disk, prints
//! unified diffs and exits 1 on drift (CI keeps committed outputs in sync this way).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::output::{self, MARKER, WriteError};
use super::{Env, exit, print_stderr, print_stdout};
use crate::diag::{Diagnostic, render};
use crate::emit::OutputFile;
use crate::ir::{Ir, day_at, fmt};
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plan to build.
    #[arg(default_value = "canary.plan")]
    plan: PathBuf,

    /// Where to write the files [default: canary-deployment next to the plan].
    #[arg(long, short)]
    output: Option<PathBuf>,

    /// Write nothing; show how the files on disk differ from a fresh build, exit 1 if they do.
    #[arg(long)]
    check: bool,

    /// Replace an output directory that holds files canaryc did not write.
    #[arg(long)]
    force: bool,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

pub(crate) fn run(args: &Args, env: &Env) -> u8 {
    let output = args.output.clone().unwrap_or_else(|| {
        args.plan
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join("canary-deployment")
    });
    if !args.check {
        // Finish or undo an interrupted earlier build first, so that even a build that fails
        // below leaves the directory whole; and refuse an output that cannot be written before
        // doing any work.
        if let Err(e) = output::recover(&output) {
            return write_failed(e);
        }
    }
    let mut sources = SourceMap::new();
    let built = match compile(&args.plan, &output, env, &mut sources) {
        Ok(built) => built,
        Err(message) => {
            print_stderr(&format!("error: {message}\n"));
            return exit::USAGE;
        }
    };
    let errors = built.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = built.diagnostics.len() - errors;
    if !built.diagnostics.is_empty() {
        print_stderr(&render::human(&built.diagnostics, &sources, env.style, 100));
    }
    let codebase = built.codebase.clone();
    let Some((ir, files)) = built.output else {
        print_stderr(&format!(
            "build failed: {errors} errors, {warnings} warnings; nothing written\n"
        ));
        return exit::PROBLEMS;
    };
    if args.deny_warnings && warnings > 0 {
        print_stderr(&format!(
            "build failed: {warnings} warnings with --deny-warnings; nothing written\n"
        ));
        return exit::PROBLEMS;
    }
    if args.check {
        return check_drift(&output, &files);
    }
    let request = output::Request {
        output: &output,
        files: &files,
        force: args.force,
        codebase: codebase.as_deref(),
        plan_dir: Some(plan_dir(&args.plan)),
    };
    match output::write(&request) {
        Ok(()) => {
            print_stdout(&summary(&ir, &files, &output, warnings));
            exit::OK
        }
        Err(e) => write_failed(e),
    }
}

fn write_failed(error: WriteError) -> u8 {
    match error {
        WriteError::Usage(message) => {
            print_stderr(&format!("error: {message}\n"));
            exit::USAGE
        }
        // The message says what became of the previous outputs.
        WriteError::Io(message) => {
            print_stderr(&format!("error: {message}\n"));
            exit::PROBLEMS
        }
    }
}

fn plan_dir(plan: &Path) -> &Path {
    plan.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

pub(crate) struct Built {
    pub output: Option<(Ir, Vec<OutputFile>)>,
    pub diagnostics: Vec<Diagnostic>,
    /// The directory the plan's `codebase` names, if it names one: never wiped by a write.
    pub codebase: Option<PathBuf>,
}

/// Check, detect, merge, lower, emit. `Err` is a usage error (the plan cannot be read).
pub(crate) fn compile(
    plan: &Path,
    output: &Path,
    env: &Env,
    sources: &mut SourceMap,
) -> Result<Built, String> {
    let loaded = super::load::load(plan, env, sources, true)?;
    let mut built = lower_and_emit(loaded, plan_dir(plan), output);
    // A plan kept inside its own output directory is part of it: keep it across rebuilds.
    if let (Some((_, files)), Some(name)) = (built.output.as_mut(), plan_inside(plan, output)) {
        if !files.iter().any(|f| f.name == name) {
            // Byte for byte (a byte-order mark included): it is the user's file, not a rendering.
            let contents = super::load::read_plan_exact(plan)?;
            files.push(OutputFile {
                name,
                contents,
                purpose: "the plan these files were built from".into(),
            });
            files.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    Ok(built)
}

/// The plan's file name, if it lives directly in `output`.
fn plan_inside(plan: &Path, output: &Path) -> Option<String> {
    let same = match (plan_dir(plan).canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    same.then(|| plan.file_name().map(|n| n.to_string_lossy().into_owned()))
        .flatten()
}

/// Lowers a loaded plan (codebase relative to `base`) and emits its files for `output`.
pub(crate) fn lower_and_emit(loaded: super::load::Loaded, base: &Path, output: &Path) -> Built {
    let mut diagnostics = loaded.diagnostics;
    let codebase = loaded
        .plan
        .as_ref()
        .and_then(|p| p.codebase.as_ref())
        .map(|c| super::load::codebase_dir(base, &c.value));
    let Some(merged) = loaded
        .plan
        .filter(|_| !diagnostics.iter().any(Diagnostic::is_error))
    else {
        return Built {
            output: None,
            diagnostics,
            codebase,
        };
    };
    let build_context = merged
        .codebase
        .as_ref()
        .map(|c| relative_to(&base.join(&c.value), output));
    let (ir, mut lowering) =
        crate::ir::lower(&merged, loaded.detection.as_ref(), build_context.as_deref());
    diagnostics.append(&mut lowering);
    crate::diag::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Built {
            output: None,
            diagnostics,
            codebase,
        };
    }
    let files = crate::emit::emit(&ir);
    Built {
        output: Some((ir, files)),
        diagnostics,
        codebase,
    }
}

/// `target` as seen from `from` (both relative to the current directory), with `/`.
pub(crate) fn relative_to(target: &Path, from: &Path) -> String {
    let (t, f) = (super::normalize(target), super::normalize(from));
    let common = t
        .components()
        .zip(f.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = f.components().count() - common;
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), ups).collect();
    parts.extend(
        t.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn check_drift(output: &Path, files: &[OutputFile]) -> u8 {
    let mut drift = String::new();
    let mut changed = 0;
    for f in files {
        let on_disk = output::read_existing(&output.join(&f.name)).unwrap_or_default();
        if on_disk != f.contents {
            changed += 1;
            let diff = similar::TextDiff::from_lines(&on_disk, &f.contents);
            let _ = write!(
                drift,
                "{}",
                diff.unified_diff()
                    .context_radius(3)
                    .header(&format!("a/{}", f.name), &format!("b/{}", f.name))
            );
        }
    }
    if let Ok(entries) = std::fs::read_dir(output) {
        let mut extra: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != MARKER && !files.iter().any(|f| &f.name == n))
            .collect();
        extra.sort();
        for name in extra {
            changed += 1;
            let _ = writeln!(drift, "only on disk: {name}");
        }
    }
    if changed == 0 {
        print_stdout(&format!(
            "{}: up to date ({} files)\n",
            output.display(),
            files.len()
        ));
        exit::OK
    } else {
        print_stdout(&drift);
        print_stderr(&format!(
            "{}: {changed} files differ from a fresh build; run canaryc build\n",
            output.display()
        ));
        exit::PROBLEMS
    }
}

/// What a person reads after a build: where it runs, what was written, the ramp-up and timeline.
pub(crate) fn summary(ir: &Ir, files: &[OutputFile], output: &Path, warnings: usize) -> String {
    let mut o = String::new();
    let targets: Vec<String> = ir
        .targets
        .iter()
        .map(|t| format!("{} ({})", t.infra.as_str(), t.router.as_str()))
        .collect();
    let _ = writeln!(
        o,
        "{}: Python {} -> {} on {}",
        ir.name,
        ir.python_from,
        ir.python_to,
        targets.join(", ")
    );
    for line in &ir.detected.infra {
        let _ = writeln!(o, "  detected {line}");
    }
    let blockers = ir.hazards.iter().filter(|h| h.blocker).count();
    if !ir.hazards.is_empty() {
        let _ = writeln!(
            o,
            "\nHazards ({blockers} blockers; mitigations in canary-plan.md):"
        );
        for h in &ir.hazards {
            let _ = writeln!(
                o,
                "  {:<8} {} ({})",
                if h.blocker { "blocker" } else { "warning" },
                h.id,
                h.evidence.join(", ")
            );
        }
    }
    let _ = writeln!(o, "\nRamp-up:");
    let _ = writeln!(o, "  {:<16} {:>8} {:>7}  starts", "stage", "py3", "hold");
    for st in &ir.stages {
        let _ = writeln!(
            o,
            "  {:<16} {:>7}% {:>6}h  {}",
            st.name,
            fmt(st.traffic),
            fmt(st.hold_hours),
            day_at(ir.start, st.starts_at_hours)
        );
    }
    let days = ir.total_hours as f64 / 24.0;
    let _ = writeln!(
        o,
        "  total: {} days ({} hours){}",
        fmt((days * 10.0).round() / 10.0),
        ir.total_hours,
        match ir.start {
            Some(_) => format!(", py2 retired {}", day_at(ir.start, ir.total_hours as f64)),
            None => String::new(),
        }
    );
    let _ = writeln!(o, "\nWrote {} files to {}:", files.len(), output.display());
    for f in files {
        let _ = writeln!(o, "  {:<30} {}", f.name, f.purpose);
    }
    if warnings > 0 {
        let _ = writeln!(o, "\n{warnings} warnings (above).");
    }
    o
}
