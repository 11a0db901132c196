//! `canaryc promote` never undoes a rollback (engines-output review, item 8): a fake HAProxy
//! runtime API on a unix socket (the servers' admin state, the commands it was sent) and a
//! fake Prometheus that holds its answer until the test lets it go, so a rollback lands while
//! promote is judging, every time, without timing. Also: `--status` writes nothing without
//! HAProxy, and `--approve` opens no gate before the stage waits there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use crate::common::{assert_success, canaryc, stderr, stdout};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-lock-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// HAProxy's runtime API for one backend `shop`: py3's admin state and every command sent.
#[derive(Default)]
struct Haproxy {
    py3_maint: bool,
    commands: Vec<String>,
}

fn fake_haproxy(socket: &Path) -> Arc<Mutex<Haproxy>> {
    let state = Arc::new(Mutex::new(Haproxy::default()));
    let listener = UnixListener::bind(socket).unwrap();
    let shared = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let command = line.trim().to_string();
            let mut s = shared.lock().unwrap();
            let reply = if command.starts_with("show servers state") {
                let admin = u8::from(s.py3_maint);
                format!(
                    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n3 shop 1 py2 127.0.0.1 2 0 230 230\n3 shop 2 py3 127.0.0.1 2 {admin} 26 26\n"
                )
            } else {
                if command == "set server shop/py3 state maint" {
                    s.py3_maint = true;
                }
                if command == "set server shop/py3 state ready" {
                    s.py3_maint = false;
                }
                s.commands.push(command);
                String::new()
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    state
}

/// A Prometheus that answers every query with a passing sample for `shop`, each answer only
/// once the test sends on the returned channel; it says on the other one that a query came.
fn fake_prometheus() -> (u16, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (asked_tx, asked) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = asked_tx.send(());
            if release_rx.recv().is_err() {
                return;
            }
            let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"shop"},"value":[1,"0"]}]}}"#;
            let _ = stream.write_all(
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}")
                    .as_bytes(),
            );
        }
    });
    (port, asked, release)
}

fn config(dir: &Path, prometheus: u16, hold: u64, approval: Option<&str>) -> PathBuf {
    let stage = |name: &str, traffic: f64, approval: Option<&str>| {
        serde_json::json!({
            "name": name, "traffic": traffic, "hold_secs": hold, "approval": approval,
            "checks": [ { "service": "shop", "text": "error_rate < 1%", "query": "q", "op": "<", "threshold": 1.0 } ]
        })
    };
    let doc = serde_json::json!({
        "format_version": 1,
        "plan": "shop",
        "prometheus": format!("http://127.0.0.1:{prometheus}"),
        "haproxy": { "runtime_api": dir.join("admin.sock"), "server_state_file": dir.join("server-state"), "weight_total": 256 },
        "state_file": dir.join("state/promote-state.json"),
        "services": ["shop"],
        "stages": [ stage("canary-10pct", 10.0, approval), stage("full", 100.0, None) ]
    });
    let path = dir.join("canary-promote.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// A state at the first stage, entered long ago: its hold has elapsed.
fn at_first_stage(dir: &Path) {
    std::fs::create_dir_all(dir.join("state")).unwrap();
    std::fs::write(
        dir.join("state/promote-state.json"),
        r#"{"plan":"shop","stage":0,"entered_at":1000,"approved":null,"rolled_back":null,"done":false}"#,
    )
    .unwrap();
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("state/promote-state.json")).unwrap())
        .unwrap()
}

#[test]
fn a_rollback_while_promote_judges_is_never_undone() {
    let dir = scratch("race");
    let hap = fake_haproxy(&dir.join("admin.sock"));
    let (port, asked, release) = fake_prometheus();
    let config = config(&dir, port, 60, None);
    at_first_stage(&dir);
    let binary = env!("CARGO_BIN_EXE_canaryc");
    let promote = std::process::Command::new(binary)
        .args(["promote", "--config", config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Promote is judging the stage's criteria: roll back now.
    asked.recv().unwrap();
    let rollback = canaryc(&dir, &["rollback", "--config", config.to_str().unwrap()]);
    assert_eq!(rollback.status.code(), Some(0), "{}", stderr(&rollback));
    release.send(()).unwrap();
    let out = promote.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("rolled back"), "{text}");
    let h = hap.lock().unwrap();
    assert!(
        h.py3_maint,
        "py3 must stay in maintenance: {:?}",
        h.commands
    );
    let after: Vec<&String> = h
        .commands
        .iter()
        .skip_while(|c| *c != "set server shop/py3 state maint")
        .collect();
    assert_eq!(
        after,
        vec!["set server shop/py3 state maint"],
        "promote sent commands after the rollback: {:?}",
        h.commands
    );
    assert!(
        !h.commands.iter().any(|c| c.ends_with("py3 state ready")),
        "{:?}",
        h.commands
    );
    let s = state(&dir);
    assert_eq!(s["stage"], 0, "{s}");
    assert!(s["rolled_back"].is_object(), "{s}");
    // And the next run moves nothing until --restart, which alone makes py3 ready again.
    drop(h);
    let again = canaryc(&dir, &["promote", "--config", config.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    let restart = canaryc(
        &dir,
        &["promote", "--restart", "--config", config.to_str().unwrap()],
    );
    assert_eq!(restart.status.code(), Some(0), "{}", stderr(&restart));
    let h = hap.lock().unwrap();
    assert!(!h.py3_maint);
    assert_eq!(h.commands.last().unwrap(), "set server shop/py3 weight 26");
}

#[test]
fn promote_advances_without_touching_maintenance() {
    let dir = scratch("advance");
    let hap = fake_haproxy(&dir.join("admin.sock"));
    let (port, asked, release) = fake_prometheus();
    let config = config(&dir, port, 60, None);
    at_first_stage(&dir);
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            if release.send(()).is_err() {
                return;
            }
        }
    });
    let out = canaryc(&dir, &["promote", "--config", config.to_str().unwrap()]);
    assert_success(&out);
    assert!(stdout(&out).contains("moved to full"), "{}", stdout(&out));
    let h = hap.lock().unwrap();
    assert_eq!(
        h.commands,
        vec![
            "set server shop/py2 weight 0",
            "set server shop/py3 weight 256"
        ]
    );
    assert_eq!(state(&dir)["stage"], 1);
    assert!(
        dir.join("server-state").is_file(),
        "the server state is saved for reloads"
    );
}

#[test]
fn status_writes_nothing_and_works_without_haproxy() {
    let dir = scratch("status");
    let (port, asked, release) = fake_prometheus();
    let config = config(&dir, port, 60, None);
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            if release.send(()).is_err() {
                return;
            }
        }
    });
    // No state yet, no HAProxy: status says what would happen and creates nothing.
    let out = canaryc(
        &dir,
        &["promote", "--status", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("started stage canary-10pct"),
        "{}",
        stdout(&out)
    );
    assert!(!dir.join("state").exists(), "--status wrote the state");
}

#[test]
fn approve_opens_no_gate_before_the_stage_waits_there() {
    let dir = scratch("approve");
    let _hap = fake_haproxy(&dir.join("admin.sock"));
    let (port, asked, release) = fake_prometheus();
    // A gate at the first stage, whose hold has not elapsed.
    let config = config(&dir, port, 10_000_000_000, Some("the release manager"));
    at_first_stage(&dir);
    std::thread::spawn(move || {
        while asked.recv().is_ok() {
            if release.send(()).is_err() {
                return;
            }
        }
    });
    let early = canaryc(
        &dir,
        &["promote", "--approve", "--config", config.to_str().unwrap()],
    );
    assert_eq!(early.status.code(), Some(1));
    assert!(
        stderr(&early).contains("nothing to approve yet"),
        "{}",
        stderr(&early)
    );
    assert_eq!(state(&dir)["approved"], serde_json::Value::Null);
}
