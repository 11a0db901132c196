//! Terraform: `resource "TYPE" "NAME"` blocks, load balancers and instance groups first, so the
//! plan can say which modules to change for the canary.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::{Detection, Evidence, IacFinding};

static RESOURCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*resource\s+"([A-Za-z0-9_]+)"\s+"([A-Za-z0-9_-]+)""#).expect("valid regex")
});

/// Resource types that route or run the service: what a canary changes.
const RELEVANT: &[&str] = &[
    "_lb",
    "_alb",
    "_elb",
    "load_balancer",
    "lb_listener",
    "target_group",
    "backend_service",
    "url_map",
    "forwarding_rule",
    "instance_group",
    "autoscaling_group",
    "_instance",
    "kubernetes_deployment",
    "helm_release",
    "dns_record",
    "route53_record",
];

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    for captures in RESOURCE.captures_iter(text) {
        let (Some(kind), Some(name)) = (captures.get(1), captures.get(2)) else {
            continue;
        };
        if !RELEVANT.iter().any(|r| kind.as_str().contains(r)) {
            continue;
        }
        let line = text[..kind.start()].matches('\n').count() + 1;
        out.iac.push(IacFinding {
            tool: "terraform".into(),
            what: format!("{} {}", kind.as_str(), name.as_str()),
            evidence: Evidence::new(path, line),
        });
    }
}
