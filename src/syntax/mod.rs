//! From text to syntax: the pest grammar (`grammar/canary.pest`) produces the tokens, `parser`
//! builds the lossless syntax tree (`tree`) from them, `lower` turns the tree into the
//! span-carrying AST (`ast`); `error` describes pest's errors in words.
//!
//! Dependencies go one way: `grammar` <- `error` <- `parser` -> `tree` -> `lower` -> `ast`.

pub mod ast;
mod error;
mod fast;
mod grammar;
mod lower;
mod parser;
mod reparse;
pub mod tree;

pub use reparse::reparse;

use crate::diag::Diagnostic;
use crate::source::FileId;

/// A parsed file: the lossless tree, the AST lowered from it, and the syntax errors (CNR001)
/// and meaningless literals (CNR002) found, in document order.
#[derive(Debug, Clone)]
pub struct Parse {
    pub tree: tree::SyntaxTree,
    pub ast: ast::File,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one file into its tree and AST. Never panics, does no I/O; on a syntax error the AST
/// holds the items that did parse and the tree holds the rest as error nodes.
pub fn parse_file(file: FileId, text: &str) -> Parse {
    parse_file_by(file, text, parser::Path::Fast)
}

/// [`parse_file`] with pest alone, never the hand-written fast path: the reference the
/// equivalence tests hold the fast path to. Not for use outside tests.
#[doc(hidden)]
pub fn parse_file_with_pest(file: FileId, text: &str) -> Parse {
    parse_file_by(file, text, parser::Path::Pest)
}

/// Whether the hand-written parser accepts `text` by itself (pest is not needed).
#[doc(hidden)]
pub fn fast_path_accepts(text: &str) -> bool {
    fast::file(&mut tree::Builder::new(text), text).is_some()
}

fn parse_file_by(file: FileId, text: &str, path: parser::Path) -> Parse {
    let (tree, mut diagnostics) = parser::parse(file, text, path);
    let (ast, literals) = lower::lower(file, tree.root());
    diagnostics.extend(literals);
    crate::diag::sort(&mut diagnostics);
    Parse {
        tree,
        ast,
        diagnostics,
    }
}

/// The AST of one file and its diagnostics (see [`parse_file`]).
pub fn parse(file: FileId, text: &str) -> (ast::File, Vec<Diagnostic>) {
    let parse = parse_file(file, text);
    (parse.ast, parse.diagnostics)
}
