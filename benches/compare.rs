//! `canaryc compare` under load: what the proxy costs a client, and what a dead py3 costs memory.
//!
//!     cargo bench --bench compare -- latency   # p50/p99 through canaryc, HAProxy and nginx vs direct
//!     cargo bench --bench compare -- rss       # RSS over >= 100k requests with a dead py3
//!     cargo bench --bench compare -- rss slow  # ... with a py3 that takes 100ms per request
//!
//! latency: real py2.7 copies of tests/compare/app.py (primary and secondary) and a real py3
//! (candidate), the release binary in front, mirroring on. One client sends requests on a fixed
//! schedule (request k at k / rate, however long answers take) to py2 directly, through canaryc,
//! and through HAProxy and nginx (the peers: proxies that only forward). The machine is shared
//! and noisy (other builds run beside it), so the targets are interleaved request by request,
//! target order rotating, and the run is cut into blocks (default 40 blocks of 200 requests per
//! target). Each proxy's p99 overhead is then read block by block, as its p99 minus direct's p99
//! in the same block, and summarised by the median over blocks with a 95% confidence interval
//! and quartiles: a burst of noise spoils a block or two, not the figure. Pooled quantiles are
//! printed too. Each request is a new connection (wsgiref speaks HTTP/1.0), timed from connect
//! to the last byte; the bench checks that canaryc proxied exactly the requests sent to it.
//! Then the same with DELETE, which canaryc does not mirror (its hop alone), and against a
//! trivial Rust backend that answers from memory (the floor: the hop's cost without Python's).
//! CPU time per request is read from /proc/PID/task/*/schedstat.
//!
//! rss: the proxy in front of py2 with a py3 that never answers (or answers slowly): the queue
//! fills, comparisons are dropped, and the comparator's RSS (from /proc) is sampled every 10,000
//! requests of a closed-loop load of 8 clients. Paths include unique words, so the endpoint table
//! is pushed past its bound too.
//!
//! With CANARYC_BENCH_BASELINE=PATH (another build of canaryc, e.g. main's), that build runs
//! beside this one, in the same blocks and against the same copies: a before/after on the same
//! machine at the same moment.
//!
//! Environment: CANARYC_PY2 and CANARYC_PY3 (default: pyenv's 2.7.18 and newest 3.x),
//! CANARYC_BENCH_BLOCKS (default 40), CANARYC_BENCH_PER_BLOCK (requests per target per block,
//! default 200), CANARYC_BENCH_RATE (requests per second in all, default 300),
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

/// Latencies by target, then by block.
type Blocks = Vec<Vec<Vec<Duration>>>;

/// `blocks` blocks at `rate` requests per second in all; in each block every target gets `per`
/// requests, the targets alternating request by request in cycles, so that within a block all
/// see the same machine at the same moment. Each cycle's order is a fresh (seeded) shuffle:
/// merely rotating a fixed order would keep the same target always right after canaryc, and
/// that one would take all of the mirrored requests' CPU (the second py2 copy, py3, the
/// comparison) that lands just after a canaryc request. The schedule is fixed (request k is
/// due at k / rate from the start, whatever the answers took), so a slow answer does not thin
/// out the requests that follow it. Every answer must be an HTTP response.
fn interleaved(
    targets: &[SocketAddr],
    blocks: usize,
    per: usize,
    rate: usize,
    paths: &[&str],
) -> Blocks {
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let k = targets.len();
    let mut out: Blocks = vec![vec![Vec::with_capacity(per); blocks]; k];
    let start = Instant::now();
    let mut late = 0;
    let mut n = 0u32;
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut order: Vec<usize> = (0..k).collect();
    // Direct requests (target 0) by whether canaryc (target 1) answered the one just before:
    // what its mirrored work, running after its answer, costs the next client on this host.
    let mut after: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut prev = None;
    for b in 0..blocks {
        for i in 0..per {
            let path = paths[(b * per + i) % paths.len()];
            // Fisher-Yates on xorshift64.
            for j in (1..k).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(j, (rng % (j as u64 + 1)) as usize);
            }
            for &t in &order {
                let due = start + gap * n;
                n += 1;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                } else if now - due > gap {
                    late += 1;
                }
                let (took, body) = get(targets[t], path);
                assert!(
                    body.starts_with(b"HTTP/1.") && body.windows(4).any(|w| w == b"\r\n\r\n"),
                    "no HTTP answer from {}",
                    targets[t]
                );
                out[t][b].push(took);
                if t == 0 {
                    after[usize::from(prev == Some(1))].push(took);
                }
                prev = Some(t);
            }
        }
    }
    let sent = n as usize;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "  sent {sent} requests in {wall:.1}s ({:.0}/s, asked {rate}/s); {late} started more than one gap late",
        sent as f64 / wall
    );
    if blocks > 1 && !after[1].is_empty() {
        let [other, canaryc] = after.map(sorted);
        println!(
            "  direct right after a canaryc request: p50 {:.0}us p99 {:.0}us ({} requests); after any other: p50 {:.0}us p99 {:.0}us ({})",
            us(quantile(&canaryc, 0.5)),
            us(quantile(&canaryc, 0.99)),
            canaryc.len(),
            us(quantile(&other, 0.5)),
            us(quantile(&other, 0.99)),
            other.len()
        );
    }
    out
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}

/// The median of `v` and a 95% confidence interval for it from order statistics (the ranks
/// n/2 -+ 1.96 sqrt(n)/2 of a binomial(n, 1/2)), plus the quartiles: how far the per-block
/// figures spread.
fn median_ci(mut v: Vec<f64>) -> (f64, f64, f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let at = |q: f64| v[(((n - 1) as f64) * q).round() as usize];
    let half = 0.98 * (n as f64).sqrt();
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (at(0.5), v[lo], v[hi], at(0.25), at(0.75))
}

/// Pooled quantiles of each target and each proxy's pooled overhead over the first (direct);
/// then, block by block, each proxy's p50 and p99 minus direct's p50 and p99 in the same block,
/// summarised by the median over blocks (what a typical stretch of time shows) and its spread.
fn report(name: &str, names: &[&str], runs: &Blocks) {
    let blocks = runs[0].len();
    let per = runs[0][0].len();
    println!("  {name}: {blocks} blocks of {per} requests per target, interleaved");
    let pooled: Vec<Vec<Duration>> = runs
        .iter()
        .map(|r| sorted(r.iter().flatten().copied().collect()))
        .collect();
    let mut head = format!("    {:>6}", "pooled");
    for n in names {
        head.push_str(&format!(" {n:>12}"));
    }
    for n in &names[1..] {
        head.push_str(&format!(" {:>14}", format!("+{n}")));
    }
    println!("{head}");
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
        let values: Vec<f64> = pooled.iter().map(|r| us(quantile(r, q))).collect();
        let mut line = format!("    {label:>6}");
        for v in &values {
            line.push_str(&format!(" {v:>10.0}us"));
        }
        for v in &values[1..] {
            line.push_str(&format!(" {:>+12.0}us", v - values[0]));
        }
        println!("{line}");
    }
    let per_block = |t: usize, q: f64| -> Vec<f64> {
        (0..blocks)
            .map(|b| us(quantile(&sorted(runs[t][b].clone()), q)))
            .collect()
    };
    println!(
        "    per block, proxy minus direct in the same block: median over {blocks} blocks [95% CI of the median] (quartiles)"
    );
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let direct = per_block(0, q);
        for (t, n) in names.iter().enumerate().skip(1) {
            let d: Vec<f64> = per_block(t, q)
                .iter()
                .zip(&direct)
                .map(|(p, d)| p - d)
                .collect();
            let under = d.iter().filter(|x| **x < 1000.0).count();
            let (m, lo, hi, q1, q3) = median_ci(d);
            println!(
                "    {label} +{n:<9} {m:>+8.0}us [{lo:>+6.0}, {hi:>+6.0}] ({q1:>+6.0} .. {q3:>+6.0}); under +1ms in {under} of {blocks} blocks"
            );
        }
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
    let mut cmd = Command::new(bin);
    cmd.args(["-f", cfg.to_str()?, "-db"]);
    spawn_peer(cmd, port)
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

/// CPU time of a process and its children (nginx's worker is its master's child), all
/// threads, from /proc/PID/task/*/schedstat (nanoseconds on a CPU).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let read = |name: &str| std::fs::read_to_string(task.path().join(name)).unwrap_or_default();
        total += read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        for child in read("children").split_whitespace() {
            total += child.parse().map_or(0, cpu_ns);
        }
    }
    total
}

/// nginx in front of `backend`: a second reference proxy, one worker, no logging.
fn start_nginx(backend: SocketAddr, dir: &Path) -> Option<(Proc, SocketAddr)> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).is_file())?;
    let port = free_port();
    let root = dir.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&root).ok()?;
    let r = root.display();
    std::fs::write(
        root.join("nginx.conf"),
        format!(
            "worker_processes 1;\nerror_log {r}/error.log;\npid {r}/nginx.pid;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n  fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n  scgi_temp_path {r}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    location / {{ proxy_pass http://{backend}; proxy_set_header Host $host; }}\n  }}\n}}\n"
        ),
    )
    .ok()?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "-p",
        root.to_str()?,
        "-c",
        "nginx.conf",
        "-g",
        "daemon off;",
    ]);
    spawn_peer(cmd, port)
}

/// Starts a reference proxy and waits until it accepts on `port`.
fn spawn_peer(mut cmd: Command, port: u16) -> Option<(Proc, SocketAddr)> {
    let child = cmd
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

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The reference proxies in front of `backend`, with their names and pids.
fn peers(backend: SocketAddr, dir: &Path) -> Vec<(&'static str, Proc, SocketAddr)> {
    let mut out = Vec::new();
    match start_haproxy(backend, dir) {
        Some((p, at)) => out.push(("haproxy", p, at)),
        None => println!("  (no haproxy: its column is left out)"),
    }
    match start_nginx(backend, dir) {
        Some((p, at)) => out.push(("nginx", p, at)),
        None => println!("  (no nginx: its column is left out)"),
    }
    out
}

/// canaryc's count of requests proxied so far (mirrored and not).
fn proxied(admin: SocketAddr) -> f64 {
    let m = scrape(admin);
    sample(
        &m,
        "canary_compare_requests_total{service=\"app\",mirrored=\"false\"}",
    ) + sample(
        &m,
        "canary_compare_requests_total{service=\"app\",mirrored=\"true\"}",
    )
}

fn latency(py2: &Path, py3: &Path) {
    let blocks = env_usize("CANARYC_BENCH_BLOCKS", 40);
    let per = env_usize("CANARYC_BENCH_PER_BLOCK", 200);
    let rate = env_usize("CANARYC_BENCH_RATE", 300);
    let dir = std::env::temp_dir().join(format!("canaryc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (_p, primary) = start_app(py2, &[]);
    let (_s, secondary) = start_app(py2, &[]);
    let (_c, candidate) = start_app(py3, &[]);
    let (cmp, proxy, admin) = start_compare(&primary, &secondary, &candidate, &[]);
    let peers1 = peers(addr(&primary), &dir);
    let mut targets = vec![addr(&primary), proxy];
    let mut names = vec!["direct", "canaryc"];
    for (n, _, at) in &peers1 {
        targets.push(*at);
        names.push(n);
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
        "latency at {rate} requests/s in all (load average {}); canaryc mirrors to a py2 secondary and a py3 candidate, the peers only forward:",
        load_average()
    );
    // Warm up every path (interpreter caches, pools).
    interleaved(&targets, 1, 50, rate, &paths);
    // A production-sized endpoint table (the default bound is 200), so that /metrics is as
    // long as a real scrape's.
    let admins: Vec<SocketAddr> = std::iter::once(admin)
        .chain(before.iter().map(|b| b.2))
        .collect();
    for at in std::iter::once(proxy).chain(before.iter().map(|b| b.1)) {
        for i in 0..env_usize("CANARYC_BENCH_ENDPOINTS", 200) {
            get(at, &format!("/w/{}", word(i)));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let metrics_bytes = scrape(admin).len();
    let (cpu0, count0) = (cpu_ns(cmp.0.id()), proxied(admin));
    // Prometheus scrapes the admin listeners meanwhile (here every second; 15s is usual).
    let scraping = Arc::new(AtomicUsize::new(1));
    let scraper = {
        let scraping = scraping.clone();
        std::thread::spawn(move || {
            while scraping.load(Ordering::Relaxed) == 1 {
                for at in &admins {
                    scrape(*at);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    println!("  (/metrics is {metrics_bytes} bytes, scraped every second during the run)");
    let runs = interleaved(&targets, blocks, per, rate, &paths);
    scraping.store(0, Ordering::Relaxed);
    scraper.join().unwrap();
    // Let the last comparisons finish before reading the CPU they took.
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, count) = (cpu_ns(cmp.0.id()) - cpu0, proxied(admin) - count0);
    let sent = blocks * per;
    assert_eq!(
        count as usize, sent,
        "canaryc proxied {count} requests, the bench sent it {sent}"
    );
    report("py2 (wsgiref, threaded), GET, mirrored", &names, &runs);
    println!(
        "    canaryc proxied {count} of the {sent} requests sent to it; CPU per request (proxy, two mirrored requests, comparison): {:.0}us; load average now {}",
        cpu as f64 / 1000.0 / sent as f64,
        load_average()
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
    interleaved(&targets, 1, 50, rate, &deletes);
    let pids: Vec<u32> = std::iter::once(cmp.0.id())
        .chain(peers1.iter().map(|(_, p, _)| p.0.id()))
        .collect();
    let cpu0: Vec<u64> = pids.iter().map(|p| cpu_ns(*p)).collect();
    println!("  (load average {})", load_average());
    let runs = interleaved(&targets, blocks, per, rate, &deletes);
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| (cpu_ns(*p) - c0) as f64 / 1000.0 / sent as f64)
        .collect();
    report("py2, DELETE, not mirrored", &names, &runs);
    let mut line = String::from("    CPU per request:");
    for (n, c) in names[1..].iter().zip(&cpu) {
        line.push_str(&format!(" {n} {c:.0}us"));
    }
    println!("{line}");

    let backend = floor_backend();
    let url = format!("http://{backend}");
    let (cmp2, proxy2, _) = start_compare(&url, &url, &url, &[]);
    let peers2 = peers(backend, &dir);
    let mut targets = vec![backend, proxy2];
    for (_, _, at) in &peers2 {
        targets.push(*at);
    }
    let before2 = baseline().map(|bin| start_compare_with(&bin, &url, &url, &url, &[]));
    if let Some((_, at, _)) = &before2 {
        targets.push(*at);
    }
    interleaved(&targets, 1, 50, rate, &["/items/123"]);
    println!("  (load average {})", load_average());
    let cpu0 = cpu_ns(cmp2.0.id());
    let runs = interleaved(&targets, blocks, per, rate, &["/items/123"]);
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_ns(cmp2.0.id()) - cpu0;
    report(
        "floor: a Rust backend answering from memory, GET, mirrored",
        &names,
        &runs,
    );
    println!(
        "    canaryc CPU per request: {:.0}us; load average now {}",
        cpu as f64 / 1000.0 / sent as f64,
        load_average()
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
        "RSS of canaryc compare (queue 1000, concurrency 16, timeout 5s) with a py3 that {}; load average {}:",
        if slow {
            "takes 100ms per request"
        } else {
            "never answers"
        },
        load_average()
    );
    println!(
        "  {:>6} {:>8} {:>9} {:>10} {:>10} {:>8} {:>8} {:>8}",
        "secs", "requests", "RSS KiB", "compared", "dropped", "errors", "pending", "req/s"
    );
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let sent = sent.clone();
            let failed = failed.clone();
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
                    let (_, body) = get(proxy, &path);
                    // Every client gets py2's answer (a 404 for the unique words).
                    if !(body.starts_with(b"HTTP/1.0 200") || body.starts_with(b"HTTP/1.0 404")) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let results = |m: &str, name: &str| {
        sample(
            m,
            &format!("canary_compared_responses_total{{service=\"app\",result=\"{name}\"}}"),
        )
    };
    // (requests, RSS KiB) once a second.
    let mut samples: Vec<(usize, u64)> = Vec::new();
    let mut next = Duration::ZERO;
    loop {
        let n = sent.load(Ordering::Relaxed).min(total);
        if start.elapsed() >= next {
            let rss = rss_kib(pid);
            let m = scrape(admin);
            println!(
                "  {:>6.0} {n:>8} {rss:>9} {:>10} {:>10} {:>8} {:>8} {:>8.0}",
                start.elapsed().as_secs_f64(),
                results(&m, "same") + results(&m, "diverged") + results(&m, "noise"),
                results(&m, "dropped"),
                results(&m, "error"),
                sample(&m, "canary_compare_pending{"),
                n as f64 / start.elapsed().as_secs_f64()
            );
            samples.push((n, rss));
            next += Duration::from_secs(5);
        }
        if n >= total {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in clients {
        c.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let last = rss_kib(pid);
    samples.push((total, last));
    let m = scrape(admin);
    let mirrored = sample(
        &m,
        "canary_compare_requests_total{service=\"app\",mirrored=\"true\"}",
    );
    let compared = results(&m, "same") + results(&m, "diverged") + results(&m, "noise");
    let (dropped, errors) = (results(&m, "dropped"), results(&m, "error"));
    let pending = sample(&m, "canary_compare_pending{");
    println!(
        "  {total} requests in {secs:.0}s ({:.0}/s), {} failed for the client; {mirrored} mirrorable: {compared} compared, {dropped} dropped, {errors} errors, {pending} still pending",
        total as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
    for line in m
        .lines()
        .filter(|l| {
            l.starts_with("canary_compare_dropped_total{")
                || l.starts_with("canary_compare_mirror_errors_total{")
        })
        .filter(|l| !l.ends_with(" 0"))
    {
        println!("    {line}");
    }
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    // Flat: after the first fifth (the queue filling, the endpoint table reaching its bound),
    // RSS moves within a band and its least-squares slope is small.
    let steady: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(n, _)| *n >= total / 5)
        .map(|(n, r)| (*n as f64, *r as f64))
        .collect();
    let (lo, hi) = steady
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), (_, r)| {
            (lo.min(*r), hi.max(*r))
        });
    let k = steady.len() as f64;
    let (mx, my) = (
        steady.iter().map(|s| s.0).sum::<f64>() / k,
        steady.iter().map(|s| s.1).sum::<f64>() / k,
    );
    let slope = steady.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>()
        / steady.iter().map(|(x, _)| (x - mx).powi(2)).sum::<f64>();
    println!(
        "  RSS: {} KiB at the start, {peak} KiB at most, {last} KiB after {total} requests; from {} requests on: {lo:.0}..{hi:.0} KiB ({} samples), slope {:+.1} KiB per 10k requests; load average {}",
        samples[0].1,
        total / 5,
        steady.len(),
        slope * 10_000.0,
        load_average()
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
