//! `canaryc build`: compile a plan (and its codebase) into the deployment files.
//!
//! The files are written through `output.rs`: all or nothing, crash-safe, and never deleting what
//! canaryc did not write. `--check` writes nothing: it compares with what is on disk, prints
//! unified diffs and exits 1 on drift (CI keeps committed outputs in sync this way).

use std::fmt::Write as _;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::load::{Compiled, Disk, plan_dir};
use super::output::{self, MARKER};
use super::{Env, Error, print_stderr, print_stdout};
use crate::compile::{Built, Emit, Outputs};
use crate::diag::render;
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

pub(crate) fn run(args: &Args, env: &Env) -> Result<(), Error> {
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
        output::recover(&output)?;
    }
    // An output that does not exist yet is streamed: each file written as it is rendered,
    // never the whole bundle in memory (issue 15).
    let fresh = !args.check
        && std::fs::symlink_metadata(&output).is_err_and(|e| e.kind() == ErrorKind::NotFound);
    let mut sources = SourceMap::new();
    let compiled = compile(&args.plan, &output, env, &mut sources, fresh)?;
    let diagnostics = match &compiled {
        Ok(outputs) => &outputs.diagnostics,
        Err(failed) => &failed.diagnostics,
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if !diagnostics.is_empty() {
        print_stderr(&render::human(diagnostics, &sources, env.style, 100));
    }
    let Ok(Outputs {
        plan,
        built: Some(Built { ir, mut files }),
        ..
    }) = compiled
    else {
        return Err(Error::Problems(Some(format!(
            "build failed: {errors} errors, {warnings} warnings; nothing written"
        ))));
    };
    if args.deny_warnings && warnings > 0 {
        return Err(Error::Problems(Some(format!(
            "build failed: {warnings} warnings with --deny-warnings; nothing written"
        ))));
    }
    if fresh {
        if let Some(mut stream) = output::stream(&output)? {
            let listing = crate::emit::emit_each(&ir, &mut |f| stream.file(&f));
            stream.finish()?;
            print_stdout(&summary_of(&ir, &listing, &output, warnings));
            return Ok(());
        }
        // Created meanwhile: written as any existing output is, every file at hand.
        files = crate::emit::emit(&ir);
    }
    keep_plan(&args.plan, &output, &mut files)?;
    if args.check {
        return check_drift(&output, &files);
    }
    // The directory the plan's `codebase` names, if it names one: never wiped by a write.
    let codebase = plan
        .codebase
        .as_ref()
        .map(|c| super::load::codebase_dir(plan_dir(&args.plan), &c.value));
    let request = output::Request {
        output: &output,
        files: &files,
        force: args.force,
        codebase: codebase.as_deref(),
        plan_dir: Some(plan_dir(&args.plan)),
    };
    output::write(&request)?;
    print_stdout(&summary(&ir, &files, &output, warnings));
    Ok(())
}

/// Reads, checks, detects, merges, lowers and, unless `deferred`, emits (`crate::compile`).
/// `Err` is a usage error (the plan cannot be read).
fn compile(
    plan: &Path,
    output: &Path,
    env: &Env,
    sources: &mut SourceMap,
    deferred: bool,
) -> Result<Compiled, Error> {
    let mut codebase = Disk::new(plan_dir(plan), true).building(output);
    let emit = Emit {
        plan_file: relative_to(plan, output),
        deferred,
    };
    super::load::compile(plan, env, sources, &mut codebase, Some(emit))
}

/// A plan kept inside its own output directory is part of it: kept across rebuilds, among
/// `files`.
fn keep_plan(plan: &Path, output: &Path, files: &mut Vec<OutputFile>) -> Result<(), Error> {
    if let Some(name) = plan_inside(plan, output) {
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
    Ok(())
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

fn check_drift(output: &Path, files: &[OutputFile]) -> Result<(), Error> {
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
        Ok(())
    } else {
        print_stdout(&drift);
        Err(Error::Problems(Some(format!(
            "{}: {changed} files differ from a fresh build; run canaryc build",
            output.display()
        ))))
    }
}

/// What a person reads after a build: where it runs, what was written, the ramp-up and timeline.
pub(crate) fn summary(ir: &Ir, files: &[OutputFile], output: &Path, warnings: usize) -> String {
    let listing: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.name.clone(), f.purpose.clone()))
        .collect();
    summary_of(ir, &listing, output, warnings)
}

/// [`summary`] of the files' names and purposes.
fn summary_of(ir: &Ir, files: &[(String, String)], output: &Path, warnings: usize) -> String {
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
    for (name, purpose) in files {
        let _ = writeln!(o, "  {name:<30} {purpose}");
    }
    if warnings > 0 {
        let _ = writeln!(o, "\n{warnings} warnings (above).");
    }
    o
}
