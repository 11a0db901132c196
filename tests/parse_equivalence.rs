//! The hand-written parser (`src/syntax/fast.rs`) is a fast path, not a second grammar: on every
//! input it accepts, the parse (tree elements with their kinds and byte ranges, AST,
//! diagnostics) is the one pest alone gives; on every input pest refuses, it bails.
//!
//! Held over every plan in the repository (examples, stdlib, test cases, fixtures, the docs'
//! `plan` snippets), over generated plans (each of which it must accept) and over mutated and
//! random ones (which it may accept only where pest does).

use std::path::{Path, PathBuf};

use canaryc::diag::Code;
use canaryc::source::FileId;
use canaryc::syntax::{Parse, fast_path_accepts, parse_file, parse_file_with_pest};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::code_blocks;
use crate::parser_never_panics::{SEEDS, TOKENS};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with(".git") {
                files(&path, ext, out);
            }
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Both parses of `text`, and whether they are the same parse.
fn compare(text: &str) -> Result<bool, String> {
    let file = FileId(0);
    let fast: Parse = parse_file(file, text);
    let pest: Parse = parse_file_with_pest(file, text);
    if fast.tree != pest.tree {
        return Err(format!(
            "trees differ for {text:?}:\nfast {:?}\npest {:?}",
            fast.tree.tokens().collect::<Vec<_>>(),
            pest.tree.tokens().collect::<Vec<_>>()
        ));
    }
    if fast.ast != pest.ast || fast.diagnostics != pest.diagnostics {
        return Err(format!("AST or diagnostics differ for {text:?}"));
    }
    let parses = !pest.diagnostics.iter().any(|d| d.code == Code::Syntax);
    let accepted = fast_path_accepts(text);
    if accepted && !parses {
        return Err(format!("the fast path accepts what pest refuses: {text:?}"));
    }
    Ok(accepted == parses)
}

#[test]
fn every_plan_in_the_repository_parses_the_same_both_ways() {
    let mut paths = Vec::new();
    for dir in ["examples", "stdlib", "tests", "docs", "benches"] {
        files(&root().join(dir), "plan", &mut paths);
    }
    let mut texts: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            (p.display().to_string(), text)
        })
        .collect();
    let mut docs = Vec::new();
    files(&root().join("docs"), "md", &mut docs);
    docs.push(root().join("README.md"));
    for doc in docs {
        let markdown = std::fs::read_to_string(&doc).unwrap();
        for (n, snippet) in code_blocks(&markdown, "plan").into_iter().enumerate() {
            texts.push((format!("{} snippet {n}", doc.display()), snippet));
        }
    }
    assert!(texts.len() > 150, "found only {} plans", texts.len());
    let (mut valid, mut accepted) = (0, 0);
    for (name, text) in &texts {
        let same = compare(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(same, "{name}: pest parses it, the fast path bails");
        if fast_path_accepts(text) {
            accepted += 1;
        }
        if !parse_file_with_pest(FileId(0), text)
            .diagnostics
            .iter()
            .any(|d| d.code == Code::Syntax)
        {
            valid += 1;
        }
    }
    // Most are valid; the rest are the test cases of syntax errors.
    assert_eq!(accepted, valid);
    assert!(valid > 100, "{valid} of {} plans parse", texts.len());
}

// Generated plans: every rule of the grammar, trivia (comments, CRLF, tabs) between tokens.

fn sep() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            " ",
            " ",
            " ",
            "\n  ",
            "\t",
            " # note { ] \"\n",
            "\r\n",
            "\n# c\n\n",
        ][..],
    )
}

fn tight() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["", "", " ", "\n", " # x\n"][..])
}

const IDENTS: &[&str] = &[
    "a",
    "plan",
    "service",
    "stage",
    "when_x",
    "whenever",
    "p99x",
    "error_rate",
    "latency",
    "_x-1",
    "A9",
    // Not `baseline` or `py2`: after an entry ending in a ratio factor (`a = 2x`), an entry
    // named so reads as `2x baseline` then a stray `=` or `<` (`a{ a{ a=2x  baseline<1 } }` is
    // not a plan), and this generator writes valid plans only.
    "metrics",
    "within",
    "of",
    "all",
    "approval",
    "const",
    "x-",
    "for_",
    "and_",
    "kubernetes",
];

fn ident() -> impl Strategy<Value = String> {
    prop::sample::select(IDENTS).prop_map(str::to_string)
}

const LITERALS: &[&str] = &[
    "1",
    "-2",
    "3.13",
    "1.2.3",
    "5%",
    "-0.5%",
    "24h",
    "1h30m",
    "5ms",
    "2w",
    "512Mi",
    "4K",
    "40/s",
    "0.5/m",
    "2x",
    "1.5x py2",
    "2x baseline",
    "2x  # c\n baseline",
    "2026-01-11",
    "\"s\"",
    "\"\"",
    "\"a\\\"b\"",
    "\"é\\n{\"",
    "\"#\"",
    "\"\\\\\"",
];

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(LITERALS).prop_map(str::to_string),
        ident()
    ];
    let single = leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::vec((inner.clone(), tight()), 0..4),
                any::<bool>(),
                tight()
            )
                .prop_map(|(items, comma, s)| {
                    let items: Vec<String> =
                        items.iter().map(|(v, s)| format!("{s}{v}{s}")).collect();
                    let trailing = if comma && !items.is_empty() { "," } else { "" };
                    format!("[{s}{}{trailing}{s}]", items.join(","))
                }),
            (
                ident(),
                tight(),
                prop::collection::vec((prop::option::of(ident()), inner, tight()), 0..3),
                any::<bool>()
            )
                .prop_map(|(name, s, args, comma)| {
                    let args: Vec<String> = args
                        .iter()
                        .map(|(k, v, s)| match k {
                            Some(k) => format!("{s}{k}{s}:{s}{v}{s}"),
                            None => format!("{s}{v}{s}"),
                        })
                        .collect();
                    let trailing = if comma && !args.is_empty() { "," } else { "" };
                    format!("{name}{s}({}{trailing})", args.join(","))
                }),
        ]
    });
    // A separator before `->`: `a->b` is the ident `a-` and then `>`.
    (single.clone(), prop::option::of((sep(), single))).prop_map(|(a, arrow)| match arrow {
        Some((s, b)) => format!("{a}{s}->{s}{b}"),
        None => a,
    })
}

fn condition() -> impl Strategy<Value = String> {
    let comparison = (
        ident(),
        prop::option::of(prop::sample::select(&["p99", "p0", "p99.9"][..])),
        prop::sample::select(&["<", ">", "<=", ">="][..]),
        tight(),
        value(),
    )
        .prop_map(|(m, q, op, s, v)| match q {
            Some(q) => format!("{m} {q}{s}{op}{s}{v}"),
            None => format!("{m}{s}{op}{s}{v}"),
        });
    let within = (
        sep(),
        value(),
        prop::sample::select(&["py2", "baseline"][..]),
    )
        .prop_map(|(s, v, b)| format!("all{s}metrics within{s}{v} of{s}{b}"));
    let approval = (sep(), prop::sample::select(&["\"ops\"", "\"\""][..]))
        .prop_map(|(s, a)| format!("approval{s}{a}"));
    (
        prop_oneof![4 => comparison, 1 => within, 1 => approval],
        prop::option::of((sep(), value())),
    )
        .prop_map(|(c, w)| match w {
            Some((s, v)) => format!("{c}{s}for{s}{v}"),
            None => c,
        })
}

fn body() -> impl Strategy<Value = String> {
    let conditions = prop::collection::vec(condition(), 1..3)
        .prop_map(|c| c.join(" and "))
        .boxed();
    let attribute = (ident(), prop::option::of(ident()), tight(), value())
        .prop_map(|(k, q, s, v)| match q {
            Some(q) => format!("{k} {q}{s}={s}{v}"),
            None => format!("{k}{s}={s}{v}"),
        })
        .boxed();
    let flat = prop_oneof![attribute.clone(), conditions.clone()];
    let leaf_body = prop::collection::vec((flat, sep()), 0..4).prop_map(|e| {
        format!(
            "{{{}}}",
            e.iter()
                .map(|(e, s)| format!("{s}{e}{s}"))
                .collect::<String>()
        )
    });
    leaf_body.prop_recursive(3, 16, 4, move |inner| {
        let block = (
            ident(),
            prop::option::of(ident()),
            any::<bool>(),
            tight(),
            inner.clone(),
        )
            .prop_map(|(k, l, when, s, b)| {
                let label = l.map(|l| format!(" {l}")).unwrap_or_default();
                let when = if when { " when" } else { "" };
                format!("{k}{label}{when}{s}{b}")
            });
        let with_body = (attribute.clone(), tight(), inner).prop_map(|(a, s, b)| format!("{a}{s}{b}"));
        let entry = prop_oneof![2 => attribute.clone(), 2 => block, 1 => with_body, 1 => conditions.clone()];
        prop::collection::vec((entry, sep()), 0..4)
            .prop_map(|e| format!("{{{}}}", e.iter().map(|(e, s)| format!("{s}{e}{s}")).collect::<String>()))
    })
}

fn plan() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        (prop::collection::vec(ident(), 1..4), sep())
            .prop_map(|(p, s)| format!("use{s}{}", p.join("."))),
        (ident(), tight(), value()).prop_map(|(n, s, v)| format!("const {n}{s}={s}{v}")),
        (
            ident(),
            prop::option::of(ident()),
            any::<bool>(),
            tight(),
            body()
        )
            .prop_map(|(k, l, when, s, b)| {
                let label = l.map(|l| format!(" {l}")).unwrap_or_default();
                let when = if when { " when" } else { "" };
                format!("{k}{label}{when}{s}{b}")
            }),
    ];
    (
        any::<bool>(),
        tight(),
        prop::collection::vec((item, sep()), 0..5),
    )
        .prop_map(|(bom, s, items)| {
            let bom = if bom { "\u{FEFF}" } else { "" };
            format!(
                "{bom}{s}{}",
                items
                    .iter()
                    .map(|(i, s)| format!("{i}{s}"))
                    .collect::<String>()
            )
        })
}

/// A generated plan with a few characters inserted, deleted or replaced: mostly invalid.
fn mutated(base: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    const CHARS: &[char] = &[
        '{', '}', '(', ')', '[', ']', '=', ',', ':', '.', '"', '\\', '#', '\n', ' ', '-', '>', '<',
        '%', 'x', 'a', '1', 'é', '\u{0}', '\u{FEFF}',
    ];
    (
        base,
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                0u8..3,
                prop::sample::select(CHARS),
            ),
            1..4,
        ),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (index, kind, c) in edits {
                let i = index.index(chars.len() + 1);
                match kind {
                    0 if i < chars.len() => {
                        chars.remove(i);
                    }
                    1 if i < chars.len() => chars[i] = c,
                    _ => chars.insert(i.min(chars.len()), c),
                }
            }
            chars.into_iter().collect()
        })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn generated_plans_parse_the_same_both_ways_and_the_fast_path_takes_them() {
    runner(2_000)
        .run(&plan(), |text| {
            let parses = compare(&text).map_err(TestCaseError::fail)?;
            prop_assert!(parses, "pest parses it, the fast path bails: {:?}", text);
            prop_assert!(fast_path_accepts(&text), "{:?}", text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn on_invalid_input_the_fast_path_bails_and_pest_reports() {
    let seeds = prop::sample::select(SEEDS).prop_map(str::to_string);
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "));
    let strategy = prop_oneof![mutated(plan()), mutated(seeds), soup, any::<String>()];
    runner(4_000)
        .run(&strategy, |text| {
            // Soundness: same parse, and no acceptance of what pest refuses. (Completeness on
            // odd valid inputs, `error_rate > 1% and = 5`, is not promised: pest parses those.)
            compare(&text).map_err(TestCaseError::fail)?;
            Ok(())
        })
        .unwrap();
}

/// The corners of the grammar, one by one: each parses the same both ways (the fast path may
/// leave the oddest valid ones, marked, to pest).
#[test]
fn corner_cases_parse_the_same_both_ways() {
    for (text, fast) in [
        ("use {}", true),
        ("use a.b. {}", false),
        ("const x {}", true),
        ("const when = 1", true),
        ("x when {}", true),
        ("x whenever {}", true),
        ("x when_y when {}", true),
        ("x { a when = 1 }", true),
        ("x { all metrics {} }", true),
        ("x { all > 1 }", true),
        ("x { approval > 1 }", true),
        ("x { approval \"a\" for 5m }", true),
        ("x { all metrics within 5% of py2 for 1h and e > 1 }", true),
        ("x { e > 1% and = 5 }", false),
        ("x { e > 1% for = 5 }", false),
        ("x { e p99.9 >= 2x # c\n baseline }", true),
        ("x { e p99. > 1 }", false),
        ("x { a = f(b: 1, c, ) g = [1, [2,], ] }", true),
        ("x { a = b # c\n ( 1 ) }", true),
        ("x { a = 1 -> 2 b = a- c = a->b }", false),
        ("x { a = 1->2 b = 2026-01-01 -> 1h30m5ms }", true),
        ("x { a = 20261-01-01 }", false),
        ("x { a = 5min }", false),
        ("x { a = 1.2.3 b = 1. }", false),
        ("x { a = \"\\\n\" b = \"\\\" }", false),
        ("x { a = \"\\é\" }", true),
        ("x { a = \"\u{0}\" }", true),
        ("\u{FEFF}x {}", true),
        ("  \u{FEFF}x {}", true),
        ("x {} \u{FEFF}", false),
        ("# only a comment", true),
        ("", true),
        ("x {}\r\n# c\r\n", true),
        ("x { a = 1 } }", false),
        ("x { a = 1 ", false),
        ("x { y { z = [ ( ) ] } }", false),
    ] {
        let same = compare(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fast_path_accepts(text), fast, "{text:?}");
        if fast {
            assert!(same, "{text:?}");
        }
    }
    let deep = format!("x {{ a = {}{} }}", "[".repeat(70), "]".repeat(70));
    assert!(!fast_path_accepts(&deep));
    compare(&deep).unwrap();
    let deep_ok = format!("x {{ a = {}{} }}", "[".repeat(63), "]".repeat(63));
    assert!(fast_path_accepts(&deep_ok));
    compare(&deep_ok).unwrap();
}
