//! Fields of a JSON body: the concrete path of a value (`$.items[3].price`), as reports and the
//! noise statistics name it, and the patterns of `ignore_fields` that skip parts of a body.
//!
//! Pattern syntax, a small JSONPath subset: `$` is the body; `.name` or `["name"]` a key; `[3]`
//! an index; `.*` and `[*]` any key or index; `..name` the key at any depth. A pattern ignores
//! the value it matches and everything inside it, so `$.meta` ignores `$.meta.generated_at`.

use std::fmt::Write as _;

/// One step of a concrete path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Renders a concrete path: `$`, `$.items[3].price`, `$["content-type"]`.
pub fn path_text(steps: &[Step]) -> String {
    let mut out = String::from("$");
    for step in steps {
        match step {
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Step::Key(k) if is_plain_key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Key(k) => {
                out.push('[');
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(']');
            }
        }
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Key(String),
    Index(usize),
    AnyKey,
    AnyIndex,
    /// `..`: zero or more steps, then the matcher that follows.
    Descend,
}

/// A parsed `ignore_fields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPattern {
    text: String,
    matchers: Vec<Matcher>,
}

impl FieldPattern {
    pub fn parse(text: &str) -> Result<FieldPattern, String> {
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err("a field path starts with `$`, the body: `$.meta.generated_at`".into());
        };
        let mut matchers = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("..") {
                matchers.push(Matcher::Descend);
                if after.starts_with('[') {
                    rest = after;
                    continue;
                }
                rest = after;
                let (m, tail) = name(rest)?;
                matchers.push(m);
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('.') {
                let (m, tail) = name(after)?;
                matchers.push(m);
                rest = tail;
            } else if let Some(after) = rest.strip_prefix('[') {
                let Some(close) = closing_bracket(after) else {
                    return Err("`[` is not closed".into());
                };
                let inner = &after[..close];
                matchers.push(bracket(inner)?);
                rest = &after[close + 1..];
            } else {
                return Err(format!(
                    "expected `.name`, `[index]` or `[\"name\"]` after `{}`",
                    &text[..text.len() - rest.len()]
                ));
            }
        }
        if matchers.last() == Some(&Matcher::Descend) {
            return Err("`..` must be followed by a name".into());
        }
        Ok(FieldPattern {
            text: text.to_string(),
            matchers,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the value at `path` (and so everything inside it) is ignored.
    pub fn matches(&self, path: &[Step]) -> bool {
        prefix_matches(&self.matchers, path)
    }
}

/// A key after `.` or `..`: up to the next `.` or `[`.
fn name(text: &str) -> Result<(Matcher, &str), String> {
    let end = text.find(['.', '[']).unwrap_or(text.len());
    let key = &text[..end];
    if key.is_empty() {
        return Err("a `.` must be followed by a name or `*`".into());
    }
    if key.contains(']') || key.chars().any(char::is_whitespace) {
        return Err(format!(
            "`{key}` needs quoting: write `[\"{key}\"]` for keys with spaces or brackets"
        ));
    }
    let m = if key == "*" {
        Matcher::AnyKey
    } else {
        Matcher::Key(key.to_string())
    };
    Ok((m, &text[end..]))
}

/// The index of the `]` closing a bracket, skipping over a quoted key.
fn closing_bracket(text: &str) -> Option<usize> {
    if text.starts_with('"') {
        let mut escaped = false;
        for (i, c) in text.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return text[i + 1..].starts_with(']').then_some(i + 1),
                _ => {}
            }
        }
        None
    } else {
        text.find(']')
    }
}

fn bracket(inner: &str) -> Result<Matcher, String> {
    if inner == "*" {
        return Ok(Matcher::AnyIndex);
    }
    if inner.starts_with('"') {
        return match serde_json::from_str::<String>(inner) {
            Ok(key) => Ok(Matcher::Key(key)),
            Err(_) => Err(format!("{inner} is not a quoted name")),
        };
    }
    match inner.parse::<usize>() {
        Ok(i) => Ok(Matcher::Index(i)),
        Err(_) => Err(format!(
            "`[{inner}]` is not an index: write `[3]`, `[*]` or `[\"name\"]`"
        )),
    }
}

fn prefix_matches(matchers: &[Matcher], path: &[Step]) -> bool {
    let Some((first, rest)) = matchers.split_first() else {
        return true;
    };
    if *first == Matcher::Descend {
        return (0..=path.len()).any(|skip| prefix_matches(rest, &path[skip..]));
    }
    let Some((step, tail)) = path.split_first() else {
        return false;
    };
    let ok = match (first, step) {
        (Matcher::Key(k), Step::Key(s)) => k == s,
        (Matcher::Index(i), Step::Index(j)) => i == j,
        (Matcher::AnyKey, Step::Key(_)) | (Matcher::AnyIndex, Step::Index(_)) => true,
        _ => false,
    };
    ok && prefix_matches(rest, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &[&str]) -> Vec<Step> {
        text.iter()
            .map(|s| match s.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Key((*s).to_string()),
            })
            .collect()
    }

    #[test]
    fn paths_render_like_jsonpath() {
        assert_eq!(path_text(&[]), "$");
        assert_eq!(
            path_text(&path(&["items", "3", "price"])),
            "$.items[3].price"
        );
        assert_eq!(
            path_text(&[Step::Key("content-type".into())]),
            "$[\"content-type\"]"
        );
    }

    #[test]
    fn patterns_ignore_subtrees() {
        let p = |t: &str| FieldPattern::parse(t).unwrap();
        assert!(p("$.meta").matches(&path(&["meta", "generated_at"])));
        assert!(!p("$.meta").matches(&path(&["metadata"])));
        assert!(p("$.items[*].id").matches(&path(&["items", "7", "id"])));
        assert!(!p("$.items[*].id").matches(&path(&["items", "7", "price"])));
        assert!(p("$.items[2]").matches(&path(&["items", "2", "price"])));
        assert!(!p("$.items[2]").matches(&path(&["items", "3"])));
        assert!(p("$..ts").matches(&path(&["ts"])));
        assert!(p("$..ts").matches(&path(&["a", "0", "ts"])));
        assert!(!p("$..ts").matches(&path(&["a", "0", "tsx"])));
        assert!(p("$.*.id").matches(&path(&["user", "id"])));
        assert!(!p("$.*.id").matches(&path(&["0", "id"])));
        assert!(p("$[\"a.b\"]").matches(&[Step::Key("a.b".into())]));
        assert!(p("$").matches(&path(&["anything"])));
        assert!(p("$..[0]").matches(&path(&["a", "0"])));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, why) in [
            ("meta.ts", "starts with `$`"),
            ("$.", "followed by a name"),
            ("$..", "followed by a name"),
            ("$.items[", "not closed"),
            ("$.items[x]", "not an index"),
            ("$.items[\"a]", "not closed"),
            ("$ts", "expected"),
            ("$.a b", "quoting"),
        ] {
            let err = FieldPattern::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
