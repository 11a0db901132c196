//! Kubernetes manifests (multi-document YAML with apiVersion and kind, `List`s), Istio,
//! Gateway API, ingress classes, Helm charts, kustomize, templated manifests read leniently, and
//! skaffold's image-to-context links.
//!
//! Istio is recognised by its API groups (`networking.istio.io`, `security.istio.io`), the
//! `istio-injection: enabled` namespace label, or the `istio-system` namespace. An Ingress is
//! NGINX's when `ingressClassName: nginx` or the `kubernetes.io/ingress.class: nginx`
//! annotation says so.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::facts::{
    Container, Credential, Detection, EnvVar, Evidence, Fact, ImageBuild, Ingress, K8sObject,
    K8sWorkload, Warning,
};
use super::yaml::{self, Doc, scalar, str_at};
use super::{dir_of, join_path, validate};

/// Whether a YAML file is a Helm template (under a chart's `templates/`): not YAML until rendered.
pub(super) fn is_helm_template(path: &str, chart_dirs: &[String]) -> bool {
    chart_dirs.iter().any(|chart| {
        let prefix = if chart == "." {
            "templates/".to_string()
        } else {
            format!("{chart}/templates/")
        };
        path.starts_with(&prefix)
    })
}

/// Whether a file name is a templated manifest: `x.yaml.j2`, `x.yml.tmpl`, `x.yaml.tpl`.
/// Called for every file of a codebase: no allocation.
pub(super) fn is_template_name(name: &str) -> bool {
    const TEMPLATE: [&str; 8] = [
        ".j2",
        ".jinja",
        ".jinja2",
        ".tmpl",
        ".tpl",
        ".template",
        ".erb",
        ".in",
    ];
    let bytes = name.as_bytes();
    TEMPLATE.iter().any(|t| {
        bytes.len() > t.len()
            && bytes[bytes.len() - t.len()..].eq_ignore_ascii_case(t.as_bytes())
            && {
                let stem = &bytes[..bytes.len() - t.len()];
                [".yaml", ".yml"].iter().any(|ext| {
                    stem.len() > ext.len()
                        && stem[stem.len() - ext.len()..].eq_ignore_ascii_case(ext.as_bytes())
                })
            }
    })
}

/// Records a `Chart.yaml`.
pub(super) fn chart(path: &str, text: &str, out: &mut Detection) {
    let (docs, warnings) = yaml::documents(path, text);
    out.warnings.extend(warnings);
    let name = docs
        .first()
        .and_then(|d| str_at(&d.value, &["name"]))
        .and_then(|n| validate::name(n).ok())
        .unwrap_or_else(|| "chart".to_string());
    out.kubernetes.helm_charts.push(Fact::new(name, path, 1));
}

/// API groups of objects that are not Kubernetes manifests although they have both fields.
fn foreign(api: &str) -> bool {
    let group = api.split('/').next().unwrap_or("");
    matches!(group, "skaffold" | "tekton.dev" | "backstage.io") || api.starts_with("skaffold/")
}

/// Looks at the manifests of one YAML file. Returns whether any document was a manifest.
pub(super) fn manifests(path: &str, docs: &[Doc<'_>], out: &mut Detection) -> bool {
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
        any |= manifest(path, &doc.value, doc, out);
    }
    any
}

fn manifest(path: &str, value: &Value, doc: &Doc<'_>, out: &mut Detection) -> bool {
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
        return false;
    };
    if foreign(api) {
        if api.starts_with("skaffold/") {
            skaffold(path, value, doc, out);
        }
        return false;
    }
    if kind == "List" {
        let mut any = false;
        for item in value
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            any |= manifest(path, item, doc, out);
        }
        return any;
    }
    let line = doc.line_of_key("kind", None);
    let evidence = Evidence::new(path, line);
    let Some(raw_name) = str_at(value, &["metadata", "name"]) else {
        out.warnings.push(malformed(
            path,
            doc,
            &format!("{kind} without metadata.name"),
        ));
        return true;
    };
    let Some(name) = validate::checked(
        raw_name,
        &evidence,
        "metadata.name",
        validate::name,
        &mut out.warnings,
    ) else {
        return true;
    };
    let namespace = str_at(value, &["metadata", "namespace"]).and_then(|n| validate::name(n).ok());
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    if group.ends_with("istio.io") || namespace.as_deref() == Some("istio-system") {
        out.kubernetes.istio.push(evidence.clone());
    }
    // Progressive-delivery controllers the team already runs: `canaryc plan` follows them.
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
    let targets = match kind {
        "Service" => yaml::get(value, &["spec", "selector"])
            .and_then(Value::as_object)
            .map(|m| {
                let mut t: Vec<String> = m
                    .iter()
                    .filter_map(|(k, v)| scalar(v).map(|v| format!("{k}={v}")))
                    .collect();
                t.sort();
                t
            })
            .unwrap_or_default(),
        "HorizontalPodAutoscaler" => str_at(value, &["spec", "scaleTargetRef", "name"])
            .map(|n| vec![n.to_string()])
            .unwrap_or_default(),
        "HTTPRoute" | "GRPCRoute" => route_backends(value),
        _ => Vec::new(),
    };
    let object = K8sObject {
        kind: kind.to_string(),
        name: name.clone(),
        namespace: namespace.clone(),
        evidence: evidence.clone(),
        replicas,
        targets,
        manifest: (group == "gateway.networking.k8s.io"
            || group == "networking.istio.io"
            || kind == "Service")
            .then(|| value.clone()),
    };
    let pod_spec: &[&str] = match kind {
        "CronJob" => &["spec", "jobTemplate", "spec", "template"],
        _ => &["spec", "template"],
    };
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicationController"
        | "DeploymentConfig"
        | "CronJob"
        | "Job" => match workload(kind, &name, namespace, value, pod_spec, doc, path, out) {
            Some(w) => out.kubernetes.workloads.push(w),
            None => out.warnings.push(malformed(
                path,
                doc,
                &format!("{kind} {name} has no pod template with containers"),
            )),
        },
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
        "Gateway" | "VirtualService" | "DestinationRule" if group == "networking.istio.io" => {
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
    true
}

fn route_backends(value: &Value) -> Vec<String> {
    let mut out: Vec<String> = yaml::get(value, &["spec", "rules"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.get("backendRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|b| str_at(b, &["name"]).map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn malformed(path: &str, doc: &Doc<'_>, what: &str) -> Warning {
    Warning::unreadable(path, doc.line, format!("malformed manifest: {what}"))
}

#[allow(clippy::too_many_arguments)]
fn workload(
    kind: &str,
    name: &str,
    namespace: Option<String>,
    value: &Value,
    pod: &[&str],
    doc: &Doc<'_>,
    path: &str,
    out: &mut Detection,
) -> Option<K8sWorkload> {
    let template = yaml::get(value, pod)?;
    let containers = yaml::get(template, &["spec", "containers"])?.as_array()?;
    let containers: Vec<Container> = containers
        .iter()
        .filter_map(|c| container(c, doc, path, out))
        .collect();
    if containers.is_empty() {
        return None;
    }
    let mut labels: Vec<String> = yaml::get(template, &["metadata", "labels"])
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| scalar(v).map(|v| format!("{k}={v}")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    Some(K8sWorkload {
        kind: kind.to_string(),
        name: name.to_string(),
        namespace,
        replicas: yaml::get(value, &["spec", "replicas"])
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok()),
        labels,
        containers,
        templated: false,
        evidence: Evidence::new(path, doc.line_of_key("kind", None)),
        manifest: Some(value.clone()),
    })
}

fn container(value: &Value, doc: &Doc<'_>, path: &str, out: &mut Detection) -> Option<Container> {
    let name = str_at(value, &["name"])?.to_string();
    let at = |key: &str| Evidence::new(path, doc.line_of_key(key, Some(&format!("name: {name}"))));
    let ports: Vec<u16> = value
        .get("ports")
        .and_then(Value::as_array)
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.get("containerPort").and_then(scalar))
                .filter_map(|p| {
                    validate::checked(
                        &p,
                        &at("containerPort"),
                        "containerPort",
                        validate::port,
                        &mut out.warnings,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut health = None;
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        let Some(http) = yaml::get(value, &[probe, "httpGet"]) else {
            continue;
        };
        for header in http
            .get("httpHeaders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let hname = str_at(header, &["name"]).unwrap_or("");
            let hvalue = str_at(header, &["value"]).unwrap_or("");
            let lower = hname.to_ascii_lowercase();
            if (lower == "authorization"
                || lower.contains("api-key")
                || lower.contains("token")
                || validate::secret_name(hname))
                && !hvalue.is_empty()
            {
                out.credentials.push(Credential {
                    evidence: at("httpHeaders"),
                    what: format!("{probe} header {hname}"),
                    fix: validate::FIX_KUBERNETES.into(),
                });
            }
        }
        if health.is_none() {
            health = str_at(http, &["path"]).and_then(|p| {
                validate::checked(
                    p,
                    &at("path"),
                    "probe path",
                    validate::health_path,
                    &mut out.warnings,
                )
            });
        }
    }
    let mut env = Vec::new();
    let mut secret_refs = Vec::new();
    for var in value
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = str_at(var, &["name"]) {
            let e = Evidence::new(path, doc.line_of(&format!("name: {n}")));
            let literal = var.get("value").and_then(scalar);
            let credential = validate::env_value(
                n,
                literal.as_deref(),
                &e,
                validate::FIX_KUBERNETES,
                &mut out.credentials,
            );
            env.push(EnvVar {
                name: n.to_string(),
                credential,
                evidence: e,
            });
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
    let words = |key: &str| value.get(key).and_then(yaml::command_line);
    let args_only = value.get("command").is_none() && value.get("args").is_some();
    let command = match (words("command"), words("args")) {
        (Some(c), Some(a)) => Some(format!("{c} {a}")),
        (c, a) => c.or(a),
    }
    .and_then(|c| {
        validate::checked(
            &c,
            &at("command"),
            "container command",
            validate::command,
            &mut out.warnings,
        )
    });
    if let Some(c) = &command {
        if let Some(what) = validate::command_credential(c) {
            out.credentials.push(Credential {
                evidence: at("command"),
                what: what.into(),
                fix: validate::FIX_KUBERNETES.into(),
            });
        }
    }
    let image = str_at(value, &["image"]).and_then(|i| {
        validate::checked(i, &at("image"), "image", validate::image, &mut out.warnings)
    });
    let line = |key: &str| {
        if value.get(key).is_some() {
            at(key).line
        } else {
            0
        }
    };
    let probe_line = if health.is_some() { at("path").line } else { 0 };
    let lines = [
        line("image"),
        if ports.is_empty() {
            0
        } else {
            at("containerPort").line
        },
        probe_line,
    ];
    Some(Container {
        lines,
        name,
        image,
        command,
        args_only,
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
    let rules = yaml::get(value, &["spec", "rules"]).and_then(Value::as_array);
    let hosts = rules
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| str_at(r, &["host"]).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut backends: Vec<String> = rules
        .into_iter()
        .flatten()
        .flat_map(|r| {
            yaml::get(r, &["http", "paths"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| {
            str_at(p, &["backend", "service", "name"])
                .or_else(|| str_at(p, &["backend", "serviceName"]))
        })
        .chain(
            str_at(value, &["spec", "defaultBackend", "service", "name"])
                .or_else(|| str_at(value, &["spec", "backend", "serviceName"])),
        )
        .map(str::to_string)
        .collect();
    backends.sort();
    backends.dedup();
    let tls = yaml::get(value, &["spec", "tls"])
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    Ingress {
        name: name.to_string(),
        namespace,
        class,
        hosts,
        tls,
        backends,
        evidence,
        manifest: Some(value.clone()),
    }
}

/// A chart's `values.yaml`: the image it deploys (`image.repository` and `image.tag`).
pub(super) fn chart_values(path: &str, docs: &[Doc<'_>], out: &mut Detection) {
    let Some(doc) = docs.first() else { return };
    // `service.internalPort`: the scaffold `helm create` wrote in Helm 2 (2016-2019), the era of
    // most charts for py2 services (helm/charts' stable/sentry among them).
    for (keys, key) in [
        (&["service", "targetPort"][..], "targetPort"),
        (&["service", "internalPort"][..], "internalPort"),
        (&["containerPort"][..], "containerPort"),
        (&["service", "port"][..], "port"),
    ] {
        if let Some(p) = yaml::get(&doc.value, keys).and_then(scalar) {
            let evidence = Evidence::new(path, doc.line_of_key(key, None));
            if let Some(port) = validate::checked(
                &p,
                &evidence,
                "chart port",
                validate::port,
                &mut out.warnings,
            ) {
                out.kubernetes.helm_ports.push(Fact::at(port, &evidence));
                break;
            }
        }
    }
    let Some(repository) = str_at(&doc.value, &["image", "repository"]) else {
        return;
    };
    let tag = yaml::get(&doc.value, &["image", "tag"]).and_then(scalar);
    let image = match tag {
        Some(t) if !t.is_empty() => format!("{repository}:{t}"),
        _ => repository.to_string(),
    };
    let evidence = Evidence::new(path, doc.line_of_key("repository", None));
    if let Some(image) = validate::checked(
        &image,
        &evidence,
        "chart image",
        validate::image,
        &mut out.warnings,
    ) {
        out.kubernetes.helm_images.push(Fact::at(image, &evidence));
    }
}

/// skaffold's `build.artifacts`: each image and the context it is built from.
fn skaffold(path: &str, value: &Value, doc: &Doc<'_>, out: &mut Detection) {
    let dir = dir_of(path);
    for artifact in yaml::get(value, &["build", "artifacts"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(image) = str_at(artifact, &["image"]).or_else(|| str_at(artifact, &["imageName"]))
        else {
            continue;
        };
        let context = str_at(artifact, &["context"])
            .or_else(|| str_at(artifact, &["workspace"]))
            .unwrap_or(".");
        let Ok(image) = validate::image(image) else {
            continue;
        };
        let context = join_path(dir, context);
        let dockerfile =
            str_at(artifact, &["docker", "dockerfile"]).map(|f| join_path(&context, f));
        out.builds.push(ImageBuild {
            evidence: Evidence::new(path, doc.line_of(&image)),
            image,
            context,
            dockerfile,
            target: str_at(artifact, &["docker", "target"]).map(str::to_string),
            via: "skaffold".into(),
        });
    }
}

static TEMPLATE_KIND: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^kind:\s*(Deployment|StatefulSet|DaemonSet|DeploymentConfig|CronJob|Service|Ingress|HorizontalPodAutoscaler)\s*$")
        .expect("valid regex")
});
/// metadata.name as written, template expressions included.
static TEMPLATE_NAME_WRITTEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^  name:\s*(\S.*?)\s*$").expect("valid regex"));
static TEMPLATE_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^\s*-?\s*(name|image|containerPort|path):\s*["']?([^"'\s#]+)["']?\s*$"#)
        .expect("valid regex")
});

/// A templated manifest, read line by line: the kinds it declares, and for a workload its
/// literal name, image, ports and probe path (templated values are left out).
pub(super) fn template(path: &str, text: &str, chart: Option<&str>, out: &mut Detection) {
    let mut any = false;
    // Documents and the line each starts at.
    let mut chunks: Vec<(usize, String)> = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line.trim_end() == "---" {
            chunks.push((i + 2, String::new()));
        } else if let Some(last) = chunks.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    for (start, chunk) in &chunks {
        let Some(found) = TEMPLATE_KIND.captures(chunk) else {
            continue;
        };
        let kind = found[1].to_string();
        any = true;
        let at = found.get(0).map_or(0, |m| m.start());
        let evidence = Evidence::new(path, start + chunk[..at].matches('\n').count());
        out.kubernetes
            .templates
            .push(Fact::at(kind.clone(), &evidence));
        if !matches!(
            kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "DeploymentConfig" | "CronJob"
        ) {
            continue;
        }
        // metadata.name: the first `name:` two spaces in (not a container's, not a header's).
        let written = TEMPLATE_NAME_WRITTEN
            .captures(chunk)
            .map(|c| c[1].to_string());
        // A literal name: one word, quoted or not, no template expression, no comment.
        let name = written
            .as_deref()
            .map(|v| v.trim_matches(|c| c == '"' || c == '\''))
            .filter(|v| !v.contains(['{', '$', '#', '"', '\'']) && !v.contains(char::is_whitespace))
            .and_then(|v| validate::name(v).ok());
        // `{{ template "fullname" . }}-web`: the chart's name with the literal suffix, so that a
        // chart's web, worker and cron Deployments stay three workloads.
        let suffixed = written.as_deref().and_then(|v| {
            let (_, suffix) = v.rsplit_once("}}")?;
            let suffix = suffix.trim_start_matches('-');
            // `{{ .Release.Name }}-quotes` in the chart `quotes`: the chart's own name.
            let chart = chart?;
            let named = if chart == suffix || chart.ends_with(&format!("-{suffix}")) {
                chart.to_string()
            } else {
                format!("{chart}-{suffix}")
            };
            (!suffix.is_empty() && !suffix.contains("{{"))
                .then(|| validate::name(&named).ok())
                .flatten()
        });
        let name = name.or(suffixed);
        let mut image = None;
        let mut ports = Vec::new();
        let mut health = None;
        for c in TEMPLATE_FIELD.captures_iter(chunk) {
            let value = &c[2];
            if value.contains("{{") || value.contains("{%") || value.contains('$') {
                continue;
            }
            match &c[1] {
                "image" if image.is_none() => image = validate::image(value).ok(),
                "containerPort" => ports.extend(validate::port(value).ok()),
                "path" if health.is_none() => health = validate::health_path(value).ok(),
                _ => {}
            }
        }
        let stem = path
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .split('.')
            .next()
            .unwrap_or("app")
            .to_string();
        let name = name
            .or_else(|| chart.map(str::to_string))
            .unwrap_or_else(|| stem.clone());
        let http_probe = chunk.contains("httpGet");
        out.kubernetes.workloads.push(K8sWorkload {
            kind,
            name: name.clone(),
            namespace: None,
            replicas: None,
            labels: Vec::new(),
            containers: vec![Container {
                name,
                image,
                command: None,
                args_only: false,
                ports,
                health: health.filter(|_| http_probe),
                env: Vec::new(),
                secret_refs: Vec::new(),
                lines: [0; 3],
            }],
            templated: true,
            evidence,
            manifest: None,
        });
    }
    if !any {
        out.skipped.push(super::facts::Skipped {
            path: path.to_string(),
            reason: "template without a Kubernetes workload kind".into(),
        });
    }
}
