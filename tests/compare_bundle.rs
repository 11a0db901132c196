//! The comparator as a generated bare-metal bundle wires it, for real: `canaryc build` on a plan
//! with a `compare { }` section for tests/compare/app.py, then py2, the second py2 copy, py3 and
//! `canaryc compare` started exactly as the generated systemd units say (ExecStart, Environment,
//! ports, flags), and HAProxy with the generated haproxy-canary.cfg in front. Clients' requests
//! go to HAProxy's frontend, as in production: HAProxy sends its py2 share to the comparator
//! (its `server py2`) and its 1% py3 share straight to py3. The comparator must report exactly
//! the planted divergences, HAProxy's py2 server must have sent every one of its requests
//! through the comparator, and the bundle's own divergence alert must fire in
//! `promtool test rules` on the series the comparator exported.
//!
//! What differs from an installation, and why: the unit's `User=`, `WorkingDirectory=` and
//! sandboxing are systemd's and are not applied (the processes run as the test's user, in a
//! temp dir, with only the unit's `Environment=` and PATH); the install paths are mapped into
//! the temp dir (`/usr/local/bin/canaryc` is the binary under test, `/etc/canaryc/PLAN/` holds
//! the plan as the runbook installs it, HAProxy's admin socket and state file live in the temp
//! dir instead of /run/haproxy and /var/lib/haproxy, and HAProxy does not log to /dev/log).
//! The admin port is the generated 9464 unless something on the machine already holds it;
//! then, and only then, a free port, and the test says so.
//!
//! Needs the interpreters, HAProxy and promtool; without them it says so and passes, except
//! under CI=true. It takes a few seconds (70 rounds of 12 requests).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{canaryc, repo, stderr};
use crate::compare::{
    INTERVAL_SECS, Proc, ROUND, SCRAPES, assert_reports_exactly_the_planted, http, need_pythons,
    need_tool, promtool, promtool_case, promtool_passes, results, scrape_at, temp_dir,
};

/// A systemd unit's ExecStart words and Environment= assignments, in order.
struct Unit {
    exec: Vec<String>,
    env: Vec<(String, String)>,
}

/// Splits a unit's value as systemd does for what canaryc writes: words, double quotes around
/// a word, `$$` for `$` and `%%` for `%` (no specifiers or C escapes appear in this bundle).
fn unit_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
        .into_iter()
        .map(|w| w.replace("$$", "$").replace("%%", "%"))
        .collect()
}

fn unit(path: &Path) -> Unit {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut exec = None;
    let mut env = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("ExecStart=") {
            assert!(exec.is_none(), "{}: two ExecStart lines", path.display());
            exec = Some(unit_words(v));
        } else if let Some(v) = line.strip_prefix("Environment=") {
            for a in unit_words(v) {
                let (k, v) = a.split_once('=').expect("NAME=value");
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    Unit {
        exec: exec.unwrap_or_else(|| panic!("{}: no ExecStart", path.display())),
        env,
    }
}

/// The value after `flag` in a command line.
fn flag<'a>(words: &'a [String], flag: &str) -> &'a str {
    let i = words
        .iter()
        .position(|w| w == flag)
        .unwrap_or_else(|| panic!("no {flag} in {words:?}"));
    &words[i + 1]
}

/// A unit's command as systemd would start it: its ExecStart, with only its Environment= (and
/// PATH) in the environment.
fn command(u: &Unit, dir: &Path) -> Command {
    let mut cmd = Command::new(&u.exec[0]);
    cmd.args(&u.exec[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(u.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}

/// Starts one of the app's copies from its unit; its port is the unit's PORT.
fn start_copy(u: &Unit, dir: &Path) -> (Proc, u16) {
    let port: u16 = u
        .env
        .iter()
        .find(|(k, _)| k == "PORT")
        .and_then(|(_, v)| v.parse().ok())
        .expect("the unit gives the copy its PORT");
    let mut child = command(u, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", u.exec[0]));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("listening {port}"),
        "{:?} must listen on the unit's PORT",
        u.exec
    );
    (Proc(child), port)
}

/// `n` consecutive free loopback ports (the plan's port and the four the bundle derives).
fn free_block(n: u16) -> u16 {
    for _ in 0..200 {
        let base = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base > 65000 {
            continue;
        }
        let held: Vec<_> = (base..base + n)
            .map_while(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == usize::from(n) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_listening(at: SocketAddr, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(at).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} never listened on {at}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `show stat` columns of each server of `backend`: `stot` (requests sent to it), `wredis`
/// (requests taken from it and redispatched to another after a retryable error).
fn haproxy_sent(socket: &Path, backend: &str, column: &str) -> BTreeMap<String, f64> {
    let mut s = UnixStream::connect(socket).expect("HAProxy's admin socket");
    s.write_all(b"show stat\n").unwrap();
    let mut csv = String::new();
    s.read_to_string(&mut csv).unwrap();
    let mut lines = csv.lines();
    let head: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    let (px, sv, stot) = (col("pxname"), col("svname"), col(column));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > stot && f[px] == backend && !["BACKEND", "FRONTEND"].contains(&f[sv]))
        .map(|f| (f[sv].to_string(), f[stot].parse().unwrap_or(0.0)))
        .collect()
}

fn proxied(s: &BTreeMap<String, f64>, mirrored: bool) -> f64 {
    s.get(&format!(
        "canary_compare_requests_total{{service=\"web\",mirrored=\"{mirrored}\"}}"
    ))
    .copied()
    .unwrap_or(0.0)
}

#[test]
fn a_generated_bare_metal_bundle_runs_the_comparator_and_it_reports_the_planted_divergences() {
    let Some(py) = need_pythons("compare bundle test") else {
        return;
    };
    let Some(haproxy) = need_tool("haproxy", "the loopback e2e uses it", "compare bundle test")
    else {
        return;
    };
    let dir = temp_dir("bundle");
    let port = free_block(5);
    let stats = free_port();
    let app = repo().join("tests/compare/app.py");
    let plan = std::fs::read_to_string(repo().join("tests/compare/canary.plan"))
        .unwrap()
        .replace("port        = 8000", &format!("port        = {port}"))
        .replace(
            "\"/usr/bin/python2.7 tests/compare/app.py\"",
            &format!("\"{} {}\"", py.py2.display(), app.display()),
        )
        .replace(
            "\"/usr/bin/python3.12 tests/compare/app.py\"",
            &format!("\"{} {}\"", py.py3.display(), app.display()),
        )
        .replace(
            "  compare {",
            &format!(
                "  route {{ bind = \"127.0.0.1\" }}\n  monitor {{ stats_port = {stats} }}\n\n  compare {{"
            ),
        );
    std::fs::write(dir.join("canary.plan"), &plan).unwrap();
    let built = canaryc(&dir, &["build", "--output", "out"]);
    assert_eq!(built.status.code(), Some(0), "build: {}", stderr(&built));
    let out = dir.join("out");

    // The copies, as their units say.
    let (_py2, py2_port) = start_copy(&unit(&out.join("systemd-py2.service")), &dir);
    let (_sec, sec_port) = start_copy(&unit(&out.join("systemd-py2-secondary.service")), &dir);
    let (_py3, py3_port) = start_copy(&unit(&out.join("systemd-py3.service")), &dir);

    // The comparator, as its unit says, with the install paths mapped into the temp dir.
    let mut cmp = unit(&out.join("canary-compare.service"));
    assert_eq!(cmp.exec[..2], ["/usr/local/bin/canaryc", "compare"]);
    cmp.exec[0] = env!("CARGO_BIN_EXE_canaryc").to_string();
    assert_eq!(
        flag(&cmp.exec, "--primary"),
        format!("http://127.0.0.1:{py2_port}")
    );
    assert_eq!(
        flag(&cmp.exec, "--secondary"),
        format!("http://127.0.0.1:{sec_port}")
    );
    assert_eq!(
        flag(&cmp.exec, "--candidate"),
        format!("http://127.0.0.1:{py3_port}")
    );
    assert_eq!(flag(&cmp.exec, "--service"), "web");
    let installed_plan = flag(&cmp.exec, "--plan").to_string();
    assert_eq!(installed_plan, "/etc/canaryc/shop/canary.plan");
    let local_plan = dir.join("etc/canaryc/shop/canary.plan");
    std::fs::create_dir_all(local_plan.parent().unwrap()).unwrap();
    std::fs::copy(dir.join("canary.plan"), &local_plan).unwrap();
    let listen: SocketAddr = flag(&cmp.exec, "--listen").parse().unwrap();
    let generated_admin = flag(&cmp.exec, "--admin").to_string();
    for w in &mut cmp.exec {
        if *w == installed_plan {
            *w = local_plan.display().to_string();
        } else if *w == generated_admin && TcpListener::bind(&generated_admin).is_err() {
            eprintln!(
                "compare bundle test: {generated_admin} is taken on this machine; the comparator's admin listener uses a free port instead"
            );
            *w = "127.0.0.1:0".into();
        }
    }
    // Prometheus scrapes the admin address the unit gives, and HAProxy's py2 is the comparator.
    let prometheus = std::fs::read_to_string(out.join("prometheus.yml")).unwrap();
    let prometheus: serde_yaml::Value = serde_yaml::from_str(&prometheus).unwrap();
    let job = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "web-compare")
        .expect("a scrape job for the comparator");
    assert_eq!(
        job["static_configs"][0]["targets"][0].as_str(),
        Some(generated_admin.as_str())
    );
    let cfg = std::fs::read_to_string(out.join("haproxy-canary.cfg")).unwrap();
    let server = |name: &str| -> String {
        cfg.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("server {name} ")))
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no server {name} in haproxy-canary.cfg"))
            .to_string()
    };
    assert_eq!(server("py2"), listen.to_string());
    assert_eq!(server("py3"), format!("127.0.0.1:{py3_port}"));

    let mut child = command(&cmp, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    // The comparator's first line says where its admin listener is; a plan warning, should the
    // plan draw one, comes before it.
    let mut first = String::new();
    for _ in 0..20 {
        first.clear();
        reader.read_line(&mut first).unwrap();
        if first.contains("admin on http://") || first.is_empty() {
            break;
        }
    }
    let mut comparator = Proc(child);
    let admin: SocketAddr = first
        .split("admin on http://")
        .nth(1)
        .and_then(|a| a.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("canaryc compare printed {first:?}"));
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        rest
    });
    wait_listening(listen, "the comparator");

    // HAProxy with the generated configuration; only its install paths are moved.
    let socket = dir.join("haproxy-admin.sock");
    let cfg = cfg
        .lines()
        .filter(|l| l.trim() != "log /dev/log local0" && l.trim() != "log global")
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("stats socket ") {
                format!("    stats socket {} mode 600 level admin", socket.display())
            } else if t.starts_with("server-state-file ") {
                format!("    server-state-file {}", dir.join("state").display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(dir.join("haproxy.cfg"), cfg).unwrap();
    let _haproxy = Proc(
        Command::new(haproxy)
            .args(["-f", "haproxy.cfg", "-db"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let frontend: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(frontend, "HAProxy's frontend");

    // Clients through HAProxy; a scrape after each round once its comparisons are done.
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut sent = 0.0;
    let mut not_py2 = 0.0;
    for _ in 0..SCRAPES {
        for (method, path, headers, body, _, py2) in ROUND {
            let reply = http(frontend, method, path, headers, body);
            sent += 1.0;
            // py2's answer (through the comparator), or py3's own at py3's 1% share.
            if !(reply.status == 200 && reply.body.contains(py2)) {
                not_py2 += 1.0;
                assert!(
                    reply.status == 200 || (*path == "/sorted" && reply.status == 500),
                    "{method} {path}: {} {}",
                    reply.status,
                    reply.body
                );
            }
        }
        let start = Instant::now();
        let samples = loop {
            let s = scrape_at(admin);
            if results(&s, "web").values().sum::<f64>() >= proxied(&s, true) {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{s:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        for (k, v) in samples
            .iter()
            .filter(|(k, _)| k.starts_with("canary_compared_responses_total{"))
        {
            series.entry(k.clone()).or_default().push(*v);
        }
    }

    // Every request HAProxy gave its py2 server went through the comparator; the rest to py3.
    let samples = scrape_at(admin);
    let through = proxied(&samples, true) + proxied(&samples, false);
    let by_server = haproxy_sent(&socket, "web", "stot");
    let redispatched: f64 = haproxy_sent(&socket, "web", "wredis").values().sum();
    assert_eq!(by_server["py2"], through, "{by_server:?}");
    // HAProxy retries what py3's share loses to a retryable error on the other server
    // (`retry-on all-retryable-errors` and `option redispatch` in the generated cfg).
    assert_eq!(
        by_server["py2"] + by_server["py3"] - redispatched,
        sent,
        "{by_server:?}, {redispatched} redispatched"
    );
    // Every answer that was not py2's came from py3's own share (`GET /` is the same on both).
    assert!(not_py2 <= by_server["py3"], "{not_py2} {by_server:?}");
    eprintln!(
        "compare bundle test: {sent} requests to HAProxy, {through} through the comparator, {} to py3 ({redispatched} redispatched; {not_py2} answers not py2's)",
        by_server["py3"]
    );
    let r = results(&samples, "web");
    assert_eq!((r["error"], r["dropped"]), (0.0, 0.0), "{r:?}");
    assert_eq!(
        r["same"] + r["diverged"] + r["noise"],
        proxied(&samples, true),
        "{r:?}"
    );
    assert!(r["diverged"] > 0.0 && r["noise"] > 0.0, "{r:?}");

    // The report: exactly the planted divergences; the timestamp and id are noise.
    let report = http(admin, "GET", "/report", &[], "");
    assert_eq!(report.status, 200);
    let report: serde_json::Value = serde_json::from_str(&report.body).unwrap();
    assert_reports_exactly_the_planted(&report);
    let endpoints = report["endpoints"].as_array().unwrap();
    let items = endpoints
        .iter()
        .find(|e| e["endpoint"] == "GET /items/{id}")
        .unwrap();
    for field in ["$.ts", "$.id", "header:x-request-id"] {
        assert!(
            items["noise_fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == field),
            "{field} not learnt as noise: {items}"
        );
    }

    // The bundle's own divergence alert fires on the series its comparator exported.
    if let Some(promtool) = promtool() {
        let alerts: serde_yaml::Value = serde_yaml::from_str(
            &std::fs::read_to_string(out.join("prometheus-alerts.yaml")).unwrap(),
        )
        .unwrap();
        let rule = alerts["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_sequence().unwrap())
            .find(|r| r["alert"].as_str() == Some("CanaryPy3Divergence"))
            .expect("the bundle has a divergence alert")
            .clone();
        let tests = serde_json::json!({
            "rule_files": ["out/prometheus-alerts.yaml"],
            "evaluation_interval": format!("{INTERVAL_SECS}s"),
            "tests": [promtool_case("the bundle's comparator, through HAProxy", &series, &rule, true)],
        });
        promtool_passes(&promtool, &dir, &tests);
    }

    // SIGTERM, as systemd stops it (KillSignal=SIGTERM): a clean exit with the final counts.
    let status = Command::new("kill")
        .args(["-TERM", &comparator.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = comparator.0.wait().unwrap();
    let rest = drain.join().unwrap();
    assert_eq!(exit.code(), Some(0), "{rest}");
    assert!(rest.contains("canaryc compare: stopped;"), "{rest}");
    let _ = std::fs::remove_dir_all(&dir);
}
