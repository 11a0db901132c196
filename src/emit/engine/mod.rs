//! The engines that move py3 forward and back by themselves, one module each:
//!
//! - `argo`: Argo Rollouts, the Kubernetes default: a `Rollout` cloned from the team's
//!   Deployment, a step pair (`setWeight`, `pause`) per stage with an inline analysis of the
//!   stage's criteria before the next weight, a background analysis of the rollback triggers
//!   (a failure aborts: all traffic back to py2), and the router's objects.
//! - `flagger`: Flagger's `Canary` and `MetricTemplate`s, for teams that run Flagger.
//! - `promote`: `canary-promote.json`, what `canaryc promote` (canaryc's own engine on Compose
//!   and bare metal) reads: stages, holds, criteria queries, the load balancer's runtime API.
//!
//! `analysis` is the one module that talks to the metric layer. Every object is a small typed
//! struct serialised with serde, so a misspelt field is a compile error, not a rejected apply.

pub mod analysis;
pub mod argo;
pub mod compose_loop;
pub mod docs;
pub mod flagger;
pub mod promote;

use std::collections::BTreeMap;

use serde::Serialize;

/// The part of Kubernetes' ObjectMeta canaryc writes.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Meta {
    pub fn new(name: impl Into<String>, namespace: &str) -> Meta {
        Meta {
            name: name.into(),
            namespace: Some(namespace.to_string()),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    pub fn label(mut self, key: &str, value: &str) -> Meta {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }
}

/// A serialisable object as a YAML document (through JSON, like every other emitter, so key
/// order and formatting are the same).
pub fn document<T: Serialize>(object: &T) -> serde_json::Value {
    serde_json::to_value(object).unwrap_or(serde_json::Value::Null)
}

/// The team's Ingress (host, paths, TLS), or a catch-all one, for ingress-nginx, with every path
/// sent to `service`: the Ingress an engine clones into its canary Ingress.
pub fn ingress_to(
    ir: &crate::ir::Ir,
    s: &crate::ir::ServiceIr,
    service: &str,
) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut spec = s
        .k8s_ingress
        .as_ref()
        .and_then(|i| i.get("spec").cloned())
        .unwrap_or_else(|| json!({ "rules": [ { "http": { "paths": [ { "path": "/", "pathType": "Prefix" } ] } } ] }));
    spec["ingressClassName"] = json!("nginx");
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("defaultBackend");
    }
    let paths = spec
        .get_mut("rules")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|rule| {
            rule.pointer_mut("/http/paths")
                .and_then(Value::as_array_mut)
        })
        .flatten();
    for path in paths {
        path["backend"] = json!({ "service": { "name": service, "port": { "number": s.port } } });
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": document(&Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name)),
        "spec": spec
    })
}
