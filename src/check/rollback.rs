//! Conditions (rollback triggers and success criteria) and rollback trigger sets.

use super::schema::{self, Ty};
use super::value::{fmt_duration, fmt_number};
use super::{Checker, DefKind};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::model::{Criterion, Metric, Threshold, Trigger};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{
    Attribute, Block, CmpOp, Condition, ConditionKind, Ident, Quantile, Value, ValueKind,
};

/// Which way a condition is read: a trigger fires when it holds, a criterion must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Trigger,
    Criterion,
}

struct Comparison {
    metric: Spanned<Metric>,
    quantile: Option<Quantile>,
    op: CmpOp,
    threshold: Spanned<Threshold>,
}

impl<'a> Checker<'a> {
    /// Checks a top-level `rollback NAME { ... }` and returns its triggers (cached, so a set the
    /// plan uses is not reported twice).
    pub(crate) fn rollback_definition(&mut self, block: &'a Block) -> Vec<Trigger> {
        let key = std::ptr::from_ref(block) as usize;
        if let Some(triggers) = self.rollback_cache.get(&key) {
            return triggers.clone();
        }
        let triggers = self.trigger_body(block);
        self.rollback_cache.insert(key, triggers.clone());
        triggers
    }

    fn trigger_body(&mut self, block: &'a Block) -> Vec<Trigger> {
        let entries = self.entries(&block.body, &schema::ROLLBACK);
        let triggers: Vec<Trigger> = entries
            .conditions
            .iter()
            .filter_map(|c| self.trigger(c))
            .collect();
        self.duplicate_triggers(&triggers);
        triggers
    }

    /// The plan's triggers: `rollback when { ... }`, `rollback = NAME { overrides }`, or the
    /// stdlib defaults. `span` is where to point when the result is empty.
    pub(crate) fn plan_rollback(
        &mut self,
        block: Option<&'a Block>,
        attribute: Option<&'a Attribute>,
        plan_span: Span,
    ) -> Vec<Trigger> {
        let (triggers, span) = if let Some(block) = block {
            (self.trigger_body(block), block.keyword.span)
        } else if let Some(attribute) = attribute {
            let Some(base) =
                self.reference(DefKind::Rollback, &attribute.value, "rollback = defaults")
            else {
                return Vec::new();
            };
            let mut triggers = self.rollback_definition(base);
            if let Some(overrides) = &attribute.overrides {
                let entries = self.entries(overrides, &schema::ROLLBACK);
                let extra: Vec<Trigger> = entries
                    .conditions
                    .iter()
                    .filter_map(|c| self.trigger(c))
                    .collect();
                self.duplicate_triggers(&extra);
                for trigger in extra {
                    match triggers.iter_mut().find(|t| {
                        t.metric.value == trigger.metric.value && t.quantile == trigger.quantile
                    }) {
                        Some(existing) => *existing = trigger,
                        None => triggers.push(trigger),
                    }
                }
            }
            (triggers, attribute.key.span)
        } else {
            let (_, name) = crate::stdlib::DEFAULT_ROLLBACK;
            let base = self.find(DefKind::Rollback, name).map(|d| d.block);
            return base
                .map(|b| self.rollback_definition(b))
                .unwrap_or_default();
        };
        if triggers.is_empty() {
            self.report(
                Diagnostic::new(Code::NoTriggers, span, "the plan never rolls back automatically")
                    .label("no rollback triggers")
                    .secondary(plan_span, "in this plan")
                    .help("add at least `error_rate > 1%`, or leave `rollback` out to use std.rollback.defaults"),
            );
        }
        triggers
    }

    fn duplicate_triggers(&mut self, triggers: &[Trigger]) {
        for (i, t) in triggers.iter().enumerate() {
            if let Some(first) = triggers[..i]
                .iter()
                .find(|f| f.metric.value == t.metric.value && f.quantile == t.quantile)
            {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateTrigger,
                        t.metric.span,
                        format!(
                            "a second trigger on {}",
                            metric_name(t.metric.value, t.quantile)
                        ),
                    )
                    .label("another trigger on the same metric")
                    .secondary(first.metric.span, "first trigger")
                    .help("both fire independently, so the looser one never matters: keep one"),
                );
            }
        }
    }

    fn trigger(&mut self, condition: &'a Condition) -> Option<Trigger> {
        // Check the comparison and the window independently, so both problems are reported.
        let comparison = match &condition.kind {
            ConditionKind::Compare {
                metric,
                quantile,
                op,
                value,
            } => self.comparison(metric, quantile.as_ref(), *op, value, Role::Trigger),
            ConditionKind::Within { .. } | ConditionKind::Approval { .. } => {
                let what = if matches!(condition.kind, ConditionKind::Approval { .. }) {
                    "an approval"
                } else {
                    "`all metrics within`"
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        condition.span.0,
                        format!("{what} is a success criterion, not a rollback trigger"),
                    )
                    .label("cannot trigger a rollback")
                    .help("move it into a stage's `success when { ... }`"),
                );
                return None;
            }
        };
        let sequential = comparison
            .as_ref()
            .is_some_and(|c| c.metric.value.is_sequential());
        let window = match &condition.window {
            Some(w) if sequential => {
                let window = self.window(w);
                if let (Some(window), Some(c)) = (window, comparison.as_ref()) {
                    self.report(
                        Diagnostic::new(
                            Code::WindowOnSequentialTrigger,
                            window.span,
                            format!(
                                "the {} trigger is a sequential test: `for {}` is ignored",
                                metric_name(c.metric.value, c.quantile),
                                fmt_duration(window.value)
                            ),
                        )
                        .label("not used")
                        .help("remove the `for`: the trigger fires as soon as py3's requests are strong evidence, over whichever window shows it (see `canaryc explain CNR454`)"),
                    );
                }
                Some(window)
            }
            Some(w) => Some(self.window(w)),
            // Error-rate and latency triggers are sequential tests: they fire on evidence, at
            // whatever window it appears in, and need no `for`.
            None if sequential => None,
            None => {
                self.report(
                    Diagnostic::new(
                        Code::MissingWindow,
                        condition.span.0,
                        "a rollback trigger needs a window",
                    )
                    .label("how long must this hold before rolling back?")
                    .help("add `for` and a duration, e.g. `memory > 90% for 10m`: without it one bad scrape rolls back"),
                );
                Some(None)
            }
        };
        let comparison = comparison?;
        let window = match window {
            Some(Some(w)) => Some(w),
            Some(None) => return None,
            None => None,
        };
        Some(Trigger {
            metric: comparison.metric,
            quantile: comparison.quantile,
            op: comparison.op,
            threshold: comparison.threshold,
            window,
        })
    }

    fn window(&mut self, value: &Value) -> Option<Spanned<u64>> {
        let window = self.duration(value, "for 5m")?;
        if window.value == 0 {
            self.report(
                Diagnostic::new(Code::ValueOutOfRange, value.span, "a window of zero")
                    .label("must be longer than 0s")
                    .help("a window shorter than two scrape intervals cannot see a trend: use at least `1m`"),
            );
            return None;
        }
        Some(window)
    }

    pub(crate) fn criterion(&mut self, condition: &'a Condition) -> Option<Criterion> {
        if let Some(window) = &condition.window {
            self.report(
                Diagnostic::new(
                    Code::UnexpectedWindow,
                    window.span,
                    "a success criterion has no window",
                )
                .label("ignored")
                .help("criteria are judged over the stage's whole hold; remove `for ...`"),
            );
        }
        match &condition.kind {
            ConditionKind::Compare {
                metric,
                quantile,
                op,
                value,
            } => {
                let c = self.comparison(metric, quantile.as_ref(), *op, value, Role::Criterion)?;
                Some(Criterion::Compare {
                    metric: c.metric,
                    quantile: c.quantile,
                    op: c.op,
                    threshold: c.threshold,
                })
            }
            ConditionKind::Within { tolerance, .. } => {
                let field = schema::Field {
                    name: "tolerance",
                    ty: Ty::Percent,
                    qualifiers: &[],
                    doc: "",
                    example: "all metrics within 10% of baseline",
                };
                let t = self.percent(tolerance, &field)?;
                Some(Criterion::WithinBaseline(t))
            }
            ConditionKind::Approval { text } => {
                if text.value.trim().is_empty() {
                    self.report(
                        Diagnostic::new(
                            Code::MissingField,
                            text.span,
                            "an approval needs to say whose",
                        )
                        .label("empty")
                        .help("name who signs off, e.g. `approval \"stakeholder sign-off\"`"),
                    );
                    return None;
                }
                if !self.one_line(text, "the approval", false) {
                    return None;
                }
                Some(Criterion::Approval(text.clone()))
            }
        }
    }

    fn comparison(
        &mut self,
        metric_name: &Ident,
        quantile: Option<&Spanned<Quantile>>,
        op: Spanned<CmpOp>,
        value: &Value,
        role: Role,
    ) -> Option<Comparison> {
        let Some(metric) = Metric::parse(metric_name) else {
            let help =
                did_you_mean(metric_name, Metric::NAMES.iter().copied()).unwrap_or_else(|| {
                    format!(
                        "the metrics are {}",
                        super::entries::quote_list(Metric::NAMES)
                    )
                });
            self.report(
                Diagnostic::new(
                    Code::UnknownMetric,
                    metric_name.span,
                    format!("unknown metric `{}`", metric_name.value),
                )
                .label("not a metric canaryc can watch")
                .help(help),
            );
            return None;
        };
        let metric = Spanned::new(metric, metric_name.span);
        match (metric.value, quantile) {
            (Metric::Latency, None) => {
                self.report(
                    Diagnostic::new(
                        Code::QuantileMisuse,
                        metric_name.span,
                        "latency needs a quantile",
                    )
                    .label("which quantile?")
                    .help("write `latency p99` (or p50, p95, p99.9)"),
                );
                return None;
            }
            (Metric::Latency, _) | (_, None) => {}
            (m, Some(q)) => {
                self.report(
                    Diagnostic::new(
                        Code::QuantileMisuse,
                        q.span,
                        format!("{} has no quantiles", m.as_str()),
                    )
                    .label("only latency has quantiles")
                    .help(format!("remove `{}`", q.value)),
                );
                return None;
            }
        }
        let direction_matters = metric.value != Metric::RequestRate;
        if direction_matters {
            let wrong = match role {
                Role::Trigger => op.value.is_upper_bound(),
                Role::Criterion => !op.value.is_upper_bound(),
            };
            if wrong {
                let (message, help) = match role {
                    Role::Trigger => (
                        "this trigger fires while py3 is healthy",
                        format!(
                            "a trigger names the bad case: `{} > ...`",
                            metric.value.as_str()
                        ),
                    ),
                    Role::Criterion => (
                        "this criterion passes only while py3 is unhealthy",
                        format!(
                            "a criterion names the good case: `{} < ...`",
                            metric.value.as_str()
                        ),
                    ),
                };
                self.report(
                    Diagnostic::new(Code::InvertedCondition, op.span, message)
                        .label(format!("`{}` points the wrong way", op.value.as_str()))
                        .help(help),
                );
                return None;
            }
        }
        let threshold = self.threshold(metric.value, value, role)?;
        Some(Comparison {
            metric,
            quantile: quantile.map(|q| q.value),
            op: op.value,
            threshold,
        })
    }

    fn threshold(
        &mut self,
        metric: Metric,
        value: &Value,
        role: Role,
    ) -> Option<Spanned<Threshold>> {
        let resolved = self.resolve(value).value.clone();
        let spanned = |t| Some(Spanned::new(t, value.span));
        let percent_field = schema::Field {
            name: metric.as_str(),
            ty: Ty::Percent,
            qualifiers: &[],
            doc: "",
            example: "error_rate > 1%",
        };
        match (metric, &resolved) {
            // `absolute(1%)`: an error rate py3 must stay under whatever py2's is.
            (Metric::ErrorRate, ValueKind::Call { name, args }) if name.value == "absolute" => {
                let [arg] = args.as_slice() else {
                    self.report(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            value.span,
                            "absolute() takes one percentage",
                        )
                        .label("expected one argument")
                        .help("e.g. `error_rate > absolute(1%)`: py3 above 1% whatever py2's rate"),
                    );
                    return None;
                };
                let p = self.percent(&arg.value, &percent_field)?;
                spanned(Threshold::AbsolutePercent(p.value))
            }
            (Metric::ErrorRate, ValueKind::Ratio { factor, .. }) => {
                self.ratio_above_one(*factor, value, role)?;
                spanned(Threshold::RatioOfPy2(*factor))
            }
            (Metric::ErrorRate | Metric::Memory | Metric::Cpu | Metric::Divergence, _) => {
                let p = self.percent(value, &percent_field)?;
                spanned(Threshold::Percent(p.value))
            }
            // `2x` alone reads as "twice py2's": py2 is the only baseline there is.
            (Metric::Latency | Metric::RequestRate, ValueKind::Ratio { factor, .. }) => {
                if !(factor.is_finite() && *factor > 0.0) {
                    self.report(
                        Diagnostic::new(
                            Code::ValueOutOfRange,
                            value.span,
                            "a ratio must be above zero",
                        )
                        .label(format!("{}x", fmt_number(*factor)))
                        .help("e.g. `2x py2`: twice py2's value"),
                    );
                    return None;
                }
                if metric == Metric::Latency {
                    self.ratio_above_one(*factor, value, role)?;
                }
                spanned(Threshold::RatioOfPy2(*factor))
            }
            (Metric::Latency, ValueKind::Duration(ms)) => spanned(Threshold::Millis(*ms)),
            (Metric::HealthFailures | Metric::RequestRate, ValueKind::Number { value: n, .. })
                if n.is_finite() && *n >= 0.0 =>
            {
                spanned(Threshold::Count(*n))
            }
            (Metric::HealthFailures | Metric::RequestRate, ValueKind::Number { text, .. }) => {
                let text = text.clone();
                self.report(
                    Diagnostic::new(
                        Code::ValueOutOfRange,
                        value.span,
                        format!("{text} is not a count"),
                    )
                    .label("must be zero or more")
                    .help("e.g. `health_failures > 0 for 1m`"),
                );
                None
            }
            (_, _) => {
                let accepts = schema::metric(metric.as_str()).map_or("", |m| m.accepts);
                let found = resolved.describe();
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        value.span,
                        format!(
                            "{} is compared with {accepts}, not {found}",
                            metric.as_str()
                        ),
                    )
                    .label(format!("this is {found}"))
                    .help(match metric {
                        Metric::Latency => "e.g. `latency p99 > 2x py2` or `latency p99 > 800ms`",
                        Metric::HealthFailures => "e.g. `health_failures > 0`",
                        _ => "e.g. `request_rate < 0.5x py2`",
                    }),
                );
                None
            }
        }
    }

    /// A trigger on a multiple of py2's error rate or latency must name a multiple above one:
    /// `0.5x py2` would roll back a py3 *better* than py2.
    fn ratio_above_one(&mut self, factor: f64, value: &Value, role: Role) -> Option<()> {
        if role == Role::Trigger && !(factor.is_finite() && factor > 1.0) {
            self.report(
                Diagnostic::new(
                    Code::ValueOutOfRange,
                    value.span,
                    format!(
                        "a trigger at {}x py2 fires on a py3 no worse than py2",
                        fmt_number(factor)
                    ),
                )
                .label("must be above 1x")
                .help("e.g. `error_rate > 2x py2`: py3 failing at least twice as often as py2"),
            );
            return None;
        }
        Some(())
    }

    /// Resolves `schedule = NAME` or `rollback = NAME` to its definition.
    pub(crate) fn reference(
        &mut self,
        kind: DefKind,
        value: &Value,
        example: &str,
    ) -> Option<&'a Block> {
        let ValueKind::Ident(name) = &value.value else {
            let ty = if kind == DefKind::Schedule {
                Ty::ScheduleRef
            } else {
                Ty::RollbackRef
            };
            self.mismatch(value, ty, example);
            return None;
        };
        if let Some(def) = self.find(kind, name) {
            let (block, def_name) = (def.block, def.name.value.as_str());
            self.used.push((kind, def_name));
            return Some(block);
        }
        let candidates: Vec<&str> = self
            .scope
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.name.value.as_str())
            .collect();
        let other = match kind {
            DefKind::Schedule => DefKind::Rollback,
            DefKind::Rollback => DefKind::Schedule,
        };
        let mut help = did_you_mean(name, candidates.iter().copied());
        if help.is_none() {
            let module = if kind == DefKind::Schedule {
                "std.schedules"
            } else {
                "std.rollback"
            };
            let stdlib_has = crate::stdlib::module(module)
                .is_some_and(|m| m.text.contains(&format!("{} {name} {{", kind.keyword())));
            help = Some(if stdlib_has {
                format!("import it first: `use {module}.{name}`")
            } else if self.find(other, name).is_some() {
                format!(
                    "`{name}` is a {}, not a {}",
                    other.describe(),
                    kind.describe()
                )
            } else if candidates.is_empty() {
                format!(
                    "define `{} {name} {{ ... }}` or import one from {module}",
                    kind.keyword()
                )
            } else {
                format!(
                    "known {}s: {}",
                    kind.describe(),
                    super::entries::quote_list(&candidates)
                )
            });
        }
        self.report(
            Diagnostic::new(
                Code::UnknownName,
                value.span,
                format!("no {} named `{name}`", kind.describe()),
            )
            .label(format!("unknown {}", kind.describe()))
            .help(help.unwrap_or_default()),
        );
        None
    }
}

impl DefKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            DefKind::Schedule => "schedule",
            DefKind::Rollback => "rollback",
        }
    }
}

/// `latency p99`, `error_rate`.
pub(crate) fn metric_name(metric: Metric, quantile: Option<Quantile>) -> String {
    match quantile {
        Some(q) => format!("{} {q}", metric.as_str()),
        None => metric.as_str().to_string(),
    }
}
