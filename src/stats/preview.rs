//! The time-to-detect preview: how long the rollback rules take to catch a given regression at
//! a given traffic, how many failed requests py3 serves first, and how long a stage needs to
//! show its success criteria. Closed-form (fast enough for every keystroke in the editor), and
//! held within 25% of the simulator by tests/detection.rs.
//!
//! The model follows the rules: for each rung of the ladder, the failures its window must hold
//! for the evidence to reach the rung's threshold (an integer: failures are counted), and the
//! chance, `t` after the fault, that no rung has yet held them: while a window fills with bad
//! requests its count only grows (a rung longer than the time since the fault holds healthy
//! requests too), and once full it slides, each failure a new chance (the Poisson scan
//! statistic), and never less than the chance that py3 has not yet served the fewest failures
//! any rung would fire on. The answer is the median of that, plus the median delay of a scrape and
//! an evaluation (one scrape interval).

use schemars::JsonSchema;
use serde::Serialize;

use super::binomial::{evidence_better, evidence_worse, kl};
use super::effect::Effect;
use super::evaluate::deflation;
use super::ladder::{Ladder, PASS_EVIDENCE};

/// A regression and how soon it is caught.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Detection {
    /// Median seconds from the fault to the alert.
    pub secs: f64,
    /// Failed requests py3 serves in that time.
    pub failed: f64,
}

/// The smallest whole number of failures `k` for which `k` failures among `k + ok` requests
/// reach evidence `h`, or `None` if none up to `limit` does.
fn failures_needed(ok: f64, null: f64, alternative: f64, h: f64, limit: f64) -> Option<f64> {
    let reaches = |k: f64| evidence_worse(k, k + ok, null, alternative) >= h;
    let mut hi = 1.0;
    while !reaches(hi) {
        hi *= 2.0;
        if hi > limit.max(1.0) * 2.0 {
            return None;
        }
    }
    let mut lo = 0.0;
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// One rung of the ladder for the preview: its window's data span and threshold.
#[derive(Debug, Clone, Copy)]
struct Span {
    secs: f64,
    threshold: f64,
}

/// The regression being previewed.
#[derive(Debug, Clone, Copy)]
struct Fault {
    rate: f64,
    p0: f64,
    broken: f64,
    null: f64,
    alternative: f64,
    /// py2's requests behind the baseline: the evidence of `n3` requests counts
    /// `n2 / (n2 + n3)` of itself (stats::evaluate, step 4).
    baseline: f64,
}

impl Fault {
    /// The evidence a window of `n3` requests needs before scaling, for a threshold `h`.
    fn needs(&self, h: f64, n3: f64) -> f64 {
        h * (1.0 + n3 / self.baseline)
    }
}

/// What one rung's window holds at `t` after the fault (bad requests for `min(t, span)`, the
/// rest healthy): expected failures, and the failures it needs (`None`: none suffice).
fn window(f: Fault, rung: Span, t: f64) -> (f64, Option<f64>) {
    let span = rung.secs;
    let bad = t.clamp(0.0, span);
    let failures = f.rate * (bad * f.broken + (span - bad) * f.p0);
    let ok = f.rate * (bad * (1.0 - f.broken) + (span - bad) * (1.0 - f.p0));
    let h = f.needs(rung.threshold, f.rate * span);
    let k = failures_needed(ok, f.null, f.alternative, h, f.rate * span + 10.0);
    (failures, k)
}

/// The chance that no rung has fired `t` after the fault. Until a rung's window is full of bad
/// requests its count only grows, and it has fired iff it holds its `k`: the rungs then share
/// one count (nested windows), so the best of them stands for all. Once full, the window
/// slides, and each failure completes a cluster of `k` when the window before it holds
/// `k - 1`: Alm's approximation of the Poisson scan statistic (Alm 1983; Glaz, Naus and
/// Wallenstein, "Scan Statistics", 2001) gives the hazard `(1 - m / k) mu p(k - 1; m)`, `m` the
/// window's failures, `mu` their rate, at least that of disjoint windows, `-ln(1 - q) / span`
/// (`q`: the chance one full window holds `k`; the shortest rung's windows are disjoint, one
/// scrape interval each). The rungs' windows are nested, so their clusters are mostly the same
/// failures: the largest hazard stands for all (adding them halved the quiet cells' medians
/// against the simulator's).
fn survival(f: Fault, spans: &[Span], t: f64) -> f64 {
    let mut growth: f64 = 1.0;
    let mut hazard = 0.0;
    for &rung in spans {
        let (failures, k) = window(f, rung, t);
        let Some(k) = k else { continue };
        growth = growth.min(1.0 - poisson_tail(failures, k));
        if t > rung.secs && failures > 0.0 {
            let q = poisson_tail(failures, k);
            let disjoint = -(-q).ln_1p() / rung.secs;
            let scan = (1.0 - failures / k).max(0.0) * failures / rung.secs
                * poisson_mass(failures, k - 1.0);
            let h = disjoint.max(scan) * (t - rung.secs);
            hazard = f64::max(hazard, h);
        }
    }
    growth * (-hazard).exp()
}

/// [`survival`], but never below the chance that py3 has not yet served, since the fault, the
/// fewest failures any rung would fire on at `t` (each rung's `k` of [`window`], with the
/// healthy requests from before the fault its window still holds). The scan hazard of a
/// sliding short window and the growing count of a longer one are mostly the same failures
/// right after the fault; where the short rungs need as many failures as the long ones (at 5 s
/// scrapes every rung of a quiet 1% stage waits for a third failure), their product counts
/// those failures twice and put the median before the third failure's own.
fn survival_floored(f: Fault, spans: &[Span], t: f64) -> f64 {
    let model = survival(f, spans, t);
    let fewest = spans
        .iter()
        .filter_map(|&rung| window(f, rung, t).1)
        .reduce(f64::min);
    match fewest {
        Some(k) => model.max(1.0 - poisson_tail(f.rate * f.broken * t.max(0.0), k)),
        None => model,
    }
}

/// The median of [`survival_floored`]: where it falls to one half, `None` past `longest`.
fn union_median(f: Fault, spans: &[Span], longest: f64) -> Option<f64> {
    let survival = |t: f64| survival_floored(f, spans, t);
    if survival(longest) > 0.5 {
        return None;
    }
    let (mut lo, mut hi) = (0.0, longest);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if survival(mid) <= 0.5 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The median of an inverse Gaussian with mean `m` and shape `lambda`: the first passage of a
/// random walk with drift to a level.
fn inverse_gaussian_median(m: f64, lambda: f64) -> f64 {
    let cdf = |x: f64| {
        let r = (lambda / x).sqrt();
        // e^(2 lambda / m) * Phi(-r (x / m + 1)), in logarithms: the factors over- and underflow.
        phi(r * (x / m - 1.0)) + (2.0 * lambda / m + ln_phi_upper(r * (x / m + 1.0))).exp()
    };
    let (mut lo, mut hi) = (m * 1e-6, m * 10.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) >= 0.5 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The standard normal distribution function, from `erfc` (Numerical Recipes' Chebyshev fit,
/// relative error below 1.2e-7).
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// ln(1 - Phi(z)), accurate far into the tail.
fn ln_phi_upper(z: f64) -> f64 {
    if z < 5.0 {
        (1.0 - phi(z)).max(f64::MIN_POSITIVE).ln()
    } else {
        // Mills' ratio: 1 - Phi(z) ~ phi(z) / z (1 - 1/z^2 + 3/z^4).
        -z * z / 2.0 - (z * (2.0 * std::f64::consts::PI).sqrt()).ln()
            + (1.0 - 1.0 / (z * z) + 3.0 / z.powi(4)).ln()
    }
}

/// Median time to detect a py3 failing at `broken` (py2 at `p0`, measured on `baseline`
/// requests over its last day) serving `rate` requests per second, under the rules of `ladder`
/// and `effect`; `None` if no rung ever catches it.
///
/// At or above the alternative, the evidence is the GLR of few, large steps: the per-rung count
/// model. Below it (a regression inside the indifference zone: py3 worse than py2 by less than
/// the threshold), the evidence is Wald's log-likelihood ratio drifting slowly up under much
/// noise, and it first crosses long before its mean would: the inverse Gaussian's median, with
/// the boundary raised for the rules' looking only once a scrape interval.
pub fn detect(
    ladder: &Ladder,
    effect: Effect,
    p0: f64,
    broken: f64,
    rate: f64,
    baseline: f64,
) -> Option<Detection> {
    let step = ladder.scrape_secs as f64;
    let (null, alternative) = (effect.null(p0), effect.alternative(p0));
    let longest = ladder.longest_hold_secs as f64;
    let spans: Vec<Span> = ladder
        .rungs
        .iter()
        .map(|r| Span {
            secs: r.window_secs as f64 * deflation(r.window_secs, ladder.scrape_secs),
            threshold: r.threshold,
        })
        .collect();
    let fault = Fault {
        rate,
        p0,
        broken,
        null,
        alternative,
        baseline: baseline.max(1.0),
    };
    let best = if broken >= alternative {
        union_median(fault, &spans, longest)?
    } else {
        let a = (alternative / null).ln();
        let b = ((1.0 - alternative) / (1.0 - null)).ln();
        let drift = rate * (broken * a + (1.0 - broken) * b);
        if drift <= 0.0 {
            return None;
        }
        let variance = rate * broken * (1.0 - broken) * (a - b) * (a - b);
        // The rules look once a scrape interval, not continuously: a noisy walk has crossed
        // and fallen back between looks, which Siegmund's correction for discrete monitoring
        // counts as a higher boundary, by 0.5826 standard deviations of one interval's steps.
        let discrete = 0.5826 * (variance * step).sqrt();
        // The threshold of the shortest rung that holds the passage, found by iteration.
        let top = spans.last()?;
        let mut t = top.threshold / drift;
        for _ in 0..8 {
            let rung = spans.iter().find(|s| s.secs >= t).unwrap_or(top);
            let h = fault.needs(rung.threshold, rate * t.min(rung.secs)) + discrete;
            t = inverse_gaussian_median(h / drift, h * h / variance);
        }
        if t > top.secs {
            return None;
        }
        t
    };
    let secs = best + step;
    Some(Detection {
        secs,
        failed: rate * broken * secs,
    })
}

/// P(Poisson(mean) = k).
fn poisson_mass(mean: f64, k: f64) -> f64 {
    if k < 0.0 {
        return 0.0;
    }
    (-mean + k * mean.ln() - ln_factorial(k)).exp()
}

/// P(Poisson(mean) >= k), summed from the smaller side so small tails stay accurate.
fn poisson_tail(mean: f64, k: f64) -> f64 {
    if mean <= 0.0 {
        return if k <= 0.0 { 1.0 } else { 0.0 };
    }
    let ln_term = |i: f64| -mean + i * mean.ln() - ln_factorial(i);
    if k > mean {
        let mut sum = 0.0;
        let mut i = k;
        loop {
            let term = ln_term(i).exp();
            sum += term;
            if term < sum * 1e-16 || i > k + 10_000.0 {
                return sum;
            }
            i += 1.0;
        }
    }
    let below: f64 = (0..k as u64).map(|i| ln_term(i as f64).exp()).sum();
    (1.0 - below).max(0.0)
}

fn ln_factorial(k: f64) -> f64 {
    if k < 20.0 {
        return (2..=k as u64).map(|i| (i as f64).ln()).sum();
    }
    k * k.ln() - k + 0.5 * (2.0 * std::f64::consts::PI * k).ln() + 1.0 / (12.0 * k)
        - 1.0 / (360.0 * k * k * k)
}

/// Seconds a py3 failing at `healthy` and serving `rate` requests per second needs before the
/// evidence that it fails less often than `bound` reaches [`PASS_EVIDENCE`], looking back at
/// most `window_secs`; `None` if that window can never hold enough requests. A bound relative
/// to py2 (`baseline`: py2's requests behind it) is as uncertain as py2's rate, and its
/// evidence is scaled as the triggers' is.
pub fn pass(
    healthy: f64,
    bound: f64,
    rate: f64,
    window_secs: u64,
    scrape_secs: u64,
    baseline: Option<f64>,
) -> Option<f64> {
    pass_requests(healthy, bound, baseline).and_then(|needed| {
        let span = window_secs as f64 * deflation(window_secs, scrape_secs);
        let scale = baseline.map_or(1.0, |n2| n2 / (n2 + rate * span));
        // `evidence_better` at the expected failures, to include the no-failure case exactly.
        (evidence_better(healthy * rate * span, rate * span, bound) * scale >= PASS_EVIDENCE)
            .then(|| needed / rate + scrape_secs as f64)
    })
}

/// Requests a py3 failing at `healthy` needs to show it fails less often than `bound`.
pub fn pass_requests(healthy: f64, bound: f64, baseline: Option<f64>) -> Option<f64> {
    if healthy >= bound {
        return None;
    }
    let per_request = kl(healthy, bound);
    match baseline {
        // n * KL * n2 / (n2 + n) = h  =>  n = h n2 / (KL n2 - h).
        Some(n2) if per_request * n2 > PASS_EVIDENCE => {
            Some(PASS_EVIDENCE * n2 / (per_request * n2 - PASS_EVIDENCE))
        }
        Some(_) => None,
        None => Some(PASS_EVIDENCE / per_request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_traffic_catches_sooner() {
        let ladder = Ladder::new(15, &[(1.0, 336 * 3600)]);
        let e = Effect::Above(0.01);
        let slow = detect(&ladder, e, 0.001, 0.02, 0.01, 85_000.0).unwrap();
        let fast = detect(&ladder, e, 0.001, 0.02, 1.0, 85_000.0).unwrap();
        assert!(fast.secs < slow.secs / 10.0);
        // A total failure at high traffic: one scrape and one evaluation.
        let instant = detect(&ladder, e, 0.001, 1.0, 500.0, 4e7).unwrap();
        assert!(instant.secs <= 30.0);
    }

    #[test]
    fn nothing_is_caught_before_the_failures_it_needs() {
        // At 5 s scrapes every rung of a quiet 1% stage waits for a third failure: at 0.1
        // requests a second failing every one, Gamma(3, 0.1/s)'s median is 26.7 s, plus an
        // interval. benches/detection.rs `cell 10 0.01 1 400` at 5/5: 35 s.
        let ladder = Ladder::new(5, &[(0.01, 24 * 3600)]);
        let e = Effect::Above(0.01);
        let d = detect(&ladder, e, 0.001, 1.0, 0.1, 10.0 * 0.99 * 86_400.0).unwrap();
        assert!(d.secs >= 31.0 && d.secs <= 35.0 * 1.25, "{}", d.secs);
    }

    #[test]
    fn below_the_indifference_zone_nothing_is_caught() {
        let ladder = Ladder::new(15, &[(1.0, 336 * 3600)]);
        // 0.15% against py2's 0.1% with a 1-point threshold: the SPRT branch drifts down.
        assert!(detect(&ladder, Effect::Above(0.01), 0.001, 0.0015, 1000.0, 4e7).is_none());
    }

    #[test]
    fn passing_needs_requests() {
        // 0.1% against a bound of 0.2%: thousands of requests.
        let t = pass(0.001, 0.002, 1.0, 86_400, 15, None).unwrap();
        assert!(t > 5_000.0 && t < 20_000.0, "{t}");
        assert!(pass(0.001, 0.002, 0.01, 86_400, 15, None).is_none());
        assert!(pass(0.003, 0.002, 100.0, 86_400, 15, None).is_none());
        // Against py2's rate from as many requests: about twice as many.
        let relative = pass(0.001, 0.002, 1.0, 86_400, 15, Some(1e9)).unwrap();
        assert!((relative / t - 1.0).abs() < 0.01);
    }
}
