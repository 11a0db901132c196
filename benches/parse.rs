//! Parser time on pathological nesting: it must grow linearly with the number of brackets.
//!
//! Run with `cargo bench --bench parse`. Prints one table per input shape: brackets, the time of
//! `canaryc::syntax::parse` (fastest of several runs), nanoseconds per bracket (flat when linear)
//! and, as the physical floor, one pass over the bytes counting brackets. Then the grammar before
//! the fix (`benches/exponential-baseline.pest`, pest alone, no lowering) beside the current
//! parser on the input that used to hang, `a = [[[[...` with few brackets: it doubles with each.
//!
//! `CANARYC_PARSE_BENCH_MAX` (default 100000) is the largest bracket count; `cargo test --benches`
//! runs each shape once at 1,000 brackets.

// pest's generated parser names `::alloc` (pest is built without `std`, see Cargo.toml).
extern crate alloc;

use std::hint::black_box;
use std::time::Duration;

mod timing;
use timing::{env_max, fastest, ms, quick};

use canaryc::source::FileId;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../benches/exponential-baseline.pest"]
struct BaselineParser;

/// Depth of each nested group: under the parser's nesting limit (64), so pest really parses it.
const DEPTH: usize = 60;

/// Inputs with about `brackets` brackets, by shape.
/// A name and a generator of inputs of a given size.
type Shape = (&'static str, fn(usize) -> String);

fn shapes() -> Vec<Shape> {
    vec![
        ("unclosed `[` (refused by the nesting guard)", |n| {
            format!("plan x {{\n  a = {}\n}}\n", "[".repeat(n))
        }),
        ("lines of 60 `[` closed by `)`", |n| {
            lines(n, |_| {
                format!("const a = {}{}", "[".repeat(DEPTH), ")".repeat(DEPTH))
            })
        }),
        ("lines of 60 `f(` closed by `]`", |n| {
            lines(n, |_| {
                format!("const a = {}{}", "f(".repeat(DEPTH), "]".repeat(DEPTH))
            })
        }),
        ("lines of 60 blocks `a {` closed by `]`", |n| {
            lines(n, |_| {
                format!("x {}{}", "a { ".repeat(DEPTH), "]".repeat(DEPTH))
            })
        }),
        ("lines of 60 `[` balanced, with arrows", |n| {
            lines(n, |_| {
                format!("const a = {}1 -> 2{}", "[".repeat(DEPTH), "]".repeat(DEPTH))
            })
        }),
        ("one line, flat `[[], [], ...]`", |n| {
            format!("const a = [{}]\n", "[], ".repeat(n / 2))
        }),
    ]
}

/// Lines of `2 * DEPTH` brackets each, enough for `brackets` in all.
fn lines(brackets: usize, line: impl Fn(usize) -> String) -> String {
    (0..brackets.div_ceil(2 * DEPTH))
        .map(|i| line(i) + "\n")
        .collect()
}

fn count_brackets(text: &str) -> usize {
    text.bytes().filter(|b| b"[](){}".contains(b)).count()
}

fn main() {
    // `cargo test --benches` passes `--bench` only for `cargo bench`.
    let quick = quick();
    let max = env_max("CANARYC_PARSE_BENCH_MAX", 100_000);
    let sizes: Vec<usize> = if quick {
        vec![1_000]
    } else {
        [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000]
            .into_iter()
            .filter(|&n| n <= max)
            .collect()
    };
    for (name, make) in shapes() {
        println!("\n{name}");
        println!("| brackets | parse | ns/bracket | floor (count brackets) | diagnostics |");
        println!("|---:|---:|---:|---:|---:|");
        for &n in &sizes {
            let text = make(n);
            let brackets = count_brackets(&text);
            let parse = fastest(Duration::from_millis(300), || {
                black_box(canaryc::syntax::parse(FileId(0), black_box(&text)));
            });
            let floor = fastest(Duration::from_millis(300), || {
                black_box(count_brackets(black_box(&text)));
            });
            let (_, diagnostics) = canaryc::syntax::parse(FileId(0), &text);
            println!(
                "| {brackets} | {} | {:.0} | {} | {} |",
                ms(parse),
                parse.as_nanos() as f64 / brackets as f64,
                ms(floor),
                diagnostics.len()
            );
        }
    }

    // The grammar before the fix, on `a = [[[[...` inside a plan: pest alone.
    println!(
        "\nbefore the fix: `plan x {{ a = [[[...` (unclosed), pest only vs the whole parse now"
    );
    println!("| brackets | grammar before (pest only) | parse now | ratio |");
    println!("|---:|---:|---:|---:|");
    let baseline_sizes: &[usize] = if quick {
        &[8]
    } else {
        &[8, 12, 14, 16, 18, 20]
    };
    for &n in baseline_sizes {
        let text = format!("plan x {{\n  a = {}\n}}\n", "[".repeat(n));
        let before = fastest(Duration::from_millis(300), || {
            let _ = black_box(BaselineParser::parse(Rule::file, black_box(&text)));
        });
        let now = fastest(Duration::from_millis(300), || {
            black_box(canaryc::syntax::parse(FileId(0), black_box(&text)));
        });
        println!(
            "| {n} | {} | {} | {:.0}x |",
            ms(before),
            ms(now),
            before.as_secs_f64() / now.as_secs_f64()
        );
    }
}
