//! The language server under random traffic: valid and malformed JSON-RPC frames, batches,
//! requests at random positions (past the end, inside surrogate pairs, huge), full and ranged
//! edits with fresh and stale versions, and pathological documents (unbalanced and deep
//! brackets, 70,000-character lines, token soups, multi-byte text, mutated real plans), all
//! through the real `canaryc lsp` over stdio.
//!
//! Asserted: the server never panics or exits before it is told to; every request (with an id,
//! alone or in a batch, valid or not) gets exactly one response with its id, within the
//! deadline; each session ends with `shutdown` and `exit` and exit code 0.
//!
//! `cargo test` sends 400 messages and allows 10 s per request (a debug build on a shared,
//! loaded CI machine: this catches hangs, not slowness). The long run, in release, holds every
//! request to 1 s:
//! `CANARYC_LSP_FUZZ_MESSAGES=100000 CANARYC_LSP_FUZZ_DEADLINE_MS=1000 cargo test --release
//! --test integration lsp_fuzz -- --nocapture` (`CANARYC_LSP_FUZZ_SEED` picks another sequence).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lsp_client::Client;
use crate::parser_never_panics::{SEEDS, TOKENS};

/// A new server every this many messages: start-up and shutdown are traffic too.
const SESSION: usize = 2_500;

#[test]
fn the_server_answers_every_request_whatever_it_is_sent() {
    let messages = env_or("CANARYC_LSP_FUZZ_MESSAGES", 400);
    let seed = env_or("CANARYC_LSP_FUZZ_SEED", 0x5eed_cafe);
    let deadline = Duration::from_millis(env_or("CANARYC_LSP_FUZZ_DEADLINE_MS", 10_000) as u64);
    let mut rng = Rng(seed as u64);
    let mut stats = Stats::default();
    let mut sent = 0;
    let mut session = 0;
    while sent < messages {
        let n = SESSION.min(messages - sent);
        let mut fuzz = Session::new(session, deadline);
        for _ in 0..n {
            fuzz.step(&mut rng, &mut stats);
        }
        fuzz.finish(&mut stats);
        sent += n;
        session += 1;
    }
    stats.latencies.sort();
    let pct = |p: f64| {
        stats
            .latencies
            .get(
                ((stats.latencies.len() as f64 * p) as usize)
                    .min(stats.latencies.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default()
    };
    eprintln!(
        "lsp fuzz (seed {seed:#x}, deadline {deadline:?}): {sent} messages in {session} \
         sessions; {} requests answered (p50 {:?}, p99 {:?}, max {:?}), {} error responses \
         {:?}, {} publications",
        stats.latencies.len(),
        pct(0.5),
        pct(0.99),
        stats.latencies.last().copied().unwrap_or_default(),
        stats.errors.values().sum::<usize>(),
        stats.errors,
        stats.publications,
    );
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    errors: HashMap<i64, usize>,
    publications: usize,
}

struct Doc {
    uri: String,
    text: String,
    version: i64,
}

struct Session {
    client: Client,
    number: usize,
    deadline: Duration,
    docs: Vec<Doc>,
    next_id: u64,
    next_doc: usize,
    /// What was sent, for the failure message.
    log: Vec<String>,
}

impl Session {
    fn new(number: usize, deadline: Duration) -> Session {
        Session {
            client: Client::start(),
            number,
            deadline,
            docs: Vec::new(),
            // Far from the client's own ids (initialize, shutdown).
            next_id: 1_000_000,
            next_doc: 0,
            log: Vec::new(),
        }
    }

    fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(12).collect();
        panic!(
            "session {}, message {}: {what}\nlast messages sent (newest first):\n{}\nstderr:\n{}",
            self.number,
            self.log.len(),
            tail.iter()
                .map(|m| format!("  {}", m.chars().take(300).collect::<String>()))
                .collect::<Vec<_>>()
                .join("\n"),
            self.client.stderr().chars().take(4000).collect::<String>()
        )
    }

    fn send_value(&mut self, message: &Value) {
        self.log.push(message.to_string());
        self.client.send(message);
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.log
            .push(format!("raw {:?}", String::from_utf8_lossy(bytes)));
        self.client.send_raw(bytes);
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Waits for the responses to `ids` (in one batch array when `batch`), within the deadline.
    fn expect_responses(&mut self, ids: &[u64], batch: bool, stats: &mut Stats) {
        let sent = Instant::now();
        let wanted: Vec<Value> = ids.iter().map(|id| json!(id)).collect();
        let found = self.client.wait_for(self.deadline, |m| {
            if batch {
                m.as_array()
                    .is_some_and(|a| a.iter().any(|r| wanted.contains(&r["id"])))
            } else {
                m.get("method").is_none() && wanted.contains(&m["id"])
            }
        });
        let Some(found) = found else {
            self.fail(&format!(
                "no response to {ids:?} within {:?}",
                self.deadline
            ));
        };
        stats.latencies.push(sent.elapsed());
        let responses = match &found {
            Value::Array(items) => items.clone(),
            single => vec![single.clone()],
        };
        for id in &wanted {
            let mine: Vec<&Value> = responses.iter().filter(|r| &r["id"] == id).collect();
            if mine.len() != 1 {
                self.fail(&format!("{} responses with id {id}: {found}", mine.len()));
            }
            let r = mine[0];
            if r.get("result").is_some() == r.get("error").is_some() {
                self.fail(&format!("neither or both of result and error: {r}"));
            }
        }
        for r in &responses {
            if let Some(code) = r["error"]["code"].as_i64() {
                *stats.errors.entry(code).or_default() += 1;
            }
        }
        for m in self.client.backlog.drain(..) {
            if m["method"] == "textDocument/publishDiagnostics" {
                stats.publications += 1;
            }
        }
    }

    fn step(&mut self, rng: &mut Rng, stats: &mut Stats) {
        match rng.below(100) {
            0..=24 => self.request(rng, stats),
            25..=36 => self.open(rng),
            37..=59 => self.change(rng),
            60..=63 => self.save_or_close(rng),
            64..=71 => self.malformed(rng, stats),
            72..=77 => self.batch(rng, stats),
            78..=84 => self.invalid_request(rng, stats),
            85..=91 => self.odd_notification(rng),
            _ => self.wrong_params(rng, stats),
        }
    }

    fn some_uri(&mut self, rng: &mut Rng) -> String {
        if self.docs.is_empty() || rng.below(8) == 0 {
            format!("file:///tmp/canaryc-fuzz/unknown-{}.plan", rng.below(5))
        } else {
            self.docs[rng.below(self.docs.len())].uri.clone()
        }
    }

    fn position(&self, rng: &mut Rng, uri: &str) -> Value {
        let (lines, width) = self
            .docs
            .iter()
            .find(|d| d.uri == uri)
            .map_or((3, 10), |d| {
                (
                    d.text.lines().count() + 2,
                    d.text.lines().map(str::len).max().unwrap_or(0) + 3,
                )
            });
        let line = match rng.below(10) {
            0 => u32::MAX as u64,
            1 => rng.below(1_000_000) as u64,
            _ => rng.below(lines) as u64,
        };
        let character = match rng.below(10) {
            0 => u32::MAX as u64,
            1 => rng.below(100_000) as u64,
            _ => rng.below(width.min(200)) as u64,
        };
        json!({ "line": line, "character": character })
    }

    fn request(&mut self, rng: &mut Rng, stats: &mut Stats) {
        let uri = self.some_uri(rng);
        let method = *rng.pick(&[
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
            "textDocument/formatting",
            "textDocument/codeAction",
        ]);
        let position = self.position(rng, &uri);
        let params = match method {
            "textDocument/formatting" => {
                json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } })
            }
            "textDocument/codeAction" => {
                let end = self.position(rng, &uri);
                json!({ "textDocument": { "uri": uri }, "range": { "start": position, "end": end }, "context": { "diagnostics": [] } })
            }
            _ => json!({ "textDocument": { "uri": uri }, "position": position }),
        };
        let id = self.id();
        self.send_value(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.expect_responses(&[id], false, stats);
    }

    fn open(&mut self, rng: &mut Rng) {
        self.next_doc += 1;
        let uri = if rng.below(6) == 0 {
            format!("untitled:Untitled-{}", self.next_doc)
        } else {
            format!(
                "file:///tmp/canaryc-fuzz/{}/{}.plan",
                self.number, self.next_doc
            )
        };
        let text = document(rng);
        self.send_value(&json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": { "uri": uri, "languageId": "canary-plan", "version": 1, "text": text } } }));
        self.docs.push(Doc {
            uri,
            text,
            version: 1,
        });
        if self.docs.len() > 12 {
            let doc = self.docs.remove(0);
            self.send_value(&json!({ "jsonrpc": "2.0", "method": "textDocument/didClose", "params": { "textDocument": { "uri": doc.uri } } }));
        }
    }

    fn change(&mut self, rng: &mut Rng) {
        if self.docs.is_empty() {
            return self.open(rng);
        }
        let i = rng.below(self.docs.len());
        let version = match rng.below(10) {
            0 => self.docs[i].version - rng.below(3) as i64,
            _ => self.docs[i].version + 1 + rng.below(2) as i64,
        };
        let changes: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| {
                if rng.below(3) == 0 {
                    json!({ "text": document(rng) })
                } else {
                    let start = self.position(rng, &self.docs[i].uri);
                    let end = self.position(rng, &self.docs[i].uri);
                    json!({ "range": { "start": start, "end": end }, "text": snippet(rng) })
                }
            })
            .collect();
        // The client's copy follows full replacements only; positions need not match the
        // server's text exactly.
        if let Some(text) = changes.iter().rev().find_map(|c| {
            c.get("range")
                .is_none()
                .then(|| c["text"].as_str().unwrap_or("").to_string())
        }) {
            self.docs[i].text = text;
        }
        if version > self.docs[i].version {
            self.docs[i].version = version;
        }
        let uri = self.docs[i].uri.clone();
        self.send_value(
            &json!({ "jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": { "uri": uri, "version": version }, "contentChanges": changes } }),
        );
    }

    fn save_or_close(&mut self, rng: &mut Rng) {
        let uri = self.some_uri(rng);
        if rng.below(2) == 0 {
            self.send_value(&json!({ "jsonrpc": "2.0", "method": "textDocument/didSave", "params": { "textDocument": { "uri": uri } } }));
        } else {
            self.docs.retain(|d| d.uri != uri);
            self.send_value(&json!({ "jsonrpc": "2.0", "method": "textDocument/didClose", "params": { "textDocument": { "uri": uri } } }));
        }
    }

    /// Frames that are not messages: each is answered with `id: null` (not counted here: one
    /// burst of stray bytes may be one error or, split by a frame, two), then the server must
    /// still answer the next request.
    fn malformed(&mut self, rng: &mut Rng, stats: &mut Stats) {
        let body = match rng.below(8) {
            0 => {
                let n = 1 + rng.below(200);
                garbage(rng, n)
            }
            1 => "{\"jsonrpc\":\"2.0\",\"id\":".to_string(),
            2 => "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_string(),
            3 => "\"just a string\"".to_string(),
            4 => "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"\\ud800\"}".to_string(),
            5 => "null".to_string(),
            6 => format!("{{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{}}}", "{".repeat(200)),
            _ => "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{\"contentChanges\":5}}".to_string(),
        };
        let frame = match rng.below(6) {
            0 => format!("Content-Length: {}x\r\n\r\n", body.len()),
            1 => format!(
                "Content-Type: application/json\r\n\r\n{}\r\n",
                garbage(rng, 20)
            ),
            2 => {
                let n = 1 + rng.below(50);
                format!("{}\r\n", garbage(rng, n))
            }
            3 => format!("Content-Length: {}\r\nX-Odd: 1\r\n\r\n{body}", body.len()),
            _ => format!("Content-Length: {}\r\n\r\n{body}", body.len()),
        };
        self.send_bytes(frame.as_bytes());
        self.request(rng, stats);
    }

    fn batch(&mut self, rng: &mut Rng, stats: &mut Stats) {
        let mut items = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..1 + rng.below(5) {
            match rng.below(4) {
                0 => {
                    let id = self.id();
                    ids.push(id);
                    let uri = self.some_uri(rng);
                    let position = self.position(rng, &uri);
                    items.push(json!({ "jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": { "textDocument": { "uri": uri }, "position": position } }));
                }
                1 => {
                    let id = self.id();
                    ids.push(id);
                    items.push(json!({ "jsonrpc": "2.0", "id": id, "method": format!("canaryc/{}", garbage(rng, 5)) }));
                }
                2 => items.push(json!(rng.below(10))),
                _ => items.push(
                    json!({ "jsonrpc": "2.0", "method": "$/cancelRequest", "params": { "id": 1 } }),
                ),
            }
        }
        let batch = Value::Array(items);
        self.send_value(&batch);
        let answered = batch
            .as_array()
            .unwrap()
            .iter()
            .any(|m| !m.is_object() || m.get("id").is_some());
        if answered {
            if ids.is_empty() {
                // Only invalid elements: one array of errors with null ids.
                let found = self.client.wait_for(self.deadline, Value::is_array);
                if found.is_none() {
                    self.fail("no response to a batch of invalid elements");
                }
            } else {
                self.expect_responses(&ids, true, stats);
            }
        }
    }

    /// Well-formed JSON that is not a valid request but has an id: answered with that id.
    fn invalid_request(&mut self, rng: &mut Rng, stats: &mut Stats) {
        let id = self.id();
        let message = match rng.below(5) {
            0 => json!({ "id": id, "method": "textDocument/hover" }),
            1 => json!({ "jsonrpc": "1.0", "id": id, "method": "textDocument/hover" }),
            2 => json!({ "jsonrpc": "2.0", "id": id, "method": 42 }),
            3 => {
                json!({ "jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": "x" })
            }
            _ => json!({ "jsonrpc": "2.0", "id": id }),
        };
        self.send_value(&message);
        self.expect_responses(&[id], false, stats);
    }

    fn odd_notification(&mut self, rng: &mut Rng) {
        let method = *rng.pick(&[
            "$/cancelRequest",
            "$/setTrace",
            "workspace/didChangeConfiguration",
            "textDocument/didOpen",
            "textDocument/didChange",
            "initialized",
            "canaryc/whatever",
        ]);
        let params = match rng.below(4) {
            0 => json!({}),
            1 => json!([1, 2, 3]),
            2 => json!({ "textDocument": { "uri": garbage(rng, 10), "version": "x" } }),
            _ => Value::Null,
        };
        self.send_value(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Known requests with parameters of the wrong shape: InvalidParams, with the id.
    fn wrong_params(&mut self, rng: &mut Rng, stats: &mut Stats) {
        let id = self.id();
        let method = *rng.pick(&[
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/codeAction",
            "initialize",
            "canaryc/ping",
        ]);
        let params = match rng.below(4) {
            0 => {
                json!({ "textDocument": { "uri": "file:///x.plan" }, "position": { "line": -1, "character": 0 } })
            }
            1 => {
                json!({ "textDocument": { "uri": "not a uri at all %%%" }, "position": { "line": 0, "character": 0 } })
            }
            2 => json!([]),
            _ => json!({ "position": "here" }),
        };
        self.send_value(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.expect_responses(&[id], false, stats);
    }

    fn finish(mut self, stats: &mut Stats) {
        let id = self.id();
        self.send_value(&json!({ "jsonrpc": "2.0", "id": id, "method": "shutdown" }));
        self.expect_responses(&[id], false, stats);
        self.send_value(&json!({ "jsonrpc": "2.0", "method": "exit" }));
        let status = self.client.wait();
        if status.code() != Some(0) {
            self.fail(&format!("exit status {status:?}"));
        }
        if self.client.stderr().contains("panicked") {
            self.fail("a panic");
        }
    }
}

/// A document, often a pathological one.
fn document(rng: &mut Rng) -> String {
    const PLAN: &str = "use std.schedules.standard\n\nplan ledger {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n  schedule = standard { stage canary-25pct { hold = 96h } }\n  service { port = 8000 health = \"/healthz\" }\n  rollback when { error_rate > 1% for 5m }\n}\n";
    match rng.below(12) {
        0 => format!("plan x {{\n  a = {}\n}}\n", "[".repeat(1 + rng.below(120))),
        1 => format!("const a = {}{}\n", "[".repeat(60), ")".repeat(60)).repeat(1 + rng.below(200)),
        2 => (0..rng.below(3_000))
            .map(|_| *rng.pick(&["[", "]", "(", ")", "{", "}", "f(", "a {", "->", ",", "\n"]))
            .collect(),
        3 => format!(
            "plan x {{\n  description = \"{}\" bogus = 1\n  {} = 2\n}}\n",
            "é".repeat(rng.below(40_000)),
            "k".repeat(rng.below(70_000))
        ),
        4 => format!(
            "# a→b 𝄞\nplan 𝄞 {{\n  description = \"→𝄞é\" python = 2.7 -> 3.13 # 𝄞\n}}\n{}",
            "→".repeat(rng.below(100))
        ),
        5 => (0..rng.below(300))
            .map(|_| format!("{} ", token(rng)))
            .collect(),
        6 => {
            let mut text = rng.pick(SEEDS).as_bytes().to_vec();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(text.len() + 1);
                match rng.below(3) {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 => text.insert(at, *rng.pick(b"{}[\"\n#=")),
                    _ => {}
                }
            }
            String::from_utf8_lossy(&text).into_owned()
        }
        7 => format!(
            "plan x {{\n  codebase = \"{}\"\n  python = 2.7 -> 3.13\n}}\n",
            rng.pick(&[".", "..", "nowhere", "/nonexistent/x", "\\u0000"])
        ),
        8 => format!(
            "{}plan x {{\n  python = 2.7 -> 3.13\n}}\n",
            "use std.schedules\n".repeat(rng.below(2_000))
        ),
        9 => String::new(),
        10 => snippet(rng).repeat(rng.below(50)),
        _ => PLAN.to_string(),
    }
}

/// The parser fuzz's vocabulary, and wide characters (surrogate pairs in UTF-16).
fn token(rng: &mut Rng) -> &'static str {
    const WIDE: &[&str] = &["→", "𝄞", "é𝄞", "\u{1F600}"];
    let items = if rng.below(8) == 0 { WIDE } else { TOKENS };
    items[rng.below(items.len())]
}

fn snippet(rng: &mut Rng) -> String {
    (0..rng.below(6))
        .map(|_| token(rng))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes that never spell `Content-Length:`, so they cannot swallow the frame after them.
fn garbage(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| {
            *rng.pick(&[
                'a', '{', '}', '"', ':', ' ', '\\', '0', 'é', '\u{0}', '[', ',',
            ])
        })
        .collect()
}

/// SplitMix64: reproducible from the seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
