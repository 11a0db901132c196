//! Route patterns of the plan's `compare { endpoint NAME { path = "/items/{id}" } }`: which
//! requests an endpoint's rules apply to, and which name they are grouped under.
//!
//! A pattern is a path of segments: literal text, `{name}` (exactly one segment) or a final `*`
//! (the rest of the path, possibly nothing). Matching is by whole segments, on the path as the
//! client sent it (no percent-decoding, no query string). Endpoints are tried in the order the
//! plan lists them and the first that matches wins, as Envoy and nginx prefix routes do, so an
//! endpoint whose paths an earlier one already matches is dead (CNR424, [`RoutePattern::covers`]).

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

/// A parsed `path = "..."` of a compare endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    text: String,
    segments: Vec<Segment>,
}

impl RoutePattern {
    /// Parses a pattern; the error says what is wrong, for a diagnostic.
    pub fn parse(text: &str) -> Result<RoutePattern, String> {
        if !text.starts_with('/') {
            return Err("a path starts with `/`".into());
        }
        if let Some(c) = text
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || *c == '?' || *c == '#')
        {
            return Err(match c {
                '?' => "a path has no query string: endpoints match the path only".into(),
                '#' => "a path has no fragment: clients never send one".into(),
                _ => "a path has no spaces or control characters".into(),
            });
        }
        let parts: Vec<&str> = text[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        let mut params: Vec<&str> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() && !last {
                return Err("a path has no empty segments (`//`)".into());
            }
            if *part == "*" {
                if !last {
                    return Err("`*` matches the rest of the path, so it must come last".into());
                }
                segments.push(Segment::Rest);
            } else if let Some(inner) = part.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(format!("`{part}` opens a parameter it does not close"));
                };
                let valid = name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "`{{{name}}}` is not a parameter name: letters, digits and `_`"
                    ));
                }
                if params.contains(&name) {
                    return Err(format!("the parameter `{{{name}}}` appears twice"));
                }
                params.push(name);
                segments.push(Segment::Param);
            } else if part.contains(['{', '}', '*']) {
                return Err(format!(
                    "`{part}` mixes text with `{{}}` or `*`: a parameter or `*` is a whole segment"
                ));
            } else {
                segments.push(Segment::Literal((*part).to_string()));
            }
        }
        Ok(RoutePattern {
            text: text.to_string(),
            segments,
        })
    }

    /// The pattern as written, which names the endpoint in metrics and reports.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `path` (without its query string) matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::Param => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(text) => match parts.next() {
                    Some(p) if p == text => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }

    /// Whether every path `other` matches is matched by `self` too (so, listed after `self`,
    /// `other` never applies).
    pub fn covers(&self, other: &RoutePattern) -> bool {
        let mut theirs = other.segments.iter();
        for mine in &self.segments {
            match (mine, theirs.next()) {
                (Segment::Rest, _) => return true,
                (_, None | Some(Segment::Rest)) => return false,
                (Segment::Param, Some(Segment::Literal(t))) if t.is_empty() => return false,
                (Segment::Param, Some(_)) => {}
                (Segment::Literal(a), Some(Segment::Literal(b))) if a == b => {}
                (Segment::Literal(_), Some(_)) => return false,
            }
        }
        theirs.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> RoutePattern {
        RoutePattern::parse(text).unwrap()
    }

    #[test]
    fn parameters_match_one_segment_and_star_the_rest() {
        let items = p("/items/{id}");
        assert!(items.matches("/items/123"));
        assert!(!items.matches("/items/"));
        assert!(!items.matches("/items/1/reviews"));
        assert!(!items.matches("/items"));
        let stat = p("/static/*");
        assert!(stat.matches("/static/"));
        assert!(stat.matches("/static/css/site.css"));
        assert!(!stat.matches("/staticky"));
        assert!(p("/").matches("/"));
        assert!(!p("/").matches("/a"));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, why) in [
            ("items", "starts with"),
            ("/items?x=1", "query"),
            ("/a//b", "empty"),
            ("/a/*/b", "last"),
            ("/a/{id", "close"),
            ("/a/{1x}", "parameter name"),
            ("/a/{id}/{id}", "twice"),
            ("/a/item{id}", "whole segment"),
            ("/a b", "spaces"),
        ] {
            let err = RoutePattern::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn covering() {
        assert!(p("/items/*").covers(&p("/items/{id}")));
        assert!(p("/items/{id}").covers(&p("/items/42")));
        assert!(p("/items/{a}").covers(&p("/items/{b}")));
        assert!(!p("/items/42").covers(&p("/items/{id}")));
        assert!(!p("/items/{id}").covers(&p("/items/*")));
        assert!(!p("/items/{id}").covers(&p("/items/{id}/reviews")));
        assert!(p("/*").covers(&p("/")));
        assert!(!p("/{id}").covers(&p("/")));
    }
}
