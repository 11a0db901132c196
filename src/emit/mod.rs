//! Backends: one module per output format, each a pure function from the IR to file contents.
//!
//! Which files a build writes depends on the targets: every build gets the plan, the runbooks,
//! the alerts with their tests and the dashboard; Kubernetes adds Deployments and the router's
//! objects; Docker Compose adds the canary stack and its load balancer; bare metal adds systemd
//! units, the load balancer, and the automation that rolls back by itself (Prometheus,
//! Alertmanager and webhook configs, and the scripts they run).

pub(crate) mod automation;
mod comparator_alerts;
mod compare_docs;
pub(crate) mod compose;
pub mod engine;
pub mod escape;
mod grafana;
pub(crate) mod haproxy;
mod kubernetes;
mod markdown;
pub mod metrics;
mod nginx;
mod objects;
pub mod plan_json;
pub mod prometheus;
mod rule_tests;
pub mod sequential;
mod systemd;
pub mod yaml;

use crate::ir::{Engine, InfraKind, Ir, Router, StageIr, Target};

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    pub contents: String,
    /// What it is, for summaries and the runbook's file table.
    pub purpose: String,
}

fn file(name: impl Into<String>, purpose: &str, contents: String) -> OutputFile {
    OutputFile {
        name: name.into(),
        contents,
        purpose: purpose.to_string(),
    }
}

/// The commands that set a stage's split on a target's router by hand, from the router's own
/// backend: the runbooks only assemble them.
pub(crate) fn split_commands(ir: &Ir, t: &Target, stage: &StageIr) -> Vec<String> {
    match (t.infra, t.router) {
        (InfraKind::Kubernetes, _) => kubernetes::split_commands(ir, t, stage),
        (InfraKind::DockerCompose, _) => compose::split_commands(ir, t, stage),
        (_, Router::Nginx) => nginx::split_commands(stage),
        _ => haproxy::split_commands(ir, stage),
    }
}

/// The commands that send a target's traffic back to py2 by hand.
pub(crate) fn rollback_commands(ir: &Ir, t: &Target) -> Vec<String> {
    match (t.infra, t.router) {
        (InfraKind::Kubernetes, _) => kubernetes::rollback_commands(ir, t),
        (InfraKind::DockerCompose, _) => compose::rollback_commands(ir, t),
        (_, Router::Nginx) => nginx::rollback_commands(),
        _ => haproxy::rollback_commands(ir),
    }
}

/// The commands that show where a target's router sends traffic.
pub(crate) fn verify_commands(ir: &Ir, t: &Target) -> Vec<String> {
    match (t.infra, t.router) {
        (InfraKind::Kubernetes, _) => kubernetes::verify_commands(ir, t),
        (InfraKind::DockerCompose, _) => compose::verify_commands(ir, t),
        (_, Router::Nginx) => nginx::verify_commands(ir),
        _ => haproxy::verify_commands(ir),
    }
}

/// `render` over the two halves of `items` at once (a scoped thread for the second), in order:
/// the results are what one pass over `items` would give in two pieces, so output does not
/// depend on the threads. Small inputs, and a machine with one core, run in one thread.
/// `render` is told which half it renders (0 or 1).
pub(crate) fn in_halves<I: Sync, T: Send>(
    items: &[I],
    render: impl Fn(usize, &[I]) -> T + Sync,
) -> [T; 2] {
    const MIN_TO_SPLIT: usize = 64;
    let parallel = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let (first, second) = items.split_at(if parallel && items.len() >= MIN_TO_SPLIT {
        items.len() / 2
    } else {
        items.len()
    });
    if second.is_empty() {
        return [render(0, first), render(1, second)];
    }
    std::thread::scope(|scope| {
        let later = scope.spawn(|| render(1, second));
        let earlier = render(0, first);
        // A panic in the thread is the same panic as in one pass.
        let later = later
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        [earlier, later]
    })
}

/// Every file the IR calls for, sorted by name.
pub fn emit(ir: &Ir) -> Vec<OutputFile> {
    let mut files = Vec::new();
    emit_each(ir, &mut |f| files.push(f));
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// What [`emit_each`] has handed out: each file's name and purpose.
struct Sent<'s> {
    sink: &'s mut dyn FnMut(OutputFile),
    listing: Vec<(String, String)>,
}

impl Sent<'_> {
    fn push(&mut self, f: OutputFile) {
        self.listing.push((f.name.clone(), f.purpose.clone()));
        (self.sink)(f);
    }

    fn extend(&mut self, files: impl IntoIterator<Item = OutputFile>) {
        for f in files {
            self.push(f);
        }
    }

    fn any(&self, name: &str) -> bool {
        self.listing.iter().any(|(n, _)| n == name)
    }
}

/// The files of [`emit`], each handed to `sink` as soon as it is rendered (in no particular
/// order), so a writer can put it on disk and free it before the next is rendered (issue 15:
/// a fleet's bundle was held whole). Returns every file's name and purpose, sorted by name.
pub fn emit_each(ir: &Ir, sink: &mut dyn FnMut(OutputFile)) -> Vec<(String, String)> {
    let mut files = Sent {
        sink,
        listing: Vec::new(),
    };
    let target = |kind: InfraKind| ir.targets.iter().find(|t| t.infra == kind);
    let has = |kind: InfraKind| target(kind).is_some();
    if let Some(t) = target(InfraKind::Kubernetes) {
        files.extend(match t.engine {
            Engine::ArgoRollouts => engine::argo::files(ir, t),
            Engine::Flagger => engine::flagger::files(ir, t),
            Engine::Canaryc | Engine::None => kubernetes::files(ir, t),
        });
    }
    if let Some(t) = target(InfraKind::DockerCompose) {
        let beside = has(InfraKind::BareMetal);
        files.push(file(
            "docker-compose-canary.yml",
            "Docker Compose stack: py2 and py3 copies behind a load balancer",
            compose::stack(ir, t.router, beside),
        ));
        // With bare metal in the same build, the stack gets its own load-balancer config
        // (addresses of containers), never the hosts' (127.0.0.1), and it is always written.
        if beside {
            let (purpose, contents) = match t.router {
                Router::Nginx => (
                    "nginx for the Compose stack: split_clients between the py2 and py3 containers",
                    nginx::config(ir, true),
                ),
                _ => (
                    "HAProxy for the Compose stack: weighted py2/py3 containers, health checks, runtime API",
                    haproxy::config(ir, true),
                ),
            };
            files.push(file(
                compose::lb_config_name(t.router, true),
                purpose,
                contents,
            ));
        }
    }
    if has(InfraKind::BareMetal) {
        files.extend(systemd::units(ir));
    }
    match ir.balancer {
        Some(Router::Haproxy) => files.push(file(
            "haproxy-canary.cfg",
            "HAProxy: weighted py2/py3 servers, health checks, runtime API, Prometheus exporter",
            haproxy::config(ir, ir.compose_only),
        )),
        Some(Router::Nginx) => files.push(file(
            "nginx-canary.conf",
            "nginx: split_clients traffic split between py2 and py3",
            nginx::config(ir, ir.compose_only),
        )),
        _ => {}
    }
    if ir.balancer == Some(Router::Haproxy) {
        files.extend(automation::files(ir, ir.compose_only));
        files.extend(engine::promote::files(ir, ir.compose_only));
        let compose_loop =
            target(InfraKind::DockerCompose).is_some_and(|t| t.engine == Engine::Canaryc);
        if ir.compose_only && compose_loop {
            files.extend(engine::compose_loop::files(ir));
        }
    }
    // The comparator's image on Compose is canaryc's, as the loop's is.
    let compose_comparator = has(InfraKind::DockerCompose)
        && ir.services.iter().any(|s| compose::comparator(s).is_some());
    if compose_comparator && !files.any("Dockerfile.canaryc") {
        files.push(engine::compose_loop::dockerfile_file(ir));
    }
    files.push(file(
        "prometheus-alerts.yaml",
        "Prometheus rollback alerts, one per trigger",
        prometheus::alerts(ir),
    ));
    files.push(file(
        "prometheus-alerts.test.yaml",
        "promtool tests: each alert fires above its threshold, not below",
        prometheus::tests(ir),
    ));
    files.push(file(
        "monitoring-dashboard.json",
        "Grafana dashboard: py2 and py3 side by side",
        grafana::dashboard(ir),
    ));
    files.push(file(
        "canary-rollback-runbook.md",
        if engine::docs::any_automatic(ir) {
            "manual rollback at each stage, and what the automatic rollback does"
        } else {
            "rollback by hand at each stage (this bundle has no engine)"
        },
        markdown::rollback_runbook(ir),
    ));
    files.listing.sort_by(|a, b| a.0.cmp(&b.0));
    let listing: Vec<(String, String)> = files
        .listing
        .iter()
        .cloned()
        .chain([
            (
                "canary-plan.md".to_string(),
                "runbook: architecture, ramp-up, monitoring, cutover steps, timeline".to_string(),
            ),
            (
                "canary-plan.json".to_string(),
                "the master plan, machine-readable".to_string(),
            ),
        ])
        .collect();
    files.push(file(
        "canary-plan.md",
        "runbook: architecture, ramp-up, monitoring, cutover steps, timeline",
        markdown::plan(ir, &listing),
    ));
    files.push(file(
        "canary-plan.json",
        "the master plan, machine-readable",
        plan_json::plan(ir, &listing),
    ));
    files.listing.sort_by(|a, b| a.0.cmp(&b.0));
    files.listing
}

#[cfg(test)]
mod tests {
    #[test]
    fn halves_are_one_pass_in_two_pieces() {
        for n in [0, 1, 63, 64, 65, 1000] {
            let items: Vec<usize> = (0..n).collect();
            let [a, b] = super::in_halves(&items, |_, half| half.to_vec());
            assert_eq!([a, b].concat(), items, "{n} items");
        }
    }
}
