//! The one integration-test binary (one link step, shared helpers).

mod build;
mod cases;
mod cli;
mod common;
mod detect;
mod explain;
mod fmt;
mod hostile;
mod injection;
mod lsp;
mod output_safety;
mod parser_never_panics;
mod plan;
mod stdlib_and_examples;
