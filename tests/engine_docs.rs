//! The documents never claim what the bundle does not do (issue 11): for every committed
//! bundle (examples and build cases), a target without an engine is described as manual in
//! every generated document, a target with one names it, and every Kubernetes or Compose file the
//! runbooks tell the reader to apply is in the bundle.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::repo;

/// Phrases that promise the rollback (or ramp-up) happens without a person.
const AUTOMATIC: &[&str] = &[
    "by itself",
    "automatically",
    "the automatic rollback does",
    "rollback receiver, which",
    "aborts the rollout",
    "rolls back on the first failed check",
    "canaryc promote` sets",
];

fn bundles() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, output) in [
        ("examples", "canary-deployment"),
        ("tests/cases/build", "expected"),
    ] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let bundle = entry.unwrap().path().join(output);
            if bundle.join("canary-plan.json").is_file() {
                out.push(bundle);
            }
        }
    }
    out.sort();
    out
}

fn read(bundle: &Path, name: &str) -> String {
    std::fs::read_to_string(bundle.join(name)).unwrap_or_default()
}

/// `(infra, engine)` of each target, from canary-plan.json.
fn targets(bundle: &Path) -> Vec<(String, String)> {
    let plan: serde_json::Value = serde_json::from_str(&read(bundle, "canary-plan.json")).unwrap();
    plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["infra"].as_str().unwrap().to_string(),
                t["engine"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Lines of the documents a reader takes as a promise: the runbooks and the alerts' texts.
fn documents(bundle: &Path) -> Vec<(String, String)> {
    [
        "canary-plan.md",
        "canary-rollback-runbook.md",
        "prometheus-alerts.yaml",
    ]
    .iter()
    .map(|n| (n.to_string(), read(bundle, n)))
    .collect()
}

/// A claim found, for the failure message.
fn claims(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    AUTOMATIC
        .iter()
        .filter(|p| lower.contains(&p.to_lowercase()))
        .map(|p| (*p).to_string())
        .collect()
}

#[test]
fn a_bundle_without_an_engine_never_says_the_rollback_is_automatic() {
    let mut manual = 0;
    for bundle in bundles() {
        let targets = targets(&bundle);
        if targets.iter().any(|(_, engine)| engine != "none") {
            continue;
        }
        manual += 1;
        for (name, text) in documents(&bundle) {
            let found = claims(&text);
            assert!(
                found.is_empty(),
                "{}/{name} claims an automatic rollback ({found:?}) but no target has an engine",
                bundle.display()
            );
        }
        let plan = read(&bundle, "canary-plan.md");
        assert!(
            plan.contains("by hand") && plan.contains("`engine: none`"),
            "{}: canary-plan.md must say the rollback is manual",
            bundle.display()
        );
        assert!(
            !plan.contains("|py3 weight 0|") && !plan.contains("Argo Rollouts]"),
            "{}: the diagram draws an engine the bundle does not have",
            bundle.display()
        );
    }
    assert!(
        manual >= 3,
        "expected bundles with no engine, found {manual}"
    );
}

#[test]
fn every_engine_is_named_where_the_rollback_is_described() {
    for bundle in bundles() {
        let runbook = read(&bundle, "canary-rollback-runbook.md");
        let plan = read(&bundle, "canary-plan.md");
        for (infra, engine) in targets(&bundle) {
            let (name, files): (&str, &[&str]) = match engine.as_str() {
                "argo-rollouts" => (
                    "Argo Rollouts",
                    &["k8s-rollout.yaml", "k8s-rollout-py3.yaml"],
                ),
                "flagger" => ("Flagger", &["k8s-flagger.yaml", "k8s-flagger-py3.yaml"]),
                "canaryc" => ("canary-promote.json", &["canary-promote.json"]),
                _ => {
                    // A manual target says so in the summary, whatever the other targets do.
                    let words = match infra.as_str() {
                        "kubernetes" => "on Kubernetes a person",
                        "docker-compose" => "on Docker Compose a person",
                        _ => "on bare metal a person",
                    };
                    assert!(
                        plan.to_lowercase().contains(&words.to_lowercase()),
                        "{}: the summary must say {infra} is manual",
                        bundle.display()
                    );
                    continue;
                }
            };
            assert!(
                runbook.contains(name) || plan.contains(name),
                "{}: {engine} drives {infra} but the runbooks never name it",
                bundle.display()
            );
            for f in files {
                assert!(
                    bundle.join(f).is_file(),
                    "{}: {engine} without {f}",
                    bundle.display()
                );
            }
        }
    }
}

/// `k8s-*.yaml`, `compose-*.yml`, `canary-promote.json` and friends named anywhere in text.
fn referenced_files(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(
        r"(?:^|[\s`(])((?:k8s-[a-z0-9-]+\.yaml)|(?:compose-[a-z-]+\.ya?ml)|canary-promote\.json|Dockerfile\.canaryc|docker-compose-canary\.yml|haproxy-canary\.cfg|canary-rollback\.sh|canary-set-weight\.sh|webhook-hooks\.yaml|alertmanager\.yml|prometheus\.yml)",
    )
    .unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

#[test]
fn the_runbooks_only_name_files_the_bundle_has() {
    let mut checked = 0;
    for bundle in bundles() {
        for doc in ["canary-plan.md", "canary-rollback-runbook.md"] {
            for f in referenced_files(&read(&bundle, doc)) {
                checked += 1;
                assert!(
                    bundle.join(&f).is_file(),
                    "{}/{doc} tells the reader to use {f}, which the bundle does not have",
                    bundle.display()
                );
            }
        }
    }
    assert!(checked > 50, "only {checked} file references found");
}

#[test]
fn the_claim_detector_catches_a_claim() {
    // The old summary's words, which these tests exist to keep out of manual bundles.
    assert!(
        !claims(
            "Traffic moves to py3 in 5 stages, and moves back to py2 by itself when py3 is worse."
        )
        .is_empty()
    );
    assert!(claims("a person moves each stage's weights and rolls back by hand").is_empty());
    assert!(
        referenced_files("kubectl apply -f k8s-deployment-py3.yaml")
            .contains("k8s-deployment-py3.yaml")
    );
}
