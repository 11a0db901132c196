//! Binomial evidence: how strongly `e` failures out of `n` requests say that py3's rate is at
//! least an alternative `p1` rather than the healthy `p0` (rollback triggers), or below a bound
//! (success criteria). Natural logarithms throughout: evidence is in nats.
//!
//! The same arithmetic, in the same order, is written as PromQL by `emit::metrics`; the
//! reference evaluator (`stats::evaluate`) and the simulator call these functions, so the three
//! cannot drift apart without the promtool cross-check noticing.

/// Below this, `1 - p` is treated as this: keeps `(n - e) * ln(1 - p)` finite when every request
/// failed (`0 * -inf` is NaN in PromQL as in Rust).
pub const ONE_MINUS_FLOOR: f64 = 1e-12;

/// Kullback-Leibler divergence of Bernoulli(a) from Bernoulli(b), in nats: the evidence per
/// request that the rate is `a` rather than `b`, when it is `a`.
pub fn kl(a: f64, b: f64) -> f64 {
    let term = |x: f64, y: f64| if x <= 0.0 { 0.0 } else { x * (x / y).ln() };
    term(a, b) + term(1.0 - a, 1.0 - b)
}

/// Log-likelihood ratio of rate `p1` against rate `p0` for `e` failures in `n` requests.
pub fn llr(e: f64, n: f64, p1: f64, p0: f64) -> f64 {
    e * (p1 / p0).ln() + (n - e) * ((1.0 - p1) / (1.0 - p0)).ln()
}

/// Evidence that the failure rate is at least `p1` rather than `p0` (with `p1 > p0`): the
/// generalised likelihood ratio restricted to the alternatives `p >= p1`,
/// `sup over p >= p1 of LLR(p vs p0)`.
///
/// The log-likelihood is concave in `p` with its peak at the observed rate `e / n`, so the
/// supremum is at the observed rate when that is at least `p1` (the ordinary GLR, fast for a
/// py3 far worse than the threshold) and at `p1` itself otherwise (Wald's SPRT for exactly the
/// threshold, which drifts *down* for a py3 only a little worse than py2: that is the
/// indifference zone, and what keeps a py3 0.2 points worse from being rolled back by a 1-point
/// threshold at high traffic). Negative values mean the data favour `p0`.
pub fn evidence_worse(e: f64, n: f64, p0: f64, p1: f64) -> f64 {
    Alternative::new(p0, p1).evidence(e, n)
}

/// [`evidence_worse`] for one pair of rates, with the logarithms of the `p1` branch computed
/// once (the rules compute them once per service too, from the same numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alternative {
    pub p0: f64,
    pub p1: f64,
    ln_failure: f64,
    ln_success: f64,
}

impl Alternative {
    pub fn new(p0: f64, p1: f64) -> Self {
        Alternative {
            p0,
            p1,
            ln_failure: (p1 / p0).ln(),
            ln_success: ((1.0 - p1) / (1.0 - p0)).ln(),
        }
    }

    pub fn evidence(&self, e: f64, n: f64) -> f64 {
        let observed = e / n;
        // NaN (no requests) compares false, as in PromQL: the `p1` branch, which is then 0.
        if observed >= self.p1 {
            e * (observed / self.p0).ln()
                + (n - e) * ((1.0 - observed).max(ONE_MINUS_FLOOR) / (1.0 - self.p0)).ln()
        } else {
            e * self.ln_failure + (n - e) * self.ln_success
        }
    }
}

/// Evidence that the failure rate is below `bound`: the one-sided GLR of `p < bound` against
/// `p >= bound`, `n * KL(e/n, bound)` when the observed rate is below the bound, else 0. With no
/// failures it is `-n * ln(1 - bound)`, about `n * bound`: a stage passes only once it has served
/// enough requests, so a quiet stage is never "passed" for lack of evidence.
pub fn evidence_better(e: f64, n: f64, bound: f64) -> f64 {
    let observed = e / n;
    // As the PromQL computes it: the observed rate floored before its logarithm, so that no
    // failures at all is `0 * ln(tiny)`, 0, rather than NaN.
    if observed < bound {
        n * (observed * (observed.max(ONE_MINUS_FLOOR) / bound).ln()
            + (1.0 - observed) * ((1.0 - observed) / (1.0 - bound)).ln())
    } else {
        0.0
    }
}

/// The regularised rate of a baseline: one failure of prior weight, `(e + 1) / (n + 1)`. With
/// little data it is conservative (a high rate, so py3 must be much worse to roll back); with a
/// day of traffic it is py2's observed rate. It is never 0, which would make a single py3
/// failure infinite evidence.
pub fn baseline_rate(e: f64, n: f64) -> f64 {
    (e + 1.0) / (n + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_at_equality_and_positive_elsewhere() {
        assert!(kl(0.01, 0.01).abs() < 1e-15);
        assert!(kl(0.02, 0.001) > 0.04 && kl(0.02, 0.001) < 0.042);
        assert!((kl(1.0, 0.001) - (1000f64).ln()).abs() < 1e-9);
    }

    #[test]
    fn restricted_glr_is_sprt_below_the_alternative_and_glr_above() {
        let (p0, p1) = (0.001, 0.011);
        // 3 failures in 1000 requests: observed 0.3% < 1.1%, so the SPRT value, negative here
        // (0.3% is nearer py2's 0.1% than the threshold, in the sense that matters).
        assert!((evidence_worse(3.0, 1000.0, p0, p1) - llr(3.0, 1000.0, p1, p0)).abs() < 1e-12);
        assert!(evidence_worse(3.0, 1000.0, p0, p1) < 0.0);
        // 50 failures in 1000: observed 5% >= 1.1%, so n * KL(5%, 0.1%).
        let g = evidence_worse(50.0, 1000.0, p0, p1);
        assert!((g - 1000.0 * kl(0.05, p0)).abs() < 1e-9);
        // Every request failed: finite, e * ln(1 / p0).
        assert!((evidence_worse(3.0, 3.0, p0, p1) - 3.0 * (1.0 / p0).ln()).abs() < 1e-6);
        // No requests: no evidence either way.
        assert_eq!(evidence_worse(0.0, 0.0, p0, p1), 0.0);
    }

    #[test]
    fn a_quiet_stage_has_no_evidence_of_health() {
        assert_eq!(evidence_better(0.0, 0.0, 0.002), 0.0);
        assert!(evidence_better(0.0, 10.0, 0.002) < 0.03);
        assert!(evidence_better(0.0, 10_000.0, 0.002) > 19.0);
        assert_eq!(evidence_better(30.0, 10_000.0, 0.002), 0.0);
    }
}
