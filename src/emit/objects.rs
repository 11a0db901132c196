//! The Kubernetes objects canaryc writes itself, as small typed serde structs: the core kinds
//! (Service, HorizontalPodAutoscaler, Ingress, the comparator's Deployment), Istio's
//! DestinationRule and VirtualService, and Gateway API's HTTPRoute. Only the fields canaryc
//! sets exist, so a misspelt field is a compile error rather than an object the API server
//! rejects. What comes from the team (their Deployment, their Ingress spec, their HTTPRoute's
//! parentRefs and hostnames) stays a `serde_json::Value`: canaryc keeps what it does not know.
//!
//! Not `k8s-openapi`: its generated crate compiles for longer than this whole module is worth
//! (measured in the commit that added this file), and its types would still need `Value` for
//! the cloned parts and CRDs of their own for Istio and Gateway API.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::engine::Meta;

/// `apiVersion`, `kind`, `metadata`, `spec`: the shape of every object here.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Object<S> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Meta,
    pub spec: S,
}

impl<S> Object<S> {
    pub(super) fn new(
        api_version: &'static str,
        kind: &'static str,
        metadata: Meta,
        spec: S,
    ) -> Self {
        Object {
            api_version,
            kind,
            metadata,
            spec,
        }
    }
}

pub(crate) type Labels = BTreeMap<String, String>;

// Core kinds.

#[derive(Debug, Serialize)]
pub(crate) struct ServiceSpec {
    pub selector: Labels,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServicePort {
    pub name: &'static str,
    pub port: u16,
    pub target_port: u16,
    pub protocol: &'static str,
}

impl ServicePort {
    pub(super) fn tcp(name: &'static str, port: u16) -> ServicePort {
        ServicePort {
            name,
            port,
            target_port: port,
            protocol: "TCP",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AutoscalerSpec {
    pub scale_target_ref: TargetRef,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub metrics: Vec<AutoscalerMetric>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct AutoscalerMetric {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub resource: ResourceMetric,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResourceMetric {
    pub name: &'static str,
    pub target: Utilization,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Utilization {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub average_utilization: u32,
}

impl AutoscalerMetric {
    /// Scale on CPU at 70% of requests.
    pub(super) fn cpu() -> AutoscalerMetric {
        AutoscalerMetric {
            kind: "Resource",
            resource: ResourceMetric {
                name: "cpu",
                target: Utilization {
                    kind: "Utilization",
                    average_utilization: 70,
                },
            },
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentSpec {
    pub replicas: u32,
    pub selector: Selector,
    pub template: PodTemplate,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Selector {
    pub match_labels: Labels,
}

#[derive(Debug, Serialize)]
pub(crate) struct PodTemplate {
    pub metadata: PodMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Serialize)]
pub(crate) struct PodMeta {
    pub labels: Labels,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: Labels,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodSpec {
    pub termination_grace_period_seconds: u32,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Container {
    pub name: &'static str,
    pub image: String,
    pub command: Vec<&'static str>,
    pub args: Vec<String>,
    pub ports: Vec<ContainerPort>,
    pub readiness_probe: Probe,
    pub liveness_probe: Probe,
    pub resources: Resources,
    pub security_context: SecurityContext,
    pub volume_mounts: Vec<VolumeMount>,
}

/// An environment variable with a literal value.
#[derive(Debug, Serialize)]
pub(crate) struct EnvEntry {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerPort {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    pub container_port: u16,
    pub protocol: &'static str,
}

/// A readiness or liveness probe: HTTP on a path, or a TCP connect.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Probe {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<u32>,
    pub period_seconds: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HttpGet {
    pub path: String,
    pub port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct TcpSocket {
    pub port: u16,
}

#[derive(Debug, Serialize)]
pub(crate) struct Resources {
    pub requests: BTreeMap<&'static str, String>,
    pub limits: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SecurityContext {
    pub allow_privilege_escalation: bool,
    pub read_only_root_filesystem: bool,
    pub run_as_non_root: bool,
    pub run_as_user: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VolumeMount {
    pub name: &'static str,
    pub mount_path: &'static str,
    pub read_only: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Volume {
    pub name: &'static str,
    pub config_map: NameRef,
}

#[derive(Debug, Serialize)]
pub(crate) struct NameRef {
    pub name: String,
}

// Istio (networking.istio.io/v1beta1).

#[derive(Debug, Serialize)]
pub(crate) struct DestinationRuleSpec {
    pub host: String,
    pub subsets: Vec<Subset>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Subset {
    pub name: &'static str,
    pub labels: Labels,
}

#[derive(Debug, Serialize)]
pub(crate) struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    /// The team's Gateways (and `mesh`); none means `mesh` only (the sidecars).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<String>,
    /// The team's routes to other services as they wrote them, and `IstioRoute`s.
    pub http: Vec<Value>,
    /// The rest of the team's spec (`tcp`, `tls`, `exportTo`), as they wrote it.
    #[serde(flatten)]
    pub team: serde_json::Map<String, Value>,
}

/// One `http` route to the service: its matches, destinations and retries, and, on a twin that
/// also feeds the comparator, the mirror. `team` holds what else the team's route says
/// (`rewrite`, `timeout`, `headers`, their own `retries`, ...): kept as written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IstioRoute {
    pub name: String,
    /// The team's match conditions (any of them), or canaryc's.
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<Value>,
    /// `IstioDestination`s, and a shared route's destinations of other services.
    pub route: Vec<Value>,
    /// canaryc's, unless the team's route has its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<IstioRetries>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<IstioMirror>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror_percentage: Option<Percentage>,
    #[serde(flatten)]
    pub team: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Regex {
    pub regex: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct IstioDestination {
    pub destination: Destination,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<IstioHeaders>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Destination {
    pub host: String,
    pub subset: &'static str,
    pub port: PortNumber,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PortNumber {
    pub number: u16,
}

/// Headers a destination adds to responses (`Set-Cookie`, to pin a user).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IstioHeaders {
    pub response: AddHeaders,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct AddHeaders {
    pub add: BTreeMap<&'static str, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IstioRetries {
    pub attempts: u32,
    pub per_try_timeout: &'static str,
    pub retry_on: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct IstioMirror {
    pub host: String,
    pub port: PortNumber,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentage {
    pub value: f64,
}

// ingress-nginx (networking.k8s.io/v1): the spec is the team's, rewritten (engine::ingress_spec).

// Gateway API (gateway.networking.k8s.io/v1).

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteSpec {
    /// The team's route's, or the Gateway canaryc assumes.
    pub parent_refs: Value,
    pub rules: Vec<HttpRouteRule>,
    /// The team's route's, if it names any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HttpRouteRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HttpRouteMatch>,
    pub backend_refs: Vec<BackendRef>,
}

#[derive(Debug, Serialize)]
pub(crate) struct HttpRouteMatch {
    pub headers: Vec<HeaderMatch>,
}

#[derive(Debug, Serialize)]
pub(crate) struct HeaderMatch {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct BackendRef {
    pub name: String,
    pub port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<RouteFilter>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RouteFilter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub response_header_modifier: HeaderModifier,
}

#[derive(Debug, Serialize)]
pub(crate) struct HeaderModifier {
    pub add: Vec<Header>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Header {
    pub name: &'static str,
    pub value: String,
}
