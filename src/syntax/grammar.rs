//! The pest parser generated from `grammar/canary.pest`. Its own module so that the parser, the
//! tree builder and the error conversion all depend on it and not on each other.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/canary.pest"]
pub(crate) struct PlanParser;
