//! `canaryc plan <codebase>`: the one-command planner. Detects what the codebase runs, writes a
//! commented `canary.plan` for it, checks it, and builds every output next to it, atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use super::build::{relative_to, summary};
use super::load::Disk;
use super::output;
use super::{Env, Error, print_stderr, print_stdout};
use crate::compile::{Built, Emit};
use crate::detect::facts::InfraKind as Detected;
use crate::detect::walk::Limits;
use crate::diag::render;
use crate::emit::OutputFile;
use crate::ir::day_at;
use crate::model::{InfraKind, PyVersion};
use crate::source::SourceMap;
use crate::synth::Choices;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The service's codebase.
    codebase_path: PathBuf,

    /// The Python 3 release to move to (3.9, 3.11, 3.12, 3.13, or a later 3.x).
    #[arg(long, default_value = "3.11", value_name = "VERSION", value_parser = target_version)]
    target_version: PyVersion,

    /// Where it runs; auto decides from what the codebase holds.
    #[arg(long, value_enum, default_value_t = Infra::Auto)]
    infra_type: Infra,

    /// Where to write canary.plan and the files [default: the current directory].
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,

    /// Roll back when py3's error rate exceeds this percentage (0 < N <= 100).
    #[arg(
        long,
        default_value = "1.0",
        value_name = "PERCENT",
        allow_negative_numbers = true,
        value_parser = threshold
    )]
    rollback_threshold: f64,

    /// The stdlib schedule to follow.
    #[arg(long, value_enum, default_value_t = Schedule::Standard)]
    schedule: Schedule,

    /// Write into an output directory that holds other files (they are kept).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Infra {
    Auto,
    Kubernetes,
    DockerCompose,
    BareMetal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Schedule {
    /// 1% → 5% → 25% → 50% → 100% over 27 days (the default).
    Standard,
    /// 0.1% → ... → 100% over 43 days, with sign-offs.
    Cautious,
    /// The five steps in 4 days, for low-risk internal services.
    Fast,
}

/// `3.11` -> 3.11; anything that is not a Python 3 release canaryc can plan for is refused
/// (clap names the flag and the value: `invalid value '2.7' for '--target-version <VERSION>'`).
fn target_version(text: &str) -> Result<PyVersion, String> {
    let bad = || "not a Python 3 release: use 3.9, 3.11, 3.12, 3.13 or a later 3.x".to_string();
    let (major, minor) = text.trim().split_once('.').ok_or_else(bad)?;
    let (major, minor): (u32, u32) = (
        major.parse().map_err(|_| bad())?,
        minor.parse().map_err(|_| bad())?,
    );
    if major != 3 || minor > 99 {
        return Err(bad());
    }
    if minor < crate::check::OLDEST_TARGET.minor {
        return Err(format!(
            "older than any Python canaryc plans for: use 3.{} or later",
            crate::check::OLDEST_TARGET.minor
        ));
    }
    Ok(PyVersion { major, minor })
}

/// The error-rate percentage that rolls py3 back, in (0, 100]; `1%` is read as 1.
fn threshold(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| "not a number: give a percentage such as 1 or 0.5".to_string())?;
    if !(value > 0.0 && value <= 100.0) {
        return Err(
            "outside (0, 100]: it is the error-rate percentage that rolls py3 back".to_string(),
        );
    }
    Ok(value)
}

pub(crate) fn run(args: &Args, env: &Env) -> Result<(), Error> {
    // Every argument is checked before anything is read or written (the flags' values by clap).
    if !args.codebase_path.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory; give the path of the service's code",
            args.codebase_path.display()
        )));
    }
    let target = args.target_version;
    let rollback_threshold = args.rollback_threshold;
    let output = args.output.clone().unwrap_or_else(|| PathBuf::from("."));
    if output.exists() && !output.is_dir() {
        return Err(Error::Usage(format!(
            "--output {} is a file, not a directory",
            output.display()
        )));
    }

    // The one walk of the codebase: the plan is written from it, and compiled with it.
    let detection = crate::detect::detect(&args.codebase_path, &Limits::default())
        .map_err(|e| Error::Read(format!("cannot read {}: {e}", args.codebase_path.display())))?;
    let infra = match args.infra_type {
        Infra::Auto => InfraKind::Auto,
        Infra::Kubernetes => InfraKind::Kubernetes,
        Infra::DockerCompose => InfraKind::DockerCompose,
        Infra::BareMetal => InfraKind::BareMetal,
    };
    let dir_name = args
        .codebase_path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    // The plan is named after the one Kubernetes service it canaries, or the codebase directory.
    let forced = match infra {
        InfraKind::Auto => None,
        InfraKind::Kubernetes => Some(Detected::Kubernetes),
        InfraKind::DockerCompose => Some(Detected::DockerCompose),
        InfraKind::BareMetal => Some(Detected::BareMetal),
    };
    let choice = crate::detect::link::choose(&detection, forced);
    let name = crate::synth::plan_name(&detection, &choice, &dir_name);
    let choices = Choices {
        name,
        codebase: relative_to(&args.codebase_path, &output),
        target,
        infra,
        rollback_threshold,
        schedule: format!("{:?}", args.schedule).to_lowercase(),
    };
    let draft = crate::synth::plan(&detection, &choices);
    // Written in the canonical layout, so `canaryc fmt --check` passes on it as written.
    let plan_text = crate::fmt::format(&draft.text).unwrap_or_else(|_| draft.text.clone());
    let plan_file = OutputFile {
        name: "canary.plan".into(),
        contents: plan_text.clone(),
        purpose: "the plan, written from the codebase: edit it, then `canaryc build canary.plan --output .`".into(),
    };

    let mut sources = SourceMap::new();
    let plan_name = output.join("canary.plan").display().to_string();
    // The plan's codebase is relative to the output directory, where the plan will live.
    let base = super::normalize(&output);
    let mut codebase = Disk::new(&base, true).building(&output).walked(&detection);
    let compiled = draft.unresolved.is_empty().then(|| {
        let emit = Emit {
            plan_file: relative_to(&output.join("canary.plan"), &output),
            deferred: false,
        };
        super::load::load_text(
            &plan_name,
            plan_text.clone(),
            env,
            &mut sources,
            &mut codebase,
            Some(emit),
        )
    });
    // A plan that cannot build yet is still written, alone: the draft to finish by hand.
    let (built, diagnostics) = match compiled {
        Some(Ok(outputs)) => (outputs.built, outputs.diagnostics),
        Some(Err(failed)) => (None, failed.diagnostics),
        None => (None, Vec::new()),
    };
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if !diagnostics.is_empty() {
        print_stderr(&render::human(&diagnostics, &sources, env.style, 100));
    }
    let (ir, mut files) = match built {
        Some(Built { ir, files }) => (Some(ir), files),
        None => (None, Vec::new()),
    };
    files.push(plan_file);
    files.sort_by(|a, b| a.name.cmp(&b.name));
    // The plan is one of the outputs here; the codebase is never wiped.
    let request = output::Request {
        output: &output,
        files: &files,
        force: args.force,
        codebase: Some(&args.codebase_path),
        plan_dir: None,
    };
    output::write(&request)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Detected in {} ({} files seen, {} read):",
        args.codebase_path.display(),
        detection.stats.files_seen,
        detection.stats.files_read
    );
    if detection.infra.is_empty() {
        let _ = writeln!(
            text,
            "  no infrastructure: planned for bare metal with HAProxy"
        );
    }
    for f in &detection.infra {
        let evidence: Vec<String> = f.evidence.iter().take(3).map(ToString::to_string).collect();
        let _ = writeln!(text, "  {:<15} {}", f.kind.as_str(), evidence.join(", "));
    }
    if let Some(kind) = draft.choice.infra {
        let _ = writeln!(
            text,
            "  planned for {}: {}",
            kind.as_str(),
            draft.choice.reason
        );
    }
    let show = |id: &crate::detect::facts::WorkloadId| detection.workload(*id);
    for w in draft.choice.web.iter().filter_map(show) {
        let mut facts = vec![format!("{} {}", w.kind.as_str(), w.name)];
        if let Some(f) = &w.framework {
            facts.push(format!("{} ({})", f.value, f.evidence));
        }
        if let Some(p) = &w.port {
            facts.push(format!("port {} ({})", p.value, p.evidence));
        }
        if let Some(h) = &w.health {
            facts.push(format!("health {} ({})", h.value, h.evidence));
        }
        let _ = writeln!(
            text,
            "  canary  {}",
            crate::synth::comment(&facts.join(", "))
        );
    }
    for w in draft.choice.workers.iter().filter_map(show) {
        let _ = writeln!(
            text,
            "  worker  {} {}: {}",
            w.kind.as_str(),
            w.name,
            crate::synth::comment(&w.class.reason)
        );
    }
    for w in draft.choice.shared.iter().filter_map(show) {
        let _ = writeln!(
            text,
            "  shared  {} {}: {}",
            w.kind.as_str(),
            w.name,
            crate::synth::comment(&w.class.reason)
        );
    }
    if !draft.assumptions.is_empty() {
        let _ = writeln!(text, "\nAssumed (check these in canary.plan):");
        for a in &draft.assumptions {
            let _ = writeln!(text, "  {}: {}", a.service, crate::synth::comment(&a.text));
        }
    }
    let Some(ir) = ir else {
        if draft.unresolved.is_empty() {
            let _ = writeln!(
                text,
                "\nWrote the draft {} only: {errors} errors above stop the build. Fix them, then `canaryc build {}`.",
                Path::new(&plan_name).display(),
                Path::new(&plan_name).display()
            );
        } else {
            let _ = writeln!(
                text,
                "\nWrote the draft {} only, and built nothing: canaryc cannot fill these lines.",
                Path::new(&plan_name).display()
            );
            for u in &draft.unresolved {
                let at = plan_text
                    .lines()
                    .position(|l| l.contains(&u.marker))
                    .map_or_else(String::new, |i| format!(":{}", i + 1));
                let _ = writeln!(
                    text,
                    "  {}{at}: `{}` of `{}`: {}",
                    Path::new(&plan_name).display(),
                    u.field,
                    u.service,
                    crate::synth::comment(&u.why)
                );
            }
            let _ = writeln!(
                text,
                "Uncomment each line with the real value, then `canaryc build {} --output {}`.",
                Path::new(&plan_name).display(),
                output.display()
            );
        }
        print_stdout(&text);
        return Err(Error::Problems(None));
    };
    text.push('\n');
    text.push_str(&summary(&ir, &files, &output, 0));
    if !diagnostics.is_empty() {
        // The warnings in one line each (end of life first: it decides the target).
        let _ = writeln!(text, "\nWarnings (details above):");
        let mut warnings: Vec<&crate::diag::Diagnostic> = diagnostics.iter().collect();
        warnings.sort_by_key(|d| {
            !matches!(
                d.code,
                crate::diag::Code::PythonEndOfLife | crate::diag::Code::PythonEndOfLifeSoon
            )
        });
        for d in warnings {
            let _ = writeln!(text, "  {}[{}]: {}", d.severity.as_str(), d.code, d.message);
        }
    }
    let _ = writeln!(
        text,
        "\nEstimated cutover if it starts today ({}):",
        env.today
    );
    for st in &ir.stages {
        let _ = writeln!(
            text,
            "  {:<16} from {}",
            st.name,
            day_at(Some(env.today), st.starts_at_hours)
        );
    }
    let _ = writeln!(
        text,
        "  py2 retired      {}",
        day_at(Some(env.today), ir.total_hours as f64)
    );
    let _ = writeln!(
        text,
        "\nNext: review {}, then `canaryc build` after any edit.",
        Path::new(&plan_name).display()
    );
    print_stdout(&text);
    Ok(())
}
