//! `canaryc promote` and `canaryc rollback`: the I/O around `promote::decide`. Reads
//! `canary-promote.json` and the state file, asks Prometheus's HTTP API and HAProxy's runtime
//! API, writes the state back atomically.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;

use super::exit;
use crate::promote::config::Config;
use crate::promote::decide::{self, Due, Outcome, Verdict};
use crate::promote::state::{RolledBack, State};
use crate::promote::{haproxy, http};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle's canary-promote.json.
    #[arg(long, default_value = "canary-promote.json", value_name = "FILE")]
    config: PathBuf,
    /// Open the approval gate of the stage reached (a person signs off), then promote if due.
    #[arg(long)]
    approve: bool,
    /// After a rollback and a fixed py3: give py3 the stage's weight again and restart its hold.
    #[arg(long, conflicts_with_all = ["approve", "status"])]
    restart: bool,
    /// Show the stage reached and what promote would do now (it queries Prometheus); change nothing.
    #[arg(long)]
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
pub struct RollbackArgs {
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

/// Writes next to the file and renames: a crash leaves the old state or the new, never half.
fn write_atomically(path: &str, text: &str) -> Result<(), String> {
    let path = Path::new(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
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

fn prometheus_query(url: &str, query: &str) -> Result<Vec<http::Sample>, String> {
    let (host, prefix) =
        http::split_url(url).ok_or_else(|| format!("`{url}` is not an http:// address"))?;
    let io = |e: std::io::Error| format!("Prometheus at {url}: {e}");
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)
        .map_err(io)?
        .next()
        .ok_or_else(|| format!("Prometheus at {url}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
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

fn set_weights(config: &Config, traffic: f64) -> Result<(), String> {
    let commands: Vec<String> = config
        .services
        .iter()
        .flat_map(|s| haproxy::set_stage(s, traffic, config.haproxy.weight_total))
        .collect();
    haproxy_apply(config, &commands)
}

/// One promote run: the outcome, having acted on it unless `dry_run`.
fn promote_once(args: &Args, config: &Config) -> Result<Outcome, String> {
    let now = now();
    let mut state = load_state(config)?;
    // py3 in maintenance is a rollback (the receiver's, or a person's with canary-rollback.sh),
    // whatever the state file says: starting or advancing now would undo it.
    let unrecorded = state.as_ref().is_none_or(|s| s.rolled_back.is_none());
    if unrecorded && !args.restart {
        if let Some(service) = rolled_back_in_haproxy(config)? {
            let mut s = state
                .clone()
                .unwrap_or_else(|| State::new(&config.plan, 0, now));
            s.rolled_back = Some(RolledBack {
                at: now,
                service: Some(service),
            });
            if !args.dry_run {
                write_atomically(&config.state_file, &s.to_json())?;
            }
            state = Some(s);
        }
    }
    let stage_name = |i: usize| config.stages[i.min(config.stages.len() - 1)].name.clone();
    if args.restart {
        let Some(mut s) = state else {
            return Err("nothing to restart: no stage has started (run `canaryc promote`)".into());
        };
        s.rolled_back = None;
        s.done = false;
        s.entered_at = now;
        let stage = &config.stages[s.stage.min(config.stages.len() - 1)];
        if !args.dry_run {
            set_weights(config, stage.traffic)?;
            write_atomically(&config.state_file, &s.to_json())?;
        }
        return Ok(Outcome::Started {
            stage: stage.name.clone(),
            traffic: stage.traffic,
        });
    }
    let outcome_state = match decide::due(config, state.as_ref(), now) {
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
        Due::RolledBack => {
            let s = state.as_ref().expect("rolled back implies a state");
            (
                Outcome::RolledBack {
                    stage: stage_name(s.stage),
                    at: s.rolled_back.as_ref().map_or(0, |r| r.at),
                },
                None,
            )
        }
        Due::Done => (
            Outcome::Done {
                stage: stage_name(config.stages.len() - 1),
            },
            None,
        ),
        Due::Hold { remaining_secs } => {
            let mut s = state.clone().expect("a hold implies a state");
            let approved = args.approve && s.approved.is_none();
            if approved {
                s.approved = Some(stage_name(s.stage));
            }
            (
                Outcome::Holding {
                    stage: stage_name(s.stage),
                    remaining_secs,
                },
                approved.then_some(s),
            )
        }
        Due::Judge => {
            let s = state.clone().expect("judging implies a state");
            let stage = &config.stages[s.stage.min(config.stages.len() - 1)];
            let mut verdicts: Vec<Verdict> = Vec::new();
            for check in &stage.checks {
                let samples = prometheus_query(&config.prometheus, &check.query)?;
                verdicts.push(decide::verdict(check, &samples));
            }
            let (outcome, next) = decide::after_judging(config, &s, &verdicts, args.approve, now);
            (outcome, Some(next))
        }
    };
    let (outcome, next) = outcome_state;
    if args.status || args.dry_run {
        return Ok(outcome);
    }
    if let Some(traffic) = outcome.set_stage() {
        set_weights(config, traffic)?;
    }
    if let Some(next) = next {
        write_atomically(&config.state_file, &next.to_json())?;
    }
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
            Err(e) => {
                super::print_stderr(&format!("canaryc promote: {e}\n"));
                exit::USAGE
            }
        };
        match args.every {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs)),
            None => return code,
        }
    }
}

pub(crate) fn run_rollback(args: &RollbackArgs) -> u8 {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(e) => {
            super::print_stderr(&format!("canaryc rollback: {e}\n"));
            return exit::USAGE;
        }
    };
    let services: Vec<String> = match &args.service {
        Some(s) if !s.is_empty() => {
            if !config.services.contains(s) {
                super::print_stderr(&format!(
                    "canaryc rollback: `{s}` is not a service of {} ({})\n",
                    config.plan,
                    config.services.join(", ")
                ));
                return exit::USAGE;
            }
            vec![s.clone()]
        }
        _ => config.services.clone(),
    };
    let commands: Vec<String> = services
        .iter()
        .flat_map(|s| haproxy::rollback(s, config.haproxy.weight_total))
        .collect();
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
