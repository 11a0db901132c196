//! Simulated traffic through the rules: Poisson requests to both copies, scraped every scrape
//! interval at a random phase, the error-rate rules evaluated by [`ErrorRule`] exactly as
//! Prometheus evaluates the generated ones. benches/detection.rs runs the grid; the tests run a
//! few cells against the time-to-detect preview.

use super::effect::Effect;
use super::evaluate::{DAY_MS, ErrorRule, LadderTest, Requests};
use super::increase::Regular;
use super::ladder::{self, Ladder};
use super::random::Rng;

/// One stage of one service, before and after py3 breaks.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Requests per second to the service (both copies).
    pub total_rate: f64,
    /// py3's share during the stage, 0 to 1.
    pub share: f64,
    /// py3's share during the day before the stage (the previous stage's, for a 100% stage,
    /// so py2 has a baseline to latch).
    pub previous_share: f64,
    /// py2's failure rate, and a healthy py3's.
    pub p0: f64,
    /// py3's failure rate once broken; `None`: healthy throughout.
    pub broken: Option<f64>,
    pub scrape_secs: u64,
    /// How often the rules are evaluated (the rule group's `interval`); counters still move
    /// only at scrapes.
    pub eval_secs: u64,
    pub hold_secs: u64,
    pub effect: Effect,
    pub ladder: Ladder,
    /// Evaluate the whole hold rather than stop at the first alert, for [`Outcome::largest_margin`].
    pub whole_hold: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Seconds from py3's fault (or the start of the stage, for a healthy one) to the first
    /// evaluation at which the alert fires; `None`: not within the hold.
    pub fired_after_secs: Option<f64>,
    /// Failed py3 requests served from the fault until then (or the hold's end).
    pub failed: f64,
    /// The largest margin seen (up to the first alert, or over the whole hold with
    /// `whole_hold`): the calibration constant that would have kept this run quiet, minus the
    /// one used.
    pub largest_margin: f64,
    /// The rung (index into the ladder) whose margin was the largest.
    pub largest_rung: usize,
    /// The largest margin of the short rungs alone (`stats::ladder::is_short`), and of the
    /// others: what a constant of their own would have to exceed.
    pub largest_short: f64,
    pub largest_long: f64,
}

struct Copy {
    ok: Vec<f64>,
    failed: Vec<f64>,
}

/// Cumulative counters scraped every `step` from `start_ms`: each interval's requests are
/// Poisson, split into failures at `rate_at(interval start, interval end)` (the failure rate,
/// averaged over the interval) and successes.
fn scrape(
    rng: &mut Rng,
    scrapes: usize,
    start_ms: i64,
    step_ms: i64,
    requests_per_sec: impl Fn(i64) -> f64,
    failure_rate: impl Fn(i64, i64) -> f64,
) -> Copy {
    let mut ok = Vec::with_capacity(scrapes);
    let mut failed = Vec::with_capacity(scrapes);
    let (mut o, mut f) = (0.0, 0.0);
    for i in 0..scrapes {
        ok.push(o);
        failed.push(f);
        let a = start_ms + i as i64 * step_ms;
        let b = a + step_ms;
        let mean = requests_per_sec(a) * step_ms as f64 / 1000.0;
        let p = failure_rate(a, b);
        o += rng.poisson(mean * (1.0 - p));
        f += rng.poisson(mean * p);
    }
    Copy { ok, failed }
}

impl Scenario {
    /// One simulated stage. The stage starts at time 0, after a healthy day; py3 breaks during
    /// its first evaluation interval, at a random moment (faults do not wait for evaluations).
    pub fn run(&self, seed: u64) -> Outcome {
        let mut rng = Rng::new(seed);
        let step_ms = self.scrape_secs as i64 * 1000;
        let phase = (rng.uniform() * step_ms as f64) as i64;
        let fault_ms = if self.broken.is_some() {
            (rng.uniform() * step_ms as f64) as i64
        } else {
            0
        };
        let start_ms = -DAY_MS + phase - step_ms;
        let end_ms = self.hold_secs as i64 * 1000;
        let scrapes = ((end_ms - start_ms) / step_ms + 2) as usize;
        let share_at = |t: i64| {
            if t < 0 {
                self.previous_share
            } else {
                self.share
            }
        };
        let healthy = self.p0;
        let broken = self.broken;
        let py3_rate = |a: i64, b: i64| match broken {
            Some(bad) if b > fault_ms => {
                // The fraction of the interval after the fault.
                let bad_part = (b - a.max(fault_ms)) as f64 / (b - a) as f64;
                healthy + (bad - healthy) * bad_part
            }
            _ => healthy,
        };
        let py2 = scrape(
            &mut rng,
            scrapes,
            start_ms,
            step_ms,
            |t| self.total_rate * (1.0 - share_at(t)),
            |_, _| healthy,
        );
        let py3 = scrape(
            &mut rng,
            scrapes,
            start_ms,
            step_ms,
            |t| self.total_rate * share_at(t),
            py3_rate,
        );
        let series = |values: Vec<f64>| {
            Some(Regular {
                start_ms,
                step_ms,
                values,
            })
        };
        let failed3 = py3.failed.clone();
        let py2 = Requests {
            ok: series(py2.ok),
            failed: series(py2.failed),
        };
        let py3 = Requests {
            ok: series(py3.ok),
            failed: series(py3.failed),
        };
        let mut rule = ErrorRule::new(LadderTest {
            ladder: self.ladder.clone(),
            effect: self.effect,
        });
        // Failures py3 has served by `t` (within a scrape interval, in proportion).
        let served = |t: i64| {
            let x = (t - start_ms) as f64 / step_ms as f64;
            let i = (x.floor() as usize).min(failed3.len() - 2);
            failed3[i] + (failed3[i + 1] - failed3[i]) * (x - i as f64).min(1.0)
        };
        // Failures since the fault: those of the interval it falls in were all served after
        // it (a healthy py3 fails rarely), spread over the rest of that interval.
        let failed_by = |t: i64| {
            let i = ((fault_ms - start_ms) / step_ms) as usize;
            let b = start_ms + (i as i64 + 1) * step_ms;
            let first = (failed3[i + 1] - failed3[i])
                * ((t.min(b) - fault_ms) as f64 / (b - fault_ms).max(1) as f64);
            first.max(0.0)
                + if t > b {
                    served(t) - failed3[i + 1]
                } else {
                    0.0
                }
        };
        let eval_ms = self.eval_secs.max(1) as i64 * 1000;
        let mut t = eval_ms;
        let mut largest = f64::NEG_INFINITY;
        let mut first: Option<i64> = None;
        let mut largest_rung = 0;
        let (mut largest_short, mut largest_long) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
        let short: Vec<bool> = self
            .ladder
            .rungs
            .iter()
            .map(|r| ladder::is_short(r.window_secs, self.scrape_secs))
            .collect();
        while t <= end_ms {
            let margins = rule.eval(t, &py2, &py3).margins;
            for (m, is_short) in margins.margins.iter().zip(&short) {
                if let Some(m) = *m {
                    let slot = if *is_short {
                        &mut largest_short
                    } else {
                        &mut largest_long
                    };
                    *slot = slot.max(m);
                }
            }
            if let Some(m) = margins.max() {
                if m > largest {
                    largest = m;
                    largest_rung = margins
                        .margins
                        .iter()
                        .position(|x| *x == Some(m))
                        .unwrap_or(0);
                }
                if m > 0.0 && first.is_none() {
                    first = Some(t);
                    if !self.whole_hold {
                        break;
                    }
                }
            }
            t += eval_ms;
        }
        Outcome {
            fired_after_secs: first.map(|t| (t - fault_ms) as f64 / 1000.0),
            failed: failed_by(first.unwrap_or(end_ms)),
            largest_margin: largest,
            largest_rung,
            largest_short,
            largest_long,
        }
    }

    /// `runs` seeded runs: the detection times (`None` for runs never caught) and failures.
    pub fn runs(&self, runs: u64, seed: u64) -> Vec<Outcome> {
        (0..runs)
            .map(|i| self.run(seed.wrapping_mul(1_000_003).wrapping_add(i)))
            .collect()
    }
}

/// The `q` quantile of detection times, counting runs never caught as infinitely late
/// (`None` if the quantile falls among those).
pub fn quantile(outcomes: &[Outcome], q: f64) -> Option<f64> {
    let mut times: Vec<f64> = outcomes
        .iter()
        .map(|o| o.fired_after_secs.unwrap_or(f64::INFINITY))
        .collect();
    times.sort_by(f64::total_cmp);
    if times.is_empty() {
        return None;
    }
    let i = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1;
    Some(times[i]).filter(|t| t.is_finite())
}

/// Median failures served before the alert (runs never caught included at the hold's end).
pub fn median_failed(outcomes: &[Outcome]) -> f64 {
    let mut f: Vec<f64> = outcomes.iter().map(|o| o.failed).collect();
    f.sort_by(f64::total_cmp);
    f.get(f.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_failure_is_caught_within_two_scrapes_at_high_traffic() {
        let s = Scenario {
            total_rate: 100.0,
            share: 0.25,
            previous_share: 0.25,
            p0: 0.001,
            broken: Some(1.0),
            scrape_secs: 15,
            eval_secs: 15,
            hold_secs: 3600,
            effect: Effect::Above(0.01),
            ladder: Ladder::new(15, &[(0.25, 3600)]),
            whole_hold: false,
        };
        for o in s.runs(5, 1) {
            let t = o.fired_after_secs.expect("caught");
            assert!(t <= 30.0, "caught after {t}s");
        }
    }

    #[test]
    fn a_healthy_py3_stays_up_for_a_short_stage() {
        let s = Scenario {
            total_rate: 10.0,
            share: 0.05,
            previous_share: 0.05,
            p0: 0.001,
            broken: None,
            scrape_secs: 15,
            eval_secs: 15,
            hold_secs: 2 * 3600,
            effect: Effect::Above(0.01),
            ladder: Ladder::new(15, &[(0.05, 48 * 3600)]),
            whole_hold: false,
        };
        assert!(s.runs(5, 2).iter().all(|o| o.fired_after_secs.is_none()));
    }
}
