//! The reference evaluator: what the generated recording rules and alerts compute, evaluation by
//! evaluation, in Rust. `emit::metrics` writes the same steps as PromQL; `emit::prometheus` uses
//! this to know when its planted regressions must fire, and benches/detection.rs runs it over
//! simulated traffic (and checks it against `promtool test rules` on random counter paths).
//!
//! Per evaluation, in rule order:
//!
//! 1. py2's requests and failures over the last day (the baseline window).
//! 2. Whether that day is fresh: at least half the largest baseline of the last day. A py2 that
//!    stops serving (the 100% stage) keeps the last fresh baseline, for as long as the rules
//!    keep evaluating, instead of drifting towards "no data".
//! 3. The baseline rate, `(e + 1) / (n + 1)`, latched the same way.
//! 4. For every rung of the ladder, py3's requests and failures over that window, and the
//!    evidence (restricted GLR) that py3 fails at the alternative rate rather than the null,
//!    scaled by `n2 / (n2 + n3)`, minus the rung's threshold: the margin. The scale is the
//!    baseline's own uncertainty: py2's rate is estimated from `n2` requests, and when py3's
//!    window holds as many (a day at 50%), the difference of the two estimates is twice as noisy
//!    as py3's alone. `n * KL * n2 / (n2 + n3)` is, to second order, the two-sample statistic
//!    (the score test of equal rates); for py3's short windows it is the one-sample GLR. The
//!    thresholds are the stage's, told from py3's share of requests over the share window
//!    (`stats::ladder`).
//!
//! Counts are `increase()` scaled by `(m - 1) / m` for a window of `m` scrape intervals. A
//! window of `m` intervals at a random phase holds `m` samples, `m - 1` intervals of data,
//! which `increase()` extrapolates to the whole window: by two for the shortest rung. Evidence
//! is proportional to counts, so unscaled, one unlucky interval would count double. Scaled, the
//! counts are exactly the requests scraped in those `m - 1` intervals (less, for a series born
//! inside the window, whose extrapolation stops at zero).
//! 5. The alert fires while the largest margin is above zero. No `for`, no traffic guard.

use super::binomial::{self, Alternative};
use super::effect::Effect;
use super::increase::Counter;
use super::ladder::{Ladder, TOP_SECS};

pub const DAY_MS: i64 = TOP_SECS as i64 * 1000;
const HOUR_MS: i64 = 3_600_000;

/// The request counters of one copy: successes and failures (either may not exist yet:
/// exporters create a label set when it is first used).
#[derive(Debug, Clone, Default)]
pub struct Requests<C> {
    pub ok: Option<C>,
    pub failed: Option<C>,
}

fn sum(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    values
        .into_iter()
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

/// The factor `(m - 1) / m` for a window of `m` scrape intervals (see the module's docs).
pub fn deflation(window_secs: u64, scrape_secs: u64) -> f64 {
    let m = (window_secs / scrape_secs.max(1)).max(2) as f64;
    (m - 1.0) / m
}

/// `increase(c[w])` at `t_ms`, unscaled.
fn raw<C: Counter>(c: &C, t_ms: i64, window_secs: u64) -> Option<f64> {
    c.increase(t_ms - window_secs as i64 * 1000, t_ms)
}

/// `increase(c[w])` at `t_ms`, scaled by [`deflation`].
pub fn count<C: Counter>(c: &C, t_ms: i64, window_secs: u64, scrape_secs: u64) -> Option<f64> {
    raw(c, t_ms, window_secs).map(|v| v * deflation(window_secs, scrape_secs))
}

impl<C: Counter> Requests<C> {
    /// `sum by (service) (increase(all[w])) * d` and `sum ... (increase(failed[w])) * d or
    /// (all * 0)`: (failures, requests). Summed first, then scaled, as the PromQL does.
    pub fn counts(&self, t_ms: i64, window_secs: u64, scrape_secs: u64) -> Option<(f64, f64)> {
        let d = deflation(window_secs, scrape_secs);
        let c = |s: &Option<C>| s.as_ref().and_then(|c| raw(c, t_ms, window_secs));
        let failed = c(&self.failed).map(|f| f * d);
        let all = sum([c(&self.ok), c(&self.failed)])? * d;
        Some((failed.unwrap_or(all * 0.0), all))
    }
}

/// A recorded series that only this evaluator writes: for `last_over_time` and
/// `max_over_time` over its own past.
#[derive(Debug, Clone, Default)]
struct History {
    last: Option<(i64, f64)>,
    /// Times and values, values decreasing: the running maximum of a sliding window.
    maxima: std::collections::VecDeque<(i64, f64)>,
}

impl History {
    fn last_over(&self, t_ms: i64, range_ms: i64) -> Option<f64> {
        self.last
            .filter(|(at, _)| *at >= t_ms - range_ms)
            .map(|(_, v)| v)
    }

    fn max_over(&mut self, t_ms: i64, range_ms: i64) -> Option<f64> {
        while self
            .maxima
            .front()
            .is_some_and(|(at, _)| *at < t_ms - range_ms)
        {
            self.maxima.pop_front();
        }
        self.maxima.front().map(|(_, v)| *v)
    }

    fn record(&mut self, t_ms: i64, value: Option<f64>) {
        if let Some(v) = value {
            self.last = Some((t_ms, v));
            while self.maxima.back().is_some_and(|(_, m)| *m <= v) {
                self.maxima.pop_back();
            }
            self.maxima.push_back((t_ms, v));
        }
    }
}

/// `fresh or last_over_time(self[1h])`: a value that outlives its source.
#[derive(Debug, Clone, Default)]
pub struct Latch {
    history: History,
}

impl Latch {
    pub fn step(&mut self, t_ms: i64, fresh: Option<f64>) -> Option<f64> {
        let value = fresh.or_else(|| self.history.last_over(t_ms, HOUR_MS));
        self.history.record(t_ms, value);
        value
    }
}

/// Steps 1-3: whether py2's last day is a usable baseline, and its failure rate.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    requests: History,
    rate: Latch,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineNow {
    /// py2's requests over the last day, when that day is fresh.
    pub fresh: Option<f64>,
    /// The requests the baseline was measured on (fresh or kept).
    pub requests: Option<f64>,
    pub rate: Option<f64>,
}

impl Baseline {
    /// `counts`: py2's (failures, requests) over the last day.
    pub fn step(&mut self, t_ms: i64, counts: Option<(f64, f64)>) -> BaselineNow {
        let n2 = counts.map(|(_, n)| n);
        let largest = self.requests.max_over(t_ms, DAY_MS);
        let fresh = match (n2, largest) {
            (Some(n), Some(m)) => (n >= 0.5 * m).then_some(n),
            (Some(n), None) => Some(n),
            (None, _) => None,
        };
        let latched = fresh.or_else(|| self.requests.last_over(t_ms, HOUR_MS));
        self.requests.record(t_ms, latched);
        let rate = self.rate.step(
            t_ms,
            fresh
                .and(counts)
                .map(|(e, n)| binomial::baseline_rate(e, n)),
        );
        BaselineNow {
            fresh,
            requests: latched,
            rate,
        }
    }
}

/// One sequential test over the ladder: its rungs and what its threshold means.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderTest {
    pub ladder: Ladder,
    pub effect: Effect,
}

/// The margins of one evaluation, one per rung (`None`: no data in that window).
#[derive(Debug, Clone, PartialEq)]
pub struct Margins {
    pub margins: Vec<Option<f64>>,
}

impl Margins {
    pub fn max(&self) -> Option<f64> {
        self.margins
            .iter()
            .flatten()
            .copied()
            .fold(None, |acc: Option<f64>, m| {
                Some(acc.map_or(m, |a| a.max(m)))
            })
    }

    /// Whether the alert fires: `max by (service) (margin) > 0`.
    pub fn fires(&self) -> bool {
        self.max().is_some_and(|m| m > 0.0)
    }
}

impl LadderTest {
    /// The null and alternative rates from the baseline; an absolute bound has a null without
    /// one (half the bound).
    pub fn rates(&self, p0: Option<f64>) -> Option<(f64, f64)> {
        match (p0, self.effect) {
            (Some(p0), effect) => Some((effect.null(p0), effect.alternative(p0))),
            (None, Effect::AtLeast(bound)) => Some((bound / 2.0, bound)),
            (None, _) => None,
        }
    }

    /// Step 4: `counts(rung window)` gives py3's (failures, requests) in that window; `p0` and
    /// `n2` are the baseline's rate and the requests it was measured on; `share` py3's share
    /// of requests, which tells the stage and so the thresholds ([`Ladder::thresholds_at`]).
    pub fn margins(
        &self,
        p0: Option<f64>,
        n2: Option<f64>,
        share: Option<f64>,
        mut counts: impl FnMut(u64) -> Option<(f64, f64)>,
    ) -> Margins {
        let rates = self
            .rates(p0)
            .map(|(null, alt)| Alternative::new(null, alt));
        let thresholds = self.ladder.thresholds_at(share);
        Margins {
            margins: self
                .ladder
                .rungs
                .iter()
                .zip(thresholds)
                .map(|(rung, threshold)| {
                    let rates = rates?;
                    let n2 = n2?;
                    let (e, n) = counts(rung.window_secs)?;
                    Some(rates.evidence(e, n) * (n2 / (n2 + n)) - threshold)
                })
                .collect(),
        }
    }

    /// py3's share of the service's requests over the share window: `n3 / (n3 + n2)`, 1 when
    /// py2 has no request series, `None` when py3 has none.
    pub fn share<C: Counter>(
        &self,
        t_ms: i64,
        py2: &Requests<C>,
        py3: &Requests<C>,
    ) -> Option<f64> {
        let (w, scrape) = (self.ladder.share_window_secs, self.ladder.scrape_secs);
        let n3 = py3.counts(t_ms, w, scrape)?.1;
        Some(match py2.counts(t_ms, w, scrape) {
            Some((_, n2)) => n3 / (n3 + n2),
            None => 1.0,
        })
    }
}

/// The error-rate rollback rules, with their state between evaluations.
#[derive(Debug, Clone)]
pub struct ErrorRule {
    pub test: LadderTest,
    pub baseline: Baseline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEvaluation {
    pub baseline: BaselineNow,
    pub margins: Margins,
}

impl ErrorRule {
    pub fn new(test: LadderTest) -> Self {
        ErrorRule {
            test,
            baseline: Baseline::default(),
        }
    }

    /// One evaluation at `t_ms`. Evaluations must come in time order.
    pub fn eval<C: Counter>(
        &mut self,
        t_ms: i64,
        py2: &Requests<C>,
        py3: &Requests<C>,
    ) -> ErrorEvaluation {
        let scrape = self.test.ladder.scrape_secs;
        let baseline = self.baseline.step(t_ms, py2.counts(t_ms, TOP_SECS, scrape));
        let share = self.test.share(t_ms, py2, py3);
        let margins = self
            .test
            .margins(baseline.rate, baseline.requests, share, |w| {
                py3.counts(t_ms, w, scrape)
            });
        ErrorEvaluation { baseline, margins }
    }
}

/// A histogram's cumulative bucket counters, by upper bound (`+Inf` included), in its unit.
#[derive(Debug, Clone, Default)]
pub struct Histogram<C> {
    pub buckets: Vec<(f64, C)>,
}

impl<C: Counter> Histogram<C> {
    /// [`count`] of every bucket over a window, sorted by bound; buckets with no result left
    /// out.
    pub fn increases(&self, t_ms: i64, window_secs: u64, scrape_secs: u64) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = self
            .buckets
            .iter()
            .filter_map(|(le, c)| count(c, t_ms, window_secs, scrape_secs).map(|v| (*le, v)))
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// Prometheus 2.x `histogram_quantile` over (upper bound, cumulative count) pairs.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
        return None;
    }
    // Coalesce equal bounds, then force counts to be non-decreasing.
    let mut coalesced: Vec<(f64, f64)> = Vec::new();
    for (le, c) in b {
        match coalesced.last_mut() {
            Some(last) if last.0 == le => last.1 += c,
            _ => coalesced.push((le, c)),
        }
    }
    let mut max = f64::NEG_INFINITY;
    for bucket in &mut coalesced {
        if bucket.1 > max {
            max = bucket.1;
        } else {
            bucket.1 = max;
        }
    }
    if coalesced.len() < 2 {
        return None;
    }
    let observations = coalesced[coalesced.len() - 1].1;
    if observations == 0.0 {
        return None;
    }
    let mut rank = q * observations;
    let last = coalesced.len() - 1;
    let i = coalesced[..last].partition_point(|(_, c)| *c < rank);
    if i == last {
        return Some(coalesced[last - 1].0);
    }
    if i == 0 && coalesced[0].0 <= 0.0 {
        return Some(coalesced[0].0);
    }
    let (mut start, end, mut count) = (0.0, coalesced[i].0, coalesced[i].1);
    if i > 0 {
        start = coalesced[i - 1].0;
        count -= coalesced[i - 1].1;
        rank -= coalesced[i - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

/// Which bucket a latency test counts slow requests above.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoundChoice {
    /// `latency pQ > r x py2`: the largest bucket at or below `r` times py2's quantile that is
    /// above py2's quantile, else the smallest bucket above py2's quantile.
    TimesPy2(f64),
    /// `latency pQ > T`: the smallest bucket at or above `T` (in the histogram's unit).
    AtLeast(f64),
}

impl BoundChoice {
    /// `bounds`: the finite candidate bounds the histogram has; `q2`: py2's quantile.
    pub fn choose(self, bounds: &[f64], q2: Option<f64>) -> Option<f64> {
        let min = |it: &mut dyn Iterator<Item = f64>| {
            it.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
        };
        match self {
            BoundChoice::TimesPy2(r) => {
                let q2 = q2?;
                let limit = q2 * r;
                let eligible = bounds
                    .iter()
                    .copied()
                    .filter(|b| *b <= limit && *b > q2)
                    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
                eligible.or_else(|| min(&mut bounds.iter().copied().filter(|b| *b > q2)))
            }
            BoundChoice::AtLeast(t) => min(&mut bounds.iter().copied().filter(|b| *b >= t)),
        }
    }
}

/// The latency rollback rules: requests slower than a bucket, against py2's share there.
#[derive(Debug, Clone)]
pub struct LatencyRule {
    pub test: LadderTest,
    pub quantile: f64,
    pub choice: BoundChoice,
    /// The candidate bucket bounds canaryc knows for this source, in the histogram's unit.
    pub candidates: Vec<f64>,
    gate: Baseline,
    quantile_latch: Latch,
    share_latch: Latch,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LatencyEvaluation {
    pub py2_quantile: Option<f64>,
    pub bound: Option<f64>,
    pub py2_share: Option<f64>,
    pub margins: Margins,
}

impl LatencyRule {
    pub fn new(test: LadderTest, quantile: f64, choice: BoundChoice, candidates: Vec<f64>) -> Self {
        LatencyRule {
            test,
            quantile,
            choice,
            candidates,
            gate: Baseline::default(),
            quantile_latch: Latch::default(),
            share_latch: Latch::default(),
        }
    }

    /// One evaluation; `py2_requests` gates the baseline as for the error rules, and with
    /// `py3_requests` tells the stage.
    pub fn eval<C: Counter>(
        &mut self,
        t_ms: i64,
        py2_requests: &Requests<C>,
        py3_requests: &Requests<C>,
        py2: &Histogram<C>,
        py3: &Histogram<C>,
    ) -> LatencyEvaluation {
        let scrape = self.test.ladder.scrape_secs;
        let gate = self
            .gate
            .step(t_ms, py2_requests.counts(t_ms, TOP_SECS, scrape));
        let fresh = gate.fresh;
        let py2_day = py2.increases(t_ms, TOP_SECS, scrape);
        let q2 = self.quantile_latch.step(
            t_ms,
            fresh.and_then(|_| histogram_quantile(self.quantile, &py2_day)),
        );
        // Candidates that py3's histogram has over the longest rung.
        let py3_top = py3.increases(t_ms, self.test.ladder.top_secs(), scrape);
        let present: Vec<f64> = self
            .candidates
            .iter()
            .copied()
            .filter(|b| py3_top.iter().any(|(le, _)| le == b))
            .collect();
        let bound = self.choice.choose(&present, q2);
        let fresh_share = match (fresh, bound) {
            (Some(_), Some(b)) => {
                let n = py2_day
                    .iter()
                    .find(|(le, _)| *le == f64::INFINITY)
                    .map(|x| x.1);
                let below = py2_day.iter().find(|(le, _)| *le == b).map(|x| x.1);
                match (n, below) {
                    (Some(n), Some(below)) => Some(binomial::baseline_rate(n - below, n)),
                    _ => None,
                }
            }
            _ => None,
        };
        let share = self.share_latch.step(t_ms, fresh_share);
        let py3_share = self.test.share(t_ms, py2_requests, py3_requests);
        let margins = self.test.margins(share, gate.requests, py3_share, |w| {
            let b = bound?;
            let inc = py3.increases(t_ms, w, scrape);
            let n = inc.iter().find(|(le, _)| *le == f64::INFINITY)?.1;
            let below = inc.iter().find(|(le, _)| *le == b)?.1;
            Some(((n - below).max(0.0), n))
        });
        LatencyEvaluation {
            py2_quantile: q2,
            bound,
            py2_share: share,
            margins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::increase::Sampled;

    fn counter(step_ms: i64, increments: impl Iterator<Item = f64>) -> Sampled {
        let mut v = 0.0;
        let mut times = Vec::new();
        let mut values = Vec::new();
        for (i, inc) in increments.enumerate() {
            times.push(i as i64 * step_ms);
            values.push(v);
            v += inc;
        }
        Sampled::new(times, values)
    }

    #[test]
    fn histogram_quantile_matches_prometheus() {
        let b = [
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 99.0),
            (f64::INFINITY, 100.0),
        ];
        // rank 50 is the top of the first bucket.
        assert_eq!(histogram_quantile(0.5, &b), Some(0.1));
        // rank 95: 5 of the 9 in (0.5, 1].
        assert!((histogram_quantile(0.95, &b).unwrap() - (0.5 + 0.5 * 5.0 / 9.0)).abs() < 1e-12);
        // rank 99.5 falls in +Inf: the last finite bound.
        assert_eq!(histogram_quantile(0.995, &b), Some(1.0));
        assert_eq!(
            histogram_quantile(0.5, &[(0.1, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
    }

    #[test]
    fn bucket_choice() {
        let bounds = [0.1, 0.25, 0.5, 1.0, 2.5];
        assert_eq!(
            BoundChoice::TimesPy2(2.0).choose(&bounds, Some(0.2)),
            Some(0.25)
        );
        assert_eq!(
            BoundChoice::TimesPy2(2.0).choose(&bounds, Some(0.3)),
            Some(0.5)
        );
        // Nothing between py2's p99 and 1.1x: the next bucket up.
        assert_eq!(
            BoundChoice::TimesPy2(1.1).choose(&bounds, Some(0.3)),
            Some(0.5)
        );
        assert_eq!(BoundChoice::AtLeast(0.8).choose(&bounds, None), Some(1.0));
        assert_eq!(BoundChoice::AtLeast(0.5).choose(&bounds, None), Some(0.5));
        assert_eq!(BoundChoice::TimesPy2(2.0).choose(&bounds, None), None);
    }

    #[test]
    fn a_broken_py3_fires_and_a_healthy_one_does_not() {
        let step = 15_000;
        let steps = 4 * 240; // four hours
        let test = LadderTest {
            ladder: Ladder::new(15, &[(0.01, 24 * 3600)]),
            effect: Effect::Above(0.01),
        };
        let py2 = Requests {
            ok: Some(counter(step, (0..steps).map(|_| 999.0))),
            failed: Some(counter(step, (0..steps).map(|_| 1.0))),
        };
        // py3: 10 requests a scrape; from 2h, half fail.
        let broken_from = steps / 2;
        let py3 = Requests {
            ok: Some(counter(
                step,
                (0..steps).map(|i| if i >= broken_from { 5.0 } else { 10.0 }),
            )),
            failed: Some(counter(
                step,
                (0..steps).map(|i| if i >= broken_from { 5.0 } else { 0.0 }),
            )),
        };
        let mut rule = ErrorRule::new(test);
        let mut first_fire = None;
        for i in 2..steps {
            let t = i as i64 * step;
            let e = rule.eval(t, &py2, &py3);
            if i < broken_from {
                assert!(
                    !e.margins.fires(),
                    "healthy at step {i}: {:?}",
                    e.margins.max()
                );
            } else if e.margins.fires() && first_fire.is_none() {
                first_fire = Some(i);
            }
        }
        let fired = first_fire.expect("the broken py3 is caught");
        // Caught within two scrapes of the first failing scrape.
        assert!(fired <= broken_from + 2, "fired at {fired}");
    }

    #[test]
    fn the_baseline_outlives_py2s_traffic() {
        let mut b = Baseline::default();
        let day = DAY_MS;
        let now = b.step(0, Some((10.0, 10_000.0)));
        assert_eq!(now.fresh, Some(10_000.0));
        let rate = now.rate.unwrap();
        // Half a day later py2 serves a third of what it did: stale, the rate is kept.
        let later = b.step(day / 2, Some((0.0, 3_000.0)));
        assert_eq!(later.fresh, None);
        assert_eq!(
            later.rate, None,
            "more than an hour without evaluations drops the latch"
        );
        let mut b = Baseline::default();
        b.step(0, Some((10.0, 10_000.0)));
        for i in 1..100 {
            let now = b.step(i * 60_000, Some((0.0, 3_000.0)));
            assert_eq!(now.rate, Some(rate));
        }
    }
}
