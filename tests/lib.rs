//! The one integration-test binary (one link step, shared helpers).

mod build;
mod cases;
mod cli;
mod common;
mod detect;
mod detection;
mod explain;
mod fmt;
mod lsp;
mod parser_never_panics;
mod plan;
mod stdlib_and_examples;
