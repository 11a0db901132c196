//! Documents tell the truth about the comparator: no panel, alert or runbook of a bundle reads a
//! series of `canaryc compare` unless the bundle runs one; and the plan's `sample` reaches the
//! Istio mirror and the comparator's own sampling.

use std::path::Path;

use crate::common::{canaryc, repo, stderr};

/// Series only `canaryc compare` exports (src/compare/metrics.rs): the divergence counter and
/// its own health series all start so.
const COMPARATOR_SERIES: &str = "canary_compare";

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[test]
fn no_bundle_without_a_comparator_reads_a_comparator_series() {
    let (mut with, mut without) = (0, 0);
    for dir in ["tests/cases/build", "examples"] {
        for case in std::fs::read_dir(repo().join(dir)).unwrap() {
            let case = case.unwrap().path();
            let Some(out) = ["expected", "canary-deployment"]
                .iter()
                .map(|o| case.join(o))
                .find(|o| o.is_dir())
            else {
                continue;
            };
            let plan = std::fs::read_to_string(out.join("canary-plan.json")).unwrap_or_default();
            let Ok(plan) = serde_json::from_str::<serde_json::Value>(&plan) else {
                continue;
            };
            let dashboard =
                std::fs::read_to_string(out.join("monitoring-dashboard.json")).unwrap_or_default();
            if plan["comparator"] == serde_json::Value::Bool(true) {
                with += 1;
                assert!(
                    dashboard.contains("canary_compared_responses_total"),
                    "{}: a comparator runs and the dashboard has no divergence panel",
                    case.display()
                );
                continue;
            }
            without += 1;
            for (name, text) in files(&out) {
                assert!(
                    !text.contains(COMPARATOR_SERIES),
                    "{name} reads a series of `canaryc compare`, which this bundle does not run"
                );
            }
            assert!(
                !dashboard.contains("Diverging responses"),
                "{}",
                case.display()
            );
        }
    }
    assert!(with >= 3 && without >= 10, "{with} with, {without} without");
}

fn build(plan: &str, name: &str) -> (std::path::PathBuf, std::process::Output) {
    let dir = std::env::temp_dir().join(format!("canaryc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(&dir, &["build", "--output", "out"]);
    (dir, out)
}

const ISTIO: &str = r#"plan ledger {
  python = 2.7 -> 3.13
  infra  = kubernetes(router: istio, engine: ENGINE)
  service {
    port      = 8000
    image py2 = "registry.internal/ledger:2.7-40"
    image py3 = "registry.internal/ledger:3.13-41"
  }
  rollback when { divergence > 1% for 10m }
  compare { SAMPLE }
}
"#;

#[test]
fn a_bundle_whose_target_cannot_place_a_comparator_has_no_divergence_panel() {
    let (dir, out) = build(
        &ISTIO
            .replace("ENGINE", "argo-rollouts")
            .replace("SAMPLE", ""),
        "truth-argo",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, text) in files(&dir.join("out")) {
        assert!(!text.contains(COMPARATOR_SERIES), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_plans_sample_is_the_istio_mirror_percentage_and_the_comparator_compares_all_it_gets() {
    let (dir, out) = build(
        &ISTIO
            .replace("ENGINE", "none")
            .replace("SAMPLE", "sample = 12.5%"),
        "sample-istio",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let vs = std::fs::read_to_string(dir.join("out/k8s-virtual-service.yaml")).unwrap();
    let percentages: Vec<&str> = vs
        .lines()
        .skip_while(|l| !l.contains("mirrorPercentage"))
        .filter(|l| l.trim_start().starts_with("value:"))
        .collect();
    assert!(!percentages.is_empty(), "{vs}");
    assert!(vs.contains("mirrorPercentage:\n      value: 12.5"), "{vs}");
    assert!(!vs.contains("value: 100.0"), "{vs}");
    // Istio already sends only 12.5%: the comparator, which also reads the plan, must not
    // sample that share again.
    let compare = std::fs::read_to_string(dir.join("out/k8s-compare.yaml")).unwrap();
    assert!(
        compare.contains("- --sample\n") && compare.contains("- '100'"),
        "{compare}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Without `sample`, the Deployment is as before: no flag, 100% mirrored.
    let (dir, out) = build(
        &ISTIO.replace("ENGINE", "none").replace("SAMPLE", ""),
        "sample-istio-default",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let compare = std::fs::read_to_string(dir.join("out/k8s-compare.yaml")).unwrap();
    assert!(!compare.contains("--sample"), "{compare}");
    let vs = std::fs::read_to_string(dir.join("out/k8s-virtual-service.yaml")).unwrap();
    assert!(vs.contains("mirrorPercentage:\n      value: 100.0"), "{vs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sample_of_zero_is_refused() {
    let (dir, out) = build(
        &ISTIO
            .replace("ENGINE", "none")
            .replace("SAMPLE", "sample = 0%"),
        "sample-zero",
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("compares nothing"), "{err}");
    assert!(!dir.join("out").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
