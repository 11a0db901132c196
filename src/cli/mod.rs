//! The command line. The only part of canaryc that touches the file system, the environment,
//! the clock or the terminal; everything it calls is pure.

mod build;
mod check;
mod compare;
mod detect;
mod error;
mod explain;
mod fmt;
mod load;
mod output;
mod plan;
mod promote;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::date::Date;
use crate::diag::render::Style;
pub(crate) use error::Error;

/// Exit codes, as documented in the README.
pub mod exit {
    /// Everything is fine.
    pub const OK: u8 = 0;
    /// The command ran and found problems (errors, or warnings with `--deny-warnings`).
    pub const PROBLEMS: u8 = 1;
    /// The command could not run: bad arguments, unreadable files.
    pub const USAGE: u8 = 2;
}

#[derive(Debug, Parser)]
#[command(
    name = "canaryc",
    version,
    about = "Plan and configure the canary cutover of a Python 2 service to Python 3",
    long_about = "canaryc compiles a canary.plan (stages, traffic, hold times, success criteria, rollback \
triggers, routing, targets) into the files a py2 -> py3 canary rollout needs, and checks plans in CI.\n\n\
Exit codes: 0 ok, 1 problems found, 2 usage error.",
    after_help = "Examples:\n  canaryc check                         check ./canary.plan\n  canaryc check --format json plans/*.plan\n  canaryc explain CNR301                why traffic must increase",
    disable_help_subcommand = true
)]
struct Cli {
    /// When to colour output: auto colours only on a terminal and respects NO_COLOR.
    #[arg(long, value_enum, default_value_t = Colour::Auto, global = true)]
    color: Colour,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Colour {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plan a codebase's cutover in one command: detect, write canary.plan, build everything.
    #[command(
        long_about = "Read the codebase, write a commented canary.plan for it (edit it later and run `canaryc build`), \
check it, and build every file the rollout needs into --output, atomically. Ends with a summary: what was \
detected and from which files, the files written, the hazards, the ramp-up and the estimated cutover dates \
from today.\n\nExit 0 when planned, 1 when the plan has errors, 2 on bad input (a path that does not exist, an \
output that is a file, a target that is not Python 3, a threshold outside (0, 100]); nothing is written then.",
        after_help = "Examples:\n  canaryc plan . --output ./canary-deployment/\n  canaryc plan services/ledger --target-version 3.13 --infra-type kubernetes --output deploy/canary\n  canaryc plan . --schedule cautious --rollback-threshold 0.5 --output canary"
    )]
    Plan(plan::Args),
    /// Compile a plan into deployment files: Kubernetes, Compose, systemd, HAProxy/nginx,
    /// Prometheus alerts, a Grafana dashboard and the runbooks.
    #[command(
        long_about = "Check the plan, read its codebase (when it names one), and write every file the rollout needs \
into the output directory, atomically: a failed build leaves the previous files as they were. Output is \
deterministic: the same plan and codebase give byte-identical files on any day.\n\nExit 0 when built (or up to \
date with --check), 1 when the plan has errors or --check finds drift, 2 on usage errors.",
        after_help = "Examples:\n  canaryc build\n  canaryc build services/ledger/canary.plan --output deploy/canary\n  canaryc build --check   # in CI: fail if the committed files are stale"
    )]
    Build(build::Args),
    /// Check plans for errors and risky choices (the CI gate).
    #[command(
        long_about = "Parse and type-check plans, reporting every problem with file, line, column, a stable \
code and a hint. Exit 0 when clean, 1 when there are errors (or warnings, with --deny-warnings), 2 when a \
file cannot be read.\n\nEnd-of-life warnings are judged against the plan's `start` date, or today; set \
CANARYC_TODAY=YYYY-MM-DD to pin today (tests and reproducible CI logs do).",
        after_help = "Examples:\n  canaryc check\n  canaryc check --deny-warnings canary.plan\n  canaryc check --format short plans/*.plan   # file:line:col: severity[code]: message\n  canaryc check --format json > diagnostics.json"
    )]
    Check(check::Args),
    /// Show what canaryc detects in a codebase: infrastructure, services, hazards.
    #[command(
        long_about = "Read a codebase and report what canaryc finds: Kubernetes manifests (and Istio, Gateway API, \
ingress classes, Helm, kustomize), Docker Compose, Dockerfiles, Procfiles, supervisord programs, systemd units, \
HAProxy and nginx configs, Ansible and Terraform files, the Python framework, entrypoint, server, port and health \
path, and py2 -> py3 hazards, each with the file and line it came from. `check` and `build` merge the same facts \
into the plan.\n\nExit 0 (also when some files could not be read: they are listed as warnings), 2 if the path is \
not a directory.",
        after_help = "Examples:\n  canaryc detect .\n  canaryc detect services/ledger --format json > facts.json"
    )]
    Detect(detect::Args),
    /// Rewrite plans in the canonical layout (comments kept).
    #[command(
        long_about = "Rewrite .plan files in one canonical layout: two-space indentation, one entry per line, `=` of \
consecutive fields aligned, short blocks on one line. Comments are kept and literals are printed as written. \
Exit 1 with --check when a file would change, or when a file has syntax errors (it is left alone).",
        after_help = "Examples:\n  canaryc fmt\n  canaryc fmt --check plans/*.plan   # in CI\n  canaryc fmt - < canary.plan      # editors: stdin to stdout"
    )]
    Fmt(fmt::Args),
    /// Speak the Language Server Protocol over stdin/stdout, for editors.
    #[command(
        long_about = "A language server for .plan files: diagnostics as you type (the same as `canaryc check`), \
hover documentation, completion, go to definition for stdlib schedules and stages, formatting, and quick fixes. \
Editors start it themselves; see the README for Neovim, VS Code and Helix."
    )]
    Lsp,
    /// Move py3 to the next stage when its hold has elapsed and its criteria hold (Compose and
    /// bare metal).
    #[command(
        long_about = "canaryc's own engine on Docker Compose and bare metal. Reads the stage reached from the state file named in canary-promote.json (it survives restarts and HAProxy reloads), checks that the stage's hold has elapsed and that each of its success criteria holds by querying Prometheus's HTTP API, and only then sets the next stage's weights through HAProxy's runtime API. A criterion that fails, or that has too little traffic to judge, keeps py3 where it is and is printed. At an approval gate it waits for `--approve`. A systemd timer or the Compose stack's canary-promote service runs it on a schedule.

Promote and rollback take the same lock (STATE_FILE.lock) around applying a change, and promote checks again for a rollback just before it sets a weight: it never undoes one, and only --restart takes py3 out of maintenance. --approve opens a gate only once the stage waits there (hold elapsed, criteria hold); --status changes and writes nothing.

Exit 0 when it moved py3 or nothing is due yet (holding, waiting for approval, done), 1 when it refused (a criterion fails), py3 was rolled back, or it could not do its job (Prometheus or HAProxy unreachable, an --approve before the gate: nothing changed), 2 on usage errors (bad flags, no or damaged canary-promote.json).",
        after_help = "Examples:\n  canaryc promote --config /etc/canaryc/shop/canary-promote.json\n  canaryc promote --status --format json\n  canaryc promote --approve        # a person signs off at the gate\n  canaryc promote --restart        # after a rollback and a fixed py3\n  canaryc promote --every 1m       # the Compose service"
    )]
    Promote(promote::Args),
    /// Send every request back to py2 through HAProxy's runtime API (the rollback receiver).
    #[command(
        long_about = "Set py3's weight to 0 and put it in maintenance (users pinned to py3 by cookie are redispatched too), give py2 the full weight, save HAProxy's server state so a reload keeps it, and record the rollback for `canaryc promote`. The Compose stack's rollback receiver runs it when a rollback alert fires.

Exit 0 when rolled back, 1 when HAProxy refused, 2 on usage errors.",
        after_help = "Examples:\n  canaryc rollback shop --config canary-promote.json\n  canaryc rollback          # every service of the plan"
    )]
    Rollback(promote::RollbackArgs),
    /// Compare py3's responses with py2's on live traffic: a Diffy-style proxy.
    #[command(long_about = compare::LONG_ABOUT, after_help = compare::AFTER_HELP)]
    Compare(compare::Args),
    /// Explain a diagnostic code, with an example that triggers it.
    #[command(
        after_help = "Examples:\n  canaryc explain CNR301\n  canaryc explain traffic-not-increasing\n  canaryc explain --list"
    )]
    Explain(explain::Args),
}

/// Parses arguments, runs the command and returns the process exit code.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" that exit 0.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(exit::USAGE));
        }
    };
    let env = Env::from_process(cli.color);
    let result = match cli.command {
        Command::Build(args) => build::run(&args, &env),
        Command::Plan(args) => plan::run(&args, &env),
        Command::Check(args) => check::run(&args, &env),
        Command::Compare(args) => Error::from_code(compare::run(&args, &env)),
        Command::Detect(args) => detect::run(&args, &env),
        Command::Explain(args) => explain::run(&args, &env),
        Command::Fmt(args) => fmt::run(&args, &env),
        Command::Promote(args) => Error::from_code(promote::run(&args)),
        Command::Rollback(args) => Error::from_code(promote::run_rollback(&args)),
        Command::Lsp => Error::from_code(crate::lsp::run(env.today)),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            error::report(&error);
            ExitCode::from(error.code())
        }
    }
}

/// What the commands learn from the process environment, read once, here.
pub(crate) struct Env {
    pub style: Style,
    pub today: Date,
}

impl Env {
    fn from_process(colour: Colour) -> Env {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let style = match colour {
            Colour::Always => Style::Colour,
            Colour::Never => Style::Plain,
            Colour::Auto if !no_color && std::io::stderr().is_terminal() => Style::Colour,
            Colour::Auto => Style::Plain,
        };
        Env {
            style,
            today: today(),
        }
    }
}

/// Today's date, or CANARYC_TODAY when set (so warnings about dates are reproducible).
fn today() -> Date {
    if let Some(date) = std::env::var("CANARYC_TODAY")
        .ok()
        .and_then(|d| Date::parse(&d))
    {
        return date;
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Date::from_days(i64::try_from(secs / 86_400).unwrap_or(0))
}

/// Writes to stdout, ignoring a closed pipe (`canaryc ... | head`).
pub(crate) fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

pub(crate) fn print_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// `path` made absolute and with `.` and `..` resolved lexically, so it can be used before the
/// directories it passes through exist (an output directory not yet written).
pub(crate) fn normalize(path: &std::path::Path) -> std::path::PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut out = std::path::PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
