//! Argo Rollouts: the Kubernetes default engine.
//!
//! Design (docs/engines.md, and the runbook): the Rollout carries a pod template cloned from
//! the team's Deployment (the same clone the plain files use: env, secret references, probes,
//! resources; `version: py2|py3` labels for the metrics; the app container named per copy so
//! the pod metrics can tell the copies apart), not a `workloadRef`. A cloned template keeps the
//! bundle self-contained and checkable, and lets py3 differ from py2 by more than the image.
//! `k8s-rollout.yaml` holds the Rollout on py2 (its first revision becomes stable at once, with
//! no steps); `k8s-rollout-py3-NAME.patch` is the merge patch to the py3 template that starts
//! the canary; `k8s-rollout-routing.yaml` holds the router's objects, applied once the Rollout's
//! pods are Ready: until then its stable subset or Service would select no pod at all.
//!
//! Steps, per stage (canary-systems.md §2.1): `setWeight`, `pause: {duration: HOLD}`, then an
//! inline `analysis` of the stage's success criteria before the next weight, and `pause: {}` at
//! an approval gate. A criterion that does not hold leaves the analysis Inconclusive, which
//! pauses the Rollout for a person (§2.3); the rollback triggers run as background analysis for
//! the whole rollout, and any breach fails it, which aborts: all traffic back to py2 (§2.4).
//!
//! Routing: Istio subset-level (a VirtualService route Argo re-weights, on the team's Gateway
//! and hosts; DestinationRule subsets it pins to pod-template hashes), ingress-nginx
//! (`stableIngress`: the team's Ingress; Argo creates the canary Ingress), Gateway API through
//! the argoproj-labs plugin (the team's HTTPRoute; registered in the controller's
//! `argo-rollouts-config` ConfigMap, with the RBAC it needs).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{self, Query, TriggerTests};
use super::{Meta, document};
use crate::emit::objects::AutoscalerMetric;
use crate::emit::{OutputFile, file, kubernetes, prometheus::duration, yaml};
use crate::ir::{InfraKind, Router, Target, VsRoute};
use crate::ir::{Interpreter, Ir, ServiceIr, StageIr, prometheus_url};

const API: &str = "argoproj.io/v1alpha1";
/// The Gateway API plugin, as the controller's ConfigMap names it.
pub(crate) const GATEWAY_PLUGIN: &str = "argoproj-labs/gatewayAPI";
/// Release of argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi the ConfigMap loads.
pub(crate) const GATEWAY_PLUGIN_VERSION: &str = "v0.5.0";
/// The label that ties pods, Services and subsets to their Rollout (and keeps the Rollout's
/// selector off the team's current Deployment's pods).
pub(crate) const ROLLOUT_LABEL: &str = "rollout";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rollout {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: RolloutSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RolloutSpec {
    replicas: u32,
    revision_history_limit: u32,
    selector: Selector,
    /// The pod template, cloned from the team's Deployment: its shape is theirs.
    template: Value,
    progress_deadline_seconds: u32,
    /// A py3 whose pods never become ready aborts instead of waiting forever.
    progress_deadline_abort: bool,
    strategy: Strategy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Strategy {
    canary: Canary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Canary {
    #[serde(skip_serializing_if = "Option::is_none")]
    canary_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stable_service: Option<String>,
    /// 0: after an abort the canary's pods keep running with no traffic, for inspection
    /// (Argo's default scales them down after 30 s; docs/features/specification.md).
    abort_scale_down_delay_seconds: u32,
    traffic_routing: TrafficRouting,
    #[serde(skip_serializing_if = "Option::is_none")]
    analysis: Option<Analysis>,
    steps: Vec<Step>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct TrafficRouting {
    #[serde(skip_serializing_if = "Option::is_none")]
    istio: Option<Istio>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nginx: Option<Nginx>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugins: Option<BTreeMap<&'static str, GatewayPlugin>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_traffic_weight: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Istio {
    /// The team's VirtualService (or canaryc's), or with the sidecars' own beside it, both.
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_service: Option<IstioVirtualService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_services: Option<Vec<IstioVirtualService>>,
    destination_rule: IstioDestinationRule,
}

#[derive(Serialize)]
struct IstioVirtualService {
    name: String,
    routes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IstioDestinationRule {
    name: String,
    canary_subset_name: &'static str,
    stable_subset_name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Nginx {
    stable_ingress: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GatewayPlugin {
    #[serde(rename = "httpRoute")]
    http_route: String,
    namespace: String,
}

#[derive(Serialize)]
struct Analysis {
    templates: Vec<TemplateRef>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateRef {
    template_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Step {
    SetWeight(u32),
    Pause(Pause),
    Analysis(Analysis),
}

#[derive(Serialize, Default)]
struct Pause {
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnalysisTemplate {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: AnalysisSpec,
}

#[derive(Serialize)]
struct AnalysisSpec {
    metrics: Vec<AnalysisMetric>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnalysisMetric {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    success_condition: String,
    failure_condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_limit: Option<u32>,
    /// A Prometheus outage within the budget is retried, not an Error that aborts.
    consecutive_error_limit: u32,
    provider: Provider,
}

#[derive(Serialize)]
struct Provider {
    prometheus: PrometheusProvider,
}

#[derive(Serialize)]
struct PrometheusProvider {
    address: String,
    query: String,
    /// Seconds.
    timeout: u64,
}

/// Typed Kubernetes objects around the Rollout, kept small: what canaryc decides.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: ServiceSpec,
}

#[derive(Serialize)]
struct ServiceSpec {
    selector: BTreeMap<String, String>,
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    name: &'static str,
    port: u16,
    target_port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Autoscaler {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: AutoscalerSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AutoscalerSpec {
    scale_target_ref: TargetRef,
    min_replicas: u32,
    max_replicas: u32,
    metrics: Vec<AutoscalerMetric>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

/// A Service in front of the Rollout's pods on the team's Service port, forwarding to the
/// container port.
fn service_object(ir: &Ir, name: String, s: &ServiceIr) -> Service {
    Service {
        api_version: "v1",
        kind: "Service",
        metadata: Meta::new(name, &ir.namespace).label("app", &s.name),
        spec: ServiceSpec {
            selector: selector(s),
            ports: vec![ServicePort {
                name: "http",
                port: s.kube.service_port,
                target_port: s.port,
                protocol: "TCP",
            }],
        },
    }
}

/// The Rollout's selector: the team's Deployment's, without `version` (both templates must
/// match), plus the Rollout's own label.
fn selector(s: &ServiceIr) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), s.name.clone());
    labels.insert(ROLLOUT_LABEL.to_string(), s.name.clone());
    labels
}

/// The pod template of one copy: the engines' clone (of `deployment`, the copy's cloned
/// Deployment), with the Rollout's label.
fn template(s: &ServiceIr, deployment: Value, copy: Interpreter) -> Value {
    let mut template = super::pod_template_of(s, deployment, copy);
    if let Some(Value::Object(labels)) = template.pointer_mut("/metadata/labels") {
        labels.insert(ROLLOUT_LABEL.to_string(), Value::String(s.name.clone()));
    }
    template
}

/// Team selector labels other than `version`, from the cloned Deployment (py2's).
fn team_selector(deployment: &Value, s: &ServiceIr) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "version")
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    labels.extend(selector(s));
    labels
}

pub(crate) fn stage_template_name(s: &ServiceIr, stage: &StageIr) -> String {
    format!("{}-{}", s.name, stage.name)
}

pub(crate) fn rollback_template_name(s: &ServiceIr) -> String {
    format!("{}-rollback", s.name)
}

fn steps(ir: &Ir, s: &ServiceIr, t: &Target, queries: &Queries) -> Vec<Step> {
    let mut steps = Vec::new();
    for (stage, checks) in ir.stages.iter().zip(&queries.stages) {
        let (_, weight) = t.weights(stage);
        steps.push(Step::SetWeight(weight));
        steps.push(Step::Pause(Pause {
            duration: Some(duration((stage.hold_hours * 3600.0).round() as u64)),
        }));
        if !checks.is_empty() {
            steps.push(Step::Analysis(Analysis {
                templates: vec![TemplateRef {
                    template_name: stage_template_name(s, stage),
                }],
            }));
        }
        if stage.approval.is_some() {
            steps.push(Step::Pause(Pause::default()));
        }
    }
    steps
}

/// The queries of one service's analyses, built once: the Rollout's steps and background
/// analysis and the AnalysisTemplates all read them (issue 15: they were built three times
/// per service, a fifth of a fleet's build).
struct Queries {
    triggers: Vec<Query>,
    /// By stage, in `ir.stages` order.
    stages: Vec<Vec<Query>>,
}

impl Queries {
    fn new(ir: &Ir, tests: &TriggerTests, s: &ServiceIr) -> Queries {
        Queries {
            triggers: analysis::rollback_triggers(ir, tests, s),
            stages: ir
                .stages
                .iter()
                .map(|stage| analysis::stage_checks(ir, s, stage))
                .collect(),
        }
    }
}

/// The router's part of the Rollout, and its stable and canary Services (Istio splits one
/// host into subsets instead).
fn traffic_routing(ir: &Ir, s: &ServiceIr, t: &Target) -> (TrafficRouting, bool) {
    let mut routing = TrafficRouting::default();
    let services = match t.router {
        Router::Istio => {
            // Every VirtualService that routes to the service is re-weighted: the team's, and
            // the sidecars' own when theirs are bound to their Gateways only (`virtualServices`,
            // Argo Rollouts docs/features/traffic-management/istio.md, "Multiple
            // VirtualServices").
            let mut listed: Vec<IstioVirtualService> = s
                .kube
                .virtual_services()
                .map(|vs| IstioVirtualService {
                    name: vs.rollout_reference(&ir.namespace),
                    routes: split_routes(&vs.http),
                })
                .collect();
            let (virtual_service, virtual_services) = match listed.len() {
                1 => (listed.pop(), None),
                _ => (None, Some(listed)),
            };
            routing.istio = Some(Istio {
                virtual_service,
                virtual_services,
                destination_rule: IstioDestinationRule {
                    name: s.kube.destination_rule.clone(),
                    canary_subset_name: "canary",
                    stable_subset_name: "stable",
                },
            });
            false
        }
        Router::NginxIngress => {
            routing.nginx = Some(Nginx {
                stable_ingress: super::team_ingress_name(s),
            });
            true
        }
        _ => {
            let mut plugins = BTreeMap::new();
            plugins.insert(
                GATEWAY_PLUGIN,
                GatewayPlugin {
                    http_route: route_name(ir, s),
                    namespace: ir.namespace.clone(),
                },
            );
            routing.plugins = Some(plugins);
            true
        }
    };
    // `maxTrafficWeight`: where the router honours a total other than 100 (ir.rs, `weight_total`).
    if t.weight_total != 100 {
        routing.max_traffic_weight = Some(t.weight_total);
    }
    (routing, services)
}

/// The Rollout on `template` (py2's: the py3 Rollout differs from it in its template alone).
fn rollout(
    ir: &Ir,
    queries: &Queries,
    s: &ServiceIr,
    t: &Target,
    team_selector: BTreeMap<String, String>,
    template: Value,
) -> Rollout {
    let (traffic_routing, services) = traffic_routing(ir, s, t);
    Rollout {
        api_version: API,
        kind: "Rollout",
        metadata: Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name),
        spec: RolloutSpec {
            replicas: s.replicas,
            revision_history_limit: 3,
            selector: Selector {
                match_labels: team_selector,
            },
            template,
            // Argo's default: ten minutes for py3's pods to become ready (cold imports). Not
            // measured while a step pauses (docs/features/specification.md).
            progress_deadline_seconds: 600,
            progress_deadline_abort: true,
            strategy: Strategy {
                canary: Canary {
                    canary_service: services.then(|| canary_name(s)),
                    stable_service: services.then(|| stable_name(s)),
                    abort_scale_down_delay_seconds: 0,
                    traffic_routing,
                    analysis: (!queries.triggers.is_empty()).then(|| Analysis {
                        templates: vec![TemplateRef {
                            template_name: rollback_template_name(s),
                        }],
                    }),
                    steps: steps(ir, s, t, queries),
                },
            },
        },
    }
}

fn stable_name(s: &ServiceIr) -> String {
    format!("{}-stable", s.name)
}

fn canary_name(s: &ServiceIr) -> String {
    format!("{}-canary", s.name)
}

/// How often the background analysis measures the triggers: every scrape, between 10s and 1m.
pub(crate) fn trigger_interval(ir: &Ir) -> String {
    duration(ir.metrics.scrape_interval_secs.clamp(10, 60))
}

fn metric(
    address: &str,
    q: &Query,
    interval: Option<String>,
    success: String,
    failure: String,
) -> AnalysisMetric {
    AnalysisMetric {
        name: q.name.clone(),
        failure_limit: interval.as_ref().map(|_| 0),
        interval,
        success_condition: success,
        failure_condition: failure,
        consecutive_error_limit: analysis::consecutive_error_limit(),
        provider: Provider {
            prometheus: PrometheusProvider {
                address: address.to_string(),
                query: q.promql.clone(),
                timeout: q.timeout_secs,
            },
        },
    }
}

fn analysis_templates(ir: &Ir, queries: &Queries, s: &ServiceIr) -> Vec<AnalysisTemplate> {
    let address = prometheus_url(ir, InfraKind::Kubernetes);
    let template = |name: String, metrics: Vec<AnalysisMetric>| AnalysisTemplate {
        api_version: API,
        kind: "AnalysisTemplate",
        metadata: Meta::new(name, &ir.namespace).label("app", &s.name),
        spec: AnalysisSpec { metrics },
    };
    let mut out = Vec::new();
    if !queries.triggers.is_empty() {
        let metrics = queries
            .triggers
            .iter()
            .map(|q| {
                let interval = Some(trigger_interval(ir));
                metric(&address, q, interval, q.argo_no_breach(), q.argo_breach())
            })
            .collect();
        out.push(template(rollback_template_name(s), metrics));
    }
    for (stage, checks) in ir.stages.iter().zip(&queries.stages) {
        if checks.is_empty() {
            continue;
        }
        // A criterion that does not hold is Inconclusive, never Failed: the Rollout pauses
        // for a person instead of rolling back a py3 that breached no trigger.
        let metrics = checks
            .iter()
            .map(|q| metric(&address, q, None, q.argo_success(), "false".into()))
            .collect();
        out.push(template(stage_template_name(s, stage), metrics));
    }
    out
}

fn autoscaler(ir: &Ir, s: &ServiceIr) -> Autoscaler {
    let (min, max) = s
        .k8s_autoscaler
        .unwrap_or((s.replicas, (s.replicas * 3).max(3)));
    Autoscaler {
        api_version: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name),
        spec: AutoscalerSpec {
            scale_target_ref: TargetRef {
                api_version: API,
                kind: "Rollout",
                name: s.name.clone(),
            },
            min_replicas: min.max(1),
            max_replicas: max.max(min.max(1)),
            metrics: vec![AutoscalerMetric::cpu()],
        },
    }
}

/// A Kubernetes object: its kind, metadata and spec, in the order `kubectl` shows them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: S,
}

#[derive(Serialize)]
struct DestinationRuleSpec {
    host: String,
    subsets: Vec<Subset>,
}

#[derive(Serialize)]
struct Subset {
    name: &'static str,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct VirtualServiceSpec {
    hosts: Vec<String>,
    /// The team's Gateway and `mesh`; none means `mesh` only (the sidecars).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateways: Vec<String>,
    /// The team's routes (`ServiceRoute::with_destinations`), or canaryc's one route.
    http: Vec<Value>,
    /// The rest of the team's spec (`tcp`, `tls`, `exportTo`), as they wrote it.
    #[serde(flatten)]
    team: serde_json::Map<String, Value>,
}

#[derive(Serialize)]
struct WeightedDestination {
    destination: Destination,
    weight: u32,
}

#[derive(Serialize)]
struct Destination {
    host: String,
    subset: &'static str,
    /// The port of the Service named by `host` (Istio's `Destination.port`), not the
    /// container's.
    port: PortNumber,
}

#[derive(Serialize)]
struct PortNumber {
    number: u16,
}

/// Retry only what py3 never received: a refused connection or a stream the server refused
/// (HTTP/2 REFUSED_STREAM: not processed, safe to retry; envoyproxy/envoy#68). Never a 5xx
/// py3 answered (`gateway-error`) or a reset after sending (`reset`): on a ledger, a 504 after
/// a processed POST would be a duplicated write.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Retries {
    attempts: u32,
    retry_on: &'static str,
}

/// The routes of the VirtualService the Rollout re-weights: every route to the service but
/// those it shares with another service. Argo Rollouts checks only the listed routes
/// (argoproj/argo-rollouts rollout/trafficrouting/istio/istio.go, `ValidateHTTPRoutes`: each
/// must exist, "Route '...' is not found", and hold the stable and canary subsets) and patches
/// only them (`generateVirtualServicePatches`): a route to the subsets left off would stay at
/// 100/0 for the whole canary. In a listed route it deletes every destination that is neither
/// subset (`processRoutes`, `toDelete`), so a route shared with another service is left off,
/// its share of the service on the stable subset (CNR455).
fn split_routes(http: &[VsRoute]) -> Vec<String> {
    http.iter()
        .filter_map(|r| match r {
            VsRoute::Service(r) if r.shared_weight.is_none() => Some(r.name.clone()),
            _ => None,
        })
        .collect()
}

/// Istio: the DestinationRule's subsets and the VirtualService Argo re-weights: the team's
/// routes to other services as they wrote them, in their order, and each route to the service
/// with its destinations of the service replaced by the stable and canary subsets; and the
/// sidecars' own VirtualService when the team's is bound to their Gateways only.
fn istio_routing(ir: &Ir, s: &ServiceIr) -> Vec<Value> {
    let subset = |name| Subset {
        name,
        labels: selector(s),
    };
    let destination = |host: &str, subset, weight| WeightedDestination {
        destination: Destination {
            host: host.to_string(),
            subset,
            port: PortNumber {
                number: s.kube.service_port,
            },
        },
        weight,
    };
    let retries = Retries {
        attempts: 2,
        retry_on: "connect-failure,refused-stream",
    };
    let http = |routes: &[VsRoute]| -> Vec<Value> {
        routes
            .iter()
            .map(|r| match r {
                VsRoute::Other(route) => route.clone(),
                VsRoute::Service(r) => {
                    let ours = match r.shared_weight {
                        None => vec![
                            destination(&r.host, "stable", 100),
                            destination(&r.host, "canary", 0),
                        ],
                        Some(weight) => vec![destination(&r.host, "stable", weight)],
                    };
                    let ours = ours.iter().map(document).collect();
                    let mut route = r.with_destinations(&s.kube.service, &ir.namespace, ours);
                    // The team's retry policy, if they set one.
                    route.entry("retries").or_insert_with(|| document(&retries));
                    Value::Object(route)
                }
            })
            .collect()
    };
    let virtual_service = |vs: &crate::ir::VirtualServiceIr, spec: VirtualServiceSpec| {
        let mut metadata = Meta::new(vs.name.clone(), &vs.namespace);
        metadata.labels = vs.labels.clone();
        metadata.annotations = vs.annotations.clone();
        document(&Object {
            api_version: "networking.istio.io/v1beta1",
            kind: "VirtualService",
            metadata,
            spec,
        })
    };
    let mut docs = vec![document(&Object {
        api_version: "networking.istio.io/v1beta1",
        kind: "DestinationRule",
        metadata: Meta::new(s.kube.destination_rule.clone(), &ir.namespace),
        spec: DestinationRuleSpec {
            host: s.kube.service.clone(),
            subsets: crate::ir::copy_subsets(crate::ir::Engine::ArgoRollouts)
                .into_iter()
                .map(subset)
                .collect(),
        },
    })];
    for vs in s.kube.virtual_services() {
        docs.push(virtual_service(
            vs,
            VirtualServiceSpec {
                hosts: vs.hosts.clone(),
                gateways: vs.gateways.clone(),
                http: http(&vs.http),
                team: vs.rest.clone(),
            },
        ));
    }
    docs
}

/// The HTTPRoute the plugin re-weights: the team's, or one named after the service.
fn route_name(ir: &Ir, s: &ServiceIr) -> String {
    super::team_route(ir, s, &[])
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map_or_else(|| s.name.clone(), str::to_string)
}

/// The Services the Rollout's pods need before any routing: the apex host Istio splits (when
/// the team has none), or the stable and canary Services NGINX and the plugin route to.
fn services(ir: &Ir, s: &ServiceIr, router: Router) -> Vec<Value> {
    match router {
        Router::Istio if s.k8s_has_service => Vec::new(),
        Router::Istio => vec![document(&service_object(ir, s.name.clone(), s))],
        _ => vec![
            document(&service_object(ir, stable_name(s), s)),
            document(&service_object(ir, canary_name(s), s)),
        ],
    }
}

/// The router's objects for one service, in the shape Argo expects to find and manage.
fn routing(ir: &Ir, s: &ServiceIr, router: Router) -> Vec<Value> {
    match router {
        Router::Istio => istio_routing(ir, s),
        // The team's Ingress, to the stable Service: Argo clones it into the canary Ingress
        // and sets its `canary-weight`.
        Router::NginxIngress => vec![super::team_ingress(ir, s, &stable_name(s))],
        _ => {
            let backend = |name: String, weight: u32| {
                document(&WeightedBackend {
                    name,
                    port: s.kube.service_port,
                    weight,
                })
            };
            vec![super::team_route(
                ir,
                s,
                &[backend(stable_name(s), 100), backend(canary_name(s), 0)],
            )]
        }
    }
}

/// An HTTPRoute backendRef the Gateway API plugin re-weights.
#[derive(Serialize)]
struct WeightedBackend {
    name: String,
    port: u16,
    weight: u32,
}

/// A ConfigMap: its name, namespace and data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMap {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    data: BTreeMap<&'static str, String>,
}

/// The argo-rollouts controller's namespace, ServiceAccount and ConfigMap.
const CONTROLLER: &str = "argo-rollouts";

/// The controller's plugin registration: created, never applied over the team's ConfigMap
/// (`kubectl create` refuses when one exists; the runbook says to add the entry then).
fn gateway_plugin_config() -> ConfigMap {
    let location = format!(
        "https://github.com/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi/releases/download/{GATEWAY_PLUGIN_VERSION}/gatewayapi-plugin-linux-amd64"
    );
    ConfigMap {
        api_version: "v1",
        kind: "ConfigMap",
        metadata: Meta::new("argo-rollouts-config", CONTROLLER),
        data: [(
            "trafficRouterPlugins",
            format!("- name: \"{GATEWAY_PLUGIN}\"\n  location: \"{location}\"\n"),
        )]
        .into(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterRole {
    api_version: &'static str,
    kind: &'static str,
    metadata: ClusterMeta,
    rules: Vec<PolicyRule>,
}

/// A cluster-scoped object's metadata: a name only.
#[derive(Serialize)]
struct ClusterMeta {
    name: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRule {
    api_groups: Vec<&'static str>,
    resources: Vec<&'static str>,
    verbs: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterRoleBinding {
    api_version: &'static str,
    kind: &'static str,
    metadata: ClusterMeta,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleRef {
    api_group: &'static str,
    kind: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
struct Subject {
    kind: &'static str,
    name: &'static str,
    namespace: &'static str,
}

/// The RBAC the Gateway API plugin needs: HTTPRoutes to edit, Services to read
/// (rollouts-plugin-trafficrouter-gatewayapi docs/installation.md, "Permissions").
fn gateway_plugin_rbac() -> Vec<Value> {
    const NAME: &str = "argo-rollouts-gateway-api";
    const RBAC: &str = "rbac.authorization.k8s.io";
    let role = ClusterRole {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: ClusterMeta { name: NAME },
        rules: vec![
            PolicyRule {
                api_groups: vec![""],
                resources: vec!["services"],
                verbs: vec!["get"],
            },
            PolicyRule {
                api_groups: vec!["gateway.networking.k8s.io"],
                resources: vec!["httproutes"],
                verbs: vec!["get", "list", "watch", "update", "patch"],
            },
        ],
    };
    let binding = ClusterRoleBinding {
        api_version: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: ClusterMeta { name: NAME },
        role_ref: RoleRef {
            api_group: RBAC,
            kind: "ClusterRole",
            name: NAME,
        },
        subjects: vec![Subject {
            kind: "ServiceAccount",
            name: CONTROLLER,
            namespace: CONTROLLER,
        }],
    };
    vec![document(&role), document(&binding)]
}

/// The patch file that starts the canary of `s`, and the command the runbook gives for it.
pub(crate) fn patch_file(s: &ServiceIr) -> String {
    format!("k8s-rollout-py3-{}.patch", s.name)
}

pub(crate) fn patch_command(ir: &Ir, s: &ServiceIr) -> String {
    format!(
        "kubectl -n {} patch rollout {} --type merge --patch-file {}",
        ir.namespace,
        s.name,
        patch_file(s)
    )
}

/// What a run of services renders: its documents of the two files, and its patches.
struct Part {
    stable: yaml::Documents,
    routes: yaml::Documents,
    patches: Vec<OutputFile>,
}

impl Part {
    /// The first half's part begins the files themselves (their headers), so its documents,
    /// most of a fleet's bytes, are never copied into them; the second's is appended.
    fn new(ir: &Ir, half: usize) -> Part {
        let documents = || match half {
            0 => kubernetes::header_documents(ir),
            _ => yaml::Documents::new(String::new()),
        };
        Part {
            stable: documents(),
            routes: documents(),
            patches: Vec::new(),
        }
    }
}

pub(crate) fn files(ir: &Ir, t: &Target) -> Vec<OutputFile> {
    let router = t.router;
    let tests = TriggerTests::new(ir);
    // Each service's objects depend on that service alone: the fleet renders in two halves at
    // once, joined in service order, so the bytes are those of one pass.
    let [first, second] = crate::emit::in_halves(&ir.services, |half, chunk| {
        let mut part = Part::new(ir, half);
        for s in chunk {
            part.stable.extend(&services(ir, s, router));
            let queries = Queries::new(ir, &tests, s);
            for template in analysis_templates(ir, &queries, s) {
                part.stable.push(&document(&template));
            }
            // The py2 and py3 Rollouts differ in their pod template alone, so the merge patch
            // between them is the one between the templates, under `spec.template`.
            let deployment = kubernetes::deployment(ir, s, Interpreter::Py2);
            let selector = team_selector(&deployment, s);
            let py2 = template(s, deployment, Interpreter::Py2);
            let py3 = template(
                s,
                kubernetes::deployment(ir, s, Interpreter::Py3),
                Interpreter::Py3,
            );
            part.patches.push(super::canary_patch(
                ir,
                s,
                patch_file(s),
                &patch_command(ir, s),
                super::merge_patch(&py2, &py3)
                    .map(|patch| serde_json::json!({ "spec": { "template": patch } })),
            ));
            part.stable
                .push(&document(&rollout(ir, &queries, s, t, selector, py2)));
            part.stable.push(&document(&autoscaler(ir, s)));
            part.routes.extend(&routing(ir, s, router));
        }
        part
    });
    let (mut stable, mut routes, mut out) = (first.stable, first.routes, first.patches);
    stable.append(second.stable);
    routes.append(second.routes);
    out.extend(second.patches);
    out.push(file(
        "k8s-rollout.yaml",
        "Argo Rollouts: the Rollout on py2 (stable), its Services, AnalysisTemplates for the rollback triggers and each stage's criteria",
        stable.finish(),
    ));
    out.push(file(
        "k8s-rollout-routing.yaml",
        "Argo Rollouts: the router's objects the Rollout manages, applied once its pods are Ready",
        routes.finish(),
    ));
    if router == Router::GatewayApi {
        out.push(file(
            "k8s-argo-rollouts-config.yaml",
            "Argo Rollouts controller: the Gateway API traffic-router plugin's registration (kubectl create, never apply over yours)",
            format!(
                "# The Argo Rollouts controller loads the Gateway API plugin from this ConfigMap (restart it after creating).\n# `kubectl create -f` it: if the controller already has an argo-rollouts-config, add this entry to its trafficRouterPlugins instead.\n{}",
                yaml::documents(&[document(&gateway_plugin_config())])
            ),
        ));
        out.push(file(
            "k8s-argo-rollouts-rbac.yaml",
            "Argo Rollouts controller: the RBAC the Gateway API plugin needs",
            format!(
                "# What the Gateway API plugin needs on top of the controller's own permissions.\n{}",
                yaml::documents(&gateway_plugin_rbac())
            ),
        ));
    }
    out
}
