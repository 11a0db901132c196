//! `canaryc compare` under load: what the proxy costs a client, and what a dead py3 costs memory.
//!
//!     cargo bench --bench compare -- latency   # p50/p99 through canaryc and HAProxy vs direct
//!     cargo bench --bench compare -- rss       # RSS over >= 100k requests with a dead py3
//!     cargo bench --bench compare -- rss slow  # ... with a py3 that takes 100ms per request
//!
//! latency: real py2.7 copies of tests/compare/app.py (primary and secondary) and a real py3
//! (candidate), the release binary in front, mirroring on. One client sends requests at a fixed
//! rate, in rounds: one straight to py2, one through canaryc, one through HAProxy (the peer: a
//! proxy that only forwards), rotating which goes first, so all see the same machine at the
//! same moment (it is shared and noisy). Each request is a new connection (wsgiref speaks
//! HTTP/1.0), measured from connect to the last byte. Then the same with DELETE, which canaryc
//! does not mirror (its hop alone), and against a trivial Rust backend that answers from memory
//! (the floor: the hop's cost without Python's). canaryc's CPU time per request is read from
//! /proc/PID/task/*/schedstat.
//!
//! rss: the proxy in front of py2 with a py3 that never answers (or answers slowly): the queue
//! fills, comparisons are dropped, and the comparator's RSS (from /proc) is sampled every 10,000
//! requests of a closed-loop load of 8 clients. Paths include unique words, so the endpoint table
//! is pushed past its bound too.
//!
//! With CANARYC_BENCH_BASELINE=PATH (another build of canaryc, e.g. main's), that build runs
//! beside this one, in the same rounds and against the same copies: a before/after on the same
//! machine at the same moment.
//!
//! Environment: CANARYC_PY2 and CANARYC_PY3 (default: pyenv's 2.7.18 and newest 3.x),
//! CANARYC_BENCH_PAIRS (rounds, default 3000), CANARYC_BENCH_RATE (requests per second, default 200),
//! CANARYC_BENCH_REQUESTS (rss, default 100000).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pythons() -> Option<(PathBuf, PathBuf)> {
    let pyenv = PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".pyenv/versions");
    let py2 = std::env::var_os("CANARYC_PY2")
        .map(PathBuf::from)
        .unwrap_or_else(|| pyenv.join("2.7.18/bin/python"));
    let py3 = std::env::var_os("CANARYC_PY3")
        .map(PathBuf::from)
        .or_else(|| {
            let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(&pyenv)
                .ok()?
                .filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    let minor = name.strip_prefix("3.")?.split('.').next()?.parse().ok()?;
                    Some((minor, pyenv.join(&name).join("bin/python")))
                })
                .collect();
            v.sort();
            v.pop().map(|(_, p)| p)
        })?;
    (py2.is_file() && py3.is_file()).then_some((py2, py3))
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_app(python: &Path, args: &[&str]) -> (Proc, String) {
    let child = Command::new(python)
        .arg(repo().join("tests/compare/app.py"))
        .args(args)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python starts");
    let mut child = Proc(child);
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().trim_start_matches("listening ").to_string();
    (child, format!("http://127.0.0.1:{port}"))
}

fn start_compare(
    primary: &str,
    secondary: &str,
    candidate: &str,
    extra: &[&str],
) -> (Proc, SocketAddr, SocketAddr) {
    start_compare_with(
        Path::new(env!("CARGO_BIN_EXE_canaryc")),
        primary,
        secondary,
        candidate,
        extra,
    )
}

/// The baseline build, when CANARYC_BENCH_BASELINE names one.
fn baseline() -> Option<PathBuf> {
    std::env::var_os("CANARYC_BENCH_BASELINE")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

fn start_compare_with(
    bin: &Path,
    primary: &str,
    secondary: &str,
    candidate: &str,
    extra: &[&str],
) -> (Proc, SocketAddr, SocketAddr) {
    let child = Command::new(bin)
        .args([
            "compare",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ])
        .args([
            "--primary",
            primary,
            "--secondary",
            secondary,
            "--candidate",
            candidate,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("canaryc starts");
    let mut child = Proc(child);
    let mut reader = BufReader::new(child.0.stderr.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "canaryc compare exited"
        );
        if let Some(rest) = line.strip_prefix("canaryc compare: listening on http://") {
            let proxy = rest.split(' ').next().unwrap().parse().unwrap();
            let admin = rest
                .split("admin on http://")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            std::thread::spawn(move || {
                let mut sink = String::new();
                let _ = reader.read_to_string(&mut sink);
            });
            return (child, proxy, admin);
        }
    }
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

/// One HTTP/1.0 request on a new connection; the time from connect to the last byte.
/// `path` may start with a method (`DELETE /items/1`); GET otherwise.
fn get(to: SocketAddr, path: &str) -> (Duration, Vec<u8>) {
    let (method, path) = match path.split_once(' ') {
        Some((m, p)) => (m, p),
        None => ("GET", path),
    };
    let start = Instant::now();
    let mut stream = TcpStream::connect(to).expect("connects");
    let _ = stream.set_nodelay(true);
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: shop.test\r\n\r\n"
    )
    .unwrap();
    let mut body = Vec::with_capacity(512);
    stream.read_to_end(&mut body).unwrap();
    (start.elapsed(), body)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A backend that answers every request from memory, on plain threads: the floor.
fn floor_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = b"{\"item\": \"123\", \"price\": 7}";
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(body);
            });
        }
    });
    at
}

/// `rounds` rounds at `rate` requests per second, one request to each target per round, the
/// order rotating so each target goes first as often; the latencies, by target.
fn rotate(
    targets: &[SocketAddr],
    rounds: usize,
    rate: usize,
    paths: &[&str],
) -> Vec<Vec<Duration>> {
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let k = targets.len();
    let mut out = vec![Vec::with_capacity(rounds); k];
    let start = Instant::now();
    let mut late = 0;
    for i in 0..rounds {
        let path = paths[i % paths.len()];
        for j in 0..k {
            let t = (i + j) % k;
            let due = start + gap * (k * i + j) as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > gap {
                late += 1;
            }
            let (took, body) = get(targets[t], path);
            assert!(
                body.starts_with(b"HTTP/1."),
                "no HTTP answer from {}",
                targets[t]
            );
            out[t].push(took);
        }
    }
    if late * 100 > rounds * k {
        println!("  ({late} requests started more than one gap late: the machine was busy)");
    }
    out
}

/// Quantiles of each target, and each proxy's overhead over the first (direct).
fn report(name: &str, names: &[&str], mut runs: Vec<Vec<Duration>>) {
    for r in &mut runs {
        r.sort();
    }
    println!("  {name}: {} rounds", runs[0].len());
    let mut head = format!("    {:>6}", "");
    for n in names {
        head.push_str(&format!(" {n:>12}"));
    }
    for n in &names[1..] {
        head.push_str(&format!(" {:>14}", format!("+{n}")));
    }
    println!("{head}");
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
        let values: Vec<f64> = runs.iter().map(|r| us(quantile(r, q))).collect();
        let mut line = format!("    {label:>6}");
        for v in &values {
            line.push_str(&format!(" {v:>10.0}us"));
        }
        for v in &values[1..] {
            line.push_str(&format!(" {:>+12.0}us", v - values[0]));
        }
        println!("{line}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy in HTTP mode in front of `backend`, the peer: a proxy that only forwards.
fn start_haproxy(backend: SocketAddr, dir: &Path) -> Option<(Proc, SocketAddr)> {
    let bin = [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())?;
    let port = free_port();
    let cfg = dir.join(format!("haproxy-{port}.cfg"));
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\nfrontend f\n  bind 127.0.0.1:{port}\n  default_backend b\nbackend b\n  server py2 {backend}\n"
        ),
    )
    .ok()?;
    let child = Command::new(bin)
        .args(["-f", cfg.to_str()?, "-db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let child = Proc(child);
    let at: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let start = Instant::now();
    while TcpStream::connect(at).is_err() {
        if start.elapsed() > Duration::from_secs(5) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((child, at))
}

fn scrape(admin: SocketAddr) -> String {
    let (_, body) = get(admin, "/metrics");
    String::from_utf8_lossy(&body).into_owned()
}

fn sample(metrics: &str, key: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// CPU time of a process, all threads, from /proc/PID/task/*/schedstat (nanoseconds on a CPU).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| {
            s.split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

fn latency(py2: &Path, py3: &Path) {
    let rounds = env_usize("CANARYC_BENCH_PAIRS", 3000);
    let rate = env_usize("CANARYC_BENCH_RATE", 200);
    let dir = std::env::temp_dir().join(format!("canaryc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_p, primary) = start_app(py2, &[]);
    let (_s, secondary) = start_app(py2, &[]);
    let (_c, candidate) = start_app(py3, &[]);
    let (cmp, proxy, admin) = start_compare(&primary, &secondary, &candidate, &[]);
    let haproxy = start_haproxy(addr(&primary), &dir);
    let mut targets = vec![addr(&primary), proxy];
    let mut names = vec!["direct", "canaryc"];
    if let Some((_, at)) = &haproxy {
        targets.push(*at);
        names.push("haproxy");
    } else {
        println!("  (no haproxy: the peer column is left out)");
    }
    let before =
        baseline().map(|bin| start_compare_with(&bin, &primary, &secondary, &candidate, &[]));
    if let Some((_, at, _)) = &before {
        targets.push(*at);
        names.push("baseline");
    }
    let paths = [
        "/items/123",
        "/round?x=2.5",
        "/items/456",
        "/profile",
        "/token",
        "/",
    ];
    println!(
        "latency at {rate} requests/s; canaryc mirrors to a py2 secondary and a py3 candidate, HAProxy only forwards:"
    );
    // Warm up every path (interpreter caches, pools).
    rotate(&targets, 100, rate, &paths);
    let before = cpu_ns(cmp.0.id());
    let runs = rotate(&targets, rounds, rate, &paths);
    // Let the last comparisons finish before reading the CPU they took.
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_ns(cmp.0.id()) - before;
    report("py2 (wsgiref, threaded), GET, mirrored", &names, runs);
    println!(
        "    canaryc CPU per request (proxy, two mirrored requests, comparison): {:.0}us",
        cpu as f64 / 1000.0 / rounds as f64
    );
    let m = scrape(admin);
    let r = |name: &str| {
        sample(
            &m,
            &format!("canary_compared_responses_total{{service=\"app\",result=\"{name}\"}}"),
        )
    };
    println!(
        "    comparisons meanwhile: {} diverged, {} noise, {} same, {} errors, {} dropped",
        r("diverged"),
        r("noise"),
        r("same"),
        r("error"),
        r("dropped")
    );

    // The same copies, with requests canaryc does not mirror: the proxy's hop alone.
    let deletes = ["DELETE /items/1", "DELETE /items/2"];
    rotate(&targets, 100, rate, &deletes);
    let haproxy_pid = haproxy.as_ref().map(|(p, _)| p.0.id());
    let before = (cpu_ns(cmp.0.id()), haproxy_pid.map_or(0, cpu_ns));
    let runs = rotate(&targets, rounds, rate, &deletes);
    let after = (cpu_ns(cmp.0.id()), haproxy_pid.map_or(0, cpu_ns));
    report("py2, DELETE, not mirrored", &names, runs);
    let per = |a: u64, b: u64| (a - b) as f64 / 1000.0 / rounds as f64;
    println!(
        "    CPU per request: canaryc {:.0}us, haproxy {:.0}us",
        per(after.0, before.0),
        per(after.1, before.1)
    );

    let backend = floor_backend();
    let url = format!("http://{backend}");
    let (cmp2, proxy2, _) = start_compare(&url, &url, &url, &[]);
    let haproxy2 = start_haproxy(backend, &dir);
    let mut targets = vec![backend, proxy2];
    if let Some((_, at)) = &haproxy2 {
        targets.push(*at);
    }
    let before2 = baseline().map(|bin| start_compare_with(&bin, &url, &url, &url, &[]));
    if let Some((_, at, _)) = &before2 {
        targets.push(*at);
    }
    rotate(&targets, 100, rate, &["/items/123"]);
    let before = cpu_ns(cmp2.0.id());
    let runs = rotate(&targets, rounds, rate, &["/items/123"]);
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_ns(cmp2.0.id()) - before;
    report(
        "floor: a Rust backend answering from memory, GET, mirrored",
        &names,
        runs,
    );
    println!(
        "    canaryc CPU per request: {:.0}us",
        cpu as f64 / 1000.0 / rounds as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn rss(py2: &Path, py3: &Path, slow: bool) {
    let total = env_usize("CANARYC_BENCH_REQUESTS", 100_000);
    let (_p, primary) = start_app(py2, &[]);
    let (_s, secondary) = start_app(py2, &[]);
    let (_c, candidate) = if slow {
        start_app(py3, &["--sleep", "0.1"])
    } else {
        start_app(py3, &["--hang"])
    };
    let (cmp, proxy, admin) = start_compare(&primary, &secondary, &candidate, &[]);
    let pid = cmp.0.id();
    println!(
        "RSS of canaryc compare (queue 1000, concurrency 16, timeout 5s) with a py3 that {}:",
        if slow {
            "takes 100ms per request"
        } else {
            "never answers"
        }
    );
    println!(
        "  {:>8} {:>9} {:>10} {:>10} {:>9} {:>8}",
        "requests", "RSS KiB", "compared", "dropped", "pending", "req/s"
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let sent = sent.clone();
            std::thread::spawn(move || {
                loop {
                    let i = sent.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let path = match i % 10 {
                        0 => format!("/w/{}", word(i)),
                        1 => "/round?x=2.5".to_string(),
                        2 => "/token".to_string(),
                        _ => format!("/items/{}", i * 7 + t),
                    };
                    get(proxy, &path);
                }
            })
        })
        .collect();
    let mut next = 0;
    let mut first = 0;
    let mut peak = 0;
    let print = |n: usize, rss: u64| {
        let m = scrape(admin);
        let r = |name: &str| {
            sample(
                &m,
                &format!("canary_compared_responses_total{{service=\"app\",result=\"{name}\"}}"),
            )
        };
        println!(
            "  {n:>8} {rss:>9} {:>10} {:>10} {:>9} {:>8.0}",
            r("same") + r("diverged") + r("noise") + r("error"),
            r("dropped"),
            sample(&m, "canary_compare_pending{"),
            n as f64 / start.elapsed().as_secs_f64()
        );
    };
    loop {
        let n = sent.load(Ordering::Relaxed).min(total);
        if n >= next {
            let rss = rss_kib(pid);
            if next == 0 {
                first = rss;
            }
            peak = peak.max(rss);
            print(n, rss);
            next += 10_000;
        }
        if n >= total {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in clients {
        c.join().unwrap();
    }
    let last = rss_kib(pid);
    print(total, last);
    println!(
        "  RSS: {first} KiB at the start, {peak} KiB at most, {last} KiB after {total} requests"
    );
}

/// A unique lower-case word per request: an endpoint the normaliser keeps.
fn word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return w;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some((py2, py3)) = pythons() else {
        println!("SKIPPED: no Python 2.7 and 3 (pyenv, or CANARYC_PY2 and CANARYC_PY3)");
        return;
    };
    match args.first().map(String::as_str) {
        Some("rss") => rss(&py2, &py3, args.get(1).is_some_and(|a| a == "slow")),
        Some("latency") | None => latency(&py2, &py3),
        Some(other) => println!("unknown bench `{other}`: latency or rss [slow]"),
    }
}
