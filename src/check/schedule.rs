//! Schedules: stages, overrides of a named schedule, and the rules a sound ramp-up follows.

use super::schema;
use super::value::fmt_number;
use super::{Checker, DefKind};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::model::{Criterion, Schedule, Stage};
use crate::source::{Span, Spanned};
use crate::syntax::ast::{Attribute, Block, Body};

/// A stage as written, before overrides are applied and completeness is checked.
#[derive(Debug, Clone)]
pub(crate) struct StageDraft {
    pub name: Spanned<String>,
    pub traffic: Option<Spanned<f64>>,
    pub hold: Option<Spanned<u64>>,
    pub criteria: Option<Vec<Criterion>>,
}

/// A first stage above this share of traffic exposes too many users to an untested py3.
const LARGE_FIRST_STEP: f64 = 10.0;

impl<'a> Checker<'a> {
    /// Checks a top-level `schedule NAME { ... }`; cached so it is reported once.
    pub(crate) fn schedule_definition(&mut self, block: &'a Block) -> Vec<StageDraft> {
        let key = std::ptr::from_ref(block) as usize;
        if let Some(stages) = self.schedule_cache.get(&key) {
            return stages.clone();
        }
        let drafts = self.stage_drafts(&block.body, true);
        if let Some(stages) = self.complete(&drafts) {
            self.schedule_rules(
                &stages,
                block.label.as_ref().map_or(block.keyword.span, |l| l.span),
            );
        }
        self.schedule_cache.insert(key, drafts.clone());
        drafts
    }

    /// The plan's schedule: an inline `schedule { ... }` block, `schedule = NAME { overrides }`,
    /// or std.schedules.standard.
    pub(crate) fn plan_schedule(
        &mut self,
        block: Option<&'a Block>,
        attribute: Option<&'a Attribute>,
    ) -> Option<Schedule> {
        if let Some(block) = block {
            if let Some(label) = &block.label {
                self.report(
                    Diagnostic::new(Code::UnknownField, label.span, "a plan's own schedule has no name")
                        .label("unexpected name")
                        .help("name schedules at the top level (`schedule mine { ... }`) and refer to them with `schedule = mine`"),
                );
            }
            let drafts = self.stage_drafts(&block.body, true);
            let stages = self.complete(&drafts)?;
            self.schedule_rules(&stages, block.keyword.span);
            return Some(Schedule { base: None, stages });
        }
        let (base_block, base_name, overrides, span) = match attribute {
            Some(attribute) => {
                let base =
                    self.reference(DefKind::Schedule, &attribute.value, "schedule = standard")?;
                let name = match &attribute.value.value {
                    crate::syntax::ast::ValueKind::Ident(n) => {
                        Spanned::new(n.clone(), attribute.value.span)
                    }
                    _ => Spanned::new(String::new(), attribute.value.span),
                };
                (base, name, attribute.overrides.as_ref(), attribute.key.span)
            }
            None => {
                let (_, name) = crate::stdlib::DEFAULT_SCHEDULE;
                let base = self.find(DefKind::Schedule, name)?.block;
                (
                    base,
                    Spanned::new(name.to_string(), Span::default()),
                    None,
                    Span::default(),
                )
            }
        };
        let mut drafts = self.schedule_definition(base_block);
        let Some(overrides) = overrides else {
            let stages = self.complete(&drafts)?;
            return Some(Schedule {
                base: Some(base_name),
                stages,
            });
        };
        // By name, not by a scan per override: an override of every stage stays linear.
        let by_name: std::collections::HashMap<String, usize> = drafts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.value.clone(), i))
            .collect();
        for change in self.stage_drafts(overrides, false) {
            match by_name
                .get(&change.name.value)
                .and_then(|&i| drafts.get_mut(i))
            {
                Some(stage) => {
                    stage.traffic = change.traffic.or(stage.traffic);
                    stage.hold = change.hold.or(stage.hold);
                    if change.criteria.is_some() {
                        stage.criteria = change.criteria;
                    }
                }
                None => {
                    let names: Vec<&str> = drafts.iter().map(|d| d.name.value.as_str()).collect();
                    let help =
                        did_you_mean(&change.name, names.iter().copied()).unwrap_or_else(|| {
                            format!(
                                "`{}` has stages {}; to add a stage, write a whole schedule",
                                base_name.value,
                                super::entries::quote_list(&names)
                            )
                        });
                    self.report(
                        Diagnostic::new(
                            Code::UnknownStage,
                            change.name.span,
                            format!(
                                "schedule `{}` has no stage `{}`",
                                base_name.value, change.name.value
                            ),
                        )
                        .label("no such stage to override")
                        .secondary(span, "overriding this schedule")
                        .help(help),
                    );
                }
            }
        }
        let stages = self.complete(&drafts)?;
        self.schedule_rules(&stages, span);
        Some(Schedule {
            base: Some(base_name),
            stages,
        })
    }

    /// Reads the `stage` blocks of a schedule body. In an override (`full == false`) a stage
    /// may give only the fields it changes.
    fn stage_drafts(&mut self, body: &'a Body, full: bool) -> Vec<StageDraft> {
        let entries = self.entries(body, &schema::SCHEDULE);
        let mut drafts: Vec<StageDraft> = Vec::new();
        let mut by_name: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for block in entries.blocks("stage") {
            let Some(label) = &block.label else {
                self.report(
                    Diagnostic::new(Code::MissingField, block.keyword.span, "a stage needs a name")
                        .label("name missing")
                        .help("write `stage canary-5pct { ... }`: the name appears in alerts and runbooks"),
                );
                continue;
            };
            self.valid_name(label, "stage");
            if let Some(first) = by_name.get(label.value.as_str()).map(|&i| &drafts[i]) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateStage,
                        label.span,
                        format!("two stages are named `{}`", label.value),
                    )
                    .label("second stage with this name")
                    .secondary(first.name.span, "first one")
                    .help("stage names identify stages in alerts, runbooks and overrides: make them unique"),
                );
                continue;
            }
            let fields = self.entries(&block.body, &schema::STAGE);
            let traffic = fields
                .get("traffic")
                .and_then(|a| self.percent(&a.value, schema::STAGE.must("traffic")));
            let hold = fields
                .get("hold")
                .and_then(|a| self.duration(&a.value, "hold = 48h"));
            if let Some(hold) = hold.filter(|h| h.value == 0) {
                self.report(
                    Diagnostic::new(Code::ZeroHold, hold.span, format!("stage `{}` holds for no time", label.value))
                        .label("zero hold")
                        .help("a stage needs time to be judged: hold for at least a few multiples of the rollback windows, e.g. `hold = 1h`"),
                );
            }
            let mut success = fields.blocks("success");
            let criteria = success.next().map(|s| {
                let conditions = self.entries(&s.body, &schema::SUCCESS).conditions;
                conditions
                    .iter()
                    .filter_map(|c| self.criterion(c))
                    .collect()
            });
            for extra in success {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateField,
                        extra.keyword.span,
                        "a stage has one `success` block",
                    )
                    .label("second success block")
                    .help("put all criteria in one `success when { ... }`"),
                );
            }
            if full {
                for (missing, example) in [("traffic", traffic.is_none()), ("hold", hold.is_none())]
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(f, _)| {
                        (
                            *f,
                            if *f == "traffic" {
                                "traffic = 5%"
                            } else {
                                "hold = 24h"
                            },
                        )
                    })
                {
                    if fields.get(missing).is_none() {
                        self.report(
                            Diagnostic::new(
                                Code::MissingField,
                                label.span,
                                format!("stage `{}` has no `{missing}`", label.value),
                            )
                            .label(format!("`{missing}` missing"))
                            .help(format!("add `{example}`")),
                        );
                    }
                }
            }
            by_name.insert(label.value.as_str(), drafts.len());
            drafts.push(StageDraft {
                name: label.clone(),
                traffic,
                hold,
                criteria,
            });
        }
        drafts
    }

    /// Stages with every field present; `None` if any is missing (already reported).
    fn complete(&self, drafts: &[StageDraft]) -> Option<Vec<Stage>> {
        drafts
            .iter()
            .map(|d| {
                Some(Stage {
                    name: d.name.clone(),
                    traffic: d.traffic?,
                    hold: d.hold?,
                    criteria: d.criteria.clone().unwrap_or_default(),
                })
            })
            .collect()
    }

    fn schedule_rules(&mut self, stages: &[Stage], at: Span) {
        let Some(last) = stages.last() else {
            self.report(
                Diagnostic::new(Code::EmptySchedule, at, "the schedule has no stages")
                    .label("empty schedule")
                    .help("add stages from a small share to 100%, or use `schedule = standard`"),
            );
            return;
        };
        for pair in stages.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            if after.traffic.value <= before.traffic.value {
                // Point at the value the user wrote, when one of the two is in their file.
                let (primary, other) = if after.traffic.span.file != self.root
                    && before.traffic.span.file == self.root
                {
                    (before.traffic, after.traffic)
                } else {
                    (after.traffic, before.traffic)
                };
                self.report(
                    Diagnostic::new(
                        Code::TrafficNotIncreasing,
                        primary.span,
                        format!(
                            "traffic goes from {}% at `{}` to {}% at `{}`",
                            fmt_number(before.traffic.value),
                            before.name.value,
                            fmt_number(after.traffic.value),
                            after.name.value
                        ),
                    )
                    .label(format!("`{}` must send py3 more traffic than the stage before", after.name.value))
                    .secondary(other.span, "compared with this")
                    .help("each stage must give py3 a strictly larger share: reorder the stages or fix the percentages"),
                );
            }
        }
        if last.traffic.value < 100.0 {
            self.report(
                Diagnostic::new(
                    Code::FinalStageNotFull,
                    last.traffic.span,
                    format!(
                        "the last stage, `{}`, sends py3 only {}%",
                        last.name.value,
                        fmt_number(last.traffic.value)
                    ),
                )
                .label("final stage below 100%")
                .help("end with a stage at `traffic = 100%`, or py2 is never retired"),
            );
        }
        if let Some(first) = stages
            .first()
            .filter(|s| s.traffic.value > LARGE_FIRST_STEP && stages.len() > 1)
        {
            self.report(
                Diagnostic::new(
                    Code::LargeFirstStep,
                    first.traffic.span,
                    format!(
                        "the first stage sends {}% of traffic to an untested py3",
                        fmt_number(first.traffic.value)
                    ),
                )
                .label(format!("more than {}%", fmt_number(LARGE_FIRST_STEP)))
                .help(
                    "start small (1% or 5%) so str/bytes, pickle and locale bugs reach few users",
                ),
            );
        }
        for stage in stages.iter().filter(|s| s.traffic.value >= 100.0) {
            for criterion in &stage.criteria {
                let span = match criterion {
                    Criterion::WithinBaseline(t) => t.span,
                    Criterion::Compare { threshold, .. }
                        if matches!(threshold.value, crate::model::Threshold::RatioOfPy2(_)) =>
                    {
                        threshold.span
                    }
                    _ => continue,
                };
                self.report(
                    Diagnostic::new(
                        Code::BaselineAtFullTraffic,
                        span,
                        format!(
                            "stage `{}` compares py3 with py2, but py2 serves nothing at 100%",
                            stage.name.value
                        ),
                    )
                    .label("no py2 traffic to compare with")
                    .help(
                        "the engines compare with py2 over the stage before, a baseline from another load and hour: judge the full-traffic stage on absolute values, e.g. `error_rate < 0.5%`",
                    ),
                );
            }
        }
    }
}
