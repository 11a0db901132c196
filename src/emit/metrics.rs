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

use crate::ir::{Copy, Ir, ServiceIr};
use crate::model::{InfraKind, MetricsSource};

/// A counter with its labels: `name{a="b",...}`.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl Series {
    fn new(name: &str, labels: &[(&str, &str)]) -> Series {
        Series {
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    /// With an extra label matcher, e.g. `status=~"5.."`.
    pub fn selector(&self, extra: Option<(&str, &str)>) -> String {
        let mut parts: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        if let Some((k, m)) = extra {
            parts.push(format!("{k}{m}"));
        }
        format!("{}{{{}}}", self.name, parts.join(","))
    }

    /// The labels as a promtool input series, with `extra` set to a concrete value.
    pub fn input(&self, extra: &[(&str, &str)]) -> String {
        let mut labels = self.labels.clone();
        labels.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
        );
        let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        format!("{}{{{}}}", self.name, parts.join(","))
    }
}

/// Where the numbers for one service come from.
pub struct Source<'a> {
    pub ir: &'a Ir,
    pub service: &'a ServiceIr,
    pub kind: MetricsSource,
    pub kubernetes: bool,
}

/// The label that marks a server error, its matcher, and a concrete error and success value.
pub struct ErrorLabel {
    pub label: &'static str,
    pub matcher: &'static str,
    pub error: &'static str,
    pub ok: &'static str,
}

impl<'a> Source<'a> {
    pub fn new(ir: &'a Ir, service: &'a ServiceIr) -> Self {
        Source {
            ir,
            service,
            kind: ir.metrics.source,
            kubernetes: ir
                .targets
                .first()
                .is_some_and(|t| t.infra == InfraKind::Kubernetes),
        }
    }

    /// The request counter of one copy (all responses).
    pub fn requests(&self, copy: Copy) -> Series {
        let svc = &self.service.name;
        match self.kind {
            MetricsSource::Istio => Series::new(
                "istio_requests_total",
                &[
                    ("reporter", "destination"),
                    ("destination_service_namespace", &self.ir.namespace),
                    ("destination_service_name", svc),
                    ("destination_version", copy.as_str()),
                ],
            ),
            MetricsSource::NginxIngress => {
                let ingress = match copy {
                    Copy::Py2 => svc.clone(),
                    Copy::Py3 => format!("{svc}-canary"),
                };
                Series::new(
                    "nginx_ingress_controller_requests",
                    &[("namespace", &self.ir.namespace), ("ingress", &ingress)],
                )
            }
            MetricsSource::Haproxy => Series::new(
                "haproxy_server_http_responses_total",
                &[("proxy", svc), ("server", copy.as_str())],
            ),
            MetricsSource::App | MetricsSource::Auto => Series::new(
                "http_requests_total",
                &[("service", svc), ("version", copy.as_str())],
            ),
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
            MetricsSource::App | MetricsSource::Auto => ErrorLabel {
                label: "status",
                matcher: "=~\"5..\"",
                error: "500",
                ok: "200",
            },
        }
    }

    /// The latency histogram of one copy and the unit of its buckets (seconds per unit).
    pub fn latency(&self, copy: Copy) -> (Series, f64) {
        let svc = &self.service.name;
        match self.kind {
            MetricsSource::Istio => (
                Series::new(
                    "istio_request_duration_milliseconds_bucket",
                    &[
                        ("reporter", "destination"),
                        ("destination_service_namespace", &self.ir.namespace),
                        ("destination_service_name", svc),
                        ("destination_version", copy.as_str()),
                    ],
                ),
                0.001,
            ),
            MetricsSource::NginxIngress => {
                let ingress = match copy {
                    Copy::Py2 => svc.clone(),
                    Copy::Py3 => format!("{svc}-canary"),
                };
                (
                    Series::new(
                        "nginx_ingress_controller_request_duration_seconds_bucket",
                        &[("namespace", &self.ir.namespace), ("ingress", &ingress)],
                    ),
                    1.0,
                )
            }
            // HAProxy has no histograms: the app's own.
            MetricsSource::Haproxy | MetricsSource::App | MetricsSource::Auto => (
                Series::new(
                    "http_request_duration_seconds_bucket",
                    &[("service", svc), ("version", copy.as_str())],
                ),
                1.0,
            ),
        }
    }

    pub fn rate(&self, series: &Series, extra: Option<(&str, &str)>, window: &str) -> String {
        format!("sum(rate({}[{window}]))", series.selector(extra))
    }

    pub fn error_percent(&self, copy: Copy, window: &str) -> String {
        let requests = self.requests(copy);
        let e = self.error_label();
        format!(
            "{} / {} * 100",
            self.rate(&requests, Some((e.label, e.matcher)), window),
            self.rate(&requests, None, window)
        )
    }

    /// A quantile in milliseconds.
    pub fn quantile_ms(&self, copy: Copy, q: f64, window: &str) -> String {
        let (series, unit) = self.latency(copy);
        format!(
            "histogram_quantile({q}, sum by (le) (rate({}[{window}]))) * {}",
            series.selector(None),
            crate::ir::fmt(unit * 1000.0)
        )
    }

    /// Memory use as a percentage of the limit, if the limit is known.
    pub fn memory_series(&self, copy: Copy) -> Option<(Series, Option<Series>)> {
        if self.kubernetes {
            let pod = format!("{}-.*", self.service.object(copy));
            let mut usage = Series::new(
                "container_memory_working_set_bytes",
                &[("namespace", &self.ir.namespace)],
            );
            usage.labels.push(("pod".into(), pod.clone()));
            let mut limit = Series::new(
                "kube_pod_container_resource_limits",
                &[("namespace", &self.ir.namespace), ("resource", "memory")],
            );
            limit.labels.push(("pod".into(), pod));
            return Some((usage, Some(limit)));
        }
        self.service.memory_bytes?;
        Some((
            Series::new(
                "process_resident_memory_bytes",
                &[("service", &self.service.name), ("version", copy.as_str())],
            ),
            None,
        ))
    }

    pub fn memory_percent(&self, copy: Copy) -> Option<String> {
        let (usage, limit) = self.memory_series(copy)?;
        Some(match limit {
            Some(limit) => format!(
                "sum({}) / sum({}) * 100",
                pod_regex(&usage.selector(None)),
                pod_regex(&limit.selector(None))
            ),
            None => format!(
                "sum({}) / {} * 100",
                usage.selector(None),
                self.service.memory_bytes.unwrap_or(1)
            ),
        })
    }

    pub fn cpu_series(&self, copy: Copy) -> (Series, Option<Series>) {
        if self.kubernetes {
            let pod = format!("{}-.*", self.service.object(copy));
            let mut usage = Series::new(
                "container_cpu_usage_seconds_total",
                &[("namespace", &self.ir.namespace)],
            );
            usage.labels.push(("pod".into(), pod.clone()));
            let mut limit = Series::new(
                "kube_pod_container_resource_limits",
                &[("namespace", &self.ir.namespace), ("resource", "cpu")],
            );
            limit.labels.push(("pod".into(), pod));
            return (usage, Some(limit));
        }
        (
            Series::new(
                "process_cpu_seconds_total",
                &[("service", &self.service.name), ("version", copy.as_str())],
            ),
            None,
        )
    }

    /// CPU use as a percentage of the limit (of one core without a limit).
    pub fn cpu_percent(&self, copy: Copy, window: &str) -> String {
        let (usage, limit) = self.cpu_series(copy);
        match limit {
            Some(limit) => format!(
                "sum(rate({}[{window}])) / sum({}) * 100",
                pod_regex(&usage.selector(None)),
                pod_regex(&limit.selector(None))
            ),
            None => {
                let cores = f64::from(self.service.cpu_millis.unwrap_or(1000)) / 1000.0;
                format!(
                    "sum(rate({}[{window}])) / {} * 100",
                    usage.selector(None),
                    crate::ir::fmt(cores)
                )
            }
        }
    }

    /// A count of failing health checks (or unavailable replicas) of one copy.
    pub fn health_series(&self, copy: Copy) -> (Series, HealthShape) {
        if self.kubernetes {
            return (
                Series::new(
                    "kube_deployment_status_replicas_unavailable",
                    &[
                        ("namespace", &self.ir.namespace),
                        ("deployment", &self.service.object(copy)),
                    ],
                ),
                HealthShape::Gauge,
            );
        }
        match self.kind {
            MetricsSource::Haproxy => (
                Series::new(
                    "haproxy_server_check_failures_total",
                    &[("proxy", &self.service.name), ("server", copy.as_str())],
                ),
                HealthShape::Counter,
            ),
            _ => (
                Series::new(
                    "up",
                    &[("service", &self.service.name), ("version", copy.as_str())],
                ),
                HealthShape::Up,
            ),
        }
    }

    pub fn health_failures(&self, copy: Copy, window: &str) -> String {
        let (series, shape) = self.health_series(copy);
        match shape {
            HealthShape::Gauge => format!("sum({})", series.selector(None)),
            HealthShape::Counter => format!("sum(increase({}[{window}]))", series.selector(None)),
            HealthShape::Up => format!("count({} == 0) or vector(0)", series.selector(None)),
        }
    }

    /// Responses compared by a response comparator (Diffy-style), by result.
    pub fn comparisons(&self) -> Series {
        Series::new(
            "canary_compared_responses_total",
            &[("service", &self.service.name)],
        )
    }

    pub fn divergence_percent(&self, window: &str) -> String {
        let c = self.comparisons();
        format!(
            "{} / {} * 100",
            self.rate(&c, Some(("result", "=\"diverged\"")), window),
            self.rate(&c, None, window)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthShape {
    /// A gauge of failing instances.
    Gauge,
    /// A counter of failed checks.
    Counter,
    /// Prometheus's own `up`.
    Up,
}

/// `pod="x-.*"` is a regex: turn the equality matcher into `=~`.
fn pod_regex(selector: &str) -> String {
    selector.replace("pod=\"", "pod=~\"")
}
