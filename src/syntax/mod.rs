//! From text to syntax tree: the pest grammar (`grammar/canary.pest`), the span-carrying AST
//! and the conversion of pest errors into diagnostics.

pub mod ast;
mod error;
mod parser;

pub use parser::parse;
