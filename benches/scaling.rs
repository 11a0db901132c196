//! Checking and rendering diagnostics stay linear in the size of the plan.
//!
//! Run with `cargo bench --bench scaling`. For each shape of plan, at growing sizes: the fastest
//! time of `check` (parse, check, sort), of rendering its diagnostics for a person (`human`,
//! plain) and as JSON, and microseconds per item: a flat column is linear. The floor beside
//! them is one pass over the text (counting its lines). `CANARYC_SCALING_MAX` (default 64000)
//! is the largest size; `cargo test --benches` runs the smallest once.

use std::hint::black_box;
use std::time::Duration;

mod timing;
use timing::{env_max, fastest, ms, quick};

use canaryc::check::{Options, check};
use canaryc::date::Date;
use canaryc::diag::render::{self, Style};
use canaryc::source::SourceMap;

/// Plans with `n` items of one kind.
/// A name and a generator of inputs of a given size.
type Shape = (&'static str, fn(usize) -> String);

fn shapes() -> Vec<Shape> {
    vec![
        ("`use std.schedules` lines (unused imports)", |n| {
            "use std.schedules\n".repeat(n) + PLAN
        }),
        ("`use` of unknown modules", |n| {
            (0..n)
                .map(|i| format!("use std.nope{i}\n"))
                .collect::<String>()
                + PLAN
        }),
        ("schedules defined at the top level", |n| {
            (0..n)
                .map(|i| format!("schedule s{i} {{\n  stage a {{\n    traffic = 100%\n    hold = 1h\n  }}\n}}\n"))
                .collect::<String>()
                + PLAN
        }),
        ("a chain of constants `const cN = cN-1`", |n| {
            "const c0 = 24h\n".to_string()
                + &(1..n)
                    .map(|i| format!("const c{i} = c{}\n", i - 1))
                    .collect::<String>()
                + PLAN
        }),
        ("stages each holding for its own constant", |n| {
            let consts: String = (0..n)
                .map(|i| format!("const c{i} = {}h\n", i + 1))
                .collect();
            let stages: String = (0..n)
                .map(|i| {
                    format!(
                        "  stage s{i} {{\n    traffic = {}%\n    hold = c{i}\n  }}\n",
                        traffic(i, n)
                    )
                })
                .collect();
            format!(
                "{consts}schedule big {{\n{stages}}}\nplan x {{\n  python = 2.7 -> 3.13\n  schedule = big\n}}\n"
            )
        }),
        ("an override of every stage of a schedule", |n| {
            let stages: String = (0..n)
                .map(|i| {
                    format!(
                        "  stage s{i} {{\n    traffic = {}%\n    hold = 1h\n  }}\n",
                        traffic(i, n)
                    )
                })
                .collect();
            let overrides: String = (0..n)
                .map(|i| format!("    stage s{i} {{ hold = 2h }}\n"))
                .collect();
            format!(
                "schedule big {{\n{stages}}}\nplan x {{\n  python = 2.7 -> 3.13\n  schedule = big {{\n{overrides}  }}\n}}\n"
            )
        }),
        ("rollback overrides of std.rollback.defaults", |n| {
            let overrides: String = (0..n)
                .map(|i| format!("    error_rate > {}% for 5m\n", i % 100))
                .collect();
            format!(
                "use std.rollback.defaults\nplan x {{\n  python = 2.7 -> 3.13\n  rollback = defaults {{\n{overrides}  }}\n}}\n"
            )
        }),
    ]
}

const PLAN: &str = "plan x {\n  python = 2.7 -> 3.13\n}\n";

/// Rising traffic that ends at 100%.
fn traffic(i: usize, n: usize) -> usize {
    1 + i * 99 / n.max(1) + usize::from(i + 1 == n) * 99
}

fn per_item(d: Duration, n: usize) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6 / n as f64)
}

fn main() {
    let quick = quick();
    let max = env_max("CANARYC_SCALING_MAX", 64_000);
    let sizes: Vec<usize> = if quick {
        vec![1_000]
    } else {
        [1_000, 4_000, 16_000, 64_000]
            .into_iter()
            .filter(|&n| n <= max)
            .collect()
    };
    let options = Options {
        today: Date::parse("2026-11-27").expect("a date"),
    };
    for (name, make) in shapes() {
        println!("\n{name}");
        println!(
            "| n | diagnostics | check | µs/item | human | µs/item | json | µs/item | floor (count lines) |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for &n in &sizes {
            let text = make(n);
            let checked = || {
                let mut sources = SourceMap::new();
                let root = sources.add("big.plan", text.clone());
                let analysis = check(&mut sources, root, &options);
                (sources, analysis.diagnostics)
            };
            let check_time = fastest(Duration::from_millis(500), || {
                black_box(checked());
            });
            let (sources, diagnostics) = checked();
            let human = fastest(Duration::from_millis(500), || {
                black_box(render::human(&diagnostics, &sources, Style::Plain, 100));
            });
            let json = fastest(Duration::from_millis(500), || {
                black_box(render::json(&diagnostics, &sources));
            });
            let floor = fastest(Duration::from_millis(500), || {
                black_box(black_box(&text).bytes().filter(|&b| b == b'\n').count());
            });
            println!(
                "| {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
                diagnostics.len(),
                ms(check_time),
                per_item(check_time, n),
                ms(human),
                per_item(human, n),
                ms(json),
                per_item(json, n),
                ms(floor),
            );
        }
    }
}
