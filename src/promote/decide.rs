//! What promote does next: a pure function of the configuration, the state, the time and the
//! criteria's query results. The command line fetches, this decides, the command line acts.

use serde::Serialize;

use super::config::{Check, Config};
use super::http::Sample;
use super::state::State;
use crate::ir::Condition;

/// What is due, before any query runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// No stage yet: give py3 the first stage's weight.
    Start,
    /// The stage's hold has not elapsed.
    Hold { remaining_secs: u64 },
    /// The hold has elapsed: judge the stage's criteria.
    Judge,
    /// The last stage passed.
    Done,
    /// py3 was rolled back; nothing moves until `--restart`.
    RolledBack,
}

pub fn due(config: &Config, state: Option<&State>, now: u64) -> Due {
    let Some(state) = state else {
        return Due::Start;
    };
    if state.rolled_back.is_some() {
        return Due::RolledBack;
    }
    if state.done {
        return Due::Done;
    }
    let hold = config.stages.get(state.stage).map_or(0, |s| s.hold_secs);
    let elapsed = now.saturating_sub(state.entered_at);
    if elapsed < hold {
        Due::Hold {
            remaining_secs: hold - elapsed,
        }
    } else {
        Due::Judge
    }
}

/// One criterion's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub service: String,
    pub criterion: String,
    /// The sample, when Prometheus returned one.
    pub value: Option<f64>,
    pub pass: bool,
    /// Why it does not pass, in words.
    pub reason: Option<String>,
}

/// Whether a criterion holds on its query's result. No sample of the check's service (too
/// little traffic to judge) or NaN never passes: promote does not move py3 forward on no
/// evidence, nor on another service's sample.
pub fn verdict(check: &Check, samples: &[Sample]) -> Verdict {
    let sample = samples.iter().find(|s| {
        s.labels
            .iter()
            .any(|(k, v)| k == "service" && v == &check.service)
    });
    let condition = Condition {
        op: check.op,
        threshold: check.threshold,
    };
    let (pass, reason) = match sample {
        None => (
            false,
            Some("no sample: py3 served too few requests in the window to judge".to_string()),
        ),
        Some(s) if s.value.is_nan() => (false, Some("the query's value is NaN".to_string())),
        Some(s) if condition.holds(s.value) => (true, None),
        Some(s) => (
            false,
            Some(format!(
                "{} is not {} {}",
                crate::ir::fmt((s.value * 10_000.0).round() / 10_000.0),
                check.op.as_str(),
                crate::ir::fmt(check.threshold)
            )),
        ),
    };
    Verdict {
        service: check.service.clone(),
        criterion: check.text.clone(),
        value: sample.map(|s| s.value).filter(|v| !v.is_nan()),
        pass,
        reason,
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Started {
        stage: String,
        traffic: f64,
    },
    Holding {
        stage: String,
        remaining_secs: u64,
    },
    Refused {
        stage: String,
        failing: Vec<Verdict>,
    },
    WaitingApproval {
        stage: String,
        approval: String,
    },
    Advanced {
        from: String,
        to: String,
        traffic: f64,
    },
    Done {
        stage: String,
    },
    RolledBack {
        stage: String,
        at: u64,
    },
}

impl Outcome {
    /// Exit code: 0 when promote did its job (moved, or nothing is due yet), 1 when it refused
    /// (a criterion fails) or py3 is rolled back.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Refused { .. } | Outcome::RolledBack { .. } => 1,
            _ => 0,
        }
    }

    /// The stage whose weights must be set, if any.
    pub fn set_stage(&self) -> Option<f64> {
        match self {
            Outcome::Started { traffic, .. } | Outcome::Advanced { traffic, .. } => Some(*traffic),
            _ => None,
        }
    }
}

/// After judging: advance, wait for approval, or refuse. Returns the outcome and the new state.
/// `approve` opens the stage's gate only when it is due: the hold elapsed and every criterion
/// holds; given with a failing criterion it approves nothing.
pub fn after_judging(
    config: &Config,
    state: &State,
    verdicts: &[Verdict],
    approve: bool,
    now: u64,
) -> (Outcome, State) {
    let stage = &config.stages[state.stage.min(config.stages.len() - 1)];
    let mut next = state.clone();
    let failing: Vec<Verdict> = verdicts.iter().filter(|v| !v.pass).cloned().collect();
    if approve && failing.is_empty() && stage.approval.is_some() {
        next.approved = Some(stage.name.clone());
    }
    if !failing.is_empty() {
        return (
            Outcome::Refused {
                stage: stage.name.clone(),
                failing,
            },
            next,
        );
    }
    if let Some(approval) = &stage.approval {
        if next.approved.as_deref() != Some(stage.name.as_str()) {
            return (
                Outcome::WaitingApproval {
                    stage: stage.name.clone(),
                    approval: approval.clone(),
                },
                next,
            );
        }
    }
    match config.stages.get(state.stage + 1) {
        Some(to) => {
            next.stage = state.stage + 1;
            next.entered_at = now;
            next.approved = None;
            (
                Outcome::Advanced {
                    from: stage.name.clone(),
                    to: to.name.clone(),
                    traffic: to.traffic,
                },
                next,
            )
        }
        None => {
            next.done = true;
            (
                Outcome::Done {
                    stage: stage.name.clone(),
                },
                next,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::config::{Haproxy, Stage};

    fn config() -> Config {
        let stage = |name: &str, traffic: f64, approval: Option<&str>| Stage {
            name: name.into(),
            traffic,
            hold_secs: 60,
            approval: approval.map(str::to_string),
            checks: vec![Check {
                service: "shop".into(),
                text: "error_rate < 1%".into(),
                query: "q".into(),
                op: crate::ir::Op::Lt,
                threshold: 1.0,
            }],
        };
        Config {
            format_version: 1,
            plan: "shop".into(),
            prometheus: "http://p:9090".into(),
            haproxy: Haproxy {
                runtime_api: "/run/s".into(),
                server_state_file: None,
                weight_total: 256,
            },
            state_file: "/tmp/s".into(),
            services: vec!["shop".into()],
            stages: vec![
                stage("a", 10.0, None),
                stage("b", 50.0, Some("sign-off")),
                stage("c", 100.0, None),
            ],
        }
    }

    fn sample(v: f64) -> Vec<Sample> {
        vec![Sample {
            labels: vec![("service".into(), "shop".into())],
            value: v,
        }]
    }

    #[test]
    fn holds_then_judges() {
        let c = config();
        assert_eq!(due(&c, None, 0), Due::Start);
        let s = State::new("shop", 0, 100);
        assert_eq!(due(&c, Some(&s), 130), Due::Hold { remaining_secs: 30 });
        assert_eq!(due(&c, Some(&s), 160), Due::Judge);
    }

    #[test]
    fn refuses_on_a_failing_or_missing_sample_and_advances_on_a_pass() {
        let c = config();
        let s = State::new("shop", 0, 0);
        let check = &c.stages[0].checks[0];
        let failing = verdict(check, &sample(2.5));
        assert!(!failing.pass);
        assert_eq!(failing.reason.as_deref(), Some("2.5 is not < 1"));
        assert!(!verdict(check, &[]).pass);
        assert!(!verdict(check, &sample(f64::NAN)).pass);
        let (o, next) = after_judging(&c, &s, std::slice::from_ref(&failing), false, 100);
        assert_eq!(o.exit_code(), 1);
        assert_eq!(next, s, "a refusal changes nothing");
        // Another service's sample is no evidence for this one.
        let other = vec![Sample {
            labels: vec![("service".into(), "cart".into())],
            value: 0.0,
        }];
        assert!(!verdict(check, &other).pass);
        let (o, next) = after_judging(&c, &s, &[verdict(check, &sample(0.2))], false, 100);
        assert_eq!(o.set_stage(), Some(50.0));
        assert_eq!((next.stage, next.entered_at), (1, 100));
    }

    #[test]
    fn an_approval_with_a_failing_criterion_opens_nothing() {
        let c = config();
        let s = State::new("shop", 1, 0);
        let fail = verdict(&c.stages[1].checks[0], &sample(5.0));
        let (o, next) = after_judging(&c, &s, &[fail], true, 100);
        assert!(matches!(o, Outcome::Refused { .. }));
        assert_eq!(next.approved, None);
    }

    #[test]
    fn waits_at_a_gate_until_approved() {
        let c = config();
        let s = State::new("shop", 1, 0);
        let pass = verdict(&c.stages[1].checks[0], &sample(0.0));
        let (o, next) = after_judging(&c, &s, std::slice::from_ref(&pass), false, 100);
        assert!(matches!(o, Outcome::WaitingApproval { .. }));
        assert_eq!(o.exit_code(), 0);
        assert_eq!(next.stage, 1);
        let (o, next) = after_judging(&c, &s, &[pass], true, 100);
        assert_eq!(o.set_stage(), Some(100.0));
        assert_eq!(next.stage, 2);
        assert_eq!(next.approved, None);
    }
}
