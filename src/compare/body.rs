//! Bodies on the client's path. [`ProxyBody`] is what goes to py2 and back to the client:
//! streamed as it arrives, except a mirrored request's body, which is read first so that the
//! same bytes can go to the other copies. [`Tee`] streams py2's response to the client and
//! keeps a copy of it for the comparison (reference-counted `Bytes` while it streams); the client
//! never waits for the copy, and the copy is abandoned, never the client, when it would pass
//! `max_body` or the memory bound. Once complete, the copy is compacted into a buffer of its
//! own (a memcpy of the body), so what waits in the queue is what the budget counted.
//!
//! The comparison is queued only when py2's response has ended, and from a task of its own
//! ([`defer`]): on the proxy's single-threaded runtime that task runs after the connection's
//! poll has written the response's last bytes, so waking the comparator's thread (and the
//! second py2 copy and py3 it calls) never competes with the client's response for a CPU.

use std::pin::Pin;
use std::task::{Context, Poll};

use super::budget::Reservation;
use super::diff::Captured;
use super::metrics::DropReason;
use super::mirror::Pending;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// How py2's side of a comparison ended.
#[derive(Debug)]
pub enum PrimaryOutcome {
    Complete(Captured, Reservation),
    Dropped(DropReason),
    /// py2 did not answer.
    Failed,
}

/// Hands py2's outcome to the comparison after the client's response has been written: a task
/// spawned on the proxy's runtime (one thread) runs once the connection's current poll, which
/// writes and flushes the response, has returned. Outside a runtime (never on the proxy's
/// path), at once.
pub fn defer(pending: Pending, outcome: PrimaryOutcome) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async move { pending.complete(outcome) });
        }
        Err(_) => pending.complete(outcome),
    }
}

#[derive(Debug)]
pub enum ProxyBody {
    Full(Option<Bytes>),
    Stream(Incoming),
    /// The start of a body that was read, then the rest as it arrives.
    Prefixed(Option<Bytes>, Incoming),
    Tee(Box<Tee>),
}

impl ProxyBody {
    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        let bytes = bytes.into();
        ProxyBody::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Stream(inner) => Pin::new(inner).poll_frame(cx),
            ProxyBody::Prefixed(prefix, inner) => match prefix.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Pin::new(inner).poll_frame(cx),
            },
            ProxyBody::Tee(tee) => Pin::new(tee.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Stream(inner) => inner.is_end_stream(),
            ProxyBody::Prefixed(prefix, inner) => prefix.is_none() && inner.is_end_stream(),
            ProxyBody::Tee(tee) => tee.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ProxyBody::Stream(inner) => inner.size_hint(),
            ProxyBody::Prefixed(prefix, inner) => {
                let extra = prefix.as_ref().map_or(0, |b| b.len() as u64);
                let hint = inner.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(hint.lower() + extra);
                if let Some(upper) = hint.upper() {
                    out.set_upper(upper + extra);
                }
                out
            }
            ProxyBody::Tee(tee) => tee.inner.size_hint(),
        }
    }
}

/// A copy of py2's response in the making.
#[derive(Debug)]
pub struct Capture {
    head: Captured,
    chunks: Vec<Bytes>,
    size: usize,
    limit: usize,
    reservation: Reservation,
    pending: Pending,
}

impl Capture {
    pub fn new(
        head: Captured,
        limit: usize,
        reservation: Reservation,
        pending: Pending,
    ) -> Capture {
        Capture {
            head,
            chunks: Vec::new(),
            size: 0,
            limit,
            reservation,
            pending,
        }
    }

    /// Keeps `data`, or says why the copy must be abandoned.
    fn add(&mut self, data: &Bytes) -> Result<(), DropReason> {
        if self.size + data.len() > self.limit {
            return Err(DropReason::TooLarge);
        }
        if !self.reservation.grow(data.len()) {
            return Err(DropReason::Memory);
        }
        self.size += data.len();
        self.chunks.push(data.clone());
        Ok(())
    }

    fn finish(self) {
        // Copied into a buffer of its own: a chunk is a slice of hyper's read buffer, and
        // holding 200 bytes of it while the comparison waits in the queue would hold all 8 KiB
        // or more of that buffer, unaccounted for by the budget.
        let mut all = Vec::with_capacity(self.size);
        for c in &self.chunks {
            all.extend_from_slice(c);
        }
        let body = Bytes::from(all);
        let head = Captured { body, ..self.head };
        defer(
            self.pending,
            PrimaryOutcome::Complete(head, self.reservation),
        );
    }

    fn abandon(self, reason: DropReason) {
        defer(self.pending, PrimaryOutcome::Dropped(reason));
    }
}

/// py2's response body on its way to the client, copied for the comparison when `capture` is set.
#[derive(Debug)]
pub struct Tee {
    pub inner: Incoming,
    pub capture: Option<Capture>,
}

impl Body for Tee {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(capture)) = (frame.data_ref(), this.capture.as_mut()) {
                    if let Err(reason) = capture.add(data) {
                        if let Some(c) = this.capture.take() {
                            c.abandon(reason);
                        }
                    }
                }
                if this.inner.is_end_stream() {
                    if let Some(c) = this.capture.take() {
                        c.finish();
                    }
                }
            }
            Poll::Ready(None) => {
                if let Some(c) = this.capture.take() {
                    c.finish();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(c) = this.capture.take() {
                    c.abandon(DropReason::Incomplete);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    /// An empty body is never polled, and a client that goes away stops the polling: either
    /// way the comparison hears how py2's side ended.
    fn drop(&mut self) {
        if let Some(c) = self.capture.take() {
            if self.inner.is_end_stream() {
                c.finish();
            } else {
                c.abandon(DropReason::Incomplete);
            }
        }
    }
}
