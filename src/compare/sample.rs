//! Sample request/response pairs for the report, redacted when they are taken: a secret is
//! kept no longer than the request it came with (which the mirrors must get as sent).
//!
//! Redacted: the `Authorization`, `Proxy-Authorization`, `Cookie` and `Set-Cookie` headers;
//! query-string and form values, and JSON body values, whose names suggest a secret (`token`,
//! `password`, `api_key`, ...). Bodies are cut to [`BODY_LIMIT`] bytes.

use serde::Serialize;
use serde_json::Value;

use super::diff::Captured;
use super::headers::{REDACTED, is_secret};

/// Bytes of each body kept in a sample.
pub const BODY_LIMIT: usize = 2048;

/// Parameter and key names whose values are treated as secrets (substrings, case-insensitive:
/// redacting too much is the safe mistake).
const SECRET_NAMES: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "key",
    "auth",
    "session",
    "signature",
    "sig",
    "credential",
    "csrf",
];

fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| lower.contains(s))
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub request: SampleRequest,
    pub primary: SampleResponse,
    pub secondary: SampleResponse,
    pub candidate: SampleResponse,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleRequest {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_truncated: bool,
}

impl Sample {
    /// Bytes held, for the sample budget.
    pub fn size(&self) -> usize {
        let headers =
            |h: &[(String, String)]| h.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
        let response = |r: &SampleResponse| r.body.len() + headers(&r.headers);
        self.request.uri.len()
            + self.request.body.len()
            + headers(&self.request.headers)
            + response(&self.primary)
            + response(&self.secondary)
            + response(&self.candidate)
    }
}

impl SampleRequest {
    pub fn new(method: &str, uri: &str, headers: &[(String, String)], body: &[u8]) -> Self {
        let content_type = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let (body, body_truncated) = if content_type.contains("x-www-form-urlencoded") {
            cut(redact_pairs(&String::from_utf8_lossy(body)).as_bytes())
        } else {
            redacted_body(body)
        };
        SampleRequest {
            method: method.to_string(),
            uri: redact_uri(uri),
            headers: redact_headers(headers),
            body,
            body_truncated,
        }
    }
}

impl SampleResponse {
    pub fn new(response: &Captured) -> Self {
        let (body, body_truncated) = redacted_body(&response.body);
        SampleResponse {
            status: response.status,
            headers: redact_headers(&response.headers),
            body,
            body_truncated,
        }
    }
}

pub fn redact_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            let v = if is_secret(n) {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            (n.clone(), v)
        })
        .collect()
}

/// `/login?user=ann&token=abc` -> `/login?user=ann&token=[redacted]`.
pub fn redact_uri(uri: &str) -> String {
    match uri.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_pairs(query)),
        None => uri.to_string(),
    }
}

fn redact_pairs(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret_name(name) => format!("{name}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A body as text, as it was sent (lossy UTF-8), cut to the limit; JSON with a secret-named
/// value is shown re-serialised with that value redacted.
fn redacted_body(body: &[u8]) -> (String, bool) {
    if let Ok(mut value) = serde_json::from_slice::<Value>(body) {
        if redact_json(&mut value) {
            return cut(value.to_string().as_bytes());
        }
    }
    cut(body)
}

/// Redacts secret-named values; whether there were any.
fn redact_json(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut any = false;
            for (k, v) in map.iter_mut() {
                if secret_name(k) && !v.is_object() && !v.is_array() {
                    *v = Value::String(REDACTED.into());
                    any = true;
                } else {
                    any |= redact_json(v);
                }
            }
            any
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, v| redact_json(v) | any),
        _ => false,
    }
}

fn cut(bytes: &[u8]) -> (String, bool) {
    if bytes.len() <= BODY_LIMIT {
        return (String::from_utf8_lossy(bytes).into_owned(), false);
    }
    let mut end = BODY_LIMIT;
    while end > 0 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    (String::from_utf8_lossy(&bytes[..end]).into_owned(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_a_sample() {
        let headers = vec![
            ("authorization".to_string(), "Bearer s3cret".to_string()),
            ("cookie".to_string(), "session=s3cret".to_string()),
            ("accept".to_string(), "application/json".to_string()),
        ];
        let r = SampleRequest::new(
            "POST",
            "/login?user=ann&api_key=s3cret",
            &headers,
            br#"{"user": "ann", "password": "s3cret", "nested": {"auth_token": "s3cret"}}"#,
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("user=ann"));
        assert!(text.contains("application/json"));
        let form = SampleRequest::new(
            "POST",
            "/login",
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            b"user=ann&password=s3cret",
        );
        assert_eq!(form.body, "user=ann&password=[redacted]");
    }

    #[test]
    fn bodies_are_cut_on_a_character_boundary() {
        let long = "é".repeat(BODY_LIMIT);
        let (text, truncated) = cut(long.as_bytes());
        assert!(truncated);
        assert!(text.len() <= BODY_LIMIT && !text.contains('\u{FFFD}'));
    }
}
