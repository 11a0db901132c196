//! Two services that listen on one container port (mozilla/kuma's `web` and `api`, both
//! gunicorn on 8000, published on 8000 and 8001) each keep the host port their clients use:
//! canary-lb publishes and binds `public_port`, and sends to the copies on `port`. Ports that
//! would meet on one host are an error before anything is written (CNR519).

use crate::common::{assert_success, canaryc, planned, read, repo, stderr, stdout};

const COMPOSE: &str = "services:
  web: &app
    image: shop/app:2.7
    command: gunicorn --bind 0.0.0.0:8000 shop.wsgi
    ports:
      - \"8000:8000\"
  api:
    <<: *app
    command: gunicorn --bind 0.0.0.0:8000 shop.api_wsgi
    ports:
      - \"127.0.0.1:8001:8000/tcp\"
";

/// A variant the team runs with `-f docker-compose.yml -f docker-compose.ssl.yml`: sorted
/// before the base by path, it must not be what the copies clone.
const SSL_VARIANT: &str = "services:
  web:
    command: /bin/sh -c \"make-dev-cert && gunicorn --bind 0.0.0.0:8000 shop.wsgi\"
";

#[test]
fn two_services_on_one_container_port_keep_their_published_ports() {
    let dir = planned(&[
        ("docker-compose.yml", COMPOSE),
        ("docker-compose.ssl.yml", SSL_VARIANT),
        ("shop/wsgi.py", "import django\napplication = None\n"),
    ]);
    let stack = read(&dir, "docker-compose-canary.yml");
    // canary-lb's lines: up to the next service (two spaces, then a name).
    let lb: Vec<&str> = stack
        .lines()
        .skip_while(|l| *l != "  canary-lb:")
        .skip(1)
        .take_while(|l| l.starts_with("   ") || l.starts_with("  -"))
        .collect();
    let lb_ports: Vec<&str> = lb
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("- ") && l.contains(':') && !l.contains('/'))
        .collect();
    assert!(
        lb_ports.contains(&"- 8000:8000") && lb_ports.contains(&"- 8001:8001"),
        "canary-lb publishes each service's host port once: {lb_ports:?}\n{stack}"
    );
    let config = read(&dir, "haproxy-canary.cfg");
    let api = config.split("\nfrontend api").nth(1).expect("api frontend");
    assert!(api.starts_with("\n    bind *:8001\n"), "{config}");
    let backend = config.split("\nbackend api").nth(1).expect("api backend");
    assert!(backend.contains("api-py2:8000"), "{config}");
    // The copies clone the base file's service, not the variant's.
    assert!(!stack.contains("make-dev-cert"), "{stack}");
    let plan = std::fs::read_to_string(dir.path().join("out/canary.plan")).unwrap();
    assert!(
        plan.contains("public     8001 (docker-compose.yml:"),
        "{plan}"
    );
}

#[test]
fn a_port_two_listeners_would_take_stops_the_build() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out");
    let build = |case: &str| {
        let (dir, file) = case.split_once('/').unwrap();
        canaryc(
            &repo().join("tests/cases/check").join(dir),
            &["build", file, "--output", out.to_str().unwrap()],
        )
    };
    let refused = build("invalid/CNR519-two-services-publish-one-port.plan");
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(stderr(&refused).contains("CNR519"), "{}", stderr(&refused));
    assert!(!out.exists(), "nothing is written");
    let built = build("valid/public-port.plan");
    assert_success(&built);
    let stack = std::fs::read_to_string(out.join("docker-compose-canary.yml")).unwrap();
    assert!(stack.contains("- 8001:8001"), "{stack}");
}

/// mozilla/kuma's `kumascript` (a dependency of `web`) calls `api` at `http://api:8000`: the
/// stack keeps a plain py2 `api` for it, and the runbook says that those calls are not canaried.
#[test]
fn a_dependency_that_calls_another_canaried_service_is_said_to_stay_on_py2() {
    let compose = "services:
  web:
    image: shop/app:2.7
    command: gunicorn --bind 0.0.0.0:8000 shop.wsgi
    ports:
      - \"8000:8000\"
    depends_on:
      - renderer
  renderer:
    image: shop/renderer:1
    environment:
      - DOCUMENT_URL=http://api:8000/docs
    depends_on:
      - api
  api:
    image: shop/app:2.7
    command: gunicorn --bind 0.0.0.0:8000 shop.api_wsgi
    ports:
      - \"8001:8000\"
";
    let dir = planned(&[
        ("docker-compose.yml", compose),
        ("shop/wsgi.py", "import django\napplication = None\n"),
    ]);
    let stack = read(&dir, "docker-compose-canary.yml");
    assert!(
        stack.contains("\n  api:\n") && stack.contains("\n  renderer:\n"),
        "{stack}"
    );
    let runbook = read(&dir, "canary-plan.md");
    assert!(
        runbook.contains("**Internal calls are not canaried.** `renderer` (a dependency of `web`) calls `api` by its Compose name, so the stack keeps a plain py2 `api` for it"),
        "{runbook}"
    );
    assert!(
        runbook.contains("point `renderer` at canary-lb on port 8001"),
        "{runbook}"
    );
    let json = read(&dir, "canary-plan.json");
    assert!(json.contains("\"caller\": \"renderer\""), "{json}");
    // Without the call, nothing is said.
    let plain = planned(&[
        ("docker-compose.yml", COMPOSE),
        ("shop/wsgi.py", "import django\napplication = None\n"),
    ]);
    assert!(!read(&plain, "canary-plan.md").contains("Internal calls"));
}
