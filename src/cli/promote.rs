//! `canaryc promote` and `canaryc rollback`: the I/O around `promote::decide`. Reads
//! `canary-promote.json` and the state file, asks Prometheus's HTTP API and HAProxy's runtime
//! API, writes the state back atomically.
//!
//! Promote and rollback never interleave their changes: both take an exclusive lock
//! (`STATE_FILE.lock`, flock(2); the bare-metal `canary-rollback.sh` runs `canaryc rollback`
//! when canaryc is installed) around re-reading the state, re-checking HAProxy and applying.
//! Promote judges the criteria (Prometheus may take minutes) before taking the lock, so a
//! rollback never waits for Prometheus, and checks again under the lock that nothing changed
//! and py3 is not in maintenance before it sets a weight. It never takes py3 out of maintenance
//! except on `--restart`: even a rollback by hand that bypasses the lock keeps py3 drained.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use super::exit;
use crate::promote::config::{Config, Stage};
use crate::promote::decide::{self, Due, Outcome, Verdict};
use crate::promote::state::{RolledBack, State};
use crate::promote::{haproxy, http};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The bundle's canary-promote.json.
    #[arg(long, default_value = "canary-promote.json", value_name = "FILE")]
    config: PathBuf,
    /// Open the approval gate of the stage reached, once it waits there (hold elapsed, criteria
    /// hold), and move on.
    #[arg(long)]
    approve: bool,
    /// After a rollback and a fixed py3: give py3 the stage's weight again and restart its hold.
    #[arg(long, conflicts_with_all = ["approve", "status"])]
    restart: bool,
    /// Show the stage reached and what promote would do now (it queries Prometheus); change
    /// nothing, write nothing.
    #[arg(long, conflicts_with = "approve")]
    status: bool,
    /// Decide and print, but set no weight and write no state.
    #[arg(long)]
    dry_run: bool,
    /// Run again every DURATION (30s, 1m, 5m) until stopped: the Compose service's mode.
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    every: Option<u64>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RollbackArgs {
    /// The service to roll back; every service of the plan without one.
    service: Option<String>,
    #[arg(long, default_value = "canary-promote.json", value_name = "FILE")]
    config: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

fn parse_every(text: &str) -> Result<u64, String> {
    let (n, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s or 5m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{text}` is not a duration such as 30s or 5m")),
    };
    if secs == 0 {
        return Err("the interval must be above zero".into());
    }
    Ok(secs)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn load_config(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config: Config = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a canary-promote.json: {e}", path.display()))?;
    if config.format_version != crate::promote::config::FORMAT_VERSION || config.stages.is_empty() {
        return Err(format!(
            "{} was written by another canaryc (format {}): rebuild the bundle",
            path.display(),
            config.format_version
        ));
    }
    Ok(config)
}

fn load_state(config: &Config) -> Result<Option<State>, String> {
    match std::fs::read_to_string(&config.state_file) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is damaged: {e}", config.state_file)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", config.state_file)),
    }
}

/// Writes next to the file, flushes it to disk, renames, and flushes the directory: a crash
/// leaves the old state or the new, never half, and never a rename of unwritten data.
fn write_atomically(path: &str, text: &str) -> Result<(), String> {
    let path = Path::new(path);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let io = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = dir {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The lock promote and rollback take around applying a change; released when dropped.
struct Lock {
    _held: std::fs::File,
}

/// How long a run waits for the other to finish applying (seconds: it holds the lock only to
/// re-check and send a few commands).
const LOCK_WAIT: Duration = Duration::from_secs(60);

fn lock(config: &Config) -> Result<Lock, String> {
    use rustix::fs::{FlockOperation, flock};
    let path = format!("{}.lock", config.state_file);
    if let Some(dir) = Path::new(&path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the lock {path}: {e}"))?;
    let start = std::time::Instant::now();
    while flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        if start.elapsed() > LOCK_WAIT {
            return Err(format!(
                "{path} is held by another promote or rollback for over a minute: nothing changed"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Lock { _held: file })
}

/// One command to HAProxy's runtime API: a unix socket path, or HOST:PORT.
fn haproxy_send(api: &str, command: &str) -> Result<String, String> {
    let mut reply = String::new();
    let io = |e: std::io::Error| format!("HAProxy's runtime API at {api}: {e}");
    if api.contains('/') {
        #[cfg(unix)]
        {
            let mut s = std::os::unix::net::UnixStream::connect(api).map_err(io)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(io)?;
            s.write_all(format!("{command}\n").as_bytes()).map_err(io)?;
            s.read_to_string(&mut reply).map_err(io)?;
        }
    } else {
        let mut s = TcpStream::connect(api).map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        s.write_all(format!("{command}\n").as_bytes()).map_err(io)?;
        s.read_to_string(&mut reply).map_err(io)?;
    }
    Ok(reply)
}

/// Commands that must answer nothing (HAProxy's `set` commands say nothing on success).
fn haproxy_apply(config: &Config, commands: &[String]) -> Result<(), String> {
    for c in commands {
        let reply = haproxy_send(&config.haproxy.runtime_api, c)?;
        if !reply.trim().is_empty() {
            return Err(format!("HAProxy refused `{c}`: {}", reply.trim()));
        }
    }
    // Runtime changes are lost on reload unless saved for load-server-state-from-file.
    if let Some(file) = &config.haproxy.server_state_file {
        let state = haproxy_send(&config.haproxy.runtime_api, "show servers state")?;
        write_atomically(file, &state)?;
    }
    Ok(())
}

/// A stage criterion reads a whole hold: Prometheus's own query timeout (2 m) plus a margin.
const QUERY_TIMEOUT: Duration = Duration::from_secs(130);

fn prometheus_query(url: &str, query: &str) -> Result<Vec<http::Sample>, String> {
    let (host, prefix) =
        http::split_url(url).ok_or_else(|| format!("`{url}` is not an http:// address"))?;
    let io = |e: std::io::Error| format!("Prometheus at {url}: {e}");
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)
        .map_err(io)?
        .next()
        .ok_or_else(|| format!("Prometheus at {url}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(io)?;
    s.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(io)?;
    s.write_all(http::query_request(&host, &prefix, query).as_bytes())
        .map_err(io)?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).map_err(io)?;
    http::parse_response(&String::from_utf8_lossy(&response))
}

/// Whether HAProxy has py3 of some service in maintenance: the rollback receiver (or a person
/// with canary-rollback.sh) rolled it back, whatever the state file says.
fn rolled_back_in_haproxy(config: &Config) -> Result<Option<String>, String> {
    for service in &config.services {
        let text = haproxy_send(
            &config.haproxy.runtime_api,
            &format!("show servers state {service}"),
        )?;
        let servers = haproxy::servers(&text, service);
        if servers
            .iter()
            .any(|(name, s)| name == "py3" && s.in_maintenance())
        {
            return Ok(Some(service.clone()));
        }
    }
    Ok(None)
}

/// The stage's weights; py3 leaves maintenance only when `ready` (`--restart`).
fn set_weights(config: &Config, traffic: f64, ready: bool) -> Result<(), String> {
    let commands: Vec<String> = config
        .services
        .iter()
        .flat_map(|s| {
            let mut c = haproxy::set_stage(s, traffic, config.haproxy.weight_total);
            if ready {
                c.insert(0, haproxy::ready(s));
            }
            c
        })
        .collect();
    haproxy_apply(config, &commands)
}

fn stage_of(config: &Config, index: usize) -> &Stage {
    &config.stages[index.min(config.stages.len() - 1)]
}

fn rolled_back_outcome(config: &Config, state: &State) -> Outcome {
    Outcome::RolledBack {
        stage: stage_of(config, state.stage).name.clone(),
        at: state.rolled_back.as_ref().map_or(0, |r| r.at),
    }
}

/// `state` with HAProxy's maintenance recorded as a rollback, if py3 is in maintenance and the
/// state does not say so yet.
fn with_rollback_seen(
    config: &Config,
    state: Option<State>,
    now: u64,
) -> Result<Option<State>, String> {
    if state.as_ref().is_some_and(|s| s.rolled_back.is_some()) {
        return Ok(state);
    }
    Ok(match rolled_back_in_haproxy(config)? {
        Some(service) => {
            let mut s = state.unwrap_or_else(|| State::new(&config.plan, 0, now));
            s.rolled_back = Some(RolledBack {
                at: now,
                service: Some(service),
            });
            Some(s)
        }
        None => state,
    })
}

/// `--restart`: py3 back at the stage it left, its hold from now.
fn restart(args: &Args, config: &Config, now: u64) -> Result<Outcome, String> {
    let _lock = (!args.dry_run).then(|| lock(config)).transpose()?;
    let Some(mut s) = load_state(config)? else {
        return Err("nothing to restart: no stage has started (run `canaryc promote`)".into());
    };
    s.rolled_back = None;
    s.done = false;
    s.entered_at = now;
    let stage = stage_of(config, s.stage);
    if !args.dry_run {
        set_weights(config, stage.traffic, true)?;
        write_atomically(&config.state_file, &s.to_json())?;
    }
    Ok(Outcome::Started {
        stage: stage.name.clone(),
        traffic: stage.traffic,
    })
}

/// What is due for `state`, with the criteria judged on Prometheus when the hold has elapsed.
/// Returns the outcome and the state to write, if any.
fn decide(
    args: &Args,
    config: &Config,
    state: Option<&State>,
    now: u64,
) -> Result<(Outcome, Option<State>), String> {
    Ok(match decide::due(config, state, now) {
        Due::Start => {
            let first = &config.stages[0];
            (
                Outcome::Started {
                    stage: first.name.clone(),
                    traffic: first.traffic,
                },
                Some(State::new(&config.plan, 0, now)),
            )
        }
        Due::RolledBack => (rolled_back_outcome(config, state.expect("a state")), None),
        Due::Done => (
            Outcome::Done {
                stage: stage_of(config, config.stages.len() - 1).name.clone(),
            },
            None,
        ),
        Due::Hold { remaining_secs } => {
            let s = state.expect("a hold implies a state");
            let stage = stage_of(config, s.stage);
            if args.approve {
                // An approval is given for what a person saw: the stage's criteria holding at
                // the end of its hold, not a gate to open in advance.
                return Err(format!(
                    "nothing to approve yet: stage {} holds for another {}; its gate opens once the hold has elapsed and its criteria hold",
                    stage.name,
                    crate::check::duration_text(remaining_secs * 1000)
                ));
            }
            (
                Outcome::Holding {
                    stage: stage.name.clone(),
                    remaining_secs,
                },
                None,
            )
        }
        Due::Judge => {
            let s = state.expect("judging implies a state");
            let stage = stage_of(config, s.stage);
            let mut verdicts: Vec<Verdict> = Vec::new();
            for check in &stage.checks {
                let samples = prometheus_query(&config.prometheus, &check.query)?;
                verdicts.push(decide::verdict(check, &samples));
            }
            let (outcome, next) = decide::after_judging(config, s, &verdicts, args.approve, now);
            let changed = &next != s;
            (outcome, changed.then_some(next))
        }
    })
}

/// One promote run: the outcome, having acted on it unless `--status` or `--dry-run`.
fn promote_once(args: &Args, config: &Config) -> Result<Outcome, String> {
    let now = now();
    if args.restart {
        return restart(args, config, now);
    }
    let read_only = args.status || args.dry_run;
    let loaded = load_state(config)?;
    // py3 in maintenance is a rollback (the receiver's, or a person's), whatever the state file
    // says. `--status` shows what it can when HAProxy cannot be reached.
    let state = match with_rollback_seen(config, loaded.clone(), now) {
        Ok(s) => s,
        Err(_) if args.status => loaded.clone(),
        Err(e) => return Err(e),
    };
    let (outcome, next) = decide(args, config, state.as_ref(), now)?;
    if read_only {
        return Ok(outcome);
    }
    let next = match (next, &state) {
        (Some(n), _) => Some(n),
        // A rollback seen in HAProxy only: record it.
        (None, Some(s)) if Some(s) != loaded.as_ref() => Some(s.clone()),
        (None, _) => None,
    };
    let Some(next) = next else {
        return Ok(outcome);
    };
    let _lock = lock(config)?;
    // Again, under the lock: a rollback (or another promote run) may have happened while the
    // criteria were being judged.
    let current = with_rollback_seen(config, load_state(config)?, now)?;
    if current != state {
        return match current {
            Some(s) if s.rolled_back.is_some() => {
                if Some(&s) != load_state(config)?.as_ref() {
                    write_atomically(&config.state_file, &s.to_json())?;
                }
                Ok(rolled_back_outcome(config, &s))
            }
            _ => Err("the stage reached changed while promote was judging it (another promote run): nothing changed, the next run decides again".into()),
        };
    }
    if let Some(traffic) = outcome.set_stage() {
        set_weights(config, traffic, false)?;
    }
    write_atomically(&config.state_file, &next.to_json())?;
    Ok(outcome)
}

fn human(outcome: &Outcome, config: &Config) -> String {
    let pct = |t: f64| format!("{}%", crate::ir::fmt(t));
    match outcome {
        Outcome::Started { stage, traffic } => {
            format!(
                "{}: started stage {stage}: py3 at {}\n",
                config.plan,
                pct(*traffic)
            )
        }
        Outcome::Holding {
            stage,
            remaining_secs,
        } => format!(
            "{}: stage {stage} holds for another {}\n",
            config.plan,
            crate::check::duration_text(remaining_secs * 1000)
        ),
        Outcome::Refused { stage, failing } => {
            let mut o = format!(
                "{}: stays at stage {stage}: its success criteria do not hold\n",
                config.plan
            );
            for v in failing {
                o.push_str(&format!(
                    "  {} ({}): {}\n",
                    v.criterion,
                    v.service,
                    v.reason.as_deref().unwrap_or("fails")
                ));
            }
            o
        }
        Outcome::WaitingApproval { stage, approval } => format!(
            "{}: stage {stage} passed its criteria and waits for {approval}: canaryc promote --approve\n",
            config.plan
        ),
        Outcome::Advanced { from, to, traffic } => format!(
            "{}: {from} passed; moved to {to}: py3 at {}\n",
            config.plan,
            pct(*traffic)
        ),
        Outcome::Done { stage } => format!(
            "{}: the last stage ({stage}) passed: py3 serves everything; retire py2\n",
            config.plan
        ),
        Outcome::RolledBack { stage, .. } => format!(
            "{}: py3 was rolled back at stage {stage}: fix it, then `canaryc promote --restart`\n",
            config.plan
        ),
    }
}

fn report(format: Format, outcome: &Outcome, config: &Config) {
    match format {
        Format::Human => super::print_stdout(&human(outcome, config)),
        Format::Json => {
            let mut doc = serde_json::to_value(outcome).unwrap_or_default();
            doc["plan"] = serde_json::json!(config.plan);
            super::print_stdout(&(doc.to_string() + "\n"));
        }
    }
}

pub(crate) fn run(args: &Args) -> u8 {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            super::print_stderr(&format!("canaryc promote: {e}\n"));
            return exit::USAGE;
        }
    };
    loop {
        let code = match promote_once(args, &config) {
            Ok(outcome) => {
                report(args.format, &outcome, &config);
                outcome.exit_code()
            }
            // Prometheus or HAProxy unreachable, a damaged state file, an early --approve:
            // nothing changed, and the next run tries again.
            Err(e) => {
                super::print_stderr(&format!("canaryc promote: {e}\n"));
                exit::PROBLEMS
            }
        };
        match args.every {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs)),
            None => return code,
        }
    }
}

fn rollback_services(args: &RollbackArgs, config: &Config) -> Result<Vec<String>, String> {
    match &args.service {
        Some(s) if !s.is_empty() => {
            if !config.services.contains(s) {
                return Err(format!(
                    "`{s}` is not a service of {} ({})",
                    config.plan,
                    config.services.join(", ")
                ));
            }
            Ok(vec![s.clone()])
        }
        _ => Ok(config.services.clone()),
    }
}

pub(crate) fn run_rollback(args: &RollbackArgs) -> u8 {
    let loaded =
        load_config(&args.config).and_then(|c| rollback_services(args, &c).map(|s| (c, s)));
    let (config, services) = match loaded {
        Ok(x) => x,
        Err(e) => {
            super::print_stderr(&format!("canaryc rollback: {e}\n"));
            return exit::USAGE;
        }
    };
    let commands: Vec<String> = services
        .iter()
        .flat_map(|s| haproxy::rollback(s, config.haproxy.weight_total))
        .collect();
    // The lock keeps a promote run from setting a weight between these commands and the state
    // that records them. A rollback goes ahead without it rather than wait: nothing promote
    // does takes py3 out of maintenance.
    let lock = lock(&config);
    if let Err(e) = haproxy_apply(&config, &commands) {
        super::print_stderr(&format!("canaryc rollback: {e}\n"));
        return exit::PROBLEMS;
    }
    // Tell promote, so it does not move py3 forward again on its own.
    let now = now();
    let mut state = load_state(&config)
        .ok()
        .flatten()
        .unwrap_or_else(|| State::new(&config.plan, 0, now));
    state.rolled_back = Some(RolledBack {
        at: now,
        service: args.service.clone().filter(|s| !s.is_empty()),
    });
    let saved = write_atomically(&config.state_file, &state.to_json());
    drop(lock);
    match args.format {
        Format::Human => {
            for s in &services {
                super::print_stdout(&format!("rolled back {s}: py3 weight 0, maintenance\n"));
            }
        }
        Format::Json => super::print_stdout(
            &(serde_json::json!({ "plan": config.plan, "status": "rolled-back", "services": services })
                .to_string()
                + "\n"),
        ),
    }
    if let Err(e) = saved {
        super::print_stderr(&format!("canaryc rollback: rolled back, but {e}\n"));
        return exit::PROBLEMS;
    }
    exit::OK
}
