//! What the runbooks say about the response comparator: where it runs on each target, how to
//! start it, and how to read its report. Written only when the bundle runs one
//! (`ServiceIr::compare` with targets), so no document describes a comparator that is not there
//! (tests/compare_wiring.rs).

use std::fmt::Write as _;

use super::escape::markdown as md;
use crate::ir::InfraKind;
use crate::ir::{ComparatorIr, ComparatorTarget, Ir, Placement, ServiceIr};

fn compared(ir: &Ir) -> Vec<(&ServiceIr, &ComparatorIr)> {
    if !ir.comparator {
        return Vec::new();
    }
    ir.services
        .iter()
        .filter_map(|s| s.compare.as_ref().map(|c| (s, c)))
        .filter(|(_, c)| !c.targets.is_empty())
        .collect()
}

fn placement(ir: &Ir, s: &ServiceIr, c: &ComparatorIr, t: &ComparatorTarget) -> String {
    let unit = super::systemd::comparator_unit_names(ir, s);
    match (t.infra, t.placement) {
        (InfraKind::DockerCompose, _) => format!(
            "- Docker Compose: `{name}` in `docker-compose-canary.yml` is canary-lb's py2 server. Clients get py2's (`{py2}`) answers through it; it mirrors GET, HEAD and OPTIONS (and the methods the plan's endpoints allow) to `{secondary}`, a second py2 copy nothing else calls, and to `{py3}`. It mounts the plan (`{plan}`) for its `compare` section. Its image `{image}` is built from `Dockerfile.canaryc`. The stack's Prometheus scrapes its admin port (job `{name}`, `{scrape}`) when the bundle runs canaryc's loop; otherwise scrape it from yours.",
            name = c.name,
            py2 = s.object(crate::ir::Interpreter::Py2),
            py3 = s.object(crate::ir::Interpreter::Py3),
            secondary = c.secondary,
            plan = md::text(ir.plan_file.as_deref().unwrap_or("canary.plan")),
            image = c.image,
            scrape = t.scrape,
        ),
        (InfraKind::Kubernetes, Placement::Mirror { percent }) => format!(
            "- Kubernetes: `k8s-compare.yaml` runs `{name}` (Deployment and Service) and `{secondary}`, a second py2 Deployment whose `version: py2-secondary` label keeps it out of the py2 Service and subset. The VirtualService mirrors {pct}% of GET, HEAD and OPTIONS requests to `{name}` (Envoy's mirror is fire-and-forget: clients never wait for it); the comparator asks `{py2}` again as its primary, then `{secondary}` and `{py3}`. Only safe methods are mirrored, because the primary request is sent again. Envoy adds `-shadow` to the Host of mirrored requests: an app that checks Host (Django's `ALLOWED_HOSTS`) must accept `{host}-shadow`. Before applying: build `{image}` from canaryc and push it where the cluster pulls from (edit the image in `k8s-compare.yaml`), and `kubectl -n {ns} create configmap {cm} --from-file=canary.plan`; then `kubectl apply -f k8s-compare.yaml` before the VirtualService (a mirror to a host with no endpoints is dropped by Envoy, harmlessly, but compares nothing). Its pods carry `prometheus.io/scrape` annotations for the admin port {admin}; with the Prometheus Operator, add a PodMonitor for port `metrics`.",
            name = c.name,
            secondary = c.secondary,
            pct = crate::ir::fmt(percent),
            py2 = s.object(crate::ir::Interpreter::Py2),
            py3 = s.object(crate::ir::Interpreter::Py3),
            host = s.name,
            image = c.image,
            ns = ir.namespace,
            cm = super::kubernetes::plan_config_map(c),
            admin = crate::ir::compare::ADMIN_PORT,
        ),
        (_, _) => format!(
            "- Bare metal: `{compare}` runs `canaryc compare` on {listen}, HAProxy's (or nginx's) py2 server, in front of py2 on {py2}; `{sec_unit}` is the second py2 copy on {secondary}. Install both like the copies' units (as `{name}.service` and `{secondary_name}.service`), copy `canary.plan` to {dir}/canary.plan (the unit reads its `compare` section) and `systemctl enable --now {name} {secondary_name}` before reloading the load balancer. `prometheus.yml` scrapes its admin address {admin} (job `{name}`).",
            compare = unit.0,
            sec_unit = unit.1,
            listen = t.listen,
            py2 = t.primary,
            secondary = t.secondary,
            name = c.name,
            secondary_name = c.secondary,
            dir = ir.host.install_dir,
            admin = t.admin,
        ),
    }
}

/// `## Response comparator` for canary-plan.md, or nothing without a comparator.
pub(super) fn plan_section(ir: &Ir) -> String {
    let services = compared(ir);
    if services.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "## Response comparator\n\nThe plan's `compare` section runs `canaryc compare` (Diffy-style, docs/compare.md): the same request goes to py2 (the primary), to a second py2 copy (the secondary) and to py3 (the candidate), and py3's answer is compared with py2's, field by field for JSON. Clients always get py2's answer, at py2's pace; the comparison happens off their path, bounded by a queue.\n\n",
    );
    for (s, c) in &services {
        for t in &c.targets {
            let _ = writeln!(o, "{}", placement(ir, s, c, t));
        }
    }
    o.push('\n');
    o.push_str(&reading(ir, &services));
    o
}

/// How to read the comparator's report and metric, for both runbooks.
fn reading(ir: &Ir, services: &[(&ServiceIr, &ComparatorIr)]) -> String {
    let mut o = String::from("### Reading the report\n\n");
    let admins: Vec<String> = services
        .iter()
        .flat_map(|(_, c)| {
            c.targets.iter().map(move |t| match t.infra {
                InfraKind::Kubernetes => format!(
                    "Kubernetes: `kubectl -n {} port-forward deploy/{} {}` then `curl -s localhost:{}/report?format=text`",
                    ir.namespace,
                    c.name,
                    crate::ir::compare::ADMIN_PORT,
                    crate::ir::compare::ADMIN_PORT
                ),
                InfraKind::DockerCompose => format!(
                    "Compose: `curl -s http://127.0.0.1:{}/report?format=text` (`{}`'s admin port, published on loopback)",
                    c.host_admin_port, c.name
                ),
                _ => format!("bare metal: `curl -s http://{}/report?format=text`", t.admin),
            })
        })
        .collect();
    for a in admins {
        let _ = writeln!(o, "- {a}");
    }
    o.push_str("\nThe admin `/report` (JSON; `?format=text` for people) lists the endpoints with diverging fields, most diverged first, each field with its counts and one sample request with py2's, the second py2 copy's and py3's responses (Authorization, Cookie and Set-Cookie redacted). Each mirrored request ends as one `result`:\n\n- `diverged`: py3 differed from py2 in a field where the two py2 copies do not differ as often (Diffy's rule: raw > noise, and the relative and absolute differences above the section's thresholds, 20% and 0.03% by default). A real py2 → py3 difference: `round()`, `/`, `str(float)`, `b'…'` in text, dict order in a list.\n- `noise`: py3 differed only where py2 differs from itself (timestamps, request ids, nonces). Not a py3 problem; the report lists the noise learnt per endpoint so you can check it.\n- `same`; `error` (the second py2 copy or py3 did not answer: nothing compared); `dropped` (the queue was full, or a body too large: not compared).\n\n");
    let _ = writeln!(
        o,
        "The metric is `canary_compared_responses_total{{service, result}}` on the admin `/metrics`; the divergence share is `diverged` over `same|diverged|noise` (errors and drops are not comparisons). `CanaryComparatorDown` and `CanaryComparatorErrors` (severity warning, `canary=\"comparator\"`, never a rollback) say when the comparator is not scraped or cannot compare: while they fire, a missing divergence alert proves nothing.\n"
    );
    o
}

/// The rollback runbook's part: what to do when the divergence alert fires.
pub(super) fn runbook_section(ir: &Ir) -> String {
    let services = compared(ir);
    if services.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "## Response comparator\n\nA divergence alert comes from the response comparator (`canaryc compare`; canary-plan.md, \"Response comparator\"). Before rolling back, read its report: a diverged field with py2's and py3's values says which py2 → py3 difference it is, and whether it matters to clients.\n\n",
    );
    o.push_str(&reading(ir, &services));
    o
}
