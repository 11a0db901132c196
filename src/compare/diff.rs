//! Comparing two responses to one request, field by field: the status, the selected headers,
//! and the body, structurally for JSON (`$.items[3].price`) and by line otherwise.
//!
//! The rules follow shared/reference/py2-py3-runtime.md §5 ("Normalisation checklist"):
//! JSON is parsed, so object key order never counts (py2's hash order and py3's insertion
//! order differ for every dict, and no JSON client sees it); `3` and `3.0` differ unless the
//! plan says `numbers = by-value` (py2's `round()` returns floats, py3's ints); a `b'...'`
//! that leaks into text is a changed line like any other. When the statuses differ that is the
//! one difference reported (the bodies of a 200 and a 500 differ in every way, all of it one
//! cause), and two 5xx bodies are not compared ("bucket error bodies by status code, not
//! message text": py3's exception messages differ from py2's).

use bytes::Bytes;
use serde_json::Value;

use super::field::{FieldPattern, Step, path_text};
use crate::model::NumberMatch;

/// A response as captured: status, headers (lower-case names, in order) and body.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Captured {
    /// A header's values, joined with `, ` as HTTP allows.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

/// What is compared and what is not, for one request.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Lower-case names.
    pub compared_headers: &'a [String],
    pub ignored_headers: &'a [String],
    pub ignore_fields: &'a [FieldPattern],
    pub numbers: NumberMatch,
}

/// One field that differs, with both values shortened for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub expected: String,
    pub actual: String,
}

/// Differences beyond this many in one response pair are not listed: the pair has diverged.
pub const MAX_DIFFERENCES: usize = 64;

/// Displayed values are cut to this many characters.
const SHOWN: usize = 120;

const MISSING: &str = "(missing)";

/// A body parsed once, compared with several others.
#[derive(Debug)]
pub enum Body {
    Json(Value),
    Text(String),
    Binary(usize),
}

impl Body {
    pub fn parse(response: &Captured) -> Body {
        let bytes = &response.body[..];
        let looks_json = response
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"))
            || bytes
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'{' || *b == b'[');
        if looks_json {
            if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
                return Body::Json(value);
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Body::Text(text.to_string()),
            Err(_) => Body::Binary(bytes.len()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Body::Json(Value::Object(_)) => "a JSON object".into(),
            Body::Json(Value::Array(_)) => "a JSON array".into(),
            Body::Json(v) => format!("JSON {}", shorten(&v.to_string())),
            Body::Text(t) => format!("text {}", shorten(&format!("{t:?}"))),
            Body::Binary(n) => format!("{n} bytes of binary"),
        }
    }
}

/// The differences of `actual` from `expected`, in a stable order.
pub fn differences(
    expected: (&Captured, &Body),
    actual: (&Captured, &Body),
    rules: &Rules<'_>,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let (e, a) = (expected.0, actual.0);
    if e.status != a.status {
        push(
            &mut out,
            "status",
            e.status.to_string(),
            a.status.to_string(),
        );
        return out;
    }
    for name in rules.compared_headers {
        if rules
            .ignored_headers
            .iter()
            .any(|i| i.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let (x, y) = (e.header(name), a.header(name));
        if x != y {
            let show =
                |v: Option<String>| v.map_or_else(|| MISSING.to_string(), |v| shown(name, v));
            push(&mut out, &format!("header:{name}"), show(x), show(y));
        }
    }
    if e.status >= 500 {
        return out;
    }
    if e.body == a.body {
        return out;
    }
    match (expected.1, actual.1) {
        (Body::Json(x), Body::Json(y)) => {
            let mut path = Vec::new();
            json(x, y, &mut path, rules, &mut out);
        }
        (Body::Text(x), Body::Text(y)) => text(x, y, &mut out),
        (x, y) => push(&mut out, "body", x.describe(), y.describe()),
    }
    out
}

/// A header value for display: secrets never leave the process.
fn shown(name: &str, value: String) -> String {
    if super::headers::is_secret(name) {
        super::headers::REDACTED.to_string()
    } else {
        shorten(&value)
    }
}

fn push(out: &mut Vec<Difference>, field: &str, expected: String, actual: String) {
    if out.len() < MAX_DIFFERENCES && out.iter().all(|d| d.field != field) {
        out.push(Difference {
            field: field.to_string(),
            expected,
            actual,
        });
    }
}

fn json(x: &Value, y: &Value, path: &mut Vec<Step>, rules: &Rules<'_>, out: &mut Vec<Difference>) {
    if out.len() >= MAX_DIFFERENCES || rules.ignore_fields.iter().any(|p| p.matches(path)) {
        return;
    }
    match (x, y) {
        (Value::Object(a), Value::Object(b)) => {
            // serde_json's map is sorted by key: the order keys were written in never counts.
            for (key, av) in a {
                path.push(Step::Key(key.clone()));
                match b.get(key) {
                    Some(bv) => json(av, bv, path, rules, out),
                    None => missing(path, Some(av), None, rules, out),
                }
                path.pop();
            }
            for (key, bv) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                path.push(Step::Key(key.clone()));
                missing(path, None, Some(bv), rules, out);
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                path.push(Step::Index(i));
                match (a.get(i), b.get(i)) {
                    (Some(av), Some(bv)) => json(av, bv, path, rules, out),
                    (av, bv) => missing(path, av, bv, rules, out),
                }
                path.pop();
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            if !numbers_equal(a, b, rules.numbers) {
                push(out, &path_text(path), a.to_string(), b.to_string());
            }
        }
        _ if x == y => {}
        _ => push(out, &path_text(path), compact(x), compact(y)),
    }
}

fn missing(
    path: &[Step],
    x: Option<&Value>,
    y: Option<&Value>,
    rules: &Rules<'_>,
    out: &mut Vec<Difference>,
) {
    if rules.ignore_fields.iter().any(|p| p.matches(path)) {
        return;
    }
    let show = |v: Option<&Value>| v.map_or_else(|| MISSING.to_string(), compact);
    push(out, &path_text(path), show(x), show(y));
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number, how: NumberMatch) -> bool {
    match how {
        NumberMatch::Strict => a == b,
        NumberMatch::ByValue => match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => a.as_f64() == b.as_f64(),
        },
    }
}

fn compact(v: &Value) -> String {
    shorten(&v.to_string())
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= SHOWN {
        return s.to_string();
    }
    let cut: String = s.chars().take(SHOWN).collect();
    format!("{cut}…")
}

/// Line by line, numbered by the expected body's lines, so a changed line keeps its field
/// across requests even when another line (a timestamp) changes too.
fn text(x: &str, y: &str, out: &mut Vec<Difference>) {
    let diff = similar::TextDiffConfig::default()
        .timeout(std::time::Duration::from_millis(50))
        .diff_lines(x, y);
    let old: Vec<&str> = diff.iter_old_slices().collect();
    let new: Vec<&str> = diff.iter_new_slices().collect();
    let line = |s: &str| shorten(s.trim_end_matches(['\n', '\r']));
    for op in diff.ops() {
        let (tag, o, n) = op.as_tag_tuple();
        match tag {
            similar::DiffTag::Equal => {}
            similar::DiffTag::Insert => {
                let added: Vec<String> = new[n].iter().map(|s| line(s)).collect();
                push(
                    out,
                    &format!("body:line {}", o.start + 1),
                    MISSING.into(),
                    shorten(&added.join("\n")),
                );
            }
            similar::DiffTag::Delete | similar::DiffTag::Replace => {
                let theirs = &new[n];
                for (k, mine) in old[o.clone()].iter().enumerate() {
                    let actual = if k + 1 == o.len() && theirs.len() > o.len() {
                        let rest: Vec<String> = theirs[k..].iter().map(|s| line(s)).collect();
                        shorten(&rest.join("\n"))
                    } else {
                        theirs
                            .get(k)
                            .map_or_else(|| MISSING.to_string(), |s| line(s))
                    };
                    push(
                        out,
                        &format!("body:line {}", o.start + k + 1),
                        line(mine),
                        actual,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_response(body: &str) -> Captured {
        Captured {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(body.to_string()),
        }
    }

    fn diff_with(
        a: &Captured,
        b: &Captured,
        ignore: &[&str],
        numbers: NumberMatch,
    ) -> Vec<Difference> {
        let patterns: Vec<FieldPattern> = ignore
            .iter()
            .map(|p| FieldPattern::parse(p).unwrap())
            .collect();
        let headers = vec!["content-type".to_string(), "set-cookie".to_string()];
        let rules = Rules {
            compared_headers: &headers,
            ignored_headers: &[],
            ignore_fields: &patterns,
            numbers,
        };
        differences((a, &Body::parse(a)), (b, &Body::parse(b)), &rules)
    }

    fn fields(d: &[Difference]) -> Vec<&str> {
        d.iter().map(|d| d.field.as_str()).collect()
    }

    #[test]
    fn json_is_compared_by_field_with_key_order_ignored() {
        let a = json_response(r#"{"b": 1, "a": {"items": [{"price": 3.0}, {"price": 2}]}}"#);
        let b = json_response(
            r#"{"a": {"items": [{"price": 3}, {"price": 2}, {"price": 9}]}, "b": 1}"#,
        );
        let d = diff_with(&a, &b, &[], NumberMatch::Strict);
        assert_eq!(fields(&d), ["$.a.items[0].price", "$.a.items[2]"]);
        assert_eq!((d[0].expected.as_str(), d[0].actual.as_str()), ("3.0", "3"));
        assert_eq!(d[1].expected, "(missing)");
        let by_value = diff_with(&a, &b, &[], NumberMatch::ByValue);
        assert_eq!(fields(&by_value), ["$.a.items[2]"]);
        assert!(diff_with(&a, &b, &["$.a.items"], NumberMatch::Strict).is_empty());
        let reordered =
            json_response(r#"{"a": {"items": [{"price": 3.0}, {"price": 2}]}, "b": 1}"#);
        assert!(diff_with(&a, &reordered, &[], NumberMatch::Strict).is_empty());
    }

    #[test]
    fn status_is_the_one_difference_when_it_differs() {
        let a = json_response(r#"{"ok": true}"#);
        let mut b = Captured {
            status: 500,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: Bytes::from_static(b"A server error occurred."),
        };
        let d = diff_with(&a, &b, &[], NumberMatch::Strict);
        assert_eq!(fields(&d), ["status"]);
        b.status = 200;
        let d = diff_with(&a, &b, &[], NumberMatch::Strict);
        assert_eq!(fields(&d), ["header:content-type", "body"]);
        assert_eq!(d[1].expected, "a JSON object");
    }

    #[test]
    fn text_is_compared_by_line_of_the_expected_body() {
        let page = |token: &str, ts: &str| Captured {
            status: 200,
            headers: vec![("content-type".into(), "text/html".into())],
            body: Bytes::from(format!(
                "<html>\n<p>at {ts}</p>\n<p>token {token}</p>\n</html>\n"
            )),
        };
        let d = diff_with(
            &page("eA==", "1.5"),
            &page("b'eA=='", "1.6"),
            &[],
            NumberMatch::Strict,
        );
        assert_eq!(fields(&d), ["body:line 2", "body:line 3"]);
        assert_eq!(d[1].actual, "<p>token b'eA=='</p>");
    }

    #[test]
    fn secret_headers_are_redacted_in_differences() {
        let mut a = json_response("{}");
        let mut b = json_response("{}");
        a.headers.push(("set-cookie".into(), "session=abc".into()));
        b.headers.push(("set-cookie".into(), "session=xyz".into()));
        let d = diff_with(&a, &b, &[], NumberMatch::Strict);
        assert_eq!(fields(&d), ["header:set-cookie"]);
        assert!(!format!("{d:?}").contains("abc"));
    }
}
