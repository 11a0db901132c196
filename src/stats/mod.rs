//! The statistics of detection, pure and shared: what the rollback rules compute, the reference
//! evaluator that computes it in Rust, the simulator, and the time-to-detect preview.
//!
//! A rollback trigger such as `error_rate > 1%` is a sequential test, not a threshold on a
//! noisy ratio: py3's failures over a ladder of windows (two scrapes to a day) against py2's
//! rate over the last day, each window's evidence a restricted generalised likelihood ratio
//! (`binomial`), compared with a threshold that grows with how often that window is looked at
//! (`ladder`). Latency is the same test on the share of py3's requests slower than a bucket
//! near py2's quantile. Success criteria ask the opposite question of the same counts: is there
//! enough evidence that py3 is *not* worse? shared/reference/canary-systems.md §5 (Netflix's
//! sequential testing of canaries) is the published anchor; docs/language.md says what the
//! thresholds mean.

pub mod binomial;
pub mod effect;
pub mod evaluate;
pub mod increase;
pub mod ladder;
pub mod preview;
pub mod random;
pub mod simulate;
