//! Argo Rollouts: the Kubernetes default engine.
//!
//! Design (docs in the runbook): the Rollout carries a pod template cloned from the team's
//! Deployment (the same clone the plain files use: env, secret references, probes, resources;
//! `version: py2|py3` labels for the metrics), not a `workloadRef`. A cloned template keeps the
//! bundle self-contained and checkable, and lets py3 differ from py2 by more than the image (its
//! runtime environment). Two files hold the same Rollout: `k8s-rollout.yaml` with the py2
//! template (its first revision becomes stable at once, with no steps) and `k8s-rollout-py3.yaml`
//! with the py3 template; applying the second starts the canary.
//!
//! Steps, per stage (canary-systems.md §2.1): `setWeight`, `pause: {duration: HOLD}`, then an
//! inline `analysis` of the stage's success criteria before the next weight, and `pause: {}` at
//! an approval gate. A criterion that does not hold leaves the analysis Inconclusive, which
//! pauses the Rollout for a person (§2.3); the rollback triggers run as background analysis for
//! the whole rollout, and any breach fails it, which aborts: all traffic back to py2 (§2.4).
//!
//! Routing: Istio subset-level (a VirtualService route Argo re-weights, DestinationRule subsets
//! it pins to pod-template hashes), ingress-nginx (`stableIngress`; Argo creates the canary
//! Ingress), Gateway API through the argoproj-labs plugin (registered in the controller's
//! `argo-rollouts-config` ConfigMap, with the RBAC it needs to edit HTTPRoutes).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{self, Query};
use super::{Meta, document};
use crate::emit::{OutputFile, file, kubernetes, prometheus::duration, yaml};
use crate::ir::{Copy, Ir, ServiceIr, StageIr, prometheus_url};
use crate::model::{Engine, InfraKind, Router};

const API: &str = "argoproj.io/v1alpha1";
/// The Gateway API plugin, as the controller's ConfigMap names it.
pub const GATEWAY_PLUGIN: &str = "argoproj-labs/gatewayAPI";
/// Release of argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi the ConfigMap loads.
pub const GATEWAY_PLUGIN_VERSION: &str = "v0.5.0";
/// The label that ties pods, Services and subsets to their Rollout (and keeps the Rollout's
/// selector off the team's current Deployment's pods).
const ROLLOUT_LABEL: &str = "rollout";

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
    virtual_service: IstioVirtualService,
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
    metrics: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
}

fn service_object(ir: &Ir, name: String, s: &ServiceIr) -> Service {
    Service {
        api_version: "v1",
        kind: "Service",
        metadata: Meta::new(name, &ir.namespace).label("app", &s.name),
        spec: ServiceSpec {
            selector: selector(s),
            ports: vec![ServicePort {
                name: "http",
                port: s.port,
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

/// The pod template of one copy, from the same clone as the plain Deployment.
pub(super) fn template(ir: &Ir, s: &ServiceIr, copy: Copy, extra: &[(&str, &str)]) -> Value {
    let deployment = kubernetes::deployment(ir, s, copy);
    let mut template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(Value::Object(labels)) = template.pointer_mut("/metadata/labels") {
        for (k, v) in extra {
            labels.insert((*k).to_string(), Value::String((*v).to_string()));
        }
    }
    template
}

/// Team selector labels other than `version`, from the cloned Deployment.
fn team_selector(ir: &Ir, s: &ServiceIr) -> BTreeMap<String, String> {
    let deployment = kubernetes::deployment(ir, s, Copy::Py2);
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

/// Weights total for this router: Argo's `setWeight` counts out of 100, or out of
/// `maxTrafficWeight` where the router honours it (NGINX and plugins, canary-systems.md §2.1).
fn weight_total(ir: &Ir, router: Router) -> u32 {
    let fine = ir.stages.iter().any(|s| s.traffic.fract() != 0.0);
    if fine && router != Router::Istio {
        1000
    } else {
        100
    }
}

pub fn stage_template_name(s: &ServiceIr, stage: &StageIr) -> String {
    format!("{}-{}", s.name, stage.name)
}

pub fn rollback_template_name(s: &ServiceIr) -> String {
    format!("{}-rollback", s.name)
}

fn rollout(ir: &Ir, s: &ServiceIr, router: Router, copy: Copy) -> Rollout {
    let total = weight_total(ir, router);
    let mut steps = Vec::new();
    for stage in &ir.stages {
        let (_, weight) = crate::ir::weights(stage.traffic, total);
        steps.push(Step::SetWeight(weight));
        steps.push(Step::Pause(Pause {
            duration: Some(duration((stage.hold_hours * 3600.0).round() as u64)),
        }));
        if !analysis::stage_checks(ir, s, stage).is_empty() {
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
    let (triggers, _) = analysis::rollback_triggers(ir, s, Engine::ArgoRollouts);
    let mut routing = TrafficRouting::default();
    let (canary_service, stable_service) = match router {
        Router::Istio => {
            routing.istio = Some(Istio {
                virtual_service: IstioVirtualService {
                    name: s.name.clone(),
                    routes: vec!["primary".into()],
                },
                destination_rule: IstioDestinationRule {
                    name: s.name.clone(),
                    canary_subset_name: "canary",
                    stable_subset_name: "stable",
                },
            });
            (None, None)
        }
        Router::NginxIngress => {
            routing.nginx = Some(Nginx {
                stable_ingress: s.name.clone(),
            });
            (Some(canary_name(s)), Some(stable_name(s)))
        }
        _ => {
            let mut plugins = BTreeMap::new();
            plugins.insert(
                GATEWAY_PLUGIN,
                GatewayPlugin {
                    http_route: s.name.clone(),
                    namespace: ir.namespace.clone(),
                },
            );
            routing.plugins = Some(plugins);
            (Some(canary_name(s)), Some(stable_name(s)))
        }
    };
    if total != 100 {
        routing.max_traffic_weight = Some(total);
    }
    Rollout {
        api_version: API,
        kind: "Rollout",
        metadata: Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name),
        spec: RolloutSpec {
            replicas: s.replicas,
            revision_history_limit: 3,
            selector: Selector {
                match_labels: team_selector(ir, s),
            },
            template: template(ir, s, copy, &[(ROLLOUT_LABEL, &s.name)]),
            // Argo's default: ten minutes for py3's pods to become ready (cold imports).
            progress_deadline_seconds: 600,
            progress_deadline_abort: true,
            strategy: Strategy {
                canary: Canary {
                    canary_service,
                    stable_service,
                    traffic_routing: routing,
                    analysis: (!triggers.is_empty()).then(|| Analysis {
                        templates: vec![TemplateRef {
                            template_name: rollback_template_name(s),
                        }],
                    }),
                    steps,
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
fn trigger_interval(ir: &Ir) -> String {
    duration(ir.metrics.scrape_interval_secs.clamp(10, 60))
}

fn analysis_templates(ir: &Ir, s: &ServiceIr) -> Vec<AnalysisTemplate> {
    let address = prometheus_url(ir, InfraKind::Kubernetes);
    let metric =
        |q: &Query, interval: Option<String>, success: String, failure: String| AnalysisMetric {
            name: q.name.clone(),
            failure_limit: interval.as_ref().map(|_| 0),
            interval,
            success_condition: success,
            failure_condition: failure,
            provider: Provider {
                prometheus: PrometheusProvider {
                    address: address.clone(),
                    query: q.promql.clone(),
                },
            },
        };
    let mut out = Vec::new();
    let (triggers, _) = analysis::rollback_triggers(ir, s, Engine::ArgoRollouts);
    if !triggers.is_empty() {
        out.push(AnalysisTemplate {
            api_version: API,
            kind: "AnalysisTemplate",
            metadata: Meta::new(rollback_template_name(s), &ir.namespace).label("app", &s.name),
            spec: AnalysisSpec {
                metrics: triggers
                    .iter()
                    .map(|q| {
                        metric(
                            q,
                            Some(trigger_interval(ir)),
                            q.argo_no_breach(),
                            q.argo_breach(),
                        )
                    })
                    .collect(),
            },
        });
    }
    for stage in &ir.stages {
        let checks = analysis::stage_checks(ir, s, stage);
        if checks.is_empty() {
            continue;
        }
        out.push(AnalysisTemplate {
            api_version: API,
            kind: "AnalysisTemplate",
            metadata: Meta::new(stage_template_name(s, stage), &ir.namespace).label("app", &s.name),
            spec: AnalysisSpec {
                metrics: checks
                    .iter()
                    // A criterion that does not hold is Inconclusive, never Failed: the
                    // Rollout pauses for a person instead of rolling back a py3 that breached
                    // no trigger.
                    .map(|q| metric(q, None, q.argo_success(), "false".into()))
                    .collect(),
            },
        });
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
            metrics: vec![
                serde_json::json!({ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }),
            ],
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
    http: Vec<HttpRoute>,
}

#[derive(Serialize)]
struct HttpRoute {
    name: &'static str,
    route: Vec<WeightedDestination>,
    retries: Retries,
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
    port: PortNumber,
}

#[derive(Serialize)]
struct PortNumber {
    number: u16,
}

/// Retry a request the proxy could not deliver, never one py3 answered.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Retries {
    attempts: u32,
    per_try_timeout: &'static str,
    retry_on: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRouteSpec {
    /// The team's route's parents (their Gateway), kept as written.
    parent_refs: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostnames: Option<Value>,
    rules: Vec<RouteRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteRule {
    backend_refs: Vec<BackendRef>,
}

#[derive(Serialize)]
struct BackendRef {
    name: String,
    port: u16,
    weight: u32,
}

/// The router's objects for one service, in the shape Argo expects to find and manage.
fn routing(ir: &Ir, s: &ServiceIr, router: Router) -> Vec<Value> {
    let mut docs = Vec::new();
    match router {
        Router::Istio => {
            if !s.k8s_has_service {
                docs.push(document(&service_object(ir, s.name.clone(), s)));
            }
            let subset = |name| Subset {
                name,
                labels: selector(s),
            };
            docs.push(document(&Object {
                api_version: "networking.istio.io/v1beta1",
                kind: "DestinationRule",
                metadata: Meta::new(s.name.clone(), &ir.namespace),
                spec: DestinationRuleSpec {
                    host: s.name.clone(),
                    subsets: vec![subset("stable"), subset("canary")],
                },
            }));
            let destination = |subset, weight| WeightedDestination {
                destination: Destination {
                    host: s.name.clone(),
                    subset,
                    port: PortNumber { number: s.port },
                },
                weight,
            };
            docs.push(document(&Object {
                api_version: "networking.istio.io/v1beta1",
                kind: "VirtualService",
                metadata: Meta::new(s.name.clone(), &ir.namespace),
                spec: VirtualServiceSpec {
                    hosts: vec![s.name.clone()],
                    http: vec![HttpRoute {
                        name: "primary",
                        route: vec![destination("stable", 100), destination("canary", 0)],
                        retries: Retries {
                            attempts: 2,
                            per_try_timeout: "5s",
                            retry_on: "gateway-error,connect-failure,refused-stream",
                        },
                    }],
                },
            }));
        }
        Router::NginxIngress => {
            docs.push(document(&service_object(ir, stable_name(s), s)));
            docs.push(document(&service_object(ir, canary_name(s), s)));
            docs.push(stable_ingress(ir, s));
        }
        _ => {
            docs.push(document(&service_object(ir, stable_name(s), s)));
            docs.push(document(&service_object(ir, canary_name(s), s)));
            let team = |pointer: &str| {
                s.k8s_route
                    .as_ref()
                    .and_then(|r| r.pointer(pointer).cloned())
            };
            let backend = |name, weight| BackendRef {
                name,
                port: s.port,
                weight,
            };
            docs.push(document(&Object {
                api_version: "gateway.networking.k8s.io/v1",
                kind: "HTTPRoute",
                metadata: Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name),
                spec: HttpRouteSpec {
                    parent_refs: team("/spec/parentRefs").unwrap_or_else(
                        || serde_json::json!([ { "name": format!("{}-gateway", ir.name) } ]),
                    ),
                    hostnames: team("/spec/hostnames"),
                    rules: vec![RouteRule {
                        backend_refs: vec![
                            backend(stable_name(s), 100),
                            backend(canary_name(s), 0),
                        ],
                    }],
                },
            }));
        }
    }
    docs
}

/// The stable Ingress: the team's host, paths and TLS, every path to the stable Service.
/// Argo clones it into the canary Ingress and sets its `canary-weight`.
fn stable_ingress(ir: &Ir, s: &ServiceIr) -> Value {
    super::ingress_to(ir, s, &stable_name(s))
}

/// The controller's plugin registration and the RBAC the Gateway API plugin needs to edit
/// HTTPRoutes (argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi's installation notes).
fn gateway_plugin_config() -> Vec<Value> {
    let location = format!(
        "https://github.com/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi/releases/download/{GATEWAY_PLUGIN_VERSION}/gatewayapi-plugin-linux-amd64"
    );
    vec![
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": "argo-rollouts-config", "namespace": "argo-rollouts" },
            "data": { "trafficRouterPlugins": format!("- name: \"{GATEWAY_PLUGIN}\"\n  location: \"{location}\"\n") }
        }),
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": { "name": "argo-rollouts-gateway-api" },
            "rules": [ {
                "apiGroups": ["gateway.networking.k8s.io"],
                "resources": ["httproutes"],
                "verbs": ["get", "list", "watch", "update", "patch"]
            } ]
        }),
        serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": { "name": "argo-rollouts-gateway-api" },
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "argo-rollouts-gateway-api" },
            "subjects": [ { "kind": "ServiceAccount", "name": "argo-rollouts", "namespace": "argo-rollouts" } ]
        }),
    ]
}

pub fn files(ir: &Ir, router: Router) -> Vec<OutputFile> {
    let mut stable = Vec::new();
    let mut canary = Vec::new();
    for s in &ir.services {
        stable.extend(routing(ir, s, router));
        stable.extend(analysis_templates(ir, s).iter().map(document));
        stable.push(document(&rollout(ir, s, router, Copy::Py2)));
        stable.push(document(&autoscaler(ir, s)));
        canary.push(document(&rollout(ir, s, router, Copy::Py3)));
    }
    let mut out = vec![
        file(
            "k8s-rollout.yaml",
            "Argo Rollouts: the Rollout on py2 (stable), its Services and routing, AnalysisTemplates for the rollback triggers and each stage's criteria",
            kubernetes::header(ir, &stable),
        ),
        file(
            "k8s-rollout-py3.yaml",
            "Argo Rollouts: the same Rollout with the py3 template; applying it starts the canary steps",
            kubernetes::header(ir, &canary),
        ),
    ];
    if router == Router::GatewayApi {
        out.push(file(
            "k8s-argo-rollouts-config.yaml",
            "Argo Rollouts controller: the Gateway API traffic-router plugin and its RBAC",
            format!(
                "# The Argo Rollouts controller loads the Gateway API plugin from this ConfigMap (restart it after applying).\n{}",
                yaml::documents(&gateway_plugin_config())
            ),
        ));
    }
    out
}
