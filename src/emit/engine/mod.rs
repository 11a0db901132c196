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
//! This module holds what the Kubernetes engines share: object metadata, the pod template
//! with the app container named per copy, the clones of the team's Ingress and HTTPRoute that
//! rewrite only the backends of this service, and the merge patch that starts a canary.

pub mod analysis;
pub(crate) mod argo;
pub(crate) mod compose_loop;
pub(crate) mod docs;
pub(crate) mod flagger;
pub mod promote;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::emit::{OutputFile, file, kubernetes, yaml};
use crate::ir::{Interpreter, Ir, PodsIr, ServiceIr};

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

/// The pod template of one copy for an engine: the plain Deployment's clone (env, secret
/// references, probes, resources; `version: py2|py3`), with the app container named per copy
/// (`ObservedIr::pods`): an engine's two copies share one pod-name prefix, so the monitoring
/// tells them apart by container. References to the container by name move with it.
pub(crate) fn pod_template(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Value {
    pod_template_of(s, kubernetes::deployment(ir, s, copy), copy)
}

/// [`pod_template`] of the copy's Deployment as `kubernetes::deployment` cloned it.
pub(crate) fn pod_template_of(s: &ServiceIr, mut deployment: Value, copy: Interpreter) -> Value {
    let mut template = deployment
        .pointer_mut("/spec/template")
        .map(Value::take)
        .unwrap_or(Value::Null);
    if let PodsIr::Container(names) = &s.kube.observed.pods {
        let renamed = names.get(copy).to_string();
        let old = template
            .pointer_mut("/spec/containers/0/name")
            .map(|n| std::mem::replace(n, json!(renamed)));
        if let Some(Value::String(old)) = old {
            rename_container_refs(&mut template, &old, &renamed);
        }
    }
    template
}

/// `containerName: OLD` (downward API `resourceFieldRef`s) to `NEW`, anywhere in a pod spec.
fn rename_container_refs(v: &mut Value, old: &str, new: &str) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "containerName" && child.as_str() == Some(old) {
                    *child = json!(new);
                } else {
                    rename_container_refs(child, old, new);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|c| rename_container_refs(c, old, new)),
        _ => {}
    }
}

/// Metadata of a team object to re-apply: theirs, less what the API server owns.
fn team_metadata(object: &Value, namespace: &str) -> Value {
    let mut meta = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        kubernetes::strip_server_fields(m);
        m.insert("namespace".into(), json!(namespace));
    }
    meta
}

/// The team's Ingress spec with every backend of this service (`s.kube.service`) sent to
/// `backend` on `port`, and everything else (hosts, other services' paths, TLS) as written;
/// a catch-all spec when the team has none. With `only_this_service`, the paths to other
/// services are left out (a canary Ingress must not re-weight them).
pub(crate) fn ingress_spec(
    s: &ServiceIr,
    backend: &str,
    port: u16,
    only_this_service: bool,
) -> Value {
    let service = s.kube.service.as_str();
    let to_backend = json!({ "service": { "name": backend, "port": { "number": port } } });
    let Some(mut spec) = s.k8s_ingress.as_ref().and_then(|i| i.get("spec").cloned()) else {
        return json!({
            "ingressClassName": "nginx",
            "rules": [ { "http": { "paths": [ { "path": "/", "pathType": "Prefix", "backend": to_backend } ] } } ]
        });
    };
    let ours = |b: &Value| b.pointer("/service/name").and_then(Value::as_str) == Some(service);
    if let Some(obj) = spec.as_object_mut() {
        match obj.get("defaultBackend") {
            Some(b) if ours(b) => {
                obj.insert("defaultBackend".into(), to_backend.clone());
            }
            Some(_) if only_this_service => {
                obj.remove("defaultBackend");
            }
            _ => {}
        }
    }
    if let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) {
        for rule in rules.iter_mut() {
            if let Some(paths) = rule
                .pointer_mut("/http/paths")
                .and_then(Value::as_array_mut)
            {
                if only_this_service {
                    paths.retain(|p| p.get("backend").is_some_and(ours));
                }
                for path in paths.iter_mut() {
                    if path.get("backend").is_some_and(ours) {
                        path["backend"] = to_backend.clone();
                    }
                }
            }
        }
        if only_this_service {
            rules.retain(|r| {
                r.pointer("/http/paths")
                    .and_then(Value::as_array)
                    .is_some_and(|p| !p.is_empty())
            });
        }
    }
    spec
}

/// The team's Ingress, re-applied with this service's backends sent to `backend` (an engine's
/// stable Service, or Flagger's apex): its name, class, annotations (auth, rewrites, TLS
/// redirects) and other services' paths are theirs. Without one, a catch-all Ingress named
/// after the service.
pub(crate) fn team_ingress(ir: &Ir, s: &ServiceIr, backend: &str) -> Value {
    let port = s.kube.service_port;
    let metadata = s.k8s_ingress.as_ref().map_or_else(
        || document(&Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name)),
        |i| team_metadata(i, &ir.namespace),
    );
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": ingress_spec(s, backend, port, false)
    })
}

/// The name of the Ingress an engine manages as the stable one.
pub(crate) fn team_ingress_name(s: &ServiceIr) -> String {
    s.k8s_ingress
        .as_ref()
        .and_then(|i| i.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .map_or_else(|| s.name.clone(), str::to_string)
}

/// The team's HTTPRoute, re-applied with each backendRef to this service replaced by
/// `backends` (rules' matches and filters, other services' backends, parents and hostnames
/// kept); a route named after the service with one catch-all rule when the team has none, or
/// when theirs has no backend of this service (their parents and hostnames kept).
pub(crate) fn team_route(ir: &Ir, s: &ServiceIr, backends: &[Value]) -> Value {
    let service = s.kube.service.as_str();
    let team = s.k8s_route.as_ref();
    let routes_here = team.is_some_and(|r| crate::ir::route_routes_to(r, service));
    let mut spec = team
        .and_then(|r| r.get("spec").cloned())
        .unwrap_or_else(|| json!({}));
    if spec.get("parentRefs").is_none() {
        spec["parentRefs"] = json!([ { "name": format!("{}-gateway", ir.name) } ]);
    }
    if routes_here {
        if let Some(rules) = spec.get_mut("rules").and_then(Value::as_array_mut) {
            for rule in rules {
                let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else {
                    continue;
                };
                if !refs.iter().any(|b| crate::ir::is_service_ref(b, service)) {
                    continue;
                }
                let mut out: Vec<Value> = Vec::new();
                for b in refs.drain(..) {
                    if crate::ir::is_service_ref(&b, service) {
                        // Filters on the team's backend apply to both copies.
                        for ours in backends {
                            let mut ours = ours.clone();
                            if let Some(f) = b.get("filters") {
                                ours["filters"] = f.clone();
                            }
                            out.push(ours);
                        }
                    } else {
                        out.push(b);
                    }
                }
                *refs = out;
            }
        }
    } else {
        spec["rules"] = json!([ { "backendRefs": backends } ]);
    }
    let metadata = match team.filter(|_| routes_here) {
        Some(r) => team_metadata(r, &ir.namespace),
        None => document(&Meta::new(s.name.clone(), &ir.namespace).label("app", &s.name)),
    };
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": metadata,
        "spec": spec
    })
}

/// An RFC 7386 JSON merge patch that turns `from` into `to`: changed values (lists whole),
/// `null` for keys `to` lacks.
pub fn merge_patch(from: &Value, to: &Value) -> Option<Value> {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, v) in b {
                match a.get(k) {
                    Some(old) => {
                        if let Some(p) = merge_patch(old, v) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (a, b) if a == b => None,
        (_, b) => Some(b.clone()),
    }
}

/// RFC 7386: what `kubectl patch --type merge` does with a patch.
pub fn apply_merge_patch(target: &Value, patch: &Value) -> Value {
    match patch {
        Value::Object(p) => {
            let mut out = target.as_object().cloned().unwrap_or_default();
            for (k, v) in p {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = apply_merge_patch(out.get(k).unwrap_or(&Value::Null), v);
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The file that starts the canary of one service: `patch`, the merge patch from the py2
/// object to the py3 one ([`merge_patch`]; `None`: they are the same), applied with `kubectl patch`. A second manifest of the same object would make
/// `kubectl apply -f DIR` apply both (the later one wins) and Argo CD report a duplicate; a
/// `.patch` file is neither (kubectl and Argo CD read `.yaml`, `.yml` and `.json`).
pub(crate) fn canary_patch(
    ir: &Ir,
    s: &ServiceIr,
    name: String,
    command: &str,
    patch: Option<Value>,
) -> OutputFile {
    let patch = patch.unwrap_or_else(|| json!({}));
    file(
        name,
        &format!(
            "the change from py2 to py3 of {}, as a merge patch; `{command}` starts the canary",
            s.name
        ),
        format!(
            "# {} canary: py2 -> py3 for {}. Start the canary with:\n#   {command}\n# Generated by canaryc from canary.plan: change the plan and rebuild.\n{}",
            ir.name,
            s.name,
            yaml::to_string(&patch)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_turns_one_object_into_the_other() {
        let a = json!({ "spec": { "template": { "metadata": { "labels": { "version": "py2", "app": "x" } }, "spec": { "containers": [ { "name": "x-py2", "image": "i:2" } ], "gone": 1 } } } });
        let b = json!({ "spec": { "template": { "metadata": { "labels": { "version": "py3", "app": "x" } }, "spec": { "containers": [ { "name": "x-py3", "image": "i:3" } ] } } } });
        let patch = merge_patch(&a, &b).unwrap();
        assert_eq!(patch["spec"]["template"]["spec"]["gone"], Value::Null);
        assert!(
            patch["spec"]["template"]["metadata"]["labels"]
                .get("app")
                .is_none()
        );
        assert_eq!(apply_merge_patch(&a, &patch), b);
        assert_eq!(merge_patch(&a, &a), None);
    }

    #[test]
    fn container_references_move_with_the_container() {
        let mut pod = json!({ "spec": { "containers": [ { "name": "app", "env": [ { "name": "LIMIT", "valueFrom": { "resourceFieldRef": { "containerName": "app", "resource": "limits.memory" } } } ] } ] } });
        rename_container_refs(&mut pod, "app", "shop-py3");
        assert_eq!(
            pod.pointer("/spec/containers/0/env/0/valueFrom/resourceFieldRef/containerName"),
            Some(&json!("shop-py3"))
        );
    }
}
