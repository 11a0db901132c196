//! The ladder of windows a sequential test looks back over, and the evidence each rung needs.
//!
//! A regression starts at an unknown moment. The likelihood ratio over exactly the time since
//! then would catch it fastest (that is CUSUM); Prometheus can only look back over fixed
//! windows, so the rules take the best of a ladder of them, from two scrape intervals (the
//! shortest window `increase()` always has two samples in) up to a day, each about 1.4 times the
//! last (2, 3, 4, 6, 8, 12, ... scrape intervals). A regression whose evidence needs a window
//! between two rungs is caught by the next one up, diluted by at most a third of healthy data.
//!
//! Every rung is tested at every evaluation, so each needs more evidence than a single test
//! would. The threshold of a rung `w` is `ln(1 + T / w) + C`, `T` the longest stage: a union
//! bound over the rungs and over the `T / w` independent windows of that length a stage holds,
//! short windows being looked at far more often than long ones. `C` is one constant, calibrated
//! by simulation (benches/detection.rs, `calibrate`) so that a healthy py3 is rolled back in at
//! most 1% of stages at any traffic; see [`CALIBRATION`].

use schemars::JsonSchema;
use serde::Serialize;

use super::binomial;

/// The constant in every rung's threshold, from `cargo bench --bench detection -- calibrate 400`:
/// for each of 20 cells (1, 10, 100 and 1000 requests per second to the service, times the
/// standard schedule's five stages and holds, py2 and py3 at 0.1%), 400 healthy stages were
/// simulated with the constant at 0 and the largest margin of each recorded (the constant that
/// would have kept that stage quiet). The threshold tested is the smallest the calibration
/// covers, `error_rate > 2x py2` (larger thresholds, like the default 1 point, roll back far
/// less: their indifference zone is wider). The largest 99th percentile over the cells was 6.83
/// (1 request per second, the 336 h stage at 100%); this is that, rounded up to a quarter. The
/// false-rollback rates it gives are checked by `table` (benches/detection.rs).
pub const CALIBRATION: f64 = 7.0;

/// Evidence (nats) a success criterion needs before a stage may move on: ln(20), so a py3 that
/// is exactly at the criterion's bound passes a single look with probability at most 5%.
pub const PASS_EVIDENCE: f64 = 2.995_732_273_553_991;

/// The longest window of the ladder (and the baseline window of py2): a day, so the ladder
/// spans a daily traffic cycle and nothing needs more than a day of samples per evaluation.
pub const TOP_SECS: u64 = 86_400;

/// The rungs, in seconds, for a scrape interval and the plan's longest stage hold.
pub fn windows(scrape_secs: u64, longest_hold_secs: u64) -> Vec<u64> {
    let step = scrape_secs.max(1);
    let top = TOP_SECS.min(longest_hold_secs).max(2 * step);
    let mut out = Vec::new();
    let mut w = 2 * step;
    let mut grow_by_half = true;
    while w < top {
        out.push(w);
        // 2 -> 3 -> 4 -> 6 -> 8: multiples of the scrape interval, about sqrt(2) apart.
        w = if grow_by_half { w / 2 * 3 } else { w / 3 * 4 };
        grow_by_half = !grow_by_half;
    }
    out.push(top);
    out
}

/// Evidence (nats) rung `window_secs` needs to roll back, for the plan's longest stage.
pub fn threshold(window_secs: u64, longest_hold_secs: u64) -> f64 {
    (1.0 + longest_hold_secs as f64 / window_secs as f64).ln() + CALIBRATION
}

/// The rungs with their thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Ladder {
    pub scrape_secs: u64,
    pub longest_hold_secs: u64,
    pub rungs: Vec<Rung>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Rung {
    pub window_secs: u64,
    pub threshold: f64,
}

impl Ladder {
    pub fn new(scrape_secs: u64, longest_hold_secs: u64) -> Self {
        Self::calibrated(scrape_secs, longest_hold_secs, CALIBRATION)
    }

    /// The ladder with another calibration constant: what `calibrate` explores.
    pub fn calibrated(scrape_secs: u64, longest_hold_secs: u64, constant: f64) -> Self {
        Ladder {
            scrape_secs,
            longest_hold_secs,
            rungs: windows(scrape_secs, longest_hold_secs)
                .into_iter()
                .map(|w| Rung {
                    window_secs: w,
                    threshold: threshold(w, longest_hold_secs) - CALIBRATION + constant,
                })
                .collect(),
        }
    }

    pub fn top_secs(&self) -> u64 {
        self.rungs.last().map_or(TOP_SECS, |r| r.window_secs)
    }

    /// The statistical limit for a py3 serving `rate` requests per second at failure rate
    /// `broken`, tested with `effect` against py2's `p0`: the time after which the expected
    /// evidence of a window holding only bad requests reaches the threshold a window of that
    /// length needs, `t = h(t) / (rate * drift)`. The drift is the evidence per request of the
    /// test's own question: `KL(broken, null)` at or above the alternative (the GLR's), and
    /// Wald's `LLR(alternative vs null)` per request below it, inside the indifference zone
    /// (`None` where that is not positive: the test is built not to catch such a py3). It knows
    /// the broken rate, ignores scraping and the ladder's steps, and is what
    /// benches/detection.rs compares detection times with.
    pub fn limit_secs(
        &self,
        effect: super::effect::Effect,
        rate: f64,
        broken: f64,
        p0: f64,
    ) -> Option<f64> {
        let (null, alternative) = (effect.null(p0), effect.alternative(p0));
        let per_request = if broken >= alternative {
            binomial::kl(broken, null)
        } else {
            binomial::llr(broken, 1.0, alternative, null)
        };
        let drift = rate * per_request;
        if drift <= 0.0 || !drift.is_finite() {
            return None;
        }
        let needs = |t: f64| -> f64 {
            (1.0 + self.longest_hold_secs as f64 / t).ln() + self.constant() - drift * t
        };
        // `needs` falls as t grows: bisect for its root on a log scale.
        let (mut lo, mut hi) = (1e-3_f64, 1e9_f64);
        if needs(hi) > 0.0 {
            return None;
        }
        for _ in 0..200 {
            let mid = (lo * hi).sqrt();
            if needs(mid) > 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }

    /// The calibration constant this ladder's thresholds carry.
    fn constant(&self) -> f64 {
        self.rungs.first().map_or(CALIBRATION, |r| {
            r.threshold - (1.0 + self.longest_hold_secs as f64 / r.window_secs as f64).ln()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_runs_from_two_scrapes_to_a_day() {
        let w = windows(15, 336 * 3600);
        assert_eq!(&w[..8], &[30, 45, 60, 90, 120, 180, 240, 360]);
        assert_eq!(*w.last().unwrap(), 86_400);
        assert!(
            w.windows(2)
                .all(|p| p[1] > p[0] && p[1] as f64 <= p[0] as f64 * 1.5)
        );
        // Short plans stop at their longest hold.
        assert_eq!(*windows(1, 300).last().unwrap(), 300);
        assert_eq!(windows(15, 10), vec![30]);
    }

    #[test]
    fn short_windows_need_more_evidence() {
        let t = 336 * 3600;
        assert!(threshold(30, t) > threshold(3600, t));
        assert!(threshold(86_400, t) > CALIBRATION);
    }

    #[test]
    fn the_limit_balances_evidence_and_threshold() {
        let ladder = Ladder::new(15, 336 * 3600);
        let above = super::super::effect::Effect::Above(0.01);
        let t = ladder.limit_secs(above, 0.01, 0.02, 0.001).unwrap();
        let evidence = 0.01 * binomial::kl(0.02, 0.001) * t;
        let needed = (1.0 + 336.0 * 3600.0 / t).ln() + CALIBRATION;
        assert!((evidence - needed).abs() < 1e-6);
        assert!(ladder.limit_secs(above, 0.0, 0.02, 0.001).is_none());
        // Inside the indifference zone the limit is the SPRT's, and far below it there is none.
        assert!(
            ladder.limit_secs(above, 1.0, 0.005, 0.001).unwrap()
                > ladder.limit_secs(above, 1.0, 0.011, 0.001).unwrap()
        );
        assert!(ladder.limit_secs(above, 1.0, 0.002, 0.001).is_none());
    }
}
