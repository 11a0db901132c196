//! Incremental parsing for the language server: after an edit inside one block, only that
//! block is parsed again and its subtree replaced, so a keystroke in a 2,000-line plan costs
//! the parse of a few lines (and the lowering of the tree), not of the file.
//!
//! Sound because the grammar is context-free and a block is delimited by its own tokens: when
//! the edit lies strictly between the block's keyword and its closing `}`, and the new text of
//! the block parses alone as exactly one block, parsing the whole file would build the same
//! subtree (the keyword is unchanged, so the entry before it did not take it; the `}` ends it
//! where the old one did). Anything else (an edit across blocks, a file with syntax errors, a
//! block that no longer parses) falls back to parsing the whole file.

use pest::Parser as _;

use super::grammar::{PlanParser, Rule};
use super::parser::check_nesting;
use super::tree::{Builder, SyntaxKind, SyntaxTree};
use super::{Parse, parse_file};
use crate::diag::Code;
use crate::source::FileId;

/// `old` with the bytes `start..end` replaced by `insert`.
pub fn reparse(old: &Parse, file: FileId, start: usize, end: usize, insert: &str) -> Parse {
    let old_text = old.tree.text();
    let (start, end) = (start.min(old_text.len()), end.min(old_text.len()));
    let mut text = String::with_capacity(old_text.len() + insert.len());
    text.push_str(old_text.get(..start).unwrap_or(old_text));
    text.push_str(insert);
    text.push_str(old_text.get(end..).unwrap_or(""));
    if !text.is_char_boundary(start) || old.diagnostics.iter().any(|d| d.code == Code::Syntax) {
        return parse_file(file, &text);
    }
    match reparse_block(&old.tree, start, end, insert, &text) {
        Some(tree) => {
            let (ast, mut diagnostics) = super::lower::lower(file, tree.root());
            crate::diag::sort(&mut diagnostics);
            Parse {
                tree,
                ast,
                diagnostics,
            }
        }
        None => parse_file(file, &text),
    }
}

fn reparse_block(
    tree: &SyntaxTree,
    start: usize,
    end: usize,
    insert: &str,
    text: &str,
) -> Option<SyntaxTree> {
    let path = tree.ancestors_at(start);
    // The innermost block that holds the edit strictly inside, after its keyword.
    let (depth, block) = path.iter().enumerate().rev().find(|(_, n)| {
        n.kind() == SyntaxKind::Block
            && n.children()
                .next()
                .is_some_and(|keyword| keyword.end() < start)
            && end < n.end()
    })?;
    // Brackets open around the block count toward the nesting limit.
    let open = path[..depth]
        .iter()
        .filter(|n| {
            matches!(
                n.kind(),
                SyntaxKind::Body | SyntaxKind::List | SyntaxKind::Call
            )
        })
        .count();
    let delta = insert.len() as i64 - (end - start) as i64;
    let new_end = usize::try_from(block.end() as i64 + delta).ok()?;
    let source = text.get(block.start()..new_end)?;
    if check_nesting(FileId(0), source, open).is_some() {
        return None;
    }
    if let Some(fragment) = super::fast::block(text, block.start(), new_end) {
        return Some(tree.splice(
            SyntaxTree::index_of(block),
            fragment,
            text.to_string(),
            delta,
        ));
    }
    let pairs = PlanParser::parse(Rule::block, source).ok()?;
    if pairs.clone().next()?.as_span().end() != source.len() {
        return None;
    }
    let mut builder = Builder::fragment(text, block.start());
    builder.node(pairs, block.start());
    let fragment = builder.finish_fragment();
    Some(tree.splice(
        SyntaxTree::index_of(block),
        fragment,
        text.to_string(),
        delta,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = "plan x {\n  service a {\n    port = 8000\n  }\n  service b {\n    port = 8001 # b\n  }\n}\n";

    fn edit(text: &str, start: usize, end: usize, insert: &str) -> String {
        format!("{}{insert}{}", &text[..start], &text[end..])
    }

    #[test]
    fn an_edit_inside_a_block_reparses_only_that_block() {
        let old = parse_file(FileId(0), PLAN);
        let at = PLAN.find("8001").unwrap() + 3;
        let text = edit(PLAN, at, at + 1, "25");
        let tree = reparse_block(&old.tree, at, at + 1, "25", &text).expect("incremental");
        assert_eq!(tree.to_text(), text);
        let new = reparse(&old, FileId(0), at, at + 1, "25");
        let full = parse_file(FileId(0), &text);
        assert_eq!(new.ast, full.ast);
        let tokens = |p: &Parse| format!("{:?}", p.tree.tokens().collect::<Vec<_>>());
        assert_eq!(tokens(&new), tokens(&full));
    }

    #[test]
    fn edits_a_block_alone_cannot_judge_go_to_its_parent_or_the_whole_file() {
        let old = parse_file(FileId(0), PLAN);
        let on_keyword = PLAN.find("service b").unwrap();
        let across = PLAN.find("8000").unwrap();
        let close = PLAN.find("8001").unwrap();
        for (start, end, insert, incremental) in [
            // The keyword of `service b` changes: the plan block is parsed again.
            (on_keyword, on_keyword + 1, "x", true),
            (across, close, "", true),
            // Unbalanced: only the whole file can say what this is.
            (close, close, "{", false),
            (0, 1, "q", false),
        ] {
            let text = edit(PLAN, start, end, insert);
            let tree = reparse_block(&old.tree, start, end, insert, &text);
            assert_eq!(tree.is_some(), incremental, "{text}");
            let new = reparse(&old, FileId(0), start, end, insert);
            let full = parse_file(FileId(0), &text);
            assert_eq!(new.tree.to_text(), text);
            assert_eq!(new.ast, full.ast);
            assert_eq!(new.diagnostics, full.diagnostics);
        }
    }
}
