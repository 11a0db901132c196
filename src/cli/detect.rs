//! `canaryc detect <codebase>`: what canaryc sees in a codebase.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{Env, exit, print_stderr, print_stdout};
use crate::detect::facts::{Detection, Evidence, Fact, HazardLevel};
use crate::detect::walk::Limits;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The codebase to read.
    codebase: PathBuf,

    /// human: a summary to read; json: the documented schema (docs/detection.md).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub(crate) fn run(args: &Args, _env: &Env) -> u8 {
    if !args.codebase.is_dir() {
        print_stderr(&format!(
            "error: {} is not a directory; give the path of the service's code\n",
            args.codebase.display()
        ));
        return exit::USAGE;
    }
    let detection = match crate::detect::detect(&args.codebase, &Limits::default()) {
        Ok(d) => d,
        Err(err) => {
            print_stderr(&format!(
                "error: cannot read {}: {err}\n",
                args.codebase.display()
            ));
            return exit::USAGE;
        }
    };
    match args.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&detection).unwrap_or_default();
            text.push('\n');
            print_stdout(&text);
        }
        Format::Human => print_stdout(&human(&detection, &args.codebase.display().to_string())),
    }
    exit::OK
}

fn at(e: &Evidence) -> String {
    e.to_string()
}

fn fact_line<T: std::fmt::Display>(out: &mut String, label: &str, fact: Option<&Fact<T>>) {
    if let Some(f) = fact {
        let _ = writeln!(
            out,
            "    {label:<11} {:<32} {}",
            f.value.to_string(),
            at(&f.evidence)
        );
    }
}

/// The summary a person reads.
pub(crate) fn human(d: &Detection, root: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Detected in {root} ({} files seen, {} read)\n",
        d.stats.files_seen, d.stats.files_read
    );
    out.push_str("Infrastructure\n");
    if d.infra.is_empty() {
        out.push_str("  nothing detected: `infra = auto` falls back to bare metal\n");
    }
    for f in &d.infra {
        let routers: Vec<String> = f
            .routers
            .iter()
            .map(|r| format!("{} ({})", r.value.as_str(), r.evidence))
            .collect();
        let evidence: Vec<String> = f.evidence.iter().take(4).map(at).collect();
        let more = f.evidence.len().saturating_sub(4);
        let _ = writeln!(
            out,
            "  {:<15} {}{}",
            f.kind.as_str(),
            evidence.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if !routers.is_empty() {
            let _ = writeln!(out, "  {:<15} router: {}", "", routers.join(", "));
        }
    }
    out.push_str("\nServices\n");
    if d.services.is_empty() {
        out.push_str("  none found\n");
    }
    for s in &d.services {
        let _ = writeln!(out, "  {} ({})", s.name, s.dir);
        fact_line(&mut out, "framework", s.framework.as_ref());
        fact_line(&mut out, "entrypoint", s.entrypoint.as_ref());
        fact_line(&mut out, "server", s.server.as_ref());
        fact_line(&mut out, "port", s.port.as_ref());
        fact_line(&mut out, "health", s.health.as_ref());
        fact_line(&mut out, "metrics", s.metrics_library.as_ref());
        fact_line(&mut out, "command", s.command.as_ref());
        fact_line(&mut out, "image", s.image.as_ref());
        fact_line(&mut out, "python 2", s.python2.as_ref());
    }
    if !d.hazards.is_empty() {
        out.push_str("\nHazards\n");
        for h in &d.hazards {
            let level = match h.level {
                HazardLevel::Blocker => "blocker",
                HazardLevel::Warning => "warning",
            };
            let evidence: Vec<String> = h.evidence.iter().map(at).collect();
            let _ = writeln!(out, "  {level:<8} {}: {}", h.id, h.title);
            let _ = writeln!(out, "           at {}", evidence.join(", "));
            let _ = writeln!(out, "           fix: {}", h.mitigation);
        }
    }
    if !d.iac.is_empty() {
        out.push_str("\nInfrastructure as code: update these for the canary\n");
        for i in &d.iac {
            let _ = writeln!(out, "  {:<10} {:<40} {}", i.tool, i.what, i.evidence);
        }
    }
    if !d.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &d.warnings {
            let _ = writeln!(out, "  {}:{}: {}", w.file, w.line, w.message);
        }
    }
    if !d.skipped.is_empty() {
        out.push_str("\nSkipped\n");
        for s in &d.skipped {
            let _ = writeln!(out, "  {}: {}", s.path, s.reason);
        }
    }
    out
}
