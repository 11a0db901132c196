//! Kubernetes manifests (multi-document YAML with apiVersion and kind), Istio, Gateway API,
//! ingress classes, Helm charts and kustomize.
//!
//! Istio is recognised by its API groups (`networking.istio.io`, `security.istio.io`), the
//! `istio-injection: enabled` namespace label, or the `istio-system` namespace. An Ingress is
//! NGINX's when `ingressClassName: nginx` or the `kubernetes.io/ingress.class: nginx`
//! annotation says so.

use serde_json::Value;

use super::facts::{Container, Detection, Evidence, Fact, Ingress, K8sObject, Warning, Workload};
use super::yaml::{self, Doc, scalar, str_at};

/// Whether a YAML file is a Helm template (under a chart's `templates/`): not YAML until rendered.
pub fn is_helm_template(path: &str, chart_dirs: &[String]) -> bool {
    chart_dirs.iter().any(|chart| {
        let prefix = if chart == "." {
            "templates/".to_string()
        } else {
            format!("{chart}/templates/")
        };
        path.starts_with(&prefix)
    })
}

/// Records a `Chart.yaml`.
pub fn chart(path: &str, text: &str, out: &mut Detection) {
    let (docs, warnings) = yaml::documents(path, text);
    out.warnings.extend(warnings);
    let name = docs
        .first()
        .and_then(|d| str_at(&d.value, &["name"]))
        .unwrap_or("chart")
        .to_string();
    out.kubernetes.helm_charts.push(Fact::new(name, path, 1));
}

/// Looks at the manifests of one YAML file. Returns whether any document was a manifest.
pub fn manifests(path: &str, docs: &[Doc<'_>], out: &mut Detection) -> bool {
    let mut any = false;
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if matches!(
        file_name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    ) {
        out.kubernetes.kustomizations.push(Evidence::new(path, 1));
        any = true;
    }
    for doc in docs {
        let value = &doc.value;
        let (api, kind) = (str_at(value, &["apiVersion"]), str_at(value, &["kind"]));
        let (Some(api), Some(kind)) = (api, kind) else {
            // A mapping with only one of the two is a manifest gone wrong.
            if value.get("kind").is_some() || value.get("apiVersion").is_some() {
                out.warnings.push(malformed(
                    path,
                    doc,
                    "has `kind` or `apiVersion` but not both",
                ));
            }
            continue;
        };
        any = true;
        let line = doc.line_of("kind:");
        let evidence = Evidence::new(path, line);
        let Some(name) = str_at(value, &["metadata", "name"]).map(str::to_string) else {
            out.warnings.push(malformed(
                path,
                doc,
                &format!("{kind} without metadata.name"),
            ));
            continue;
        };
        let namespace = str_at(value, &["metadata", "namespace"]).map(str::to_string);
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        if group.ends_with("istio.io") || namespace.as_deref() == Some("istio-system") {
            out.kubernetes.istio.push(evidence.clone());
        }
        let engine = match group {
            "flagger.app" => Some("flagger"),
            "argoproj.io" if kind != "Application" && kind != "AppProject" => Some("argo-rollouts"),
            _ => None,
        };
        if let Some(engine) = engine {
            out.kubernetes
                .engines
                .push(Fact::new(engine.to_string(), path, line));
        }
        let replicas = (kind == "HorizontalPodAutoscaler")
            .then(|| {
                let min = yaml::get(value, &["spec", "minReplicas"])
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                let max = yaml::get(value, &["spec", "maxReplicas"]).and_then(Value::as_u64)?;
                Some((u32::try_from(min).ok()?, u32::try_from(max).ok()?))
            })
            .flatten();
        let object = K8sObject {
            kind: kind.to_string(),
            name: name.clone(),
            namespace: namespace.clone(),
            evidence: evidence.clone(),
            replicas,
            manifest: (group == "gateway.networking.k8s.io"
                || group == "networking.istio.io"
                || kind == "Service")
                .then(|| value.clone()),
        };
        match kind {
            "Deployment" | "StatefulSet" | "DaemonSet" => {
                match workload(kind, &name, namespace, value, doc, path) {
                    Some(w) => out.kubernetes.workloads.push(w),
                    None => out.warnings.push(malformed(
                        path,
                        doc,
                        &format!("{kind} {name} has no spec.template.spec.containers"),
                    )),
                }
            }
            "Service" => out.kubernetes.services.push(object),
            "HorizontalPodAutoscaler" => out.kubernetes.autoscalers.push(object),
            "Ingress" => out
                .kubernetes
                .ingresses
                .push(ingress(&name, namespace, value, evidence)),
            "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute"
                if group == "gateway.networking.k8s.io" =>
            {
                out.kubernetes.routes.push(object);
            }
            "Gateway" | "VirtualService" if group == "networking.istio.io" => {
                out.kubernetes.istio_objects.push(object);
            }
            "Namespace" => {
                if str_at(value, &["metadata", "labels", "istio-injection"]) == Some("enabled") {
                    out.kubernetes
                        .istio
                        .push(Evidence::new(path, doc.line_of("istio-injection")));
                }
                out.kubernetes.namespaces.push(Fact::new(name, path, line));
            }
            _ => {}
        }
    }
    any
}

fn malformed(path: &str, doc: &Doc<'_>, what: &str) -> Warning {
    Warning {
        file: path.to_string(),
        line: u32::try_from(doc.line).unwrap_or(u32::MAX),
        message: format!("malformed manifest: {what}"),
    }
}

fn workload(
    kind: &str,
    name: &str,
    namespace: Option<String>,
    value: &Value,
    doc: &Doc<'_>,
    path: &str,
) -> Option<Workload> {
    let containers = yaml::get(value, &["spec", "template", "spec", "containers"])?.as_array()?;
    let containers = containers.iter().filter_map(container).collect::<Vec<_>>();
    if containers.is_empty() {
        return None;
    }
    Some(Workload {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace,
        replicas: yaml::get(value, &["spec", "replicas"])
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok()),
        containers,
        evidence: Evidence::new(path, doc.line_of("kind:")),
        manifest: Some(value.clone()),
    })
}

fn container(value: &Value) -> Option<Container> {
    let name = str_at(value, &["name"])?.to_string();
    let ports = value
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("containerPort").and_then(scalar))
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let health = ["readinessProbe", "livenessProbe", "startupProbe"]
        .iter()
        .find_map(|probe| str_at(value, &[probe, "httpGet", "path"]))
        .map(str::to_string);
    let mut env = Vec::new();
    let mut secret_refs = Vec::new();
    for var in value
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = str_at(var, &["name"]) {
            env.push(n.to_string());
        }
        if let Some(secret) = str_at(var, &["valueFrom", "secretKeyRef", "name"]) {
            secret_refs.push(secret.to_string());
        }
    }
    for from in value
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(secret) = str_at(from, &["secretRef", "name"]) {
            secret_refs.push(secret.to_string());
        }
    }
    secret_refs.sort();
    secret_refs.dedup();
    Some(Container {
        name,
        image: str_at(value, &["image"]).map(str::to_string),
        ports,
        health,
        env,
        secret_refs,
    })
}

fn ingress(name: &str, namespace: Option<String>, value: &Value, evidence: Evidence) -> Ingress {
    let class = str_at(value, &["spec", "ingressClassName"])
        .or_else(|| {
            str_at(
                value,
                &["metadata", "annotations", "kubernetes.io/ingress.class"],
            )
        })
        .map(str::to_string);
    let hosts = yaml::get(value, &["spec", "rules"])
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| str_at(r, &["host"]).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let tls = yaml::get(value, &["spec", "tls"])
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    Ingress {
        name: name.to_string(),
        namespace,
        class,
        hosts,
        tls,
        evidence,
        manifest: Some(value.clone()),
    }
}

/// A chart's `values.yaml`: the image it deploys (`image.repository` and `image.tag`).
pub fn chart_values(path: &str, docs: &[Doc<'_>], out: &mut Detection) {
    let Some(doc) = docs.first() else { return };
    let Some(repository) = str_at(&doc.value, &["image", "repository"]) else {
        return;
    };
    let tag = yaml::get(&doc.value, &["image", "tag"]).and_then(scalar);
    let image = match tag {
        Some(t) if !t.is_empty() => format!("{repository}:{t}"),
        _ => repository.to_string(),
    };
    out.kubernetes
        .helm_images
        .push(Fact::new(image, path, doc.line_of("repository:")));
}
