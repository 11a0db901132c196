//! `canaryc check`: the CI gate.

use std::path::PathBuf;

use clap::ValueEnum;

use super::load::Disk;
use super::{Env, Error, exit, print_stderr, print_stdout};
use crate::diag::{Diagnostic, render};
use crate::source::SourceMap;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Plan files to check.
    #[arg(default_value = "canary.plan")]
    files: Vec<PathBuf>,

    /// Output format: human (rich, on stderr), short (one line each, on stdout) or json
    /// (versioned schema in docs/diagnostics-json.md, on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,

    /// Do not read the plan's `codebase`: check only what the plan says.
    #[arg(long)]
    no_detect: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Short,
    Json,
}

pub(crate) fn run(args: &Args, env: &Env) -> Result<(), Error> {
    let mut sources = SourceMap::new();
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut previews = String::new();
    // A file that cannot be read at all is a usage error (exit 2), but the other files are still
    // checked and reported: one bad path in `plans/*.plan` never hides the rest. A file that is
    // read but is not UTF-8 is a diagnostic of its own (CNR003) like any other.
    let mut unreadable = 0;
    for path in &args.files {
        let mut codebase = Disk::new(super::load::plan_dir(path), !args.no_detect);
        match super::load::compile(path, env, &mut sources, &mut codebase, None) {
            Ok(compiled) => {
                let (plan, found) = match compiled {
                    Ok(outputs) => (Some(outputs.plan), outputs.diagnostics),
                    Err(failed) => (failed.plan.map(|p| *p), failed.diagnostics),
                };
                diagnostics.extend(found);
                // With `traffic` in the plan: how soon each stage catches what (issue 13).
                if let Some(p) = plan.as_ref().and_then(crate::check::detection::preview) {
                    previews.push_str(&crate::check::detection::render(&p));
                }
            }
            Err(error) => {
                unreadable += 1;
                super::error::report(&error);
            }
        }
    }

    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match args.format {
        Format::Human => {
            print_stderr(&render::human(&diagnostics, &sources, env.style, 100));
            print_stderr(&previews);
            print_stderr(&summary(args.files.len(), unreadable, errors, warnings));
        }
        Format::Short => print_stdout(&render::short(&diagnostics, &sources)),
        Format::Json => print_stdout(&render::json(&diagnostics, &sources)),
    }
    if unreadable > 0 {
        // Each said why, above.
        Err(Error::Reported(exit::USAGE))
    } else if errors > 0 || (args.deny_warnings && warnings > 0) {
        Err(Error::Problems(None))
    } else {
        Ok(())
    }
}

fn summary(files: usize, unreadable: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let verdict = if errors > 0 || unreadable > 0 {
        "failed"
    } else {
        "ok"
    };
    let unread = if unreadable > 0 {
        format!(" ({unreadable} could not be read)")
    } else {
        String::new()
    };
    format!(
        "check {verdict}: {}{unread}, {}, {}\n",
        plural(files, "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
