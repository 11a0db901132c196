//! Metric names and PromQL per metrics source, shared by the alert rules, their tests and the
//! dashboard. The source follows the router (shared/reference/canary-systems.md):
//!
//! - Istio: `istio_requests_total` and `istio_request_duration_milliseconds_bucket`, by
//!   `destination_version` (the pods' `version` label);
//! - ingress-nginx: `nginx_ingress_controller_requests` and
//!   `nginx_ingress_controller_request_duration_seconds_bucket`, by Ingress (the canary Ingress
//!   is py3's);
//! - HAProxy: `haproxy_server_http_responses_total` by server. HAProxy has no latency histograms
//!   (its times are averages over the last 1024 requests), so latency comes from the app's own;
//! - app: the service's own `http_requests_total{service,version,status}` and
//!   `http_request_duration_seconds_bucket{service,version,le}`.
//!
//! Every expression is aggregated `by (service)`: one rule covers every service of the plan (a
//! fleet shares one rollback policy), and each alert carries the `service` it is about. Sources
//! that name services differently (an Ingress, a Deployment, a pod) are mapped onto a `service`
//! label with `label_replace`. On Kubernetes the names each copy's requests and pods carry depend
//! on the engine running the copies; `ir::lower` decides them (`ServiceIr::kube.observed`).

use std::borrow::Cow;

use crate::ir::{InfraKind, MetricsSource};
use crate::ir::{Interpreter, Ir, PodsIr, ServiceIr};

/// A metric of one copy: its name, the label matchers for all services, and how to find the
/// service in its labels.
#[derive(Debug, Clone)]
pub struct Metric {
    pub name: String,
    /// Label matchers that do not depend on the service (`version="py3"`).
    fixed: Vec<(String, String)>,
    /// Other matchers: label, matcher (`!=""`), and a concrete value for test input.
    filters: Vec<(String, String, String)>,
    /// The label that identifies the service, and how its value is built from the service name.
    service_label: &'static str,
    service_value: Naming,
    /// Regex extracting the service name from that label (None: the label is `service` itself).
    extract: Option<String>,
    copy: Interpreter,
}

/// How a source names a service's copy in the label that identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// The service name itself.
    Same,
    /// Istio's destination Service for the copy (`ObservedIr::istio_destination`).
    IstioDestination,
    /// The Service ingress-nginx's primary Ingress routes to, both copies.
    IngressService,
    /// The copy's Deployment (plain files).
    Object,
    /// The copy's pods, `DEPLOYMENT-<hash>-<id>`, matched by regex.
    Pod,
    /// The copy's app container (engines).
    Container,
}

impl Naming {
    /// Borrowed but for `Pod`'s pattern: a fleet-wide selector asks every service (issue 15).
    fn value(self, s: &ServiceIr, copy: Interpreter) -> Cow<'_, str> {
        let observed = &s.kube.observed;
        match self {
            Naming::Same => Cow::Borrowed(&s.name),
            Naming::IstioDestination => Cow::Borrowed(observed.istio_destination.get(copy)),
            Naming::IngressService => Cow::Borrowed(&observed.ingress_service),
            Naming::Object | Naming::Pod | Naming::Container => {
                let object = match &observed.pods {
                    PodsIr::Deployment(d) | PodsIr::Container(d) => d.get(copy),
                };
                if self == Naming::Pod {
                    Cow::Owned(format!("{object}-.*"))
                } else {
                    Cow::Borrowed(object)
                }
            }
        }
    }

    /// The regex `label_replace` takes the service name out of this label with: the value
    /// with the service's own name as the group (every service is named alike).
    fn extract(self, s: &ServiceIr, copy: Interpreter) -> String {
        let value = self.value(s, copy);
        let rest = value.strip_prefix(s.name.as_str()).unwrap_or("");
        if self == Naming::Pod {
            let object = rest.trim_end_matches("-.*");
            return format!("(.*){}-[^-]+-[^-]+", object.replace('.', "\\."));
        }
        format!("(.*){}", rest.replace('.', "\\."))
    }
}

/// The results of requests the comparator compared (not `error`, not `dropped`).
const COMPARED: (&str, &str) = ("result", "=~\"same|diverged|noise\"");

/// `a|b|c` with regex metacharacters escaped (service names are DNS labels: only `-` and `.`).
fn alternatives<'v>(values: impl IntoIterator<Item = &'v str>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        let mut rest = v;
        while let Some(at) = rest.find('.') {
            out.push_str(&rest[..at]);
            out.push_str("\\\\.");
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
    }
    out
}

impl Metric {
    /// The selector over every service of the plan, with an optional extra matcher.
    pub fn selector(&self, services: &[&ServiceIr], extra: Option<(&str, &str)>) -> String {
        let regex = self.service_value == Naming::Pod;
        let service = if regex {
            // The pattern `OBJECT-.*` less its `-.*`.
            let names = alternatives(services.iter().map(|s| {
                let (PodsIr::Deployment(d) | PodsIr::Container(d)) = &s.kube.observed.pods;
                d.get(self.copy).trim_end_matches("-.*")
            }));
            format!("{}=~\"({names})-.*\"", self.service_label)
        } else {
            let mut values: Vec<Cow<'_, str>> = services
                .iter()
                .map(|s| self.service_value.value(s, self.copy))
                .collect();
            values.dedup();
            if values.len() == 1 {
                format!("{}=\"{}\"", self.service_label, values[0])
            } else {
                format!(
                    "{}=~\"{}\"",
                    self.service_label,
                    alternatives(values.iter().map(|v| v.as_ref()))
                )
            }
        };
        let mut parts: Vec<String> = self
            .fixed
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        parts.extend(self.filters.iter().map(|(k, m, _)| format!("{k}{m}")));
        parts.push(service);
        if let Some((k, m)) = extra {
            parts.push(format!("{k}{m}"));
        }
        format!("{}{{{}}}", self.name, parts.join(","))
    }

    /// A promtool input series for one service, with concrete values for `extra` labels.
    pub fn input(&self, service: &ServiceIr, extra: &[(&str, &str)]) -> String {
        let mut labels: Vec<(String, String)> = self.fixed.clone();
        labels.extend(self.filters.iter().map(|(k, _, v)| (k.clone(), v.clone())));
        let value = self
            .service_value
            .value(service, self.copy)
            .replace(".*", "7d9f8c6b5-x2x4z");
        labels.push((self.service_label.to_string(), value));
        labels.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{}{{{}}}", self.name, parts.join(","))
    }

    /// `inner` (an instant vector with this metric's labels) with a `service` label added.
    fn with_service(&self, inner: String) -> String {
        match &self.extract {
            None => inner,
            Some(re) => format!(
                "label_replace({inner}, \"service\", \"$1\", \"{}\", \"{re}\")",
                self.service_label
            ),
        }
    }

    /// `sum by (service[, more]) (f(selector))`.
    pub fn sum_by_service(
        &self,
        services: &[&ServiceIr],
        extra: Option<(&str, &str)>,
        f: &str,
        window: Option<&str>,
        more: &str,
    ) -> String {
        let sel = self.selector(services, extra);
        let inner = match window {
            Some(w) => format!("{f}({sel}[{w}])"),
            None => sel,
        };
        format!("sum by (service{more}) ({})", self.with_service(inner))
    }
}

/// Where the numbers come from, for the whole plan.
pub struct Source<'a> {
    pub ir: &'a Ir,
    pub kind: MetricsSource,
    pub kubernetes: bool,
    pub services: Vec<&'a ServiceIr>,
}

/// The label that marks a server error, its matcher, and a concrete error and success value.
pub struct ErrorLabel {
    pub label: &'static str,
    pub matcher: &'static str,
    pub error: &'static str,
    pub ok: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthShape {
    /// A gauge of failing instances.
    Gauge,
    /// A counter of failed checks.
    Counter,
    /// Prometheus's own `up`.
    Up,
    /// kube-state-metrics' per-container readiness (1 ready, 0 not).
    NotReady,
}

impl<'a> Source<'a> {
    pub fn new(ir: &'a Ir) -> Self {
        Self::for_services(ir, ir.services.iter().collect())
    }

    /// Expressions over some services only (the dashboard's `$service` stands in for one).
    pub fn for_services(ir: &'a Ir, services: Vec<&'a ServiceIr>) -> Self {
        Source {
            ir,
            kind: ir.metrics.source,
            kubernetes: ir
                .targets
                .first()
                .is_some_and(|t| t.infra == InfraKind::Kubernetes),
            services,
        }
    }

    fn metric(
        &self,
        name: &str,
        fixed: &[(&str, &str)],
        label: &'static str,
        value: Naming,
        extract: Option<&'static str>,
        copy: Interpreter,
    ) -> Metric {
        // Names the IR decides per engine: the service name is the group of the value.
        let extract = match (value, self.services.first()) {
            (Naming::Same, _) | (_, None) => extract.map(str::to_string),
            (naming, Some(s)) => Some(naming.extract(s, copy)),
        };
        Metric {
            name: name.to_string(),
            fixed: fixed
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            filters: Vec::new(),
            service_label: label,
            service_value: value,
            extract,
            copy,
        }
    }

    /// A per-container metric from cAdvisor: skip the pod-level sums (empty `container`).
    fn container(mut m: Metric) -> Metric {
        m.filters
            .push(("container".into(), "!=\"\"".into(), "app".into()));
        m
    }

    /// Whether each copy's pods are told apart by their app container's name (engines).
    fn by_container(&self) -> bool {
        self.services
            .first()
            .is_some_and(|s| matches!(s.kube.observed.pods, PodsIr::Container(_)))
    }

    /// A per-pod metric of one copy: by its app container, or by its pods' names (with the
    /// pod-level sums, `container=""`, left out).
    fn pod_metric(&self, name: &str, fixed: &[(&str, &str)], copy: Interpreter) -> Metric {
        if self.by_container() {
            self.metric(name, fixed, "container", Naming::Container, None, copy)
        } else {
            Self::container(self.metric(name, fixed, "pod", Naming::Pod, None, copy))
        }
    }

    /// A metric of Istio's standard telemetry, as the destination reports it.
    fn istio(&self, name: &str, copy: Interpreter) -> Metric {
        self.metric(
            name,
            &[
                ("reporter", "destination"),
                ("destination_service_namespace", &self.ir.namespace),
                ("destination_version", copy.as_str()),
            ],
            "destination_service_name",
            Naming::IstioDestination,
            None,
            copy,
        )
    }

    /// An ingress-nginx metric, by the Service the primary Ingress routes to: py3's requests
    /// are the ones sent to the canary's alternative upstream (a non-empty `canary` label).
    fn ingress_nginx(&self, name: &str, copy: Interpreter) -> Metric {
        let mut m = self.metric(
            name,
            &[("namespace", &self.ir.namespace)],
            "service",
            Naming::IngressService,
            None,
            copy,
        );
        let upstream = self
            .services
            .first()
            .map(|s| s.kube.observed.ingress_canary_upstream.clone())
            .unwrap_or_default();
        m.filters.push(match copy {
            Interpreter::Py3 => ("canary".into(), "!=\"\"".into(), upstream),
            Interpreter::Py2 => ("canary".into(), "=\"\"".into(), String::new()),
        });
        m
    }

    /// The app's own metric, labelled `service` and `version`.
    fn app(&self, name: &str, copy: Interpreter) -> Metric {
        self.metric(
            name,
            &[("version", copy.as_str())],
            "service",
            Naming::Same,
            None,
            copy,
        )
    }

    /// The request counter of one copy (all responses).
    pub fn requests(&self, copy: Interpreter) -> Metric {
        match self.kind {
            MetricsSource::Istio => self.istio("istio_requests_total", copy),
            MetricsSource::NginxIngress => {
                self.ingress_nginx("nginx_ingress_controller_requests", copy)
            }
            MetricsSource::Haproxy => self.metric(
                "haproxy_server_http_responses_total",
                &[("server", copy.as_str())],
                "proxy",
                Naming::Same,
                Some("(.*)"),
                copy,
            ),
            MetricsSource::App => self.app("http_requests_total", copy),
        }
    }

    pub fn error_label(&self) -> ErrorLabel {
        match self.kind {
            MetricsSource::Istio => ErrorLabel {
                label: "response_code",
                matcher: "=~\"5..\"",
                error: "500",
                ok: "200",
            },
            MetricsSource::NginxIngress => ErrorLabel {
                label: "status",
                matcher: "=~\"5..\"",
                error: "500",
                ok: "200",
            },
            MetricsSource::Haproxy => ErrorLabel {
                label: "code",
                matcher: "=\"5xx\"",
                error: "5xx",
                ok: "2xx",
            },
            MetricsSource::App => ErrorLabel {
                label: "status",
                matcher: "=~\"5..\"",
                error: "500",
                ok: "200",
            },
        }
    }

    /// The latency histogram of one copy and the unit of its buckets (seconds per unit).
    pub fn latency(&self, copy: Interpreter) -> (Metric, f64) {
        match self.kind {
            MetricsSource::Istio => (
                self.istio("istio_request_duration_milliseconds_bucket", copy),
                0.001,
            ),
            MetricsSource::NginxIngress => (
                self.ingress_nginx(
                    "nginx_ingress_controller_request_duration_seconds_bucket",
                    copy,
                ),
                1.0,
            ),
            // HAProxy has no histograms: the app's own.
            MetricsSource::Haproxy | MetricsSource::App => {
                (self.app("http_request_duration_seconds_bucket", copy), 1.0)
            }
        }
    }

    /// Requests per second of one copy, by service.
    /// HAProxy's count of requests it retried away from a server. With `retry-on`, a 500 that
    /// HAProxy retries on the other copy is counted here, not in the server's 5xx responses:
    /// without it, py3's errors would be invisible exactly when retries hide them from clients.
    pub fn retries(&self, copy: Interpreter) -> Option<Metric> {
        (self.kind == MetricsSource::Haproxy).then(|| {
            self.metric(
                "haproxy_server_retry_warnings_total",
                &[("server", copy.as_str())],
                "proxy",
                Naming::Same,
                Some("(.*)"),
                copy,
            )
        })
    }

    /// `f` over requests, plus retried requests where the source counts those apart.
    pub fn attempts(
        &self,
        copy: Interpreter,
        extra: Option<(&str, &str)>,
        f: &str,
        window: &str,
    ) -> String {
        let served = self
            .requests(copy)
            .sum_by_service(&self.services, extra, f, Some(window), "");
        match self.retries(copy) {
            Some(r) => format!(
                "({served} + {})",
                r.sum_by_service(&self.services, None, f, Some(window), "")
            ),
            None => served,
        }
    }

    /// Requests per second of one copy, by service.
    pub fn request_rate(&self, copy: Interpreter, window: &str) -> String {
        self.attempts(copy, None, "rate", window)
    }

    pub fn request_increase(&self, copy: Interpreter, window: &str) -> String {
        self.attempts(copy, None, "increase", window)
    }

    /// Server errors as a percentage of requests (retried failures included), by service.
    pub fn error_percent(&self, copy: Interpreter, window: &str) -> String {
        let e = self.error_label();
        format!(
            "{} / {} * 100",
            self.attempts(copy, Some((e.label, e.matcher)), "rate", window),
            self.attempts(copy, None, "rate", window)
        )
    }

    /// A latency quantile in milliseconds, by service.
    pub fn quantile_ms(&self, copy: Interpreter, q: f64, window: &str) -> String {
        let (m, unit) = self.latency(copy);
        let hist = format!(
            "histogram_quantile({q}, {})",
            m.sum_by_service(&self.services, None, "rate", Some(window), ", le")
        );
        let factor = unit * 1000.0;
        if (factor - 1.0).abs() < f64::EPSILON {
            hist
        } else {
            format!("{hist} * {}", crate::ir::fmt(factor))
        }
    }

    /// Memory use (and limit, on Kubernetes) of one copy; `None` off Kubernetes without a limit.
    pub fn memory(&self, copy: Interpreter) -> Option<(Metric, Option<Metric>)> {
        let ns = self.ir.namespace.as_str();
        if self.kubernetes {
            let mut limit = self.pod_metric(
                "kube_pod_container_resource_limits",
                &[("namespace", ns), ("resource", "memory")],
                copy,
            );
            limit.filters.retain(|(k, _, _)| k != "container");
            return Some((
                self.pod_metric(
                    "container_memory_working_set_bytes",
                    &[("namespace", ns)],
                    copy,
                ),
                Some(limit),
            ));
        }
        self.services.first()?.memory_bytes?;
        Some((
            self.metric(
                "process_resident_memory_bytes",
                &[("version", copy.as_str())],
                "service",
                Naming::Same,
                None,
                copy,
            ),
            None,
        ))
    }

    pub fn memory_percent(&self, copy: Interpreter) -> Option<String> {
        let (usage, limit) = self.memory(copy)?;
        let used = usage.sum_by_service(&self.services, None, "", None, "");
        Some(match limit {
            Some(limit) => format!(
                "{used} / {} * 100",
                limit.sum_by_service(&self.services, None, "", None, "")
            ),
            None => format!(
                "{used} / {} * 100",
                self.services
                    .first()
                    .and_then(|s| s.memory_bytes)
                    .unwrap_or(1)
            ),
        })
    }

    pub fn cpu(&self, copy: Interpreter) -> (Metric, Option<Metric>) {
        let ns = self.ir.namespace.as_str();
        if self.kubernetes {
            let mut limit = self.pod_metric(
                "kube_pod_container_resource_limits",
                &[("namespace", ns), ("resource", "cpu")],
                copy,
            );
            limit.filters.retain(|(k, _, _)| k != "container");
            return (
                self.pod_metric(
                    "container_cpu_usage_seconds_total",
                    &[("namespace", ns)],
                    copy,
                ),
                Some(limit),
            );
        }
        (
            self.metric(
                "process_cpu_seconds_total",
                &[("version", copy.as_str())],
                "service",
                Naming::Same,
                None,
                copy,
            ),
            None,
        )
    }

    /// CPU use as a percentage of the limit (of the plan's cores, or one core, off Kubernetes).
    pub fn cpu_percent(&self, copy: Interpreter, window: &str) -> String {
        let (usage, limit) = self.cpu(copy);
        let used = usage.sum_by_service(&self.services, None, "rate", Some(window), "");
        match limit {
            Some(limit) => format!(
                "{used} / {} * 100",
                limit.sum_by_service(&self.services, None, "", None, "")
            ),
            None => {
                let cores = f64::from(
                    self.services
                        .first()
                        .and_then(|s| s.cpu_millis)
                        .unwrap_or(1000),
                ) / 1000.0;
                format!("{used} / {} * 100", crate::ir::fmt(cores))
            }
        }
    }

    /// Failing health checks (or unavailable replicas) of one copy.
    pub fn health(&self, copy: Interpreter) -> (Metric, HealthShape) {
        if self.kubernetes && self.by_container() {
            // No Deployment per copy under an engine: the copy's app containers not ready.
            return (
                self.metric(
                    "kube_pod_container_status_ready",
                    &[("namespace", &self.ir.namespace)],
                    "container",
                    Naming::Container,
                    None,
                    copy,
                ),
                HealthShape::NotReady,
            );
        }
        if self.kubernetes {
            return (
                self.metric(
                    "kube_deployment_status_replicas_unavailable",
                    &[("namespace", &self.ir.namespace)],
                    "deployment",
                    Naming::Object,
                    None,
                    copy,
                ),
                HealthShape::Gauge,
            );
        }
        match self.kind {
            MetricsSource::Haproxy => (
                self.metric(
                    "haproxy_server_check_failures_total",
                    &[("server", copy.as_str())],
                    "proxy",
                    Naming::Same,
                    Some("(.*)"),
                    copy,
                ),
                HealthShape::Counter,
            ),
            _ => (
                self.metric(
                    "up",
                    &[("version", copy.as_str())],
                    "service",
                    Naming::Same,
                    None,
                    copy,
                ),
                HealthShape::Up,
            ),
        }
    }

    pub fn health_failures(&self, copy: Interpreter, window: &str) -> String {
        let (m, shape) = self.health(copy);
        match shape {
            HealthShape::Gauge => m.sum_by_service(&self.services, None, "", None, ""),
            HealthShape::Counter => {
                m.sum_by_service(&self.services, None, "increase", Some(window), "")
            }
            HealthShape::Up => format!(
                "count by (service) ({} == 0)",
                m.selector(&self.services, None)
            ),
            HealthShape::NotReady => format!(
                "sum by (service) ({})",
                m.with_service(format!("{} == bool 0", m.selector(&self.services, None)))
            ),
        }
    }

    /// Responses compared by a response comparator (Diffy-style), by result.
    pub fn comparisons(&self) -> Metric {
        self.metric(
            "canary_compared_responses_total",
            &[],
            "service",
            Naming::Same,
            None,
            Interpreter::Py3,
        )
    }

    /// Diverged over compared: `error` and `dropped` are requests nothing was compared for
    /// (docs/compare.md), so they are not in the denominator; a py3 that times out is not
    /// "95% the same".
    pub fn divergence_percent(&self, window: &str) -> String {
        let c = self.comparisons();
        format!(
            "{} / {} * 100",
            c.sum_by_service(
                &self.services,
                Some(("result", "=\"diverged\"")),
                "rate",
                Some(window),
                ""
            ),
            c.sum_by_service(&self.services, Some(COMPARED), "rate", Some(window), "")
        )
    }

    /// Requests actually compared in the window (the divergence alert's traffic guard).
    pub fn comparisons_increase(&self, window: &str) -> String {
        self.comparisons().sum_by_service(
            &self.services,
            Some(COMPARED),
            "increase",
            Some(window),
            "",
        )
    }

    /// The share of mirrored requests the comparator could not compare because the second py2
    /// copy or py3 did not answer (`result="error"`), of every outcome but `dropped`.
    pub fn comparison_error_percent(&self, window: &str) -> String {
        let c = self.comparisons();
        format!(
            "{} / {} * 100",
            c.sum_by_service(
                &self.services,
                Some(("result", "=\"error\"")),
                "rate",
                Some(window),
                ""
            ),
            c.sum_by_service(
                &self.services,
                Some(("result", "=~\"same|diverged|noise|error\"")),
                "rate",
                Some(window),
                ""
            )
        )
    }
}
