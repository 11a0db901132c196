//! The sequential tests as PromQL: recording rules that count py2's and py3's requests over the
//! ladder of windows, and one test per trigger or criterion whose margin is the decision.
//!
//! Every test is one function returning a [`Test`]: its recording rules and the one expression
//! (`margin`) a decision reads. The alert is `margin > 0`; an Argo Rollouts AnalysisTemplate or
//! Flagger MetricTemplate reuses the same `margin` query (failure/threshold at 0), against the
//! Prometheus that loads these rules, so alert and analysis cannot disagree. The arithmetic is
//! `stats::binomial`'s, step for step, so the reference evaluator (`stats::evaluate`) computes
//! exactly what these rules do; benches/detection.rs `crosscheck` holds them to that with
//! promtool.
//!
//! Every recorded series carries the plan's name (`plan="..."`, from the rule's labels), so
//! several plans can share a Prometheus; every reference to a recorded series selects it.

use super::escape::promql;
use super::metrics::Source;
use crate::ir::{
    EvidenceIr, EvidenceTest, Interpreter as Copy, Ir, LatencyBound, LatencyTestIr, StageIr,
    TriggerIr,
};
use crate::stats::binomial::ONE_MINUS_FLOOR;
use crate::stats::effect::Effect;
use crate::stats::evaluate::deflation;
use crate::stats::ladder::TOP_SECS;

/// A recording rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub name: String,
    /// Labels the rule adds besides `plan`.
    pub labels: Vec<(String, String)>,
    pub expr: String,
}

/// One test: the recording rules it needs (in evaluation order; shared ones repeat across tests
/// and are written once) and the expression of its margin, one series per service.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub records: Vec<Record>,
    /// PromQL: per service, the largest margin of the test's evidence over what it needs.
    pub margin: String,
    /// The recorded series `margin` reads, and its labels besides `plan`: what an engine's
    /// analysis selects for one service (`Rules::margin_of`).
    pub margin_record: String,
    pub margin_labels: Vec<(String, String)>,
}

impl Test {
    /// The rollback condition: an alert's `expr`, an analysis's failure condition.
    pub fn fires_when(&self) -> String {
        format!("{} > 0", self.margin)
    }

    /// The promotion condition of a success criterion: the evidence suffices.
    pub fn passes_when(&self) -> String {
        format!("{} >= 0", self.margin)
    }
}

/// `2m`, `1h30m`-free durations PromQL accepts: the largest unit that divides.
pub fn range(secs: u64) -> String {
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A float exactly as Rust holds it: PromQL parses the shortest round-trip form to the same
/// double, so the rules and the reference evaluator compute with identical constants.
fn num(x: f64) -> String {
    let text = format!("{x:?}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// `le` matcher for a bucket bound, whichever way the exporter prints it (`1`, `1.0`, `0.50`).
fn le_regex(bound: f64) -> String {
    let text = num(bound);
    match text.split_once('.') {
        Some((int, frac)) => format!("{int}\\\\.{frac}0*"),
        None => format!("{text}(\\\\.0+)?"),
    }
}

/// `value` while py2's baseline day is fresh, else the last value recorded: a baseline that
/// outlives py2's traffic (stats::evaluate, steps 2-3). `recorded` is the rule's own series.
fn latched(value: &str, fresh: &str, recorded: &str) -> String {
    format!("({value} and on(service) {fresh})\nor on(service) last_over_time({recorded}[1h])")
}

/// The rules of one plan, shared between its tests.
pub struct Rules<'a> {
    pub ir: &'a Ir,
    pub src: Source<'a>,
}

impl<'a> Rules<'a> {
    pub fn new(ir: &'a Ir) -> Self {
        Rules {
            ir,
            src: Source::new(ir),
        }
    }

    fn scrape(&self) -> u64 {
        self.ir.detection.ladder.scrape_secs
    }

    /// A recorded series of this plan, with more matchers.
    pub fn series(&self, name: &str, matchers: &[(&str, &str)]) -> String {
        // Label values through the PromQL escaper (ARCHITECTURE.md, "Threat model").
        let mut m = vec![format!("plan={}", promql::string(&self.ir.name))];
        m.extend(
            matchers
                .iter()
                .map(|(k, v)| format!("{k}={}", promql::string(v))),
        );
        format!("{name}{{{}}}", m.join(","))
    }

    /// What an engine's analysis (Argo Rollouts, Flagger, `canaryc promote`) queries for one
    /// service: the test's recorded margin, one sample `by (service)` (none while py3 has no
    /// data, or when these rules are not loaded into the Prometheus it asks).
    pub fn margin_of(&self, test: &Test, service: &str) -> String {
        let mut matchers: Vec<(&str, &str)> = test
            .margin_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        matchers.push(("service", service));
        format!(
            "max by (service) ({})",
            self.series(&test.margin_record, &matchers)
        )
    }

    fn record(&self, name: &str, labels: &[(&str, &str)], expr: String) -> Record {
        Record {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            expr,
        }
    }

    /// The windows py3 is counted over: the ladder's rungs, then the criteria's windows that
    /// are not rungs.
    pub fn windows(&self) -> Vec<u64> {
        let mut w: Vec<u64> = self
            .ir
            .detection
            .ladder
            .rungs
            .iter()
            .map(|r| r.window_secs)
            .collect();
        for c in self.ir.stages.iter().flat_map(|s| &s.evidence) {
            if !w.contains(&c.window_secs) {
                w.push(c.window_secs);
            }
        }
        w
    }

    fn top(&self) -> u64 {
        self.ir.detection.ladder.top_secs()
    }

    /// `label_replace(EXPR(w), "window", "w", "", "") or ...` over every window.
    fn by_window(&self, f: impl Fn(u64) -> String) -> String {
        self.windows()
            .into_iter()
            .map(|w| {
                format!(
                    "label_replace({}, \"window\", \"{}\", \"\", \"\")",
                    f(w),
                    range(w)
                )
            })
            .collect::<Vec<_>>()
            .join("\nor ")
    }

    /// `(sum by (service) (increase(x[w])) [+ retries]) * d`.
    fn counted(&self, copy: Copy, failed: bool, window: u64) -> String {
        let e = self.src.error_label();
        let extra = failed.then_some((e.label, e.matcher));
        format!(
            "{} * {}",
            self.src.attempts(copy, extra, "increase", &range(window)),
            num(deflation(window, self.scrape()))
        )
    }

    /// py2's baseline and py3's counts: what every error-rate test and criterion reads.
    pub fn error_counts(&self) -> Vec<Record> {
        let day = TOP_SECS;
        let n2 = self.series("canary:py2_requests:increase1d", &[]);
        let fresh = self.series("canary:py2_requests:baseline_fresh", &[]);
        let baseline = self.series("canary:py2_requests:baseline", &[]);
        let n3 = self.series("canary:py3_requests:increase", &[]);
        let mut records = vec![
            self.record(
                "canary:py2_requests:increase1d",
                &[],
                self.counted(Copy::Py2, false, day),
            ),
            self.record(
                "canary:py2_errors:increase1d",
                &[],
                format!(
                    "{}\nor on(service) sum by (service) ({n2}) * 0",
                    self.counted(Copy::Py2, true, day)
                ),
            ),
            // Fresh while py2 serves at least half of its largest day of the last day; else the
            // last fresh baseline is kept (py2 at 0% in the last stage).
            self.record(
                "canary:py2_requests:baseline_fresh",
                &[],
                format!(
                    "({n2} >= 0.5 * max_over_time({baseline}[1d]))\nor on(service) ({n2} unless on(service) max_over_time({baseline}[1d]))"
                ),
            ),
            self.record(
                "canary:py2_requests:baseline",
                &[],
                format!("{fresh}\nor on(service) last_over_time({baseline}[1h])"),
            ),
            self.record(
                "canary:py2_error_ratio:baseline",
                &[],
                latched(
                    &format!(
                        "({} + 1) / ({n2} + 1)",
                        self.series("canary:py2_errors:increase1d", &[])
                    ),
                    &fresh,
                    &self.series("canary:py2_error_ratio:baseline", &[]),
                ),
            ),
            self.record(
                "canary:py3_requests:increase",
                &[],
                self.by_window(|w| self.counted(Copy::Py3, false, w)),
            ),
            self.record(
                "canary:py3_errors:increase",
                &[],
                format!(
                    "{}\nor on(service, window) sum by (service, window) ({n3}) * 0",
                    self.by_window(|w| self.counted(Copy::Py3, true, w))
                ),
            ),
            self.record(
                "canary:py3_error_ratio:window",
                &[],
                format!(
                    "{} / {n3}",
                    self.series("canary:py3_errors:increase", &[])
                ),
            ),
        ];
        records.extend(self.thresholds());
        records
    }

    /// The evidence each rung needs in each stage the rules tell apart (a series per window,
    /// labelled with the stage's hold), py3's share of requests, and per service and window
    /// the thresholds of the stage that share says is running (stats::ladder).
    fn thresholds(&self) -> Vec<Record> {
        let ladder = &self.ir.detection.ladder;
        let w = ladder.share_window_secs;
        let hold = |secs: u64| range(secs);
        let mut records: Vec<Record> = ladder
            .stages
            .iter()
            .map(|class| {
                let expr = ladder
                    .rungs
                    .iter()
                    .zip(&class.thresholds)
                    .map(|(r, h)| {
                        format!(
                            "label_replace(vector({}), \"window\", \"{}\", \"\", \"\")",
                            num(*h),
                            range(r.window_secs)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\nor ");
                self.record(
                    "canary:detection:threshold",
                    &[("hold", &hold(class.hold_secs))],
                    expr,
                )
            })
            .collect();
        let n2 = self.series("canary:py2_requests:increase_share", &[]);
        let n3 = format!(
            "sum by (plan, service) ({})",
            self.series("canary:py3_requests:increase", &[("window", &range(w))])
        );
        records.push(self.record(
            "canary:py2_requests:increase_share",
            &[],
            self.counted(Copy::Py2, false, w),
        ));
        records.push(self.record(
            "canary:py3_requests:share",
            &[],
            format!(
                "{n3} / ({n3} + on(plan, service) sum by (plan, service) ({n2}))\nor on(plan, service) {n3} * 0 + 1"
            ),
        ));
        let share = self.series("canary:py3_requests:share", &[]);
        let cells = format!(
            "sum by (plan, service, window) ({}) * 0",
            self.series("canary:py3_requests:increase", &[])
        );
        let of = |secs: u64| {
            format!(
                "{cells} + on(window) group_left() {}",
                self.series("canary:detection:threshold", &[("hold", &hold(secs))])
            )
        };
        let mut terms: Vec<String> = Vec::new();
        for (i, class) in ladder.stages.iter().enumerate() {
            let upper = ladder.stages.get(i + 1).map(|next| next.from_share);
            let filter = match (i, upper) {
                (_, None) if i == 0 => format!("{share} >= 0"),
                (0, Some(u)) => format!("{share} < {}", num(u)),
                (_, None) => format!("{share} >= {}", num(class.from_share)),
                (_, Some(u)) => format!("{share} >= {} < {}", num(class.from_share), num(u)),
            };
            terms.push(format!(
                "{} and on(plan, service) ({filter})",
                of(class.hold_secs)
            ));
        }
        // No share (no requests in its window): the longest hold's, the highest.
        terms.push(of(ladder
            .stages
            .iter()
            .map(|c| c.hold_secs)
            .max()
            .unwrap_or(ladder.longest_hold_secs)));
        records.push(self.record("canary:detection:stage_threshold", &[], terms.join("\nor ")));
        records
    }

    /// The null and alternative rates of an effect, as expressions over `p0` (py2's rate, or
    /// share), with `present` a series that exists per service whenever py3 has data (for an
    /// absolute bound, which needs no `p0`).
    fn rates(&self, effect: Effect, p0: &str, present: &str) -> (String, String) {
        match effect {
            Effect::Above(delta) => (p0.to_string(), format!("{p0} + {}", num(delta))),
            Effect::Times(factor) => (p0.to_string(), format!("{p0} * {}", num(factor))),
            Effect::AtLeast(bound) => (
                format!(
                    "clamp_max({p0}, {half})\nor on(service) sum by (service) ({present}) * 0 + {half}",
                    half = num(bound / 2.0)
                ),
                format!("NULL * 0 + {}", num(bound)),
            ),
            Effect::ShareAbove(share) => {
                (p0.to_string(), format!("clamp_min({p0}, {})", num(share)))
            }
        }
    }

    /// The margin rule of a ladder test over recorded failures `e`, requests `n` and their
    /// ratio `r` (series with `window`), and recorded `null` and `alternative` rates: the
    /// restricted GLR of `stats::binomial::evidence_worse`, minus each rung's threshold.
    fn margin_expr(&self, e: &str, n: &str, r: &str, null: &str, alternative: &str) -> String {
        // Every operand summed down to the same labels (a sum of one series is that series):
        // the binary operators then match one to one.
        let w = |x: &str| format!("sum by (plan, service, window) ({x})");
        let s = |x: &str| format!("sum by (plan, service) ({x})");
        let (e, n, r, null, alternative) = (w(e), w(n), w(r), s(null), s(alternative));
        let on = "on(plan, service) group_left()";
        let threshold = self.series("canary:detection:stage_threshold", &[]);
        // py2's requests behind the baseline, beside each window: the evidence is scaled by
        // n2 / (n2 + n3) for the baseline's own noise (stats::evaluate, step 4).
        let n2 = format!(
            "({n} * 0 + {on} sum by (plan, service) ({}))",
            self.series("canary:py2_requests:baseline", &[])
        );
        format!(
            "(\n  (\n    {e} * ln({r} / {on} {null})\n    + ({n} - {e}) * ln(clamp_min(1 - {r}, {floor}) / {on} (1 - {null}))\n  )\n  and on(plan, service, window) ({r} >= {on} {alternative})\n  or\n  {e} * {on} ln({alternative} / {null})\n  + ({n} - {e}) * {on} ln((1 - {alternative}) / (1 - {null}))\n)\n* ({n2} / ({n2} + {n}))\n- on(plan, service, window) {threshold}",
            floor = num(ONE_MINUS_FLOOR),
        )
    }

    /// The error-rate rollback test of a trigger.
    pub fn error_rate(&self, trigger: &TriggerIr) -> Option<Test> {
        let effect = trigger.effect?;
        let alert = trigger.alert.as_str();
        let p0 = self.series("canary:py2_error_ratio:baseline", &[]);
        let present = self.series(
            "canary:py3_requests:increase",
            &[("window", &range(self.top()))],
        );
        let (null, alternative) = self.rates(effect, &p0, &present);
        let null_name = "canary:py3_error_ratio:null";
        let null_series = self.series(null_name, &[("alert", alert)]);
        let alternative = alternative.replace("NULL", &null_series);
        let alt_series = self.series("canary:py3_error_ratio:alternative", &[("alert", alert)]);
        let margin_name = "canary:py3_error_ratio:margin";
        let mut records = self.error_counts();
        records.push(self.record(null_name, &[("alert", alert)], null));
        records.push(self.record(
            "canary:py3_error_ratio:alternative",
            &[("alert", alert)],
            alternative,
        ));
        records.push(self.record(
            margin_name,
            &[("alert", alert)],
            self.margin_expr(
                &self.series("canary:py3_errors:increase", &[]),
                &self.series("canary:py3_requests:increase", &[]),
                &self.series("canary:py3_error_ratio:window", &[]),
                &null_series,
                &alt_series,
            ),
        ));
        Some(Test {
            records,
            margin: format!(
                "max by (plan, service) ({})",
                self.series(margin_name, &[("alert", alert)])
            ),
            margin_record: margin_name.to_string(),
            margin_labels: vec![("alert".to_string(), alert.to_string())],
        })
    }

    /// py2's and py3's latency buckets, and the candidate bounds py3's histogram has.
    fn latency_counts(&self) -> Vec<Record> {
        let (py2, _) = self.src.latency(Copy::Py2);
        let (py3, _) = self.src.latency(Copy::Py3);
        let services = &self.src.services;
        let top = range(self.top());
        let bucket3 = self.series("canary:py3_latency_bucket:increase", &[("window", &top)]);
        let bounds = self
            .ir
            .detection
            .latency_buckets
            .iter()
            .map(|b| {
                format!(
                    "sum by (service, le) ({}) * 0 + {}",
                    bucket3.replacen('}', &format!(",le=~\"{}\"}}", le_regex(*b)), 1),
                    num(*b)
                )
            })
            .collect::<Vec<_>>()
            .join("\nor ");
        let mut records = self.error_counts();
        records.push(self.record(
            "canary:py2_latency_bucket:increase1d",
            &[],
            format!(
                "{} * {}",
                py2.sum_by_service(services, None, "increase", Some(&range(TOP_SECS)), ", le"),
                num(deflation(TOP_SECS, self.scrape()))
            ),
        ));
        records.push(self.record(
            "canary:py3_latency_bucket:increase",
            &[],
            self.by_window(|w| {
                format!(
                    "{} * {}",
                    py3.sum_by_service(services, None, "increase", Some(&range(w)), ", le"),
                    num(deflation(w, self.scrape()))
                )
            }),
        ));
        records.push(self.record(
            "canary:py3_latency_requests:increase",
            &[],
            format!(
                "sum by (service, window) ({})",
                self.series("canary:py3_latency_bucket:increase", &[("le", "+Inf")])
            ),
        ));
        records.push(self.record("canary:latency_bucket:bound", &[], bounds));
        records
    }

    fn quantile_label(q: f64) -> String {
        num(q)
    }

    /// `p99 2x py2`, `p99 1s`: the label that names one latency bound.
    fn bound_label(t: &LatencyTestIr) -> String {
        let q = crate::ir::fmt(t.quantile * 100.0);
        match t.bound {
            LatencyBound::TimesPy2(r) => format!("p{q} {}x py2", crate::ir::fmt(r)),
            LatencyBound::AtLeastSecs(s) => format!("p{q} {}s", crate::ir::fmt(s)),
        }
    }

    /// The records that choose a latency test's bucket and count py3's slow requests above
    /// it: (records, slow counts, requests, ratio, py2's share above it).
    fn latency_slow(&self, t: &LatencyTestIr) -> Vec<Record> {
        let q = Self::quantile_label(t.quantile);
        let label = Self::bound_label(t);
        let bound_series = self.series("canary:latency_bucket:bound", &[]);
        let q2 = self.series("canary:py2_latency_quantile:baseline", &[("quantile", &q)]);
        let fresh = self.series("canary:py2_requests:baseline_fresh", &[]);
        let on = "on(plan, service) group_left()";
        let selected = match t.bound {
            LatencyBound::TimesPy2(r) => format!(
                "max by (plan, service) (({bound_series} <= {on} ({q2} * {})) > {on} {q2})\nor on(service) min by (plan, service) ({bound_series} > {on} {q2})",
                num(r)
            ),
            LatencyBound::AtLeastSecs(s) => format!(
                "min by (plan, service) ({bound_series} >= {})",
                num(s / self.ir.detection.latency_unit_secs)
            ),
        };
        let py2_day = self.series("canary:py2_latency_bucket:increase1d", &[]);
        let py2_all = self.series("canary:py2_latency_bucket:increase1d", &[("le", "+Inf")]);
        let chosen = self.series("canary:latency_bucket:selected", &[("bound", &label)]);
        let share = self.series(
            "canary:py2_latency_slow_ratio:baseline",
            &[("bound", &label)],
        );
        let mut records = self.latency_counts();
        records.push(self.record(
            "canary:py2_latency_quantile:baseline",
            &[("quantile", &q)],
            latched(
                &format!("histogram_quantile({q}, {py2_day}) >= 0"),
                &fresh,
                &q2,
            ),
        ));
        records.push(self.record(
            "canary:py2_latency_bound:selected",
            &[("bound", &label)],
            selected,
        ));
        records.push(self.record(
            "canary:latency_bucket:selected",
            &[("bound", &label)],
            format!(
                "{bound_series} == {on} {}",
                self.series("canary:py2_latency_bound:selected", &[("bound", &label)])
            ),
        ));
        records.push(self.record(
            "canary:py2_latency_slow_ratio:baseline",
            &[("bound", &label)],
            latched(
                &format!(
                    "(sum by (service) ({py2_all}) - sum by (service) ({py2_day} and on(plan, service, le) {chosen}) + 1) / (sum by (service) ({py2_all}) + 1)"
                ),
                &fresh,
                &share,
            ),
        ));
        records.push(self.record(
            "canary:py3_latency_slow:increase",
            &[("bound", &label)],
            format!(
                "clamp_min({} - on(plan, service, window) sum by (plan, service, window) ({} and on(plan, service, le) {chosen}), 0)",
                self.series("canary:py3_latency_requests:increase", &[]),
                self.series("canary:py3_latency_bucket:increase", &[]),
            ),
        ));
        records.push(self.record(
            "canary:py3_latency_slow_ratio:window",
            &[("bound", &label)],
            format!(
                "{} / on(plan, service, window) group_left() {}",
                self.series("canary:py3_latency_slow:increase", &[("bound", &label)]),
                self.series("canary:py3_latency_requests:increase", &[])
            ),
        ));
        records
    }

    /// The latency rollback test of a trigger.
    pub fn latency(&self, trigger: &TriggerIr) -> Option<Test> {
        let t = trigger.latency?;
        let alert = trigger.alert.as_str();
        let label = Self::bound_label(&t);
        let tail = 1.0 - t.quantile;
        let effect = match t.bound {
            LatencyBound::TimesPy2(_) => Effect::ShareAbove(tail),
            LatencyBound::AtLeastSecs(_) => Effect::AtLeast(tail),
        };
        let share = self.series(
            "canary:py2_latency_slow_ratio:baseline",
            &[("bound", &label)],
        );
        let present = self.series(
            "canary:py3_latency_requests:increase",
            &[("window", &range(self.top()))],
        );
        let (null, alternative) = self.rates(effect, &share, &present);
        let null_series = self.series("canary:py3_latency_slow_ratio:null", &[("alert", alert)]);
        let alternative = alternative.replace("NULL", &null_series);
        let alt_series = self.series(
            "canary:py3_latency_slow_ratio:alternative",
            &[("alert", alert)],
        );
        let mut records = self.latency_slow(&t);
        records.push(self.record(
            "canary:py3_latency_slow_ratio:null",
            &[("alert", alert)],
            null,
        ));
        records.push(self.record(
            "canary:py3_latency_slow_ratio:alternative",
            &[("alert", alert)],
            alternative,
        ));
        let margin_name = "canary:py3_latency_slow_ratio:margin";
        records.push(self.record(
            margin_name,
            &[("alert", alert)],
            self.margin_expr(
                &self.series("canary:py3_latency_slow:increase", &[("bound", &label)]),
                &self.series("canary:py3_latency_requests:increase", &[]),
                &self.series("canary:py3_latency_slow_ratio:window", &[("bound", &label)]),
                &null_series,
                &alt_series,
            ),
        ));
        Some(Test {
            records,
            margin: format!(
                "max by (plan, service) ({})",
                self.series(margin_name, &[("alert", alert)])
            ),
            margin_record: margin_name.to_string(),
            margin_labels: vec![("alert".to_string(), alert.to_string())],
        })
    }

    /// The rollback test of a trigger, if it is a sequential one.
    pub fn trigger(&self, trigger: &TriggerIr) -> Option<Test> {
        self.error_rate(trigger).or_else(|| self.latency(trigger))
    }

    /// A stage's success criterion: `stats::binomial::evidence_better` of py3's counts over the
    /// criterion's window against its bound, minus the evidence a pass needs.
    pub fn check(&self, stage: &StageIr, check: &EvidenceIr) -> Test {
        let w = range(check.window_secs);
        let labels = [
            ("stage", stage.name.as_str()),
            ("criterion", check.text.as_str()),
        ];
        let relative = matches!(
            check.test,
            EvidenceTest::ErrorRate(Effect::Above(_) | Effect::Times(_))
        );
        let (mut records, n, r, bound) = match check.test {
            EvidenceTest::ErrorRate(effect) => {
                let p0 = self.series("canary:py2_error_ratio:baseline", &[]);
                let n = self.series("canary:py3_requests:increase", &[("window", &w)]);
                let bound = match effect {
                    Effect::Above(d) => format!("{p0} + {}", num(d)),
                    Effect::Times(f) => format!("{p0} * {}", num(f)),
                    Effect::AtLeast(b) | Effect::ShareAbove(b) => {
                        format!("sum by (plan, service) ({n}) * 0 + {}", num(b))
                    }
                };
                (
                    self.error_counts(),
                    n,
                    self.series("canary:py3_error_ratio:window", &[("window", &w)]),
                    bound,
                )
            }
            EvidenceTest::Latency(t) => {
                let label = Self::bound_label(&t);
                let n = self.series("canary:py3_latency_requests:increase", &[("window", &w)]);
                (
                    self.latency_slow(&t),
                    n.clone(),
                    self.series(
                        "canary:py3_latency_slow_ratio:window",
                        &[("bound", &label), ("window", &w)],
                    ),
                    format!(
                        "sum by (plan, service) ({n}) * 0 + {}",
                        num(1.0 - t.quantile)
                    ),
                )
            }
        };
        let bound_name = "canary:stage_evidence:bound";
        let bound_series = format!(
            "sum by (plan, service) ({})",
            self.series(bound_name, &labels)
        );
        records.push(self.record(bound_name, &labels, bound));
        let (n, r) = (
            format!("sum by (plan, service) ({n})"),
            format!("sum by (plan, service) ({r})"),
        );
        let margin_name = "canary:stage_evidence:margin";
        // A bound relative to py2 is as uncertain as py2's rate: the same n2 / (n2 + n3) scale
        // as the triggers'.
        let scale = if relative {
            let n2 = format!(
                "sum by (plan, service) ({})",
                self.series("canary:py2_requests:baseline", &[])
            );
            format!("\n* ({n2} / ({n2} + {n}))")
        } else {
            String::new()
        };
        records.push(self.record(
            margin_name,
            &labels,
            format!(
                "(\n  {n} * (\n    {r} * ln(clamp_min({r}, {floor}) / {bound_series})\n    + (1 - {r}) * ln((1 - {r}) / (1 - {bound_series}))\n  )\n  and on(plan, service) ({r} < {bound_series})\n  or on(plan, service) {n} * 0\n){scale}\n- {pass}",
                floor = num(ONE_MINUS_FLOOR),
                pass = num(self.ir.detection.pass_evidence),
            ),
        ));
        Test {
            records,
            ..self.check_margin(stage, check)
        }
    }

    /// What an engine's analysis reads of [`Rules::check`]'s test: the margin series, without
    /// the recording rules, which only the rules file needs (issue 15: building them, with
    /// selectors naming every service, for each service's analysis made a build quadratic in
    /// services).
    pub fn check_margin(&self, stage: &StageIr, check: &EvidenceIr) -> Test {
        let labels = [
            ("stage", stage.name.as_str()),
            ("criterion", check.text.as_str()),
        ];
        let margin_name = "canary:stage_evidence:margin";
        Test {
            records: Vec::new(),
            margin: format!(
                "max by (plan, service) ({})",
                self.series(margin_name, &labels)
            ),
            margin_record: margin_name.to_string(),
            margin_labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_round_trip() {
        assert_eq!(num(0.01), "0.01");
        assert_eq!(num(2.0), "2");
        assert_eq!(num(1e-12), "1e-12");
        let h = crate::stats::ladder::threshold(30, 336 * 3600, 15);
        assert_eq!(num(h).parse::<f64>().unwrap(), h);
        assert_eq!(le_regex(1.0), "1(\\\\.0+)?");
        assert_eq!(le_regex(0.25), "0\\\\.250*");
        assert_eq!(range(86_400), "1d");
        assert_eq!(range(90), "90s");
    }
}
