//! `canaryc promote` and `canaryc rollback`: canaryc's own engine on Compose and bare metal.
//!
//! Promote reads the stage reached (persisted in a state file, so it survives restarts and
//! HAProxy reloads), checks that its hold has elapsed and that its success criteria hold on
//! Prometheus's HTTP API, waits for an explicit approval at a gate, and only then sets the next
//! stage's weights through HAProxy's runtime API. Rollback sets py3's weight to 0 and puts it in
//! maintenance. The decisions are pure functions of the configuration, the state, the clock and
//! the query results (`decide`); `cli/promote.rs` does the I/O.

pub mod config;
pub mod decide;
pub mod haproxy;
pub mod http;
pub mod state;
