//! `canaryc lsp`, driven as a process over its stdio: initialize, didOpen, didChange, hover,
//! completion, definition, formatting, codeAction, shutdown. And a real editor: headless Neovim.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{TODAY, repo};
use crate::lsp_client::{Client, codes};

const URI: &str = "file:///tmp/canaryc-lsp-test/canary.plan";
const BROKEN: &str = "use std.schedules.standard\n\nplan ledger {\n  python = 2.7 -> 3.13\n  servce { port = 8000 }\n  schedule {\n    stage a { traffic = 5%  hold = 24h }\n  }\n}\n";

fn open(client: &mut Client, text: &str) -> Vec<Value> {
    crate::lsp_client::open(client, URI, text);
    client.diagnostics(URI)
}

#[test]
fn diagnostics_on_open_and_change_with_utf16_positions() {
    let mut client = Client::start();
    let diagnostics = open(&mut client, BROKEN);
    assert_eq!(
        codes(&diagnostics),
        vec!["CNR108", "CNR101", "CNR302"],
        "{diagnostics:#?}"
    );
    let unknown = &diagnostics[1];
    assert_eq!(
        unknown["range"]["start"],
        json!({ "line": 4, "character": 2 })
    );
    assert_eq!(unknown["severity"], 1);
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `service`?")
    );

    // A syntax error replaces the checker's diagnostics; columns count UTF-16 units.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [ { "text": "plan x {\n  description = \"é𝄞\" python: 2.7\n}\n" } ] }),
    );
    let diagnostics = client.diagnostics(URI);
    assert_eq!(codes(&diagnostics), vec!["CNR001"]);
    // 17 characters, then é (one UTF-16 unit, two bytes) and 𝄞 (two units, four bytes), then 8.
    assert_eq!(
        diagnostics[0]["range"]["start"],
        json!({ "line": 1, "character": 28 })
    );

    // Related locations: a secondary label in the stdlib points at a file the editor can open.
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 3 }, "contentChanges": [ { "text": "use std.schedules.standard\nplan x {\n  python = 2.7 -> 3.13\n  schedule = standard { stage canary-5pct { traffic = 30% } }\n}\n" } ] }),
    );
    let diagnostics = client.diagnostics(URI);
    assert_eq!(codes(&diagnostics), vec!["CNR301"]);
    let related = &diagnostics[0]["relatedInformation"][0];
    let uri = related["location"]["uri"].as_str().unwrap();
    assert!(
        uri.starts_with("file://") && uri.ends_with("schedules.plan"),
        "{uri}"
    );
    let path = uri.trim_start_matches("file://");
    assert!(
        std::fs::read_to_string(path)
            .unwrap()
            .contains("schedule standard")
    );
    client.shutdown();
}

#[test]
fn hover_completion_definition_formatting_and_code_actions() {
    let mut client = Client::start();
    open(&mut client, BROKEN);
    let doc = json!({ "uri": URI });

    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": doc, "position": { "line": 6, "character": 15 } }),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("py3's share of requests"),
        "{hover}"
    );
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": doc, "position": { "line": 0, "character": 20 } }),
    );
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("canary-25pct"),
        "stdlib schedule hover: {hover}"
    );

    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": doc, "position": { "line": 6, "character": 14 } }),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"traffic") && labels.contains(&"hold") && labels.contains(&"success"),
        "{labels:?}"
    );
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": doc, "position": { "line": 0, "character": 4 } }),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        labels.contains(&"std.schedules.standard") && labels.contains(&"std.rollback.defaults"),
        "{labels:?}"
    );

    let definition = client.request(
        "textDocument/definition",
        json!({ "textDocument": doc, "position": { "line": 0, "character": 22 } }),
    );
    assert!(
        definition["uri"]
            .as_str()
            .unwrap()
            .ends_with("schedules.plan"),
        "{definition}"
    );
    assert!(definition["range"]["start"]["line"].as_u64().unwrap() > 0);

    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": doc, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let formatted = edits[0]["newText"].as_str().unwrap();
    assert!(
        formatted.contains("    stage a {\n      traffic = 5%\n      hold    = 24h\n    }"),
        "{formatted}"
    );

    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": doc, "range": { "start": { "line": 4, "character": 2 }, "end": { "line": 6, "character": 40 } }, "context": { "diagnostics": [] } }),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Replace with `service`"), "{titles:?}");
    assert!(titles.contains(&"Add a final stage at 100%"), "{titles:?}");
    let fix = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Replace with `service`")
        .unwrap();
    assert_eq!(fix["edit"]["changes"][URI][0]["newText"], "service");
    // Applying the stage fix makes CNR302 go away.
    let add = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Add a final stage at 100%")
        .unwrap();
    let edit = &add["edit"]["changes"][URI][0];
    let at = edit["range"]["start"].clone();
    let lines: Vec<&str> = BROKEN.split_inclusive('\n').collect();
    let offset: usize = lines[..at["line"].as_u64().unwrap() as usize]
        .iter()
        .map(|l| l.len())
        .sum::<usize>()
        + at["character"].as_u64().unwrap() as usize;
    let fixed = format!(
        "{}{}{}",
        &BROKEN[..offset],
        edit["newText"].as_str().unwrap(),
        &BROKEN[offset..]
    );
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [ { "text": fixed } ] }),
    );
    assert!(!codes(&client.diagnostics(URI)).contains(&"CNR302".to_string()));
    client.shutdown();
}

#[test]
fn codebase_conflicts_reach_the_editor() {
    let dir = std::env::temp_dir().join(format!("canaryc-lsp-codebase-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("canary.plan");
    let text = format!(
        "plan ledger {{\n  codebase = \"{}\"\n  python = 2.7 -> 3.13\n  route {{ sticky = cookie(\"py_version\") }}\n  service {{ port = 8080 }}\n}}\n",
        repo().join("tests/fixtures/k8s-istio").display()
    );
    std::fs::write(&plan, &text).unwrap();
    let uri = format!("file://{}", plan.display());
    let mut client = Client::start();
    client.notify("textDocument/didOpen", json!({ "textDocument": { "uri": uri, "languageId": "canary-plan", "version": 1, "text": text } }));
    // Detection runs off the request thread: the plan's own diagnostics come first, those
    // against the codebase when it has been read.
    let conflict = loop {
        let diagnostics = client.diagnostics(&uri);
        if let Some(conflict) = diagnostics.iter().find(|d| d["code"] == "CNR602") {
            break conflict.clone();
        }
    };
    assert!(
        conflict["relatedInformation"][0]["location"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("k8s-istio/Dockerfile")
    );
    client.shutdown();
}

/// A real editor: headless Neovim starts `canaryc lsp` for *.plan, opens a plan with an error,
/// and writes out the diagnostics it received. Skipped when nvim is not installed, unless
/// CANARYC_REQUIRE_NVIM is set (CI sets it, after installing Neovim).
#[test]
fn neovim_receives_diagnostics() {
    let nvim = Command::new("nvim").arg("--version").output();
    if nvim.is_err() {
        assert!(
            std::env::var_os("CANARYC_REQUIRE_NVIM").is_none(),
            "nvim is required but not installed"
        );
        eprintln!("nvim not installed: skipping the editor test");
        return;
    }
    let dir = std::env::temp_dir().join(format!("canaryc-nvim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary.plan"), BROKEN).unwrap();
    let out = dir.join("diagnostics.json");
    let init = format!(
        r#"
vim.api.nvim_create_autocmd({{"BufRead", "BufNewFile"}}, {{
  pattern = "*.plan",
  callback = function(args)
    local client = vim.lsp.start_client({{ name = "canaryc", cmd = {{ "{bin}", "lsp" }}, root_dir = "{dir}" }})
    vim.lsp.buf_attach_client(args.buf, client)
  end,
}})
function dump_diagnostics()
  vim.wait(15000, function() return #vim.diagnostic.get(0) > 0 end, 50)
  local items = {{}}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(items, {{ lnum = d.lnum, col = d.col, code = d.code, message = d.message }})
  end
  local f = io.open("{out}", "w")
  f:write(vim.fn.json_encode(items))
  f:close()
  vim.cmd("qa!")
end
"#,
        bin = env!("CARGO_BIN_EXE_canaryc"),
        dir = dir.display(),
        out = out.display()
    );
    std::fs::write(dir.join("init.lua"), init).unwrap();
    let status = Command::new("nvim")
        .args([
            "--headless",
            "--noplugin",
            "-u",
            "init.lua",
            "canary.plan",
            "-c",
            "lua dump_diagnostics()",
        ])
        .current_dir(&dir)
        .env("CANARYC_TODAY", TODAY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let received: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let received = received.as_array().unwrap();
    let unknown = received
        .iter()
        .find(|d| d["code"] == "CNR101")
        .expect("Neovim got CNR101");
    assert_eq!(unknown["lnum"], 4);
    assert_eq!(unknown["col"], 2);
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `servce`")
    );
}
