//! Runs the pest parser and builds the lossless syntax tree, with the syntax errors.
//!
//! Invariant: [`parse`] never panics and does no I/O. On a syntax error it re-parses each later
//! top-level item on its own, so one typo does not hide the next; the items that do not parse
//! become error nodes of the tree, so the tree still holds every byte.

use pest::Parser as _;

use super::error;
use super::grammar::{PlanParser, Rule};
use super::tree::{Builder, SyntaxTree};
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Deeper nesting than this is refused before pest sees it: no real plan comes close, and it
/// keeps every recursive pass (pest's, ours, the checker's) far from the stack's end.
pub(super) const MAX_NESTING: usize = 64;

/// Which parser builds the tree of a file that parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Path {
    /// The hand-written parser (`fast.rs`), pest where it bails.
    Fast,
    /// pest alone (the equivalence tests' reference).
    Pest,
}

/// The tree of `text` and its syntax errors (CNR001).
pub(super) fn parse(file: FileId, text: &str, path: Path) -> (SyntaxTree, Vec<Diagnostic>) {
    let mut builder = Builder::new(text);
    // The fast path first: it bails past MAX_NESTING brackets by itself, and a file it accepts
    // is balanced, so the nesting check would find nothing.
    if path == Path::Fast {
        if super::fast::file(&mut builder, text).is_some() {
            return (builder.finish(), Vec::new());
        }
        // pest decides what does not parse, and how it is reported.
        builder = Builder::new(text);
    }
    if let Some(diagnostic) = check_nesting(file, text, 0) {
        builder.error(0, text.len());
        return (builder.finish(), vec![diagnostic]);
    }
    match PlanParser::parse(Rule::file, text) {
        Ok(pairs) => {
            builder.file(pairs, 0);
            (builder.finish(), Vec::new())
        }
        Err(err) => {
            let first = error::convert(file, text, 0, &err);
            let error_at = first.primary.span.start as usize;
            let mut diagnostics = vec![first];
            recover(file, text, error_at, &mut builder, &mut diagnostics);
            (builder.finish(), diagnostics)
        }
    }
}

/// The first bracket deeper than [`MAX_NESTING`], counting `depth` levels already open, as a
/// diagnostic. Brackets in strings and comments do not count.
pub(super) fn check_nesting(file: FileId, text: &str, depth: usize) -> Option<Diagnostic> {
    let (mut depth, mut in_string, mut in_comment, mut escaped) = (depth, false, false, false);
    // Byte by byte: every character it looks for is ASCII, and no byte of a multi-byte
    // character is (an escaped one is skipped by its first byte, the rest are plain bytes).
    for (i, &c) in text.as_bytes().iter().enumerate() {
        if in_comment {
            in_comment = c != b'\n';
        } else if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"' | b'\n') => in_string = false,
                _ => {}
            }
        } else {
            match c {
                b'#' => in_comment = true,
                b'"' => in_string = true,
                b'{' | b'[' | b'(' => depth += 1,
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_NESTING {
                return Some(
                    Diagnostic::new(Code::Syntax, Span::new(file, i, i + 1), "nesting too deep")
                        .label(format!("more than {MAX_NESTING} levels of brackets"))
                        .help("a plan needs only a few levels: plan > service > env; check for unclosed brackets"),
                );
            }
        }
    }
    None
}

/// After a syntax error at `error_at`, parses each top-level item on its own. An item starts
/// at a line beginning in column 0 with a letter; the chunk holding the error, and any chunk
/// that does not parse alone, becomes an error node. Syntax errors are reported for the chunks
/// after the first error only (those before parsed as part of the whole file).
fn recover(
    file: FileId,
    text: &str,
    error_at: usize,
    builder: &mut Builder<'_>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| text[i..].starts_with(|c: char| c.is_ascii_alphabetic()))
        .collect();
    // Whatever precedes the first item (comments, most often) is in the tree too, but no item
    // of it is lowered and no error reported, as before the tree existed.
    let first = starts.first().copied().unwrap_or(text.len());
    if first > 0 {
        match PlanParser::parse(Rule::file, &text[..first]) {
            Ok(pairs)
                if error_at >= first
                    && pairs.clone().flatten().all(|p| {
                        !matches!(p.as_rule(), Rule::use_decl | Rule::const_decl | Rule::block)
                    }) =>
            {
                builder.file(pairs, 0)
            }
            _ => builder.error(0, first),
        }
    }
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        if start <= error_at && error_at < end {
            builder.error(start, end);
            continue;
        }
        let chunk = &text[start..end];
        match PlanParser::parse(Rule::file, chunk) {
            Ok(pairs) => builder.file(pairs, start),
            Err(err) => {
                if start > error_at {
                    diagnostics.push(error::convert(file, chunk, start, &err));
                }
                builder.error(start, end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pest's budget of rule calls per parse: process-wide, so it is set once for every unit
    /// test, far above what any of them parses (a few thousand calls) and far below the 2^60
    /// calls the exponential grammar needed for one line of 60 brackets.
    fn limit_pest_calls() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| pest::set_call_limit(std::num::NonZeroUsize::new(5_000_000)));
    }

    /// Work, not time: pathological nesting parses within a budget of rule calls that grows
    /// with the input. Before the grammar stopped re-parsing values, each of these ran out of
    /// the budget on its first line.
    #[test]
    fn pathological_nesting_takes_linear_work() {
        limit_pest_calls();
        let depth = 60;
        let shapes = [
            format!("const a = {}{}\n", "[".repeat(depth), ")".repeat(depth)),
            format!("const a = {}{}\n", "f(".repeat(depth), "]".repeat(depth)),
            format!("x {}{}\n", "a { ".repeat(depth), "]".repeat(depth)),
            format!(
                "const a = {}1 -> 2{}\n",
                "[".repeat(depth),
                "]".repeat(depth)
            ),
            format!("plan x {{\n  a = {}\n", "[".repeat(depth)),
            format!("plan x {{\n  a = {}x {{ y = 1", "f(".repeat(depth / 2)),
        ];
        for line in shapes {
            // 100 lines: about 12,000 brackets, each line a top-level item parsed on its own
            // after the first error.
            let text = line.repeat(100);
            let (tree, diagnostics) = parse(FileId(0), &text, Path::Fast);
            assert!(
                diagnostics
                    .iter()
                    .all(|d| !d.message.contains("limit reached")),
                "{line}: {:?}",
                diagnostics.first()
            );
            assert_eq!(tree.to_text(), text);
        }
    }
}
