//! The Istio VirtualServices canaryc writes are ones istiod accepts and Argo Rollouts can drive,
//! and a team's shared VirtualService keeps its routes to other services.
//!
//! Checked on every committed bundle with a VirtualService (examples and build cases) and on
//! fresh builds of the fixtures with a team VirtualService or Gateway:
//! - istiod's host rules (Istio pkg/config/validation, `validateVirtualService`): no two hosts
//!   that `host.Name.Matches` each other ("duplicate hosts in virtual service"), and no `*`
//!   host on a VirtualService bound to the mesh (no gateways, or `mesh` among them);
//! - Argo Rollouts' (rollout/trafficrouting/istio/istio.go, `ValidateHTTPRoutes` and
//!   `generateVirtualServicePatches`): every route the Rollout lists exists, once, and holds
//!   the stable and canary subsets, and every route with the canary subset is listed (an
//!   unlisted one is never re-weighted);
//! - every route to the service has a name, unique in the VirtualService.

use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value;

use crate::common::{canaryc, committed_bundles, copy_tree, repo, stderr, stdout};

fn objects(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// Every object of every YAML file of a bundle.
fn bundle_objects(bundle: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files.iter().flat_map(|f| objects(f)).collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Istio's `host.Name.Matches`: equal, or a wildcard `*suffix` that covers the other.
fn host_matches(a: &str, b: &str) -> bool {
    let covers = |w: &str, h: &str| w.strip_prefix('*').is_some_and(|s| h.ends_with(s));
    a == b || covers(a, b) || covers(b, a)
}

/// The subsets a route's destinations name.
fn subsets(route: &Value) -> Vec<String> {
    route["route"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["destination"]["subset"].as_str())
        .map(str::to_string)
        .collect()
}

/// Checks one bundle; returns how many VirtualServices it holds.
fn check_bundle(bundle: &Path) -> usize {
    let docs = bundle_objects(bundle);
    let b = bundle.display();
    let services = of_kind(&docs, "VirtualService");
    for vs in &services {
        let name = vs["metadata"]["name"].as_str().unwrap();
        let hosts = strings(&vs["spec"]["hosts"]);
        assert!(!hosts.is_empty(), "{b}: {name} has no hosts");
        for (i, a) in hosts.iter().enumerate() {
            for c in &hosts[i + 1..] {
                assert!(
                    !host_matches(a, c),
                    "{b}: duplicate hosts in virtual service {name}: {a} & {c}"
                );
            }
        }
        let gateways = strings(&vs["spec"]["gateways"]);
        let mesh = gateways.is_empty() || gateways.iter().any(|g| g == "mesh");
        assert!(
            !(mesh && hosts.iter().any(|h| h == "*")),
            "{b}: wildcard host * on {name}, bound to the mesh"
        );
        let http = vs["spec"]["http"].as_array().unwrap();
        let mut names: Vec<&str> = http.iter().filter_map(|r| r["name"].as_str()).collect();
        let subset_routes = http.iter().filter(|r| !subsets(r).is_empty());
        for r in subset_routes {
            assert!(
                r["name"].is_string(),
                "{b}: {name}: a route to the service has no name: {r}"
            );
        }
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "{b}: {name}: route names repeat");
    }
    for rollout in of_kind(&docs, "Rollout") {
        for m in managed_virtual_services(rollout) {
            check_listed(bundle, &services, m);
        }
    }
    services.len()
}

/// The VirtualServices a Rollout's Istio routing names (`virtualService` or `virtualServices`),
/// none without Istio.
fn managed_virtual_services(rollout: &Value) -> Vec<&Value> {
    let istio = &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"];
    if istio.is_null() {
        return Vec::new();
    }
    match istio["virtualServices"].as_array() {
        Some(list) => list.iter().collect(),
        None => vec![&istio["virtualService"]],
    }
}

/// Argo's route rule for one VirtualService the Rollout manages.
fn check_listed(bundle: &Path, services: &[&Value], managed: &Value) {
    let b = bundle.display();
    let vs_name = managed["name"].as_str().unwrap();
    let listed = strings(&managed["routes"]);
    // Argo's GetVirtualServiceNamespaceName: `name.namespace`, else the Rollout's namespace.
    let (name, namespace) = match vs_name.split_once('.') {
        Some((n, ns)) => (n, Some(ns)),
        None => (vs_name, None),
    };
    let vs = services
        .iter()
        .find(|v| {
            v["metadata"]["name"] == name
                && namespace.is_none_or(|ns| v["metadata"]["namespace"] == ns)
        })
        .unwrap_or_else(|| panic!("{b}: the Rollout's VirtualService {vs_name} is not written"));
    let http = vs["spec"]["http"].as_array().unwrap();
    for name in &listed {
        let found: Vec<&Value> = http.iter().filter(|r| r["name"] == name.as_str()).collect();
        assert_eq!(
            found.len(),
            1,
            "{b}: Route '{name}' is not found (once) in {vs_name}"
        );
        let subsets = subsets(found[0]);
        assert!(
            subsets.contains(&"stable".into()) && subsets.contains(&"canary".into()),
            "{b}: listed route {name} lacks the stable or canary subset"
        );
    }
    let canaried: Vec<String> = http
        .iter()
        .filter(|r| subsets(r).contains(&"canary".into()))
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        listed, canaried,
        "{b}: the Rollout lists other routes than the split ones in {vs_name}"
    );
}

/// The committed bundles with a VirtualService.
fn committed() -> Vec<PathBuf> {
    committed_bundles()
        .into_iter()
        .filter(|b| {
            bundle_objects(b)
                .iter()
                .any(|d| d["kind"] == "VirtualService")
        })
        .collect()
}

/// Builds `plan` (its `codebase` a fixture's name) into a fresh directory.
fn build(name: &str, plan: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("canaryc-istio-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixtures = repo().join("tests/fixtures");
    let plan = plan.replace("FIXTURES", &fixtures.display().to_string());
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(&dir, &["build", "canary.plan", "--output", "out"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{name}: {}{err}", stdout(&out));
    (dir.join("out"), err)
}

fn bookshop(engine: &str, extra: &str) -> String {
    format!(
        "plan bookshop {{\n  codebase = \"FIXTURES/bookshop-mesh\"\n  python   = 2.7 -> 3.12\n  infra    = kubernetes(router: istio, engine: {engine})\n{extra}  service storefront {{ image py3 = \"acme/bookshop-storefront:3.12\" }}\n}}\n"
    )
}

fn shared(engine: &str) -> String {
    format!(
        "plan ledger {{\n  codebase = \"FIXTURES/istio-shared-route\"\n  python   = 2.7 -> 3.13\n  namespace = \"payments\"\n  infra    = kubernetes(router: istio, engine: {engine})\n  service {{ image py3 = \"registry.internal/ledger:3.13-1\" }}\n}}\n"
    )
}

/// The fixtures' bundles: a shared VirtualService (bookshop-mesh) under Argo and the plain
/// files, sticky and not; a route shared with another service; a Gateway and no VirtualService;
/// a mesh-only team VirtualService (k8s-flagger's `quotes-edge`).
fn fresh() -> Vec<(String, PathBuf, String)> {
    let cases = [
        ("bookshop-argo", bookshop("argo-rollouts", "")),
        ("bookshop-plain", bookshop("none", "")),
        (
            "bookshop-plain-sticky",
            bookshop("none", "  route { sticky = cookie(\"py_version\") }\n"),
        ),
        ("shared-argo", shared("argo-rollouts")),
        ("shared-plain", shared("none")),
        (
            "ledger-argo",
            "plan ledger {\n  codebase = \"FIXTURES/k8s-istio\"\n  python   = 2.7 -> 3.13\n  namespace = \"payments\"\n  infra    = kubernetes(router: istio, engine: argo-rollouts)\n  service { image py3 = \"registry.internal/ledger:3.13-1\" }\n}\n".to_string(),
        ),
        (
            "quotes-argo",
            "plan quotes {\n  codebase = \"FIXTURES/k8s-flagger\"\n  python   = 2.7 -> 3.12\n  namespace = \"quotes\"\n  infra    = kubernetes(router: istio, engine: argo-rollouts)\n  service { image py3 = \"registry.internal/quotes:3.12-1\" }\n}\n".to_string(),
        ),
        (
            "quotes-plain",
            "plan quotes {\n  codebase = \"FIXTURES/k8s-flagger\"\n  python   = 2.7 -> 3.12\n  namespace = \"quotes\"\n  infra    = kubernetes(router: istio, engine: none)\n  service { image py3 = \"registry.internal/quotes:3.12-1\" }\n}\n".to_string(),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, plan)| {
            let (dir, err) = build(name, &plan);
            (name.to_string(), dir, err)
        })
        .collect()
}

/// The VirtualService of the team's name (`bookshop`, `edge`) in a bundle's file.
fn virtual_service(bundle: &Path, file: &str, name: &str) -> Value {
    let docs = objects(&bundle.join(file));
    let found: Vec<&Value> = of_kind(&docs, "VirtualService")
        .into_iter()
        .filter(|v| v["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{}", bundle.display());
    found[0].clone()
}

/// The team's VirtualService in bookshop-mesh/networking/gateway.yaml.
fn team_virtual_service() -> Value {
    let docs = objects(&repo().join("tests/fixtures/bookshop-mesh/networking/gateway.yaml"));
    of_kind(&docs, "VirtualService")[0].clone()
}

#[test]
fn every_virtual_service_is_one_istiod_accepts_and_argo_can_drive() {
    let committed = committed();
    assert!(committed.len() >= 3, "{committed:?}");
    let mut checked = 0;
    for b in &committed {
        checked += check_bundle(b);
    }
    let fresh = fresh();
    for (_, dir, _) in &fresh {
        checked += check_bundle(dir);
    }
    assert!(checked >= committed.len() + fresh.len(), "{checked}");
    for (_, dir, _) in fresh {
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}

#[test]
fn a_shared_virtual_service_keeps_the_teams_other_routes() {
    let team = team_virtual_service();
    let team_http = team["spec"]["http"].as_array().unwrap();
    let (argo, _) = build("keep-argo", &bookshop("argo-rollouts", ""));
    let vs = virtual_service(&argo, "k8s-rollout-routing.yaml", "bookshop");
    assert_eq!(vs["metadata"]["name"], "bookshop");
    assert_eq!(vs["spec"]["hosts"], team["spec"]["hosts"]);
    assert_eq!(vs["spec"]["gateways"], team["spec"]["gateways"]);
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 3, "{vs}");
    // `/reviews` to the reviews service: as the team wrote it, first.
    assert_eq!(http[0], team_http[0]);
    // Both routes to storefront keep their match (and timeout) and split stable/canary.
    for (ours, theirs) in http[1..].iter().zip(&team_http[1..]) {
        assert_eq!(ours["match"], theirs["match"]);
        assert_eq!(ours["timeout"], theirs["timeout"]);
        assert_eq!(subsets(ours), ["stable", "canary"], "{ours}");
        for d in ours["route"].as_array().unwrap() {
            assert_eq!(d["destination"]["host"], "storefront");
            assert_eq!(d["destination"]["port"]["number"], 9080);
        }
    }
    assert_eq!(http[1]["name"], "static", "the team's name");
    assert_eq!(http[2]["name"], "primary", "an unnamed route gets one");
    let rollout = objects(&argo.join("k8s-rollout.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .unwrap();
    // `bookshop` is bound to the Gateway only: the sidecars' own VirtualService is re-weighted
    // beside it.
    let managed =
        &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["virtualServices"];
    assert_eq!(managed[0]["name"], "bookshop");
    assert_eq!(strings(&managed[0]["routes"]), ["static", "primary"]);
    assert_eq!(managed[1]["name"], "storefront");
    assert_eq!(strings(&managed[1]["routes"]), ["primary"]);
    let mesh = virtual_service(&argo, "k8s-rollout-routing.yaml", "storefront");
    assert_eq!(strings(&mesh["spec"]["hosts"]), ["storefront"]);
    assert!(mesh["spec"]["gateways"].is_null(), "{mesh}");

    // The plain files: the same routes, split at the first stage's weights; the runbook's
    // weight patches and rollback never touch the team's `/reviews` route.
    let (plain, _) = build("keep-plain", &bookshop("none", ""));
    let vs = virtual_service(&plain, "k8s-virtual-service.yaml", "bookshop");
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http[0], team_http[0]);
    for (ours, theirs) in http[1..].iter().zip(&team_http[1..]) {
        assert_eq!(ours["match"], theirs["match"]);
        assert_eq!(subsets(ours), ["py2", "py3"], "{ours}");
    }
    let md = std::fs::read_to_string(plain.join("canary-plan.md")).unwrap()
        + &std::fs::read_to_string(plain.join("canary-rollback-runbook.md")).unwrap();
    // `bookshop` is bound to the Gateway only: the sidecars get a VirtualService of their own,
    // split the same way, patched too.
    let mesh = virtual_service(&plain, "k8s-virtual-service.yaml", "storefront");
    assert_eq!(strings(&mesh["spec"]["hosts"]), ["storefront"]);
    assert!(mesh["spec"]["gateways"].is_null(), "{mesh}");
    assert_eq!(subsets(&mesh["spec"]["http"][0]), ["py2", "py3"]);
    assert!(md.contains("patch virtualservice storefront "));
    let patches: Vec<&str> = md
        .lines()
        .filter(|l| l.contains("patch virtualservice bookshop "))
        .collect();
    assert!(!patches.is_empty());
    for p in patches {
        assert!(!p.contains("/spec/http/0/"), "{p}");
        assert!(
            !p.contains("\"path\":\"/spec/http\""),
            "replaces every route: {p}"
        );
        assert!(
            p.contains("/spec/http/1/") && p.contains("/spec/http/2/"),
            "{p}"
        );
    }
    for dir in [argo, plain] {
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}

#[test]
fn a_route_shared_with_another_service_keeps_its_share_and_is_not_reweighted() {
    for (engine, file, py2) in [
        ("argo-rollouts", "k8s-rollout-routing.yaml", "stable"),
        ("none", "k8s-virtual-service.yaml", "py2"),
    ] {
        let (out, err) = build(&format!("shared-{engine}"), &shared(engine));
        assert!(err.contains("CNR455"), "{err}");
        let vs = virtual_service(&out, file, "edge");
        assert_eq!(
            vs["spec"]["exportTo"],
            serde_json::json!(["."]),
            "the rest of their spec"
        );
        let http = vs["spec"]["http"].as_array().unwrap();
        let export = http.iter().find(|r| r["name"] == "export").unwrap();
        let route = export["route"].as_array().unwrap();
        assert_eq!(route.len(), 2, "{export}");
        assert_eq!(route[0]["destination"]["subset"], py2);
        assert_eq!(route[0]["weight"], 80);
        assert_eq!(route[1]["destination"]["host"], "exporter");
        assert_eq!(route[1]["weight"], 20);
        let _ = std::fs::remove_dir_all(out.parent().unwrap());
    }
}

#[test]
fn flagger_says_it_does_not_share_the_teams_virtual_service() {
    let (out, err) = build("flagger", &bookshop("flagger", ""));
    assert!(err.contains("CNR456"), "{err}");
    // Flagger's own VirtualService is for the sidecars: not a second one for the team's `*`
    // host on their Gateway, which istiod would merge with theirs.
    let canary = bundle_objects(&out)
        .into_iter()
        .find(|d| d["kind"] == "Canary")
        .unwrap();
    let service = &canary["spec"]["service"];
    assert!(service["gateways"].is_null(), "{service}");
    assert!(service["hosts"].is_null(), "{service}");
    let _ = std::fs::remove_dir_all(out.parent().unwrap());
}

/// istio-shared-route copied into a fresh directory, its `deploy/istio.yaml` edited: the
/// directory and the codebase in it.
fn shared_route_edited(name: &str, edit: impl Fn(&str) -> String) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("canaryc-istio-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let codebase = dir.join("codebase");
    copy_tree(&repo().join("tests/fixtures/istio-shared-route"), &codebase);
    let istio = codebase.join("deploy/istio.yaml");
    let text = std::fs::read_to_string(&istio).unwrap();
    std::fs::write(&istio, edit(&text)).unwrap();
    (dir, codebase)
}

#[test]
fn a_virtual_service_whose_every_route_to_the_service_is_shared_is_refused() {
    // Without its last route, `edge` reaches the ledger only through `/export`, shared.
    let (dir, _) = shared_route_edited("all-shared", |text| {
        text[..text.rfind("    - route:").unwrap()].to_string()
    });
    std::fs::write(
        dir.join("canary.plan"),
        shared("argo-rollouts").replace("FIXTURES/istio-shared-route", "codebase"),
    )
    .unwrap();
    let out = canaryc(&dir, &["build", "canary.plan", "--output", "out"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("CNR455") && err.contains("no route to split"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// bookshop-mesh as Istio's samples ship it: besides the Gateway's VirtualService, one for the
/// sidecars named after the service (to its `v1` subset) and a DestinationRule of that name,
/// with an mTLS policy. The team may have applied both.
fn bookshop_with_mesh_objects(dir: &Path) -> PathBuf {
    let codebase = dir.join("codebase");
    copy_tree(&repo().join("tests/fixtures/bookshop-mesh"), &codebase);
    std::fs::write(
        codebase.join("networking/storefront-v1.yaml"),
        "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: storefront\n  labels:\n    app.kubernetes.io/instance: bookshop\n  annotations:\n    owner: storefront-team\n    kubectl.kubernetes.io/last-applied-configuration: '{}'\nspec:\n  hosts:\n  - storefront\n  http:\n  - route:\n    - destination:\n        host: storefront\n        subset: v1\n---\napiVersion: networking.istio.io/v1alpha3\nkind: DestinationRule\nmetadata:\n  name: storefront\nspec:\n  host: storefront\n  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n",
    )
    .unwrap();
    codebase
}

/// `plan` built with Argo Rollouts and with the plain files: each bundle, the file holding its
/// VirtualServices and the copies' subset names.
fn argo_and_plain(
    name: &str,
    plan: impl Fn(&str) -> String,
) -> [(PathBuf, &'static str, [&'static str; 2]); 2] {
    let (argo, _) = build(&format!("{name}-argo"), &plan("argo-rollouts"));
    let (plain, _) = build(&format!("{name}-plain"), &plan("none"));
    [
        (argo, "k8s-rollout-routing.yaml", ["stable", "canary"]),
        (plain, "k8s-virtual-service.yaml", ["py2", "py3"]),
    ]
}

#[test]
fn canaryc_never_replaces_a_team_object_it_does_not_take_over() {
    let dir =
        std::env::temp_dir().join(format!("canaryc-istio-{}-team-objects", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let codebase = bookshop_with_mesh_objects(&dir);
    let plan = |engine: &str| {
        bookshop(engine, "").replace("FIXTURES/bookshop-mesh", &codebase.display().to_string())
    };
    let [argo, plain] = argo_and_plain("team-objects", plan);
    for (bundle, file, subsets_ours) in [&argo, &plain] {
        check_bundle(bundle);
        let docs = bundle_objects(bundle);
        // The team's DestinationRule `storefront` is not replaced: ours has a name of its own,
        // and istiod merges the two for the host.
        let rules = of_kind(&docs, "DestinationRule");
        assert_eq!(rules.len(), 1, "{}", bundle.display());
        assert_eq!(rules[0]["metadata"]["name"], "storefront-canary");
        assert_eq!(rules[0]["spec"]["host"], "storefront");
        // Both of the team's VirtualServices to storefront are taken over, with their hosts and
        // Gateways, and split; canaryc adds no sidecar VirtualService of its own.
        let names: Vec<&Value> = of_kind(&docs, "VirtualService")
            .iter()
            .map(|v| &v["metadata"]["name"])
            .collect();
        assert_eq!(names, ["bookshop", "storefront"], "{}", bundle.display());
        let mesh = virtual_service(bundle, file, "storefront");
        assert_eq!(strings(&mesh["spec"]["hosts"]), ["storefront"]);
        // What tracks the team's object still does; kubectl's record of their spec does not.
        assert_eq!(
            mesh["metadata"]["labels"]["app.kubernetes.io/instance"],
            "bookshop"
        );
        assert_eq!(
            mesh["metadata"]["annotations"],
            serde_json::json!({ "owner": "storefront-team" })
        );
        assert!(mesh["spec"]["gateways"].is_null(), "{mesh}");
        let http = mesh["spec"]["http"].as_array().unwrap();
        assert!(
            http.iter().all(|r| subsets(r) != ["v1"]),
            "the team's v1 route is split: {mesh}"
        );
        assert!(http.iter().any(|r| subsets(r) == subsets_ours), "{mesh}");
        let bookshop = virtual_service(bundle, file, "bookshop");
        assert_eq!(strings(&bookshop["spec"]["gateways"]), ["bookshop-gateway"]);
        let md = std::fs::read_to_string(bundle.join("canary-plan.md")).unwrap();
        assert!(
            md.contains("replaces the team's VirtualServices `bookshop` and `storefront`"),
            "the runbook says what the apply replaces"
        );
        assert!(md.contains("the team's DestinationRule `storefront` is not replaced"));
        assert!(
            !md.contains("for in-mesh clients"),
            "no VirtualService of canaryc's own"
        );
    }
    let rollout = objects(&argo.0.join("k8s-rollout.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .unwrap();
    let istio = &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"];
    assert_eq!(istio["destinationRule"]["name"], "storefront-canary");
    let managed = &istio["virtualServices"];
    assert_eq!(managed[0]["name"], "bookshop");
    assert_eq!(strings(&managed[0]["routes"]), ["static", "primary"]);
    assert_eq!(managed[1]["name"], "storefront");
    assert_eq!(strings(&managed[1]["routes"]), ["primary"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_team_subset_named_like_a_copy_is_refused() {
    let fixture = repo().join("tests/fixtures/istio-subset-clash");
    let dir = std::env::temp_dir().join(format!("canaryc-istio-{}-subsets", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (engine, clashes) in [("argo-rollouts", true), ("none", false)] {
        std::fs::write(
            dir.join("canary.plan"),
            format!(
                "plan ledger {{\n  codebase = \"{}\"\n  python   = 2.7 -> 3.12\n  infra    = kubernetes(router: istio, engine: {engine})\n  service ledger {{ image py3 = \"registry.internal/ledger:3.12-1\" }}\n}}\n",
                fixture.display()
            ),
        )
        .unwrap();
        let out = canaryc(&dir, &["build", "canary.plan", "--output", "out"]);
        let err = stderr(&out);
        // The team's subsets are `stable` and `canary`: Argo's names, not the plain files'.
        assert_eq!(
            err.matches("CNR459").count(),
            if clashes { 2 } else { 0 },
            "{err}"
        );
        assert_eq!(
            out.status.code(),
            Some(if clashes { 1 } else { 0 }),
            "{err}"
        );
        assert_eq!(
            dir.join("out").exists(),
            !clashes,
            "nothing written on an error"
        );
        let _ = std::fs::remove_dir_all(dir.join("out"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A team VirtualService in another namespace (an ingress namespace's, for the public host)
/// that routes to the service by its qualified name is taken over where it is: written into
/// its own namespace with the qualified host on the copies' destinations, named
/// `name.namespace` in the Rollout, patched with `-n` its namespace by the runbook. One in
/// another namespace that names `ledger` by its short name routes to that namespace's `ledger`
/// (Istio qualifies short hosts with the rule's namespace) and is left alone.
#[test]
fn a_team_virtual_service_in_another_namespace_is_taken_over_where_it_is() {
    let dir = std::env::temp_dir().join(format!("canaryc-istio-{}-other-ns", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let codebase = dir.join("codebase");
    copy_tree(&repo().join("tests/fixtures/istio-subset-clash"), &codebase);
    std::fs::remove_file(codebase.join("deploy/mesh.yaml")).unwrap();
    std::fs::write(
        codebase.join("deploy/edge.yaml"),
        "apiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: ledger-edge\n  namespace: istio-system\nspec:\n  hosts:\n  - ledger.example.com\n  gateways:\n  - public-gateway\n  http:\n  - match:\n    - uri:\n        prefix: /api\n    route:\n    - destination:\n        host: ledger.payments.svc.cluster.local\n        port:\n          number: 80\n  - route:\n    - destination:\n        host: docs.web.svc.cluster.local\n---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\nmetadata:\n  name: ledger\n  namespace: frontend\nspec:\n  hosts:\n  - ledger\n  http:\n  - route:\n    - destination:\n        host: ledger\n",
    )
    .unwrap();
    let plan = |engine: &str| {
        format!(
            "plan ledger {{\n  codebase = \"{}\"\n  python   = 2.7 -> 3.12\n  namespace = \"payments\"\n  infra    = kubernetes(router: istio, engine: {engine})\n  service ledger {{ image py3 = \"registry.internal/ledger:3.12-1\" }}\n}}\n",
            codebase.display()
        )
    };
    let [argo, plain] = argo_and_plain("other-ns", plan);
    for (bundle, file, ours) in [&argo, &plain] {
        check_bundle(bundle);
        let docs = bundle_objects(bundle);
        let placed: Vec<(String, String)> = of_kind(&docs, "VirtualService")
            .iter()
            .map(|v| {
                let m = &v["metadata"];
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["namespace"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            placed,
            [
                ("ledger-edge".to_string(), "istio-system".to_string()),
                ("ledger-mesh".to_string(), "payments".to_string())
            ],
            "{}",
            bundle.display()
        );
        let edge = virtual_service(bundle, file, "ledger-edge");
        let http = edge["spec"]["http"].as_array().unwrap();
        let split = http
            .iter()
            .find(|r| subsets(r) == ours)
            .expect("a split route");
        for d in split["route"].as_array().unwrap() {
            assert_eq!(
                d["destination"]["host"], "ledger.payments.svc.cluster.local",
                "{edge}"
            );
        }
        assert!(
            http.iter()
                .any(|r| r["route"][0]["destination"]["host"] == "docs.web.svc.cluster.local"),
            "the team's other route is kept: {edge}"
        );
        assert_eq!(strings(&edge["spec"]["gateways"]), ["public-gateway"]);
        let md = std::fs::read_to_string(bundle.join("canary-plan.md")).unwrap();
        assert!(
            md.contains("`ledger-edge` (namespace `istio-system`)"),
            "the runbook says which namespace's object the apply replaces"
        );
    }
    let rollout = objects(&argo.0.join("k8s-rollout.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .unwrap();
    let managed =
        &rollout["spec"]["strategy"]["canary"]["trafficRouting"]["istio"]["virtualServices"];
    assert_eq!(managed[0]["name"], "ledger-edge.istio-system");
    assert_eq!(managed[1]["name"], "ledger-mesh");
    let runbook = std::fs::read_to_string(plain.0.join("canary-plan.md")).unwrap();
    assert!(
        runbook.contains("kubectl -n istio-system patch virtualservice ledger-edge"),
        "{runbook}"
    );
    assert!(runbook.contains("kubectl -n payments patch virtualservice ledger-mesh"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Argo Rollouts re-weights the first route of each name the Rollout lists
/// (rollout/trafficrouting/istio/istio.go, `searchHttpRoute`), and istiod lets route names
/// repeat. The team's `/reports` route to their reporting service carries the name of their
/// catch-all route to the ledger: the split route is renamed past it, in the VirtualService and
/// in the Rollout, and the reporting route is written back as it is, name and all.
#[test]
fn a_split_route_never_takes_the_name_of_a_team_route_to_another_service() {
    let (dir, codebase) = shared_route_edited("names", |text| {
        let text = text
            .replace("    - name: reports\n", "    - name: http\n")
            .replace("    - route:\n", "    - name: http\n      route:\n");
        assert_eq!(text.matches("- name: http\n").count(), 2, "{text}");
        text
    });
    let plan = |engine: &str| {
        shared(engine).replace(
            "FIXTURES/istio-shared-route",
            &codebase.display().to_string(),
        )
    };
    let [argo, plain] = argo_and_plain("names", plan);
    for (bundle, file, ours) in [&argo, &plain] {
        check_bundle(bundle);
        let edge = virtual_service(bundle, file, "edge");
        let http = edge["spec"]["http"].as_array().unwrap();
        let first_http = http.iter().find(|r| r["name"] == "http").unwrap();
        assert_eq!(
            first_http["route"][0]["destination"]["host"], "reporting",
            "the team's route, as written: {edge}"
        );
        let split: Vec<&Value> = http.iter().filter(|r| subsets(r) == ours).collect();
        assert_eq!(split.len(), 1, "{edge}");
        assert_eq!(split[0]["name"], "http-2", "{edge}");
    }
    let rollout = objects(&argo.0.join("k8s-rollout.yaml"))
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .unwrap();
    let managed = managed_virtual_services(&rollout);
    let edge = managed.iter().find(|m| m["name"] == "edge").unwrap();
    assert_eq!(strings(&edge["routes"]), ["http-2"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn catalog(codebase: &str) -> String {
    format!(
        "plan catalog {{\n  codebase = \"{codebase}\"\n  python   = 2.7 -> 3.12\n  infra    = kubernetes(router: istio, engine: argo-rollouts)\n  service catalog {{ image py3 = \"registry.internal/catalog:3.12-1\" }}\n}}\n"
    )
}

/// Two files define the VirtualService `catalog` in alternatives (all to v1; testers to v2):
/// canaryc takes over the first in path order and says so, naming the one it leaves out. A copy
/// with the same spec is no alternative.
#[test]
fn alternative_definitions_of_the_virtual_service_are_named_with_the_one_taken_over() {
    let (out, err) = build("alternatives", &catalog("FIXTURES/istio-alternatives"));
    assert_eq!(err.matches("CNR457").count(), 1, "{err}");
    // The message as one word: the report wraps it anywhere.
    let said: String = err
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '│')
        .collect();
    assert!(
        said.contains("takesovertheoneat`routing/virtual-service-all-v1.yaml:3`")
            && said.contains("leavesout`routing/virtual-service-beta-header.yaml:3`"),
        "{err}"
    );
    check_bundle(&out);
    let vs = virtual_service(&out, "k8s-rollout-routing.yaml", "catalog");
    let http = vs["spec"]["http"].as_array().unwrap();
    assert_eq!(http.len(), 1, "all-v1's one route: {vs}");
    assert_eq!(subsets(&http[0]), ["stable", "canary"]);
    let md = std::fs::read_to_string(out.join("canary-plan.md")).unwrap();
    assert!(
        md.contains("this copy is of the one at `routing/virtual-service-all-v1.yaml:3`, not `routing/virtual-service-beta-header.yaml:3`"),
        "the step that applies it says which one it replaces them with"
    );
    let _ = std::fs::remove_dir_all(out.parent().unwrap());

    let dir = std::env::temp_dir().join(format!("canaryc-istio-{}-same-spec", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let codebase = dir.join("codebase");
    copy_tree(&repo().join("tests/fixtures/istio-alternatives"), &codebase);
    let routing = codebase.join("routing");
    let all_v1 = std::fs::read_to_string(routing.join("virtual-service-all-v1.yaml")).unwrap();
    std::fs::write(
        routing.join("virtual-service-beta-header.yaml"),
        all_v1.replace("# Everything to v1", "# A copy"),
    )
    .unwrap();
    std::fs::write(dir.join("canary.plan"), catalog("codebase")).unwrap();
    let out = canaryc(&dir, &["build", "canary.plan", "--output", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("CNR457"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
