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
