//! Which endpoint a request belongs to: the unit that noise is learnt for and that metrics and
//! reports group by.
//!
//! A plan endpoint whose path pattern matches names it (`POST /orders/{id}`, the pattern as
//! written). Otherwise the path is normalised: segments that look like identifiers become
//! placeholders, so `/items/123` and `/items/456` are both `GET /items/{id}`:
//!
//! - all digits: `{id}`;
//! - a UUID (8-4-4-4-12 hex digits): `{uuid}`;
//! - 16 or more hex digits (hashes, Mongo ids): `{hex}`;
//! - 20 or more characters of letters, digits, `-` and `_` with at least one digit (tokens,
//!   base64 ids): `{token}`.
//!
//! Words (`/api/v2/users`) stay as they are. The query string never takes part: it holds
//! arguments, not resources. The method does: `GET` and `POST` of one path are different code.

use crate::model::CompareEndpoint;

/// Groups requests into endpoints, by the plan's patterns first.
#[derive(Debug, Clone, Default)]
pub struct Namer {
    patterns: Vec<(crate::compare::route::RoutePattern, usize)>,
}

/// The endpoint of a request, and the index of the plan endpoint that matched, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub rule: Option<usize>,
}

impl Namer {
    pub fn new(endpoints: &[CompareEndpoint]) -> Namer {
        Namer {
            patterns: endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| (e.path.value.clone(), i))
                .collect(),
        }
    }

    pub fn endpoint(&self, method: &str, path: &str) -> Endpoint {
        let path = path.split(['?', '#']).next().unwrap_or("/");
        if let Some((pattern, i)) = self.patterns.iter().find(|(p, _)| p.matches(path)) {
            return Endpoint {
                name: format!("{method} {}", pattern.as_str()),
                rule: Some(*i),
            };
        }
        Endpoint {
            name: format!("{method} {}", normalise(path)),
            rule: None,
        }
    }
}

/// `/items/123/reviews` -> `/items/{id}/reviews`.
pub fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(placeholder(segment).unwrap_or(segment));
    }
    if out.is_empty() { "/".into() } else { out }
}

fn placeholder(segment: &str) -> Option<&'static str> {
    let len = segment.len();
    if len == 0 {
        return None;
    }
    let bytes = segment.as_bytes();
    if bytes.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    if is_uuid(bytes) {
        return Some("{uuid}");
    }
    if len >= 16 && bytes.iter().all(u8::is_ascii_hexdigit) {
        return Some("{hex}");
    }
    if len >= 20
        && bytes.iter().any(u8::is_ascii_digit)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    {
        return Some("{token}");
    }
    None
}

fn is_uuid(bytes: &[u8]) -> bool {
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_group_and_words_stay() {
        assert_eq!(normalise("/items/123"), "/items/{id}");
        assert_eq!(normalise("/items/456"), "/items/{id}");
        assert_eq!(
            normalise("/items/123/reviews/9"),
            "/items/{id}/reviews/{id}"
        );
        assert_eq!(
            normalise("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
            "/u/{uuid}"
        );
        assert_eq!(normalise("/blob/5f2b9c1e8a7d4e6f"), "/blob/{hex}");
        assert_eq!(normalise("/t/aGVsbG8gd29ybGQ9PT1fMTIz"), "/t/{token}");
        assert_eq!(normalise("/api/v2/users"), "/api/v2/users");
        assert_eq!(normalise("/deadbeef"), "/deadbeef");
        assert_eq!(normalise("/"), "/");
        assert_eq!(normalise(""), "/");
    }

    #[test]
    fn plan_patterns_win_and_the_query_is_ignored() {
        let plan = crate::compare::route::RoutePattern::parse("/orders/{id}").unwrap();
        let namer = Namer {
            patterns: vec![(plan, 0)],
        };
        assert_eq!(
            namer.endpoint("POST", "/orders/A-17?x=1"),
            Endpoint {
                name: "POST /orders/{id}".into(),
                rule: Some(0)
            }
        );
        assert_eq!(
            namer.endpoint("GET", "/items/7?page=2").name,
            "GET /items/{id}"
        );
    }
}
