//! The comparison rules of each endpoint, resolved once from the plan's `compare` section:
//! which methods are mirrored, which headers are compared, which fields and headers ignored.

use http::Method;

use super::diff::Rules;
use super::field::FieldPattern;
use super::headers::DEFAULT_COMPARED;
use crate::model::{Compare, NumberMatch, SAFE_METHODS};

#[derive(Debug, Clone, Default)]
struct RuleSet {
    /// Methods mirrored besides the safe ones.
    methods: Vec<String>,
    ignore_fields: Vec<FieldPattern>,
    /// Lower case.
    ignored_headers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RuleTable {
    /// Lower case.
    compared_headers: Vec<String>,
    numbers: NumberMatch,
    /// Requests no plan endpoint matches.
    default: RuleSet,
    /// By plan endpoint, in the plan's order.
    endpoints: Vec<RuleSet>,
}

impl RuleTable {
    pub fn new(compare: &Compare) -> RuleTable {
        let lower = |v: &[crate::source::Spanned<String>]| -> Vec<String> {
            v.iter().map(|h| h.value.to_ascii_lowercase()).collect()
        };
        let compared_headers = match &compare.headers {
            Some(list) => lower(list),
            None => DEFAULT_COMPARED.iter().map(|h| (*h).to_string()).collect(),
        };
        let default = RuleSet {
            methods: Vec::new(),
            ignore_fields: compare
                .ignore_fields
                .iter()
                .map(|p| p.value.clone())
                .collect(),
            ignored_headers: lower(&compare.ignore_headers),
        };
        let endpoints = compare
            .endpoints
            .iter()
            .map(|e| {
                let mut set = default.clone();
                set.methods = e.methods.iter().map(|m| m.value.clone()).collect();
                set.ignore_fields
                    .extend(e.ignore_fields.iter().map(|p| p.value.clone()));
                set.ignored_headers.extend(lower(&e.ignore_headers));
                set
            })
            .collect();
        RuleTable {
            compared_headers,
            numbers: compare.numbers.value,
            default,
            endpoints,
        }
    }

    fn set(&self, rule: Option<usize>) -> &RuleSet {
        rule.and_then(|i| self.endpoints.get(i))
            .unwrap_or(&self.default)
    }

    /// Whether requests of this method to this endpoint are mirrored: safe methods always,
    /// others when the plan's endpoint allows them.
    pub fn mirrors(&self, method: &Method, rule: Option<usize>) -> bool {
        SAFE_METHODS.contains(&method.as_str())
            || self.set(rule).methods.iter().any(|m| m == method.as_str())
    }

    /// Every method mirrored somewhere besides the safe ones, for the startup message.
    pub fn extra_methods(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .endpoints
            .iter()
            .flat_map(|s| s.methods.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub fn diff_rules(&self, rule: Option<usize>) -> Rules<'_> {
        let set = self.set(rule);
        Rules {
            compared_headers: &self.compared_headers,
            ignored_headers: &set.ignored_headers,
            ignore_fields: &set.ignore_fields,
            numbers: self.numbers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::route::RoutePattern;
    use crate::model::CompareEndpoint;
    use crate::source::Spanned;

    fn at<T>(v: T) -> Spanned<T> {
        Spanned::new(v, Default::default())
    }

    #[test]
    fn only_safe_methods_unless_the_endpoint_allows_more() {
        let compare = Compare {
            ignore_fields: vec![at(FieldPattern::parse("$.ts").unwrap())],
            endpoints: vec![CompareEndpoint {
                name: at("orders".into()),
                path: at(RoutePattern::parse("/orders/{id}").unwrap()),
                methods: vec![at("POST".into())],
                ignore_fields: vec![at(FieldPattern::parse("$.receipt").unwrap())],
                ignore_headers: vec![at("ETag".into())],
            }],
            ..Compare::default()
        };
        let table = RuleTable::new(&compare);
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(table.mirrors(&m, None));
        }
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert!(!table.mirrors(&m, None), "{m}");
        }
        assert!(table.mirrors(&Method::POST, Some(0)));
        assert!(!table.mirrors(&Method::DELETE, Some(0)));
        assert_eq!(table.extra_methods(), ["POST"]);
        let endpoint = table.diff_rules(Some(0));
        assert_eq!(
            endpoint.ignore_fields.len(),
            2,
            "the section's rules and the endpoint's"
        );
        assert_eq!(endpoint.ignored_headers, ["etag"]);
        assert_eq!(table.diff_rules(None).ignore_fields.len(), 1);
        assert!(
            table
                .diff_rules(None)
                .compared_headers
                .contains(&"content-type".to_string())
        );
    }
}
