//! The checked plan: what `check` produces once names are resolved, stdlib schedules merged with
//! their overrides, and every value typed. Later stages (detection merge, IR, backends) start
//! from here. Values keep the span they were written at so later stages can still point at the
//! plan when they find a conflict; equality ignores those spans.

use schemars::JsonSchema;
use serde::Serialize;

use crate::date::Date;
use crate::source::Spanned;
use crate::syntax::ast::{CmpOp, Quantile};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub namespace: Option<Spanned<String>>,
    pub codebase: Option<Spanned<String>>,
    pub python: PythonPair,
    pub infra: Vec<Spanned<InfraTarget>>,
    pub start: Option<Spanned<Date>>,
    pub services: Vec<Service>,
    pub route: Route,
    pub rollback: Vec<Trigger>,
    pub schedule: Schedule,
    pub monitor: Monitor,
    /// Requests per second each service expects (`traffic = 40/s`), for the time-to-detect
    /// preview; a service's own `traffic` wins.
    pub traffic: Option<Spanned<f64>>,
    /// py2's failure rate in percent (`py2_error_rate = 0.1%`), for the preview; 0.1% if unset.
    pub py2_error_rate: Option<Spanned<f64>>,
    /// The `compare { }` section, when the plan has one (`canaryc compare` reads it).
    pub compare: Option<Compare>,
}

/// py2's failure rate the preview assumes when the plan does not say (percent).
pub const DEFAULT_PY2_ERROR_RATE: f64 = 0.1;

impl Plan {
    /// The traffic and py2 failure rate (percent) the preview works from, for one service.
    pub fn expected(&self, service: &Service) -> (Option<f64>, f64) {
        let traffic = service
            .traffic
            .as_ref()
            .or(self.traffic.as_ref())
            .map(|t| t.value);
        let rate = service
            .py2_error_rate
            .as_ref()
            .or(self.py2_error_rate.as_ref())
            .map_or(DEFAULT_PY2_ERROR_RATE, |r| r.value);
        (traffic, rate)
    }

    /// The longest stage hold, in seconds: what the rungs' thresholds are calibrated against.
    /// The stages as the detection ladder sees them: py3's share (a fraction) and the hold
    /// (seconds), whose thresholds the rules pick by share (stats::ladder).
    pub fn stage_holds(&self) -> Vec<(f64, u64)> {
        self.schedule
            .stages
            .iter()
            .map(|s| (s.traffic.value / 100.0, (s.hold.value / 1000).max(1)))
            .collect()
    }

    pub fn longest_hold_secs(&self) -> u64 {
        self.schedule
            .stages
            .iter()
            .map(|s| s.hold.value / 1000)
            .max()
            .unwrap_or(1)
            .max(1)
    }
}

/// A Python version as written: `3.11` is major 3, minor 11 (never the float 3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
pub struct PyVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for PyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PythonPair {
    pub source: Spanned<PyVersion>,
    pub target: Spanned<PyVersion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InfraKind {
    /// Decide from what `canaryc detect` finds in the codebase.
    Auto,
    Kubernetes,
    DockerCompose,
    BareMetal,
}

impl InfraKind {
    pub const NAMES: &'static [&'static str] =
        &["auto", "kubernetes", "docker-compose", "bare-metal"];

    pub fn parse(name: &str) -> Option<InfraKind> {
        Some(match name {
            "auto" => InfraKind::Auto,
            "kubernetes" => InfraKind::Kubernetes,
            "docker-compose" => InfraKind::DockerCompose,
            "bare-metal" => InfraKind::BareMetal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The routers that can split traffic on this infrastructure; the first is the default.
    pub fn routers(self) -> &'static [Router] {
        match self {
            InfraKind::Auto => &[],
            InfraKind::Kubernetes => &[Router::Istio, Router::GatewayApi, Router::NginxIngress],
            InfraKind::DockerCompose | InfraKind::BareMetal => &[Router::Haproxy, Router::Nginx],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Router {
    Istio,
    GatewayApi,
    NginxIngress,
    Haproxy,
    Nginx,
}

impl Router {
    pub const NAMES: &'static [&'static str] =
        &["istio", "gateway-api", "nginx-ingress", "haproxy", "nginx"];

    pub fn parse(name: &str) -> Option<Router> {
        Some(match name {
            "istio" => Router::Istio,
            "gateway-api" => Router::GatewayApi,
            "nginx-ingress" => Router::NginxIngress,
            "haproxy" => Router::Haproxy,
            "nginx" => Router::Nginx,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether the router can keep one user on one interpreter while splitting by weight.
    /// From shared/reference/canary-systems.md: Istio and Gateway API pin canary users with a
    /// cookie-match route plus a `Set-Cookie` on the canary route (Flagger's sessionAffinity);
    /// ingress-nginx has `affinity-canary-behavior: sticky` with cookie affinity; HAProxy has
    /// cookie insertion and stick tables; nginx `split_clients` hashes any variable, a header
    /// included. None of the Kubernetes routers can hash an arbitrary header into a weighted
    /// split: they only match exact header values.
    pub fn supports_sticky(self, by: StickyBy) -> bool {
        match (self, by) {
            (_, StickyBy::Cookie) => true,
            (Router::Haproxy | Router::Nginx, StickyBy::Header) => true,
            (_, StickyBy::Header) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InfraTarget {
    pub kind: InfraKind,
    pub router: Option<Router>,
    /// The controller that moves traffic and rolls back; `None` lets `lower` choose.
    pub engine: Option<Engine>,
}

/// What acts on the analysis: moves py3 forward stage by stage and back to py2 by itself.
///
/// From shared/reference/canary-systems.md §8: Argo Rollouts is the only widely used Kubernetes
/// controller whose steps hold each stage for its own duration (`setWeight` + `pause`); Flagger
/// has one `interval` for every step. Off Kubernetes nothing runs canaries, so canaryc's own
/// loop does: Prometheus, Alertmanager, a rollback receiver and `canaryc promote`, acting on the
/// load balancer's runtime API (HAProxy's; plain nginx has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    ArgoRollouts,
    Flagger,
    Canaryc,
    /// Plain files: a person moves the weights and rolls back.
    None,
}

impl Engine {
    pub const NAMES: &'static [&'static str] = &["argo-rollouts", "flagger", "canaryc", "none"];

    pub fn parse(name: &str) -> Option<Engine> {
        Some(match name {
            "argo-rollouts" => Engine::ArgoRollouts,
            "flagger" => Engine::Flagger,
            "canaryc" => Engine::Canaryc,
            "none" => Engine::None,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether the bundle rolls back (and ramps up) by itself with this engine.
    pub fn automatic(self) -> bool {
        self != Engine::None
    }

    /// The engines that can run on an infrastructure; the first is the default.
    pub fn for_infra(kind: InfraKind) -> &'static [Engine] {
        match kind {
            InfraKind::Auto => &[],
            InfraKind::Kubernetes => &[Engine::ArgoRollouts, Engine::Flagger, Engine::None],
            InfraKind::DockerCompose | InfraKind::BareMetal => &[Engine::Canaryc, Engine::None],
        }
    }

    /// Whether the engine can drive this router. canaryc's loop needs a runtime API to set
    /// weights without a reload: HAProxy has one (canary-systems.md §4.4), plain nginx does not.
    pub fn drives(self, router: Router) -> bool {
        match self {
            Engine::Canaryc => router == Router::Haproxy,
            Engine::ArgoRollouts | Engine::Flagger => matches!(
                router,
                Router::Istio | Router::GatewayApi | Router::NginxIngress
            ),
            Engine::None => true,
        }
    }

    /// Whether the engine can keep a user on one interpreter while it moves weights.
    /// canary-systems.md §1.5 and §8: Flagger's `sessionAffinity` works on Istio and Gateway
    /// API only; Argo Rollouts has no session affinity; HAProxy inserts cookies itself.
    pub fn keeps_sticky(self, router: Router) -> bool {
        match self {
            Engine::ArgoRollouts => false,
            Engine::Flagger => matches!(router, Router::Istio | Router::GatewayApi),
            Engine::Canaryc | Engine::None => true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Service {
    pub name: Spanned<String>,
    pub port: Option<Spanned<u16>>,
    /// The port the load balancer takes for the service (Compose and bare metal), when it is not
    /// `port`: the host port the team's Compose stack publishes it on.
    pub public_port: Option<Spanned<u16>>,
    pub health: Option<Spanned<String>>,
    pub replicas: Option<Spanned<u32>>,
    pub image_py2: Option<Spanned<String>>,
    pub image_py3: Option<Spanned<String>>,
    pub command_py2: Option<Spanned<String>>,
    pub command_py3: Option<Spanned<String>>,
    /// CPU in millicores.
    pub cpu_millis: Option<Spanned<u32>>,
    pub memory_bytes: Option<Spanned<u64>>,
    /// Extra environment for the py3 copy, in the order written.
    pub env_py3: Vec<(Spanned<String>, Spanned<String>)>,
    /// Extra environment for both copies.
    pub env: Vec<(Spanned<String>, Spanned<String>)>,
    /// Requests per second to this service, for the preview.
    pub traffic: Option<Spanned<f64>>,
    /// py2's failure rate for this service, percent, for the preview.
    pub py2_error_rate: Option<Spanned<f64>>,
    /// The detected workload this service canaries, set by the link pass when the plan is
    /// merged with its codebase (`detect::link`): lowering clones what it reads from there.
    pub workload: Option<crate::detect::facts::WorkloadId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StickyBy {
    Cookie,
    Header,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    /// `cookie("py_version")` or `header("X-User-Id")`; `None` splits each request afresh.
    pub sticky: Option<Spanned<Sticky>>,
    /// The address the load balancer listens on (`127.0.0.1`); all interfaces when `None`.
    pub bind: Option<Spanned<std::net::IpAddr>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sticky {
    pub by: StickyBy,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    ErrorRate,
    Latency,
    HealthFailures,
    Memory,
    Cpu,
    Divergence,
    RequestRate,
}

impl Metric {
    pub const NAMES: &'static [&'static str] = &[
        "error_rate",
        "latency",
        "health_failures",
        "memory",
        "cpu",
        "divergence",
        "request_rate",
    ];

    pub fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "error_rate" => Metric::ErrorRate,
            "latency" => Metric::Latency,
            "health_failures" => Metric::HealthFailures,
            "memory" => Metric::Memory,
            "cpu" => Metric::Cpu,
            "divergence" => Metric::Divergence,
            "request_rate" => Metric::RequestRate,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The threshold a condition compares against, typed by the metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Percent: error rate (relative: points above py2's), memory/CPU of the limit, share of
    /// diverging responses.
    Percent(f64),
    /// `absolute(1%)`: an error rate py3 must stay under whatever py2 does.
    AbsolutePercent(f64),
    /// A multiple of py2's value of the same metric.
    RatioOfPy2(f64),
    /// An absolute latency.
    Millis(u64),
    /// A plain count or rate: health-check failures, requests per second.
    Count(f64),
}

/// As plans write it: `1%`, `absolute(1%)`, `2x py2`, `500ms`, `3`.
impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::check::{duration_text, number_text};
        match *self {
            Threshold::Percent(p) => write!(f, "{}%", number_text(p)),
            Threshold::AbsolutePercent(p) => write!(f, "absolute({}%)", number_text(p)),
            Threshold::RatioOfPy2(r) => write!(f, "{}x py2", number_text(r)),
            Threshold::Millis(ms) => f.write_str(&duration_text(ms)),
            Threshold::Count(n) => f.write_str(&number_text(n)),
        }
    }
}

impl Threshold {
    /// The number compared, for like-with-like comparisons between criteria and triggers.
    pub fn magnitude(self) -> f64 {
        match self {
            Threshold::Percent(v)
            | Threshold::AbsolutePercent(v)
            | Threshold::RatioOfPy2(v)
            | Threshold::Count(v) => v,
            Threshold::Millis(ms) => ms as f64,
        }
    }

    pub fn same_unit(self, other: Threshold) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub metric: Spanned<Metric>,
    pub quantile: Option<Quantile>,
    pub op: CmpOp,
    pub threshold: Spanned<Threshold>,
    /// Milliseconds the condition must hold before rolling back. Error-rate and latency
    /// triggers are sequential tests that need none (and ignore one).
    pub window: Option<Spanned<u64>>,
}

impl Metric {
    /// Whether triggers and criteria on this metric are sequential binomial tests (fire on
    /// evidence, no window) rather than thresholds held for a window.
    pub fn is_sequential(self) -> bool {
        matches!(self, Metric::ErrorRate | Metric::Latency)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    Compare {
        metric: Spanned<Metric>,
        quantile: Option<Quantile>,
        op: CmpOp,
        threshold: Spanned<Threshold>,
    },
    /// Every compared metric within this percentage of py2's.
    WithinBaseline(Spanned<f64>),
    /// A person must approve before the stage completes.
    Approval(Spanned<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The stdlib or local schedule this came from, if any.
    pub base: Option<Spanned<String>>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: Spanned<String>,
    /// py3's share of traffic, in percent.
    pub traffic: Spanned<f64>,
    /// Milliseconds to hold before judging the stage.
    pub hold: Spanned<u64>,
    pub criteria: Vec<Criterion>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MetricsSource {
    Auto,
    Istio,
    NginxIngress,
    Haproxy,
    App,
}

impl MetricsSource {
    pub const NAMES: &'static [&'static str] =
        &["auto", "istio", "nginx-ingress", "haproxy", "app"];

    /// The latency histogram's default bucket bounds, in its unit ([`Self::latency_unit_secs`]):
    /// the only places a latency test can count slow requests at. Istio's
    /// `istio_request_duration_milliseconds` (the proxy's defaults, up to ten minutes);
    /// ingress-nginx's `request_duration_seconds` (the Go client's `DefBuckets`); the app's own
    /// (Python prometheus_client's defaults, a superset of Go's). HAProxy has no histograms
    /// (shared/reference/canary-systems.md §4.4): latency comes from the app's.
    pub fn latency_buckets(self) -> &'static [f64] {
        match self {
            MetricsSource::Istio => &[
                0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                10000.0, 30000.0, 60000.0, 300000.0, 600000.0,
            ],
            MetricsSource::NginxIngress => &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
            MetricsSource::Haproxy | MetricsSource::App | MetricsSource::Auto => &[
                0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
            ],
        }
    }

    /// Seconds per unit of the latency histogram's buckets.
    pub fn latency_unit_secs(self) -> f64 {
        match self {
            MetricsSource::Istio => 0.001,
            _ => 1.0,
        }
    }

    pub fn parse(name: &str) -> Option<MetricsSource> {
        Some(match name {
            "auto" => MetricsSource::Auto,
            "istio" => MetricsSource::Istio,
            "nginx-ingress" => MetricsSource::NginxIngress,
            "haproxy" => MetricsSource::Haproxy,
            "app" => MetricsSource::App,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    pub source: Spanned<MetricsSource>,
    /// Requests py3 must have served in a window before its error rate may trigger anything:
    /// a 1% canary with three requests must not page anyone.
    pub min_requests: Spanned<u32>,
    /// How often Prometheus scrapes and evaluates, in milliseconds.
    pub scrape_interval: Spanned<u64>,
    /// The Prometheus the engine queries (Argo's and Flagger's analysis, `canaryc promote`);
    /// `None` lets `lower` assume the usual address for the target.
    pub prometheus: Option<Spanned<String>>,
    /// Ports of the rollback automation on a host: HAProxy's stats and exporter, Alertmanager,
    /// and the webhook receiver.
    pub stats_port: Spanned<u16>,
    pub alertmanager_port: Spanned<u16>,
    pub webhook_port: Spanned<u16>,
}

impl Default for Monitor {
    fn default() -> Self {
        fn at<T>(v: T) -> Spanned<T> {
            Spanned::new(v, Default::default())
        }
        Monitor {
            source: at(MetricsSource::Auto),
            min_requests: at(DEFAULT_MIN_REQUESTS),
            scrape_interval: at(15_000),
            prometheus: None,
            stats_port: at(8404),
            alertmanager_port: at(9093),
            webhook_port: at(9000),
        }
    }
}

pub const DEFAULT_MIN_REQUESTS: u32 = 100;

/// The `compare { }` section: how `canaryc compare` mirrors requests to the second py2 copy and
/// to py3, and how it diffs their responses with py2's (docs/compare.md). Values left out are
/// the defaults below; `canaryc compare` flags override them.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    /// Comparisons waiting for a worker; beyond this they are dropped (`result="dropped"`).
    pub queue: Spanned<u32>,
    /// Mirrored request pairs in flight at once.
    pub concurrency: Spanned<u32>,
    /// How long a mirrored request may take, in milliseconds.
    pub timeout: Spanned<u64>,
    /// The largest body compared, in bytes; larger responses are not compared.
    pub max_body: Spanned<u64>,
    /// Bodies held by queued comparisons, in bytes: the bound on the queue's memory.
    pub max_buffered: Spanned<u64>,
    /// Endpoints tracked separately; the rest are counted together as `other`.
    pub max_endpoints: Spanned<u32>,
    /// The share of mirrorable requests compared, in percent (100 by default): the Istio
    /// mirror's `mirrorPercentage`, and the comparator's own sampling in front of py2.
    pub sample: Spanned<f64>,
    /// Diffy's thresholds, in percent (shared/reference/canary-systems.md §7).
    pub relative_threshold: Spanned<f64>,
    pub absolute_threshold: Spanned<f64>,
    /// Whether `3` and `3.0` are the same JSON number.
    pub numbers: Spanned<NumberMatch>,
    /// Response headers compared; `None` is the default set.
    pub headers: Option<Vec<Spanned<String>>>,
    pub ignore_headers: Vec<Spanned<String>>,
    pub ignore_fields: Vec<Spanned<crate::compare::field::FieldPattern>>,
    /// In the order written: the first whose path matches a request applies.
    pub endpoints: Vec<CompareEndpoint>,
}

/// `endpoint NAME { path = "/orders/{id}" methods = [POST] ignore_fields = [...] }`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareEndpoint {
    pub name: Spanned<String>,
    pub path: Spanned<crate::compare::route::RoutePattern>,
    /// Methods mirrored on top of the safe ones (GET, HEAD, OPTIONS), upper case.
    pub methods: Vec<Spanned<String>>,
    pub ignore_fields: Vec<Spanned<crate::compare::field::FieldPattern>>,
    pub ignore_headers: Vec<Spanned<String>>,
}

/// How JSON numbers compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberMatch {
    /// `3` and `3.0` differ: py2's `round(2.5)` is `3.0`, py3's is `3`, and a py3 client that
    /// indexes with it breaks (shared/reference/py2-py3-runtime.md §5: equal only if the API
    /// contract allows it).
    Strict,
    /// Numbers are equal when their values are.
    ByValue,
}

impl NumberMatch {
    pub const NAMES: &'static [&'static str] = &["strict", "by-value"];

    pub fn parse(name: &str) -> Option<NumberMatch> {
        match name {
            "strict" => Some(NumberMatch::Strict),
            "by-value" => Some(NumberMatch::ByValue),
            _ => None,
        }
    }
}

/// Methods mirrored everywhere: they have no side effects (Diffy ignores POST, PUT and DELETE
/// unless told otherwise; shared/reference/canary-systems.md §7).
pub const SAFE_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS"];

/// Methods an endpoint may add.
pub const HTTP_METHODS: &[&str] = &[
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE",
];

impl Default for Compare {
    fn default() -> Self {
        fn at<T>(v: T) -> Spanned<T> {
            Spanned::new(v, Default::default())
        }
        Compare {
            queue: at(1000),
            concurrency: at(16),
            timeout: at(5_000),
            max_body: at(1 << 20),
            max_buffered: at(64 << 20),
            max_endpoints: at(200),
            sample: at(100.0),
            relative_threshold: at(20.0),
            absolute_threshold: at(0.03),
            numbers: at(NumberMatch::Strict),
            headers: None,
            ignore_headers: Vec::new(),
            ignore_fields: Vec::new(),
            endpoints: Vec::new(),
        }
    }
}
