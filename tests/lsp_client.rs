//! A language-server client for the tests: `canaryc lsp` as a child process, its messages read
//! on a thread, its stderr kept (to find panics), and its exit status.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TODAY;

/// How long a test waits for any one message before calling the server stuck.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

pub(crate) struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    next_id: u64,
    /// Messages read while waiting for something else, in order.
    pub backlog: Vec<Value>,
}

impl Client {
    /// The server, started but not initialized.
    pub(crate) fn spawn() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_canaryc"))
            .arg("lsp")
            .env("CANARYC_TODAY", TODAY)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("canaryc lsp starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length: ") {
                        length = Some(n.parse::<usize>().expect("the server frames its messages"));
                    }
                }
                let mut body = vec![0; length.expect("a Content-Length from the server")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let message: Value = serde_json::from_slice(&body).expect("the server writes JSON");
                if tx.send(message).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    return;
                }
                let mut text = sink.lock().unwrap();
                // Enough to find a panic; a fuzz run logs a lot of ignored messages.
                if text.len() < 1 << 20 {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Client {
            child,
            stdin,
            messages,
            stderr,
            next_id: 1,
            backlog: Vec::new(),
        }
    }

    /// The server, initialized.
    pub(crate) fn start() -> Client {
        let mut client = Client::spawn();
        let init = client.request(
            "initialize",
            json!({ "processId": null, "rootUri": null, "capabilities": {} }),
        );
        assert!(init["capabilities"]["hoverProvider"].as_bool().unwrap());
        client.notify("initialized", json!({}));
        client
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("the server reads");
        stdin.flush().expect("the server reads");
    }

    pub(crate) fn send(&mut self, message: &Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.send_raw(frame.as_bytes());
    }

    pub(crate) fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its id.
    pub(crate) fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// The next message, or `None` after `timeout`.
    pub(crate) fn next(&mut self, timeout: Duration) -> Option<Value> {
        match self.messages.recv_timeout(timeout) {
            Ok(message) => Some(message),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for the first message that `wanted` accepts; the others go to the backlog.
    pub(crate) fn wait_for(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.next(left)?;
            if wanted(&message) {
                return Some(message);
            }
            self.backlog.push(message);
        }
    }

    /// The whole response to a request (result or error).
    pub(crate) fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id, PATIENCE).unwrap_or_else(|| {
            panic!(
                "no response to {method} (id {id}); stderr:\n{}",
                self.stderr()
            )
        })
    }

    pub(crate) fn response(&mut self, id: u64, timeout: Duration) -> Option<Value> {
        self.wait_for(timeout, |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        })
    }

    /// The result of a request that must succeed.
    pub(crate) fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response}");
        response["result"].clone()
    }

    /// The next diagnostics published for `uri` (the whole params: uri, version, diagnostics).
    pub(crate) fn published(&mut self, uri: &str) -> Value {
        self.wait_for(PATIENCE, |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        })
        .unwrap_or_else(|| panic!("no diagnostics for {uri}; stderr:\n{}", self.stderr()))["params"]
            .clone()
    }

    pub(crate) fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        self.published(uri)["diagnostics"]
            .as_array()
            .expect("a list")
            .clone()
    }

    /// Closes the server's input and waits for it to exit.
    pub(crate) fn close_and_wait(&mut self) -> ExitStatus {
        self.stdin = None;
        self.wait()
    }

    pub(crate) fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server does not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `shutdown`, then `exit`: the server must exit 0.
    pub(crate) fn shutdown(mut self) {
        let result = self.request("shutdown", Value::Null);
        assert!(result.is_null());
        self.notify("exit", Value::Null);
        let status = self.wait();
        assert!(status.success(), "{status:?}; stderr:\n{}", self.stderr());
        assert!(!self.stderr().contains("panicked"), "{}", self.stderr());
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `text` at `uri` (version 1).
pub(crate) fn open(client: &mut Client, uri: &str, text: &str) {
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "canary-plan", "version": 1, "text": text } }),
    );
}

pub(crate) fn change(client: &mut Client, uri: &str, version: i64, text: &str) {
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [ { "text": text } ] }),
    );
}

pub(crate) fn at(uri: &str, line: u64, character: u64) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
}

pub(crate) fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or("").to_string())
        .collect()
}
