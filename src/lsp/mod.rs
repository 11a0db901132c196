//! `canaryc lsp`: the language server. The transport is `lsp-server` (rust-analyzer's); payloads
//! are plain JSON. Everything the server knows comes from `analysis` (pure) and the checker, so
//! an editor sees exactly what `canaryc check` prints.
//!
//! Diagnostics are published on open and on every change (full-text sync), syntax errors alone
//! when there are any. When the plan names a reachable `codebase`, it is detected on open and on
//! save, and conflicts with the codebase are published too.

pub mod analysis;
pub mod position;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lsp_server::{Connection, Message, Notification, Request, Response};
use serde_json::{Value, json};

use crate::check::Options;
use crate::date::Date;
use crate::detect::Detection;
use position::Lines;

struct Document {
    text: String,
    /// The path behind a `file://` URI, for the codebase and definitions.
    path: Option<PathBuf>,
    detection: Option<(PathBuf, Detection)>,
}

struct Server {
    connection: Connection,
    documents: HashMap<String, Document>,
    options: Options,
    /// Where the stdlib files are written for go-to-definition.
    stdlib_dir: PathBuf,
}

/// Runs the server over stdin/stdout until the client says exit. Returns the process exit code.
pub fn run(today: Date) -> u8 {
    let (connection, io_threads) = Connection::stdio();
    let capabilities = json!({
        "textDocumentSync": { "openClose": true, "change": 1, "save": { "includeText": false } },
        "hoverProvider": true,
        "completionProvider": { "triggerCharacters": [" ", ".", "="] },
        "definitionProvider": true,
        "documentFormattingProvider": true,
        "codeActionProvider": true,
    });
    if connection.initialize(capabilities).is_err() {
        return 1;
    }
    let stdlib_dir =
        std::env::temp_dir().join(format!("canaryc-stdlib-{}", env!("CARGO_PKG_VERSION")));
    let mut server = Server {
        connection,
        documents: HashMap::new(),
        options: Options { today },
        stdlib_dir,
    };
    let code = server.main_loop();
    drop(server);
    let _ = io_threads.join();
    code
}

fn path_of(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let mut bytes = Vec::new();
    let raw = rest.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            if let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16) {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&bytes).into_owned()))
}

fn uri_of(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Server {
    fn main_loop(&mut self) -> u8 {
        while let Ok(message) = self.connection.receiver.recv() {
            match message {
                Message::Request(request) => {
                    if self.connection.handle_shutdown(&request).unwrap_or(true) {
                        return 0;
                    }
                    let result = self.request(&request);
                    let response = Response::new_ok(request.id, result);
                    if self
                        .connection
                        .sender
                        .send(Message::Response(response))
                        .is_err()
                    {
                        return 1;
                    }
                }
                Message::Notification(notification) => self.notification(notification),
                Message::Response(_) => {}
            }
        }
        0
    }

    fn notification(&mut self, n: Notification) {
        let uri = n.params["textDocument"]["uri"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let text = n.params["textDocument"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                let path = path_of(&uri);
                self.documents.insert(
                    uri.clone(),
                    Document {
                        text,
                        path,
                        detection: None,
                    },
                );
                self.detect(&uri);
                self.publish(&uri);
            }
            "textDocument/didChange" => {
                // Full sync: the last change holds the whole text.
                if let Some(text) = n.params["contentChanges"]
                    .as_array()
                    .and_then(|c| c.last())
                    .and_then(|c| c["text"].as_str())
                {
                    if let Some(doc) = self.documents.get_mut(&uri) {
                        doc.text = text.to_string();
                    }
                }
                self.publish(&uri);
            }
            "textDocument/didSave" => {
                self.detect(&uri);
                self.publish(&uri);
            }
            "textDocument/didClose" => {
                self.documents.remove(&uri);
                self.send_notification(
                    "textDocument/publishDiagnostics",
                    json!({ "uri": uri, "diagnostics": [] }),
                );
            }
            _ => {}
        }
    }

    /// Detects the plan's codebase, if it names one that exists.
    fn detect(&mut self, uri: &str) {
        let Some(doc) = self.documents.get_mut(uri) else {
            return;
        };
        let Some(dir) = doc.path.as_ref().and_then(|p| p.parent()) else {
            return;
        };
        let Some(codebase) = codebase_of(&doc.text) else {
            return;
        };
        let root = dir.join(codebase);
        if root.is_dir() {
            if let Ok(d) = crate::detect::detect(&root, &crate::detect::walk::Limits::default()) {
                doc.detection = Some((root, d));
            }
        }
    }

    fn publish(&self, uri: &str) {
        let Some(doc) = self.documents.get(uri) else {
            return;
        };
        let name = doc
            .path
            .as_ref()
            .map_or_else(|| uri.to_string(), |p| p.display().to_string());
        let mut sources = crate::source::SourceMap::new();
        let root = sources.add(name, doc.text.clone());
        let analysis = crate::check::check(&mut sources, root, &self.options);
        let mut diagnostics = analysis.diagnostics;
        if let (Some(plan), Some((dir, detection))) = (&analysis.plan, &doc.detection) {
            let loader = |rel: &str| std::fs::read_to_string(dir.join(rel)).ok();
            let prefix = dir.display().to_string();
            let mut merger = crate::detect::merge::Merger::new(&mut sources, &loader, &prefix);
            merger.merge(plan, detection);
            diagnostics.extend(merger.diagnostics);
        }
        let stdlib_dir = &self.stdlib_dir;
        let uri_of_file = |name: &str| -> Option<String> {
            match name.strip_prefix("<std>/") {
                Some(file) => Some(uri_of(&materialize(stdlib_dir, file)?)),
                None => Some(uri_of(Path::new(name))),
            }
        };
        let items = analysis::to_lsp(&diagnostics, &sources, &uri_of_file);
        self.send_notification(
            "textDocument/publishDiagnostics",
            json!({ "uri": uri, "diagnostics": items }),
        );
    }

    fn send_notification(&self, method: &str, params: Value) {
        let _ = self
            .connection
            .sender
            .send(Message::Notification(Notification::new(
                method.to_string(),
                params,
            )));
    }

    fn request(&self, r: &Request) -> Value {
        let uri = r.params["textDocument"]["uri"].as_str().unwrap_or("");
        let Some(doc) = self.documents.get(uri) else {
            return Value::Null;
        };
        let lines = Lines::new(&doc.text);
        let offset = lines.offset(&r.params["position"]);
        match r.method.as_str() {
            "textDocument/hover" => match analysis::hover(&doc.text, offset) {
                Some((start, end, markdown)) => json!({
                    "contents": { "kind": "markdown", "value": markdown },
                    "range": lines.range(start, end),
                }),
                None => Value::Null,
            },
            "textDocument/completion" => json!(analysis::completion(&doc.text, offset)),
            "textDocument/definition" => match analysis::definition(&doc.text, offset) {
                Some((file, at)) if file.is_empty() => {
                    json!({ "uri": uri, "range": lines.range(at, at) })
                }
                Some((file, at)) => {
                    let name = file.trim_start_matches("<std>/");
                    let Some(path) = materialize(&self.stdlib_dir, name) else {
                        return Value::Null;
                    };
                    let text = crate::stdlib::MODULES
                        .iter()
                        .find(|m| m.file_name == file)
                        .map_or("", |m| m.text);
                    json!({ "uri": uri_of(&path), "range": Lines::new(text).range(at, at) })
                }
                None => Value::Null,
            },
            "textDocument/formatting" => match crate::fmt::format(&doc.text) {
                Ok(formatted) if formatted != doc.text => {
                    json!([{ "range": lines.range(0, doc.text.len()), "newText": formatted }])
                }
                _ => json!([]),
            },
            "textDocument/codeAction" => {
                let from = lines.offset(&r.params["range"]["start"]);
                let to = lines.offset(&r.params["range"]["end"]);
                let (_, diagnostics) = analysis::diagnostics("plan", &doc.text, &self.options);
                let actions: Vec<Value> = analysis::code_actions(&doc.text, &diagnostics, from, to)
                    .into_iter()
                    .map(|(title, edits)| {
                        let edits: Vec<Value> = edits
                            .into_iter()
                            .map(|(s, e, new)| json!({ "range": lines.range(s, e), "newText": new }))
                            .collect();
                        json!({ "title": title, "kind": "quickfix", "edit": { "changes": { uri: edits } } })
                    })
                    .collect();
                json!(actions)
            }
            _ => Value::Null,
        }
    }
}

/// The `codebase = "..."` a plan names, read from its syntax tree.
fn codebase_of(text: &str) -> Option<String> {
    let (file, _) = crate::syntax::parse(crate::source::FileId(0), text);
    file.items.iter().find_map(|item| {
        let crate::syntax::ast::Item::Block(b) = item else {
            return None;
        };
        b.body.entries.iter().find_map(|e| match e {
            crate::syntax::ast::Entry::Attribute(a) if a.key.value == "codebase" => {
                match &a.value.value {
                    crate::syntax::ast::ValueKind::String(s) => Some(s.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
    })
}

/// Writes a stdlib file where an editor can open it, once.
fn materialize(dir: &Path, file: &str) -> Option<PathBuf> {
    let module = crate::stdlib::MODULES
        .iter()
        .find(|m| m.file_name.trim_start_matches("<std>/") == file)?;
    let path = dir.join(file);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(module.text) {
        std::fs::create_dir_all(dir).ok()?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, module.text).ok()?;
        std::fs::rename(&tmp, &path).ok()?;
    }
    Some(path)
}
