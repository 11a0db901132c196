//! The parser and checker never panic, whatever the input, and every diagnostic points inside
//! the file on character boundaries.
//!
//! Inputs are random token soups built from the grammar's own vocabulary plus mutations (byte
//! deletions, insertions, swaps) of real plans, so most inputs get deep into the grammar rather
//! than failing on the first character. `cargo test` runs 2,000 cases; set
//! CANARYC_FUZZ_CASES=1000000 for a long run (see README).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::check_text;

pub(crate) const TOKENS: &[&str] = &[
    "plan",
    "schedule",
    "rollback",
    "stage",
    "service",
    "route",
    "monitor",
    "use",
    "const",
    "when",
    "and",
    "for",
    "all",
    "metrics",
    "within",
    "of",
    "baseline",
    "py2",
    "py3",
    "approval",
    "success",
    "traffic",
    "hold",
    "python",
    "infra",
    "image",
    "env",
    "sticky",
    "error_rate",
    "latency",
    "p99",
    "p0",
    "p99.99",
    "cpu",
    "memory",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "->",
    "<",
    ">",
    "<=",
    ">=",
    ",",
    ":",
    ".",
    "\"",
    "\"x\"",
    "\"\\q\"",
    "#",
    "\n",
    " ",
    "1%",
    "-5%",
    "120%",
    "0.5%",
    "24h",
    "0s",
    "1h30m",
    "2x",
    "0x",
    "3.11",
    "2.7",
    "3.9",
    "8000",
    "99999999999999999999",
    "512Mi",
    "2026-02-30",
    "2027-01-11",
    "std.schedules",
    "std.rollback.defaults",
    "standard",
    "kubernetes",
    "istio",
    "cookie",
    "header",
    "é",
    "\u{0}",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..60).prop_map(|t| t.join(" "))
}

pub(crate) const SEEDS: &[&str] = &[
    include_str!("../stdlib/schedules.plan"),
    include_str!("../stdlib/rollback.plan"),
    "use std.schedules.standard\nplan ledger {\n  python = 2.7 -> 3.11\n  infra = kubernetes(router: istio)\n  service { port = 8000 health = \"/healthz\" image py3 = \"r/l:3\" }\n  route { sticky = cookie(\"py_version\") }\n  rollback when {\n    error_rate > 1% for 5m\n    latency p99 > 2x py2 for 10m\n  }\n  schedule = standard { stage canary-25pct { hold = 96h } }\n}\n",
];

fn mutated_plan() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<char>()), 1..8),
    )
        .prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (index, kind, c) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let i = index.index(chars.len());
                match kind {
                    0 => {
                        chars.remove(i);
                    }
                    1 => chars.insert(i, c),
                    2 => chars[i] = c,
                    _ => {
                        let j = (i + 7).min(chars.len());
                        chars.drain(i..j);
                    }
                }
            }
            chars.into_iter().collect()
        })
}

fn input() -> impl Strategy<Value = String> {
    prop_oneof![token_soup(), mutated_plan(), any::<String>()]
}

fn check_one(text: &str) {
    let (analysis, sources) = check_text("fuzz.plan", text);
    for d in &analysis.diagnostics {
        for label in std::iter::once(&d.primary).chain(&d.secondary) {
            let file = sources.get(label.span.file);
            assert!(label.span.start <= label.span.end, "{d:?}");
            assert!((label.span.end as usize) <= file.text.len(), "{d:?}");
            assert!(
                file.text.is_char_boundary(label.span.start as usize),
                "{d:?}"
            );
            assert!(file.text.is_char_boundary(label.span.end as usize), "{d:?}");
        }
    }
    // Rendering must not panic either.
    let _ = canaryc::diag::render::human(
        &analysis.diagnostics,
        &sources,
        canaryc::diag::render::Style::Plain,
        80,
    );
    let _ = canaryc::diag::render::json(&analysis.diagnostics, &sources);
    // Whatever parses formats stably, to the same tree.
    if let Ok(once) = canaryc::fmt::format(text) {
        let twice = canaryc::fmt::format(&once).expect("formatted output parses");
        assert_eq!(once, twice, "format is not idempotent for {text:?}");
        let (a, _) = canaryc::syntax::parse(canaryc::source::FileId(0), text);
        let (b, _) = canaryc::syntax::parse(canaryc::source::FileId(0), &once);
        assert!(a == b, "format changed the tree of {text:?}:\n{once}");
    }
}

#[test]
fn parser_and_checker_never_panic() {
    let cases = std::env::var("CANARYC_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&input(), |text| {
            check_one(&text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let text = format!("plan x {{ infra = {}", "[".repeat(100_000));
    let (analysis, _) = check_text("deep.plan", &text);
    assert_eq!(analysis.diagnostics.len(), 1);
    assert_eq!(analysis.diagnostics[0].message, "nesting too deep");
}

#[test]
fn long_flat_input_is_fine() {
    let text = "# comment\n".repeat(100_000) + "plan x {\n  python = 2.7 -> 3.13\n}\n";
    let (analysis, _) = check_text("long.plan", &text);
    assert!(analysis.diagnostics.is_empty());
}
