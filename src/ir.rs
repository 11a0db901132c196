//! The IR: everything a backend needs, resolved, and nothing else.
//!
//! Lowering turns a checked plan (with detected facts merged in) into concrete decisions: object
//! names, ports for each copy, the py3 runtime environment and why each variable is there, the
//! metrics source and its metric names, the stage timeline. Backends read only this; they never
//! see the AST, the model or the detection, so every decision is made once, here.

use schemars::JsonSchema;
use serde::Serialize;

use crate::date::Date;
use crate::detect::Detection;
use crate::detect::facts::{HazardLevel, InfraKind as DetectedInfra, Workload, WorkloadKind};
use crate::diag::{Code, Diagnostic};
use crate::model::{self, Criterion, Plan, Threshold};
use crate::stats::effect::Effect;
use crate::stats::ladder::{Ladder, PASS_EVIDENCE, TOP_SECS};
use crate::syntax::ast::CmpOp;

pub mod compare;
mod condition;
mod host;
mod kube;
mod target;

pub use compare::{ComparatorIr, ComparatorTarget, Placement};
pub use condition::{Condition, Op};
pub use host::{APACHE_USER, Predecessor, PredecessorKind};

pub use kube::{
    KubeIr, ObservedIr, PerCopy, PlainRoutingIr, PodsIr, ServiceRoute, VirtualServiceIr, VsRoute,
    copy_subsets, is_service_ref, own_route, route_routes_to,
};
pub use target::{Engine, InfraKind, MetricsSource, Router, StickyBy};

/// HAProxy's maximum server weight: the HAProxy targets' weights are out of it.
pub const HAPROXY_WEIGHT_TOTAL: u32 = 256;

/// Bumped when a field of `canary-plan.json` changes meaning or disappears.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// Linux lets a process bind a port below this only with `CAP_NET_BIND_SERVICE`
/// (`net.ipv4.ip_unprivileged_port_start`'s default). A service on port 80 gets its copies at 81
/// and 82 and its comparator at 83: units that run as the service's user must be granted the
/// capability, or the copies never start.
pub const UNPRIVILEGED_PORT_START: u16 = 1024;

/// Whether a host process listening on `port` needs `CAP_NET_BIND_SERVICE` to bind it.
pub fn binds_privileged_port(port: u16) -> bool {
    port < UNPRIVILEGED_PORT_START
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Ir {
    pub name: String,
    pub namespace: String,
    pub description: Option<String>,
    pub python_from: String,
    pub python_to: String,
    /// Calendar start; without it the timeline is in days from the start.
    pub start: Option<Date>,
    pub targets: Vec<Target>,
    pub services: Vec<ServiceIr>,
    pub stages: Vec<StageIr>,
    pub triggers: Vec<TriggerIr>,
    pub sticky: Option<StickyIr>,
    pub metrics: MetricsIr,
    pub listen: ListenIr,
    pub hazards: Vec<HazardIr>,
    pub detected: DetectedIr,
    /// Total of all holds, in hours.
    pub total_hours: u64,
    /// The sequential tests' parameters, and the time-to-detect preview.
    pub detection: DetectionIr,
    /// Whether the bundle runs a response comparator (the producer of the divergence metric) on
    /// at least one target: the plan has a `compare` section and a target can place one
    /// (`ServiceIr::compare`). Without one, divergence triggers and criteria are left out (CNR513).
    pub comparator: bool,
    /// The target the documents lead with (the diagram's router): the plan's first, or bare
    /// metal behind HAProxy when the plan names none.
    #[serde(skip)]
    pub primary: Target,
    /// The load balancer canaryc writes for the Compose and bare-metal targets (bare metal's
    /// router first), if either is there.
    #[serde(skip)]
    pub balancer: Option<Router>,
    /// The Compose stack is the only target behind that load balancer: it addresses
    /// containers (`NAME-py2:PORT`) and is driven inside the stack, not on a host.
    #[serde(skip)]
    pub compose_only: bool,
    /// Where canaryc's files and HAProxy's runtime state live on a host and in the stack.
    #[serde(skip)]
    pub host: HostIr,
    /// The plan, relative to the output directory: the Compose comparator mounts it (its
    /// `compare` section). Set by the CLI, which knows where both are; `None` is `canary.plan`
    /// next to the outputs.
    #[serde(skip)]
    pub plan_file: Option<String>,
}

/// The paths the load balancer, the rollback automation and `canaryc promote` share, decided
/// once so the configs, scripts and runbooks cannot disagree.
#[derive(Debug, Clone, Default)]
pub struct HostIr {
    /// Where the runbook installs the automation's files on a host.
    pub install_dir: String,
    /// The token Alertmanager sends and the rollback script checks; the runbook creates it.
    pub token_file: String,
    /// HAProxy's admin socket on a host: /run/haproxy, which Debian's package creates.
    pub socket: String,
    /// In the Compose stack: /var/lib/haproxy, which the official image owns and a volume keeps.
    pub compose_socket: String,
    /// HAProxy's saved server state, so a reload keeps a rollback.
    pub state_file: String,
    /// Where `canaryc promote` keeps the stage reached, on a host and in the stack's volume.
    pub promote_state: String,
    pub compose_promote_state: String,
}

impl HostIr {
    fn new(plan: &str) -> HostIr {
        let install_dir = format!("/etc/canaryc/{plan}");
        HostIr {
            token_file: format!("{install_dir}/webhook-token"),
            install_dir,
            socket: format!("/run/haproxy/{plan}-admin.sock"),
            compose_socket: format!("/var/lib/haproxy/{plan}-admin.sock"),
            state_file: format!("/var/lib/haproxy/{plan}-server-state"),
            promote_state: format!("/var/lib/canaryc/{plan}/promote-state.json"),
            compose_promote_state: "/var/lib/canaryc/promote-state.json".into(),
        }
    }

    /// The admin socket on a host or in the Compose stack.
    pub fn socket(&self, compose: bool) -> &str {
        if compose {
            &self.compose_socket
        } else {
            &self.socket
        }
    }
}

/// What the error-rate and latency tests need beyond their triggers: the ladder of windows and
/// the evidence each rung needs (src/stats/ladder.rs), the evidence a criterion needs, the
/// latency histogram's bucket bounds, and the preview when the plan states its traffic.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DetectionIr {
    pub ladder: Ladder,
    /// Nats of evidence a success criterion needs (95% confidence).
    pub pass_evidence: f64,
    /// Bucket bounds a latency test may count slow requests above, in the histogram's unit.
    pub latency_buckets: Vec<f64>,
    /// Seconds per unit of those bounds (0.001 for Istio's milliseconds).
    pub latency_unit_secs: f64,
    pub preview: Option<crate::check::detection::Preview>,
}

/// Where a latency test counts slow requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum LatencyBound {
    /// The largest bucket bound at or below this multiple of py2's quantile (and above it).
    TimesPy2(f64),
    /// The smallest bucket bound at or above this many seconds.
    AtLeastSecs(f64),
}

/// A latency test: the quantile, and where slow starts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct LatencyTestIr {
    pub quantile: f64,
    pub bound: LatencyBound,
}

/// A success criterion the rules can judge: evidence that py3 is not worse than a bound.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct EvidenceIr {
    /// `error_rate < 0.5%`, as the plan says it.
    pub text: String,
    pub test: EvidenceTest,
    /// The window the evidence is counted over: the hold, at most a day.
    pub window_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceTest {
    /// py3's failure rate below the effect's alternative (py2's + 0.5 points, ...).
    ErrorRate(Effect),
    /// Fewer than `1 - quantile` of py3's requests slower than the bound.
    Latency(LatencyTestIr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Target {
    pub infra: InfraKind,
    pub router: Router,
    /// What rolls back and ramps up by itself; `none` means a person does.
    pub engine: Engine,
    /// What py3's share is counted out of on this target's router (`weight_total`).
    #[serde(skip)]
    pub weight_total: u32,
}

impl Target {
    /// A stage's (py2, py3) weights on this target's router.
    pub fn weights(&self, stage: &StageIr) -> (u32, u32) {
        weights(stage.traffic, self.weight_total)
    }

    /// The weights the router's files start at: the first stage's.
    pub fn first_weights(&self, ir: &Ir) -> (u32, u32) {
        weights(
            ir.stages.first().map_or(0.0, |s| s.traffic),
            self.weight_total,
        )
    }
}

/// What a target's router counts weights out of. Kubernetes routers count out of 100, or 1000
/// when a stage asks for a fraction of a percent and the router honours it: the plain files'
/// VirtualService, HTTPRoute and canary Ingress do; under Argo Rollouts only ingress-nginx
/// honours `maxTrafficWeight` (the Gateway API plugin sets the stable weight to
/// `100 - desiredWeight`, pkg/plugin/httproute.go, v0.5.0 to v0.15.0; Istio neither,
/// canary-systems.md §2.1; CNR515); Flagger's `stepWeights` are percents. HAProxy's weights are
/// out of its maximum server weight; nginx's `split_clients` takes percents.
fn weight_total(infra: InfraKind, router: Router, engine: Engine, fine: bool) -> u32 {
    match (infra, router, engine) {
        (InfraKind::Kubernetes, Router::NginxIngress, Engine::ArgoRollouts) if fine => 1000,
        (InfraKind::Kubernetes, _, Engine::ArgoRollouts | Engine::Flagger) => 100,
        (InfraKind::Kubernetes, _, _) if fine => 1000,
        (_, Router::Haproxy, _) => HAPROXY_WEIGHT_TOTAL,
        _ => 100,
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StickyIr {
    pub by: StickyBy,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnvVar {
    pub name: String,
    /// The value; `[redacted]` in canary-plan.json when `credential` is set.
    pub value: String,
    /// Why canaryc sets it, for the runbook; `None` when the plan set it.
    pub reason: Option<String>,
    /// The value looks like a credential (by its name or its shape): it is written only where
    /// the workload reads it (Deployment, Compose service, unit), never into a document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credential: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServiceIr {
    pub name: String,
    /// The port the service listens on (in its container, or where it runs today).
    pub port: u16,
    /// The port clients use: the one the load balancer takes for the service on Compose and
    /// bare metal (`public_port`, else `port`).
    pub public_port: u16,
    /// On shared hosts (bare metal), each copy listens on its own port.
    pub port_py2: u16,
    pub port_py3: u16,
    /// HTTP health path, or `None` for a TCP check.
    pub health: Option<String>,
    pub replicas: u32,
    pub image_py2: Option<String>,
    pub image_py3: Option<String>,
    pub command_py2: Option<String>,
    pub command_py3: Option<String>,
    /// Directory the service runs in on a host.
    pub workdir: String,
    pub user: Option<String>,
    /// Why the copies run as `user`, when canaryc assumed it (Apache's user for mod_wsgi).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_reason: Option<String>,
    /// On a host: what serves `port` today, which must stop before the load balancer can
    /// take the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Predecessor>,
    /// On Docker Compose: services of this plan that a dependency of this service calls by
    /// their Compose name, so the stack keeps a plain py2 copy of each for those calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internal_callers: Vec<InternalCall>,
    pub cpu_millis: Option<u32>,
    pub memory_bytes: Option<u64>,
    pub env_py2: Vec<EnvVar>,
    pub env_py3: Vec<EnvVar>,
    /// The response comparator in front of (or mirrored from) this service's py2, with the
    /// second py2 copy it needs, when the plan has a `compare` section.
    pub compare: Option<ComparatorIr>,
    /// On Kubernetes: the Service clients address and its port, the Istio Gateway and hosts,
    /// and the labels that tell the copies apart under the target's engine.
    pub kube: KubeIr,
    /// On bare metal: each copy's systemd unit as the bundle names the file
    /// (`systemd-py2.service`, or `systemd-NAME-py2.service` beside other services) and as it
    /// is installed on the host (`NAME-py2.service`).
    #[serde(skip)]
    pub unit_files: PerCopy,
    #[serde(skip)]
    pub units: PerCopy,
    /// The team's own Deployment (or Compose service, Ingress), to clone.
    #[serde(skip)]
    pub k8s_deployment: Option<serde_json::Value>,
    #[serde(skip)]
    pub k8s_ingress: Option<serde_json::Value>,
    /// (min, max) replicas of the team's HPA for this service.
    #[serde(skip)]
    pub k8s_autoscaler: Option<(u32, u32)>,
    /// Whether the team already has a Service named like this service (the apex Service).
    #[serde(skip)]
    pub k8s_has_service: bool,
    /// The team's Gateway API route, whose parentRefs and hostnames the canary route keeps.
    #[serde(skip)]
    pub k8s_route: Option<serde_json::Value>,
    #[serde(skip)]
    pub compose_service: Option<serde_json::Value>,
    /// Compose services the app depends on (caches, brokers), copied into the canary file.
    #[serde(skip)]
    pub compose_dependencies: Vec<(String, serde_json::Value)>,
    /// Where the codebase is, relative to the output directory (Compose build contexts). Not
    /// in canary-plan.json: it depends on where the files are written, not on the plan.
    #[serde(skip)]
    pub build_context: Option<String>,
}

/// A dependency (`caller`) that reaches another service of the plan (`service`) by its Compose
/// name. canary-lb publishes that service on its public port, not under its name inside the
/// stack, so the call goes to the plain py2 copy the stack keeps as the caller's dependency:
/// it is neither split nor compared, and stays on py2 after the cutover.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct InternalCall {
    pub caller: String,
    pub service: String,
}

impl ServiceIr {
    pub fn object(&self, copy: Interpreter) -> String {
        format!("{}-{}", self.name, copy.as_str())
    }

    /// Where a load balancer reaches a copy: its container in Compose, its own port on a host.
    pub fn address(&self, copy: Interpreter, compose: bool) -> String {
        if compose {
            format!("{}:{}", self.object(copy), self.port)
        } else {
            let port = match copy {
                Interpreter::Py2 => self.port_py2,
                Interpreter::Py3 => self.port_py3,
            };
            format!("127.0.0.1:{port}")
        }
    }

    /// The comparator in front of py2 on this kind of target, if the bundle places one there.
    fn front(&self, compose: bool) -> Option<&ComparatorIr> {
        let infra = if compose {
            InfraKind::DockerCompose
        } else {
            InfraKind::BareMetal
        };
        self.compare.as_ref().filter(|c| {
            c.target(infra)
                .is_some_and(|t| t.placement == Placement::InFrontOfPy2)
        })
    }

    /// The container the load balancer sends a copy's share to in Compose: py2's goes to the
    /// comparator when it sits in front of py2 (it listens on the service's port too).
    pub fn lb_host(&self, copy: Interpreter) -> String {
        match self.front(true) {
            Some(c) if copy == Interpreter::Py2 => c.name.clone(),
            _ => self.object(copy),
        }
    }

    /// Where the load balancer sends a copy's share: `address`, except py2's when a comparator
    /// sits in front of it.
    pub fn lb_address(&self, copy: Interpreter, compose: bool) -> String {
        match self.front(compose) {
            Some(c) if copy == Interpreter::Py2 && compose => format!("{}:{}", c.name, self.port),
            Some(c) if copy == Interpreter::Py2 => format!("127.0.0.1:{}", c.host_port),
            _ => self.address(copy, compose),
        }
    }
}

/// Which of the two copies of a service: the one on Python 2 or the one on Python 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interpreter {
    Py2,
    Py3,
}

impl Interpreter {
    pub fn as_str(self) -> &'static str {
        match self {
            Interpreter::Py2 => "py2",
            Interpreter::Py3 => "py3",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StageIr {
    pub name: String,
    /// py3's share, in percent.
    pub traffic: f64,
    pub hold_hours: f64,
    /// Hours from the rollout's start at which the stage begins.
    pub starts_at_hours: f64,
    pub criteria: Vec<String>,
    pub approval: Option<String>,
    /// The criteria, typed, for the engines that judge them (Argo analysis, `canaryc promote`).
    pub checks: Vec<CheckIr>,
    /// The criteria the sequential recording rules judge, with the same statistics as the
    /// triggers (error rate and latency; the other metrics have no evidence rule).
    pub evidence: Vec<EvidenceIr>,
}

/// The metric a stage's success criterion measures on py3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckMetric {
    ErrorRate,
    Latency,
    HealthFailures,
    Memory,
    Cpu,
    RequestRate,
}

/// One success criterion: py3's `metric` must satisfy `op threshold` (of py2's value when
/// `relative`) over the stage's hold.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CheckIr {
    pub metric: CheckMetric,
    /// As a fraction (0.99), for latency.
    pub quantile: Option<f64>,
    /// `<`, `<=`, `>` or `>=`: what passes.
    pub op: Op,
    /// Percent, milliseconds, count, or a multiple of py2's value when `relative`.
    pub threshold: f64,
    pub relative: bool,
    /// `error_rate < 0.1%`, as the runbook says it.
    pub text: String,
}

impl StageIr {
    /// HAProxy/NGINX-style integer weights out of 256 and 100 for this stage.
    pub fn weights(&self, total: u32) -> (u32, u32) {
        weights(self.traffic, total)
    }
}

/// Integer (py2, py3) weights summing to `total` for a py3 share in percent. A non-zero share
/// never rounds to zero: a 0.1% stage still sends py3 some traffic.
pub fn weights(traffic: f64, total: u32) -> (u32, u32) {
    let mut py3 = (traffic / 100.0 * f64::from(total)).round() as u32;
    if traffic > 0.0 && py3 == 0 {
        py3 = 1;
    }
    let py3 = py3.min(total);
    (total - py3, py3)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    ErrorRate,
    LatencyRatio,
    LatencyAbsolute,
    HealthFailures,
    Memory,
    Cpu,
    Divergence,
    RequestRateLow,
    RequestRateHigh,
}

impl TriggerKind {
    /// As in `canary-plan.json` and the alerts' `trigger` label.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::ErrorRate => "error_rate",
            TriggerKind::LatencyRatio => "latency_ratio",
            TriggerKind::LatencyAbsolute => "latency_absolute",
            TriggerKind::HealthFailures => "health_failures",
            TriggerKind::Memory => "memory",
            TriggerKind::Cpu => "cpu",
            TriggerKind::Divergence => "divergence",
            TriggerKind::RequestRateLow => "request_rate_low",
            TriggerKind::RequestRateHigh => "request_rate_high",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TriggerIr {
    pub kind: TriggerKind,
    /// Alert name, e.g. `CanaryPy3ErrorRate`.
    pub alert: String,
    /// `error_rate > 1% for 5m`, as the plan says it.
    pub text: String,
    /// Percent, ratio, milliseconds or count, by kind.
    pub threshold: f64,
    pub quantile: Option<f64>,
    /// The `for` window; error-rate and latency triggers are sequential and ignore it.
    pub window_secs: Option<u64>,
    /// For an error-rate trigger: what its threshold means (relative, absolute, ratio).
    pub effect: Option<Effect>,
    /// For a latency trigger: the share of slow requests it tests.
    pub latency: Option<LatencyTestIr>,
}

impl TriggerIr {
    /// Error-rate and latency triggers are sequential tests, not thresholds held for a window.
    pub fn is_sequential(&self) -> bool {
        self.effect.is_some() || self.latency.is_some()
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MetricsIr {
    pub source: MetricsSource,
    /// The plan's Prometheus address for the engines, if it names one (see `prometheus_url`).
    pub prometheus: Option<String>,
    /// Requests py3 must serve in a window before its error rate can page.
    pub min_requests: u32,
    /// Prometheus's scrape and evaluation interval, in seconds.
    pub scrape_interval_secs: u64,
    /// Services whose own metrics the source reads (latency behind HAProxy; every series with
    /// `source = app`) although their code imports no metrics library (CNR518): unless they
    /// export them by hand, those triggers cannot fire and those criteria cannot pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexported: Vec<String>,
}

/// Where the load balancer and the rollback automation listen on a host.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListenIr {
    /// The load balancer's address; `None` for all interfaces.
    pub bind: Option<String>,
    pub stats_port: u16,
    pub alertmanager_port: u16,
    pub webhook_port: u16,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HazardIr {
    pub id: String,
    pub blocker: bool,
    pub title: String,
    pub mitigation: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct DetectedIr {
    /// `kubernetes: deploy/ledger.yaml:2, ...` lines.
    pub infra: Vec<String>,
    pub iac: Vec<String>,
    pub services: Vec<String>,
}

/// Lowers a checked, merged plan. `build_context` is the codebase relative to the output
/// directory, for Compose build contexts.
pub fn lower(
    plan: &Plan,
    detection: Option<&Detection>,
    build_context: Option<&str>,
) -> (Ir, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let fine = plan
        .schedule
        .stages
        .iter()
        .any(|s| s.traffic.value.fract() != 0.0);
    let targets: Vec<Target> = plan
        .infra
        .iter()
        .map(|t| {
            let infra = InfraKind::resolve(t.kind);
            let router = t
                .router
                .map_or_else(|| infra.default_router(), Router::from);
            let engine = t.engine.unwrap_or_else(|| {
                let chosen = default_engine(infra, router, detection);
                // The plan did not name it: say what canaryc's choice cannot express.
                diagnostics.extend(crate::check::engine::warnings(
                    chosen,
                    router.into(),
                    plan.name.span,
                    Some(&plan.schedule),
                    plan.route.sticky.as_ref(),
                ));
                chosen
            });
            let engine = Engine::from(engine);
            Target {
                infra,
                router,
                engine,
                weight_total: weight_total(infra, router, engine, fine),
            }
        })
        .collect();
    let primary = targets.first().copied().unwrap_or(Target {
        infra: InfraKind::BareMetal,
        router: Router::Haproxy,
        engine: Engine::Canaryc,
        weight_total: HAPROXY_WEIGHT_TOTAL,
    });
    let target_of = |kind: InfraKind| targets.iter().find(|t| t.infra == kind);
    // Bare metal's load balancer serves the Compose stack too when both are targets.
    let balancer = target_of(InfraKind::BareMetal)
        .or_else(|| target_of(InfraKind::DockerCompose))
        .map(|t| t.router);
    let compose_only =
        target_of(InfraKind::DockerCompose).is_some() && target_of(InfraKind::BareMetal).is_none();
    // A `compare { }` section says the team runs `canaryc compare`, the producer of the
    // divergence metric; without one, nothing in the bundle emits it.
    let placed: Vec<&Target> = match &plan.compare {
        Some(_) => targets
            .iter()
            .zip(&plan.infra)
            .filter(|(target, spanned)| match compare::unsupported(target) {
                None => true,
                Some(why) => {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::ComparatorNotWired,
                            spanned.span,
                            format!(
                                "no response comparator on the {} target: {why}",
                                target.infra.as_str()
                            ),
                        )
                        .label("compare section not wired here")
                        .help("run `canaryc compare` in front of py2 yourself, or use `kubernetes(router: istio, engine: none)`, where the build mirrors py2's traffic to one"),
                    );
                    false
                }
            })
            .map(|(target, _)| target)
            .collect(),
        None => Vec::new(),
    };
    let comparator = !placed.is_empty();
    let divergence = |m: model::Metric| m == model::Metric::Divergence;
    if !comparator {
        let spans: Vec<_> = plan
            .rollback
            .iter()
            .filter(|t| divergence(t.metric.value))
            .map(|t| t.metric.span)
            .collect();
        let criteria_spans: Vec<_> = plan
            .schedule
            .stages
            .iter()
            .flat_map(|s| s.criteria.iter())
            .filter_map(|c| match c {
                Criterion::Compare { metric, .. } if divergence(metric.value) => Some(metric.span),
                _ => None,
            })
            .collect();
        for span in spans.into_iter().chain(criteria_spans) {
            diagnostics.push(
                Diagnostic::new(
                    Code::DivergenceWithoutProducer,
                    span,
                    "nothing in this bundle produces the divergence metric: left out of the build",
                )
                .label("no response comparator")
                .help("canary_compared_responses_total comes from `canaryc compare`, which this bundle runs only with a `compare { }` section and a target that can place it (CNR426): add one, or remove the condition"),
            );
        }
    }
    let hazards: Vec<HazardIr> = detection
        .map(|d| {
            d.hazards
                .iter()
                .map(|h| HazardIr {
                    id: h.id.to_string(),
                    blocker: h.level == HazardLevel::Blocker,
                    title: h.title.clone(),
                    mitigation: h.mitigation.clone(),
                    evidence: h.evidence.iter().map(ToString::to_string).collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    // Pickles both copies read: Celery messages, or a cache or store they share.
    let pickled_messages = hazards
        .iter()
        .any(|h| h.id == "celery-pickle" || h.id == "pickle-shared-cache");
    let services = plan
        .services
        .iter()
        .enumerate()
        .map(|(index, s)| {
            service(
                s,
                index,
                comparator,
                plan,
                detection,
                &targets,
                pickled_messages,
                build_context,
                &mut diagnostics,
            )
        })
        .collect();

    let mut at = 0.0;
    let stages = plan
        .schedule
        .stages
        .iter()
        .map(|s| {
            let hold_hours = s.hold.value as f64 / 3_600_000.0;
            let window_secs = (s.hold.value / 1000).clamp(1, TOP_SECS);
            let stage = StageIr {
                evidence: s
                    .criteria
                    .iter()
                    .flat_map(evidence)
                    .map(|(text, test)| EvidenceIr {
                        text,
                        test,
                        window_secs,
                    })
                    .collect(),
                name: s.name.value.clone(),
                traffic: s.traffic.value,
                hold_hours,
                starts_at_hours: at,
                criteria: s
                    .criteria
                    .iter()
                    .filter(|c| comparator || !is_divergence(c))
                    .filter_map(criterion_text)
                    .collect(),
                checks: s
                    .criteria
                    .iter()
                    .filter(|c| comparator || !is_divergence(c))
                    .flat_map(checks)
                    .collect(),
                approval: s.criteria.iter().find_map(|c| match c {
                    Criterion::Approval(text) => Some(text.value.clone()),
                    _ => None,
                }),
            };
            at += hold_hours;
            stage
        })
        .collect();
    let source = MetricsSource::stated(plan.monitor.source.value)
        .unwrap_or_else(|| kube::source_of(primary.router));
    metrics_source_per_target(plan, &targets, source, &mut diagnostics);
    let unexported = app_metrics_not_exported(plan, source, detection, &mut diagnostics);
    let ir = Ir {
        name: plan.name.value.clone(),
        namespace: plan
            .namespace
            .as_ref()
            .map_or_else(|| "default".to_string(), |n| n.value.clone()),
        description: plan.description.as_ref().map(|d| d.value.clone()),
        python_from: plan.python.source.value.to_string(),
        python_to: plan.python.target.value.to_string(),
        start: plan.start.map(|s| s.value),
        targets,
        services,
        stages,
        triggers: plan
            .rollback
            .iter()
            .filter(|t| comparator || !divergence(t.metric.value))
            .map(trigger)
            .collect(),
        sticky: plan.route.sticky.as_ref().map(|s| StickyIr {
            by: s.by.into(),
            name: s.name.clone(),
        }),
        metrics: MetricsIr {
            source,
            prometheus: plan.monitor.prometheus.as_ref().map(|p| p.value.clone()),
            min_requests: plan.monitor.min_requests.value,
            scrape_interval_secs: (plan.monitor.scrape_interval.value / 1000).max(1),
            unexported,
        },
        listen: ListenIr {
            bind: plan.route.bind.as_ref().map(|b| b.value.to_string()),
            stats_port: plan.monitor.stats_port.value,
            alertmanager_port: plan.monitor.alertmanager_port.value,
            webhook_port: plan.monitor.webhook_port.value,
        },
        hazards,
        detected: detected(plan, detection),
        total_hours: (at.round()) as u64,
        detection: DetectionIr {
            ladder: Ladder::new(
                (plan.monitor.scrape_interval.value / 1000).max(1),
                &plan.stage_holds(),
            ),
            pass_evidence: PASS_EVIDENCE,
            latency_buckets: source.latency_buckets().to_vec(),
            latency_unit_secs: source.latency_unit_secs(),
            preview: crate::check::detection::preview(plan),
        },
        comparator,
        primary,
        balancer,
        compose_only,
        host: HostIr::new(&plan.name.value),
        plan_file: None,
    };
    between_buckets(plan, source, &mut diagnostics);
    (ir, diagnostics)
}

/// CNR518: the services whose own metrics the plan's conditions read, where detection linked the
/// service to its code and found no metrics library there. HAProxy counts requests and errors
/// but keeps only averages of response times, so latency comes from the app
/// (`emit::metrics`); with `source = app` everything does. Without a codebase nothing is known,
/// and nothing is said.
fn app_metrics_not_exported(
    plan: &Plan,
    source: MetricsSource,
    detection: Option<&Detection>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<String> {
    let latency = |m: model::Metric| m == model::Metric::Latency;
    let reads_latency = plan.rollback.iter().any(|t| latency(t.metric.value))
        || plan
            .schedule
            .stages
            .iter()
            .flat_map(|s| &s.criteria)
            .any(|c| match c {
                Criterion::Compare { metric, .. } => latency(metric.value),
                Criterion::WithinBaseline(_) => true,
                Criterion::Approval(_) => false,
            });
    let (what, consequence) = match source {
        MetricsSource::Haproxy if reads_latency => (
            "its latency from its own `http_request_duration_seconds` histograms (HAProxy keeps only averages)",
            "latency triggers cannot fire and latency criteria cannot pass",
        ),
        MetricsSource::App => (
            "its own `http_requests_total` and `http_request_duration_seconds` (`source = app`)",
            "no trigger can fire and no criterion can pass",
        ),
        _ => return Vec::new(),
    };
    let Some(detection) = detection else {
        return Vec::new();
    };
    let mut unexported = Vec::new();
    for s in &plan.services {
        let Some(w) = s.workload.and_then(|id| detection.workload(id)) else {
            continue;
        };
        if w.metrics_library.is_some() {
            continue;
        }
        let name = &s.name.value;
        diagnostics.push(
            Diagnostic::new(
                Code::AppMetricsNotExported,
                s.name.span,
                format!(
                    "the rollout reads {what} for `{name}`, and its code imports no metrics library: unless it exports them by hand, {consequence}"
                ),
            )
            .label("no metrics library found in its code")
            .help("export the histogram from both copies (prometheus_client, labelled `service` and `version` = py2 or py3), or state `source` and conditions the router measures; `canaryc explain CNR518`"),
        );
        unexported.push(name.clone());
    }
    unexported
}

/// CNR452: an absolute latency threshold the histogram cannot count at.
fn between_buckets(plan: &Plan, source: MetricsSource, diagnostics: &mut Vec<Diagnostic>) {
    let unit = source.latency_unit_secs();
    let buckets = source.latency_buckets();
    let thresholds = plan
        .rollback
        .iter()
        .filter(|t| t.metric.value == model::Metric::Latency)
        .map(|t| t.threshold)
        .chain(plan.schedule.stages.iter().flat_map(|s| {
            s.criteria.iter().filter_map(|c| match c {
                Criterion::Compare {
                    metric, threshold, ..
                } if metric.value == model::Metric::Latency => Some(*threshold),
                _ => None,
            })
        }));
    let mut seen: Vec<u64> = Vec::new();
    for threshold in thresholds {
        let Threshold::Millis(ms) = threshold.value else {
            continue;
        };
        let at = ms as f64 / 1000.0 / unit;
        if buckets.iter().any(|b| (b - at).abs() <= 1e-9 * at.max(1.0)) || seen.contains(&ms) {
            continue;
        }
        seen.push(ms);
        let next = buckets.iter().copied().find(|b| *b > at);
        let shown = |b: f64| format!("{}ms", fmt(b * unit * 1000.0));
        let message = match next {
            Some(b) => format!(
                "{ms}ms is between the latency histogram's buckets: canaryc tests requests slower than {}",
                shown(b)
            ),
            None => format!(
                "{ms}ms is above the latency histogram's largest bucket: nothing can be tested"
            ),
        };
        let below = buckets.iter().copied().rfind(|b| *b < at);
        diagnostics.push(
            Diagnostic::new(Code::LatencyBetweenBuckets, threshold.span, message)
                .label("not a bucket bound")
                .help(format!(
                    "histograms count only at their bounds{}; use one of them, or a ratio of py2 (`2x py2`)",
                    match (below, next) {
                        (Some(a), Some(b)) => format!(": the nearest are {} and {}", shown(a), shown(b)),
                        (None, Some(b)) => format!(": the nearest is {}", shown(b)),
                        (Some(a), None) => format!(": the largest is {}", shown(a)),
                        (None, None) => String::new(),
                    }
                )),
        );
    }
}

/// The evidence tests a criterion becomes: `all metrics within 10%` is two.
fn evidence(c: &Criterion) -> Vec<(String, EvidenceTest)> {
    match c {
        Criterion::Compare {
            metric,
            quantile,
            threshold,
            ..
        } => {
            let text = criterion_text(c).unwrap_or_default();
            match metric.value {
                model::Metric::ErrorRate => crate::check::detection::error_effect(threshold.value)
                    .map(|e| vec![(text, EvidenceTest::ErrorRate(e))])
                    .unwrap_or_default(),
                model::Metric::Latency => {
                    let bound = match threshold.value {
                        Threshold::Millis(ms) => LatencyBound::AtLeastSecs(ms as f64 / 1000.0),
                        Threshold::RatioOfPy2(r) => LatencyBound::TimesPy2(r),
                        _ => return Vec::new(),
                    };
                    vec![(
                        text,
                        EvidenceTest::Latency(LatencyTestIr {
                            quantile: quantile.map_or(0.99, |q| q.as_fraction()),
                            bound,
                        }),
                    )]
                }
                _ => Vec::new(),
            }
        }
        Criterion::WithinBaseline(t) => {
            let factor = 1.0 + t.value / 100.0;
            vec![
                (
                    format!("error_rate within {}% of py2", fmt(t.value)),
                    EvidenceTest::ErrorRate(Effect::Times(factor)),
                ),
                (
                    format!("latency p99 within {}% of py2", fmt(t.value)),
                    EvidenceTest::Latency(LatencyTestIr {
                        quantile: 0.99,
                        bound: LatencyBound::TimesPy2(factor),
                    }),
                ),
            ]
        }
        Criterion::Approval(_) => Vec::new(),
    }
}

/// One metrics source serves every target: the alerts and each engine's queries read it. A
/// target whose monitoring cannot produce it would be judged on series it does not have, and
/// never roll back or advance (CNR517).
fn metrics_source_per_target(
    plan: &Plan,
    targets: &[Target],
    source: MetricsSource,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let explicit = MetricsSource::stated(plan.monitor.source.value).is_some();
    for (spanned, target) in plan.infra.iter().zip(targets) {
        if kube::produces(target.router, source) {
            continue;
        }
        let message = if explicit {
            format!(
                "metrics source `{}` does not exist on the {} target ({})",
                source.as_str(),
                target.infra.as_str(),
                target.router.as_str()
            )
        } else {
            format!(
                "the targets' metrics differ: the first target's router gives `{}`, which the {} target ({}) does not have",
                source.as_str(),
                target.infra.as_str(),
                target.router.as_str()
            )
        };
        let mut d = Diagnostic::new(Code::MetricsSourcePerTarget, spanned.span, message)
            .label("judged on series it does not have")
            .help("set `monitor { source = app }`: the app's own request and latency metrics exist on every target; or split the plan into one plan per target");
        if explicit {
            d = d.secondary(plan.monitor.source.span, "source chosen here");
        }
        diagnostics.push(d);
    }
}

fn detected(plan: &Plan, detection: Option<&Detection>) -> DetectedIr {
    let Some(d) = detection else {
        return DetectedIr::default();
    };
    DetectedIr {
        infra: d
            .infra
            .iter()
            .map(|f| {
                let evidence: Vec<String> =
                    f.evidence.iter().take(5).map(ToString::to_string).collect();
                let routers: Vec<String> = f
                    .routers
                    .iter()
                    .map(|r| format!("{} ({})", r.value.as_str(), r.evidence))
                    .collect();
                if routers.is_empty() {
                    format!("{}: {}", f.kind.as_str(), evidence.join(", "))
                } else {
                    format!(
                        "{}: {}; router {}",
                        f.kind.as_str(),
                        evidence.join(", "),
                        routers.join(", ")
                    )
                }
            })
            .collect(),
        iac: d
            .iac
            .iter()
            .map(|i| format!("{} {}: {}", i.tool, i.what, i.evidence))
            .collect(),
        services: {
            // What the plan canaries, then the workers next to it (canaried by queue).
            let show = |w: &Workload| {
                let mut parts = vec![format!(
                    "{} ({} at {}, {})",
                    w.name,
                    w.kind.as_str(),
                    w.evidence,
                    w.class.value.as_str()
                )];
                if let Some(f) = &w.framework {
                    parts.push(format!("{} ({})", f.value, f.evidence));
                }
                if let Some(e) = &w.entrypoint {
                    parts.push(format!("entrypoint {} ({})", e.value, e.evidence));
                }
                if let Some(p) = &w.port {
                    parts.push(format!("port {} ({})", p.value, p.evidence));
                }
                if let Some(h) = &w.health {
                    parts.push(format!("health {} ({})", h.value, h.evidence));
                }
                if w.class.value == crate::detect::facts::WorkloadClass::PythonWorker {
                    parts.push(format!(
                        "{}: canary it by queue, not by traffic",
                        w.class.reason
                    ));
                }
                parts.join(", ")
            };
            let linked: Vec<crate::detect::facts::WorkloadId> =
                plan.services.iter().filter_map(|s| s.workload).collect();
            let infra = plan.infra.first().and_then(|t| match t.kind {
                model::InfraKind::Kubernetes => Some(DetectedInfra::Kubernetes),
                model::InfraKind::DockerCompose => Some(DetectedInfra::DockerCompose),
                model::InfraKind::BareMetal => Some(DetectedInfra::BareMetal),
                model::InfraKind::Auto => None,
            });
            let workers = crate::detect::link::choose(d, infra).workers;
            linked
                .iter()
                .chain(workers.iter().filter(|w| !linked.contains(w)))
                .filter_map(|id| d.workload(*id))
                .map(show)
                .collect()
        },
    }
}

/// The engine a target gets when the plan names none. Kubernetes: Argo Rollouts (per-stage
/// holds, canary-systems.md §8), or Flagger when the codebase already runs it. Compose and bare
/// metal: canaryc's own loop, which needs HAProxy's runtime API; nginx has none.
fn default_engine(
    infra: InfraKind,
    router: Router,
    detection: Option<&Detection>,
) -> model::Engine {
    use model::Engine;
    match infra {
        InfraKind::Kubernetes => {
            let runs_flagger = detection.is_some_and(|d| {
                d.kubernetes.engines.iter().any(|e| e.value == "flagger")
                    && !d
                        .kubernetes
                        .engines
                        .iter()
                        .any(|e| e.value == "argo-rollouts")
            });
            if runs_flagger {
                Engine::Flagger
            } else {
                Engine::ArgoRollouts
            }
        }
        _ if router == Router::Haproxy => Engine::Canaryc,
        _ => Engine::None,
    }
}

/// The address the engine of `infra` queries Prometheus at: the plan's, or the usual one.
pub fn prometheus_url(ir: &Ir, infra: InfraKind) -> String {
    if let Some(url) = &ir.metrics.prometheus {
        return url.clone();
    }
    match infra {
        InfraKind::Kubernetes => "http://prometheus.monitoring.svc:9090".into(),
        InfraKind::DockerCompose => "http://prometheus:9090".into(),
        InfraKind::BareMetal => "http://127.0.0.1:9090".into(),
    }
}

fn is_divergence(c: &Criterion) -> bool {
    matches!(c, Criterion::Compare { metric, .. } if metric.value == model::Metric::Divergence)
}

/// A criterion as the checks an engine runs: `all metrics within 10% of py2` is the error rate
/// and the p99 latency, each at most 1.1 times py2's.
fn checks(c: &Criterion) -> Vec<CheckIr> {
    use model::Metric as M;
    match c {
        Criterion::Compare {
            metric,
            quantile,
            op,
            threshold,
        } => {
            let kind = match metric.value {
                M::ErrorRate => CheckMetric::ErrorRate,
                M::Latency => CheckMetric::Latency,
                M::HealthFailures => CheckMetric::HealthFailures,
                M::Memory => CheckMetric::Memory,
                M::Cpu => CheckMetric::Cpu,
                M::RequestRate => CheckMetric::RequestRate,
                M::Divergence => return Vec::new(),
            };
            vec![CheckIr {
                metric: kind,
                quantile: match metric.value {
                    M::Latency => Some(quantile.map_or(0.99, |q| q.as_fraction())),
                    _ => None,
                },
                op: match op {
                    CmpOp::Lt => Op::Lt,
                    CmpOp::Le => Op::Le,
                    CmpOp::Gt => Op::Gt,
                    CmpOp::Ge => Op::Ge,
                },
                threshold: threshold.value.magnitude(),
                relative: matches!(threshold.value, Threshold::RatioOfPy2(_)),
                text: criterion_text(c).unwrap_or_default(),
            }]
        }
        Criterion::WithinBaseline(pct) => {
            let ratio = 1.0 + pct.value / 100.0;
            vec![
                CheckIr {
                    metric: CheckMetric::ErrorRate,
                    quantile: None,
                    op: Op::Le,
                    threshold: ratio,
                    relative: true,
                    text: format!("error_rate within {}% of py2", fmt(pct.value)),
                },
                CheckIr {
                    metric: CheckMetric::Latency,
                    quantile: Some(0.99),
                    op: Op::Le,
                    threshold: ratio,
                    relative: true,
                    text: format!("latency p99 within {}% of py2", fmt(pct.value)),
                },
            ]
        }
        Criterion::Approval(_) => Vec::new(),
    }
}

fn criterion_text(c: &Criterion) -> Option<String> {
    match c {
        Criterion::Compare {
            metric,
            quantile,
            op,
            threshold,
        } => Some(format!(
            "{} {} {}",
            crate::check::metric_text(metric.value, *quantile),
            op.as_str(),
            threshold_text(threshold.value)
        )),
        Criterion::WithinBaseline(t) => {
            Some(format!("all metrics within {}% of py2", fmt(t.value)))
        }
        Criterion::Approval(_) => None,
    }
}

pub fn threshold_text(t: Threshold) -> String {
    match t {
        Threshold::Percent(p) => format!("{}%", fmt(p)),
        Threshold::AbsolutePercent(p) => format!("absolute({}%)", fmt(p)),
        Threshold::RatioOfPy2(r) => format!("{}x py2", fmt(r)),
        Threshold::Millis(ms) => format!("{ms}ms"),
        Threshold::Count(n) => fmt(n),
    }
}

/// A number as a person writes it: `1`, `0.5`.
pub use crate::check::number_text as fmt;

fn trigger(t: &model::Trigger) -> TriggerIr {
    use model::Metric as M;
    let (kind, alert) = match (t.metric.value, t.threshold.value) {
        (M::ErrorRate, _) => (TriggerKind::ErrorRate, "ErrorRate"),
        (M::Latency, Threshold::Millis(_)) => (TriggerKind::LatencyAbsolute, "Latency"),
        (M::Latency, _) => (TriggerKind::LatencyRatio, "LatencyVsPy2"),
        (M::HealthFailures, _) => (TriggerKind::HealthFailures, "HealthChecks"),
        (M::Memory, _) => (TriggerKind::Memory, "Memory"),
        (M::Cpu, _) => (TriggerKind::Cpu, "Cpu"),
        (M::Divergence, _) => (TriggerKind::Divergence, "Divergence"),
        (M::RequestRate, _) if t.op.is_upper_bound() => (TriggerKind::RequestRateLow, "TrafficLow"),
        (M::RequestRate, _) => (TriggerKind::RequestRateHigh, "TrafficHigh"),
    };
    let quantile = t.quantile.map(|q| q.as_fraction());
    let alert = match t.quantile {
        Some(q) => format!(
            "CanaryPy3{alert}{}",
            q.to_string().to_uppercase().replace('.', "_")
        ),
        None => format!("CanaryPy3{alert}"),
    };
    let op = match t.op {
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    };
    let effect = match t.metric.value {
        M::ErrorRate => crate::check::detection::error_effect(t.threshold.value),
        _ => None,
    };
    let latency = match (t.metric.value, t.threshold.value) {
        (M::Latency, Threshold::Millis(ms)) => Some(LatencyBound::AtLeastSecs(ms as f64 / 1000.0)),
        (M::Latency, Threshold::RatioOfPy2(r)) => Some(LatencyBound::TimesPy2(r)),
        _ => None,
    }
    .map(|bound| LatencyTestIr {
        quantile: quantile.unwrap_or(0.99),
        bound,
    });
    let mut text = format!(
        "{} {op} {}",
        crate::check::metric_text(t.metric.value, t.quantile),
        threshold_text(t.threshold.value),
    );
    // A sequential trigger ignores its window: the text says what the rules test.
    if let Some(w) = t.window.filter(|_| !t.metric.value.is_sequential()) {
        text.push_str(&format!(" for {}", crate::check::duration_text(w.value)));
    }
    TriggerIr {
        kind,
        alert,
        text,
        threshold: t.threshold.value.magnitude(),
        quantile,
        window_secs: t.window.map(|w| (w.value / 1000).max(1)),
        effect,
        latency,
    }
}

/// CNR455, CNR456, CNR457 and CNR459: what canaryc cannot split in the team's Istio objects,
/// and which of their alternative definitions it takes over.
fn istio_route_warnings(
    name: &str,
    span: crate::source::Span,
    kube: &KubeIr,
    targets: &[Target],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(t) = targets
        .iter()
        .find(|t| t.infra == InfraKind::Kubernetes && t.router == Router::Istio)
    else {
        return;
    };
    for vs in kube
        .virtual_services()
        .filter(|vs| !vs.alternatives.is_empty())
    {
        let others = vs
            .alternatives
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ");
        diagnostics.push(
            Diagnostic::new(
                Code::AlternativeVirtualServices,
                span,
                format!(
                    "the VirtualService `{}` is defined {} times, in alternatives: the plan takes over the one at `{}` and leaves out {others}; applying it replaces whichever of them is live",
                    vs.name,
                    vs.alternatives.len() + 1,
                    vs.defined_at
                ),
            )
            .label("alternative VirtualServices")
            .help(format!("if another definition of `{}` is the one applied, move the others out of the codebase (or out of its manifests) so that canaryc takes over the live one", vs.name)),
        );
    }
    if t.engine == Engine::Flagger {
        for vs in kube.virtual_services().filter(|vs| vs.team) {
            let vs = &vs.name;
            let message = if *vs == name {
                format!(
                    "Flagger replaces the VirtualService `{vs}` with its own one route to `{name}`: the team's other routes in it are lost"
                )
            } else {
                format!(
                    "the VirtualService `{vs}` routes to `{name}` itself: Flagger splits only its own VirtualService `{name}`, so that traffic stays on py2"
                )
            };
            diagnostics.push(
                Diagnostic::new(Code::FlaggerTeamVirtualService, span, message)
                    .label("the team's VirtualService")
                    .help("move the routes to the service into a delegate VirtualService Flagger manages (`spec.service.delegation`), or use `engine: argo-rollouts`, which keeps the team's routes"),
            );
        }
        return;
    }
    // The subsets canaryc adds to the service's host: istiod keeps the first rule's subset of
    // a name and drops the later one's (`mergeDestinationRule`), so a team subset of that name
    // would take the copy's traffic.
    for clash in copy_subsets(t.engine)
        .iter()
        .filter(|o| kube.team_subsets.iter().any(|s| s == *o))
    {
        diagnostics.push(
            Diagnostic::new(
                Code::IstioSubsetClash,
                span,
                format!(
                    "a DestinationRule of the team's for `{name}` already has a subset `{clash}`: istiod merges it with canaryc's `{}` and keeps the first one's, so the split could send the copy's share to the team's pods",
                    kube.destination_rule
                ),
            )
            .label("subset name taken")
            .help(format!("rename the team's subset `{clash}` (and the routes that name it) before the canary")),
        );
    }
    for vs in kube.virtual_services() {
        for r in &vs.http {
            if let VsRoute::Service(
                r @ ServiceRoute {
                    shared_weight: Some(w),
                    ..
                },
            ) = r
            {
                diagnostics.push(
                    Diagnostic::new(
                        Code::SharedIstioRoute,
                        span,
                        format!(
                            "route `{}` of the VirtualService `{}` splits between `{name}` and another service: its share of `{name}` (weight {w}) stays on py2",
                            r.name, vs.name
                        ),
                    )
                    .label("not canaried")
                    .help(format!("give `{name}` a route of its own (a `match` on what goes to it), which canaryc splits")),
                );
            }
        }
        if !vs.http.iter().any(VsRoute::is_split) {
            // Nothing to re-weight: Argo Rollouts would patch (and strip) the one shared route,
            // or refuse a list of none; the plain files' stages would move no traffic.
            let mut d = Diagnostic::new(
                Code::SharedIstioRoute,
                span,
                format!(
                    "every route of the VirtualService `{}` to `{name}` is shared with another service: the canary has no route to split",
                    vs.name
                ),
            )
            .label("no route to split")
            .help(format!("give `{name}` a route of its own (a `match` on what goes to it), which canaryc splits"));
            d.severity = crate::diag::Severity::Error;
            diagnostics.push(d);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn service(
    s: &model::Service,
    index: usize,
    comparator: bool,
    plan: &Plan,
    detection: Option<&Detection>,
    targets: &[Target],
    pickled_messages: bool,
    build_context: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ServiceIr {
    let name = s.name.value.clone();
    // The workload the link pass joined this service to (`detect::link`): every fact about
    // the team's own deployment comes from it, never from a second lookup by name.
    let linked: Option<&Workload> = s
        .workload
        .and_then(|id| detection.and_then(|d| d.workload(id)));
    let port = s.port.as_ref().map_or_else(
        || {
            diagnostics.push(
                Diagnostic::new(
                    Code::AssumedDefault,
                    s.name.span,
                    format!("no port known for `{name}`: assuming 8000"),
                )
                .label("port not stated or detected")
                .help("add `port = ...` to the service"),
            );
            8000
        },
        |p| p.value,
    );
    let k8s = targets.iter().any(|t| t.infra == InfraKind::Kubernetes);
    let compose = targets.iter().any(|t| t.infra == InfraKind::DockerCompose);
    let bare = targets.iter().any(|t| t.infra == InfraKind::BareMetal);
    let k8s_workload = linked.filter(|w| w.kind.infra() == DetectedInfra::Kubernetes);
    let compose_workload = linked.filter(|w| w.kind == WorkloadKind::ComposeService);
    let image_py2 = s.image_py2.as_ref().map(|i| i.value.clone());
    let image_py3 = s.image_py3.as_ref().map(|i| i.value.clone());
    if (k8s || compose) && image_py3.is_none() {
        diagnostics.push(
            Diagnostic::new(Code::MissingForTarget, s.name.span, format!("no py3 image for `{name}`"))
                .label("image py3 missing")
                .help("containers need the py3 build's image: add `image py3 = \"registry/app:3.13-1\"` to the service"),
        );
    }
    // Compose builds the py2 image from the codebase when the team's service (or the lone
    // Dockerfile) builds it.
    let compose_builds =
        linked.is_some_and(|w| w.build.is_some() && w.kind.infra() == DetectedInfra::DockerCompose);
    let py2_image_needed = k8s || (compose && !compose_builds);
    if py2_image_needed && image_py2.is_none() {
        diagnostics.push(
            Diagnostic::new(
                Code::MissingForTarget,
                s.name.span,
                format!("no py2 image for `{name}`"),
            )
            .label("image py2 missing")
            .help("add `image py2 = \"...\"`, or point `codebase` at manifests that name it"),
        );
    }
    let host = linked.filter(|w| !w.kind.containerized());
    let workdir = host
        .and_then(|w| w.working_directory.clone())
        .unwrap_or_else(|| format!("/srv/{name}"));
    // systemd needs absolute programs: a bare `gunicorn` (from a Procfile) runs from the py2
    // virtualenv by convention. Under an APM agent (`newrelic-admin run-program gunicorn`) the
    // agent finds the program on a PATH the unit does not set: both are made absolute.
    let absolute = |command: String| {
        let in_venv = |program: &str| {
            if program.starts_with('/') {
                program.to_string()
            } else {
                format!("{workdir}/venv/bin/{program}")
            }
        };
        under_agent(&command, in_venv).unwrap_or_else(|| in_venv(&command))
    };
    let command_py2 = s
        .command_py2
        .as_ref()
        .map(|c| absolute(c.value.clone()))
        .or_else(|| {
            // Nothing says how a host runs it: serve the detected WSGI application the usual
            // way, and say so. Containers run their image's command; they need none.
            if !bare {
                return None;
            }
            let entry = linked.and_then(|w| w.entrypoint.as_ref())?;
            let options = linked.map_or(&[][..], |w| &w.serve_options[..]);
            let command = assumed_command(&entry.value, &workdir, port, options)?;
            diagnostics.push(
                Diagnostic::new(
                    Code::AssumedDefault,
                    s.name.span,
                    format!("no host command known for `{name}`: assuming `{command}`"),
                )
                .label("command py2 assumed")
                .help(format!("the WSGI application is {} ({}); add `command py2 = \"...\"` with the command your hosts run", entry.value, entry.evidence)),
            );
            Some(command)
        });
    let command_py3 = s
        .command_py3
        .as_ref()
        .map(|c| c.value.clone())
        .or_else(|| command_py2.as_ref().map(|c| py3_command(c, &workdir)));
    if bare && command_py2.is_none() {
        diagnostics.push(
            Diagnostic::new(Code::MissingForTarget, s.name.span, format!("no command for `{name}`"))
                .label("command py2 missing")
                .help("bare metal runs commands: add `command py2 = \"...\"` and `command py3 = \"...\"` (or a codebase with a Procfile, unit or WSGI entrypoint)"),
        );
    }
    let (env_py2, env_py3) = environment(s, pickled_messages);
    // What the app depends on, and what that depends on (kafka needs zookeeper), in order.
    let mut internal_callers = Vec::new();
    let compose_dependencies = match (detection, compose_workload) {
        (Some(d), Some(w)) => {
            // The Compose services other services of this plan were linked to.
            let canaried: Vec<&Workload> = plan
                .services
                .iter()
                .filter_map(|other| other.workload.and_then(|id| d.workload(id)))
                .filter(|o| o.kind == WorkloadKind::ComposeService && o.name != w.name)
                .filter(|o| o.evidence.file == w.evidence.file)
                .collect();
            let mut found: Vec<(String, serde_json::Value)> = Vec::new();
            let mut queue: Vec<(String, String)> = w
                .depends_on
                .iter()
                .map(|dep| (w.name.clone(), dep.clone()))
                .collect();
            while let Some((caller, dep)) = queue.first().cloned() {
                queue.remove(0);
                if canaried.iter().any(|o| o.name == dep) {
                    let call = InternalCall {
                        caller,
                        service: dep.clone(),
                    };
                    if !internal_callers.contains(&call) {
                        internal_callers.push(call);
                    }
                }
                if dep == w.name || found.iter().any(|(n, _)| *n == dep) {
                    continue;
                }
                let Some(x) = d.compose_service(&w.evidence.file, &dep) else {
                    continue;
                };
                if x.role.as_deref() == Some("load balancer") {
                    continue;
                }
                queue.extend(x.depends_on.iter().map(|next| (dep.clone(), next.clone())));
                if let Some(def) = x.definition.clone() {
                    found.push((x.name.clone(), def));
                }
            }
            found
        }
        _ => Vec::new(),
    };
    let autoscaler = k8s_workload.and_then(|w| w.k8s.autoscaler);
    let k8s_has_service = k8s_workload
        .is_some_and(|w| w.k8s.service.as_deref() == Some(name.as_str()))
        || detection.is_some_and(|d| d.kubernetes.services.iter().any(|s| s.name == name));
    let k8s_deployment = k8s_workload.and_then(|w| w.manifest.clone());
    let (kube, team) = kube::lower(
        &name,
        port,
        plan.namespace
            .as_ref()
            .map_or("default", |n| n.value.as_str()),
        kube::kubernetes_engine(targets).unwrap_or(Engine::None),
        k8s_workload,
        detection.filter(|_| k8s),
        plan.services.len() == 1,
        plan.route
            .sticky
            .as_ref()
            .is_some_and(|st| st.by == model::StickyBy::Cookie),
    );
    let k8s_route = team.route;
    let gateway_api = targets
        .iter()
        .any(|t| t.infra == InfraKind::Kubernetes && t.router == Router::GatewayApi);
    if gateway_api && k8s_route.is_none() {
        diagnostics.push(
            Diagnostic::new(
                Code::AssumedDefault,
                s.name.span,
                format!(
                    "no HTTPRoute found for `{name}`: assuming its Gateway is named `{}-gateway`",
                    plan.name.value
                ),
            )
            .label("Gateway not known")
            .help("point `codebase` at manifests with the service's HTTPRoute (its parentRefs are kept), or edit parentRefs in k8s-httproute.yaml"),
        );
    }
    istio_route_warnings(&name, s.name.span, &kube, targets, diagnostics);
    let (port_py2, port_py3) = (port.saturating_add(1), port.saturating_add(2));
    let (user, user_reason) = host::user(host);
    let compare = comparator.then(|| {
        compare::lower(
            &name,
            port,
            port_py2,
            port_py3,
            index,
            targets,
            plan.compare.as_ref().map_or(100.0, |c| c.sample.value),
            format!("canaryc:{}", env!("CARGO_PKG_VERSION")),
        )
    });
    let unit_files = PerCopy {
        py2: unit_file(&name, plan.services.len(), Interpreter::Py2),
        py3: unit_file(&name, plan.services.len(), Interpreter::Py3),
    };
    let units = PerCopy {
        py2: format!("{name}-py2.service"),
        py3: format!("{name}-py3.service"),
    };
    ServiceIr {
        unit_files,
        units,
        port,
        public_port: s.public_port.as_ref().map_or(port, |p| p.value),
        port_py2,
        port_py3,
        compare,
        health: s.health.as_ref().map(|h| h.value.clone()),
        replicas: s
            .replicas
            .as_ref()
            .map(|r| r.value)
            .or_else(|| linked.and_then(|w| w.replicas))
            .unwrap_or(2),
        image_py2,
        image_py3,
        command_py2,
        command_py3,
        workdir,
        user,
        user_reason,
        replaces: host::predecessor(host),
        internal_callers,
        cpu_millis: s.cpu_millis.as_ref().map(|c| c.value),
        memory_bytes: s.memory_bytes.as_ref().map(|m| m.value),
        env_py2,
        env_py3,
        kube,
        k8s_deployment,
        k8s_ingress: team.ingress,
        k8s_autoscaler: autoscaler,
        k8s_has_service,
        k8s_route,
        compose_service: compose_workload.and_then(|w| w.manifest.clone()),
        compose_dependencies,
        build_context: build_context.map(str::to_string),
        name,
    }
}

/// The unit file a copy gets in the bundle: `systemd-py2.service` for a plan's only service.
fn unit_file(name: &str, services: usize, copy: Interpreter) -> String {
    if services == 1 {
        format!("systemd-{}.service", copy.as_str())
    } else {
        format!("systemd-{name}-{}.service", copy.as_str())
    }
}

/// How a host serves a WSGI application nothing says how to run: gunicorn for a module,
/// mod_wsgi-express for a `.wsgi` script, with the `options` its Apache config implies
/// (`Workload::serve_options`). `None` for anything else (a paste `egg:`).
fn assumed_command(entry: &str, workdir: &str, port: u16, options: &[String]) -> Option<String> {
    if crate::detect::command::looks_like_entrypoint(entry) {
        Some(format!(
            "{workdir}/venv/bin/gunicorn --bind 127.0.0.1:{port} {entry}"
        ))
    } else if entry.starts_with('/') && !entry.contains(char::is_whitespace) {
        let command =
            format!("{workdir}/venv/bin/mod_wsgi-express start-server {entry} --port {port}");
        Some(options.iter().fold(command, |c, o| c + " " + o))
    } else {
        None
    }
}

/// Where the program is in a command's words: after an APM agent that runs it
/// (`newrelic-admin run-program gunicorn ...` → 2), else the first word.
pub fn program_index<S: AsRef<str>>(words: &[S]) -> usize {
    crate::detect::command::agent_len(words)
}

/// A command that runs under an APM agent (`newrelic-admin run-program gunicorn ...`) with
/// `program` applied to both the agent and the program it runs; `None` for a command without
/// one, which the caller rewrites as a whole.
fn under_agent(command: &str, program: impl Fn(&str) -> String) -> Option<String> {
    let mut words = crate::check::strings::split_words(command).ok()?;
    let at = program_index(&words);
    if at == 0 {
        return None;
    }
    words[0] = program(&words[0]);
    words[at] = program(&words[at]);
    Some(crate::detect::command::join(&words))
}

/// The py3 command: the same program from the py3 virtualenv (and the same APM agent, from it
/// too: the agent imports into the interpreter it runs, so py2's cannot run py3's program).
fn py3_command(py2: &str, workdir: &str) -> String {
    if let Some(command) = under_agent(py2, |program| py3_command(program, workdir)) {
        return command;
    }
    let mut words = py2.splitn(2, ' ');
    let program = words.next().unwrap_or("");
    let rest = words.next().map(|r| format!(" {r}")).unwrap_or_default();
    let base = program.rsplit('/').next().unwrap_or(program);
    let dir = program.rsplit_once('/').map(|(d, _)| d);
    let py3_program = match dir {
        Some(d) if d.ends_with("/bin") => {
            let env = d.trim_end_matches("/bin");
            let root = env.rsplit_once('/').map_or("", |(r, _)| r);
            format!("{root}/venv3/bin/{base}")
        }
        _ => format!("{workdir}/venv3/bin/{base}"),
    };
    format!("{py3_program}{rest}")
}

/// Environment for each copy: what the plan says, plus what py3 needs to run next to py2, each
/// with the fact from shared/reference/py2-py3-runtime.md §7 that requires it.
fn environment(s: &model::Service, pickled_messages: bool) -> (Vec<EnvVar>, Vec<EnvVar>) {
    let mut py2 = vec![EnvVar {
        name: "CANARY_INTERPRETER".into(),
        value: "py2".into(),
        reason: Some("tells the app which copy it is: label metrics with it, and prefix cache keys so the copies do not read each other's pickles".into()),
        credential: false,
    }];
    let mut py3 = vec![
        EnvVar {
            name: "CANARY_INTERPRETER".into(),
            value: "py3".into(),
            reason: Some("tells the app which copy it is: label metrics with it, and prefix cache keys so the copies do not read each other's pickles".into()),
            credential: false,
        },
        EnvVar {
            name: "LANG".into(),
            value: "C.UTF-8".into(),
            reason: Some("uWSGI and mod_wsgi embed Python without locale coercion, and python:3.13+ images no longer set LANG: without it open() and print default to ASCII on py3".into()),
            credential: false,
        },
        EnvVar {
            name: "LC_ALL".into(),
            value: "C.UTF-8".into(),
            reason: Some("as LANG; also overrides any LC_* the host sets".into()),
            credential: false,
        },
        EnvVar {
            name: "PYTHONUTF8".into(),
            value: "1".into(),
            reason: Some("UTF-8 mode for CLI-started servers (gunicorn, celery); embedded servers ignore it, hence LANG".into()),
            credential: false,
        },
        EnvVar {
            name: "PYTHONIOENCODING".into(),
            value: "utf-8".into(),
            reason: Some("the python:2.7 images set it; keeps stdout/stderr encoding the same on both copies".into()),
            credential: false,
        },
    ];
    if pickled_messages {
        py3.push(EnvVar {
            name: "PICKLE_PROTOCOL".into(),
            value: "2".into(),
            reason: Some("2 is the highest pickle protocol py2 can read (py3 writes 4 or 5 by default). kombu (Celery) honours this variable; for Django caches pass it on, e.g. django-redis `OPTIONS: {\"PICKLE_VERSION\": int(os.environ[\"PICKLE_PROTOCOL\"])}`".into()),
            credential: false,
        });
    }
    for (k, v) in &s.env {
        for list in [&mut py2, &mut py3] {
            set(list, &k.value, &v.value);
        }
    }
    for (k, v) in &s.env_py3 {
        set(&mut py3, &k.value, &v.value);
    }
    (py2, py3)
}

fn set(list: &mut Vec<EnvVar>, name: &str, value: &str) {
    // The checker warned about it (CNR212); the emitters keep it out of the documents.
    let credential = crate::check::strings::credential_reason(Some(name), value).is_some();
    match list.iter_mut().find(|e| e.name == name) {
        Some(e) => {
            e.value = value.to_string();
            e.reason = None;
            e.credential = credential;
        }
        None => list.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
            reason: None,
            credential,
        }),
    }
}

/// The calendar day (or `Day N`) at `hours` from the start.
pub fn day_at(start: Option<Date>, hours: f64) -> String {
    let days = (hours / 24.0).floor() as i64;
    match start {
        Some(d) => d.add_days(days).to_string(),
        None => format!("day {}", days + 1),
    }
}
