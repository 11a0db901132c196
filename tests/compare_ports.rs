//! CNR427: the comparator's ports never meet another port of the bundle, one test per kind of
//! collision, and none for the committed compare plans.

use crate::common::check_text;

/// The CNR427 messages of a plan.
fn collisions(plan: &str) -> Vec<String> {
    let (analysis, _) = check_text("canary.plan", plan);
    analysis
        .diagnostics
        .iter()
        .filter(|d| d.code.as_str() == "CNR427")
        .map(|d| d.message.clone())
        .collect()
}

fn host(services: &str, extra: &str) -> String {
    format!(
        "plan billing {{\n  python = 2.7 -> 3.12\n  infra  = bare-metal(router: haproxy)\n{services}\n{extra}\n  compare {{ }}\n}}\n"
    )
}

fn service(name: &str, port: u16) -> String {
    format!(
        "  service {name} {{\n    port = {port}\n    command py2 = \"gunicorn --bind 0.0.0.0:{port} app:app\"\n    command py3 = \"gunicorn --bind 0.0.0.0:{port} app:app\"\n  }}"
    )
}

#[test]
fn a_plan_whose_ports_are_apart_has_no_collision() {
    assert_eq!(
        collisions(&host(&service("api", 6543), "")),
        Vec::<String>::new()
    );
    let two = service("api", 8000) + "\n" + &service("admin", 8100);
    assert!(collisions(&host(&two, "")).is_empty());
    for case in ["bare-metal-compare", "compose-compare", "k8s-istio-compare"] {
        let path = crate::common::repo().join(format!("tests/cases/build/{case}/canary.plan"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(collisions(&text).is_empty(), "{case}");
    }
}

#[test]
fn the_proxy_port_meets_another_services_port() {
    // api's comparator takes 8003; `admin` is served there.
    let got = collisions(&host(
        &(service("api", 8000) + "\n" + &service("admin", 8003)),
        "",
    ));
    assert!(
        got.iter()
            .any(|m| m.contains("port 8003") && m.contains("the port of `admin`")),
        "{got:?}"
    );
}

#[test]
fn the_proxy_port_meets_a_copys_port() {
    // api's comparator takes 8003, where `admin` (8002) runs its py2 copy.
    let got = collisions(&host(
        &(service("api", 8000) + "\n" + &service("admin", 8002)),
        "",
    ));
    assert!(
        got.iter()
            .any(|m| m.contains("port 8003") && m.contains("py2's port of `admin`")),
        "{got:?}"
    );
}

#[test]
fn the_second_copys_port_meets_another_comparator() {
    // api's second py2 copy takes 8004; `admin` (8001) puts its comparator there.
    let got = collisions(&host(
        &(service("api", 8000) + "\n" + &service("admin", 8001)),
        "",
    ));
    assert!(
        got.iter()
            .any(|m| m.contains("port 8004") && m.contains("the comparator of `admin`")),
        "{got:?}"
    );
}

#[test]
fn the_proxy_port_meets_haproxys_stats_port() {
    let got = collisions(&host(&service("api", 8401), ""));
    assert!(
        got.iter()
            .any(|m| m.contains("port 8404") && m.contains("stats_port")),
        "{got:?}"
    );
    // Moving the stats port clears it.
    assert!(
        collisions(&host(
            &service("api", 8401),
            "  monitor { stats_port = 8410 }"
        ))
        .is_empty()
    );
}

#[test]
fn the_proxy_port_meets_prometheus_alertmanager_or_the_webhook() {
    let got = collisions(&host(&service("api", 9087), ""));
    assert!(
        got.iter()
            .any(|m| m.contains("port 9090") && m.contains("Prometheus")),
        "{got:?}"
    );
    let got = collisions(&host(&service("api", 9090), ""));
    assert!(
        got.iter()
            .any(|m| m.contains("port 9093") && m.contains("Alertmanager")),
        "{got:?}"
    );
    let got = collisions(&host(&service("api", 8996), ""));
    assert!(
        got.iter()
            .any(|m| m.contains("port 9000") && m.contains("webhook")),
        "{got:?}"
    );
}

#[test]
fn the_admin_port_meets_a_services_port() {
    // The admin listener of the first service's comparator is 9464 on the host.
    let got = collisions(&host(&service("api", 9464), ""));
    assert!(
        got.iter().any(|m| m.contains("port 9464")
            && m.contains("admin port")
            && m.contains("the port of `api`")),
        "{got:?}"
    );
}

#[test]
fn on_compose_the_published_admin_port_meets_a_published_port() {
    let plan = "plan shop {\n  python = 2.7 -> 3.12\n  infra = docker-compose\n  service web {\n    port = 9464\n  }\n  compare { }\n}\n";
    let got = collisions(plan);
    assert!(
        got.iter()
            .any(|m| m.contains("published on the Compose host")),
        "{got:?}"
    );
    // Copies' ports are inside their containers there: 9462 is no collision on Compose.
    let plan = plan.replace("port = 9464", "port = 9462");
    assert!(collisions(&plan).is_empty(), "{:?}", collisions(&plan));
}

#[test]
fn in_a_pod_the_service_port_meets_the_admin_port() {
    let plan = "plan ledger {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio, engine: none)\n  service {\n    port = 9464\n    image py2 = \"r/ledger:2\"\n    image py3 = \"r/ledger:3\"\n  }\n  compare { }\n}\n";
    let got = collisions(plan);
    assert!(
        got.iter().any(|m| m.contains("also its admin port")),
        "{got:?}"
    );
    // Argo Rollouts places no comparator (CNR426): nothing to collide.
    assert!(collisions(&plan.replace("engine: none", "engine: argo-rollouts")).is_empty());
    // Without a compare section, no comparator at all.
    assert!(collisions(&plan.replace("  compare { }\n", "")).is_empty());
}
