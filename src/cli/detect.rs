//! `canaryc detect <codebase>`: what canaryc sees in a codebase.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{Env, Error, print_stdout};
use crate::detect::facts::{Detection, Environment, Evidence, Fact, HazardLevel, WorkloadId};
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

pub(crate) fn run(args: &Args, _env: &Env) -> Result<(), Error> {
    if !args.codebase.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory; give the path of the service's code",
            args.codebase.display()
        )));
    }
    let detection = crate::detect::detect(&args.codebase, &Limits::default())
        .map_err(|err| Error::Read(format!("cannot read {}: {err}", args.codebase.display())))?;
    match args.format {
        Format::Json => print_stdout(&json(&detection)),
        Format::Human => print_stdout(&human(&detection, &args.codebase.display().to_string())),
    }
    Ok(())
}

fn at(e: &Evidence) -> String {
    e.to_string()
}

/// Detected text is the codebase's: shown on one line, whatever it holds.
fn clean(s: &str) -> String {
    crate::synth::comment(s)
}

fn fact_line<T: std::fmt::Display>(out: &mut String, label: &str, fact: Option<&Fact<T>>) {
    if let Some(f) = fact {
        let _ = writeln!(
            out,
            "    {label:<12} {:<40} {}",
            clean(&f.value.to_string()),
            at(&f.evidence)
        );
    }
}

/// `canaryc detect --format json`: the detection, and what `canaryc plan` would canary.
pub(crate) fn json(d: &Detection) -> String {
    let mut value = serde_json::to_value(d).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        let choice = crate::detect::link::choose(d, None);
        map.insert(
            "plan".into(),
            serde_json::to_value(&choice).unwrap_or_default(),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// The summary a person reads: the workload graph.
pub(crate) fn human(d: &Detection, root: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Detected in {} ({} files seen, {} read)\n",
        clean(root),
        d.stats.files_seen,
        d.stats.files_read
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
            clean(&evidence.join(", ")),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if !routers.is_empty() {
            let _ = writeln!(out, "  {:<15} router: {}", "", clean(&routers.join(", ")));
        }
    }
    if let Some(pin) = d.buildpack_runtime.first() {
        let _ = writeln!(
            out,
            "  {:<15} {} (a buildpack platform such as Heroku runs the Procfile: CNR612)",
            "platform",
            clean(&at(pin))
        );
    }
    let choice = crate::detect::link::choose(d, None);
    out.push_str("\nPlan (what `canaryc plan` canaries)\n");
    match choice.infra {
        Some(kind) => {
            let _ = writeln!(out, "  {}: {}", kind.as_str(), choice.reason);
        }
        None => out.push_str("  nothing to canary: no Python web workload\n"),
    }
    let name = |id: &WorkloadId| {
        d.workload(*id)
            .map(|w| {
                format!(
                    "{} ({} at {})",
                    clean(&w.name),
                    w.kind.as_str(),
                    at(&w.evidence)
                )
            })
            .unwrap_or_default()
    };
    for id in &choice.web {
        let _ = writeln!(out, "  canary   {}", name(id));
    }
    for id in &choice.workers {
        let _ = writeln!(
            out,
            "  worker   {}: by queue, never by traffic split",
            name(id)
        );
    }
    for id in &choice.shared {
        let _ = writeln!(out, "  shared   {}", name(id));
    }
    for (id, why) in &choice.skipped {
        let _ = writeln!(out, "  skipped  {}: {}", name(id), clean(why));
    }
    for (kind, ids) in &choice.alternatives {
        let names: Vec<String> = ids.iter().map(name).collect();
        let _ = writeln!(
            out,
            "  also     {} runs {}",
            kind.as_str(),
            names.join(", ")
        );
    }
    out.push_str("\nWorkloads\n");
    if d.workloads.is_empty() {
        out.push_str("  none found\n");
    }
    for w in &d.workloads {
        let also = if w.also.is_empty() {
            String::new()
        } else {
            format!(
                " (also {})",
                w.also.iter().map(at).collect::<Vec<_>>().join(", ")
            )
        };
        let _ = writeln!(
            out,
            "  {}  {} at {}{also}",
            clean(&w.name),
            w.kind.as_str(),
            at(&w.evidence)
        );
        let env = match w.environment.value {
            Environment::Prod => "prod",
            Environment::Dev => "dev",
        };
        let _ = writeln!(
            out,
            "    {:<12} {}: {}",
            "class",
            w.class.value.as_str(),
            clean(&w.class.reason)
        );
        let _ = writeln!(
            out,
            "    {:<12} {env}: {}",
            "environment",
            clean(&w.environment.reason)
        );
        if let Some(p) = &w.python {
            let _ = writeln!(
                out,
                "    {:<12} {:<40} {}",
                "python",
                p.value.0,
                at(&p.evidence)
            );
        }
        fact_line(&mut out, "image", w.image.as_ref());
        if let Some(b) = &w.build {
            let _ = writeln!(
                out,
                "    {:<12} {}{} (context {})",
                "built from",
                clean(&b.dockerfile),
                b.stage
                    .as_ref()
                    .map(|s| format!(", stage {}", clean(s)))
                    .unwrap_or_default(),
                clean(&b.context)
            );
        }
        if let Some(c) = &w.code {
            let _ = writeln!(out, "    {:<12} {}", "code", clean(&c.value));
        }
        fact_line(&mut out, "command", w.command.as_ref());
        fact_line(&mut out, "runs", w.runs.as_ref());
        fact_line(&mut out, "server", w.server.as_ref());
        fact_line(&mut out, "entrypoint", w.entrypoint.as_ref());
        fact_line(&mut out, "framework", w.framework.as_ref());
        fact_line(&mut out, "port", w.port.as_ref());
        fact_line(&mut out, "health", w.health.as_ref());
        fact_line(&mut out, "metrics", w.metrics_library.as_ref());
        for l in &w.links {
            let _ = writeln!(
                out,
                "    {:<12} -> {}: {}{}",
                "link",
                clean(&l.to),
                clean(&l.reason),
                l.evidence
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
        }
        let credentials: Vec<&str> = w
            .env
            .iter()
            .filter(|e| e.credential)
            .map(|e| e.name.as_str())
            .collect();
        if !credentials.is_empty() {
            let _ = writeln!(
                out,
                "    {:<12} {}",
                "credentials",
                clean(&credentials.join(", "))
            );
        }
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
            let _ = writeln!(out, "           at {}", clean(&evidence.join(", ")));
            let _ = writeln!(out, "           fix: {}", h.mitigation);
        }
    }
    if !d.credentials.is_empty() {
        out.push_str("\nLiteral credentials (never copied into documents)\n");
        for c in &d.credentials {
            let _ = writeln!(out, "  {}: {}", at(&c.evidence), clean(&c.what));
            let _ = writeln!(out, "           fix: {}", c.fix);
        }
    }
    if !d.iac.is_empty() {
        out.push_str("\nInfrastructure as code: update these for the canary\n");
        for i in &d.iac {
            let _ = writeln!(
                out,
                "  {:<10} {:<40} {}",
                i.tool,
                clean(&i.what),
                i.evidence
            );
        }
    }
    if !d.warnings.is_empty() {
        out.push_str("\nWarnings\n");
        for w in &d.warnings {
            let _ = writeln!(
                out,
                "  {}:{}: {}",
                clean(&w.file),
                w.line,
                clean(&w.message)
            );
        }
    }
    if !d.skipped.is_empty() {
        out.push_str("\nSkipped\n");
        for s in &d.skipped {
            let _ = writeln!(out, "  {}: {}", clean(&s.path), clean(&s.reason));
        }
    }
    out
}
