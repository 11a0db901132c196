//! Detection: snapshot of `canaryc detect --format json` (and the human summary) for every
//! fixture codebase under tests/fixtures, a hostile tree built at test time, and merging
//! detected facts into plans.

use std::path::Path;

use canaryc::detect::merge::Merger;
use canaryc::detect::walk::Limits;
use canaryc::source::SourceMap;

use crate::common::{canaryc, check_text, repo, stderr, stdout};

fn fixtures() -> std::path::PathBuf {
    repo().join("tests/fixtures")
}

#[test]
fn every_fixture_codebase_is_snapshotted() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "hostile")
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        let json = canaryc(&fixtures(), &["detect", "--format", "json", &name]);
        assert_eq!(json.status.code(), Some(0), "{name}: {}", stderr(&json));
        let human = canaryc(&fixtures(), &["detect", &name]);
        assert_eq!(human.status.code(), Some(0));
        insta::assert_snapshot!(
            format!("detect-{name}"),
            format!("{}\n{}", stdout(&human), stdout(&json))
        );
    }
}

#[test]
fn detection_is_deterministic() {
    let a = canaryc(&fixtures(), &["detect", "--format", "json", "monorepo"]);
    let b = canaryc(&fixtures(), &["detect", "--format", "json", "monorepo"]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let out = canaryc(&fixtures(), &["detect", "no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a directory"));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The hostile tree: the committed files plus what git cannot or should not hold.
fn hostile_tree() -> std::path::PathBuf {
    // The directory's name becomes the service's: keep it fixed for the snapshot.
    let dir = std::env::temp_dir()
        .join(format!("canaryc-hostile-{}", std::process::id()))
        .join("hostile");
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&fixtures().join("hostile"), &dir);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::symlink;
        symlink(".", dir.join("loop")).unwrap();
        symlink("/etc", dir.join("escape")).unwrap();
        symlink("missing.yaml", dir.join("dangling.yaml")).unwrap();
        symlink("../../..", dir.join("ignored-not").join("up")).ok();
        let bad_name = std::ffi::OsStr::from_bytes(b"caf\xe9.py");
        std::fs::write(dir.join(bad_name), "import pickle\npickle.dumps(1)\n").unwrap();
    }
    // Git itself honours the fixture's .gitignore, so the ignored directory is made here.
    std::fs::create_dir_all(dir.join("ignored")).unwrap();
    std::fs::write(
        dir.join("ignored/Dockerfile"),
        "FROM python:2.7\nEXPOSE 9999\n",
    )
    .unwrap();
    let huge = "# padding\n".repeat(200_000);
    std::fs::write(dir.join("huge.yaml"), huge).unwrap();
    dir
}

#[test]
fn hostile_trees_are_normal_trees() {
    let dir = hostile_tree();
    let out = canaryc(&dir, &["detect", "--format", "json", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let skipped = doc["skipped"].to_string();
    let warnings = doc["warnings"].to_string();
    assert!(skipped.contains("points outside the codebase"), "{skipped}");
    assert!(skipped.contains("loops back"), "{skipped}");
    assert!(skipped.contains("dangling symlink"), "{skipped}");
    assert!(skipped.contains("larger than 1024 KiB"), "{skipped}");
    assert!(warnings.contains("alias bomb"), "{warnings}");
    assert!(warnings.contains("not valid YAML"), "{warnings}");
    assert!(warnings.contains("malformed manifest"), "{warnings}");
    assert!(warnings.contains("not UTF-8"), "{warnings}");
    assert!(!text.contains("not-ours"), "node_modules must be skipped");
    assert!(
        !text.contains("9999"),
        ".gitignored directories must be skipped"
    );
    assert!(!text.contains("venv-custom"), "virtualenvs must be skipped");
    insta::assert_snapshot!("detect-hostile", text);
    let _ = std::fs::remove_dir_all(&dir);
}

fn merged(
    plan_text: &str,
    fixture: &str,
) -> (
    canaryc::model::Plan,
    Vec<canaryc::diag::Diagnostic>,
    SourceMap,
) {
    let (analysis, mut sources) = check_text("canary.plan", plan_text);
    let plan = analysis.plan.expect("plan checks");
    let root = fixtures().join(fixture);
    let detection = canaryc::detect::detect(&root, &Limits::default()).unwrap();
    let loader = |rel: &str| std::fs::read_to_string(root.join(rel)).ok();
    let mut merger = Merger::new(&mut sources, &loader, fixture);
    let plan = merger.merge(&plan, &detection);
    let diagnostics = merger.diagnostics;
    (plan, diagnostics, sources)
}

#[test]
fn merge_fills_gaps_from_the_codebase() {
    let (plan, diagnostics, _) = merged(
        "plan ledger {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n  route { sticky = cookie(\"py_version\") }\n}\n",
        "k8s-istio",
    );
    let infra: Vec<_> = plan.infra.iter().map(|t| (t.kind, t.router)).collect();
    assert_eq!(
        infra,
        vec![(
            canaryc::model::InfraKind::Kubernetes,
            Some(canaryc::model::Router::Istio)
        )]
    );
    let service = &plan.services[0];
    assert_eq!(service.port.as_ref().unwrap().value, 8000);
    assert_eq!(service.health.as_ref().unwrap().value, "/healthz");
    assert_eq!(
        service.image_py2.as_ref().unwrap().value,
        "registry.internal/ledger:2.7-40"
    );
    // Sticky routing mitigates the session hazard, so it is not reported.
    assert!(
        diagnostics
            .iter()
            .all(|d| !d.message.contains("cache-backed Django sessions"))
    );
}

#[test]
fn merge_keeps_plan_values_and_warns_with_both_places() {
    let (plan, diagnostics, sources) = merged(
        "plan ledger {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n  infra = bare-metal(router: nginx)\n  service { port = 8080 }\n}\n",
        "k8s-istio",
    );
    assert_eq!(
        plan.services[0].port.as_ref().unwrap().value,
        8080,
        "the plan wins"
    );
    assert_eq!(
        plan.infra[0].kind,
        canaryc::model::InfraKind::BareMetal,
        "stated infra is kept"
    );
    let conflict = diagnostics
        .iter()
        .find(|d| d.code == canaryc::diag::Code::DetectedConflict)
        .expect("a conflict warning");
    assert_eq!(sources.get(conflict.primary.span.file).name, "canary.plan");
    assert_eq!(
        sources
            .get(conflict.primary.span.file)
            .slice(conflict.primary.span),
        "8080"
    );
    let other = &conflict.secondary[0];
    assert_eq!(sources.get(other.span.file).name, "k8s-istio/Dockerfile");
    assert!(
        sources
            .get(other.span.file)
            .slice(other.span)
            .contains("0.0.0.0:8000")
    );
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("cache-backed Django sessions"))
    );
}

#[test]
fn auto_with_nothing_detected_falls_back_to_bare_metal() {
    let (plan, diagnostics, _) = merged(
        "plan notes {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n}\n",
        "empty",
    );
    assert_eq!(plan.infra[0].kind, canaryc::model::InfraKind::BareMetal);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code == canaryc::diag::Code::InfraFallback)
    );
}

#[test]
fn check_merges_the_codebase_named_by_the_plan() {
    let dir = std::env::temp_dir().join(format!("canaryc-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let codebase = fixtures().join("k8s-istio");
    std::fs::write(
        dir.join("canary.plan"),
        format!("plan ledger {{\n  codebase = \"{}\"\n  python = 2.7 -> 3.13\n  service {{ port = 8080 }}\n}}\n", codebase.display()),
    )
    .unwrap();
    let out = canaryc(&dir, &["check", "--format", "short"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out)
            .contains("warning[CNR602]: the plan says port 8080, but Dockerfile:8 says 8000")
    );
    let skipped = canaryc(&dir, &["check", "--format", "short", "--no-detect"]);
    assert_eq!(stdout(&skipped), "");
}

/// Filled values carry a span into the file they were read from (never `Span::default()`), so
/// any diagnostic about a detected value points at its file and line; and the link pass joined
/// the service to the workload lowering clones.
#[test]
fn detected_values_point_into_the_codebase() {
    let (plan, _, sources) = merged(
        "plan ledger {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n}\n",
        "k8s-istio",
    );
    let service = &plan.services[0];
    let port = service.port.as_ref().unwrap();
    assert_eq!(sources.get(port.span.file).name, "k8s-istio/Dockerfile");
    assert!(
        sources
            .get(port.span.file)
            .slice(port.span)
            .contains("8000")
    );
    let image = service.image_py2.as_ref().unwrap();
    assert_eq!(
        sources.get(image.span.file).name,
        "k8s-istio/deploy/ledger.yaml"
    );
    assert_eq!(
        sources.get(image.span.file).slice(image.span),
        "image: registry.internal/ledger:2.7-40"
    );
    let health = service.health.as_ref().unwrap();
    assert_eq!(
        sources.get(health.span.file).slice(health.span),
        "path: /healthz"
    );
    assert!(service.workload.is_some(), "linked to the Deployment");
}

/// The link pass joins by name first (the workload's, or the Kubernetes Service's), then, for a
/// one-service plan, the only Python web workload; with several it links none and says so.
#[test]
fn the_link_pass_explains_what_it_could_not_link() {
    let (plan, diagnostics, _) = merged(
        "plan platform {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n  infra = docker-compose(router: haproxy)\n  service {\n    image py3 = \"x:3\"\n  }\n}\n",
        "monorepo",
    );
    assert!(plan.services[0].workload.is_none());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code == canaryc::diag::Code::ServiceAmbiguous)
    );
    let (plan, diagnostics, _) = merged(
        "plan platform {\n  codebase = \".\"\n  python = 2.7 -> 3.13\n  infra = docker-compose(router: haproxy)\n  service web {\n    image py3 = \"x:3\"\n  }\n  service worker {\n    image py3 = \"x:3\"\n  }\n}\n",
        "monorepo",
    );
    assert!(plan.services[0].workload.is_some(), "web links by name");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code == canaryc::diag::Code::ServiceNotPythonWeb
                && d.message.contains("Python worker")),
        "{diagnostics:?}"
    );
}
