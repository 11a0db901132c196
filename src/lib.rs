//! canaryc: compiles a `canary.plan` into everything a Python 2 to Python 3 canary rollout needs.
//!
//! See ARCHITECTURE.md for the pipeline and the invariants each stage keeps.

// pest's generated parser names `::alloc` when pest is built without `std` (Cargo.toml says why).
extern crate alloc;

pub mod check;
pub mod cli;
pub mod compare;
pub mod compile;
pub mod date;
pub mod detect;
pub mod diag;
pub mod emit;
pub mod fmt;
pub mod ir;
pub mod lsp;
pub mod model;
pub mod promote;
pub mod source;
pub mod stats;
pub mod stdlib;
pub mod syntax;
pub mod synth;
