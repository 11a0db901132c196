//! The syntax tree is lossless for any input: its tokens' texts are the file, byte for byte,
//! and they follow each other without gap or overlap.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::parser_never_panics::{SEEDS, TOKENS};

fn input() -> impl Strategy<Value = String> {
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.join(" "));
    let mutated = (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), any::<char>()), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (index, c) in edits {
                let i = index.index(chars.len().max(1)).min(chars.len());
                chars.insert(i, c);
            }
            chars.into_iter().collect()
        });
    prop_oneof![soup, mutated, any::<String>()]
}

#[test]
fn the_tree_holds_every_byte_of_any_input() {
    let mut runner = TestRunner::new(Config {
        cases: 1_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&input(), |text| {
            let parse = canaryc::syntax::parse_file(canaryc::source::FileId(0), &text);
            let mut end = 0;
            for token in parse.tree.tokens() {
                prop_assert_eq!(token.start(), end);
                prop_assert!(token.end() > token.start());
                end = token.end();
            }
            prop_assert_eq!(end, text.len());
            prop_assert_eq!(parse.tree.to_text(), text);
            Ok(())
        })
        .unwrap();
}

/// What a parse is, spans included: the tree's elements, the AST with every span, the
/// diagnostics.
fn fingerprint(parse: &canaryc::syntax::Parse) -> String {
    let tree: Vec<String> = parse.tree.tokens().map(|t| format!("{:?}", t)).collect();
    let mut nodes = Vec::new();
    let mut stack = vec![parse.tree.root()];
    while let Some(n) = stack.pop() {
        nodes.push(format!("{n:?}"));
        stack.extend(n.children().filter(|c| c.is_node()));
    }
    format!(
        "{tree:?}\n{nodes:?}\n{:#?}\n{:?}",
        parse.ast,
        parse
            .diagnostics
            .iter()
            .map(|d| (d.code, d.primary.span, &d.message))
            .collect::<Vec<_>>()
    )
}

/// The language server's incremental parse builds what parsing the edited file would.
#[test]
fn reparsing_after_an_edit_equals_parsing_the_edited_file() {
    const EDITS: &[&str] = &[
        "", "x", "}", "{", " ", "\n", "=", "1", "\"", "#", "5%", "a {", "}\n",
    ];
    let strategy = (
        prop::sample::select(SEEDS),
        any::<prop::sample::Index>(),
        0usize..4,
        prop::sample::select(EDITS),
    );
    let mut runner = TestRunner::new(Config {
        cases: 1_000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(seed, at, removed, insert)| {
            let file = canaryc::source::FileId(0);
            let old = canaryc::syntax::parse_file(file, seed);
            let mut start = at.index(seed.len());
            while !seed.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + removed).min(seed.len());
            while !seed.is_char_boundary(end) {
                end += 1;
            }
            let new = canaryc::syntax::reparse(&old, file, start, end, insert);
            let text = format!("{}{insert}{}", &seed[..start], &seed[end..]);
            prop_assert_eq!(new.tree.text(), text.as_str());
            let full = canaryc::syntax::parse_file(file, &text);
            prop_assert_eq!(fingerprint(&new), fingerprint(&full));
            Ok(())
        })
        .unwrap();
}
