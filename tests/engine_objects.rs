//! The engines' Kubernetes objects do what the runbook says, checked on the committed bundles
//! (examples and build cases, which `build.rs` holds to a fresh build): the team's Service port
//! and Istio Gateway and hosts are routed to (review item 2), routing is applied only once the
//! Rollout's pods are Ready (3), the 1000-weight scale only where the router counts it (4), the
//! team's Ingress and HTTPRoute keep their configuration (13), retries only of what py3 never
//! received (14), the py3 change is a patch that turns the py2 object into the py3 one, the
//! Gateway plugin's ConfigMap is created, never applied over the team's, Flagger's metrics
//! carry no interval they do not use, and a multi-target plan cannot judge a target on another
//! target's metrics (9).

use std::path::{Path, PathBuf};

use serde::Deserialize as _;
use serde_json::Value;

use crate::common::{canaryc, committed_bundles, repo, stderr};

fn bundle(dir: &str) -> PathBuf {
    let p = repo().join(dir);
    if p.join("expected").is_dir() {
        p.join("expected")
    } else {
        p.join("canary-deployment")
    }
}

fn read(bundle: &Path, name: &str) -> String {
    std::fs::read_to_string(bundle.join(name))
        .unwrap_or_else(|e| panic!("{}/{name}: {e}", bundle.display()))
}

fn objects(bundle: &Path, name: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(&read(bundle, name))
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

/// Every committed bundle whose Kubernetes target runs `engine`.
fn bundles_of(engine: &str) -> Vec<PathBuf> {
    committed_bundles()
        .into_iter()
        .filter(|b| {
            let plan = std::fs::read_to_string(b.join("canary-plan.json")).unwrap();
            let plan: Value = serde_json::from_str(&plan).unwrap();
            plan["targets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["engine"] == engine)
        })
        .collect()
}

#[test]
fn the_team_services_port_gateway_and_hosts_are_routed_to() {
    let ledger = bundle("examples/ledger-k8s-istio");
    let routing = objects(&ledger, "k8s-rollout-routing.yaml");
    let vs = one(&routing, "VirtualService");
    // The team's Service listens on 80 (deploy/ledger.yaml); the container on 8000.
    for d in vs["spec"]["http"][0]["route"].as_array().unwrap() {
        assert_eq!(d["destination"]["port"]["number"], 80, "{vs}");
        assert_eq!(d["destination"]["host"], "ledger");
    }
    let gateways = vs["spec"]["gateways"].as_array().unwrap();
    assert!(
        gateways.contains(&"ledger".into()) && gateways.contains(&"mesh".into()),
        "{vs}"
    );
    let hosts = vs["spec"]["hosts"].as_array().unwrap();
    assert!(
        hosts.contains(&"ledger.example.com".into()) && hosts.contains(&"ledger".into()),
        "{vs}"
    );
    // Flagger's apex Service takes over the team's: it must keep the team's port.
    let flagger = bundle("tests/cases/build/flagger-istio");
    let canary = one(&objects(&flagger, "k8s-flagger.yaml"), "Canary").clone();
    assert_eq!(
        canary["spec"]["service"]["port"], 8000,
        "no team Service: the container port"
    );
    assert_eq!(canary["spec"]["service"]["targetPort"], 8000);
    // A team Service on 80 in front of 8080: every backend names 80, every Service forwards to 8080.
    for case in [
        "tests/cases/build/argo-team-nginx",
        "tests/cases/build/argo-team-gateway",
    ] {
        let b = bundle(case);
        for svc in objects(&b, "k8s-rollout.yaml")
            .iter()
            .filter(|d| d["kind"] == "Service")
        {
            assert_eq!(svc["spec"]["ports"][0]["port"], 80, "{svc}");
            assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8080, "{svc}");
        }
    }
}

#[test]
fn routing_is_applied_only_once_the_rollouts_pods_are_ready() {
    let bundles = bundles_of("argo-rollouts");
    assert!(bundles.len() >= 5, "{bundles:?}");
    for b in bundles {
        let first = objects(&b, "k8s-rollout.yaml");
        for d in &first {
            let kind = d["kind"].as_str().unwrap();
            assert!(
                !matches!(
                    kind,
                    "VirtualService" | "DestinationRule" | "Ingress" | "HTTPRoute"
                ),
                "{}: k8s-rollout.yaml routes to pods that do not exist yet ({kind})",
                b.display()
            );
        }
        assert!(!objects(&b, "k8s-rollout-routing.yaml").is_empty());
        let md = read(&b, "canary-plan.md");
        let at = |needle: &str| {
            md.find(needle)
                .unwrap_or_else(|| panic!("{}: no `{needle}`", b.display()))
        };
        let rollout = at("kubectl apply -f k8s-rollout.yaml");
        let ready = at("--for=condition=Ready");
        let routing = at("kubectl apply -f k8s-rollout-routing.yaml");
        let canary = at("--patch-file k8s-rollout-py3-");
        assert!(
            rollout < ready && ready < routing && routing < canary,
            "{}",
            b.display()
        );
    }
}

#[test]
fn the_fine_weight_scale_only_where_the_router_counts_it() {
    for b in bundles_of("argo-rollouts") {
        let plan: Value = serde_json::from_str(&read(&b, "canary-plan.json")).unwrap();
        let router = plan["targets"][0]["router"].as_str().unwrap().to_string();
        for r in objects(&b, "k8s-rollout.yaml")
            .iter()
            .filter(|d| d["kind"] == "Rollout")
        {
            let canary = &r["spec"]["strategy"]["canary"];
            let total = canary["trafficRouting"]["maxTrafficWeight"].as_u64();
            if total.is_some() {
                // The Gateway API plugin sets stable to `100 - desiredWeight`; Istio ignores it.
                assert_eq!(router, "nginx-ingress", "{}", b.display());
            }
            for step in canary["steps"].as_array().unwrap() {
                if let Some(w) = step["setWeight"].as_u64() {
                    assert!(w <= total.unwrap_or(100), "{}: setWeight {w}", b.display());
                }
            }
        }
    }
    let fine = bundle("tests/cases/build/argo-fine-weights");
    let r = one(&objects(&fine, "k8s-rollout.yaml"), "Rollout").clone();
    assert_eq!(
        r["spec"]["strategy"]["canary"]["trafficRouting"]["maxTrafficWeight"],
        1000
    );
    assert_eq!(
        r["spec"]["strategy"]["canary"]["steps"][0]["setWeight"], 1,
        "0.1% of 1000"
    );
}

#[test]
fn retries_are_only_of_what_py3_never_received() {
    let mut checked = 0;
    for b in bundles_of("argo-rollouts") {
        for vs in objects(&b, "k8s-rollout-routing.yaml")
            .iter()
            .filter(|d| d["kind"] == "VirtualService")
        {
            // canaryc's retries on the routes to the Rollout's subsets (a team's routes to
            // other services are written back as they are, and so is a team's own policy).
            let ours = vs["spec"]["http"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["route"][0]["destination"]["subset"].is_string());
            for route in ours {
                let on = route["retries"]["retryOn"].as_str().unwrap();
                for condition in on.split(',') {
                    assert!(
                        matches!(condition, "connect-failure" | "refused-stream"),
                        "{}: retries on `{condition}` can repeat a request py3 processed",
                        b.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 1);
}

#[test]
fn the_teams_ingress_and_route_keep_their_configuration() {
    let nginx = bundle("tests/cases/build/argo-team-nginx");
    let routing = objects(&nginx, "k8s-rollout-routing.yaml");
    let ingress = one(&routing, "Ingress");
    assert_eq!(
        ingress["metadata"]["name"], "storefront",
        "the team's Ingress, by its name"
    );
    assert_eq!(ingress["spec"]["ingressClassName"], "public-nginx");
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-url"],
        "https://auth.example.com/check"
    );
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "shop-tls");
    let paths = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap();
    assert_eq!(paths[0]["backend"]["service"]["name"], "shop-stable");
    assert_eq!(paths[0]["backend"]["service"]["port"]["number"], 80);
    assert_eq!(
        paths[1]["backend"]["service"]["name"], "assets",
        "another service's path is theirs"
    );
    let rollout = one(&objects(&nginx, "k8s-rollout.yaml"), "Rollout").clone();
    assert_eq!(
        rollout["spec"]["strategy"]["canary"]["trafficRouting"]["nginx"]["stableIngress"],
        "storefront"
    );
    // The app container is named per copy, and what referred to it by name follows.
    let container = &rollout["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "shop-py2");
    let env = container["env"].as_array().unwrap();
    let limit = env.iter().find(|e| e["name"] == "MEMORY_LIMIT").unwrap();
    assert_eq!(
        limit["valueFrom"]["resourceFieldRef"]["containerName"],
        "shop-py2"
    );

    let gateway = bundle("tests/cases/build/argo-team-gateway");
    let route = one(&objects(&gateway, "k8s-rollout-routing.yaml"), "HTTPRoute").clone();
    assert_eq!(route["metadata"]["name"], "storefront");
    assert_eq!(route["spec"]["hostnames"][0], "shop.example.com");
    let rules = route["spec"]["rules"].as_array().unwrap();
    assert_eq!(
        rules[0]["matches"][0]["path"]["value"], "/api",
        "matches kept"
    );
    assert_eq!(
        rules[0]["filters"][0]["type"], "RequestHeaderModifier",
        "filters kept"
    );
    let names: Vec<&str> = rules[0]["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shop-stable", "shop-canary"]);
    assert_eq!(rules[1]["backendRefs"][0]["name"], "assets");
    let rollout = one(&objects(&gateway, "k8s-rollout.yaml"), "Rollout").clone();
    assert_eq!(
        rollout["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
            ["httpRoute"],
        "storefront"
    );
}

/// The object a patch file names (`kubectl -n NS patch KIND NAME --type merge --patch-file F`).
fn patch_target(text: &str) -> (String, String) {
    let command = text.lines().find(|l| l.contains("--patch-file")).unwrap();
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "patch").unwrap();
    (words[at + 1].to_string(), words[at + 2].to_string())
}

#[test]
fn the_py3_patch_turns_the_py2_object_into_the_py3_one() {
    let validator = std::env::var_os("CANARYC_VALIDATE_OUTPUTS");
    let mut patches = 0;
    for (engine, file) in [
        ("argo-rollouts", "k8s-rollout.yaml"),
        ("flagger", "k8s-flagger.yaml"),
    ] {
        for b in bundles_of(engine) {
            let base = objects(&b, file);
            let plan: Value = serde_json::from_str(&read(&b, "canary-plan.json")).unwrap();
            let mut merged = Vec::new();
            for entry in std::fs::read_dir(&b).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if !name.ends_with(".patch") {
                    continue;
                }
                patches += 1;
                let text = read(&b, &name);
                let (kind, object) = patch_target(&text);
                let target = base
                    .iter()
                    .find(|d| {
                        d["kind"].as_str().unwrap().eq_ignore_ascii_case(&kind)
                            && d["metadata"]["name"] == object.as_str()
                    })
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: {name} patches a {kind} {object} the bundle lacks",
                            b.display()
                        )
                    });
                let patch: Value = serde_yaml::from_str(&text).unwrap();
                let py3 = canaryc::emit::engine::apply_merge_patch(target, &patch);
                let template = &py3["spec"]["template"];
                assert_eq!(
                    template["metadata"]["labels"]["version"],
                    "py3",
                    "{}",
                    b.display()
                );
                let service = plan["services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["name"] == object.as_str())
                    .unwrap();
                let container = &template["spec"]["containers"][0];
                assert_eq!(container["image"], service["image_py3"], "{}", b.display());
                assert_eq!(container["name"], format!("{object}-py3"));
                // Only the template changes: the Rollout's steps and analysis stay as applied.
                let mut rest = py3.clone();
                let mut was = target.clone();
                rest["spec"]["template"] = Value::Null;
                was["spec"]["template"] = Value::Null;
                assert_eq!(
                    rest,
                    was,
                    "{}: {name} changes more than the template",
                    b.display()
                );
                merged.push(py3);
            }
            if let Some(tool) = &validator {
                let dir =
                    std::env::temp_dir().join(format!("canaryc-merged-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                let docs: Vec<String> = merged
                    .iter()
                    .map(|m| serde_yaml::to_string(m).unwrap())
                    .collect();
                std::fs::write(dir.join("k8s-merged.yaml"), docs.join("---\n")).unwrap();
                let out = std::process::Command::new(tool).arg(&dir).output().unwrap();
                assert!(
                    out.status.success(),
                    "{}: the py3 objects fail validation:\n{}",
                    b.display(),
                    String::from_utf8_lossy(&out.stdout)
                );
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }
    assert!(patches >= 8, "{patches} patches");
}

#[test]
fn the_gateway_plugins_configmap_is_created_never_applied() {
    let b = bundle("tests/cases/build/k8s-gateway-api");
    let config = objects(&b, "k8s-argo-rollouts-config.yaml");
    assert_eq!(
        one(&config, "ConfigMap")["metadata"]["name"],
        "argo-rollouts-config"
    );
    let md = read(&b, "canary-plan.md");
    assert!(
        md.contains("kubectl create -f k8s-argo-rollouts-config.yaml"),
        "{md}"
    );
    assert!(!md.contains("kubectl apply -f k8s-argo-rollouts-config.yaml"));
    let rbac = objects(&b, "k8s-argo-rollouts-rbac.yaml");
    let role = one(&rbac, "ClusterRole");
    let services = role["rules"].as_array().unwrap().iter().any(|r| {
        r["resources"]
            .as_array()
            .unwrap()
            .contains(&"services".into())
    });
    assert!(services, "the plugin reads Services: {role}");
}

#[test]
fn flaggers_metrics_carry_no_unused_interval() {
    for b in bundles_of("flagger") {
        for c in objects(&b, "k8s-flagger.yaml")
            .iter()
            .filter(|d| d["kind"] == "Canary")
        {
            for m in c["spec"]["analysis"]["metrics"].as_array().unwrap() {
                assert!(m.get("interval").is_none(), "{}: {m}", b.display());
            }
        }
        for t in objects(&b, "k8s-flagger.yaml")
            .iter()
            .filter(|d| d["kind"] == "MetricTemplate")
        {
            assert!(
                !t["spec"]["query"].as_str().unwrap().contains("{{"),
                "{}",
                b.display()
            );
        }
    }
}

#[test]
fn a_target_is_never_judged_on_another_targets_metrics() {
    let dir = std::env::temp_dir().join(format!("canaryc-objects-{}-multi", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plan = "plan billing {\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), bare-metal(router: haproxy)]\n  service {\n    port = 6543\n    image py2 = \"r/billing:2.7\"\n    image py3 = \"r/billing:3.13\"\n    command py2 = \"/srv/billing/venv/bin/gunicorn billing.wsgi\"\n    command py3 = \"/srv/billing/venv3/bin/gunicorn billing.wsgi\"\n  }\n}\n";
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("CNR517"), "{}", stderr(&out));
    assert!(
        !dir.join("canary-deployment").exists(),
        "nothing half-written"
    );
    // With the app's own metrics, which both targets have, it builds; and the bare-metal
    // target's promote queries read them.
    std::fs::write(
        dir.join("canary.plan"),
        plan.replace("  }\n}\n", "  }\n  monitor { source = app }\n}\n"),
    )
    .unwrap();
    let out = canaryc(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let promote =
        std::fs::read_to_string(dir.join("canary-deployment/canary-promote.json")).unwrap();
    // Its criteria are sequential tests: promote reads their recorded evidence, which the
    // rules count from the app's metrics.
    assert!(
        promote.contains("canary:stage_evidence:margin") && !promote.contains("istio_"),
        "{promote}"
    );
    let rules =
        std::fs::read_to_string(dir.join("canary-deployment/prometheus-alerts.yaml")).unwrap();
    assert!(
        rules.contains("http_requests_total") && !rules.contains("istio_"),
        "{rules}"
    );
}
