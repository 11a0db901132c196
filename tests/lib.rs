//! The one integration-test binary (one link step, shared helpers).

mod build;
mod cases;
mod cli;
mod common;
mod detect;
mod explain;
mod fmt;
mod front_end_limits;
mod lsp;
mod lsp_client;
mod lsp_fuzz;
mod lsp_hardening;
mod parser_never_panics;
mod plan;
mod stdlib_and_examples;
