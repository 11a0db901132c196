//! HTTP header facts the comparator relies on: which headers a proxy must not forward, which
//! are compared by default, which carry secrets, and what a valid header name is.

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy `Keep-Alive` and `Proxy-Connection`):
/// they describe one connection, so a proxy drops them instead of forwarding them. Headers
/// named in `Connection` are dropped too.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers compared when the plan does not list its own (`compare { headers = [...] }`): the
/// ones that change what a client does with a response. `Date`, `Server`, `Content-Length`
/// (follows the body) and per-request ids are left out: py2 and py3 differ there by design or
/// by the request (shared/reference/py2-py3-runtime.md §5, "Normalisation checklist").
pub const DEFAULT_COMPARED: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
    "location",
    "cache-control",
    "vary",
];

/// Headers whose values are secrets: never stored, shown or logged. `Authorization` and
/// `Cookie` in requests, `Set-Cookie` in responses (the list), and their proxy forms.
pub const SECRET: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// What stands in for a secret value.
pub const REDACTED: &str = "[redacted]";

pub fn is_secret(name: &str) -> bool {
    SECRET.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A header name is an RFC 9110 token: visible ASCII without separators.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `name` must not be forwarded, given the `Connection` header's value.
pub fn is_hop_by_hop(name: &str, connection: Option<&str>) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
        || connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hops() {
        assert!(is_valid_name("X-Request-Id"));
        assert!(!is_valid_name("X Request"));
        assert!(!is_valid_name("X:Y"));
        assert!(!is_valid_name(""));
        assert!(is_hop_by_hop("Transfer-Encoding", None));
        assert!(is_hop_by_hop("x-trace", Some("close, X-Trace")));
        assert!(!is_hop_by_hop("content-type", Some("keep-alive")));
        assert!(is_secret("Set-Cookie"));
    }
}
