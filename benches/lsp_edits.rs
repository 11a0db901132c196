//! The language server after one keystroke, end to end: a JSON-RPC client drives the real
//! `canaryc lsp` process through 200 edits of a 2,000-line plan and times each from sending
//! `didChange` to receiving that version's `publishDiagnostics` (issue 15: 3 ms at p99).
//!
//! Each edit is a real one, of text that is in the plan: one service's `replicas = 3` becomes
//! 4 (and back on a later round), so the plan stays valid and every publication is the real
//! path: the document's tree updated, the plan checked, diagnostics (none) sent. The bench
//! asserts that each edit changes the text it sends, and, after the timed edits, that one more
//! edit (a value the checker refuses) is reported on the line it changed: the server checks
//! the text the client has, not an older one. The client
//! sends the whole text, as the server asks (full sync). The debounce is set to 0
//! (`CANARYC_LSP_DEBOUNCE_MS`), so the time is the server's work plus the transport; the floor
//! beside it is the round trip of a request with nothing to compute (a hover on whitespace).
//!
//! Wall time on a shared machine includes waiting for a core. On Linux the bench also reads the
//! server's own CPU time (the sum of its threads' `schedstat` run times, in nanoseconds) before
//! each edit is sent and after its diagnostics arrive: "server CPU" is the work the server did
//! for that edit, whatever else the machine was running.
//!
//! Run with `cargo bench --bench lsp_edits`; `cargo test --benches` runs 20 edits.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "check.rs"]
#[allow(dead_code)]
mod check_bench;

const URI: &str = "file:///tmp/canaryc-lsp-bench/fleet.plan";

struct Client {
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    child: std::process::Child,
}

impl Client {
    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// Waits for the diagnostics of `version`; returns them.
    fn diagnostics(&mut self, version: i64) -> Vec<Value> {
        loop {
            let m = self.receive();
            if m["method"] == "textDocument/publishDiagnostics" && m["params"]["version"] == version
            {
                return m["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn response(&mut self, id: i64) -> Value {
        loop {
            let m = self.receive();
            if m["id"] == id {
                return m;
            }
        }
    }
}

/// The CPU time all threads of process `pid` have run, from `/proc/PID/task/*/schedstat` (its
/// first field, nanoseconds); `None` where there is no such file.
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let edits = if quick { 20 } else { 200 };
    let binary = std::env::var("CANARYC_LSP_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_canaryc").to_string());
    let mut child = Command::new(&binary)
        .arg("lsp")
        .env("CANARYC_LSP_DEBOUNCE_MS", "0")
        .env("CANARYC_TODAY", "2026-11-27")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("canaryc lsp starts");
    let mut client = Client {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    client.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
    );
    client.response(1);
    client.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));

    let mut text = check_bench::large_plan(2_000);
    let lines = text.lines().count();
    client.send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": URI, "languageId": "canary", "version": 1, "text": text}}}),
    );
    assert!(client.diagnostics(1).is_empty(), "the plan is valid");

    let sites: Vec<usize> = text
        .match_indices("replicas = 3")
        .map(|(i, _)| i + 11)
        .collect();
    assert!(sites.len() > 100, "{} services", sites.len());
    let pid = client.child.id();
    let mut times = Vec::with_capacity(edits);
    let mut cpu = Vec::with_capacity(edits);
    for n in 0..edits {
        let at = sites[(n * 37) % sites.len()];
        let digit = if &text[at..at + 1] == "3" { "4" } else { "3" };
        let before = text.clone();
        text.replace_range(at..at + 1, digit);
        assert_ne!(text, before, "edit {n} changes the plan");
        let version = n as i64 + 2;
        let cpu_before = cpu_time(pid);
        let start = Instant::now();
        client.send(
            json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"text": text}]}}),
        );
        let diagnostics = client.diagnostics(version);
        times.push(start.elapsed());
        if let (Some(before), Some(after)) = (cpu_before, cpu_time(pid)) {
            cpu.push(after - before);
        }
        assert!(diagnostics.is_empty(), "edit {n}: {diagnostics:?}");
    }

    // The server's text is the client's: one more edit, of a value the checker refuses, is
    // reported on the line the client edited (the timed edits, all valid, cannot show it).
    let at = sites[edits % sites.len()];
    text.replace_range(at..at + 1, "x");
    let version = edits as i64 + 2;
    client.send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": URI, "version": version},
        "contentChanges": [{"text": text}]}}),
    );
    let diagnostics = client.diagnostics(version);
    let line = text[..at].matches('\n').count();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(
        diagnostics[0]["range"]["start"]["line"], line,
        "{diagnostics:?}"
    );
    assert_eq!(diagnostics[0]["code"], "CNR201", "{diagnostics:?}");

    // The floor: a request the server answers without computing anything.
    let mut floor = Vec::with_capacity(edits);
    let mut floor_cpu = Vec::with_capacity(edits);
    for n in 0..edits {
        let id = 1000 + n as i64;
        let cpu_before = cpu_time(pid);
        let start = Instant::now();
        client.send(
            json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": URI}, "position": {"line": 2, "character": 0}}}),
        );
        client.response(id);
        floor.push(start.elapsed());
        if let (Some(before), Some(after)) = (cpu_before, cpu_time(pid)) {
            floor_cpu.push(after - before);
        }
    }
    client.send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    client.response(2);
    client.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    let _ = client.child.wait();

    for t in [&mut times, &mut floor, &mut cpu, &mut floor_cpu] {
        t.sort();
    }
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    println!("{edits} keystrokes in a {lines}-line plan, change sent to diagnostics received:");
    println!("| | p50 | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, t) in [
        ("didChange -> publishDiagnostics, wall", &times),
        ("didChange -> publishDiagnostics, server CPU", &cpu),
        ("floor: hover on whitespace, wall", &floor),
        ("floor: hover on whitespace, server CPU", &floor_cpu),
    ] {
        if t.is_empty() {
            continue;
        }
        println!(
            "| {name} | {} | {} | {} | {} |",
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.9)),
            ms(percentile(t, 0.99)),
            ms(*t.last().unwrap())
        );
    }
}
