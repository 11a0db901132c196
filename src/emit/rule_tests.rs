//! `promtool test rules` cases for the sequential triggers, generated with every build.
//!
//! - A planted regression: py3 healthy for an hour, then failing (or slow) far beyond its
//!   threshold. The reference evaluator (`stats::evaluate`) runs the rules' logic on the very
//!   same series and says at which evaluation the alert first fires; the case expects it silent
//!   one evaluation before and firing then, so promtool holds the generated PromQL to the
//!   evaluator to the evaluation.
//! - Healthy days: three seeded random days of a healthy py3 (failures and slow requests at
//!   py2's rates, Poisson), for which `ALERTS` must stay empty at every evaluation of the day.
//!
//! Series are integers written in promtool's expanding notation (`a+bxn` runs), so a day of
//! sparse random failures stays small, and promtool and Rust compute with the same numbers.

use serde_json::{Value, json};

use super::metrics::{Metric, Source};
use super::prometheus::{Rule, duration};
use crate::ir::{Interpreter as Copy, Ir, LatencyBound, ServiceIr, TriggerIr};
use crate::stats::effect::Effect;
use crate::stats::evaluate::{
    BoundChoice, ErrorRule, Histogram, LadderTest, LatencyRule, Requests,
};
use crate::stats::increase::Sampled;
use crate::stats::random::Rng;

/// How often promtool evaluates the rules in the tests: every half hour (or the scrape
/// interval if longer). The rules do not depend on it; promtool's test storage is slow over
/// the ladder's day-long windows, and a day evaluated every 15 s would make each build's tests
/// take many minutes. Every 30 minutes (48 looks at each healthy day) keeps the tests of the
/// per-stage rules, which have a few more records, cheaper than those of the single-threshold
/// rules at every 15 minutes (examples/ledger-k8s-istio: 5.0 s of promtool CPU against 10.8 s
/// for the healthy days).
pub(super) fn evaluation_interval(ir: &Ir) -> u64 {
    1800.max(ir.metrics.scrape_interval_secs)
}

/// A counter's values at equal intervals.
#[derive(Debug, Clone, Default)]
struct Path {
    values: Vec<i64>,
}

impl Path {
    /// Cumulative sums of per-interval increments, starting at 0.
    fn from_increments(increments: impl IntoIterator<Item = i64>) -> Self {
        let mut v = 0;
        let mut values = vec![0];
        for inc in increments {
            v += inc;
            values.push(v);
        }
        Path { values }
    }

    fn minus(&self, other: &Path) -> Path {
        Path {
            values: self
                .values
                .iter()
                .zip(&other.values)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }

    /// promtool's expanding notation: runs of equal increments as `start+incxN`.
    fn notation(&self) -> String {
        let v = &self.values;
        let mut parts = Vec::new();
        let mut i = 0;
        while i < v.len() {
            if i + 1 < v.len() {
                let inc = v[i + 1] - v[i];
                let mut j = i + 1;
                while j + 1 < v.len() && v[j + 1] - v[j] == inc {
                    j += 1;
                }
                let n = j - i;
                parts.push(match inc {
                    0 => format!("{}x{n}", v[i]),
                    inc if inc > 0 => format!("{}+{inc}x{n}", v[i]),
                    inc => format!("{}{inc}x{n}", v[i]),
                });
                i = j + 1;
            } else {
                parts.push(v[i].to_string());
                i += 1;
            }
        }
        parts.join(" ")
    }

    fn sampled(&self, step_ms: i64) -> Sampled {
        Sampled::new(
            (0..self.values.len() as i64).map(|i| i * step_ms).collect(),
            self.values.iter().map(|v| *v as f64).collect(),
        )
    }
}

/// The requests of one copy: all of them, and the failed ones.
#[derive(Debug, Clone, Default)]
struct Traffic {
    total: Path,
    failed: Path,
}

impl Traffic {
    fn requests(&self, step_ms: i64) -> Requests<Sampled> {
        Requests {
            ok: Some(self.total.minus(&self.failed).sampled(step_ms)),
            failed: Some(self.failed.sampled(step_ms)),
        }
    }
}

/// A histogram as cumulative bucket paths by bound (the last is `+Inf`, the total).
#[derive(Debug, Clone, Default)]
struct Buckets {
    bounds: Vec<f64>,
    /// Requests above each finite bound.
    above: Vec<Path>,
    total: Path,
}

impl Buckets {
    fn histogram(&self, step_ms: i64) -> Histogram<Sampled> {
        let mut buckets: Vec<(f64, Sampled)> = self
            .bounds
            .iter()
            .zip(&self.above)
            .map(|(b, a)| (*b, self.total.minus(a).sampled(step_ms)))
            .collect();
        buckets.push((f64::INFINITY, self.total.sampled(step_ms)));
        Histogram { buckets }
    }
}

/// The input series of one case.
struct Inputs<'a> {
    src: &'a Source<'a>,
    service: &'a ServiceIr,
    step_secs: u64,
    py2: Traffic,
    py3: Traffic,
    latency: Option<(Buckets, Buckets)>,
}

/// A bound as exporters print it: `0.25`, `1`, `500`.
fn le_text(b: f64) -> String {
    let text = format!("{b:?}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

impl Inputs<'_> {
    fn series(&self) -> Vec<Value> {
        let e = self.src.error_label();
        let mut out = Vec::new();
        let mut push = |m: &Metric, extra: &[(&str, &str)], p: &Path| {
            out.push(json!({ "series": m.input(self.service, extra), "values": p.notation() }));
        };
        for (copy, t) in [(Copy::Py2, &self.py2), (Copy::Py3, &self.py3)] {
            let m = self.src.requests(copy);
            push(&m, &[(e.label, e.ok)], &t.total.minus(&t.failed));
            push(&m, &[(e.label, e.error)], &t.failed);
            if let Some(r) = self.src.retries(copy) {
                push(
                    &r,
                    &[],
                    &Path {
                        values: vec![0; t.total.values.len()],
                    },
                );
            }
        }
        if let Some((py2, py3)) = &self.latency {
            for (copy, b) in [(Copy::Py2, py2), (Copy::Py3, py3)] {
                let (m, _) = self.src.latency(copy);
                for (bound, above) in b.bounds.iter().zip(&b.above) {
                    push(&m, &[("le", &le_text(*bound))], &b.total.minus(above));
                }
                push(&m, &[("le", "+Inf")], &b.total);
            }
        }
        out
    }

    fn step_ms(&self) -> i64 {
        self.step_secs as i64 * 1000
    }

    fn end_secs(&self) -> u64 {
        (self.py3.total.values.len() as u64 - 1) * self.step_secs
    }

    /// The first evaluation (multiple of `every` seconds) at which the trigger fires, by the
    /// reference evaluator; and whether it fires at any evaluation.
    fn first_fire(&self, ir: &Ir, trigger: &TriggerIr, every: u64) -> Option<u64> {
        let test = |effect| LadderTest {
            ladder: ir.detection.ladder.clone(),
            effect,
        };
        let step = self.step_ms();
        let py2 = self.py2.requests(step);
        let evals = (0..=self.end_secs()).step_by(every as usize);
        if let Some(effect) = trigger.effect {
            let py3 = self.py3.requests(step);
            let mut rule = ErrorRule::new(test(effect));
            for t in evals {
                if rule.eval(t as i64 * 1000, &py2, &py3).margins.fires() {
                    return Some(t);
                }
            }
            return None;
        }
        let l = trigger.latency?;
        let (b2, b3) = self.latency.as_ref()?;
        let unit = ir.detection.latency_unit_secs;
        let (effect, choice) = match l.bound {
            LatencyBound::TimesPy2(r) => (
                Effect::ShareAbove(1.0 - l.quantile),
                BoundChoice::TimesPy2(r),
            ),
            LatencyBound::AtLeastSecs(s) => (
                Effect::AtLeast(1.0 - l.quantile),
                BoundChoice::AtLeast(s / unit),
            ),
        };
        let mut rule = LatencyRule::new(
            test(effect),
            l.quantile,
            choice,
            ir.detection.latency_buckets.clone(),
        );
        let (h2, h3) = (b2.histogram(step), b3.histogram(step));
        let py3 = self.py3.requests(step);
        let mut evals = evals;
        evals.find(|&t| {
            rule.eval(t as i64 * 1000, &py2, &py3, &h2, &h3)
                .margins
                .fires()
        })
    }
}

/// Three finite bucket bounds for a latency test's inputs: around 100ms for a ratio, around the
/// threshold for an absolute bound (the tested bucket in the middle).
fn test_bounds(ir: &Ir, bound: LatencyBound) -> Option<[f64; 3]> {
    let b = &ir.detection.latency_buckets;
    let unit = ir.detection.latency_unit_secs;
    let i = match bound {
        LatencyBound::TimesPy2(_) => b.iter().position(|x| x * unit >= 0.1)?,
        LatencyBound::AtLeastSecs(s) => b
            .iter()
            .position(|x| *x >= s / unit - 1e-9)?
            .checked_sub(1)?,
    };
    Some([*b.get(i)?, *b.get(i + 1)?, *b.get(i + 2)?])
}

/// py2's latency, deterministic: of every 1000 requests, 20 above the first bound, 5 above the
/// second, 1 above the third (p99 between the first two).
fn py2_latency(bounds: [f64; 3], intervals: usize, per: i64) -> Buckets {
    let share = |k: i64| Path::from_increments((0..intervals).map(move |_| per * k / 1000));
    Buckets {
        bounds: bounds.to_vec(),
        above: vec![share(20), share(5), share(1)],
        total: share(1000),
    }
}

fn poisson_path(rng: &mut Rng, intervals: usize, mean: impl Fn(usize) -> f64) -> Path {
    Path::from_increments((0..intervals).map(|i| rng.poisson(mean(i)) as i64))
}

fn alert_expectation(rule: &Rule, service: &ServiceIr) -> Value {
    let mut labels = rule.labels.clone();
    labels["service"] = json!(service.name);
    json!({ "exp_labels": labels, "exp_annotations": rule.annotations })
}

/// The planted regression of one sequential trigger.
pub(super) fn planted(
    ir: &Ir,
    trigger: &TriggerIr,
    rule: &Rule,
    service: &ServiceIr,
) -> Vec<Value> {
    let src = Source::new(ir);
    let every = evaluation_interval(ir);
    let latency_bounds = trigger.latency.and_then(|l| test_bounds(ir, l.bound));
    if trigger.latency.is_some() && latency_bounds.is_none() {
        return Vec::new();
    }
    // At the plan's scrape interval: an hour healthy, an hour broken.
    let step = ir.metrics.scrape_interval_secs;
    let intervals = (7200 / step) as usize;
    let broken_from = intervals / 2;
    let per_scrape = |per_minute: i64| (per_minute * step as i64 / 60).max(1);
    // At least three requests a scrape, so a half and a third of them are whole requests.
    let py3_per = per_scrape(40).max(3);
    let broken = |i: usize| i >= broken_from;
    let mut planted = Inputs {
        src: &src,
        service,
        step_secs: step,
        py2: Traffic {
            total: Path::from_increments((0..intervals).map(|_| per_scrape(1000))),
            failed: Path::from_increments((0..intervals).map(|i| i64::from(i % 16 == 0))),
        },
        py3: Traffic {
            total: Path::from_increments((0..intervals).map(|_| py3_per)),
            failed: Path::from_increments((0..intervals).map(|_| 0)),
        },
        latency: None,
    };
    let what = if trigger.effect.is_some() {
        // Far beyond the threshold: half of py3's requests fail.
        planted.py3.failed =
            Path::from_increments((0..intervals).map(|i| if broken(i) { py3_per / 2 } else { 0 }));
        "a planted regression (half of py3's requests fail from 1h)"
    } else {
        let bounds = latency_bounds.unwrap_or_default();
        let slow = || {
            Path::from_increments((0..intervals).map(|i| if broken(i) { py3_per / 3 } else { 0 }))
        };
        // From 1h, a third of py3's requests are slower than every bucket.
        let py3 = Buckets {
            bounds: bounds.to_vec(),
            above: (0..3).map(|_| slow()).collect(),
            total: Path::from_increments((0..intervals).map(|_| py3_per)),
        };
        planted.latency = Some((py2_latency(bounds, intervals, per_scrape(1000)), py3));
        "a planted regression (a third of py3's requests slower than every bucket from 1h)"
    };
    let Some(fired) = planted.first_fire(ir, trigger, every) else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    if fired >= every {
        checks.push(json!({ "eval_time": duration(fired - every), "alertname": rule.alert, "exp_alerts": [] }));
    }
    checks.push(json!({
        "eval_time": duration(fired),
        "alertname": rule.alert,
        "exp_alerts": [alert_expectation(rule, service)],
    }));
    vec![json!({
        "name": format!("{}: {what} fires at {} and not before", rule.alert, duration(fired)),
        "interval": duration(step),
        "input_series": planted.series(),
        "alert_rule_test": checks,
    })]
}

/// Healthy days, shared by every sequential trigger: every minute py2 serves 1000 requests (one
/// fails) and py3 30, failing and slow at py2's rates, at random; no sequential alert may fire
/// at any evaluation of the day.
pub(super) fn healthy_days(
    ir: &Ir,
    all: &[(&TriggerIr, Rule)],
    sequential: &[&Rule],
    service: &ServiceIr,
) -> Vec<Value> {
    if sequential.is_empty() {
        return Vec::new();
    }
    let src = Source::new(ir);
    let every = evaluation_interval(ir);
    let latency_bounds = all
        .iter()
        .find_map(|(t, _)| t.latency.and_then(|l| test_bounds(ir, l.bound)));
    let intervals = 1440;
    let mut out = Vec::new();
    for seed in 1..=3u64 {
        let mut rng = Rng::new(seed);
        let mut day = Inputs {
            src: &src,
            service,
            step_secs: 60,
            py2: Traffic {
                total: Path::from_increments((0..intervals).map(|_| 1000)),
                failed: Path::from_increments((0..intervals).map(|_| 1)),
            },
            py3: Traffic {
                total: Path::from_increments((0..intervals).map(|_| 30)),
                failed: poisson_path(&mut rng, intervals, |_| 0.03),
            },
            latency: None,
        };
        if let Some(bounds) = latency_bounds {
            // py3 as py2: 0.5% above the second bound, 0.1% above the third (the first, below
            // py2's p99 and never tested, left out).
            let over3 = poisson_path(&mut rng, intervals, |_| 0.03);
            let between = poisson_path(&mut rng, intervals, |_| 0.12);
            let over2 = Path {
                values: over3
                    .values
                    .iter()
                    .zip(&between.values)
                    .map(|(a, b)| a + b)
                    .collect(),
            };
            day.latency = Some((
                py2_latency(bounds, intervals, 1000),
                Buckets {
                    bounds: bounds[1..].to_vec(),
                    above: vec![over2, over3],
                    total: day.py3.total.clone(),
                },
            ));
        }
        let tested: Vec<&TriggerIr> = all
            .iter()
            .filter(|(t, _)| t.is_sequential())
            .filter(|(t, _)| t.effect.is_some() || day.latency.is_some())
            .map(|(t, _)| *t)
            .collect();
        if tested
            .iter()
            .any(|t| day.first_fire(ir, t, every).is_some())
        {
            // The reference evaluator says this seed is one of the rare healthy days that roll
            // back (the thresholds allow 1% of stages): not a test of silence.
            continue;
        }
        let names: Vec<&str> = tested.iter().map(|t| t.alert.as_str()).collect();
        out.push(json!({
            "name": format!("a healthy py3 for a day (seed {seed}): {} never fire", names.join(", ")),
            "interval": "1m",
            "input_series": day.series(),
            "promql_expr_test": [ {
                "expr": format!("count_over_time(ALERTS{{alertname=~\"{}\"}}[1d])", names.join("|")),
                "eval_time": "1d",
                "exp_samples": [],
            } ],
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanding_notation_round_trips() {
        let p = Path {
            values: vec![0, 0, 0, 3, 6, 9, 10, 10, 4],
        };
        assert_eq!(p.notation(), "0x2 3+3x2 10x1 4");
        let single = Path { values: vec![5] };
        assert_eq!(single.notation(), "5");
    }
}
