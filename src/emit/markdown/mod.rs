//! The runbooks: `canary-plan.md` (architecture, what was found, hazards, runtime settings,
//! ramp-up, monitoring, the cutover step by step with exact commands, the timeline) and
//! `canary-rollback-runbook.md` (what the automatic rollback does, manual rollback at each
//! stage, one section per alert for `runbook_url`, and how to verify).
//!
//! Dates come only from the plan's `start`; without one the timeline counts days from the start,
//! so the files are the same on every day they are built.

mod detection;
mod doc;
mod host;
mod plan;
mod rollback;
mod steps;

pub(super) use plan::plan;
pub(super) use rollback::rollback_runbook;

use super::engine::docs as engine_docs;
use super::escape::markdown as md;
use super::prometheus::duration;
use crate::ir::{InfraKind, Ir, MetricsSource, Router, fmt};

fn router_name(router: Router) -> &'static str {
    match router {
        Router::Istio => "Istio VirtualService",
        Router::GatewayApi => "Gateway API HTTPRoute",
        Router::NginxIngress => "ingress-nginx canary Ingress",
        Router::Haproxy => "HAProxy",
        Router::Nginx => "nginx split_clients",
    }
}

fn infra_name(kind: InfraKind) -> &'static str {
    match kind {
        InfraKind::Kubernetes => "Kubernetes",
        InfraKind::DockerCompose => "Docker Compose",
        InfraKind::BareMetal => "bare metal (systemd)",
    }
}

fn hours(h: f64) -> String {
    if h >= 24.0 && (h / 24.0).fract() == 0.0 {
        let days = h / 24.0;
        format!(
            "{}h ({} day{})",
            fmt(h),
            fmt(days),
            if days == 1.0 { "" } else { "s" }
        )
    } else {
        format!("{}h", fmt(h))
    }
}

fn days_total(ir: &Ir) -> String {
    let days = ir.total_hours as f64 / 24.0;
    format!(
        "{} days ({} hours)",
        fmt((days * 10.0).round() / 10.0),
        ir.total_hours
    )
}

fn source_name(source: MetricsSource) -> &'static str {
    match source {
        MetricsSource::Istio => {
            "Istio telemetry (`istio_requests_total`, `istio_request_duration_milliseconds_bucket` by `destination_version`)"
        }
        MetricsSource::NginxIngress => {
            "ingress-nginx metrics (`nginx_ingress_controller_requests` and request-duration histograms, by Ingress)"
        }
        MetricsSource::Haproxy => {
            "HAProxy's Prometheus exporter (`haproxy_server_http_responses_total` by server) for traffic and errors, and the app's own `http_request_duration_seconds` histograms for latency (HAProxy keeps only averages of the last 1024 requests)"
        }
        MetricsSource::App => {
            "the service's own metrics (`http_requests_total{service,version,status}`, `http_request_duration_seconds_bucket{service,version,le}`)"
        }
    }
}

fn cause(kind: crate::ir::TriggerKind) -> &'static str {
    use crate::ir::TriggerKind as K;
    match kind {
        K::ErrorRate => {
            "py3 tracebacks: str/bytes mix-ups (`b'...'` in output, `TypeError` on concatenation), `unsupported pickle protocol` or `UnicodeDecodeError` from a shared cache, `TypeError: '<' not supported` from sorting mixed types, removed modules."
        }
        K::LatencyRatio | K::LatencyAbsolute => {
            "cold caches (a py3-only key prefix starts empty), import time on fresh images (no .pyc), threads under the new GIL, a dependency that fell back to pure Python."
        }
        K::HealthFailures => {
            "py3 instances that fail to start: import errors, a missing package in the py3 virtualenv or image, a locale error at startup (LANG)."
        }
        K::Memory | K::Cpu => {
            "py3 objects differ in size from py2's (str is larger than py2 bytes, dicts smaller): set py3's limits from a load test rather than copying py2's."
        }
        K::Divergence => {
            "responses that differ: `round()` (half to even), `/` division, `str(float)`, JSON key order, `b'...'` leaking into text."
        }
        K::RequestRateLow | K::RequestRateHigh => {
            "the split itself: the router's weights, or py3 instances dropping out of the load balancer."
        }
    }
}

// The sequential tests and the time-to-detect preview (issue 13). Self-contained: the
// statistics are decided in the IR (src/stats/, `ir.detection`); these only render them.

/// When an alert fires, for its runbook section.
fn alert_fires_when(ir: &Ir, t: &crate::ir::TriggerIr) -> String {
    if t.is_sequential() {
        let what = if t.latency.is_some() {
            "slow requests (above the histogram bucket the rules choose from py2's latency)"
        } else {
            "failures"
        };
        let (first, top) = ladder_span(ir);
        return format!(
            "Fires when a service's py3 {what} are strong evidence that `{}` holds: over any window from {first} to {top}, the evidence (`canary:*:margin` in the recording rules) exceeds what that window needs. There is no `for:` and no traffic minimum: a total failure is caught within a scrape and an evaluation, a small regression once enough requests show it. The alert stays firing while the failures that fired it are inside its windows (up to {top}): before restarting the stage with a fixed py3, wait for it to resolve or silence it in Alertmanager, or the rollback runs again.",
            t.text,
        );
    }
    format!(
        "Fires when `{}` holds for {} on a service's py3 copy (rates over {}).",
        t.text,
        duration(t.window_secs.unwrap_or(0)),
        duration(super::prometheus::rate_window(ir, t)),
    )
}

/// The shortest and longest window of the ladder.
fn ladder_span(ir: &Ir) -> (String, String) {
    let ladder = &ir.detection.ladder;
    let first = ladder.rungs.first().map_or(1, |r| r.window_secs);
    (duration(first), duration(ladder.top_secs()))
}

/// What applying the Istio routing does to the team's objects, for the step that applies it:
/// which of their VirtualServices it replaces (written back with their routes), which
/// VirtualService and DestinationRule canaryc adds, and that the team's DestinationRules stay.
/// Empty when no service's routing touches a team object.
pub(crate) fn istio_takeover(ir: &Ir) -> String {
    let name = |n: &str| md::code(n);
    let mut out = String::new();
    for s in &ir.services {
        let kube = &s.kube;
        let (theirs, ours): (Vec<_>, Vec<_>) = kube.virtual_services().partition(|v| v.team);
        let renamed_rule = kube.destination_rule != s.name;
        if theirs.is_empty() && !renamed_rule {
            continue;
        }
        let list = |vs: &[&crate::ir::VirtualServiceIr]| {
            let names: Vec<String> = vs
                .iter()
                .map(|v| match v.namespace == ir.namespace {
                    true => name(&v.name),
                    false => format!("{} (namespace {})", name(&v.name), name(&v.namespace)),
                })
                .collect();
            names.join(" and ")
        };
        let mut parts = Vec::new();
        if !theirs.is_empty() {
            let shared = theirs
                .iter()
                .flat_map(|v| &v.http)
                .filter(|r| r.is_shared())
                .count();
            let except = match shared {
                0 => String::new(),
                1 => " except the one shared with another service, which stays on py2 (CNR455)"
                    .into(),
                n => format!(
                    " except the {n} shared with other services, which stay on py2 (CNR455)"
                ),
            };
            parts.push(format!(
                "replaces the team's VirtualService{} {} with {} that keep{} the team's routes (those to other services as written, each route to {} split between py2 and py3{except})",
                if theirs.len() == 1 { "" } else { "s" },
                list(&theirs),
                if theirs.len() == 1 { "a copy" } else { "copies" },
                if theirs.len() == 1 { "s" } else { "" },
                md::code(&s.name),
            ));
        }
        if !ours.is_empty() && !theirs.is_empty() {
            parts.push(format!(
                "adds the VirtualService {} for in-mesh clients",
                list(&ours)
            ));
        }
        parts.push(if renamed_rule {
            format!(
                "adds the DestinationRule {} with the copies' subsets, under a name of its own so that the team's DestinationRule {} is not replaced (istiod merges the DestinationRules of one host)",
                name(&kube.destination_rule),
                name(&s.name)
            )
        } else {
            format!(
                "adds the DestinationRule {} with the copies' subsets",
                name(&kube.destination_rule)
            )
        });
        let last = parts.pop().unwrap_or_default();
        let parts = match parts.is_empty() {
            true => last,
            false => format!("{}; and {last}", parts.join("; ")),
        };
        out.push_str(&format!(
            " For {}, the routing applied here {parts}.",
            md::code(&s.name),
        ));
        // CNR457: the team's VirtualService in alternatives, one applied at a time.
        for v in theirs.iter().filter(|v| !v.alternatives.is_empty()) {
            let others: Vec<String> = v.alternatives.iter().map(|a| name(a)).collect();
            out.push_str(&format!(
                " The codebase defines the VirtualService {} in alternatives, of which one is applied at a time: this copy is of the one at {}, not {}; check which one the cluster has before applying it (CNR457).",
                name(&v.name),
                name(&v.defined_at),
                others.join(" or "),
            ));
        }
    }
    out
}

/// The end of a step's sentence before its commands: `:`, or `.` and a note (which starts
/// with a space) when there is one.
pub(crate) fn step_end(note: &str) -> String {
    if note.is_empty() {
        ":".to_string()
    } else {
        format!(".{note}")
    }
}
