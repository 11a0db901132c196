//! `canary-promote.json`: what `canaryc promote` and `canaryc rollback` need, written by
//! `canaryc build` (emit/engine/promote.rs) from the IR. The stages, their holds and approval
//! gates, each criterion's PromQL and condition (the same queries as Argo's analysis, from the
//! same adapter), and where HAProxy's runtime API and Prometheus are.

use serde::{Deserialize, Serialize};

pub use crate::ir::Op;

/// Bumped when a field changes meaning or disappears.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub format_version: u32,
    pub plan: String,
    /// `http://HOST:PORT` of the Prometheus whose HTTP API answers the criteria.
    pub prometheus: String,
    pub haproxy: Haproxy,
    /// Where promote keeps the stage reached, so it survives restarts and reloads.
    pub state_file: String,
    pub services: Vec<String>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Haproxy {
    /// The admin socket (a path), or `HOST:PORT` for a TCP runtime API.
    pub runtime_api: String,
    /// HAProxy's server-state file, rewritten after each change so a reload keeps it.
    pub server_state_file: Option<String>,
    /// Server weights are out of this total.
    pub weight_total: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// py3's share, in percent.
    pub traffic: f64,
    pub hold_secs: u64,
    /// A person must approve (`canaryc promote --approve`) before the next stage.
    pub approval: Option<String>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub service: String,
    /// `error_rate < 0.1%`, as the plan says it.
    pub text: String,
    /// One sample per service, or none with too little traffic to judge.
    pub query: String,
    /// `<`, `<=`, `>` or `>=`: anything else is refused when the file is read.
    pub op: Op,
    pub threshold: f64,
}
