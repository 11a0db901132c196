//! The build wires `canaryc compare` in when the plan has a `compare { }` section, and the
//! runbooks describe the comparator only when the bundle runs one (documents tell the truth).

use std::path::Path;

use crate::common::{canaryc, repo, stderr};

fn build(plan: &str, dir: &Path) -> std::process::Output {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    canaryc(dir, &["build", "--output", "out"])
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("out").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn runbooks(dir: &Path) -> String {
    read(dir, "canary-plan.md") + &read(dir, "canary-rollback-runbook.md")
}

/// What a document may only say when a comparator runs.
const CLAIMS: &[&str] = &[
    "Response comparator",
    "/report?format=text",
    "canaryc compare",
    "CanaryComparator",
];

#[test]
fn every_committed_bundle_describes_a_comparator_exactly_when_it_runs_one() {
    let mut with = 0;
    for dir in ["tests/cases/build", "examples"] {
        for case in std::fs::read_dir(repo().join(dir)).unwrap() {
            let case = case.unwrap().path();
            let out = ["expected", "canary-deployment"]
                .iter()
                .map(|o| case.join(o))
                .find(|o| o.is_dir());
            let Some(out) = out else { continue };
            let text = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
            let docs = text("canary-plan.md") + &text("canary-rollback-runbook.md");
            let plan: serde_json::Value = serde_json::from_str(&text("canary-plan.json")).unwrap();
            let runs = plan["comparator"] == serde_json::Value::Bool(true);
            let alerts = text("prometheus-alerts.yaml");
            if runs {
                with += 1;
                for claim in CLAIMS {
                    assert!(
                        docs.contains(claim) || alerts.contains(claim),
                        "{}: no `{claim}`",
                        case.display()
                    );
                }
                // Every file the comparator section names is in the bundle.
                for name in [
                    "k8s-compare.yaml",
                    "canary-compare.service",
                    "systemd-py2-secondary.service",
                    "docker-compose-canary.yml",
                    "Dockerfile.canaryc",
                ] {
                    if docs.contains(&format!("`{name}`")) {
                        assert!(
                            out.join(name).exists(),
                            "{}: names {name}, which it lacks",
                            case.display()
                        );
                    }
                }
                assert!(
                    alerts.contains("result=~\"same|diverged|noise\""),
                    "{}",
                    case.display()
                );
            } else {
                for claim in CLAIMS {
                    assert!(
                        !docs.contains(claim),
                        "{}: `{claim}` without a comparator",
                        case.display()
                    );
                    assert!(
                        !alerts.contains(claim),
                        "{}: `{claim}` without a comparator",
                        case.display()
                    );
                }
                assert!(
                    !alerts.contains("canary_compared_responses_total"),
                    "{}",
                    case.display()
                );
            }
        }
    }
    assert!(with >= 3, "the compare cases are committed");
}

const COMPARE_K8S: &str = r#"plan ledger {
  python = 2.7 -> 3.13
  infra  = kubernetes(router: istio, engine: ENGINE)
  service {
    port      = 8000
    image py2 = "registry.internal/ledger:2.7-40"
    image py3 = "registry.internal/ledger:3.13-41"
  }
  rollback when { divergence > 1% for 10m }
  compare { }
}
"#;

#[test]
fn a_target_that_cannot_place_a_comparator_says_so_and_claims_none() {
    let dir = std::env::temp_dir().join(format!("canaryc-compare-argo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = build(&COMPARE_K8S.replace("ENGINE", "argo-rollouts"), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("CNR426"), "{err}");
    assert!(
        err.contains("CNR513"),
        "the divergence trigger is dropped too: {err}"
    );
    let docs = runbooks(&dir);
    for claim in CLAIMS {
        assert!(
            !docs.contains(claim),
            "`{claim}` in a bundle without a comparator"
        );
    }
    assert!(!dir.join("out/k8s-compare.yaml").exists());
    assert!(!read(&dir, "prometheus-alerts.yaml").contains("canary_compared_responses_total"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn istio_mirrors_only_safe_methods_to_the_comparator() {
    let dir = std::env::temp_dir().join(format!("canaryc-compare-istio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = build(&COMPARE_K8S.replace("ENGINE", "none"), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("CNR426"));
    let vs = read(&dir, "k8s-virtual-service.yaml");
    let doc: serde_yaml::Value = serde_yaml::Deserializer::from_str(&vs)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .find(|d: &serde_yaml::Value| d["kind"] == "VirtualService")
        .unwrap();
    let http = doc["spec"]["http"].as_sequence().unwrap();
    let mirrored: Vec<_> = http.iter().filter(|r| r.get("mirror").is_some()).collect();
    assert!(!mirrored.is_empty());
    for r in &mirrored {
        assert_eq!(r["mirror"]["host"], "ledger-compare");
        for m in r["match"].as_sequence().unwrap() {
            assert_eq!(m["method"]["regex"], "GET|HEAD|OPTIONS", "{r:?}");
        }
    }
    // Every mirrored rule is followed by its unmirrored original, for the other methods.
    assert_eq!(mirrored.len() * 2, http.len());
    let compare = read(&dir, "k8s-compare.yaml");
    assert!(
        compare.contains("--secondary") && compare.contains("http://ledger-py2-secondary:8000")
    );
    assert!(compare.contains("version: py2-secondary"));
    assert!(runbooks(&dir).contains("create configmap ledger-compare-plan"));
    let _ = std::fs::remove_dir_all(&dir);
}
