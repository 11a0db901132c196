//! `canaryc compare`: run the response comparator (src/compare/) with settings from the flags
//! and, when given, the plan's `compare { }` section. Flags win over the plan.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::{Env, exit, print_stderr};
use crate::compare::{Bound, Config, Upstream};
use crate::diag::render;
use crate::model::Compare;
use crate::source::{SourceMap, Spanned};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where clients connect: HOST:PORT, or :PORT for every interface (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    listen: String,

    /// py2, the copy clients are answered from: http://HOST:PORT[/prefix].
    #[arg(long, value_name = "URL")]
    primary: String,

    /// A second py2 copy. What it and the primary disagree on is noise, never a divergence.
    #[arg(long, value_name = "URL")]
    secondary: String,

    /// py3, the copy being judged.
    #[arg(long, value_name = "URL")]
    candidate: String,

    /// Where /metrics and /report are served, apart from the app's own paths.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    admin: String,

    /// A plan whose `compare { }` section sets endpoints, ignore rules and limits, and whose
    /// service names the metrics.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,

    /// The `service` label of the metrics: the plan's service name, which the generated alerts
    /// select [default: the plan's service, or "app" without a plan].
    #[arg(long, value_name = "NAME")]
    service: Option<String>,

    /// Comparisons that may wait; beyond this they are dropped [default: plan, or 1000].
    #[arg(long, value_name = "N")]
    queue: Option<u32>,

    /// Comparisons that may run at once [default: plan, or 16].
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,

    /// The share of mirrorable requests compared, in percent, e.g. 10 (every tenth)
    /// [default: the plan's `sample`, or 100].
    #[arg(long, value_name = "PERCENT", value_parser = parse_sample)]
    sample: Option<f64>,

    /// How long the secondary and the candidate may take to answer, e.g. 5s or 800ms
    /// [default: plan, or 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// On SIGTERM or SIGINT, how long to wait for requests, then comparisons, to finish.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    grace: Duration,
}

pub(crate) const LONG_ABOUT: &str = "\
A Diffy-style comparator for the py2 -> py3 cutover, as an HTTP proxy. Put it where clients reach \
py2. Every request goes to py2 (the primary) and py2's response goes back to the client unchanged \
and at py2's pace. Off the client's path, the same request goes to a second py2 copy (the \
secondary) and to py3 (the candidate), and py3's response is compared with py2's: status, selected \
headers, and the body, field by field for JSON ($.items[3].price) and by line otherwise.

What the two py2 copies disagree on (timestamps, request ids, nonces) is noise, learnt per \
endpoint and field: a field is a divergence only when py3 differs there clearly more often than \
py2 differs from itself (Diffy's rule: raw > noise, relative difference > 20%, absolute > 0.03%). \
Requests are grouped by endpoint: method and path with ids replaced (/items/123 and /items/456 \
are GET /items/{id}), or the plan's endpoint patterns.

Only GET, HEAD and OPTIONS are mirrored, unless the plan's compare section allows a method for an \
endpoint: a mirrored write runs three times. Mirroring is bounded by a queue and a concurrency \
limit; when py3 is slow or down, comparisons are dropped (counted), never the client's request.

The admin address serves /metrics (canary_compared_responses_total{service,result}, which the \
divergence alert `canaryc build` generates reads, plus per-endpoint counts) and /report (the top \
diverging endpoints and fields with a sample request and responses each, secrets redacted; \
?format=text for people). SIGTERM or SIGINT shuts down gracefully.

Exit codes: 0 after a clean shutdown, 1 when the plan has errors, 2 on bad flags or an address \
that cannot be bound. docs/compare.md has the details.";

pub(crate) const AFTER_HELP: &str = "\
Examples:
  # py2 on :8001 and :8002, py3 on :8003; clients now use :8000
  canaryc compare --listen :8000 --primary http://127.0.0.1:8001 \\
      --secondary http://127.0.0.1:8002 --candidate http://127.0.0.1:8003

  # endpoints, ignore rules and limits from the plan; metrics labelled with its service
  canaryc compare --plan canary.plan --listen :8000 --admin 127.0.0.1:9464 \\
      --primary http://py2-a:8000 --secondary http://py2-b:8000 --candidate http://py3:8000

  curl -s localhost:9464/report?format=text     # what diverges, with samples
  curl -s localhost:9464/metrics | grep canary_compared_responses_total";

/// `5s`, `800ms`, `2m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write 5s, 800ms, 2m or 1h"))?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        _ => return Err(format!("`{text}` has no unit: write 5s, 800ms, 2m or 1h")),
    };
    if ms == 0 {
        return Err("a duration of 0 leaves no time at all".into());
    }
    Ok(Duration::from_millis(ms))
}

/// `HOST:PORT`, `:PORT` (every interface) or `PORT`.
fn parse_addr(text: &str, flag: &str) -> Result<SocketAddr, String> {
    let full = if let Some(port) = text.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else if text.bytes().all(|b| b.is_ascii_digit()) {
        format!("0.0.0.0:{text}")
    } else {
        text.to_string()
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--{flag} `{text}` is not an address: write HOST:PORT or :PORT"))
}

pub(crate) fn run(args: &Args, env: &Env) -> u8 {
    let mut compare = Compare::default();
    let mut service = None;
    if let Some(path) = &args.plan {
        let mut sources = SourceMap::new();
        let loaded = match super::load::load(path, env, &mut sources, false) {
            Ok(loaded) => loaded,
            Err(message) => {
                print_stderr(&format!("error: {message}\n"));
                return exit::USAGE;
            }
        };
        if !loaded.diagnostics.is_empty() {
            print_stderr(&render::human(
                &loaded.diagnostics,
                &sources,
                env.style,
                100,
            ));
        }
        let Some(plan) = loaded.plan else {
            print_stderr(
                "error: the plan has errors; fix them (`canaryc check`) before comparing\n",
            );
            return exit::PROBLEMS;
        };
        compare = plan.compare.unwrap_or_default();
        let names: Vec<&str> = plan
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .collect();
        service = match (&args.service, names.as_slice()) {
            (Some(s), _) if names.contains(&s.as_str()) => Some(s.clone()),
            (Some(s), _) => {
                print_stderr(&format!(
                    "error: --service `{s}` is not a service of the plan; its services are {}\n",
                    names.join(", ")
                ));
                return exit::USAGE;
            }
            (None, [one]) => Some((*one).to_string()),
            (None, _) => {
                print_stderr(&format!(
                    "error: the plan has several services ({}); say which this comparator is in front of with --service\n",
                    names.join(", ")
                ));
                return exit::USAGE;
            }
        };
    }
    let service = service
        .or_else(|| args.service.clone())
        .unwrap_or_else(|| "app".to_string());
    if let Some(n) = args.queue {
        compare.queue = Spanned::new(n.max(1), Default::default());
    }
    if let Some(n) = args.concurrency {
        compare.concurrency = Spanned::new(n.max(1), Default::default());
    }
    if let Some(p) = args.sample {
        compare.sample = Spanned::new(p, Default::default());
    }
    if let Some(t) = args.timeout {
        compare.timeout = Spanned::new(
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX),
            Default::default(),
        );
    }
    let config = match config(args, service, compare) {
        Ok(c) => c,
        Err(message) => {
            print_stderr(&format!("error: {message}\n"));
            return exit::USAGE;
        }
    };
    let describe = startup_message(&config);
    let result = crate::compare::serve(config, |bound: Bound| {
        print_stderr(&format!(
            "canaryc compare: listening on http://{} (proxy), admin on http://{} (/metrics, /report)\n{describe}",
            bound.proxy, bound.admin
        ));
    });
    match result {
        Ok(totals) => {
            print_stderr(&format!(
                "canaryc compare: stopped; {} same, {} diverged, {} noise, {} errors, {} dropped\n",
                totals[0], totals[1], totals[2], totals[3], totals[4]
            ));
            exit::OK
        }
        Err(message) => {
            print_stderr(&format!("error: {message}\n"));
            exit::USAGE
        }
    }
}

fn config(args: &Args, service: String, compare: Compare) -> Result<Config, String> {
    let upstream =
        |text: &str, flag: &str| Upstream::parse(text).map_err(|e| format!("--{flag}: {e}"));
    Ok(Config {
        service,
        listen: parse_addr(&args.listen, "listen")?,
        admin: parse_addr(&args.admin, "admin")?,
        primary: upstream(&args.primary, "primary")?,
        secondary: upstream(&args.secondary, "secondary")?,
        candidate: upstream(&args.candidate, "candidate")?,
        compare,
        grace: args.grace,
    })
}

fn startup_message(config: &Config) -> String {
    let c = &config.compare;
    let rules = crate::compare::rules::RuleTable::new(c);
    let extra = rules.extra_methods();
    let methods = if extra.is_empty() {
        "GET, HEAD, OPTIONS".to_string()
    } else {
        format!(
            "GET, HEAD, OPTIONS (and {} where the plan allows)",
            extra.join(", ")
        )
    };
    let methods = if c.sample.value < 100.0 {
        format!(
            "{}% of {methods}",
            crate::check::number_text(c.sample.value)
        )
    } else {
        methods
    };
    format!(
        "  primary {} (clients are answered from it)\n  mirroring {methods} to secondary {} and candidate {}\n  queue {}, concurrency {}, timeout {}ms, metrics labelled service=\"{}\"\n",
        config.primary.url,
        config.secondary.url,
        config.candidate.url,
        c.queue.value,
        c.concurrency.value,
        c.timeout.value,
        config.service
    )
}

/// `--sample 10` or `--sample 10%`: above 0, at most 100.
fn parse_sample(text: &str) -> Result<f64, String> {
    let p: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage (e.g. 10 or 10%)"))?;
    if p > 0.0 && p <= 100.0 {
        Ok(p)
    } else {
        Err(format!(
            "`{text}`: the share compared must be above 0 and at most 100"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_addresses() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("800ms"), Ok(Duration::from_millis(800)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(
            parse_addr(":8000", "listen").unwrap(),
            "0.0.0.0:8000".parse().unwrap()
        );
        assert_eq!(
            parse_addr("127.0.0.1:0", "listen").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert!(parse_addr("nowhere", "listen").is_err());
    }
}
