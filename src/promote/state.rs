//! The stage reached, kept in a small JSON file that promote rewrites atomically (write a
//! sibling, rename), so it survives restarts of promote and reloads of HAProxy.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub plan: String,
    /// Index of the stage reached, into the configuration's stages.
    pub stage: usize,
    /// Unix seconds at which py3 got this stage's weight.
    pub entered_at: u64,
    /// The stage whose approval gate a person opened (`canaryc promote --approve`).
    #[serde(default)]
    pub approved: Option<String>,
    /// Set when py3 was rolled back; promote refuses to move until `--restart`.
    #[serde(default)]
    pub rolled_back: Option<RolledBack>,
    /// The last stage passed: py2 can be retired.
    #[serde(default)]
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub at: u64,
    /// The service the rollback was for, or every service.
    pub service: Option<String>,
}

impl State {
    pub fn new(plan: &str, stage: usize, now: u64) -> State {
        State {
            plan: plan.to_string(),
            stage,
            entered_at: now,
            approved: None,
            rolled_back: None,
            done: false,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
