//! Checking a 5,000-line plan: a fleet of services sharing one schedule (issue 15: the whole
//! `canaryc check` process under 10 ms; `benches/check-process.sh` times the process), and the
//! language server's work after one keystroke in a 2,000-line plan (under 3 ms;
//! `benches/lsp_edits.rs` drives the real server).
//!
//! Run with `cargo bench --bench check`. The plan is generated, so the figure measures the
//! parser and checker, not the disk.

use std::hint::black_box;

use canaryc::check::{Options, check};
use canaryc::date::Date;
use canaryc::source::{FileId, SourceMap};
use criterion::{Criterion, criterion_group, criterion_main};

/// A plan of at least `lines` lines: a fleet of services, a long inline schedule and triggers.
pub(crate) fn large_plan(lines: usize) -> String {
    let mut out = String::from(
        "# Generated for the benchmark: a fleet on one schedule.\nuse std.rollback.defaults\n\nplan fleet {\n  namespace = \"fleet\"\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), bare-metal(router: haproxy)]\n  start = 2027-01-11\n  route { sticky = cookie(\"py_version\") }\n  rollback = defaults { error_rate > 0.5% }\n",
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

/// The language server's work after one keystroke in a 2,000-line plan, as the server does it:
/// the edit applied to the document's tree (one block parsed again), the plan checked, the
/// diagnostics turned into LSP form. The edit is a real one: a digit of a port that is in the
/// plan (an edit of text that is not there would time the error path of a failed `find`).
fn lsp_after_edit(c: &mut Criterion) {
    let text = large_plan(2_000);
    let lines = text.lines().count();
    let options = Options {
        today: Date::parse("2026-11-27").unwrap(),
    };
    let at = text.find("port = 8100").expect("the port is in the plan") + "port = 810".len();
    let old = canaryc::syntax::parse_file(FileId(0), &text);
    let edited = canaryc::syntax::reparse(&old, FileId(0), at, at + 1, "7");
    assert!(edited.tree.text().contains("port = 8107\n"));
    let (_, checked) = canaryc::lsp::analysis::check("fleet.plan", &edited, &options);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
    let uri: lsp_types::Uri = "file:///fleet.plan".parse().expect("a URI");
    c.bench_function(
        &format!("lsp: diagnostics after one keystroke, {lines}-line plan"),
        |b| {
            b.iter(|| {
                let parse = canaryc::syntax::reparse(&old, FileId(0), at, at + 1, "7");
                let (sources, checked) =
                    canaryc::lsp::analysis::check("fleet.plan", &parse, &options);
                black_box(canaryc::lsp::analysis::to_lsp(
                    &checked.diagnostics,
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
