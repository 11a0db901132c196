//! `canaryc compare` for real: real Python 2.7 and Python 3 copies of tests/compare/app.py on
//! loopback, the real binary in front of them, and the generated divergence alert run by
//! `promtool test rules` on the series the comparator exported.
//!
//! The live tests need the interpreters (pyenv's 2.7.18 and a 3.x, or CANARYC_PY2 and
//! CANARYC_PY3) and promtool. Without them they say so and pass, except under CI=true, where
//! they must run. None of them measures time: a hanging py3 is proven harmless by every client
//! response arriving while py3 has answered nothing at all.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{canaryc, repo, stderr};

// ---------------------------------------------------------------------------------------------
// Interpreters and processes

pub(super) struct Pythons {
    pub(super) py2: PathBuf,
    pub(super) py3: PathBuf,
}

fn pyenv() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv/versions")
}

/// py2.7 and the newest py3 from pyenv (or CANARYC_PY2 / CANARYC_PY3).
fn pythons() -> Option<Pythons> {
    let py2 = std::env::var_os("CANARYC_PY2")
        .map(PathBuf::from)
        .unwrap_or_else(|| pyenv().join("2.7.18/bin/python"));
    let py3 = std::env::var_os("CANARYC_PY3")
        .map(PathBuf::from)
        .or_else(|| {
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(pyenv())
                .ok()?
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    let minor = name.strip_prefix("3.")?.split('.').next()?.parse().ok()?;
                    Some((minor, pyenv().join(&name).join("bin/python")))
                })
                .filter(|(_, p)| p.is_file())
                .collect();
            versions.sort();
            versions.pop().map(|(_, p)| p)
        })?;
    (py2.is_file() && py3.is_file()).then_some(Pythons { py2, py3 })
}

/// The interpreters, or `None` with a message (a failure under CI, which has them).
pub(super) fn need_pythons(test: &str) -> Option<Pythons> {
    let found = pythons();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI must have Python 2.7 and 3 (pyenv, or CANARYC_PY2/CANARYC_PY3)"
        );
        eprintln!(
            "SKIPPED {test}: no Python 2.7 and 3 in ~/.pyenv/versions (set CANARYC_PY2 and CANARYC_PY3)"
        );
    }
    found
}

pub(super) fn promtool() -> Option<PathBuf> {
    need_tool(
        "promtool",
        "shared/tools/install-validators",
        "the promtool half",
    )
}

/// `name` on PATH or in /usr/sbin, or `None` with a message saying `what` is skipped (a
/// failure under CI, which has it: `how` says where it comes from).
pub(super) fn need_tool(name: &str, how: &str, what: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect())
        .unwrap_or_default();
    dirs.push("/usr/sbin".into());
    let found = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have {name} ({how})"
        );
        eprintln!("SKIPPED {what}: {name} is not on PATH");
    }
    found
}

/// A child process killed when dropped.
pub(super) struct Proc(pub(super) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct App {
    _proc: Proc,
    url: String,
}

fn start_app(python: &Path, hang: bool) -> App {
    let mut cmd = Command::new(python);
    cmd.arg(repo().join("tests/compare/app.py"))
        .env("PORT", "0")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if hang {
        cmd.arg("--hang");
    }
    let mut child = cmd.spawn().expect("python starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{} printed {line:?}", python.display()));
    App {
        _proc: Proc(child),
        url: format!("http://127.0.0.1:{port}"),
    }
}

struct Comparator {
    proc: Proc,
    proxy: SocketAddr,
    admin: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// An address that refuses every connection, for as long as the test runs. A port taken from
/// the ephemeral range and released can be bound again by a test running beside this one (CI
/// saw a "dead" py3 answer); tests here bind only ephemeral ports, and nothing listens on port 1.
const REFUSED: &str = "http://127.0.0.1:1";

fn start_compare(args: &[&str]) -> Comparator {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canaryc"))
        .arg("compare")
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(args)
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .env("CANARYC_TODAY", crate::common::TODAY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("canaryc starts");
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let (proxy, admin) = loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("canaryc compare exited before listening:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("canaryc compare: listening on http://") {
            let proxy = rest.split(' ').next().unwrap().parse().unwrap();
            let admin = rest
                .split("admin on http://")
                .nth(1)
                .and_then(|a| a.split(' ').next())
                .unwrap()
                .parse()
                .unwrap();
            break (proxy, admin);
        }
    };
    // Keep draining, so the shutdown summary can be read.
    let stderr = Arc::new(Mutex::new(seen));
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        sink.lock().unwrap().push_str(&rest);
    });
    Comparator {
        proc: Proc(child),
        proxy,
        admin,
        stderr,
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.0 client (test code: the comparator itself speaks through hyper)

pub(super) struct Reply {
    pub(super) status: u16,
    /// Lower-case names.
    pub(super) headers: Vec<(String, String)>,
    /// Names as sent, in order.
    pub(super) names: Vec<String>,
    pub(super) body: String,
}

pub(super) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connects");
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: shop.test\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let pairs: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(": ")).collect();
    Reply {
        status,
        headers: pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_string()))
            .collect(),
        names: pairs.iter().map(|(k, _)| (*k).to_string()).collect(),
        body: body.to_string(),
    }
}

/// Samples of the comparator's /metrics: `name{labels}` -> value.
fn scrape(c: &Comparator) -> BTreeMap<String, f64> {
    scrape_at(c.admin)
}

/// Samples of /metrics on an admin listener.
pub(super) fn scrape_at(admin: SocketAddr) -> BTreeMap<String, f64> {
    let reply = http(admin, "GET", "/metrics", &[], "");
    assert_eq!(reply.status, 200);
    reply
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

pub(super) fn metric(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in /metrics"))
}

pub(super) fn results(
    samples: &BTreeMap<String, f64>,
    service: &str,
) -> BTreeMap<&'static str, f64> {
    ["same", "diverged", "noise", "error", "dropped"]
        .into_iter()
        .map(|r| {
            let key =
                format!("canary_compared_responses_total{{service=\"{service}\",result=\"{r}\"}}");
            (r, metric(samples, &key))
        })
        .collect()
}

/// Scrapes until `done` holds (comparisons finish off the client's path, so after the last
/// response they may still be running). A liveness bound, not a measurement.
fn scrape_until(
    c: &Comparator,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let start = Instant::now();
    loop {
        let samples = scrape(c);
        if done(&samples) {
            return samples;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never: {what}; last scrape {samples:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn sigterm(c: &mut Comparator) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args(["-TERM", &c.proc.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = c.proc.0.wait().unwrap();
    // Let the drain thread see the end of the pipe.
    std::thread::sleep(Duration::from_millis(50));
    (exit.code(), c.stderr.lock().unwrap().clone())
}

// ---------------------------------------------------------------------------------------------
// The traffic

/// One request of a round: method, path, headers, body, whether it is mirrored, and what only
/// py2's answer contains.
pub(super) type Call = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    bool,
    &'static str,
);

pub(super) const PY2: &str = "\"python\": \"2.7.18\"";

const SECRET_HEADERS: &[(&str, &str)] = &[
    ("Authorization", "Bearer s3cret-bearer"),
    ("Cookie", "session=s3cret-cookie"),
];

/// Every route of the app, planted divergences and not.
pub(super) const ROUND: &[Call] = &[
    (
        "GET",
        "/round?x=2.5",
        SECRET_HEADERS,
        "",
        true,
        "\"value\": 3.0",
    ),
    ("GET", "/divide?a=7&b=2", &[], "", true, "\"result\": 3,"),
    ("GET", "/sorted", &[], "", true, "[null, 1, 3, \"a\"]"),
    (
        "GET",
        "/token?api_key=s3cret-query",
        &[],
        "",
        true,
        "token: Y2FuYXJ5<",
    ),
    (
        "GET",
        "/tags",
        &[],
        "",
        true,
        "[\"beta\", \"alpha\", \"zeta\", \"omega\", \"mid\"]",
    ),
    ("GET", "/str", &[], "", true, "total 1234567.89101\n"),
    ("GET", "/profile", &[], "", true, PY2),
    ("GET", "/items/123", &[], "", true, PY2),
    ("GET", "/items/456", &[], "", true, PY2),
    ("GET", "/", &[], "", true, "<p>shop</p>"),
    (
        "POST",
        "/echo",
        &[("Content-Type", "application/json")],
        "{\"sku\": \"tea\"}",
        true,
        PY2,
    ),
    ("DELETE", "/items/9", &[], "", false, PY2),
];

/// Only the routes where py3 answers as py2 does: a healthy py3.
const HEALTHY_ROUND: &[Call] = &[
    ("GET", "/profile", &[], "", true, PY2),
    ("GET", "/items/123", &[], "", true, PY2),
    ("GET", "/items/456", &[], "", true, PY2),
    ("GET", "/", &[], "", true, "<p>shop</p>"),
    (
        "POST",
        "/echo",
        &[("Content-Type", "application/json")],
        "{\"sku\": \"tea\"}",
        true,
        PY2,
    ),
];

/// The divergences planted in tests/compare/app.py, as (endpoint, field).
pub(super) const PLANTED: &[(&str, &str)] = &[
    ("GET /divide", "$.result"),
    ("GET /round", "$.value"),
    ("GET /sorted", "status"),
    ("GET /str", "body:line 2"),
    ("GET /tags", "$.tags[0]"),
    ("GET /tags", "$.tags[2]"),
    ("GET /tags", "$.tags[3]"),
    ("GET /tags", "$.tags[4]"),
    ("GET /token", "body:line 3"),
];

/// The /report's diverging fields are exactly those planted in tests/compare/app.py.
pub(super) fn assert_reports_exactly_the_planted(report: &serde_json::Value) {
    let found: BTreeSet<(String, String)> = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let name = e["endpoint"].as_str().unwrap().to_string();
            e["diverging_fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (name.clone(), f.as_str().unwrap().to_string()))
        })
        .collect();
    let planted: BTreeSet<(String, String)> = PLANTED
        .iter()
        .map(|(e, f)| ((*e).to_string(), (*f).to_string()))
        .collect();
    assert_eq!(found, planted, "divergences reported vs planted");
}

/// The evaluation interval the plan's rules use (the default scrape interval), and how many
/// scrapes it takes for the divergence alert (`for 10m`, rates over 5m) to be judged.
pub(super) const INTERVAL_SECS: usize = 15;
pub(super) const SCRAPES: usize = 70;

/// Sends `rounds` rounds, scraping after each once its comparisons are done: the real series
/// of `canary_compared_responses_total`, one sample per evaluation interval.
fn drive(c: &Comparator, round: &[Call], rounds: usize) -> BTreeMap<String, Vec<f64>> {
    let mirrored_per_round = round.iter().filter(|r| r.4).count() as f64;
    let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for n in 1..=rounds {
        for (method, path, headers, body, _, py2) in round {
            let reply = http(c.proxy, method, path, headers, body);
            assert!(
                reply.status == 200 && reply.body.contains(py2),
                "{method} {path}: the client must get py2's answer, got {} {}",
                reply.status,
                reply.body
            );
        }
        let samples = scrape_until(c, "this round's comparisons finish", |s| {
            results(s, "web").values().sum::<f64>() >= mirrored_per_round * n as f64
        });
        for (key, value) in samples
            .iter()
            .filter(|(k, _)| k.starts_with("canary_compared_responses_total{"))
        {
            series.entry(key.clone()).or_default().push(*value);
        }
    }
    series
}

// ---------------------------------------------------------------------------------------------
// The promtool half

/// The divergence rule `canaryc build` generates for tests/compare/canary.plan.
fn divergence_rule(dir: &Path) -> serde_yaml::Value {
    std::fs::copy(
        repo().join("tests/compare/canary.plan"),
        dir.join("canary.plan"),
    )
    .unwrap();
    let out = canaryc(dir, &["build", "--output", "out"]);
    assert_eq!(out.status.code(), Some(0), "build: {}", stderr(&out));
    let alerts: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(dir.join("out/prometheus-alerts.yaml")).unwrap(),
    )
    .unwrap();
    let rule = alerts["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["alert"].as_str() == Some("CanaryPy3Divergence"))
        .expect("a divergence alert")
        .clone();
    let expr = rule["expr"].as_str().unwrap();
    assert!(
        expr.contains("canary_compared_responses_total{service=\"web\",result=\"diverged\"}"),
        "{expr}"
    );
    rule
}

/// A promtool test case on the captured series: the alert fires, or stays silent.
pub(super) fn promtool_case(
    name: &str,
    series: &BTreeMap<String, Vec<f64>>,
    rule: &serde_yaml::Value,
    fires: bool,
) -> serde_json::Value {
    let input: Vec<serde_json::Value> = series
        .iter()
        .map(|(s, values)| {
            let values: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
            serde_json::json!({ "series": s, "values": values.join(" ") })
        })
        .collect();
    let exp_alerts = if fires {
        let mut labels: serde_json::Value = serde_json::to_value(&rule["labels"]).unwrap();
        labels["service"] = "web".into();
        serde_json::json!([{
            "exp_labels": labels,
            "exp_annotations": serde_json::to_value(&rule["annotations"]).unwrap(),
        }])
    } else {
        serde_json::json!([])
    };
    // The last captured sample, rounded down to a whole minute.
    let eval = (SCRAPES - 1) * INTERVAL_SECS / 60;
    serde_json::json!({
        "name": name,
        "interval": format!("{INTERVAL_SECS}s"),
        "input_series": input,
        "alert_rule_test": [{
            "eval_time": format!("{eval}m"),
            "alertname": "CanaryPy3Divergence",
            "exp_alerts": exp_alerts,
        }],
    })
}

/// Writes `tests` into `dir` and runs `promtool test rules` on it: every case must pass.
pub(super) fn promtool_passes(promtool: &Path, dir: &Path, tests: &serde_json::Value) {
    std::fs::write(
        dir.join("compare.test.yaml"),
        serde_yaml::to_string(tests).unwrap(),
    )
    .unwrap();
    let out = Command::new(promtool)
        .args(["test", "rules", "compare.test.yaml"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(super) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-compare-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn finds_exactly_the_planted_divergences_and_the_alert_fires_on_its_series() {
    let Some(py) = need_pythons("compare live test") else {
        return;
    };
    let primary = start_app(&py.py2, false);
    let secondary = start_app(&py.py2, false);
    let candidate = start_app(&py.py3, false);
    let plan = repo().join("tests/compare/canary.plan");
    let mut c = start_compare(&[
        "--plan",
        plan.to_str().unwrap(),
        "--primary",
        &primary.url,
        "--secondary",
        &secondary.url,
        "--candidate",
        &candidate.url,
    ]);
    let diverging_series = drive(&c, ROUND, SCRAPES);

    // Totals: 6 of the 11 mirrored routes are planted, the other 5 differ only in noise.
    let samples = scrape(&c);
    let r = results(&samples, "web");
    let rounds = SCRAPES as f64;
    assert_eq!(r["diverged"], 6.0 * rounds, "{r:?}");
    assert_eq!(r["noise"], 5.0 * rounds, "{r:?}");
    assert_eq!(
        (r["same"], r["error"], r["dropped"]),
        (0.0, 0.0, 0.0),
        "{r:?}"
    );
    assert_eq!(
        metric(
            &samples,
            "canary_compare_requests_total{service=\"web\",mirrored=\"false\"}"
        ),
        rounds
    );
    assert_eq!(
        metric(
            &samples,
            "canary_endpoint_compared_responses_total{service=\"web\",endpoint=\"GET /items/{id}\",result=\"noise\"}"
        ),
        2.0 * rounds,
        "/items/123 and /items/456 are one endpoint"
    );

    // The report: exactly the planted divergences, none of the noise.
    let reply = http(c.admin, "GET", "/report", &[], "");
    assert_eq!(reply.status, 200);
    let report: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_reports_exactly_the_planted(&report);

    let endpoint = |name: &str| {
        report["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint"] == name)
            .unwrap_or_else(|| panic!("no {name} in the report"))
            .clone()
    };
    let noise_of = |name: &str| -> BTreeSet<String> {
        endpoint(name)["noise_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect()
    };
    // The per-request timestamp and id were learnt as noise, in JSON, HTML and a header.
    for name in [
        "GET /items/{id}",
        "GET /round",
        "POST /echo",
        "GET /profile",
    ] {
        let noise = noise_of(name);
        for field in ["$.ts", "$.id", "header:x-request-id"] {
            assert!(
                noise.contains(field),
                "{name}: {field} not learnt as noise: {noise:?}"
            );
        }
    }
    assert!(noise_of("GET /").contains("body:line 2"));
    assert!(noise_of("GET /token").contains("body:line 2"));
    // The ignore rule holds, and nothing was mirrored that the plan does not allow.
    assert!(
        !reply.body.contains("$.python"),
        "an ignored field was compared"
    );
    assert!(
        !reply.body.contains("DELETE"),
        "DELETE is not mirrored without the plan's leave"
    );

    // One sample per diverging field, with the request and both answers; secrets redacted.
    let round = &report["diverging"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "GET /round")
        .unwrap()["diverging_fields"][0];
    assert_eq!(round["field"], "$.value");
    assert_eq!(
        (round["primary"].as_str(), round["candidate"].as_str()),
        (Some("3.0"), Some("2"))
    );
    let sample = &round["sample"];
    assert_eq!(sample["request"]["uri"], "/round?x=2.5");
    assert!(
        sample["primary"]["body"]
            .as_str()
            .unwrap()
            .contains("\"value\": 3.0")
    );
    assert!(
        sample["candidate"]["body"]
            .as_str()
            .unwrap()
            .contains("\"value\": 2")
    );
    assert!(reply.body.contains("[redacted]"));
    assert!(
        !reply.body.contains("s3cret"),
        "a secret reached the report"
    );
    let token = endpoint("GET /token");
    assert_eq!(token["diverging_fields"][0], "body:line 3");

    let text = http(c.admin, "GET", "/report?format=text", &[], "").body;
    assert!(
        text.contains("GET /round: 70 of 70 compared diverged"),
        "{text}"
    );
    assert!(
        text.contains("$.value: py3 differs in 70, the py2 copies in 0: py2 3.0, py3 2"),
        "{text}"
    );
    assert!(text.contains("body:line 3: py3 differs in 70, the py2 copies in 0: py2 <p>token: Y2FuYXJ5</p>, py3 <p>token: b'Y2FuYXJ5'</p>"), "{text}");
    assert!(!text.contains("s3cret"));

    // SIGTERM: a clean exit with the final counts.
    let (code, err) = sigterm(&mut c);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("stopped; 0 same, 420 diverged, 350 noise, 0 errors, 0 dropped"),
        "{err}"
    );

    // The same py3 on the routes where it behaves: the series of a healthy candidate.
    let healthy = start_compare(&[
        "--plan",
        plan.to_str().unwrap(),
        "--primary",
        &primary.url,
        "--secondary",
        &secondary.url,
        "--candidate",
        &candidate.url,
    ]);
    let healthy_series = drive(&healthy, HEALTHY_ROUND, SCRAPES);
    let r = results(&scrape(&healthy), "web");
    assert_eq!((r["diverged"], r["noise"]), (0.0, 5.0 * rounds), "{r:?}");

    // The generated alert, on the exported series: fires on the first, silent on the second.
    let Some(promtool) = promtool() else { return };
    let dir = temp_dir("promtool");
    let rule = divergence_rule(&dir);
    let tests = serde_json::json!({
        "rule_files": ["out/prometheus-alerts.yaml"],
        "evaluation_interval": format!("{INTERVAL_SECS}s"),
        "tests": [
            promtool_case("py3 with planted divergences", &diverging_series, &rule, true),
            promtool_case("py3 on the routes where it behaves", &healthy_series, &rule, false),
        ],
    });
    promtool_passes(&promtool, &dir, &tests);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hanging_py3_never_delays_or_fails_a_client_and_fills_the_queue() {
    let Some(py) = need_pythons("compare hang test") else {
        return;
    };
    let primary = start_app(&py.py2, false);
    let secondary = start_app(&py.py2, false);
    // py3 accepts every request and never answers; the timeout is longer than any test.
    let candidate = start_app(&py.py3, true);
    let c = start_compare(&[
        "--primary",
        &primary.url,
        "--secondary",
        &secondary.url,
        "--candidate",
        &candidate.url,
        "--queue",
        "4",
        "--concurrency",
        "2",
        "--timeout",
        "1h",
    ]);
    // The client gets py2's response as py2 sent it: the same headers, in the same order and
    // case (Date and X-Request-Id differ per request in value only).
    let direct_primary: SocketAddr = primary.url.trim_start_matches("http://").parse().unwrap();
    let direct = http(direct_primary, "GET", "/items/7", &[], "");
    let proxied = http(c.proxy, "GET", "/items/7", &[], "");
    assert_eq!(proxied.names, direct.names);
    assert_eq!(proxied.names[..2], ["Date", "Server"]);
    let requests = 40;
    for i in 0..requests {
        let reply = http(c.proxy, "GET", &format!("/items/{i}"), &[], "");
        assert_eq!(reply.status, 200);
        assert!(
            reply.body.contains(&format!("\"item\": \"{i}\""))
                && reply.body.contains("\"python\": \"2.7.18\"")
        );
        assert!(
            reply
                .headers
                .iter()
                .any(|(k, v)| k == "content-type" && v == "application/json")
        );
    }
    // Every client has its answer, and py3 has given none: both workers wait on it, the queue
    // is full, and the rest were dropped, not delayed.
    let samples = scrape_until(&c, "the two workers wait on py3", |s| {
        metric(s, "canary_compare_in_flight{service=\"app\"}") == 2.0
    });
    let r = results(&samples, "app");
    let pending = metric(&samples, "canary_compare_pending{service=\"app\"}");
    let queue_full = metric(
        &samples,
        "canary_compare_dropped_total{service=\"app\",reason=\"queue_full\"}",
    );
    assert_eq!(
        (r["same"], r["diverged"], r["noise"], r["error"]),
        (0.0, 0.0, 0.0, 0.0),
        "{r:?}"
    );
    assert_eq!(r["dropped"], queue_full);
    // The requests, and the one that compared the headers.
    assert_eq!(
        pending + queue_full,
        f64::from(requests + 1),
        "every mirrored request is pending or dropped"
    );
    // Two running, four queued, and at most one taken off the queue waiting for a worker.
    assert!((6.0..=7.0).contains(&pending), "pending {pending}");
    assert!(
        queue_full >= f64::from(requests + 1) - 7.0,
        "dropped {queue_full}"
    );
}

#[test]
fn a_py3_that_refuses_connections_is_an_error_not_a_client_failure() {
    let Some(py) = need_pythons("compare refused test") else {
        return;
    };
    let primary = start_app(&py.py2, false);
    let secondary = start_app(&py.py2, false);
    let dead = REFUSED.to_string();
    let c = start_compare(&[
        "--primary",
        &primary.url,
        "--secondary",
        &secondary.url,
        "--candidate",
        &dead,
    ]);
    for _ in 0..20 {
        let reply = http(c.proxy, "GET", "/round?x=2.5", &[], "");
        assert_eq!(reply.status, 200);
        assert!(reply.body.contains("\"value\": 3.0"));
    }
    let samples = scrape_until(&c, "20 comparisons end", |s| {
        results(s, "app")["error"] == 20.0
    });
    assert_eq!(
        metric(
            &samples,
            "canary_compare_mirror_errors_total{service=\"app\",copy=\"candidate\",reason=\"connect\"}"
        ),
        20.0
    );
    assert_eq!(results(&samples, "app")["diverged"], 0.0);
}

#[test]
fn a_dead_primary_is_a_502_for_the_client() {
    let dead = REFUSED.to_string();
    let c = start_compare(&[
        "--primary",
        &dead,
        "--secondary",
        &dead,
        "--candidate",
        &dead,
    ]);
    let reply = http(c.proxy, "GET", "/", &[], "");
    assert_eq!(reply.status, 502);
    assert!(reply.body.contains("py2"), "{}", reply.body);
    let samples = scrape_until(&c, "the comparison ends", |s| {
        results(s, "app")["error"] == 1.0
    });
    assert_eq!(
        metric(
            &samples,
            "canary_compare_primary_errors_total{service=\"app\"}"
        ),
        1.0
    );
}

#[test]
fn bad_flags_and_plans_are_refused_before_listening() {
    let dir = temp_dir("flags");
    let run = |args: &[&str]| {
        let mut all = vec![
            "compare",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ];
        all.extend_from_slice(args);
        canaryc(&dir, &all)
    };
    let urls = [
        "--secondary",
        "http://127.0.0.1:1",
        "--candidate",
        "http://127.0.0.1:1",
    ];
    let https = run(&[&["--primary", "https://py2.internal"][..], &urls].concat());
    assert_eq!(https.status.code(), Some(2));
    assert!(
        stderr(&https).contains("https upstreams are not supported"),
        "{}",
        stderr(&https)
    );
    let missing = canaryc(&dir, &["compare", "--listen", ":0"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("--primary"));

    std::fs::write(
        dir.join("bad.plan"),
        "plan shop {\n  python = 2.7 -> 3.12\n  compare { ignore_fields = [\"meta\"] }\n}\n",
    )
    .unwrap();
    let bad = run(&[
        &["--primary", "http://127.0.0.1:1", "--plan", "bad.plan"][..],
        &urls,
    ]
    .concat());
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("CNR422"), "{}", stderr(&bad));

    std::fs::write(
        dir.join("fleet.plan"),
        "plan shop {\n  python = 2.7 -> 3.12\n  service web { }\n  service api { }\n}\n",
    )
    .unwrap();
    let fleet = run(&[
        &["--primary", "http://127.0.0.1:1", "--plan", "fleet.plan"][..],
        &urls,
    ]
    .concat());
    assert_eq!(fleet.status.code(), Some(2));
    assert!(stderr(&fleet).contains("--service"), "{}", stderr(&fleet));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_teaches_the_model() {
    let out = canaryc(&repo(), &["compare", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = crate::common::stdout(&out);
    for phrase in [
        "--listen",
        "--secondary",
        "noise",
        "Diffy",
        "GET, HEAD and OPTIONS",
        "canary_compared_responses_total",
        "/report",
        "SIGTERM",
        "Examples:",
    ] {
        assert!(help.contains(phrase), "--help lacks {phrase:?}");
    }
}
