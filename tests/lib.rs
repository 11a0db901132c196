//! The one integration-test binary (one link step, shared helpers).

mod build;
mod cases;
mod cli;
mod common;
mod compare;
mod compare_wiring;
mod detect;
mod engine_docs;
mod engine_objects;
mod engine_verdicts;
mod engines;
mod explain;
mod fmt;
mod front_end_limits;
mod hostile;
mod injection;
mod lsp;
mod lsp_client;
mod lsp_fuzz;
mod lsp_hardening;
mod output_safety;
mod parser_never_panics;
mod plan;
mod promote_lock;
mod stdlib_and_examples;
