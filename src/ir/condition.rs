//! A criterion's comparison: `value OP threshold`, decided in the IR. `canaryc promote` judges
//! it on Prometheus's answer and the engines' emitters write it into Argo Rollouts' conditions
//! and Flagger's ranges: both read this one definition, and the runtime depends on no emitter.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `value OP threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub op: Op,
    pub threshold: f64,
}

/// A comparison, as the plan writes it. `canary-promote.json` stores it as text, and an
/// unknown one is a parse error of the file, never a silent `>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    pub fn negated(self) -> Op {
        match self {
            Op::Lt => Op::Ge,
            Op::Le => Op::Gt,
            Op::Gt => Op::Le,
            Op::Ge => Op::Lt,
        }
    }
}

impl Condition {
    /// Whether a sample satisfies the condition. NaN satisfies nothing.
    pub fn holds(self, value: f64) -> bool {
        match self.op {
            Op::Lt => value < self.threshold,
            Op::Le => value <= self.threshold,
            Op::Gt => value > self.threshold,
            Op::Ge => value >= self.threshold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_and_unknown_ones_are_refused() {
        for op in [Op::Lt, Op::Le, Op::Gt, Op::Ge] {
            assert_eq!(Op::parse(op.as_str()), Some(op));
            let json = serde_json::to_string(&op).unwrap();
            assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
        }
        assert_eq!(Op::parse("=="), None);
        assert!(serde_json::from_str::<Op>("\"==\"").is_err());
        assert!(
            !Condition {
                op: Op::Lt,
                threshold: 1.0
            }
            .holds(f64::NAN)
        );
    }
}
