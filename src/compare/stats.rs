//! What the comparator has learnt: per endpoint, how each comparison ended, and per field, how
//! often py3 and the second py2 copy differed from py2 there (the counts Diffy's rule reads),
//! with an example of the values and one sample request/response pair for diverging fields.
//!
//! Every table is bounded: endpoints beyond the plan's `max_endpoints` are counted as
//! `other`, fields beyond [`MAX_FIELDS`] per endpoint as `(other fields)`, and samples stop
//! being taken once they hold [`SAMPLE_BUDGET`] bytes. Memory stays flat however long it runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::diff::Difference;
use super::noise::{Thresholds, diverges};
use super::sample::Sample;

/// How one mirrored request ended: the `result` label of `canary_compared_responses_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// py3 answered exactly as py2 did (after ignore rules).
    Same,
    /// py3 differed in a field where py2 does not differ from itself as often.
    Diverged,
    /// py3 differed only where the second py2 copy differs too (timestamps, ids).
    Noise,
    /// A copy failed to answer (refused, reset, timed out), so nothing could be compared.
    Error,
    /// Not compared to protect the client path and memory: the queue was full, the body too
    /// large, the memory bound reached, or the client went away mid-response.
    Dropped,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Same,
        Outcome::Diverged,
        Outcome::Noise,
        Outcome::Error,
        Outcome::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Same => "same",
            Outcome::Diverged => "diverged",
            Outcome::Noise => "noise",
            Outcome::Error => "error",
            Outcome::Dropped => "dropped",
        }
    }
}

/// Fields tracked per endpoint.
pub const MAX_FIELDS: usize = 256;
pub const OTHER_FIELDS: &str = "(other fields)";
pub const OTHER_ENDPOINTS: &str = "other";
/// Bytes of samples kept in all.
pub const SAMPLE_BUDGET: usize = 8 << 20;

#[derive(Debug, Clone, Default)]
pub struct FieldStats {
    pub raw: u64,
    pub noise: u64,
    /// The first values seen differing: py2's and py3's.
    pub example: Option<(String, String)>,
    /// The first values seen differing between the two py2 copies.
    pub noise_example: Option<(String, String)>,
    pub sample: Option<Arc<Sample>>,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointStats {
    /// By outcome, in [`Outcome::ALL`] order.
    pub outcomes: [u64; 5],
    pub fields: BTreeMap<String, FieldStats>,
}

impl EndpointStats {
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize]
    }

    /// Requests compared to the end: the `total` of Diffy's rule.
    pub fn compared(&self) -> u64 {
        self.count(Outcome::Same) + self.count(Outcome::Diverged) + self.count(Outcome::Noise)
    }

    /// The stats of a field, under its own name or, once the table is full, `(other fields)`.
    fn field(&mut self, name: &str) -> (String, &mut FieldStats) {
        let key = if self.fields.contains_key(name) || self.fields.len() < MAX_FIELDS {
            name
        } else {
            OTHER_FIELDS
        };
        (
            key.to_string(),
            self.fields.entry(key.to_string()).or_default(),
        )
    }
}

#[derive(Debug)]
pub struct Stats {
    pub endpoints: BTreeMap<String, EndpointStats>,
    pub thresholds: Thresholds,
    max_endpoints: usize,
    sample_bytes: usize,
}

impl Stats {
    pub fn new(thresholds: Thresholds, max_endpoints: usize) -> Stats {
        Stats {
            endpoints: BTreeMap::new(),
            thresholds,
            max_endpoints,
            sample_bytes: 0,
        }
    }

    fn endpoint(&mut self, name: &str) -> &mut EndpointStats {
        let key = if self.endpoints.contains_key(name) || self.endpoints.len() < self.max_endpoints
        {
            name
        } else {
            OTHER_ENDPOINTS
        };
        self.endpoints.entry(key.to_string()).or_default()
    }

    /// Counts an outcome that involved no comparison (error, dropped).
    pub fn record(&mut self, endpoint: &str, outcome: Outcome) {
        self.endpoint(endpoint).outcomes[outcome as usize] += 1;
    }

    /// Records one comparison: `raw` are py3's differences from py2, `noise` the second py2
    /// copy's. Returns the outcome; `sample` is called at most once, when a diverging field
    /// still lacks a sample and the sample budget allows.
    pub fn record_comparison(
        &mut self,
        endpoint: &str,
        raw: &[Difference],
        noise: &[Difference],
        sample: impl FnOnce() -> Sample,
    ) -> Outcome {
        let thresholds = self.thresholds;
        let budget_left = SAMPLE_BUDGET.saturating_sub(self.sample_bytes);
        let mut sampled = 0;
        let e = self.endpoint(endpoint);
        // The rule's total includes this request.
        let total = e.compared() + 1;
        for d in noise {
            let (_, f) = e.field(&d.field);
            f.noise += 1;
            f.noise_example
                .get_or_insert_with(|| (d.expected.clone(), d.actual.clone()));
        }
        let mut any_diverging = false;
        // Diverging fields that have no sample yet.
        let mut unsampled: Vec<String> = Vec::new();
        for d in raw {
            let (key, f) = e.field(&d.field);
            f.raw += 1;
            f.example
                .get_or_insert_with(|| (d.expected.clone(), d.actual.clone()));
            if diverges(f.raw, f.noise, total, thresholds) {
                any_diverging = true;
                if f.sample.is_none() {
                    unsampled.push(key);
                }
            }
        }
        let outcome = match (raw.is_empty(), any_diverging) {
            (true, _) => Outcome::Same,
            (false, false) => Outcome::Noise,
            (false, true) => Outcome::Diverged,
        };
        if !unsampled.is_empty() && budget_left > 0 {
            let taken = Arc::new(sample());
            let size = taken.size();
            if size <= budget_left {
                for key in &unsampled {
                    if let Some(f) = e.fields.get_mut(key) {
                        f.sample = Some(taken.clone());
                    }
                }
                sampled = size;
            }
        }
        e.outcomes[outcome as usize] += 1;
        self.sample_bytes += sampled;
        outcome
    }

    /// Outcomes over every endpoint.
    pub fn totals(&self) -> [u64; 5] {
        let mut out = [0; 5];
        for e in self.endpoints.values() {
            for (o, n) in out.iter_mut().zip(e.outcomes) {
                *o += n;
            }
        }
        out
    }

    /// Whether a field of an endpoint diverges now, with the endpoint's current counts.
    pub fn field_diverges(&self, e: &EndpointStats, f: &FieldStats) -> bool {
        diverges(f.raw, f.noise, e.compared(), self.thresholds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::sample::{SampleRequest, SampleResponse};

    fn d(field: &str) -> Difference {
        Difference {
            field: field.into(),
            expected: "a".into(),
            actual: "b".into(),
        }
    }

    fn sample() -> Sample {
        let r = SampleResponse::new(&Default::default());
        Sample {
            request: SampleRequest::new("GET", "/", &[], b""),
            primary: r.clone(),
            secondary: r.clone(),
            candidate: r,
        }
    }

    #[test]
    fn timestamps_are_noise_and_real_changes_diverge() {
        let mut s = Stats::new(Thresholds::default(), 10);
        for _ in 0..50 {
            assert_eq!(
                s.record_comparison("GET /a", &[d("$.ts")], &[d("$.ts")], sample),
                Outcome::Noise
            );
            assert_eq!(
                s.record_comparison("GET /b", &[d("$.ts"), d("$.value")], &[d("$.ts")], sample),
                Outcome::Diverged
            );
            assert_eq!(
                s.record_comparison("GET /c", &[], &[d("$.ts")], sample),
                Outcome::Same
            );
        }
        let b = &s.endpoints["GET /b"];
        assert_eq!(b.count(Outcome::Diverged), 50);
        assert!(b.fields["$.value"].sample.is_some());
        assert!(b.fields["$.ts"].sample.is_none());
        assert!(s.field_diverges(b, &b.fields["$.value"]));
        assert!(!s.field_diverges(b, &b.fields["$.ts"]));
        assert_eq!(s.endpoints["GET /c"].fields["$.ts"].noise, 50);
        assert_eq!(s.totals(), [50, 50, 50, 0, 0]);
    }

    #[test]
    fn tables_are_bounded() {
        let mut s = Stats::new(Thresholds::default(), 2);
        for i in 0..10 {
            s.record(&format!("GET /{i}"), Outcome::Dropped);
        }
        assert_eq!(s.endpoints.len(), 3);
        assert_eq!(s.endpoints[OTHER_ENDPOINTS].count(Outcome::Dropped), 8);
        let many: Vec<Difference> = (0..1000).map(|i| d(&format!("$.f{i}"))).collect();
        s.record_comparison("GET /0", &many[..64], &[], sample);
        for chunk in many.chunks(64) {
            s.record_comparison("GET /0", chunk, &[], sample);
        }
        assert_eq!(s.endpoints["GET /0"].fields.len(), MAX_FIELDS + 1);
    }
}
