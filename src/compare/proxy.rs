//! The client's path: every request goes to py2 (the primary) and py2's response goes back
//! unchanged, streamed as py2 sends it. Mirroring adds to this path only what cannot be avoided:
//! reading a mirrored request's body first (GET, HEAD and OPTIONS rarely have one) and keeping
//! a copy of py2's response as it streams. The comparison is queued after the response is
//! written (`body::defer`), so nothing here wakes the comparator's thread or waits for the
//! other copies.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::body::{Capture, PrimaryOutcome, ProxyBody, Tee, defer};
use super::budget::Reservation;
use super::diff::Captured;
use super::headers::is_hop_by_hop;
use super::metrics::DropReason;
use super::mirror::{Mirrored, Pending};
use super::{Client, Shared};
use bytes::{Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

/// Removes the headers that describe one connection (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let connection = headers.get(CONNECTION).and_then(|v| v.to_str().ok());
    // Most requests and responses have none: no allocation for them.
    if !headers
        .keys()
        .any(|n| is_hop_by_hop(n.as_str(), connection))
    {
        return;
    }
    let connection = connection.map(str::to_string);
    let hop: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n.as_str(), connection.as_deref()))
        .cloned()
        .collect();
    for name in hop {
        headers.remove(name);
    }
}

fn forwarded_for(headers: &mut HeaderMap, peer: SocketAddr) {
    let name = HeaderName::from_static("x-forwarded-for");
    let value = match headers.get(&name).and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

/// A copy of `headers` in allocations of its own: parsed header values are slices of hyper's
/// read buffer, and a queued comparison holding them would hold the whole buffer.
fn compact(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_bytes(value.as_bytes()) {
            out.append(name.clone(), v);
        }
    }
    out
}

/// What became of a mirrored request's body.
enum Prepared {
    /// Read in full: the same bytes go to every copy.
    Read(Bytes, Reservation),
    /// Not comparable; the body still goes to py2 in full.
    Dropped(DropReason),
}

/// Reads a mirrored request's body, up to `max_body` and the memory bound. Past either, what
/// was read goes to py2 followed by the rest, and the comparison is dropped.
async fn read_body(body: Incoming, headers: &HeaderMap, shared: &Shared) -> (ProxyBody, Prepared) {
    let mut reservation = Reservation::new(&shared.budget);
    if body.is_end_stream() {
        return (
            ProxyBody::full(Bytes::new()),
            Prepared::Read(Bytes::new(), reservation),
        );
    }
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body as u64) {
        return (
            ProxyBody::Stream(body),
            Prepared::Dropped(DropReason::TooLarge),
        );
    }
    let mut body = body;
    let mut read = BytesMut::new();
    loop {
        match body.frame().await {
            None => {
                let bytes = read.freeze();
                return (
                    ProxyBody::full(bytes.clone()),
                    Prepared::Read(bytes, reservation),
                );
            }
            Some(Err(_)) => {
                // The client broke off its own request: py2 gets what arrived and fails it.
                return (
                    ProxyBody::full(read.freeze()),
                    Prepared::Dropped(DropReason::Incomplete),
                );
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let reason = if read.len() + data.len() > shared.max_body {
                    Some(DropReason::TooLarge)
                } else if !reservation.grow(data.len()) {
                    Some(DropReason::Memory)
                } else {
                    None
                };
                read.extend_from_slice(&data);
                if let Some(reason) = reason {
                    return (
                        ProxyBody::Prefixed(Some(read.freeze()), body),
                        Prepared::Dropped(reason),
                    );
                }
            }
        }
    }
}

pub async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    client: Client,
    peer: SocketAddr,
) -> Result<Response<ProxyBody>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let client_version = parts.version;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let endpoint = shared
        .namer
        .endpoint(parts.method.as_str(), &path_and_query);
    let mirrored = shared.rules.mirrors(&parts.method, endpoint.rule) && shared.sampler.take();
    shared.counters.request(mirrored);
    strip_hop_by_hop(&mut parts.headers);
    forwarded_for(&mut parts.headers, peer);

    let (upstream_body, pending) = if mirrored {
        let (upstream_body, prepared) = read_body(body, &parts.headers, &shared).await;
        let pending = match prepared {
            Prepared::Dropped(reason) => {
                shared.drop_comparison(&endpoint.name, reason);
                None
            }
            // A full queue now will most likely be full when py2 answers: no copy is kept.
            Prepared::Read(..) if shared.queue.capacity() == 0 => {
                shared.drop_comparison(&endpoint.name, DropReason::QueueFull);
                None
            }
            Prepared::Read(bytes, reservation) => Some(Pending {
                endpoint: endpoint.clone(),
                request: Mirrored {
                    method: parts.method.clone(),
                    path_and_query: path_and_query.clone(),
                    headers: compact(&parts.headers),
                    body: bytes,
                },
                reservation,
                shared: shared.clone(),
            }),
        };
        (upstream_body, pending)
    } else {
        (ProxyBody::Stream(body), None)
    };

    parts.uri = shared.primary.uri(&path_and_query);
    parts.version = Version::HTTP_11;
    let upstream = Request::from_parts(parts, upstream_body);
    match client.request(upstream).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let capture = pending.map(|pending| {
                let head = Captured {
                    status: parts.status.as_u16(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: Bytes::new(),
                };
                Capture::new(
                    head,
                    shared.max_body,
                    Reservation::new(&shared.budget),
                    pending,
                )
            });
            parts.version = client_version;
            let body = ProxyBody::Tee(Box::new(Tee {
                inner: body,
                capture,
            }));
            Ok(Response::from_parts(parts, body))
        }
        Err(e) => {
            shared
                .counters
                .primary_errors
                .fetch_add(1, Ordering::Relaxed);
            if let Some(pending) = pending {
                defer(pending, PrimaryOutcome::Failed);
            }
            let mut response = Response::new(ProxyBody::full(format!(
                "canaryc compare: py2 ({}) did not answer: {e}\n",
                shared.primary.url
            )));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(response)
        }
    }
}
