//! Flagger: the alternative Kubernetes engine, for teams that already run it.
//!
//! Flagger wraps a target Deployment (`NAME`, cloned from the team's, on py2 first): it copies
//! it to `NAME-primary`, which serves until the target's template changes, then shifts traffic
//! to the target in `stepWeights`, checking every metric each `interval`, and rolls back after
//! `threshold` failed checks (canary-systems.md §1.1–1.4).
//!
//! Flagger has one interval for every step and no per-step hold, and its scheduler does
//! everything once per interval: the checks, the manual rollback webhook, new revisions
//! (fluxcd/flagger pkg/controller/scheduler.go). So the interval is short (a minute) and each
//! stage's hold is a gate: a `confirm-traffic-increase` webhook to the flagger-loadtester gate,
//! which Flagger calls before every weight increase and before promotion; a person opens it
//! when the stage's hold has elapsed and its criteria hold, and closes it once the weight moved
//! (the runbook gives the commands). Flagger does not judge the stages' criteria itself (its
//! checks are the rollback triggers, the same at every step): the runbook says so.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::analysis::{self, Query, TriggerTests};
use super::argo::TargetRef;
use super::{Meta, document};
use crate::emit::{OutputFile, file, kubernetes};
use crate::ir::{Engine, InfraKind, Router, StickyBy, Target};
use crate::ir::{Interpreter, Ir, Op, ServiceIr, prometheus_url};

const API: &str = "flagger.app/v1beta1";

/// Failed checks before Flagger rolls back. Flagger counts a query it could not run (a
/// Prometheus restart) as a failed check, and adds them up over the whole canary
/// (scheduler.go: `FailedChecks+1`, compared `>= threshold`): at 1, one Prometheus blip in a
/// three-week canary would roll a healthy py3 back. Five intervals ride out a few minutes of
/// outage; a real breach rolls back five intervals after its trigger's window.
pub(crate) const THRESHOLD: u32 = 5;

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
    /// The apex Service's port: the team's Service port, which Flagger's apex takes over.
    port: u16,
    target_port: u16,
    /// Istio: the team's Gateway (and `mesh`, which Flagger adds only when no gateway is
    /// named: pkg/router/istio.go).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gateways: Vec<String>,
    /// Hosts besides the apex Service, which Flagger adds itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hosts: Vec<String>,
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
    webhooks: Vec<Webhook>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAffinity {
    cookie_name: String,
    max_age: u32,
}

/// A check of one rollback trigger. No `interval`: the queries carry their own windows (the
/// trigger's), and Flagger only passes a metric's interval to a template as `{{ interval }}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanaryMetric {
    name: String,
    template_ref: NameRef,
    threshold_range: ThresholdRange,
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
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
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

/// One short interval for every step (Flagger's default, a minute; the shortest hold when a
/// test plan's holds are shorter, at least Flagger's floor of 10 s): holds are gates.
pub(crate) fn interval(ir: &Ir) -> u64 {
    ir.stages
        .iter()
        .map(|s| (s.hold_hours * 3600.0).round() as u64)
        .min()
        .unwrap_or(60)
        .clamp(10, 60)
}

/// A duration as Flagger's schema takes it: minutes or seconds only (`1440m`, not `24h`).
pub(crate) fn flagger_duration(secs: u64) -> String {
    if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The flagger-loadtester's gate that holds each stage until a person opens it.
pub(crate) fn gate_url(ir: &Ir) -> String {
    format!("http://flagger-loadtester.{}/gate/check", ir.namespace)
}

/// A loadtester call from inside its pod (`gate/open`, `gate/close`, `rollback/open` ...).
pub(crate) fn loadtester(ir: &Ir, s: &ServiceIr, path: &str) -> String {
    format!(
        "kubectl -n {ns} exec deploy/flagger-loadtester -- curl -s -d '{{\"name\":\"{}\",\"namespace\":\"{ns}\"}}' http://localhost:8080/{path}",
        s.name,
        ns = ir.namespace
    )
}

fn template_name(s: &ServiceIr, q: &Query) -> String {
    format!("{}-{}", s.name, q.name)
}

/// The range a trigger's value must stay in. Flagger's Prometheus provider reports "no values"
/// on an empty result and on NaN (pkg/metrics/providers/prometheus.go), which counts as a
/// failed check: a guarded query with too little traffic to judge, or a ratio with nothing to
/// compare with, counts as 0 instead, which breaches no upper bound.
fn range_and_query(q: &Query) -> (ThresholdRange, String) {
    match q.condition.op {
        Op::Gt | Op::Ge => (
            ThresholdRange {
                max: Some(q.condition.threshold),
                ..ThresholdRange::default()
            },
            format!("(({}) >= -Inf) or on() vector(0)", q.promql),
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
/// without `version` (a Deployment's selector cannot change when py3's template arrives), the
/// app container named per copy.
fn target(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Value {
    let mut d = kubernetes::deployment(ir, s, copy);
    d["metadata"]["name"] = Value::String(s.name.clone());
    if let Some(Value::Object(labels)) = d.pointer_mut("/metadata/labels") {
        labels.remove("version");
    }
    if let Some(Value::Object(labels)) = d.pointer_mut("/spec/selector/matchLabels") {
        labels.remove("version");
    }
    d["spec"]["replicas"] = Value::from(s.replicas);
    d["spec"]["template"] = super::pod_template(ir, s, copy);
    d
}

fn webhooks(ir: &Ir) -> Vec<Webhook> {
    let approvals: Vec<String> = ir
        .stages
        .iter()
        .filter_map(|st| st.approval.as_ref().map(|a| format!("{}: {a}", st.name)))
        .collect();
    let mut metadata = BTreeMap::new();
    if !approvals.is_empty() {
        metadata.insert("approvals".to_string(), approvals.join("; "));
    }
    vec![
        // A person's manual rollback: opening the loadtester's rollback gate fails the canary.
        Webhook {
            name: "manual-rollback".into(),
            kind: "rollback",
            url: format!("http://flagger-loadtester.{}/rollback/check", ir.namespace),
            timeout: "15s",
            metadata: BTreeMap::new(),
        },
        // Each stage's hold (and its approval): Flagger moves to the next weight, and promotes
        // after the last, only while the gate is open.
        Webhook {
            name: "stage-gate".into(),
            kind: "confirm-traffic-increase",
            url: gate_url(ir),
            timeout: "15s",
            metadata,
        },
    ]
}

fn service(ir: &Ir, s: &ServiceIr, router: Router) -> CanaryService {
    let route = |pointer: &str| {
        s.k8s_route
            .as_ref()
            .and_then(|r| r.pointer(pointer).cloned())
    };
    let istio = router == Router::Istio;
    // The Gateway and hosts canaryc found for its own VirtualService. Not a team
    // VirtualService's: Flagger would write a second VirtualService for the same hosts on the
    // same Gateway, which istiod merges with the team's (Istio's deployment guidelines,
    // "Multiple virtual services and destination rules for the same host"), so which of the
    // two sets of routes matches first would be neither the team's choice nor the split. With
    // a team VirtualService, Flagger's own is for the sidecars (the service's host, `mesh`) and
    // the team's stays as it is (CNR456).
    let own_gateway = istio && !s.kube.virtual_service.team;
    CanaryService {
        port: s.kube.service_port,
        target_port: s.port,
        gateways: if own_gateway {
            s.kube.virtual_service.gateways.clone()
        } else {
            Vec::new()
        },
        hosts: if own_gateway {
            s.kube
                .virtual_service
                .hosts
                .iter()
                .filter(|h| **h != s.name)
                .cloned()
                .collect()
        } else if istio {
            Vec::new()
        } else {
            route("/spec/hostnames")
                .and_then(|h| serde_json::from_value(h).ok())
                .unwrap_or_default()
        },
        gateway_refs: (router == Router::GatewayApi).then(|| {
            route("/spec/parentRefs").unwrap_or_else(|| {
                document(&[crate::emit::objects::NameRef {
                    name: format!("{}-gateway", ir.name),
                }])
            })
        }),
    }
}

fn canary(ir: &Ir, s: &ServiceIr, t: &Target, triggers: &[Query]) -> Canary {
    let router = t.router;
    let provider = match router {
        Router::Istio => "istio",
        Router::NginxIngress => "nginx",
        _ => "gatewayapi:v1",
    };
    let step_weights: Vec<u32> = ir
        .stages
        .iter()
        .filter(|st| st.traffic < 100.0)
        .map(|st| t.weights(st).1)
        .collect();
    let sticky = ir
        .sticky
        .as_ref()
        .filter(|st| st.by == StickyBy::Cookie && Engine::Flagger.keeps_sticky(router));
    let metrics = triggers
        .iter()
        .map(|q| CanaryMetric {
            name: q.name.clone(),
            template_ref: NameRef {
                name: template_name(s, q),
                namespace: ir.namespace.clone(),
            },
            threshold_range: range_and_query(q).0,
        })
        .collect();
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
                name: super::team_ingress_name(s),
            }),
            progress_deadline_seconds: 600,
            service: service(ir, s, router),
            analysis: CanaryAnalysis {
                interval: flagger_duration(interval(ir)),
                threshold: THRESHOLD,
                step_weights,
                session_affinity: sticky.map(|st| SessionAffinity {
                    cookie_name: st.name.clone(),
                    max_age: 86_400,
                }),
                metrics,
                webhooks: webhooks(ir),
            },
        },
    }
}

pub(crate) fn patch_file(s: &ServiceIr) -> String {
    format!("k8s-flagger-py3-{}.patch", s.name)
}

pub(crate) fn patch_command(ir: &Ir, s: &ServiceIr) -> String {
    format!(
        "kubectl -n {} patch deployment {} --type merge --patch-file {}",
        ir.namespace,
        s.name,
        patch_file(s)
    )
}

pub(crate) fn files(ir: &Ir, t: &Target) -> Vec<OutputFile> {
    let router = t.router;
    let address = prometheus_url(ir, InfraKind::Kubernetes);
    let mut stable = kubernetes::header_documents(ir);
    let mut out = Vec::new();
    let tests = TriggerTests::new(ir);
    for s in &ir.services {
        let triggers = analysis::rollback_triggers(ir, &tests, s);
        let py2 = target(ir, s, Interpreter::Py2);
        out.push(super::canary_patch(
            ir,
            s,
            patch_file(s),
            &patch_command(ir, s),
            super::merge_patch(&py2, &target(ir, s, Interpreter::Py3)),
        ));
        stable.push(&py2);
        if router == Router::NginxIngress {
            // The team's Ingress to Flagger's apex Service: it routes to the primary, and
            // Flagger's canary Ingress (`INGRESS-canary`) to the canary.
            stable.push(&super::team_ingress(ir, s, &s.name));
        }
        for q in &triggers {
            stable.push(&document(&MetricTemplate {
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
        stable.push(&document(&canary(ir, s, t, &triggers)));
    }
    out.push(file(
        "k8s-flagger.yaml",
        "Flagger: the target Deployment on py2, the Canary (steps, interval, stage gate) and a MetricTemplate per rollback trigger",
        stable.finish(),
    ));
    out
}
