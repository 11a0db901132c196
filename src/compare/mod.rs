//! `canaryc compare`: a Diffy-style response comparator in front of py2 (docs/compare.md).
//!
//! Clients talk to the proxy, which forwards every request to py2 (the primary) and streams
//! py2's response back unchanged. Safe requests (and the methods the plan allows) are also
//! queued, off the client's path, for a worker that sends them to a second py2 copy (the
//! secondary) and to py3 (the candidate), and compares py3's response with py2's field by
//! field. What py2 and the secondary disagree on is noise (timestamps, ids); a field is a
//! divergence only when py3 differs there clearly more often (Diffy's rule, noise.rs). An
//! admin listener serves `/metrics`, which the generated divergence alert reads, and `/report`.
//!
//! The pure parts (route.rs, field.rs, endpoint.rs, diff.rs, noise.rs, stats.rs, sample.rs,
//! report.rs, metrics.rs) do no I/O and are unit-tested; proxy.rs, mirror.rs and admin.rs are
//! the network, on hyper. Two tokio runtimes keep comparisons off the client's thread: the
//! proxy's and the comparator's, one thread each, so parsing a large JSON body, or rendering
//! /metrics and /report (the admin listener runs on the comparator's thread), never delays a
//! client's request.

pub mod admin;
pub mod body;
pub mod budget;
pub mod diff;
pub mod endpoint;
pub mod field;
pub mod headers;
pub mod metrics;
pub mod mirror;
pub mod noise;
pub mod proxy;
pub mod report;
pub mod resolve;
pub mod route;
pub mod rules;
pub mod sample;
pub mod sampling;
pub mod stats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Uri;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::mpsc;

use crate::model::Compare;
use body::ProxyBody;
use metrics::{Counters, DropReason, Gauges};
use stats::{Outcome, Stats};

pub type Client =
    hyper_util::client::legacy::Client<HttpConnector<resolve::CachingResolver>, ProxyBody>;

/// A copy's base URL: `http://HOST:PORT` with an optional path prefix.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// As given, for messages.
    pub url: String,
    authority: http::uri::Authority,
    prefix: String,
}

impl Upstream {
    pub fn parse(text: &str) -> Result<Upstream, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("`{text}` is not a URL: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{text}`: https upstreams are not supported; run the comparator next to the copies and give their plain http address"
                ));
            }
            _ => return Err(format!("`{text}` is not an http:// URL")),
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{text}` has no host"))?;
        if uri.query().is_some() {
            return Err(format!(
                "`{text}` has a query string; give the copy's base URL"
            ));
        }
        Ok(Upstream {
            url: text.to_string(),
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The URL of `path_and_query` on this copy.
    pub fn uri(&self, path_and_query: &str) -> Uri {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.prefix))
            .build()
            .unwrap_or_default()
    }
}

/// Everything `serve` needs; `cli/compare.rs` builds it from flags and the plan.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `service` label: the plan's service name, which the generated alerts select.
    pub service: String,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub primary: Upstream,
    pub secondary: Upstream,
    pub candidate: Upstream,
    pub compare: Compare,
    /// How long shutdown waits for clients' requests, then for comparisons, to finish.
    pub grace: Duration,
}

/// State shared by the proxy, the workers and the admin listener.
pub struct Shared {
    pub service: String,
    pub primary: Upstream,
    pub secondary: Upstream,
    pub candidate: Upstream,
    pub namer: endpoint::Namer,
    pub rules: rules::RuleTable,
    /// The share of mirrorable requests compared.
    pub sampler: sampling::Sampler,
    pub stats: Mutex<Stats>,
    pub counters: Counters,
    pub budget: Arc<budget::Budget>,
    pub queue: mpsc::Sender<mirror::Job>,
    pub queue_capacity: usize,
    pub concurrency: usize,
    pub pending: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_body: usize,
    pub timeout: Duration,
}

impl Shared {
    pub fn record(&self, endpoint: &str, outcome: Outcome) {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(endpoint, outcome);
    }

    pub fn drop_comparison(&self, endpoint: &str, reason: DropReason) {
        self.counters.dropped(reason);
        self.record(endpoint, Outcome::Dropped);
    }

    pub fn gauges(&self) -> Gauges {
        Gauges {
            queue_capacity: self.queue_capacity as u64,
            concurrency: self.concurrency as u64,
            pending: self.pending.load(Ordering::Relaxed) as u64,
            in_flight: self.in_flight.load(Ordering::Relaxed) as u64,
            buffered_bytes: self.budget.used() as u64,
            buffered_limit: self.budget.limit() as u64,
        }
    }
}

/// The addresses the listeners are bound to (port 0 picks a free one).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
}

fn client(connect_timeout: Option<Duration>) -> Client {
    // One cache per client: the proxy's and the comparator's runtimes each have theirs.
    let mut connector = HttpConnector::new_with_resolver(resolve::CachingResolver::new());
    connector.set_nodelay(true);
    connector.set_connect_timeout(connect_timeout);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .http1_preserve_header_case(true)
        .build(connector)
}

fn bind(addr: SocketAddr, what: &str) -> Result<std::net::TcpListener, String> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))?;
    Ok(listener)
}

/// Runs the comparator until SIGTERM or SIGINT, then shuts down gracefully: stops accepting,
/// lets clients' requests in flight finish, gives comparisons in flight the grace period, and
/// returns the final counts. `ready` is called once both listeners are bound.
pub fn serve(config: Config, ready: impl FnOnce(Bound)) -> Result<[u64; 5], String> {
    let proxy_listener = bind(config.listen, "proxy")?;
    let admin_listener = bind(config.admin, "admin")?;
    let bound = Bound {
        proxy: proxy_listener.local_addr().map_err(|e| e.to_string())?,
        admin: admin_listener.local_addr().map_err(|e| e.to_string())?,
    };
    let compare = &config.compare;
    let queue_capacity = compare.queue.value as usize;
    let (queue, jobs) = mpsc::channel(queue_capacity);
    let shared = Arc::new(Shared {
        service: config.service.clone(),
        primary: config.primary.clone(),
        secondary: config.secondary.clone(),
        candidate: config.candidate.clone(),
        namer: endpoint::Namer::new(&compare.endpoints),
        rules: rules::RuleTable::new(compare),
        sampler: sampling::Sampler::new(compare.sample.value),
        stats: Mutex::new(Stats::new(
            noise::Thresholds {
                relative: compare.relative_threshold.value,
                absolute: compare.absolute_threshold.value,
            },
            compare.max_endpoints.value as usize,
        )),
        counters: Counters::default(),
        budget: budget::Budget::new(
            usize::try_from(compare.max_buffered.value).unwrap_or(usize::MAX),
        ),
        queue,
        queue_capacity,
        concurrency: compare.concurrency.value as usize,
        pending: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        max_body: usize::try_from(compare.max_body.value).unwrap_or(usize::MAX),
        timeout: Duration::from_millis(compare.timeout.value),
    });

    let mirror_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("canaryc-compare")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the comparison runtime: {e}"))?;
    // The client's path on one thread: a request, its connection to py2 and the response never
    // hop threads, so no wakeup waits for another thread to be scheduled (on a busy host that
    // wait is most of a proxy's cost). One core proxies tens of thousands of requests a second.
    let proxy_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the proxy runtime: {e}"))?;
    {
        let shared = shared.clone();
        let timeout = shared.timeout;
        mirror_runtime.spawn(async move { mirror::run(jobs, shared, client(Some(timeout))).await });
    }
    // The admin listener on the comparator's thread too: rendering /metrics (a line per
    // endpoint and result) or /report under the stats lock would otherwise stall every
    // client's request on the proxy's one thread for as long as a scrape takes.
    let admin_task = {
        let _guard = mirror_runtime.enter();
        let admin_listener =
            tokio::net::TcpListener::from_std(admin_listener).map_err(|e| e.to_string())?;
        mirror_runtime.spawn(accept_admin(admin_listener, shared.clone()))
    };
    ready(bound);

    proxy_runtime.block_on(async {
        let proxy_listener = tokio::net::TcpListener::from_std(proxy_listener).map_err(|e| e.to_string())?;
        let graceful = GracefulShutdown::new();
        let primary_client = client(None);
        let signal = shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                accepted = proxy_listener.accept() => {
                    let Ok((stream, peer)) = accepted else {
                        // Out of file descriptors, most likely: let connections close first.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let shared = shared.clone();
                    let client = primary_client.clone();
                    let service = service_fn(move |req| proxy::handle(req, shared.clone(), client.clone(), peer));
                    // py2's response as it was: its header case, and no Date it did not send.
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .preserve_header_case(true)
                        .auto_date_header(false)
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                () = &mut signal => break,
            }
        }
        drop(proxy_listener);
        let grace = config.grace;
        tokio::select! {
            _ = graceful.shutdown() => {}
            _ = tokio::time::sleep(grace) => {}
            _ = shutdown_signal() => {}
        }
        let deadline = tokio::time::Instant::now() + grace;
        while shared.pending.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        admin_task.abort();
        Ok::<(), String>(())
    })?;
    mirror_runtime.shutdown_background();
    let totals = shared
        .stats
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .totals();
    Ok(totals)
}

/// The admin listener runs until the very end, so comparisons that drain after the proxy
/// stopped can still be scraped.
async fn accept_admin(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        let service = service_fn(move |req| admin::handle(req, shared.clone()));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// SIGTERM (systemd, Kubernetes, docker stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_plain_http_base_urls() {
        let u = Upstream::parse("http://127.0.0.1:8001/").unwrap();
        assert_eq!(
            u.uri("/items/1?x=2").to_string(),
            "http://127.0.0.1:8001/items/1?x=2"
        );
        let prefixed = Upstream::parse("http://py2.internal:8000/shop").unwrap();
        assert_eq!(
            prefixed.uri("/items").to_string(),
            "http://py2.internal:8000/shop/items"
        );
        assert!(
            Upstream::parse("https://py2.internal")
                .unwrap_err()
                .contains("https")
        );
        assert!(Upstream::parse("py2.internal:8000").is_err());
        assert!(Upstream::parse("http://py2.internal/?a=1").is_err());
    }
}
