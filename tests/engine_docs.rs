//! The documents never claim what the bundle does not do (issue 11): for every committed
//! bundle (examples and build cases), a target without an engine is described as manual in
//! every generated document, a target with one names it, and every Kubernetes or Compose file the
//! runbooks tell the reader to apply is in the bundle. The engines-output review's cases, each
//! against the generated objects: stickiness only where the engine keeps it (6a), every trigger
//! an alert says the engine evaluates is in its analysis and the progress deadline is not
//! promised during holds (6b), every pod-level selector names pods or containers the bundle
//! creates (6c), Flagger's holds are gates the runbook opens and closes (6d), and py3 is kept
//! for inspection after an abort where the runbook says so (6e).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::committed_bundles;

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
    for bundle in committed_bundles() {
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
    for bundle in committed_bundles() {
        let runbook = read(&bundle, "canary-rollback-runbook.md");
        let plan = read(&bundle, "canary-plan.md");
        for (infra, engine) in targets(&bundle) {
            let (name, files): (&str, &[&str]) = match engine.as_str() {
                "argo-rollouts" => (
                    "Argo Rollouts",
                    &["k8s-rollout.yaml", "k8s-rollout-routing.yaml"],
                ),
                "flagger" => ("Flagger", &["k8s-flagger.yaml"]),
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
        r"(?:^|[\s`(])((?:k8s-[a-z0-9-]+\.(?:yaml|patch))|(?:compose-[a-z-]+\.ya?ml)|canary-promote\.json|Dockerfile\.canaryc|docker-compose-canary\.yml|haproxy-canary\.cfg|canary-rollback\.sh|canary-set-weight\.sh|webhook-hooks\.yaml|alertmanager\.yml|prometheus\.yml)",
    )
    .unwrap();
    re.captures_iter(text).map(|c| c[1].to_string()).collect()
}

#[test]
fn the_runbooks_only_name_files_the_bundle_has() {
    let mut checked = 0;
    for bundle in committed_bundles() {
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

// ---- the generated objects ----

/// The YAML documents of a bundle file, as JSON values.
fn objects(bundle: &Path, name: &str) -> Vec<serde_json::Value> {
    let text = read(bundle, name);
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde_json::Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

use serde::Deserialize as _;

fn kind<'a>(docs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn plan_json(bundle: &Path) -> serde_json::Value {
    serde_json::from_str(&read(bundle, "canary-plan.json")).unwrap()
}

fn engine_bundles(engine: &str) -> Vec<PathBuf> {
    committed_bundles()
        .into_iter()
        .filter(|b| targets(b).iter().any(|(_, e)| e == engine))
        .collect()
}

/// Every `*.patch` of a bundle applied to the object it patches (by `--patch-file NAME`
/// in its header): the py3 side of each Rollout or Deployment.
fn patched(bundle: &Path, base: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(bundle).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".patch") {
            continue;
        }
        let text = read(bundle, &name);
        let command = text.lines().find(|l| l.contains("--patch-file")).unwrap();
        let words: Vec<&str> = command.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "patch").unwrap();
        let (kind, object) = (words[at + 1], words[at + 2]);
        let patch: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let target = base
            .iter()
            .find(|d| {
                d["kind"].as_str().unwrap().eq_ignore_ascii_case(kind)
                    && d["metadata"]["name"] == object
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: {name} patches {kind} {object}, which the bundle does not have",
                    bundle.display()
                )
            });
        out.push(canaryc::emit::engine::apply_merge_patch(target, &patch));
    }
    out
}

/// 6a: a bundle says routing is sticky only where the engine keeps users on one interpreter.
#[test]
fn stickiness_is_claimed_only_where_the_engine_keeps_it() {
    let mut checked = 0;
    for bundle in committed_bundles() {
        let plan = plan_json(&bundle);
        if plan["sticky"]["by"] != "cookie" {
            continue;
        }
        let dropped = plan["targets"].as_array().unwrap().iter().any(|t| {
            let router = t["router"].as_str().unwrap();
            match t["engine"].as_str().unwrap() {
                "argo-rollouts" => true,
                "flagger" => !matches!(router, "istio" | "gateway-api"),
                _ => false,
            }
        });
        let md = read(&bundle, "canary-plan.md");
        if dropped {
            checked += 1;
            assert!(
                !md.contains("Routing is sticky by"),
                "{}: canary-plan.md says routing is sticky, but an engine drops the cookie routes",
                bundle.display()
            );
            assert!(md.contains("does not deliver it"), "{}", bundle.display());
        }
        // Where the engine keeps it, its object says so.
        for d in objects(&bundle, "k8s-flagger.yaml") {
            if d["kind"] == "Canary" && !dropped {
                assert!(
                    d["spec"]["analysis"]["sessionAffinity"]["cookieName"].is_string(),
                    "{}",
                    bundle.display()
                );
            }
        }
    }
    assert!(checked >= 1, "no bundle asks Argo Rollouts for stickiness");
}

/// The triggers canary-plan.json lists (divergence only with a comparator).
fn trigger_count(bundle: &Path) -> usize {
    plan_json(bundle)["triggers"].as_array().unwrap().len()
}

/// 6b: the alert and the summary say the engine evaluates every trigger: every trigger is a
/// metric of the engine's analysis, and the progress deadline is not promised during holds.
#[test]
fn every_trigger_the_documents_promise_is_in_the_engines_analysis() {
    for bundle in engine_bundles("argo-rollouts") {
        let docs = objects(&bundle, "k8s-rollout.yaml");
        let rollouts = kind(&docs, "Rollout");
        for r in rollouts {
            let name = r["spec"]["strategy"]["canary"]["analysis"]["templates"][0]["templateName"]
                .as_str()
                .unwrap_or("");
            let template = docs
                .iter()
                .find(|d| d["kind"] == "AnalysisTemplate" && d["metadata"]["name"] == name);
            let metrics = template.map_or(0, |t| t["spec"]["metrics"].as_array().unwrap().len());
            assert_eq!(
                metrics,
                trigger_count(&bundle),
                "{}: the alerts say Argo's background analysis evaluates every trigger, but {name} has {metrics} metrics",
                bundle.display()
            );
        }
        let runbook = read(&bundle, "canary-rollback-runbook.md");
        if runbook.contains("progressDeadlineAbort") {
            assert!(
                runbook.contains("no progress while a step pauses"),
                "{}: the progress deadline is promised during holds",
                bundle.display()
            );
        }
    }
    for bundle in engine_bundles("flagger") {
        let docs = objects(&bundle, "k8s-flagger.yaml");
        for c in kind(&docs, "Canary") {
            let metrics = c["spec"]["analysis"]["metrics"].as_array().unwrap().len();
            assert_eq!(metrics, trigger_count(&bundle), "{}", bundle.display());
        }
    }
}

/// Names the bundle's pods, containers and Deployments have, engine by engine.
#[derive(Default)]
struct Workloads {
    /// Owners whose pods are `OWNER-<hash>-<id>`.
    owners: BTreeSet<String>,
    deployments: BTreeSet<String>,
    containers: BTreeSet<String>,
}

fn workloads(bundle: &Path) -> Workloads {
    let mut w = Workloads::default();
    let mut all = Vec::new();
    for f in [
        "k8s-deployment-py2.yaml",
        "k8s-deployment-py3.yaml",
        "k8s-rollout.yaml",
        "k8s-flagger.yaml",
    ] {
        all.extend(objects(bundle, f));
    }
    all.extend(patched(bundle, &all.clone()));
    for d in &all {
        let name = d["metadata"]["name"].as_str().unwrap_or("").to_string();
        let template = match d["kind"].as_str() {
            Some("Deployment") => {
                w.deployments.insert(name.clone());
                w.owners.insert(name.clone());
                // Flagger's copy of a target it manages.
                if bundle.join("k8s-flagger.yaml").is_file() {
                    w.deployments.insert(format!("{name}-primary"));
                    w.owners.insert(format!("{name}-primary"));
                }
                &d["spec"]["template"]
            }
            Some("Rollout") => {
                w.owners.insert(name.clone());
                &d["spec"]["template"]
            }
            _ => continue,
        };
        for c in template["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            w.containers.insert(c["name"].as_str().unwrap().to_string());
        }
    }
    w
}

/// Every PromQL expression of a bundle: alerts, dashboard, analyses, promote's criteria.
fn queries(bundle: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in objects(bundle, "prometheus-alerts.yaml") {
        for g in d["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                out.push(r["expr"].as_str().unwrap_or("").to_string());
            }
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(bundle, "monitoring-dashboard.json")).unwrap_or_default();
    for p in dashboard["panels"].as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push(t["expr"].as_str().unwrap_or("").to_string());
        }
    }
    for f in ["k8s-rollout.yaml", "k8s-flagger.yaml"] {
        for d in objects(bundle, f) {
            for m in d["spec"]["metrics"].as_array().into_iter().flatten() {
                out.push(
                    m["provider"]["prometheus"]["query"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                );
            }
            out.push(d["spec"]["query"].as_str().unwrap_or("").to_string());
        }
    }
    out
}

/// 6c: every pod-level selector (alerts, dashboard, analyses) names pods, containers or
/// Deployments the bundle creates.
#[test]
fn pod_metrics_select_what_the_bundle_runs() {
    let label = regex::Regex::new(r#"\b(pod|container|deployment)(=~|=)"([^"]*)""#).unwrap();
    let mut checked = 0;
    for bundle in committed_bundles() {
        if !targets(&bundle).iter().any(|(i, _)| i == "kubernetes") {
            continue;
        }
        let w = workloads(&bundle);
        for q in queries(&bundle) {
            for c in label.captures_iter(&q) {
                let (which, op, value) = (&c[1], &c[2], &c[3]);
                if value.is_empty() {
                    continue; // container!="": the pod-level sums left out
                }
                checked += 1;
                let re = regex::Regex::new(&format!("^(?:{value})$")).unwrap();
                let found = match (which, op) {
                    ("pod", _) => w
                        .owners
                        .iter()
                        .any(|o| re.is_match(&format!("{o}-7d9f8c6b5-x2x4z"))),
                    ("container", _) => w.containers.iter().any(|n| re.is_match(n)),
                    _ => w.deployments.iter().any(|n| re.is_match(n)),
                };
                assert!(
                    found,
                    "{}: `{which}{op}\"{value}\"` selects nothing the bundle runs (pods of {:?}, containers {:?}, Deployments {:?}) in\n{q}",
                    bundle.display(),
                    w.owners,
                    w.containers,
                    w.deployments
                );
            }
        }
    }
    assert!(checked > 20, "only {checked} pod-level selectors checked");
}

/// 6d: Flagger's holds are gates the runbook opens and closes; its interval is short enough
/// for a rollback, the manual rollback webhook and new revisions to happen within minutes;
/// the runbook closes the rollback gate after using it and says a rollback after promotion
/// means deploying py2 again.
#[test]
fn flaggers_holds_are_gates_and_its_runbook_closes_them() {
    let bundles = engine_bundles("flagger");
    assert!(bundles.len() >= 3, "{bundles:?}");
    for bundle in bundles {
        let docs = objects(&bundle, "k8s-flagger.yaml");
        let plan = plan_json(&bundle);
        let shortest = plan["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["hold_hours"].as_f64().unwrap() * 3600.0)
            .fold(f64::INFINITY, f64::min);
        for c in kind(&docs, "Canary") {
            let a = &c["spec"]["analysis"];
            let interval = a["interval"].as_str().unwrap();
            let secs: f64 = match interval.strip_suffix('m') {
                Some(m) => m.parse::<f64>().unwrap() * 60.0,
                None => interval.trim_end_matches('s').parse().unwrap(),
            };
            assert!(
                secs <= 60.0 && secs <= shortest,
                "{}: interval {interval}",
                bundle.display()
            );
            let hooks: Vec<&str> = a["webhooks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["type"].as_str().unwrap())
                .collect();
            assert!(
                hooks.contains(&"confirm-traffic-increase"),
                "{}: {hooks:?}",
                bundle.display()
            );
        }
        let md = read(&bundle, "canary-plan.md");
        let runbook = read(&bundle, "canary-rollback-runbook.md");
        for needle in ["gate/open", "gate/close", "rollback/close"] {
            assert!(
                md.contains(needle) || runbook.contains(needle),
                "{}: the runbooks never run {needle}",
                bundle.display()
            );
        }
        assert!(
            md.contains("Flagger does not hold a stage or judge its criteria"),
            "{}: the ramp-up table promises holds and criteria Flagger does not keep",
            bundle.display()
        );
        assert!(
            runbook.contains("after its promotion py2 no longer runs"),
            "{}",
            bundle.display()
        );
    }
}

/// 6e: "py3 keeps running with no traffic, so it can be inspected" holds for each engine the
/// runbook says it for.
#[test]
fn py3_is_kept_for_inspection_where_the_runbook_says_so() {
    let claim = "py3 keeps running with no traffic, so it can be inspected";
    for bundle in engine_bundles("argo-rollouts") {
        if !read(&bundle, "canary-rollback-runbook.md").contains(claim) {
            continue;
        }
        for r in kind(&objects(&bundle, "k8s-rollout.yaml"), "Rollout") {
            assert_eq!(
                r["spec"]["strategy"]["canary"]["abortScaleDownDelaySeconds"],
                serde_json::json!(0),
                "{}: Argo scales an aborted canary down after 30s unless abortScaleDownDelaySeconds is 0",
                bundle.display()
            );
        }
    }
    for bundle in engine_bundles("flagger") {
        let runbook = read(&bundle, "canary-rollback-runbook.md");
        assert!(
            !runbook.starts_with(claim) && runbook.contains("Flagger scales the py3 target to 0"),
            "{}",
            bundle.display()
        );
    }
}
