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
//! would. The threshold of a rung `w` in a stage held `T` is `ln(1 + T / w) + C(T)`: a union
//! bound over the rungs and over the `T / w` independent windows of that length the stage holds,
//! short windows being looked at far more often than long ones. `C(T)` is calibrated by
//! simulation for each standard hold (benches/detection.rs, `calibrate`) at 15 s scrapes and
//! evaluations so that a healthy py3 is rolled back in at most 1% of stages at any traffic; see
//! [`CALIBRATION`]. A shorter scrape interval looks more often, and every constant gains
//! `ln(15 s / scrape)` for a day's stage, up to twice that for a two-week one
//! ([`scrape_correction`]); the rules, the reference evaluator and the time-to-detect preview
//! all read the thresholds of one [`Ladder`], so they share it.
//!
//! The rules do not know which stage is running, so they tell it from py3's share of the
//! service's requests over the last [`Ladder::share_window_secs`]: each stage's share, between
//! the geometric means with its neighbours' (1% and 5%: from 2.2%), selects that stage's
//! thresholds. A share that cannot be measured (no requests) takes the longest hold's, the
//! highest. A short stage therefore needs less evidence than a two-week one: it is looked at
//! for less time.

use schemars::JsonSchema;
use serde::Serialize;

use super::binomial;

/// `C(T)`: the constant in every rung's threshold, by stage hold (hours), from `cargo bench
/// --bench detection -- calibrate RUNS 2x HOURS`: for each standard hold and each traffic the
/// standard schedule gives that stage (1, 10, 100 and 1000 requests per second to the service,
/// py2 and py3 at 0.1%), healthy stages were simulated with the constant at 0 and the largest
/// margin of each recorded (the constant that would have kept that stage quiet), for the
/// smallest threshold the calibration covers, `error_rate > 2x py2` (larger thresholds, like
/// the default 1 point, roll back far less: their indifference zone is wider). The largest 99th
/// percentile over each hold's cells: 6.54 (24 h, 1000 stages a cell), 6.78 (48 h, 600), 6.27
/// (72 h, 600), 6.67 (168 h, 400), 6.83 (336 h, 400, the previous single calibration); each
/// rounds up to 7 at a quarter's resolution, so the constant is flat and the stage enters
/// through `ln(1 + T / w)`. Holds between two take the constant interpolated in `ln T`;
/// shorter than a day, a day's; longer than two weeks, two weeks'. The false-rollback rates
/// they give are checked by `healthy` (benches/detection-results.md). Calibrated at 15 s
/// scrapes and evaluations ([`CALIBRATED_SCRAPE_SECS`]); [`constant`] adds
/// [`scrape_correction`] for shorter intervals.
pub const CALIBRATION: &[(u64, f64)] = &[(24, 7.0), (48, 7.0), (72, 7.0), (168, 7.0), (336, 7.0)];

/// `C_s(T)`: the constant of the short rungs (at most [`SHORT_SCRAPES`] scrape intervals: 30,
/// 45 and 60 s at 15 s scrapes), by stage hold (hours). At low traffic a short window holds a
/// handful of requests, and what it can see there are discrete patterns: k failures and no
/// success. Two failures against py2's 0.1% are `2 ln 1000 = 13.8` nats, short of the 15.0
/// the 30 s rung of a 24 h stage needs at `C = 7`, so a quiet 1% stage waited for a third
/// failure (43 s median at 0.1 req/s, failing every request). The chance of the pattern in a
/// healthy py3 is small and known: at most `0.27 p0^2` a look (at the worst traffic, two
/// requests a window), about 0.15% of 24 h stages for the 30 s rung. `cargo bench --bench
/// detection -- short 2000 24` measured the short rungs on their own (2000 healthy 24 h stages
/// at each of 1, 10, 100 and 1000 requests per second, `error_rate > 1%`): at 5.5 they roll back
/// 1, 6, 2 and 2 of 2000, and with the long rungs at `C = 7` the whole ladder 3, 9, 2 and 3
/// (95% upper bounds 0.39 to 0.78%); at 7, 3, 3, 0 and 2. At 5.5 the 30 s rung needs 13.5
/// nats, two failures suffice (for py2 up to 0.12%), and the median falls to 35 s. Longer
/// holds keep 7: at 48 h and beyond two failures are too common (0.3% of stages for the 30 s
/// rung alone at 48 h, 2.2% at 336 h). At 15 s scrapes, like [`CALIBRATION`]; at 5 s the 24 h
/// stage's is 5.5 + ln 3 = 6.6 ([`short_constant`]), and a quiet 1% stage waits for a third
/// failure, as it already did at 5 s with 5.5 (the 10 to 20 s rungs' `ln(1 + T / w)` is
/// larger).
pub const SHORT_CALIBRATION: &[(u64, f64)] =
    &[(24, 5.5), (48, 7.0), (72, 7.0), (168, 7.0), (336, 7.0)];

/// Rungs of at most this many scrape intervals take [`SHORT_CALIBRATION`]'s constant.
pub const SHORT_SCRAPES: u64 = 4;

fn interpolate(table: &[(u64, f64)], hold_secs: u64) -> f64 {
    let hours = (hold_secs as f64 / 3600.0).max(1e-9);
    let (first, last) = (table[0], table[table.len() - 1]);
    if hours <= first.0 as f64 {
        return first.1;
    }
    if hours >= last.0 as f64 {
        return last.1;
    }
    for pair in table.windows(2) {
        let ((t0, c0), (t1, c1)) = (pair[0], pair[1]);
        if hours <= t1 as f64 {
            let x = (hours.ln() - (t0 as f64).ln()) / ((t1 as f64).ln() - (t0 as f64).ln());
            return c0 + (c1 - c0) * x;
        }
    }
    last.1
}

/// The scrape (and evaluation) interval [`CALIBRATION`] and [`SHORT_CALIBRATION`] were
/// calibrated at, seconds.
pub const CALIBRATED_SCRAPE_SECS: u64 = 15;

/// The scrape intervals (seconds) below [`CALIBRATED_SCRAPE_SECS`] at which healthy stages of
/// every standard hold were simulated with [`scrape_correction`] and rolled back in under 1% of
/// stages, 95% upper bound included (benches/detection-results.md, at 5 s: every traffic of
/// the 24, 48 and 72 h stages, 1000 stages a cell; the 168 h stage at 1 and 10 requests per
/// second to the service, 1000 each; the 336 h stage at 1, 2000 stages, and at 10, 300; the
/// 168 h and 336 h stages at 100 and 1000 not yet); `canaryc check` warns at the others
/// (CNR458).
pub const MEASURED_SCRAPE_SECS: &[u64] = &[5];

/// What every constant of a stage held `hold_secs` gains at a scrape interval of
/// `scrape_secs`: `ln(15 s / scrape)` times a factor that grows from 1 at a day's hold to 2 at
/// two weeks' (linear in `ln T`, as [`CALIBRATION`] interpolates; 1 below a day, 2 beyond two
/// weeks), for intervals shorter than the calibration's; 0 otherwise, so every 15 s output is
/// the calibration's to the bit. At 5 s: 1.10 nats at 24 h, 1.39 at 48 h, 1.56 at 72 h, 1.91
/// at 168 h, 2.20 at 336 h.
///
/// At a shorter interval the rules look at a stage more often (three times at 5 s: 17,280
/// looks a day instead of 5,760, and rungs of 10, 15 and 20 s below the 30 s one). A union
/// bound over the extra looks asks `ln(15 / scrape)`: each 15 s look becomes `15 / scrape`
/// looks, and a threshold higher by `ln k` makes each `k` times less likely to cross *if* the
/// largest margin's tail falls as `exp(-c)`. That holds for a day's stage (24 h stages at 0.01
/// to 10 requests per second, 1000 a cell: 3, 1, 3, 2 rolled back with the 15 s constants, 2,
/// 0, 0, 0 with `ln 3` more) but not for two weeks': there the largest margins are a few
/// failures too many in one to five minutes, a count, and the tail measured at 5 s, 1 request
/// per second, falls as `exp(-0.42 c)` between 7 and 9 (7, 5, 4, 3 of 1000 stages at 7, 8.1,
/// 8.5, 9), so `k` times more looks cost about `ln k / 0.42`, 2.4 `ln k`, not `ln k`. The
/// factor 2 at two weeks is that, rounded down; it was chosen on those runs and validated on
/// seeds none of them used: 4 of 2000 healthy 336 h stages at 1 request per second rolled
/// back (0.20%, 95% upper bound 0.46%; benches/detection-results.md, "Scrape 5 s: a correction
/// that grows with the hold", which also has the other holds). Intervals other than 15 s and 5 s are not measured (`canaryc check` warns,
/// CNR458); longer intervals look less often and keep the calibration's constants, not
/// lowered.
pub fn scrape_correction(scrape_secs: u64, hold_secs: u64) -> f64 {
    let looks = (CALIBRATED_SCRAPE_SECS as f64 / scrape_secs.max(1) as f64).ln();
    if looks <= 0.0 {
        return 0.0;
    }
    let (day, fortnight) = (24.0_f64, 336.0_f64);
    let hours = (hold_secs as f64 / 3600.0).clamp(day, fortnight);
    looks * (1.0 + (hours / day).ln() / (fortnight / day).ln())
}

/// `C(T)` for a stage held `hold_secs`, with scrapes every `scrape_secs` (see [`CALIBRATION`]
/// and [`scrape_correction`]).
pub fn constant(hold_secs: u64, scrape_secs: u64) -> f64 {
    interpolate(CALIBRATION, hold_secs) + scrape_correction(scrape_secs, hold_secs)
}

/// `C_s(T)` for a stage held `hold_secs`, with scrapes every `scrape_secs` (see
/// [`SHORT_CALIBRATION`] and [`scrape_correction`]).
pub fn short_constant(hold_secs: u64, scrape_secs: u64) -> f64 {
    interpolate(SHORT_CALIBRATION, hold_secs) + scrape_correction(scrape_secs, hold_secs)
}

/// Whether a rung is short (takes [`short_constant`]).
pub fn is_short(window_secs: u64, scrape_secs: u64) -> bool {
    window_secs <= SHORT_SCRAPES * scrape_secs.max(1)
}

/// The constants of a stage held `hold_secs`, with scrapes every `scrape_secs`: (long rungs,
/// short rungs).
pub fn constants(hold_secs: u64, scrape_secs: u64) -> (f64, f64) {
    (
        constant(hold_secs, scrape_secs),
        short_constant(hold_secs, scrape_secs),
    )
}

/// Evidence (nats) a success criterion needs before a stage may move on: ln(20), so a py3 that
/// is exactly at the criterion's bound passes a single look with probability at most 5%.
pub const PASS_EVIDENCE: f64 = 2.995_732_273_553_991;

/// The longest window of the ladder (and the baseline window of py2): a day, so the ladder
/// spans a daily traffic cycle and nothing needs more than a day of samples per evaluation.
pub const TOP_SECS: u64 = 86_400;

/// The longest window py3's share (which tells the stage) is measured over: long enough that
/// a 1% stage of a service at 1 request per second is told from a 5% one, short enough that a
/// new stage is recognised within its first hour.
pub const SHARE_SECS: u64 = 3600;

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

/// Evidence (nats) rung `window_secs` needs to roll back, in a stage held `hold_secs`, with
/// scrapes every `scrape_secs`.
pub fn threshold(window_secs: u64, hold_secs: u64, scrape_secs: u64) -> f64 {
    let c = if is_short(window_secs, scrape_secs) {
        short_constant(hold_secs, scrape_secs)
    } else {
        constant(hold_secs, scrape_secs)
    };
    (1.0 + hold_secs as f64 / window_secs as f64).ln() + c
}

/// The rungs with their thresholds, for every stage the rules can tell apart.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Ladder {
    pub scrape_secs: u64,
    pub longest_hold_secs: u64,
    /// The rung py3's share is measured over, to tell the stage. (Not in canary-plan.json,
    /// which carries the rungs with the longest hold's thresholds: the rules hold the rest.)
    #[serde(skip)]
    pub share_window_secs: u64,
    /// The rungs with the longest hold's thresholds: what a service whose share cannot be
    /// measured needs.
    pub rungs: Vec<Rung>,
    /// The stages by share, lowest first, each with its own thresholds (one per rung).
    #[serde(skip)]
    pub stages: Vec<StageThresholds>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Rung {
    pub window_secs: u64,
    pub threshold: f64,
}

/// The thresholds of the stages recognised at one range of py3's share.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StageThresholds {
    /// The hold the thresholds are for (the longest of the stages at these shares).
    pub hold_secs: u64,
    /// The lowest share (a fraction) recognised as this stage; the first starts at 0, and
    /// each ends where the next starts.
    pub from_share: f64,
    pub constant: f64,
    /// The short rungs' constant ([`SHORT_CALIBRATION`]).
    pub short_constant: f64,
    /// One per rung.
    pub thresholds: Vec<f64>,
}

impl Ladder {
    /// The ladder of a plan: its stages as (py3's share, a fraction; hold, seconds).
    pub fn new(scrape_secs: u64, stages: &[(f64, u64)]) -> Self {
        Self::with_constants(scrape_secs, stages, |hold| constants(hold, scrape_secs))
    }

    /// [`Ladder::new`] with other constants by hold (long rungs, short rungs): what
    /// benches/detection.rs explores.
    pub fn with_constants(
        scrape_secs: u64,
        stages: &[(f64, u64)],
        constant: impl Fn(u64) -> (f64, f64),
    ) -> Self {
        let longest = stages.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        let shortest = stages.iter().map(|s| s.1).min().unwrap_or(1).max(1);
        let windows = windows(scrape_secs, longest);
        let share_window_secs = windows
            .iter()
            .copied()
            .filter(|w| *w <= SHARE_SECS.min(shortest))
            .max()
            .unwrap_or(windows[0]);
        // Distinct shares, lowest first, each with the longest hold at that share.
        let mut by_share: Vec<(f64, u64)> = Vec::new();
        let mut sorted: Vec<(f64, u64)> = stages.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (share, hold) in sorted {
            match by_share.last_mut() {
                Some(last) if last.0 == share => last.1 = last.1.max(hold),
                _ => by_share.push((share, hold)),
            }
        }
        if by_share.is_empty() {
            by_share.push((1.0, longest));
        }
        let mut classes: Vec<StageThresholds> = Vec::new();
        let mut previous_share: Option<f64> = None;
        for (share, hold) in by_share {
            let from_share = previous_share.map_or(0.0, |p| (p * share).sqrt());
            previous_share = Some(share);
            // Neighbours with the same hold need no boundary between them.
            if classes.last().is_some_and(|c| c.hold_secs == hold) {
                continue;
            }
            classes.push(Self::class(
                &windows,
                scrape_secs,
                hold,
                from_share,
                constant(hold),
            ));
        }
        Self::with_classes(scrape_secs, longest, share_window_secs, windows, classes)
    }

    /// One stage held `hold_secs` with the constant `constant` on every rung, whatever the
    /// share: what `calibrate` explores, and the ladder of one stage.
    pub fn single(scrape_secs: u64, longest_hold_secs: u64, hold_secs: u64, constant: f64) -> Self {
        let windows = windows(scrape_secs, longest_hold_secs);
        let class = Self::class(&windows, scrape_secs, hold_secs, 0.0, (constant, constant));
        let share = windows[0];
        Self::with_classes(scrape_secs, hold_secs, share, windows, vec![class])
    }

    fn class(
        windows: &[u64],
        scrape_secs: u64,
        hold: u64,
        from_share: f64,
        (constant, short_constant): (f64, f64),
    ) -> StageThresholds {
        StageThresholds {
            hold_secs: hold,
            from_share,
            constant,
            short_constant,
            thresholds: windows
                .iter()
                .map(|w| {
                    let c = if is_short(*w, scrape_secs) {
                        short_constant
                    } else {
                        constant
                    };
                    (1.0 + hold as f64 / *w as f64).ln() + c
                })
                .collect(),
        }
    }

    fn with_classes(
        scrape_secs: u64,
        longest_hold_secs: u64,
        share_window_secs: u64,
        windows: Vec<u64>,
        stages: Vec<StageThresholds>,
    ) -> Self {
        let top = stages
            .iter()
            .max_by(|a, b| {
                a.hold_secs
                    .cmp(&b.hold_secs)
                    .then(a.constant.total_cmp(&b.constant))
            })
            .map(|c| c.thresholds.clone())
            .unwrap_or_default();
        Ladder {
            scrape_secs,
            longest_hold_secs,
            share_window_secs,
            rungs: windows
                .into_iter()
                .zip(top)
                .map(|(window_secs, threshold)| Rung {
                    window_secs,
                    threshold,
                })
                .collect(),
            stages,
        }
    }

    /// The thresholds the rules use at py3's share `share` (`None` or NaN: not measurable,
    /// the longest hold's).
    pub fn thresholds_at(&self, share: Option<f64>) -> Vec<f64> {
        match self.class_at(share) {
            Some(c) => c.thresholds.clone(),
            None => self.rungs.iter().map(|r| r.threshold).collect(),
        }
    }

    /// The stage recognised at a share, as the rules recognise it.
    pub fn class_at(&self, share: Option<f64>) -> Option<&StageThresholds> {
        let s = share.filter(|s| !s.is_nan())?;
        self.stages.iter().rev().find(|c| s >= c.from_share)
    }

    /// The ladder of the stage recognised at `share`, alone: what the preview and the
    /// statistical limit of that stage use.
    pub fn at_share(&self, share: f64) -> Ladder {
        let class = self.class_at(Some(share)).cloned().unwrap_or_else(|| {
            Self::class(
                &self.windows(),
                self.scrape_secs,
                self.longest_hold_secs,
                0.0,
                constants(self.longest_hold_secs, self.scrape_secs),
            )
        });
        Self::for_class(self, class)
    }

    /// The ladder of a stage held `hold_secs`, alone, on this ladder's rungs.
    pub fn for_hold(&self, hold_secs: u64) -> Ladder {
        let class = Self::class(
            &self.windows(),
            self.scrape_secs,
            hold_secs,
            0.0,
            constants(hold_secs, self.scrape_secs),
        );
        Self::for_class(self, class)
    }

    fn for_class(&self, mut class: StageThresholds) -> Ladder {
        class.from_share = 0.0;
        let hold = class.hold_secs;
        Self::with_classes(
            self.scrape_secs,
            hold,
            self.share_window_secs,
            self.windows(),
            vec![class],
        )
    }

    pub fn windows(&self) -> Vec<u64> {
        self.rungs.iter().map(|r| r.window_secs).collect()
    }

    pub fn top_secs(&self) -> u64 {
        self.rungs.last().map_or(TOP_SECS, |r| r.window_secs)
    }

    /// The statistical limit for a py3 serving `rate` requests per second at failure rate
    /// `broken`, tested with `effect` against py2's `p0`, in the stage of the longest hold (for
    /// a stage's own, call it on [`Ladder::at_share`]): the time after which the expected
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
        let hold = self.longest_hold_secs as f64;
        let (long, short) = self.constants();
        let root = |c: f64| -> Option<f64> {
            let needs = |t: f64| -> f64 { (1.0 + hold / t).ln() + c - drift * t };
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
        };
        // Windows up to the short rungs' longest take their constant; longer ones the other.
        let short_max = (SHORT_SCRAPES * self.scrape_secs.max(1)) as f64;
        match root(short) {
            Some(t) if t <= short_max => Some(t),
            _ => root(long),
        }
    }

    /// The calibration constants of the longest hold's thresholds: (long rungs, short rungs).
    fn constants(&self) -> (f64, f64) {
        let of = |r: &Rung| {
            r.threshold - (1.0 + self.longest_hold_secs as f64 / r.window_secs as f64).ln()
        };
        let fallback = constants(self.longest_hold_secs, self.scrape_secs);
        let short = self
            .rungs
            .iter()
            .find(|r| is_short(r.window_secs, self.scrape_secs))
            .map_or(fallback.1, of);
        let long = self
            .rungs
            .iter()
            .rev()
            .find(|r| !is_short(r.window_secs, self.scrape_secs))
            .map_or(fallback.0, of);
        (long, short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard schedule: py3's share and the hold of each stage.
    const STANDARD: [(f64, u64); 5] = [
        (0.01, 24 * 3600),
        (0.05, 48 * 3600),
        (0.25, 72 * 3600),
        (0.5, 168 * 3600),
        (1.0, 336 * 3600),
    ];

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
        assert!(threshold(30, t, 15) > threshold(3600, t, 15));
        assert!(threshold(86_400, t, 15) > constant(t, 15));
        // A shorter stage needs less.
        assert!(threshold(30, 24 * 3600, 15) < threshold(30, t, 15));
    }

    #[test]
    fn constants_interpolate_between_calibrated_holds() {
        for &(hours, c) in CALIBRATION {
            assert_eq!(constant(hours * 3600, 15), c);
        }
        assert_eq!(constant(60, 15), CALIBRATION[0].1);
        assert_eq!(
            constant(10_000 * 3600, 15),
            CALIBRATION[CALIBRATION.len() - 1].1
        );
        let (a, b) = (CALIBRATION[0], CALIBRATION[1]);
        let mid = constant(((a.0 * b.0) as f64).sqrt() as u64 * 3600, 15);
        assert!(mid >= a.1.min(b.1) - 1e-9 && mid <= a.1.max(b.1) + 1e-9);
    }

    #[test]
    fn two_failures_suffice_on_a_day_long_stage_only() {
        let two = binomial::evidence_worse(2.0, 2.0, 0.001, 0.011);
        let day = Ladder::new(15, &[(0.01, 24 * 3600)]);
        let short = day.rungs.iter().filter(|r| is_short(r.window_secs, 15));
        assert_eq!(
            short.clone().map(|r| r.window_secs).collect::<Vec<_>>(),
            [30, 45, 60]
        );
        assert!(short.clone().all(|r| r.threshold < two));
        // Two failures and a success do not (11.9 nats).
        let with_success = binomial::evidence_worse(2.0, 3.0, 0.001, 0.011);
        assert!(short.clone().all(|r| r.threshold > with_success));
        let fortnight = Ladder::new(15, &[(1.0, 336 * 3600)]);
        assert!(fortnight.rungs[0].threshold > two);
        assert_eq!(short_constant(336 * 3600, 15), constant(336 * 3600, 15));
    }

    #[test]
    fn shorter_scrapes_take_the_corrected_constants() {
        let day = 24 * 3600;
        let gain = |hold: u64| 3f64.ln() * (1.0 + (hold as f64 / day as f64).ln() / 14f64.ln());
        assert_eq!(scrape_correction(15, day), 0.0);
        assert_eq!(scrape_correction(30, 336 * day / 24), 0.0);
        // A day and shorter: ln 3 at 5 s, ln 15 at 1 s (the 1 s examples' minutes-long holds);
        // two weeks and longer: twice that.
        assert!((scrape_correction(5, day) - 3f64.ln()).abs() < 1e-12);
        assert!((scrape_correction(1, 300) - 15f64.ln()).abs() < 1e-12);
        assert!((scrape_correction(5, 14 * day) - 2.0 * 3f64.ln()).abs() < 1e-12);
        assert!((scrape_correction(5, 100 * day) - 2.0 * 3f64.ln()).abs() < 1e-12);
        for &(hours, c) in CALIBRATION {
            let hold = hours * 3600;
            // 15 s and longer: the calibration's own constants, to the bit.
            assert_eq!(constant(hold, 15), c);
            assert_eq!(constant(hold, 60), c);
            // 5 s: never the uncorrected 15 s ones, and more for a longer hold.
            assert!((constant(hold, 5) - c - gain(hold)).abs() < 1e-12);
            let short = short_constant(hold, 15);
            assert!((short_constant(hold, 5) - short - gain(hold)).abs() < 1e-12);
        }
        assert!(scrape_correction(5, 48 * 3600) > scrape_correction(5, day));
        assert!(scrape_correction(5, 168 * 3600) < scrape_correction(5, 336 * 3600));
        // Every threshold of a 5 s ladder, in every stage class, and the ladders the preview
        // and `canaryc check` take from it (`at_share`, `for_hold`), carry the correction.
        let standard = STANDARD;
        let ladder = Ladder::new(5, &standard);
        assert_eq!(ladder.rungs[0].window_secs, 10);
        let uncorrected = Ladder::with_constants(5, &standard, |h| constants(h, 15));
        for (class, plain) in ladder.stages.iter().zip(&uncorrected.stages) {
            let g = gain(class.hold_secs);
            assert!((class.constant - constant(class.hold_secs, 15) - g).abs() < 1e-12);
            for (t, u) in class.thresholds.iter().zip(&plain.thresholds) {
                assert!((t - u - g).abs() < 1e-12);
            }
            let alone = ladder.for_hold(class.hold_secs);
            assert_eq!(alone.stages[0].thresholds, class.thresholds);
        }
        for (share, _) in standard {
            let at = ladder.at_share(share);
            assert_eq!(
                at.stages[0].thresholds,
                ladder.class_at(Some(share)).unwrap().thresholds
            );
        }
        for (r, u) in ladder.rungs.iter().zip(&uncorrected.rungs) {
            assert!((r.threshold - u.threshold - gain(336 * 3600)).abs() < 1e-12);
            assert!(
                (threshold(r.window_secs, 336 * 3600, 5) - r.threshold).abs() < 1e-12,
                "rung {}",
                r.window_secs
            );
        }
    }

    #[test]
    fn stages_are_told_apart_by_share() {
        let standard = STANDARD;
        let ladder = Ladder::new(15, &standard);
        assert_eq!(ladder.stages.len(), 5);
        assert_eq!(ladder.share_window_secs, 2880);
        let hold = |s: f64| ladder.class_at(Some(s)).map(|c| c.hold_secs / 3600);
        assert_eq!(hold(0.0), Some(24));
        assert_eq!(hold(0.02), Some(24));
        assert_eq!(hold(0.03), Some(48));
        assert_eq!(hold(0.3), Some(72));
        assert_eq!(hold(0.6), Some(168));
        assert_eq!(hold(0.9), Some(336));
        assert_eq!(hold(f64::NAN), None);
        // Unknown: the longest hold's thresholds.
        assert_eq!(ladder.thresholds_at(None), ladder.stages[4].thresholds);
        assert!(ladder.thresholds_at(Some(0.01))[0] < ladder.thresholds_at(None)[0]);
        // Equal holds need no boundary.
        let two = Ladder::new(15, &[(0.1, 3600), (0.5, 3600), (1.0, 7200)]);
        assert_eq!(two.stages.len(), 2);
        assert!((two.stages[1].from_share - 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn the_limit_balances_evidence_and_threshold() {
        let ladder = Ladder::new(15, &[(1.0, 336 * 3600)]);
        let above = super::super::effect::Effect::Above(0.01);
        let t = ladder.limit_secs(above, 0.01, 0.02, 0.001).unwrap();
        let evidence = 0.01 * binomial::kl(0.02, 0.001) * t;
        let needed = (1.0 + 336.0 * 3600.0 / t).ln() + constant(336 * 3600, 15);
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
