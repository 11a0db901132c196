//! Flagger: the alternative Kubernetes engine, for teams that already run it.
//!
//! Flagger wraps a target Deployment (`NAME`, cloned from the team's, on py2 first): it copies
//! it to `NAME-primary`, which serves until the target's template changes, then shifts traffic
//! to the target in `stepWeights`, one step per `interval`, checking every metric each interval,
//! and rolls back after `threshold` failed checks (canary-systems.md §1.1–1.4).
//!
//! What Flagger cannot express, and the runbook says: one interval for every step (the shortest
//! hold, CNR512); the same checks at every step, so the stages' own success criteria are not
//! judged (the rollback triggers are); approval through a `confirm-promotion` webhook to the
//! flagger-loadtester gate rather than a pause.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{self, Op, Query};
use super::argo::TargetRef;
use super::{Meta, document};
use crate::emit::{OutputFile, file, kubernetes};
use crate::ir::{Copy, Ir, ServiceIr, prometheus_url};
use crate::model::{Engine, InfraKind, Router, StickyBy};

const API: &str = "flagger.app/v1beta1";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Canary {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: CanarySpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanarySpec {
    provider: &'static str,
    target_ref: TargetRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingress_ref: Option<TargetRef>,
    progress_deadline_seconds: u32,
    service: CanaryService,
    analysis: CanaryAnalysis,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanaryService {
    port: u16,
    target_port: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway_refs: Option<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanaryAnalysis {
    interval: String,
    threshold: u32,
    step_weights: Vec<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_affinity: Option<SessionAffinity>,
    metrics: Vec<CanaryMetric>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhooks: Vec<Webhook>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAffinity {
    cookie_name: String,
    max_age: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanaryMetric {
    name: String,
    template_ref: NameRef,
    threshold_range: ThresholdRange,
    interval: String,
}

#[derive(Serialize)]
struct NameRef {
    name: String,
    namespace: String,
}

#[derive(Serialize, Default)]
struct ThresholdRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
    timeout: &'static str,
    metadata: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MetricTemplate {
    api_version: &'static str,
    kind: &'static str,
    metadata: Meta,
    spec: MetricTemplateSpec,
}

#[derive(Serialize)]
struct MetricTemplateSpec {
    provider: MetricProvider,
    query: String,
}

#[derive(Serialize)]
struct MetricProvider {
    #[serde(rename = "type")]
    kind: &'static str,
    address: String,
}

/// One interval for every step: the shortest hold (CNR512).
pub fn interval(ir: &Ir) -> u64 {
    ir.stages
        .iter()
        .map(|s| (s.hold_hours * 3600.0).round() as u64)
        .min()
        .unwrap_or(60)
        .max(60)
}

/// A duration as Flagger's schema takes it: minutes or seconds only (`1440m`, not `24h`).
pub fn flagger_duration(secs: u64) -> String {
    if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The flagger-loadtester gate that holds promotion until a person opens it.
pub fn gate_url(ir: &Ir) -> String {
    format!("http://flagger-loadtester.{}/gate/check", ir.namespace)
}

fn template_name(s: &ServiceIr, q: &Query) -> String {
    format!("{}-{}", s.name, q.name)
}

/// The range a trigger's value must stay in. Flagger's Prometheus provider reports "no values"
/// on an empty result, which halts the analysis: a guarded query with too little traffic to
/// judge counts as 0 instead, which breaches no upper bound.
fn range_and_query(q: &Query) -> (ThresholdRange, String) {
    match q.condition.op {
        Op::Gt | Op::Ge => (
            ThresholdRange {
                max: Some(q.condition.threshold),
                ..ThresholdRange::default()
            },
            format!("({}) or on() vector(0)", q.promql),
        ),
        Op::Lt | Op::Le => (
            ThresholdRange {
                min: Some(q.condition.threshold),
                ..ThresholdRange::default()
            },
            q.promql.clone(),
        ),
    }
}

/// The target Deployment of one copy: the team's clone, named for the service, its selector
/// without `version` (a Deployment's selector cannot change when py3's template arrives).
fn target(ir: &Ir, s: &ServiceIr, copy: Copy) -> Value {
    let mut d = kubernetes::deployment(ir, s, copy);
    d["metadata"]["name"] = Value::String(s.name.clone());
    if let Some(Value::Object(labels)) = d.pointer_mut("/metadata/labels") {
        labels.remove("version");
    }
    if let Some(Value::Object(labels)) = d.pointer_mut("/spec/selector/matchLabels") {
        labels.remove("version");
    }
    d["spec"]["replicas"] = serde_json::json!(s.replicas);
    d
}

fn canary(ir: &Ir, s: &ServiceIr, router: Router, triggers: &[Query]) -> Canary {
    let provider = match router {
        Router::Istio => "istio",
        Router::NginxIngress => "nginx",
        _ => "gatewayapi:v1",
    };
    let step_weights: Vec<u32> = ir
        .stages
        .iter()
        .filter(|st| st.traffic < 100.0)
        .map(|st| crate::ir::weights(st.traffic, 100).1)
        .collect();
    let approvals: Vec<&str> = ir
        .stages
        .iter()
        .filter_map(|st| st.approval.as_deref())
        .collect();
    let mut webhooks = vec![Webhook {
        // A person's manual rollback: opening the loadtester's rollback gate fails the canary.
        name: "manual-rollback".into(),
        kind: "rollback",
        url: format!("http://flagger-loadtester.{}/rollback/check", ir.namespace),
        timeout: "15s",
        metadata: BTreeMap::new(),
    }];
    webhooks.extend(
        approvals
            .first()
            .map(|a| {
                let mut metadata = BTreeMap::new();
                metadata.insert("approval".to_string(), (*a).to_string());
                vec![Webhook {
                    name: "approval".into(),
                    kind: "confirm-promotion",
                    url: gate_url(ir),
                    timeout: "15s",
                    metadata,
                }]
            })
            .unwrap_or_default(),
    );
    let sticky = ir
        .sticky
        .as_ref()
        .filter(|st| st.by == StickyBy::Cookie && Engine::Flagger.keeps_sticky(router));
    Canary {
        api_version: API,
        kind: "Canary",
        metadata: Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name),
        spec: CanarySpec {
            provider,
            target_ref: TargetRef {
                api_version: "apps/v1",
                kind: "Deployment",
                name: s.name.clone(),
            },
            ingress_ref: (router == Router::NginxIngress).then(|| TargetRef {
                api_version: "networking.k8s.io/v1",
                kind: "Ingress",
                name: s.name.clone(),
            }),
            progress_deadline_seconds: 600,
            service: CanaryService {
                port: s.port,
                target_port: s.port,
                gateway_refs: (router == Router::GatewayApi).then(|| {
                    s.k8s_route
                        .as_ref()
                        .and_then(|r| r.pointer("/spec/parentRefs").cloned())
                        .unwrap_or_else(
                            || serde_json::json!([ { "name": format!("{}-gateway", ir.name) } ]),
                        )
                }),
            },
            analysis: CanaryAnalysis {
                interval: flagger_duration(interval(ir)),
                threshold: 1,
                step_weights,
                session_affinity: sticky.map(|st| SessionAffinity {
                    cookie_name: st.name.clone(),
                    max_age: 86_400,
                }),
                metrics: triggers
                    .iter()
                    .map(|q| CanaryMetric {
                        name: q.name.clone(),
                        template_ref: NameRef {
                            name: template_name(s, q),
                            namespace: ir.namespace.clone(),
                        },
                        threshold_range: range_and_query(q).0,
                        interval: flagger_duration(ir.metrics.scrape_interval_secs.max(60)),
                    })
                    .collect(),
                webhooks,
            },
        },
    }
}

/// The team's Ingress to Flagger's apex Service: it routes to the primary, and Flagger's canary
/// Ingress to the canary.
fn ingress(ir: &Ir, s: &ServiceIr) -> Value {
    super::ingress_to(ir, s, &s.name)
}

pub fn files(ir: &Ir, router: Router) -> Vec<OutputFile> {
    let address = prometheus_url(ir, InfraKind::Kubernetes);
    let mut stable = Vec::new();
    let mut py3 = Vec::new();
    for s in &ir.services {
        let (triggers, _) = analysis::rollback_triggers(ir, s, Engine::Flagger);
        stable.push(target(ir, s, Copy::Py2));
        if router == Router::NginxIngress {
            stable.push(ingress(ir, s));
        }
        for q in &triggers {
            stable.push(document(&MetricTemplate {
                api_version: API,
                kind: "MetricTemplate",
                metadata: Meta::new(template_name(s, q), &ir.namespace).label("app", &s.name),
                spec: MetricTemplateSpec {
                    provider: MetricProvider {
                        kind: "prometheus",
                        address: address.clone(),
                    },
                    query: range_and_query(q).1,
                },
            }));
        }
        stable.push(document(&canary(ir, s, router, &triggers)));
        py3.push(target(ir, s, Copy::Py3));
    }
    vec![
        file(
            "k8s-flagger.yaml",
            "Flagger: the target Deployment on py2, the Canary (steps, interval, approval gate) and a MetricTemplate per rollback trigger",
            kubernetes::header(ir, &stable),
        ),
        file(
            "k8s-flagger-py3.yaml",
            "Flagger: the target Deployment with the py3 template; applying it starts the analysis",
            kubernetes::header(ir, &py3),
        ),
    ]
}
