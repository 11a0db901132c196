//! Every analysis query and success condition gives the right verdict (issue 11, proof 2).
//!
//! A plan with one service per scenario (`ok`, `bad`, `quiet`, `blip`) is lowered for each
//! metrics source (Istio, ingress-nginx, the app's own, HAProxy). Synthetic series for each
//! scenario are backfilled into a real Prometheus (`promtool tsdb create-blocks-from
//! openmetrics`), every query the engines run (Argo's AnalysisTemplates and
//! `canary-promote.json`, from the same adapter) is asked over Prometheus's HTTP API, and the
//! answer is judged twice: by Argo's conditions as written in the templates (evaluated with
//! expr-lang's semantics for the subset canaryc writes: `len`, indexing, comparisons, `&&`,
//! `||`, short-circuit, an out-of-range index is an error) and by promote's verdict.
//!
//! Needs `prometheus` and `promtool` (Debian's packages); skipped without them unless
//! CANARYC_REQUIRE_PROMETHEUS is set, as CI does.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use canaryc::emit::engine::analysis::{self, Query};
use canaryc::emit::metrics::Source;
use canaryc::ir::{Copy, Ir, ServiceIr};
use canaryc::model::Engine;

use crate::common::check_text;

/// The evaluation instant; every series ends here. 2026-11-27T12:00:00Z.
const T: i64 = 1_795_780_800;
const STEP: i64 = 15;
/// Series start 90 minutes before T: longer than any window below.
const SPAN: i64 = 90 * 60;

const SCENARIOS: &[&str] = &["ok", "bad", "quiet", "blip"];

fn plan(source: &str, infra: &str) -> String {
    let services: String = SCENARIOS
        .iter()
        .map(|s| {
            format!(
                "  service {s} {{\n    port = 8000\n    image py2 = \"r/{s}:2.7\"\n    image py3 = \"r/{s}:3.13\"\n    command py2 = \"/srv/{s}/venv/bin/gunicorn app\"\n    command py3 = \"/srv/{s}/venv3/bin/gunicorn app\"\n  }}\n"
            )
        })
        .collect();
    format!(
        "plan verdicts {{\n  namespace = \"shop\"\n  python = 2.7 -> 3.13\n  infra = {infra}\n{services}  monitor {{\n    source = {source}\n    min_requests = 100\n  }}\n  rollback when {{\n    error_rate > 1% for 5m\n    latency p99 > 2x py2 for 10m\n    latency p50 > 250ms for 10m\n    request_rate < 0.5x py2 for 15m\n  }}\n  schedule {{\n    stage canary-10pct {{\n      traffic = 10%\n      hold = 30m\n      success when {{ error_rate < 0.5% and latency p99 < 2x baseline and latency p99 < 300ms }}\n    }}\n    stage full {{\n      traffic = 100%\n      hold = 30m\n      success when {{ all metrics within 10% of baseline }}\n    }}\n  }}\n}}\n"
    )
}

fn lower(source: &str, infra: &str) -> Ir {
    let (analysis, sources) = check_text("verdicts.plan", &plan(source, infra));
    let plan = analysis.plan.unwrap_or_else(|| {
        panic!(
            "{}",
            canaryc::diag::render::short(&analysis.diagnostics, &sources)
        )
    });
    canaryc::ir::lower(&plan, None, None).0
}

/// What one copy of one scenario does at a moment: requests per second, share of 5xx, the
/// latency every request takes (ms).
#[derive(Clone, Copy)]
struct Behaviour {
    rps: f64,
    errors: f64,
    latency_ms: f64,
}

fn behaviour(scenario: &str, copy: Copy, at: i64) -> Behaviour {
    let good = Behaviour {
        rps: 10.0,
        errors: 0.001,
        latency_ms: 40.0,
    };
    match (scenario, copy) {
        (_, Copy::Py2) => good,
        ("ok", Copy::Py3) => good,
        ("bad", Copy::Py3) => Behaviour {
            rps: 2.0,
            errors: 0.05,
            latency_ms: 900.0,
        },
        // A trickle: a handful of requests in any window, half of them failing.
        ("quiet", Copy::Py3) => Behaviour {
            rps: 0.01,
            errors: 0.5,
            latency_ms: 40.0,
        },
        // Healthy until four minutes before T, then failing: shorter than the 5m trigger.
        ("blip", Copy::Py3) if at > T - 240 => Behaviour {
            errors: 0.08,
            ..good
        },
        (_, Copy::Py3) => good,
    }
}

/// Histogram bounds in the source's unit.
fn bounds(unit: f64) -> Vec<f64> {
    [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0]
        .iter()
        .map(|ms| ms / 1000.0 / unit)
        .collect()
}

/// OpenMetrics text for every scenario, both copies: request counters (with the errors where
/// the source counts them: HAProxy's retries), latency buckets. Each series is contiguous.
fn series(ir: &Ir) -> String {
    let src = Source::new(ir);
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |selector: String, f: &dyn Fn(i64) -> f64| {
        let name = selector.split('{').next().unwrap().to_string();
        let mut lines = Vec::new();
        let mut total = 0.0;
        let mut t = T - SPAN;
        while t <= T {
            total += f(t);
            lines.push(format!("{selector} {total} {t}"));
            t += STEP;
        }
        by_name.entry(name).or_default().extend(lines);
    };
    for s in &ir.services {
        for copy in [Copy::Py2, Copy::Py3] {
            let b = |t: i64| behaviour(&s.name, copy, t);
            let e = src.error_label();
            let requests = src.requests(copy);
            let step = STEP as f64;
            match src.retries(copy) {
                Some(retries) => {
                    add(requests.input(s, &[(e.label, e.ok)]), &|t| {
                        b(t).rps * (1.0 - b(t).errors) * step
                    });
                    add(requests.input(s, &[(e.label, e.error)]), &|_| 0.0);
                    add(retries.input(s, &[]), &|t| b(t).rps * b(t).errors * step);
                }
                None => {
                    add(requests.input(s, &[(e.label, e.ok)]), &|t| {
                        b(t).rps * (1.0 - b(t).errors) * step
                    });
                    add(requests.input(s, &[(e.label, e.error)]), &|t| {
                        b(t).rps * b(t).errors * step
                    });
                }
            }
            let (latency, unit) = src.latency(copy);
            for bound in bounds(unit) {
                let le = canaryc::ir::fmt(bound);
                let ms = bound * unit * 1000.0;
                add(latency.input(s, &[("le", &le)]), &|t| {
                    if b(t).latency_ms <= ms {
                        b(t).rps * step
                    } else {
                        0.0
                    }
                });
            }
            add(latency.input(s, &[("le", "+Inf")]), &|t| b(t).rps * step);
        }
    }
    let mut out = String::new();
    for (name, lines) in by_name {
        out.push_str(&format!("# TYPE {name} unknown\n"));
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

fn tool(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, openmetrics: &str) -> Prometheus {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("series.om"), openmetrics).unwrap();
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.join("series.om"))
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backfill failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("prometheus.yml"), "global: {}\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let p = Prometheus { child, port };
    for _ in 0..200 {
        if get(port, "/-/ready").starts_with("HTTP/1.0 200") {
            return p;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("Prometheus did not become ready");
}

fn get(port: u16, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The query at T, as the engines see it: Argo's `result` (one number per sample) and
/// promote's samples.
fn ask(p: &Prometheus, query: &str) -> Vec<canaryc::promote::http::Sample> {
    let request = canaryc::promote::http::query_request("x", "", query);
    let path = request.split_whitespace().nth(1).unwrap().to_string() + &format!("&time={T}");
    canaryc::promote::http::parse_response(&get(p.port, &path))
        .unwrap_or_else(|e| panic!("{e}\n{query}"))
}

// ---- Argo's conditions: the subset of expr-lang canaryc writes ----

#[derive(Debug, Clone, PartialEq)]
enum V {
    Num(f64),
    Bool(bool),
    List(Vec<f64>),
}

struct Expr<'a> {
    tokens: Vec<&'a str>,
    at: usize,
    result: &'a [f64],
}

fn tokenize(text: &str) -> Vec<&str> {
    let re =
        regex::Regex::new(r"\s*(&&|\|\||==|!=|<=|>=|[<>()\[\]!]|[0-9.]+(?:e-?[0-9]+)?|[A-Za-z_]+)")
            .unwrap();
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.trim().is_empty() {
        let m = re
            .captures(rest)
            .unwrap_or_else(|| panic!("cannot read `{rest}`"));
        assert_eq!(m.get(0).unwrap().start(), 0, "cannot read `{rest}`");
        out.push(m.get(1).unwrap().as_str());
        rest = &rest[m.get(0).unwrap().end()..];
    }
    out
}

impl Expr<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).copied()
    }
    fn next(&mut self) -> &str {
        self.at += 1;
        self.tokens[self.at - 1]
    }
    /// `Err` is an evaluation error (Argo: the measurement is an Error).
    fn or(&mut self, live: bool) -> Result<V, String> {
        let mut left = self.and(live)?;
        while self.peek() == Some("||") {
            self.next();
            let short = left == V::Bool(true);
            let right = self.and(live && !short)?;
            left = V::Bool(short || right == V::Bool(true));
        }
        Ok(left)
    }
    fn and(&mut self, live: bool) -> Result<V, String> {
        let mut left = self.unary(live)?;
        while self.peek() == Some("&&") {
            self.next();
            let short = left == V::Bool(false);
            let right = self.unary(live && !short)?;
            left = V::Bool(!short && right == V::Bool(true));
        }
        Ok(left)
    }
    fn unary(&mut self, live: bool) -> Result<V, String> {
        if self.peek() == Some("!") {
            self.next();
            return Ok(V::Bool(self.unary(live)? != V::Bool(true)));
        }
        let left = self.primary(live)?;
        let Some(op) = self
            .peek()
            .filter(|t| ["<", "<=", ">", ">=", "==", "!="].contains(t))
        else {
            return Ok(left);
        };
        let op = op.to_string();
        self.next();
        let right = self.primary(live)?;
        if !live {
            return Ok(V::Bool(false));
        }
        let (V::Num(a), V::Num(b)) = (&left, &right) else {
            return Err(format!("cannot compare {left:?} {op} {right:?}"));
        };
        Ok(V::Bool(match op.as_str() {
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            ">=" => a >= b,
            "==" => a == b,
            _ => a != b,
        }))
    }
    fn primary(&mut self, live: bool) -> Result<V, String> {
        let t = self.next().to_string();
        let value = match t.as_str() {
            "(" => {
                let v = self.or(live)?;
                assert_eq!(self.next(), ")");
                v
            }
            "true" => V::Bool(true),
            "false" => V::Bool(false),
            "result" => V::List(self.result.to_vec()),
            "len" => {
                assert_eq!(self.next(), "(");
                let v = self.or(live)?;
                assert_eq!(self.next(), ")");
                match v {
                    V::List(l) => V::Num(l.len() as f64),
                    other => return Err(format!("len of {other:?}")),
                }
            }
            n => V::Num(n.parse().map_err(|_| format!("unknown token {n}"))?),
        };
        if self.peek() == Some("[") {
            self.next();
            let index = self.or(live)?;
            assert_eq!(self.next(), "]");
            if !live {
                return Ok(V::Num(0.0));
            }
            return match (value, index) {
                (V::List(l), V::Num(i)) => l
                    .get(i as usize)
                    .map(|v| V::Num(*v))
                    .ok_or_else(|| format!("index {i} out of range (len {})", l.len())),
                (v, i) => Err(format!("cannot index {v:?} with {i:?}")),
            };
        }
        Ok(value)
    }
}

fn eval(condition: &str, result: &[f64]) -> Result<bool, String> {
    let mut e = Expr {
        tokens: tokenize(condition),
        at: 0,
        result,
    };
    let v = e.or(true)?;
    assert_eq!(e.at, e.tokens.len(), "trailing tokens in `{condition}`");
    match v {
        V::Bool(b) => Ok(b),
        other => Err(format!("`{condition}` is not a condition: {other:?}")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Successful,
    Failed,
    Inconclusive,
}

/// Argo Rollouts' `evaluate.EvaluateResult` with both conditions given.
fn argo_phase(success: &str, failure: &str, result: &[f64]) -> Phase {
    let s = eval(success, result).unwrap_or_else(|e| panic!("{success}: {e}"));
    let f = eval(failure, result).unwrap_or_else(|e| panic!("{failure}: {e}"));
    if f {
        Phase::Failed
    } else if s {
        Phase::Successful
    } else {
        Phase::Inconclusive
    }
}

#[test]
fn the_condition_evaluator_follows_expr_semantics() {
    assert_eq!(eval("len(result) > 0 && result[0] < 0.5", &[0.2]), Ok(true));
    assert_eq!(eval("len(result) > 0 && result[0] < 0.5", &[]), Ok(false));
    assert!(
        eval("result[0] < 0.5", &[]).is_err(),
        "an empty result has no [0]"
    );
    assert_eq!(eval("len(result) == 0 || result[0] <= 1", &[]), Ok(true));
    assert_eq!(
        eval("len(result) == 0 || result[0] <= 1", &[2.0]),
        Ok(false)
    );
    assert_eq!(eval("false", &[1.0]), Ok(false));
    assert_eq!(
        eval("len(result) > 0 && result[0] < 1", &[f64::NAN]),
        Ok(false)
    );
}

/// What each stage criterion must conclude for each scenario, by metric.
fn expected_check(scenario: &str, q: &Query) -> bool {
    match scenario {
        "ok" => true,
        // Too few requests to judge: never a pass.
        "quiet" => false,
        "bad" => false,
        // Four bad minutes in a 30-minute hold: the error rate over the hold is above 0.5%
        // and above py2's, latency is untouched.
        "blip" => !q.name.starts_with("error-rate"),
        _ => unreachable!(),
    }
}

/// Whether each rollback trigger must breach for each scenario.
fn expected_breach(scenario: &str, q: &Query) -> bool {
    match scenario {
        "ok" => false,
        "bad" => true,
        // The trickle is guarded for error rate and latency; its request rate is far below
        // half of py2's for the whole window.
        "quiet" => q.name == "request-rate-low",
        // Four minutes of errors do not hold for the 5m window.
        "blip" => false,
        _ => unreachable!(),
    }
}

fn service<'a>(ir: &'a Ir, name: &str) -> &'a ServiceIr {
    ir.services.iter().find(|s| s.name == name).unwrap()
}

#[test]
fn every_query_and_condition_gives_the_right_verdict() {
    if !(tool("prometheus") && tool("promtool")) {
        assert!(
            std::env::var_os("CANARYC_REQUIRE_PROMETHEUS").is_none(),
            "prometheus and promtool are required"
        );
        eprintln!("skipped: no prometheus/promtool");
        return;
    }
    let mut verdicts = 0;
    for (source, infra, engine) in [
        ("istio", "kubernetes(router: istio)", Engine::ArgoRollouts),
        (
            "nginx-ingress",
            "kubernetes(router: nginx-ingress)",
            Engine::ArgoRollouts,
        ),
        (
            "app",
            "kubernetes(router: gateway-api)",
            Engine::ArgoRollouts,
        ),
        ("haproxy", "bare-metal(router: haproxy)", Engine::Canaryc),
    ] {
        let ir = lower(source, infra);
        let dir =
            std::env::temp_dir().join(format!("canaryc-verdicts-{}-{source}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let prometheus = start(&dir, &series(&ir));
        for scenario in SCENARIOS {
            let s = service(&ir, scenario);
            for stage in &ir.stages {
                for q in analysis::stage_checks(&ir, s, stage) {
                    let samples = ask(&prometheus, &q.promql);
                    let result: Vec<f64> = samples.iter().map(|x| x.value).collect();
                    let want = expected_check(scenario, &q);
                    // Argo: a criterion that holds is Successful, one that does not is
                    // Inconclusive (the Rollout pauses), never Failed.
                    let phase = argo_phase(&q.argo_success(), "false", &result);
                    assert_eq!(
                        phase,
                        if want {
                            Phase::Successful
                        } else {
                            Phase::Inconclusive
                        },
                        "{source}/{scenario}/{}/{}: result {result:?}\n{}",
                        stage.name,
                        q.text,
                        q.promql
                    );
                    // Promote, from canary-promote.json's copy of the same query.
                    let config = canaryc::emit::engine::promote::config(&ir, false);
                    let check = config
                        .stages
                        .iter()
                        .find(|st| st.name == stage.name)
                        .and_then(|st| {
                            st.checks
                                .iter()
                                .find(|c| c.service == s.name && c.query == q.promql)
                        })
                        .expect("the same query in canary-promote.json");
                    let v = canaryc::promote::decide::verdict(check, &samples);
                    assert_eq!(
                        v.pass, want,
                        "promote: {source}/{scenario}/{}: {v:?}",
                        q.text
                    );
                    verdicts += 2;
                }
            }
            let (triggers, _) = analysis::rollback_triggers(&ir, s, engine);
            assert!(triggers.len() >= 4, "{source}: {} triggers", triggers.len());
            for q in triggers {
                let result: Vec<f64> = ask(&prometheus, &q.promql)
                    .iter()
                    .map(|x| x.value)
                    .collect();
                let phase = argo_phase(&q.argo_no_breach(), &q.argo_breach(), &result);
                let want = if expected_breach(scenario, &q) {
                    Phase::Failed
                } else {
                    Phase::Successful
                };
                assert_eq!(
                    phase, want,
                    "{source}/{scenario}/trigger {}: result {result:?}\n{}",
                    q.text, q.promql
                );
                verdicts += 1;
            }
        }
        drop(prometheus);
        let _ = std::fs::remove_dir_all(&dir);
    }
    eprintln!("{verdicts} verdicts checked on a real Prometheus");
    assert!(verdicts > 100, "{verdicts}");
}
