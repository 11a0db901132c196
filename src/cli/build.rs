//! `canaryc build`: compile a plan (and its codebase) into the deployment files.
//!
//! The output directory is replaced atomically: everything is written to a sibling temporary
//! directory first and swapped in only when all of it is there, so a failed build leaves the
//! previous outputs as they were. `--check` writes nothing: it compares with what is on disk,
//! prints unified diffs and exits 1 on drift (CI keeps committed outputs in sync this way).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Env, exit, print_stderr, print_stdout};
use crate::diag::{Diagnostic, render};
use crate::emit::OutputFile;
use crate::ir::{Ir, day_at, fmt};
use crate::source::SourceMap;

/// Marks a directory as canaryc's output: lists the files a build wrote. Detection skips
/// directories that have it, so outputs are never mistaken for the team's infrastructure.
pub(crate) const MARKER: &str = ".canaryc";

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
    match write_atomically(&output, &files, args.force) {
        Ok(()) => {
            print_stdout(&summary(&ir, &files, &output, warnings));
            exit::OK
        }
        Err(WriteError::Usage(message)) => {
            print_stderr(&format!("error: {message}\n"));
            exit::USAGE
        }
        Err(WriteError::Io(message)) => {
            print_stderr(&format!(
                "error: {message}; the previous outputs are unchanged\n"
            ));
            exit::PROBLEMS
        }
    }
}

pub(crate) struct Built {
    pub output: Option<(Ir, Vec<OutputFile>)>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Check, detect, merge, lower, emit. `Err` is a usage error (the plan cannot be read).
pub(crate) fn compile(
    plan: &Path,
    output: &Path,
    env: &Env,
    sources: &mut SourceMap,
) -> Result<Built, String> {
    let loaded = super::load::load(plan, env, sources, true)?;
    let base = plan
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut built = lower_and_emit(loaded, base, output);
    // A plan kept inside its own output directory is part of it: keep it across rebuilds.
    if let (Some((_, files)), Some(name)) = (built.output.as_mut(), plan_inside(plan, output)) {
        if !files.iter().any(|f| f.name == name) {
            let contents = super::load::read_plan(plan)?;
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
    let dir = plan
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let same = match (dir.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    same.then(|| plan.file_name().map(|n| n.to_string_lossy().into_owned()))
        .flatten()
}

/// Lowers a loaded plan (codebase relative to `base`) and emits its files for `output`.
pub(crate) fn lower_and_emit(loaded: super::load::Loaded, base: &Path, output: &Path) -> Built {
    let mut diagnostics = loaded.diagnostics;
    let Some(merged) = loaded
        .plan
        .filter(|_| !diagnostics.iter().any(Diagnostic::is_error))
    else {
        return Built {
            output: None,
            diagnostics,
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
        };
    }
    let files = crate::emit::emit(&ir);
    Built {
        output: Some((ir, files)),
        diagnostics,
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

fn marker_contents(files: &[OutputFile]) -> String {
    let mut text = String::from(
        "# Files written by canaryc build; this directory is replaced on every build.\n",
    );
    for f in files {
        text.push_str(&f.name);
        text.push('\n');
    }
    text
}

fn check_drift(output: &Path, files: &[OutputFile]) -> u8 {
    let mut drift = String::new();
    let mut changed = 0;
    for f in files {
        let on_disk = std::fs::read_to_string(output.join(&f.name)).unwrap_or_default();
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

pub(crate) enum WriteError {
    Usage(String),
    Io(String),
}

/// Writes `files` into `output`, all or nothing.
///
/// A directory that is canaryc's own (every file listed in its marker) or new is replaced whole:
/// the files go to a sibling staging directory that is renamed into place. A directory that
/// also holds other files (the current directory, say) needs `force`, and then gets each file
/// renamed into place, with anything replaced kept aside until all succeeded; other files stay.
pub(crate) fn write_atomically(
    output: &Path,
    files: &[OutputFile],
    force: bool,
) -> Result<(), WriteError> {
    if output.exists() && !output.is_dir() {
        return Err(WriteError::Usage(format!(
            "{} exists and is not a directory",
            output.display()
        )));
    }
    let ours: Vec<String> = std::fs::read_to_string(output.join(MARKER))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let mut foreign: Vec<String> = Vec::new();
    if output.is_dir() {
        foreign = std::fs::read_dir(output)
            .map_err(|e| WriteError::Io(format!("cannot read {}: {e}", output.display())))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != MARKER && !ours.contains(n))
            .collect();
        foreign.sort();
    }
    if !foreign.is_empty() && !force {
        let shown: Vec<&str> = foreign.iter().take(5).map(String::as_str).collect();
        return Err(WriteError::Usage(format!(
            "{} holds files canaryc did not write ({}{}); use --force to write into it anyway (those files are kept), or pick another --output",
            output.display(),
            shown.join(", "),
            if foreign.len() > 5 { ", ..." } else { "" }
        )));
    }
    let absolute = if output.is_absolute() {
        output.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(output)
    };
    let is_cwd = output.exists()
        && output.canonicalize().ok()
            == std::env::current_dir()
                .ok()
                .and_then(|d| d.canonicalize().ok());
    let parent = absolute
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = absolute.file_name().map_or_else(
        || "canary-deployment".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    std::fs::create_dir_all(&parent)
        .map_err(|e| WriteError::Io(format!("cannot create {}: {e}", parent.display())))?;
    let staging = parent.join(format!(".{name}.canaryc-new-{}", std::process::id()));
    let previous = parent.join(format!(".{name}.canaryc-old-{}", std::process::id()));
    let result = stage(&staging, files).and_then(|()| {
        if foreign.is_empty() && !is_cwd {
            swap(&staging, output, &previous)
        } else {
            install_each(&staging, output, &previous, files, &ours)
        }
    });
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_dir_all(&previous);
    result.map_err(|e| WriteError::Io(format!("cannot write {}: {e}", output.display())))
}

fn stage(staging: &Path, files: &[OutputFile]) -> std::io::Result<()> {
    let _ = std::fs::remove_dir_all(staging);
    std::fs::create_dir(staging)?;
    for f in files {
        std::fs::write(staging.join(&f.name), &f.contents)?;
        if f.name.ends_with(".sh") {
            set_executable(&staging.join(&f.name))?;
        }
    }
    std::fs::write(staging.join(MARKER), marker_contents(files))
}

/// Replaces the whole directory: rename the old one aside, the new one in, and only then delete.
fn swap(staging: &Path, output: &Path, previous: &Path) -> std::io::Result<()> {
    if output.exists() {
        std::fs::rename(output, previous)?;
    }
    if let Err(e) = std::fs::rename(staging, output) {
        let _ = std::fs::rename(previous, output);
        return Err(e);
    }
    Ok(())
}

/// Renames each file into a directory that also holds other files; on any failure, puts back
/// what it replaced and removes what it added.
fn install_each(
    staging: &Path,
    output: &Path,
    previous: &Path,
    files: &[OutputFile],
    ours: &[String],
) -> std::io::Result<()> {
    std::fs::create_dir_all(output)?;
    std::fs::create_dir_all(previous)?;
    let mut names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    names.push(MARKER.into());
    // Files of the previous build that this one no longer writes.
    let stale: Vec<&String> = ours.iter().filter(|o| !names.contains(o)).collect();
    let mut moved_aside: Vec<String> = Vec::new();
    let mut added: Vec<String> = Vec::new();
    let outcome = (|| -> std::io::Result<()> {
        for name in names.iter().chain(stale.iter().copied()) {
            if output.join(name).exists() {
                std::fs::rename(output.join(name), previous.join(name))?;
                moved_aside.push(name.clone());
            }
        }
        for name in &names {
            std::fs::rename(staging.join(name), output.join(name))?;
            added.push(name.clone());
        }
        Ok(())
    })();
    if outcome.is_err() {
        for name in &added {
            let _ = std::fs::remove_file(output.join(name));
        }
        for name in &moved_aside {
            let _ = std::fs::rename(previous.join(name), output.join(name));
        }
    }
    outcome
}

#[cfg(unix)]
fn set_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
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
