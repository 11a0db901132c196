//! The admin listener's `/report`: the top diverging endpoints and fields, each field with the
//! values seen and one sample request/response pair, as JSON or as a summary for people
//! (`?format=text`). The noise learnt per endpoint is listed too, so a reader can check that a
//! field the comparator stays silent about is really one the two py2 copies disagree on.
//!
//! Samples were redacted when they were taken (sample.rs); nothing here sees a secret.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::noise::percentages;
use super::stats::{EndpointStats, FieldStats, Outcome, Stats};

/// Diverging fields shown per endpoint.
const FIELDS_SHOWN: usize = 20;

fn counts(outcomes: [u64; 5]) -> Value {
    let mut map = serde_json::Map::new();
    for o in Outcome::ALL {
        map.insert(o.as_str().into(), json!(outcomes[o as usize]));
    }
    Value::Object(map)
}

/// An endpoint's diverging fields, most frequent first.
fn diverging<'s>(stats: &Stats, e: &'s EndpointStats) -> Vec<(&'s String, &'s FieldStats)> {
    let mut fields: Vec<(&String, &FieldStats)> = e
        .fields
        .iter()
        .filter(|(_, f)| stats.field_diverges(e, f))
        .collect();
    fields.sort_by(|a, b| b.1.raw.cmp(&a.1.raw).then_with(|| a.0.cmp(b.0)));
    fields
}

/// Noise fields: differing between the py2 copies at least as often as py3 differs.
fn noise_fields<'s>(stats: &Stats, e: &'s EndpointStats) -> Vec<&'s String> {
    e.fields
        .iter()
        .filter(|(_, f)| f.noise > 0 && !stats.field_diverges(e, f))
        .map(|(name, _)| name)
        .collect()
}

/// An endpoint with its diverging fields.
type Diverging<'s> = (
    &'s String,
    &'s EndpointStats,
    Vec<(&'s String, &'s FieldStats)>,
);

/// Endpoints with diverging fields, most diverged first, at most `top`.
fn top_endpoints(stats: &Stats, top: usize) -> Vec<Diverging<'_>> {
    let mut list: Vec<_> = stats
        .endpoints
        .iter()
        .map(|(name, e)| (name, e, diverging(stats, e)))
        .filter(|(_, _, fields)| !fields.is_empty())
        .collect();
    list.sort_by(|a, b| {
        b.1.count(Outcome::Diverged)
            .cmp(&a.1.count(Outcome::Diverged))
            .then_with(|| a.0.cmp(b.0))
    });
    list.truncate(top);
    list
}

pub fn json(stats: &Stats, service: &str, top: usize) -> Value {
    let diverging_endpoints: Vec<Value> = top_endpoints(stats, top)
        .into_iter()
        .map(|(name, e, fields)| {
            let shown: Vec<Value> = fields
                .iter()
                .take(FIELDS_SHOWN)
                .map(|(field, f)| {
                    let (relative, absolute) = percentages(f.raw, f.noise, e.compared());
                    let (primary, candidate) = f.example.clone().unwrap_or_default();
                    json!({
                        "field": field,
                        "raw": f.raw,
                        "noise": f.noise,
                        "relative_percent": round2(relative),
                        "absolute_percent": round2(absolute),
                        "primary": primary,
                        "candidate": candidate,
                        "sample": f.sample.as_deref(),
                    })
                })
                .collect();
            json!({
                "endpoint": name,
                "results": counts(e.outcomes),
                "diverging_fields": shown,
                "more_fields": fields.len().saturating_sub(FIELDS_SHOWN),
            })
        })
        .collect();
    let endpoints: Vec<Value> = stats
        .endpoints
        .iter()
        .map(|(name, e)| {
            json!({
                "endpoint": name,
                "results": counts(e.outcomes),
                "diverging_fields": diverging(stats, e).iter().map(|(f, _)| f).collect::<Vec<_>>(),
                "noise_fields": noise_fields(stats, e),
            })
        })
        .collect();
    json!({
        "service": service,
        "results": counts(stats.totals()),
        "thresholds": {
            "relative_percent": stats.thresholds.relative,
            "absolute_percent": stats.thresholds.absolute,
        },
        "diverging": diverging_endpoints,
        "endpoints": endpoints,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn text(stats: &Stats, service: &str, top: usize) -> String {
    let t = stats.totals();
    let n = |o: Outcome| t[o as usize];
    let compared = n(Outcome::Same) + n(Outcome::Diverged) + n(Outcome::Noise);
    let mut out = String::new();
    let _ = writeln!(out, "canaryc compare: service {service}");
    let _ = writeln!(
        out,
        "{compared} responses compared: {} same, {} diverged, {} noise only; {} errors, {} dropped",
        n(Outcome::Same),
        n(Outcome::Diverged),
        n(Outcome::Noise),
        n(Outcome::Error),
        n(Outcome::Dropped)
    );
    let _ = writeln!(
        out,
        "A field diverges when py3 differs from py2 there more often than the two py2 copies differ (relative > {}%, absolute > {}%).",
        stats.thresholds.relative, stats.thresholds.absolute
    );
    let tops = top_endpoints(stats, top);
    if tops.is_empty() {
        let _ = writeln!(out, "\nNo diverging endpoints.");
    } else {
        let _ = writeln!(out, "\nDiverging endpoints, most diverged first:");
    }
    for (name, e, fields) in &tops {
        let _ = writeln!(
            out,
            "\n  {name}: {} of {} compared diverged",
            e.count(Outcome::Diverged),
            e.compared()
        );
        for (field, f) in fields.iter().take(FIELDS_SHOWN) {
            let (primary, candidate) = f.example.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "    {field}: py3 differs in {}, the py2 copies in {}: py2 {primary}, py3 {candidate}",
                f.raw, f.noise
            );
            if let Some(s) = &f.sample {
                let _ = writeln!(
                    out,
                    "      e.g. {} {} -> py2 {}, py3 {}",
                    s.request.method, s.request.uri, s.primary.status, s.candidate.status
                );
            }
        }
        if fields.len() > FIELDS_SHOWN {
            let _ = writeln!(
                out,
                "    ... and {} more fields",
                fields.len() - FIELDS_SHOWN
            );
        }
    }
    let noisy: Vec<(&String, Vec<&String>)> = stats
        .endpoints
        .iter()
        .map(|(name, e)| (name, noise_fields(stats, e)))
        .filter(|(_, f)| !f.is_empty())
        .collect();
    if !noisy.is_empty() {
        let _ = writeln!(
            out,
            "\nNoise learnt (the two py2 copies differ here too; not divergences):"
        );
        for (name, fields) in noisy {
            let list: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
            let _ = writeln!(out, "  {name}: {}", list.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::diff::Difference;
    use crate::compare::noise::Thresholds;
    use crate::compare::sample::{Sample, SampleRequest, SampleResponse};

    fn d(field: &str, a: &str, b: &str) -> Difference {
        Difference {
            field: field.into(),
            expected: a.into(),
            actual: b.into(),
        }
    }

    #[test]
    fn report_names_diverging_fields_with_samples_and_the_noise() {
        let mut s = Stats::new(Thresholds::default(), 10);
        let sample = || {
            let r = SampleResponse::new(&Default::default());
            Sample {
                request: SampleRequest::new("GET", "/round?x=2.5", &[], b""),
                primary: r.clone(),
                secondary: r.clone(),
                candidate: r,
            }
        };
        for _ in 0..3 {
            s.record_comparison(
                "GET /round",
                &[d("$.value", "3.0", "2"), d("$.ts", "1", "2")],
                &[d("$.ts", "1", "3")],
                sample,
            );
            s.record_comparison(
                "GET /items/{id}",
                &[d("$.ts", "1", "2")],
                &[d("$.ts", "1", "3")],
                sample,
            );
        }
        let j = json(&s, "web", 20);
        assert_eq!(j["results"]["diverged"], 3);
        assert_eq!(j["results"]["noise"], 3);
        let top = &j["diverging"][0];
        assert_eq!(top["endpoint"], "GET /round");
        assert_eq!(top["diverging_fields"][0]["field"], "$.value");
        assert_eq!(top["diverging_fields"][0]["primary"], "3.0");
        assert_eq!(
            top["diverging_fields"][0]["sample"]["request"]["uri"],
            "/round?x=2.5"
        );
        assert_eq!(top["diverging_fields"].as_array().unwrap().len(), 1);
        assert_eq!(j["endpoints"][0]["noise_fields"][0], "$.ts");
        let t = text(&s, "web", 20);
        assert!(t.contains("GET /round: 3 of 3 compared diverged"), "{t}");
        assert!(
            t.contains("$.value: py3 differs in 3, the py2 copies in 0: py2 3.0, py3 2"),
            "{t}"
        );
        assert!(t.contains("GET /items/{id}: $.ts"), "{t}");
    }
}
