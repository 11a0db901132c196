//! Off the client's path: the queue of comparisons, the workers that wait for py2's response
//! to reach the client, then send the request to the second py2 copy and to py3, and compare.
//!
//! Bounds: the queue holds `queue` comparisons and the proxy never waits for room (a full
//! queue drops the comparison, `result="dropped"`); `concurrency` comparisons run at once;
//! each copy gets `timeout` to answer and `max_body` bytes of body. A py3 that hangs therefore
//! holds at most `concurrency` workers for `timeout` each, fills the queue, and costs dropped
//! comparisons, never a client's response.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Limited};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc};

use super::body::{PrimaryOutcome, ProxyBody};
use super::budget::Reservation;
use super::diff::{Body, Captured, differences};
use super::endpoint::Endpoint;
use super::metrics::{Copy, DropReason, MirrorError};
use super::sample::{Sample, SampleRequest, SampleResponse};
use super::stats::Outcome;
use super::{Client, Shared, Upstream};

/// The header mirrored requests carry, so the copies can tell them from real traffic (and, for
/// example, skip sending e-mail). Both copies get the same value, so it is never a difference.
pub const MIRROR_HEADER: &str = "x-canaryc-mirror";

/// One mirrored request and py2's complete response, queued for comparison.
#[derive(Debug)]
pub struct Job {
    pub endpoint: Endpoint,
    pub request: Mirrored,
    /// Holds the request body's bytes against the memory bound until the comparison ends.
    pub reservation: Reservation,
    pub primary: Captured,
    /// Holds py2's response body against the memory bound.
    pub primary_reservation: Reservation,
}

/// A mirrored request whose py2 response is still on its way to the client. Nothing is queued
/// (and the comparator's thread is not woken) until py2's side ends: see `body::defer`.
pub struct Pending {
    pub endpoint: Endpoint,
    pub request: Mirrored,
    pub reservation: Reservation,
    pub shared: Arc<Shared>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Queues the comparison, or counts why there is none. Never waits.
    pub fn complete(self, outcome: PrimaryOutcome) {
        let Pending {
            endpoint,
            request,
            reservation,
            shared,
        } = self;
        match outcome {
            PrimaryOutcome::Complete(primary, primary_reservation) => {
                shared.pending.fetch_add(1, Ordering::Relaxed);
                let job = Job {
                    endpoint,
                    request,
                    reservation,
                    primary,
                    primary_reservation,
                };
                if let Err(e) = shared.queue.try_send(job) {
                    shared.pending.fetch_sub(1, Ordering::Relaxed);
                    let (reason, job) = match e {
                        TrySendError::Full(job) => (DropReason::QueueFull, job),
                        TrySendError::Closed(job) => (DropReason::Shutdown, job),
                    };
                    shared.drop_comparison(&job.endpoint.name, reason);
                }
            }
            PrimaryOutcome::Dropped(reason) => shared.drop_comparison(&endpoint.name, reason),
            PrimaryOutcome::Failed => shared.record(&endpoint.name, Outcome::Error),
        }
    }
}

/// The request as forwarded to py2 (hop-by-hop headers removed), to send again.
#[derive(Debug)]
pub struct Mirrored {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Takes jobs off the queue, at most `concurrency` at a time, until the queue closes.
pub async fn run(mut queue: mpsc::Receiver<Job>, shared: Arc<Shared>, client: Client) {
    let workers = Arc::new(Semaphore::new(shared.concurrency));
    while let Some(job) = queue.recv().await {
        let Ok(permit) = workers.clone().acquire_owned().await else {
            break;
        };
        let shared = shared.clone();
        let client = client.clone();
        tokio::spawn(async move {
            shared.in_flight.fetch_add(1, Ordering::Relaxed);
            compare(job, &shared, &client).await;
            shared.in_flight.fetch_sub(1, Ordering::Relaxed);
            shared.pending.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

async fn compare(job: Job, shared: &Shared, client: &Client) {
    // The copies are asked once py2 has answered the client (the job is queued only then), not
    // at the same time: on a host they share, they would compete with py2 for the CPU while
    // the client waits.
    let Job {
        endpoint,
        request: job,
        reservation: _request_bytes,
        primary,
        primary_reservation: _held,
    } = job;
    let timeout = shared.timeout;
    let name = &endpoint.name;
    let (secondary, candidate) = tokio::join!(
        send(client, &shared.secondary, &job, timeout, shared.max_body),
        send(client, &shared.candidate, &job, timeout, shared.max_body),
    );
    let mut failed = false;
    for (copy, result) in [(Copy::Secondary, &secondary), (Copy::Candidate, &candidate)] {
        if let Err(e) = result {
            shared.counters.mirror_error(copy, *e);
            failed = true;
        }
    }
    let (Ok(secondary), Ok(candidate)) = (secondary, candidate) else {
        debug_assert!(failed);
        return shared.record(name, Outcome::Error);
    };
    let rules = shared.rules.diff_rules(endpoint.rule);
    let (pb, sb, cb) = (
        Body::parse(&primary),
        Body::parse(&secondary),
        Body::parse(&candidate),
    );
    let raw = differences((&primary, &pb), (&candidate, &cb), &rules);
    let noise = differences((&primary, &pb), (&secondary, &sb), &rules);
    let sample = || Sample {
        request: SampleRequest::new(
            job.method.as_str(),
            &job.path_and_query,
            &header_pairs(&job.headers),
            &job.body,
        ),
        primary: SampleResponse::new(&primary),
        secondary: SampleResponse::new(&secondary),
        candidate: SampleResponse::new(&candidate),
    };
    let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
    stats.record_comparison(name, &raw, &noise, sample);
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Sends the job's request to one copy and reads its response, within the bounds.
async fn send(
    client: &Client,
    upstream: &Upstream,
    job: &Mirrored,
    timeout: Duration,
    max_body: usize,
) -> Result<Captured, MirrorError> {
    let mut request = Request::builder()
        .method(job.method.clone())
        .uri(upstream.uri(&job.path_and_query))
        .body(ProxyBody::full(job.body.clone()))
        .map_err(|_| MirrorError::Io)?;
    *request.headers_mut() = job.headers.clone();
    request
        .headers_mut()
        .insert(MIRROR_HEADER, HeaderValue::from_static("1"));
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            if e.is_connect() {
                MirrorError::Connect
            } else {
                MirrorError::Io
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    MirrorError::TooLarge
                } else {
                    MirrorError::Io
                }
            })?
            .to_bytes();
        Ok(Captured {
            status: parts.status.as_u16(),
            headers: header_pairs(&parts.headers),
            body,
        })
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(MirrorError::Timeout),
    }
}
