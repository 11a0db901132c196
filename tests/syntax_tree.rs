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
