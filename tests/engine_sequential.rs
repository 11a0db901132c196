//! The engines judge the sequential rules (issue 13 with issue 11's engines): in every committed
//! bundle (examples and build cases), every Argo Rollouts, Flagger and `canaryc promote` query of
//! a recorded series selects a series the bundle's `prometheus-alerts.yaml` records, with the same
//! plan and rule labels (a name or label the emitters disagree on would select nothing: no
//! rollback, no stage ever passing), and no error-rate or latency trigger or criterion is judged
//! on a threshold beside its sequential test. The runbook of a bundle whose analyses read those
//! series says they must be loaded into the Prometheus the engine queries. The verdicts on real
//! series are in engine_verdicts.rs.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize as _;
use serde_json::Value;

use crate::common::committed_bundles;

fn yaml_docs(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// Every query an engine of the bundle runs, with where it comes from.
fn engine_queries(bundle: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in yaml_docs(&bundle.join("k8s-rollout.yaml")) {
        for m in d["spec"]["metrics"].as_array().into_iter().flatten() {
            out.push((
                format!(
                    "AnalysisTemplate {}/{}",
                    text(&d["metadata"]["name"]),
                    text(&m["name"])
                ),
                text(&m["provider"]["prometheus"]["query"]),
            ));
        }
    }
    for d in yaml_docs(&bundle.join("k8s-flagger.yaml")) {
        if d["kind"] == "MetricTemplate" {
            out.push((
                format!("MetricTemplate {}", text(&d["metadata"]["name"])),
                text(&d["spec"]["query"]),
            ));
        }
    }
    if let Ok(json) = std::fs::read_to_string(bundle.join("canary-promote.json")) {
        let config: Value = serde_json::from_str(&json).unwrap();
        for stage in config["stages"].as_array().into_iter().flatten() {
            for check in stage["checks"].as_array().into_iter().flatten() {
                out.push((
                    format!(
                        "canary-promote.json {}/{}",
                        text(&stage["name"]),
                        text(&check["text"])
                    ),
                    text(&check["query"]),
                ));
            }
        }
    }
    out
}

/// The recorded series of the bundle: name and labels, `plan` included.
fn records(bundle: &Path) -> BTreeSet<(String, Vec<(String, String)>)> {
    let mut out = BTreeSet::new();
    for d in yaml_docs(&bundle.join("prometheus-alerts.yaml")) {
        for g in d["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                let Some(name) = r["record"].as_str() else {
                    continue;
                };
                let labels = r["labels"]
                    .as_object()
                    .map(|l| l.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                    .unwrap_or_default();
                out.insert((name.to_string(), labels));
            }
        }
    }
    out
}

#[test]
fn every_engine_query_of_a_recorded_series_selects_one_the_bundle_records() {
    let selector = regex::Regex::new(r#"(canary:[a-z0-9_:]+)\{([^}]*)\}"#).unwrap();
    let matcher = regex::Regex::new(r#"(\w+)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut sequential = 0;
    for bundle in committed_bundles() {
        let recorded = records(&bundle);
        let queries = engine_queries(&bundle);
        for (what, query) in &queries {
            let reads: Vec<_> = selector.captures_iter(query).collect();
            for c in &reads {
                let mut labels: Vec<(String, String)> = matcher
                    .captures_iter(&c[2])
                    .map(|m| (m[1].to_string(), m[2].replace("\\\"", "\"")))
                    .filter(|(k, _)| k != "service")
                    .collect();
                labels.sort();
                assert!(
                    recorded.contains(&(c[1].to_string(), labels.clone())),
                    "{}: {what} reads {}{labels:?}, which prometheus-alerts.yaml does not record",
                    bundle.display(),
                    &c[1]
                );
                assert!(c[2].contains("service="), "{what}: one service per query");
                sequential += 1;
            }
            // A sequential trigger or criterion is judged on its margin alone.
            if !reads.is_empty() {
                assert!(
                    !query.contains("increase(") && !query.contains("rate("),
                    "{}: {what} mixes a threshold into its sequential test:\n{query}",
                    bundle.display()
                );
            }
        }
        // Where the engines read margins, the runbook says where the rules must be loaded.
        if queries.iter().any(|(_, q)| q.contains("canary:"))
            && (bundle.join("k8s-rollout.yaml").is_file()
                || bundle.join("k8s-flagger.yaml").is_file())
        {
            let runbook =
                std::fs::read_to_string(bundle.join("canary-rollback-runbook.md")).unwrap();
            assert!(
                runbook.contains("so those rules must be loaded into the Prometheus at"),
                "{}: the runbook does not say the recording rules must be loaded",
                bundle.display()
            );
        }
    }
    assert!(sequential > 50, "only {sequential} sequential queries");
}

#[test]
fn error_rate_and_latency_are_judged_by_the_sequential_rules_in_every_engine() {
    for bundle in committed_bundles() {
        for (what, query) in engine_queries(&bundle) {
            let error_rate = what.ends_with("/error-rate") || what.ends_with("-error-rate");
            let latency = what.contains("/latency") || what.contains("-latency");
            if error_rate || latency {
                assert!(
                    query.contains(":margin{"),
                    "{}: {what} is not judged by a sequential test:\n{query}",
                    bundle.display()
                );
            }
        }
    }
}
