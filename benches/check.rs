//! Checking a 5,000-line plan: a fleet of services sharing one schedule (target: under 50 ms).
//!
//! Run with `cargo bench --bench check`. The plan is generated, so the figure measures the
//! parser and checker, not the disk.

use std::hint::black_box;

use canaryc::check::{Options, check};
use canaryc::date::Date;
use canaryc::source::SourceMap;
use criterion::{Criterion, criterion_group, criterion_main};

/// A plan of at least `lines` lines: a fleet of services, a long inline schedule and triggers.
pub fn large_plan(lines: usize) -> String {
    let mut out = String::from(
        "# Generated for the benchmark: a fleet on one schedule.\nuse std.rollback.defaults\n\nplan fleet {\n  namespace = \"fleet\"\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), bare-metal(router: haproxy)]\n  start = 2027-01-11\n  route { sticky = cookie(\"py_version\") }\n  rollback = defaults { error_rate > 0.5% for 5m }\n",
    );
    let stages = 40;
    out.push_str("  schedule {\n");
    for i in 0..stages {
        let last = i == stages - 1;
        let traffic = if last {
            100.0
        } else {
            0.1 + f64::from(i) * 2.0
        };
        // py2 serves nothing at 100%: the last stage is judged on absolute values.
        let criteria = if last {
            "error_rate < 0.25%"
        } else {
            "error_rate < 0.25% and latency p99 < 1.5x py2"
        };
        out.push_str(&format!(
            "    stage step-{i} {{\n      traffic = {traffic}%\n      hold = 24h\n      success when {{ {criteria} }}\n    }}\n"
        ));
    }
    out.push_str("  }\n");
    let mut n = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "  service svc-{n} {{\n    port = {}\n    health = \"/healthz\"\n    replicas = 3\n    image py2 = \"registry.internal/svc-{n}:2.7\"\n    image py3 = \"registry.internal/svc-{n}:3.13\"\n    resources {{\n      cpu = 0.5\n      memory = 512Mi\n    }}\n    env py3 {{ LANG = \"C.UTF-8\" }}\n  }}\n",
            8000 + n % 1000
        ));
        n += 1;
    }
    out.push_str("}\n");
    out
}

fn bench(c: &mut Criterion) {
    let text = large_plan(5_000);
    let lines = text.lines().count();
    let options = Options {
        today: Date::parse("2026-11-27").unwrap(),
    };
    // The plan must be valid, or we would be timing the error path.
    let mut sources = SourceMap::new();
    let root = sources.add("fleet.plan", text.clone());
    let analysis = check(&mut sources, root, &options);
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );

    c.bench_function(&format!("check {lines}-line plan"), |b| {
        b.iter(|| {
            let mut sources = SourceMap::new();
            let root = sources.add("fleet.plan", text.clone());
            black_box(check(&mut sources, root, &options))
        });
    });
}

/// The language server's work after one edit of a 2,000-line plan: re-check the whole text and
/// turn the diagnostics into LSP form (target: under 10 ms).
fn lsp_after_edit(c: &mut Criterion) {
    let text = large_plan(2_000);
    let lines = text.lines().count();
    let options = Options {
        today: Date::parse("2026-11-27").unwrap(),
    };
    // One edit: a port changes in the middle of the file, as a keystroke would.
    let at = text.find("port = 8500").unwrap_or(text.len() / 2);
    let edited = format!(
        "{}port = 85001{}",
        &text[..at],
        &text[at + "port = 8500".len()..]
    );
    let uri: lsp_types::Uri = "file:///fleet.plan".parse().expect("a URI");
    c.bench_function(
        &format!("lsp: diagnostics after one edit, {lines}-line plan"),
        |b| {
            b.iter(|| {
                let (sources, diagnostics) =
                    canaryc::lsp::analysis::diagnostics("fleet.plan", &edited, &options);
                black_box(canaryc::lsp::analysis::to_lsp(
                    &diagnostics,
                    &sources,
                    &uri,
                    &mut |_| None,
                ))
            });
        },
    );
}

criterion_group!(benches, bench, lsp_after_edit);
criterion_main!(benches);
