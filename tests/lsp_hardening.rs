//! The language server cannot be crashed, hung or made to write outside its own directory by
//! what a client sends: issue 16's findings and issue 17's malformed frames and batches, each
//! through the real server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::lsp_client::{Client, PATIENCE, at, change, codes, open};

const URI: &str = "file:///tmp/canaryc-lsp-hardening/canary.plan";

/// A panic (exit 101) after a multi-byte character: the word before the cursor ended inside `→`.
#[test]
fn hover_and_completion_after_a_multibyte_character() {
    let mut client = Client::start();
    let text = "# a→b\nplan x {\n  description = \"𝄞é\" # 𝄞b→c\n}\n";
    open(&mut client, URI, text);
    for (line, character) in [
        (0, 4),
        (0, 5),
        (0, 3),
        (2, 18),
        (2, 19),
        (2, 24),
        (2, 26),
        (9, 9),
    ] {
        for method in [
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
        ] {
            let response = client.call(method, at(URI, line, character));
            assert!(
                response.get("error").is_none(),
                "{method} {line}:{character}: {response}"
            );
        }
    }
    let hover = client.request("textDocument/hover", at(URI, 0, 4));
    assert!(hover.is_null(), "{hover}");
    client.shutdown();
}

/// `Content-Length: 99999999999` aborted the process trying to allocate it.
#[test]
fn a_huge_content_length_is_never_allocated() {
    let mut client = Client::start();
    client.send_raw(b"Content-Length: 99999999999\r\n\r\n{}");
    // The server skips what it cannot hold; the input ends inside that frame.
    let status = client.close_and_wait();
    assert_eq!(status.code(), Some(1), "{}", client.stderr());
    assert!(
        client.stderr().contains("without `exit`"),
        "{}",
        client.stderr()
    );
    assert!(!client.stderr().contains("panicked") && !client.stderr().contains("memory"));
}

/// Over the limit but really sent: answered with an error, then the next request is served.
#[test]
fn an_oversized_message_is_answered_and_skipped() {
    let mut client = Client::start();
    let size = canaryc::lsp::transport::MAX_MESSAGE_BYTES + 1;
    let mut frame = format!("Content-Length: {size}\r\n\r\n").into_bytes();
    frame.resize(frame.len() + size, b' ');
    client.send_raw(&frame);
    let error = client
        .wait_for(PATIENCE, |m| m["id"].is_null() && m.get("error").is_some())
        .expect("an error for the oversized frame");
    assert_eq!(error["error"]["code"], -32700, "{error}");
    assert!(client.request("shutdown", Value::Null).is_null());
    client.notify("exit", Value::Null);
    assert!(client.wait().success());
}

/// ~44 unbalanced `[` took the server more than 30 s per check; typing them one at a time too.
#[test]
fn unbalanced_brackets_do_not_block_the_server() {
    let mut client = Client::start();
    let text = |n: usize| {
        format!(
            "plan x {{\n  python = 2.7 -> 3.13\n  a = {}\n}}\n",
            "[".repeat(n)
        )
    };
    open(&mut client, URI, &text(44));
    assert_eq!(codes(&client.diagnostics(URI)), vec!["CNR001"]);
    for n in 1..=60 {
        change(&mut client, URI, n as i64 + 1, &text(n));
    }
    let hover = client.call("textDocument/hover", at(URI, 1, 3));
    assert!(hover.get("error").is_none(), "{hover}");
    let last = client.published(URI);
    assert_eq!(last["version"], 61, "{last}");
    assert_eq!(
        codes(last["diagnostics"].as_array().unwrap()),
        vec!["CNR001"]
    );
    // Lines of 60 brackets that close with the wrong kind: each a top-level item.
    let lines = format!("const a = {}{}\n", "[".repeat(60), ")".repeat(60)).repeat(400);
    change(&mut client, URI, 100, &lines);
    assert_eq!(client.diagnostics(URI).len(), 400);
    client.shutdown();
}

/// `codebase = "/"` blocked every request for 115 s while the server walked the disk.
#[test]
fn detecting_a_huge_codebase_does_not_block_requests() {
    let dir = std::env::temp_dir().join(format!("canaryc-lsp-root-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let uri = format!("file://{}/canary.plan", dir.display());
    let mut client = Client::start();
    let text = "plan x {\n  codebase = \"/\"\n  python = 2.7 -> 3.13\n}\n";
    open(&mut client, &uri, text);
    client.diagnostics(&uri);
    // Requests are answered while the walk goes on (it takes seconds at least).
    for character in 0..20 {
        let hover = client.call("textDocument/hover", at(&uri, 1, character));
        assert!(hover.get("error").is_none(), "{hover}");
    }
    // Saving starts a new detection and cancels the first; closing cancels that one.
    client.notify(
        "textDocument/didSave",
        json!({ "textDocument": { "uri": uri } }),
    );
    client.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": uri } }),
    );
    assert!(client.diagnostics(&uri).is_empty());
    client.shutdown();
}

#[test]
fn unknown_requests_get_method_not_found() {
    let mut client = Client::spawn();
    let early = client.call("textDocument/hover", at(URI, 0, 0));
    assert_eq!(early["error"]["code"], -32002, "before initialize: {early}");
    client.request("initialize", json!({ "capabilities": {} }));
    let again = client.call("initialize", json!({ "capabilities": {} }));
    assert_eq!(again["error"]["code"], -32600, "{again}");
    for method in ["canaryc/unknown", "textDocument/rename", "$/unknown"] {
        let response = client.call(method, json!({}));
        assert_eq!(response["error"]["code"], -32601, "{method}: {response}");
        assert!(response.get("result").is_none());
    }
    let bad = client.call("textDocument/hover", json!({ "textDocument": 3 }));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    client.shutdown();
}

#[test]
fn exit_without_shutdown_exits_1() {
    let mut client = Client::start();
    client.notify("exit", Value::Null);
    assert_eq!(client.wait().code(), Some(1));
    let mut client = Client::start();
    client.request("shutdown", Value::Null);
    let late = client.call("textDocument/hover", at(URI, 0, 0));
    assert_eq!(late["error"]["code"], -32600, "after shutdown: {late}");
    client.notify("exit", Value::Null);
    assert_eq!(client.wait().code(), Some(0));
}

/// The stdlib went to /tmp/canaryc-stdlib-VERSION/, written through `schedules.tmp`: a symlink
/// planted there made the server overwrite its target.
#[cfg(unix)]
#[test]
fn a_planted_symlink_never_redirects_the_stdlib_files() {
    use std::os::unix::fs::PermissionsExt;
    let predictable =
        std::env::temp_dir().join(format!("canaryc-stdlib-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&predictable).unwrap();
    let victim = std::env::temp_dir().join(format!("canaryc-victim-{}", std::process::id()));
    std::fs::write(&victim, "precious\n").unwrap();
    let mut planted = Vec::new();
    for name in [
        "schedules.tmp",
        "schedules.plan",
        "rollback.tmp",
        "rollback.plan",
    ] {
        let link = predictable.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            planted.push(link);
        }
    }

    let mut client = Client::start();
    let text = "use std.schedules.standard\nplan x {\n  python = 2.7 -> 3.13\n  schedule = standard { stage canary-5pct { traffic = 30% } }\n}\n";
    open(&mut client, URI, text);
    let diagnostics = client.diagnostics(URI);
    let related = diagnostics[0]["relatedInformation"][0]["location"]["uri"]
        .as_str()
        .expect("a related location in the stdlib")
        .to_string();
    let definition = client.request("textDocument/definition", at(URI, 0, 22));
    let path = std::path::PathBuf::from(related.trim_start_matches("file://"));
    let dir = path.parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", dir.display());
    client.shutdown();

    for link in planted {
        std::fs::remove_file(link).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    std::fs::remove_file(&victim).unwrap();
    assert_ne!(dir, predictable, "{related}");
    assert!(
        definition["uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("file://{}", dir.display()))
    );
    assert!(!dir.exists(), "{} outlived the server", dir.display());
}

/// 2,000 rapid `didChange`s gave 2,000 `publishDiagnostics`; a stale version was applied.
#[test]
fn rapid_changes_are_debounced_and_stale_versions_dropped() {
    let mut client = Client::start();
    open(&mut client, URI, "plan x {}\n");
    client.diagnostics(URI);
    let text =
        |n: usize| format!("plan x {{\npython = 2.7 -> 3.13\n  description = \"edit {n}\"\n}}\n");
    for n in 2..=2001 {
        change(&mut client, URI, n as i64, &text(n));
    }
    // Older than what the server has: dropped. Were it applied, formatting would fail on it.
    change(&mut client, URI, 1500, "plan {");
    let last = client.published(URI);
    let published = client
        .backlog
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .count()
        + 1;
    assert_eq!(last["version"], 2001, "{last}");
    assert!(
        published <= 20,
        "{published} publications for 2,000 changes"
    );
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": URI }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert!(
        edits[0]["newText"].as_str().unwrap().contains("edit 2001"),
        "{edits}"
    );
    // No further publication for the stale change.
    assert!(
        client
            .wait_for(Duration::from_millis(600), |m| m["method"]
                == "textDocument/publishDiagnostics")
            .is_none()
    );
    client.shutdown();
}

/// A malformed frame or a batch made the server exit 0 without a word.
#[test]
fn malformed_frames_and_batches_are_answered_per_json_rpc() {
    let mut client = Client::start();
    for garbage in [
        &b"Content-Length: 9\r\n\r\n{not json"[..],
        b"Content-Length: nine\r\n\r\n",
        b"Content-Type: text/plain\r\n\r\n",
        b"Content-Length: 2\r\n\r\n42",
        b"Content-Length: 2\r\n\r\n[]",
        b"Content-Length: 26\r\n\r\n{\"id\":7,\"method\":\"x\"}     ",
    ] {
        client.send_raw(garbage);
        let error = client
            .wait_for(PATIENCE, |m| m.get("error").is_some())
            .unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(garbage)));
        let code = error["error"]["code"].as_i64().unwrap();
        assert!(code == -32700 || code == -32600, "{error}");
        // Still serving.
        assert!(
            client
                .request("textDocument/hover", at(URI, 0, 0))
                .is_null()
        );
    }

    open(&mut client, URI, "plan x {\n  python = 2.7 -> 3.13\n}\n");
    client.diagnostics(URI);
    client.send(&json!([
        { "jsonrpc": "2.0", "id": "a", "method": "textDocument/hover", "params": at(URI, 0, 1) },
        { "jsonrpc": "2.0", "method": "textDocument/didChange", "params": { "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": "plan y {}\n" }] } },
        { "jsonrpc": "2.0", "id": "b", "method": "canaryc/unknown" },
        7,
    ]));
    let batch = client
        .wait_for(PATIENCE, Value::is_array)
        .expect("one array of responses");
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), 3, "{batch:?}");
    assert!(
        batch[0]["id"] == "a" && batch[0]["result"]["contents"].is_object(),
        "{batch:?}"
    );
    assert!(
        batch[1]["id"] == "b" && batch[1]["error"]["code"] == -32601,
        "{batch:?}"
    );
    assert!(
        batch[2]["id"].is_null() && batch[2]["error"]["code"] == -32600,
        "{batch:?}"
    );
    assert_eq!(client.published(URI)["version"], 2);
    // A batch of notifications alone gets no response at all.
    client.send(&json!([{ "jsonrpc": "2.0", "method": "initialized" }]));
    client.request("textDocument/hover", at(URI, 0, 0));
    assert!(
        !client.backlog.iter().any(Value::is_array),
        "{:?}",
        client.backlog
    );
    client.shutdown();
}
