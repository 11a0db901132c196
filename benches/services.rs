//! Checking grows linearly with the number of services (issue 15: 100,000 services in linear
//! time; duplicate names were found by comparing every pair, about 40 s at 100,000).
//!
//! Run with `cargo bench --bench services`. For plans of 1,000 to 100,000 services (each with
//! a port, health path, images and an env block): the fastest time of `check`, microseconds per
//! service (flat when linear), and as the floor one pass over the text counting its lines.
//! `CANARYC_SERVICES_MAX` (default 100000) is the largest; `cargo test --benches` runs 1,000.

use std::hint::black_box;
use std::time::Duration;

mod timing;
use timing::{env_max, fastest, ms, quick};

use canaryc::check::{Options, check};
use canaryc::date::Date;
use canaryc::source::SourceMap;

fn plan(services: usize) -> String {
    let mut out =
        String::from("plan fleet {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n");
    for n in 0..services {
        out.push_str(&format!(
            "  service svc-{n} {{\n    port = {}\n    health = \"/healthz\"\n    image py3 = \"r/svc-{n}:3.13\"\n    env py3 {{ LANG = \"C.UTF-8\" }}\n  }}\n",
            8000 + n % 1000
        ));
    }
    out.push_str("}\n");
    out
}

fn main() {
    let options = Options {
        today: Date::parse("2026-11-27").unwrap(),
    };
    let max = if quick() {
        1_000
    } else {
        env_max("CANARYC_SERVICES_MAX", 100_000)
    };
    println!("| services | lines | check | µs per service | floor (count lines) |");
    println!("|---:|---:|---:|---:|---:|");
    for n in [1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
        .into_iter()
        .filter(|&n| n <= max)
    {
        let text = plan(n);
        let mut sources = SourceMap::new();
        let root = sources.add("fleet.plan", text.clone());
        let analysis = check(&mut sources, root, &options);
        assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics.first());
        let budget = Duration::from_millis(if quick() { 10 } else { 1_500 });
        let time = fastest(budget, || {
            let mut sources = SourceMap::new();
            let root = sources.add("fleet.plan", text.clone());
            black_box(check(&mut sources, root, &options));
        });
        let floor = fastest(budget, || {
            black_box(black_box(&text).bytes().filter(|&b| b == b'\n').count());
        });
        println!(
            "| {n} | {} | {} | {:.2} | {} |",
            text.lines().count(),
            ms(time),
            time.as_secs_f64() * 1e6 / n as f64,
            ms(floor)
        );
    }
}
