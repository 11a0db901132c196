//! The admin listener's `/metrics`, in the Prometheus text format.
//!
//! `canary_compared_responses_total{service,result}` is what the generated divergence alert and
//! dashboard read (src/emit/metrics.rs, `Source::comparisons`): they select `service="NAME"`
//! and `result="diverged"`, and `sum by (service)` over every result for the total. Per-endpoint
//! counts have their own name, `canary_endpoint_compared_responses_total`, so that sum never
//! counts a request twice. Every result series is exported from the start, at 0, so `rate()`
//! and `increase()` see the first divergence.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::stats::{Outcome, Stats};

/// Why a comparison was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The queue was full: the copies are slower than the traffic.
    QueueFull,
    /// A request or response body was larger than `max_body`.
    TooLarge,
    /// Holding the bodies would pass `max_buffered`.
    Memory,
    /// The client went away before py2's response was complete.
    Incomplete,
    /// The comparator was shutting down.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::TooLarge,
        DropReason::Memory,
        DropReason::Incomplete,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::TooLarge => "too_large",
            DropReason::Memory => "memory",
            DropReason::Incomplete => "incomplete",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// The copies mirrored requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Secondary,
    Candidate,
}

/// Why a copy gave no answer to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorError {
    Timeout,
    Connect,
    /// Reset or closed mid-response, or a malformed response.
    Io,
    TooLarge,
}

impl MirrorError {
    pub const ALL: [MirrorError; 4] = [
        MirrorError::Timeout,
        MirrorError::Connect,
        MirrorError::Io,
        MirrorError::TooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MirrorError::Timeout => "timeout",
            MirrorError::Connect => "connect",
            MirrorError::Io => "io",
            MirrorError::TooLarge => "too_large",
        }
    }
}

/// Counters outside the comparison statistics, updated without a lock.
#[derive(Debug, Default)]
pub struct Counters {
    pub dropped: [AtomicU64; 5],
    /// By copy (secondary, candidate), then by [`MirrorError::ALL`].
    pub mirror_errors: [[AtomicU64; 4]; 2],
    /// Requests proxied to py2: not mirrored, mirrored.
    pub requests: [AtomicU64; 2],
    /// Requests py2 did not answer (the client got a 502).
    pub primary_errors: AtomicU64,
}

impl Counters {
    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn mirror_error(&self, copy: Copy, error: MirrorError) {
        self.mirror_errors[copy as usize][error as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn request(&self, mirrored: bool) {
        self.requests[usize::from(mirrored)].fetch_add(1, Ordering::Relaxed);
    }
}

/// Point-in-time values of the queue and the memory bound.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub queue_capacity: u64,
    pub concurrency: u64,
    /// Comparisons accepted and not finished: queued, waiting for a worker, or running.
    pub pending: u64,
    pub in_flight: u64,
    pub buffered_bytes: u64,
    pub buffered_limit: u64,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(self.out, "{name}{{{}}} {value}", labels.join(","));
    }
}

pub fn render(service: &str, stats: &Stats, counters: &Counters, gauges: Gauges) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    let s = ("service", service);
    let totals = stats.totals();

    let name = "canary_compared_responses_total";
    f.head(name, "counter", "Mirrored requests by how their comparison with py2 ended: same; diverged (py3 differs where the two py2 copies agree); noise (py3 differs only where the py2 copies differ too); error (a copy did not answer); dropped (not compared, to protect clients and memory).");
    for o in Outcome::ALL {
        f.sample(name, &[s, ("result", o.as_str())], totals[o as usize]);
    }

    let name = "canary_endpoint_compared_responses_total";
    f.head(name, "counter", "canary_compared_responses_total per endpoint: method and normalised path (`GET /items/{id}`) or the plan's endpoint pattern.");
    for (endpoint, e) in &stats.endpoints {
        for o in Outcome::ALL {
            f.sample(
                name,
                &[s, ("endpoint", endpoint), ("result", o.as_str())],
                e.count(o),
            );
        }
    }

    let name = "canary_endpoint_diverging_fields";
    f.head(
        name,
        "gauge",
        "Fields of an endpoint that diverge now by Diffy's rule; /report names them.",
    );
    for (endpoint, e) in &stats.endpoints {
        let n = e
            .fields
            .values()
            .filter(|fs| stats.field_diverges(e, fs))
            .count();
        f.sample(name, &[s, ("endpoint", endpoint)], n as u64);
    }

    let name = "canary_compare_dropped_total";
    f.head(
        name,
        "counter",
        "Comparisons dropped, by reason: queue_full, too_large, memory, incomplete, shutdown.",
    );
    for r in DropReason::ALL {
        f.sample(
            name,
            &[s, ("reason", r.as_str())],
            counters.dropped[r as usize].load(Ordering::Relaxed),
        );
    }

    let name = "canary_compare_mirror_errors_total";
    f.head(
        name,
        "counter",
        "Mirrored requests a copy did not answer, by copy and reason.",
    );
    for (copy, label) in [
        (Copy::Secondary, "secondary"),
        (Copy::Candidate, "candidate"),
    ] {
        for e in MirrorError::ALL {
            let v = counters.mirror_errors[copy as usize][e as usize].load(Ordering::Relaxed);
            f.sample(name, &[s, ("copy", label), ("reason", e.as_str())], v);
        }
    }

    let name = "canary_compare_requests_total";
    f.head(name, "counter", "Requests proxied to py2, by whether they were mirrored (only GET, HEAD, OPTIONS and the methods the plan allows are).");
    for (i, label) in ["false", "true"].iter().enumerate() {
        f.sample(
            name,
            &[s, ("mirrored", label)],
            counters.requests[i].load(Ordering::Relaxed),
        );
    }

    let name = "canary_compare_primary_errors_total";
    f.head(
        name,
        "counter",
        "Requests py2 did not answer; the client got 502 Bad Gateway.",
    );
    f.sample(name, &[s], counters.primary_errors.load(Ordering::Relaxed));

    for (name, help, value) in [
        (
            "canary_compare_queue_capacity",
            "Comparisons that may wait for a worker.",
            gauges.queue_capacity,
        ),
        (
            "canary_compare_concurrency",
            "Comparisons that may run at once.",
            gauges.concurrency,
        ),
        (
            "canary_compare_pending",
            "Comparisons accepted and not finished: queued or running.",
            gauges.pending,
        ),
        (
            "canary_compare_in_flight",
            "Comparisons running.",
            gauges.in_flight,
        ),
        (
            "canary_compare_buffered_bytes",
            "Bytes of bodies held for comparisons.",
            gauges.buffered_bytes,
        ),
        (
            "canary_compare_buffered_limit_bytes",
            "The bound on canary_compare_buffered_bytes (max_buffered).",
            gauges.buffered_limit,
        ),
    ] {
        f.head(name, "gauge", help);
        f.sample(name, &[s], value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::noise::Thresholds;

    #[test]
    fn every_result_is_exported_from_the_start() {
        let stats = Stats::new(Thresholds::default(), 10);
        let text = render("web", &stats, &Counters::default(), Gauges::default());
        for r in ["same", "diverged", "noise", "error", "dropped"] {
            assert!(
                text.contains(&format!(
                    "canary_compared_responses_total{{service=\"web\",result=\"{r}\"}} 0\n"
                )),
                "{r}"
            );
        }
    }

    #[test]
    fn labels_are_escaped() {
        let mut stats = Stats::new(Thresholds::default(), 10);
        stats.record("GET /a\"b\\c", Outcome::Dropped);
        let text = render("web", &stats, &Counters::default(), Gauges::default());
        assert!(
            text.contains(r#"endpoint="GET /a\"b\\c",result="dropped"} 1"#),
            "{text}"
        );
    }
}
