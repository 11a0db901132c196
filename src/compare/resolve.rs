//! The copies' host names, resolved at most once per [`FRESH`] instead of once per connection.
//!
//! hyper's connector asks the system resolver (`getaddrinfo` on a blocking thread) for every new
//! connection, and the copies' servers often close theirs after each response (wsgiref, gunicorn's
//! sync workers without keep-alive), so a comparator whose upstreams are Compose service or
//! Kubernetes Service names would look py2 up once per client request, on the client's path. A
//! lookup that fails there (Docker's embedded DNS or CoreDNS restarting, a full conntrack table)
//! fails the client's request although py2 is up. Addresses are kept for [`FRESH`], then looked
//! up again; when that lookup fails, the last addresses are used for up to [`STALE`] (a copy
//! that moved would refuse the connection, as it would without the cache).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use tower_service::Service;

/// How long looked-up addresses are used without asking again: a Compose container recreated
/// with a new address is reached again within this.
pub const FRESH: Duration = Duration::from_secs(5);
/// How long the last addresses stand in for a lookup that fails.
pub const STALE: Duration = Duration::from_secs(60);

/// Per host name: when it was looked up, and the addresses.
type Cache = HashMap<String, (Instant, Vec<SocketAddr>)>;

/// A resolver that remembers: see the module.
#[derive(Clone)]
pub struct CachingResolver<R = GaiResolver> {
    inner: R,
    cache: Arc<Mutex<Cache>>,
}

impl CachingResolver {
    pub fn new() -> CachingResolver {
        CachingResolver::with(GaiResolver::new())
    }
}

impl Default for CachingResolver {
    fn default() -> Self {
        CachingResolver::new()
    }
}

impl<R> CachingResolver<R> {
    /// Over another resolver (tests count its lookups).
    pub fn with(inner: R) -> CachingResolver<R> {
        CachingResolver {
            inner,
            cache: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn cached(&self, host: &str, within: Duration) -> Option<Vec<SocketAddr>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(host)
            .filter(|(at, _)| at.elapsed() < within)
            .map(|(_, addrs)| addrs.clone())
    }
}

type Lookup = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl<R, A> Service<Name> for CachingResolver<R>
where
    R: Service<Name, Response = A, Error = io::Error> + Clone + Send + 'static,
    R::Future: Send,
    A: Iterator<Item = SocketAddr>,
{
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Lookup;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Lookup {
        let host = name.as_str().to_string();
        if let Some(addrs) = self.cached(&host, FRESH) {
            return Box::pin(std::future::ready(Ok(addrs.into_iter())));
        }
        let this = self.clone();
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let looked_up = match std::future::poll_fn(|cx| inner.poll_ready(cx)).await {
                Ok(()) => inner.call(name).await.map(|a| a.collect::<Vec<_>>()),
                Err(e) => Err(e),
            };
            match looked_up {
                Ok(addrs) if !addrs.is_empty() => {
                    let mut cache = this.cache.lock().unwrap_or_else(|e| e.into_inner());
                    cache.insert(host, (Instant::now(), addrs.clone()));
                    Ok(addrs.into_iter())
                }
                Ok(_) => this
                    .cached(&host, STALE)
                    .map(Vec::into_iter)
                    .ok_or_else(|| io::Error::other(format!("{host} resolves to no address"))),
                Err(e) => this.cached(&host, STALE).map(Vec::into_iter).ok_or(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers 10.0.0.N for the N-th lookup, or fails once `fail` is set; counts lookups.
    #[derive(Clone, Default)]
    struct Counting {
        lookups: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Service<Name> for Counting {
        type Response = std::vec::IntoIter<SocketAddr>;
        type Error = io::Error;
        type Future = std::future::Ready<io::Result<Self::Response>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Name) -> Self::Future {
            let n = self.lookups.fetch_add(1, Ordering::SeqCst) + 1;
            std::future::ready(if self.fail.load(Ordering::SeqCst) {
                Err(io::Error::other("SERVFAIL"))
            } else {
                Ok(vec![SocketAddr::from(([10, 0, 0, n as u8], 0))].into_iter())
            })
        }
    }

    fn name(host: &str) -> Name {
        host.parse().unwrap()
    }

    #[tokio::test]
    async fn a_host_is_looked_up_once_while_fresh_and_kept_through_a_failed_lookup() {
        let inner = Counting::default();
        let mut resolver = CachingResolver::with(inner.clone());
        let first: Vec<_> = resolver.call(name("web-py2")).await.unwrap().collect();
        for _ in 0..100 {
            let again: Vec<_> = resolver.call(name("web-py2")).await.unwrap().collect();
            assert_eq!(again, first);
        }
        assert_eq!(
            inner.lookups.load(Ordering::SeqCst),
            1,
            "one lookup for 101 connections"
        );
        // Another host is its own entry.
        let other: Vec<_> = resolver.call(name("web-py3")).await.unwrap().collect();
        assert_ne!(other, first);
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 2);

        // Past FRESH, the name is looked up again; when that fails, the last addresses stand.
        {
            let mut cache = resolver.cache.lock().unwrap();
            let entry = cache.get_mut("web-py2").unwrap();
            entry.0 = Instant::now() - FRESH - Duration::from_millis(1);
        }
        inner.fail.store(true, Ordering::SeqCst);
        let stale: Vec<_> = resolver.call(name("web-py2")).await.unwrap().collect();
        assert_eq!(stale, first);
        assert_eq!(inner.lookups.load(Ordering::SeqCst), 3);
        // Past STALE, the failure is the answer.
        {
            let mut cache = resolver.cache.lock().unwrap();
            cache.get_mut("web-py2").unwrap().0 = Instant::now() - STALE - Duration::from_millis(1);
        }
        assert!(resolver.call(name("web-py2")).await.is_err());
        // A name never resolved fails as the resolver does.
        assert!(resolver.call(name("nowhere")).await.is_err());
    }

    #[tokio::test]
    async fn a_fresh_lookup_replaces_the_addresses() {
        let inner = Counting::default();
        let mut resolver = CachingResolver::with(inner.clone());
        let first: Vec<_> = resolver.call(name("web-py3")).await.unwrap().collect();
        resolver.cache.lock().unwrap().get_mut("web-py3").unwrap().0 =
            Instant::now() - FRESH - Duration::from_millis(1);
        let moved: Vec<_> = resolver.call(name("web-py3")).await.unwrap().collect();
        assert_ne!(moved, first, "a recreated container's new address is used");
    }
}
