//! Time to detect, from the plan: with the traffic the plan expects, how soon each stage's
//! rollback triggers catch a regression of their own size (and a py3 failing everything), how
//! many failed requests py3 serves first, and how long each success criterion needs. `canaryc
//! check` prints it, the runbook carries it (through the IR), and the checker warns where a
//! stage cannot catch its triggers (CNR450) or show its criteria (CNR451) within its hold.

use schemars::JsonSchema;
use serde::Serialize;

use super::Checker;
use super::rollback::metric_name;
use super::value::fmt_duration;
use crate::diag::{Code, Diagnostic};
use crate::model::{Criterion, Metric, Plan, Stage, Threshold, Trigger};
use crate::stats::effect::Effect;
use crate::stats::ladder::{CALIBRATED_SCRAPE_SECS, Ladder, MEASURED_SCRAPE_SECS, TOP_SECS};
use crate::stats::preview::{self, Detection};

/// The preview of one plan, for its least-trafficked service with a stated `traffic`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Preview {
    pub service: String,
    /// Requests per second to the service.
    pub traffic: f64,
    /// py2's failure rate, a fraction.
    pub py2_error_rate: f64,
    pub stages: Vec<StagePreview>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StagePreview {
    pub stage: String,
    /// py3's share, percent.
    pub share: f64,
    /// Requests per second py3 serves.
    pub py3_rate: f64,
    pub hold_secs: u64,
    pub catches: Vec<Catch>,
    pub proofs: Vec<Proof>,
}

/// How soon a trigger catches one regression.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Catch {
    /// The trigger as the plan says it.
    pub trigger: String,
    /// The regression: "a py3 at 1.1% errors (1 point above py2)".
    pub regression: String,
    /// Whether this is the trigger's own threshold (the one CNR450 holds the stage to).
    pub at_threshold: bool,
    pub detection: Option<Detection>,
    /// What `detection.failed` counts: "failed" requests, or "slow" ones.
    pub harm: &'static str,
}

impl Catch {
    pub fn within(&self, hold_secs: u64) -> bool {
        self.detection.is_some_and(|d| d.secs <= hold_secs as f64)
    }
}

/// How soon a healthy py3 (failing as often as py2) shows a success criterion.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Proof {
    pub criterion: String,
    pub secs: Option<f64>,
    /// py3 requests the evidence needs.
    pub requests: f64,
}

/// The effect a sequential trigger on the error rate tests, or `None` for other metrics.
pub fn error_effect(threshold: Threshold) -> Option<Effect> {
    match threshold {
        Threshold::Percent(p) => Some(Effect::Above(p / 100.0)),
        Threshold::AbsolutePercent(p) => Some(Effect::AtLeast(p / 100.0)),
        Threshold::RatioOfPy2(r) => Some(Effect::Times(r)),
        Threshold::Millis(_) | Threshold::Count(_) => None,
    }
}

/// The rate a criterion bounds py3's failure rate by, from py2's.
pub fn error_bound(threshold: Threshold, p0: f64) -> Option<f64> {
    match threshold {
        Threshold::Percent(p) => Some(p0 + p / 100.0),
        Threshold::AbsolutePercent(p) => Some(p / 100.0),
        Threshold::RatioOfPy2(r) => Some(p0 * r),
        Threshold::Millis(_) | Threshold::Count(_) => None,
    }
}

/// What the preview assumes of latency: py2 has a tenth of the quantile's tail above the
/// tested bucket, a regressed py3 the whole tail.
pub fn latency_shares(quantile: f64) -> (f64, f64) {
    let tail = 1.0 - quantile;
    (tail / 10.0, tail)
}

/// "1.1%", "0.15%", "100%".
pub fn percent_text(fraction: f64) -> String {
    let p = fraction * 100.0;
    let digits = if p >= 10.0 {
        0
    } else if p >= 1.0 {
        1
    } else {
        2
    };
    let mut text = format!("{p:.digits$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}%")
}

fn trigger_text(t: &Trigger) -> String {
    let op = if t.op.is_upper_bound() { "<" } else { ">" };
    let threshold = t.threshold.value;
    format!(
        "{} {op} {threshold}",
        metric_name(t.metric.value, t.quantile)
    )
}

fn catches(ladder: &Ladder, trigger: &Trigger, p0: f64, rate: f64, baseline: f64) -> Vec<Catch> {
    let text = trigger_text(trigger);
    match trigger.metric.value {
        Metric::ErrorRate => {
            let Some(effect) = error_effect(trigger.threshold.value) else {
                return Vec::new();
            };
            let at = effect.alternative(p0);
            let what = match trigger.threshold.value {
                Threshold::Percent(p) => format!(
                    "{} point{} above py2",
                    super::number_text(p),
                    if p == 1.0 { "" } else { "s" }
                ),
                Threshold::RatioOfPy2(r) => format!("{}x py2", super::number_text(r)),
                _ => "the bound".to_string(),
            };
            let mut out = vec![Catch {
                trigger: text.clone(),
                regression: format!("a py3 at {} errors ({what})", percent_text(at)),
                at_threshold: true,
                detection: preview::detect(ladder, effect, p0, at, rate, baseline),
                harm: "failed",
            }];
            if at < 1.0 {
                out.push(Catch {
                    trigger: text,
                    regression: "a py3 failing every request".into(),
                    at_threshold: false,
                    detection: preview::detect(ladder, effect, p0, 1.0, rate, baseline),
                    harm: "failed",
                });
            }
            out
        }
        Metric::Latency => {
            let q = trigger.quantile.map_or(0.99, |q| q.as_fraction());
            let (py2_share, bad_share) = latency_shares(q);
            let effect = match trigger.threshold.value {
                Threshold::Millis(_) => Effect::AtLeast(bad_share),
                _ => Effect::ShareAbove(bad_share),
            };
            vec![Catch {
                trigger: text,
                regression: format!(
                    "a py3 at the threshold ({} of requests slower than the tested bucket, py2 {})",
                    percent_text(bad_share),
                    percent_text(py2_share)
                ),
                at_threshold: true,
                detection: preview::detect(ladder, effect, py2_share, bad_share, rate, baseline),
                harm: "slow",
            }]
        }
        _ => Vec::new(),
    }
}

fn proofs(stage: &Stage, p0: f64, rate: f64, scrape_secs: u64, baseline: f64) -> Vec<Proof> {
    let window = (stage.hold.value / 1000).min(TOP_SECS);
    let mut out = Vec::new();
    let mut prove = |criterion: String, healthy: f64, bound: f64, baseline: Option<f64>| {
        out.push(Proof {
            criterion,
            secs: preview::pass(healthy, bound, rate, window, scrape_secs, baseline),
            requests: preview::pass_requests(healthy, bound, baseline).unwrap_or(f64::INFINITY),
        });
    };
    for criterion in &stage.criteria {
        match criterion {
            Criterion::Compare {
                metric,
                quantile: None,
                op,
                threshold,
            } if metric.value == Metric::ErrorRate && op.is_upper_bound() => {
                if let Some(bound) = error_bound(threshold.value, p0) {
                    let t = Trigger {
                        metric: *metric,
                        quantile: None,
                        op: *op,
                        threshold: *threshold,
                        window: None,
                    };
                    let relative = !matches!(threshold.value, Threshold::AbsolutePercent(_));
                    prove(trigger_text(&t), p0, bound, relative.then_some(baseline));
                }
            }
            Criterion::Compare {
                metric,
                quantile,
                op,
                threshold,
            } if metric.value == Metric::Latency && op.is_upper_bound() => {
                // As for the triggers: py2 (and a healthy py3) with a tenth of the quantile's
                // tail above the tested bucket, against the whole tail.
                let q = quantile.map_or(0.99, |q| q.as_fraction());
                let (healthy, tail) = latency_shares(q);
                let t = Trigger {
                    metric: *metric,
                    quantile: *quantile,
                    op: *op,
                    threshold: *threshold,
                    window: None,
                };
                prove(trigger_text(&t), healthy, tail, None);
            }
            Criterion::WithinBaseline(tolerance) => {
                prove(
                    format!(
                        "error_rate within {}% of py2's",
                        super::number_text(tolerance.value)
                    ),
                    p0,
                    p0 * (1.0 + tolerance.value / 100.0),
                    Some(baseline),
                );
                let (healthy, tail) = latency_shares(0.99);
                prove(
                    format!(
                        "latency p99 within {}% of py2's",
                        super::number_text(tolerance.value)
                    ),
                    healthy,
                    tail,
                    None,
                );
            }
            _ => {}
        }
    }
    out
}

/// The preview, or `None` when no service states its traffic.
pub fn preview(plan: &Plan) -> Option<Preview> {
    let (service, traffic, p0) = plan
        .services
        .iter()
        .filter_map(|s| {
            let (traffic, p0) = plan.expected(s);
            Some((s.name.value.clone(), traffic?, p0 / 100.0))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let scrape = (plan.monitor.scrape_interval.value / 1000).max(1);
    let plan_ladder = Ladder::new(scrape, &plan.stage_holds());
    let mut py2_day = traffic * 86_400.0;
    let stages = plan
        .schedule
        .stages
        .iter()
        .map(|stage| {
            let rate = traffic * stage.traffic.value / 100.0;
            // py2's requests behind the baseline: its last day, or the last it served (kept
            // by the rules when py2 stops serving).
            if stage.traffic.value < 100.0 {
                py2_day = traffic * (1.0 - stage.traffic.value / 100.0) * 86_400.0;
            }
            let baseline = py2_day;
            // The thresholds the rules use once they see this stage's share.
            let ladder = plan_ladder.at_share(stage.traffic.value / 100.0);
            StagePreview {
                stage: stage.name.value.clone(),
                share: stage.traffic.value,
                py3_rate: rate,
                hold_secs: stage.hold.value / 1000,
                catches: plan
                    .rollback
                    .iter()
                    .filter(|t| t.metric.value.is_sequential())
                    .flat_map(|t| catches(&ladder, t, p0, rate, baseline))
                    .collect(),
                proofs: proofs(stage, p0, rate, scrape, baseline),
            }
        })
        .collect();
    Some(Preview {
        service,
        traffic,
        py2_error_rate: p0,
        stages,
    })
}

/// The preview as `canaryc check` prints it.
pub fn render(p: &Preview) -> String {
    let mut o = format!(
        "time to detect at {} for `{}` (py2 failing {}):\n",
        rate_text(p.traffic),
        p.service,
        percent_text(p.py2_error_rate)
    );
    for st in &p.stages {
        o.push_str(&format!(
            "  {} (py3 {}, hold {})\n",
            st.stage,
            rate_text(st.py3_rate),
            fmt_duration(st.hold_secs * 1000)
        ));
        for c in &st.catches {
            let outcome = match c.detection {
                Some(d) if d.secs <= st.hold_secs as f64 => format!(
                    "caught in {}, after ~{} {} requests",
                    approx(d.secs),
                    count_text(d.failed),
                    c.harm
                ),
                Some(d) => format!("NOT caught within the hold (needs {})", approx(d.secs)),
                None => "NOT caught within a day's window".to_string(),
            };
            o.push_str(&format!(
                "    {}: {} is {outcome}\n",
                c.trigger, c.regression
            ));
        }
        for pr in &st.proofs {
            let outcome = match pr.secs {
                Some(s) if s <= st.hold_secs as f64 => format!("shown after {}", approx(s)),
                _ if pr.requests.is_finite() => format!(
                    "NOT shown within the hold (needs ~{} requests)",
                    count_text(pr.requests)
                ),
                _ => "never shown".to_string(),
            };
            o.push_str(&format!("    {}: {outcome}\n", pr.criterion));
        }
    }
    o
}

/// "~4 h", "~35 min", "~40 s", "~3 days".
pub fn approx(secs: f64) -> String {
    let round = |x: f64| {
        if x >= 10.0 {
            format!("{x:.0}")
        } else {
            let t = format!("{x:.1}");
            t.trim_end_matches(".0").to_string()
        }
    };
    if secs < 90.0 {
        format!("~{} s", round(secs))
    } else if secs < 90.0 * 60.0 {
        format!("~{} min", round(secs / 60.0))
    } else if secs < 48.0 * 3600.0 {
        format!("~{} h", round(secs / 3600.0))
    } else {
        format!("~{} days", round(secs / 86_400.0))
    }
}

/// "290", "1,200", "0.4": two significant figures from a hundred up (these are estimates).
pub fn count_text(n: f64) -> String {
    if n < 10.0 {
        let t = format!("{n:.1}");
        return t.trim_end_matches(".0").to_string();
    }
    let n = if n >= 100.0 {
        let scale = 10f64.powi(n.log10().floor() as i32 - 1);
        (n / scale).round() * scale
    } else {
        n
    };
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The per-second rate as plans write it: "0.4/s", "40/s".
pub fn rate_text(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}/s")
    } else if r >= 0.1 {
        let t = format!("{r:.2}");
        format!("{}/s", t.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let t = format!("{r:.4}");
        format!("{}/s", t.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl<'a> Checker<'a> {
    /// CNR453: error-rate triggers smaller than twice py2's rate (the calibration's limit).
    fn thresholds_against_calibration(&mut self, plan: &Plan) {
        let p0 = plan
            .py2_error_rate
            .as_ref()
            .map_or(crate::model::DEFAULT_PY2_ERROR_RATE, |r| r.value)
            / 100.0;
        for t in plan
            .rollback
            .iter()
            .filter(|t| t.metric.value == Metric::ErrorRate)
        {
            let small = match t.threshold.value {
                Threshold::RatioOfPy2(r) => {
                    (r < 2.0).then(|| format!("{}x py2", super::number_text(r)))
                }
                Threshold::Percent(p) if p / 100.0 < p0 => Some(format!(
                    "{}% above py2's {}",
                    super::number_text(p),
                    percent_text(p0)
                )),
                _ => None,
            };
            if let Some(what) = small {
                self.report(
                    Diagnostic::new(
                        Code::ThresholdBelowCalibration,
                        t.threshold.span,
                        format!("a rollback at {what} is within py2's own noise"),
                    )
                    .label("less than twice py2's error rate")
                    .help("the thresholds keep healthy rollbacks under 1% of stages from twice py2's rate up: use `2x py2` or more, or an absolute bound"),
                );
            }
        }
    }

    /// CNR458: a scrape interval below the calibration's at which the false rollbacks of the
    /// sequential triggers were never measured (`stats::ladder::MEASURED_SCRAPE_SECS`). Longer
    /// intervals look less often and keep the calibration's constants: not warned.
    fn scrape_interval_against_calibration(&mut self, plan: &Plan) {
        let interval = &plan.monitor.scrape_interval;
        let ms = interval.value;
        let measured = ms % 1000 == 0 && MEASURED_SCRAPE_SECS.contains(&(ms / 1000));
        if measured || ms >= CALIBRATED_SCRAPE_SECS * 1000 {
            return;
        }
        if !plan.rollback.iter().any(|t| t.metric.value.is_sequential()) {
            return;
        }
        let (fast, slow) = (MEASURED_SCRAPE_SECS[0], CALIBRATED_SCRAPE_SECS);
        self.report(
            Diagnostic::new(
                Code::ScrapeIntervalUncalibrated,
                interval.span,
                format!(
                    "healthy rollbacks at a {} scrape interval have not been measured",
                    fmt_duration(ms)
                ),
            )
            .label("not a measured interval")
            .help(format!(
                "the rollback tests are measured to roll back at most 1% of healthy stages at `{slow}s` and `{fast}s`: use `scrape_interval = {fast}s` (or `{slow}s`), and scrape the two copies at it"
            )),
        );
    }

    /// CNR450 and CNR451, when the plan states its traffic; CNR453 and CNR458 always.
    pub(crate) fn detection_against_holds(&mut self, plan: &Plan) {
        self.thresholds_against_calibration(plan);
        self.scrape_interval_against_calibration(plan);
        let Some(preview) = preview(plan) else {
            return;
        };
        let scrape = (plan.monitor.scrape_interval.value / 1000).max(1);
        let plan_ladder = Ladder::new(scrape, &plan.stage_holds());
        for (stage, sp) in plan.schedule.stages.iter().zip(&preview.stages) {
            // A larger share for this stage keeps its hold's thresholds.
            let ladder = plan_ladder.for_hold(sp.hold_secs.max(1));
            for catch in sp.catches.iter().filter(|c| c.at_threshold) {
                if catch.within(sp.hold_secs) {
                    continue;
                }
                let Some(trigger) = plan
                    .rollback
                    .iter()
                    .find(|t| trigger_text(t) == catch.trigger)
                else {
                    continue;
                };
                let takes = match catch.detection {
                    Some(d) => format!("takes {} to catch", approx(d.secs)),
                    None => "is not caught within a day's window (the longest the rules look back)"
                        .to_string(),
                };
                let share = smallest_share(
                    &ladder,
                    trigger,
                    preview.py2_error_rate,
                    preview.traffic,
                    sp.hold_secs,
                );
                let mut help = match share {
                    Some(s) if s > sp.share => format!(
                        "give the stage at least {}% of traffic",
                        super::number_text(s)
                    ),
                    _ => "raise the threshold".to_string(),
                };
                if let Some(d) = catch.detection.filter(|d| d.secs <= TOP_SECS as f64 * 2.0) {
                    help.push_str(&format!(
                        ", or hold it for at least {}",
                        approx(d.secs).trim_start_matches('~')
                    ));
                }
                help.push_str(": until then py3 can advance with a regression of this size unseen");
                self.report(
                    Diagnostic::new(
                        Code::UndetectableInHold,
                        stage.hold.span,
                        format!(
                            "stage `{}` cannot catch `{}` within its {} hold: at {} py3 serves {}, and {} {takes}",
                            sp.stage,
                            catch.trigger,
                            fmt_duration(stage.hold.value),
                            rate_text(preview.traffic),
                            rate_text(sp.py3_rate),
                            catch.regression,
                        ),
                    )
                    .label("too short for this traffic")
                    .secondary(trigger.threshold.span, "rollback threshold")
                    .help(help),
                );
            }
            for proof in &sp.proofs {
                if proof.secs.is_some_and(|s| s <= sp.hold_secs as f64) {
                    continue;
                }
                let needs = if proof.requests.is_finite() {
                    format!(
                        "a py3 as healthy as py2 needs ~{} requests to show it ({} at {})",
                        count_text(proof.requests),
                        approx(proof.requests / sp.py3_rate.max(1e-12)),
                        rate_text(sp.py3_rate)
                    )
                } else {
                    "not even a py3 as healthy as py2 can show it: py2's own rate is not known that precisely from a day of its traffic".to_string()
                };
                self.report(
                    Diagnostic::new(
                        Code::UnprovableInHold,
                        stage.hold.span,
                        format!(
                            "stage `{}` cannot show `{}` within its {} hold: {needs}",
                            sp.stage,
                            proof.criterion,
                            fmt_duration(stage.hold.value),
                        ),
                    )
                    .label("the stage would end without the evidence")
                    .help("a quiet stage is not a passed one: loosen the criterion, give the stage more traffic, or hold it longer (evidence is taken over at most a day)"),
                );
            }
        }
    }
}

/// The smallest share (percent, in whole percents where above 1) at which `trigger` catches a
/// regression of its own size within `hold_secs`.
fn smallest_share(
    ladder: &Ladder,
    trigger: &Trigger,
    p0: f64,
    traffic: f64,
    hold_secs: u64,
) -> Option<f64> {
    let shares = [
        0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 75.0, 100.0,
    ];
    shares.into_iter().find(|&s| {
        catches(
            ladder,
            trigger,
            p0,
            traffic * s / 100.0,
            traffic * (1.0 - s / 100.0).max(0.5) * 86_400.0,
        )
        .iter()
        .filter(|c| c.at_threshold)
        .all(|c| c.within(hold_secs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(percent_text(0.011), "1.1%");
        assert_eq!(percent_text(0.0015), "0.15%");
        assert_eq!(percent_text(1.0), "100%");
        assert_eq!(approx(14_400.0), "~4 h");
        assert_eq!(approx(45.0), "~45 s");
        assert_eq!(count_text(1234.4), "1,200");
        assert_eq!(count_text(47.4), "47");
        assert_eq!(count_text(0.42), "0.4");
        assert_eq!(rate_text(0.4), "0.4/s");
        assert_eq!(rate_text(40.0), "40/s");
    }
}
