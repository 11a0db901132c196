//! Kubernetes: a Deployment, Service and HPA (autoscaling/v2) per copy, cloned from the team's
//! own Deployment when detection found one (env, secret references, resources, probes, volumes,
//! security context are kept; `version: py2|py3` is added to labels and selectors; py3 gets its
//! image and runtime environment), plus the router's objects: Istio VirtualService and
//! DestinationRule, ingress-nginx primary and canary Ingresses, or a Gateway API HTTPRoute.

use serde_json::{Map, Value, json};

use super::escape::{kubernetes::literal, regex};
use super::{OutputFile, file, yaml};
use crate::ir::{ComparatorIr, ComparatorTarget, Copy, EnvVar, Ir, Placement, ServiceIr, weights};
use crate::model::{InfraKind, Router, StickyBy};

pub fn files(ir: &Ir, router: Router) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for copy in [Copy::Py2, Copy::Py3] {
        let docs: Vec<Value> = ir
            .services
            .iter()
            .flat_map(|s| {
                [
                    deployment(ir, s, copy),
                    service(ir, s, copy),
                    autoscaler(ir, s, copy),
                ]
            })
            .collect();
        out.push(file(
            format!("k8s-deployment-{}.yaml", copy.as_str()),
            match copy {
                Copy::Py2 => "Kubernetes: the py2 copy (Deployment, Service, HPA), cloned from the current Deployment",
                Copy::Py3 => "Kubernetes: the py3 copy (Deployment, Service, HPA) with its image and runtime settings",
            },
            header(ir, &docs),
        ));
    }
    match router {
        Router::Istio => {
            let docs: Vec<Value> = ir.services.iter().flat_map(|s| istio(ir, s)).collect();
            out.push(file(
                "k8s-virtual-service.yaml",
                "Istio VirtualService (first stage's weights) and DestinationRule with py2/py3 subsets",
                header(ir, &docs),
            ));
        }
        Router::NginxIngress => {
            let docs: Vec<Value> = ir.services.iter().flat_map(|s| ingresses(ir, s)).collect();
            out.push(file(
                "k8s-ingress.yaml",
                "ingress-nginx primary and canary Ingresses (canary-weight annotations)",
                header(ir, &docs),
            ));
        }
        Router::GatewayApi => {
            let docs: Vec<Value> = ir.services.iter().flat_map(|s| http_route(ir, s)).collect();
            out.push(file(
                "k8s-httproute.yaml",
                "Gateway API HTTPRoute with weighted py2/py3 backendRefs",
                header(ir, &docs),
            ));
        }
        Router::Haproxy | Router::Nginx => {}
    }
    let compare: Vec<Value> = ir
        .services
        .iter()
        .filter_map(|s| mirror_target(s).map(|c| (s, c)))
        .flat_map(|(s, (c, t))| comparator(ir, s, c, t))
        .collect();
    if !compare.is_empty() {
        out.push(file(
            "k8s-compare.yaml",
            "the response comparator (canaryc compare) and the second py2 copy it learns noise from; the VirtualService mirrors safe requests to it",
            header(ir, &compare),
        ));
    }
    out
}

/// The comparator Istio mirrors this service's traffic to, if any.
pub(crate) fn mirror_target(s: &ServiceIr) -> Option<(&ComparatorIr, &ComparatorTarget)> {
    let c = s.compare.as_ref()?;
    let t = c.target(InfraKind::Kubernetes)?;
    matches!(t.placement, Placement::Mirror { .. }).then_some((c, t))
}

/// The ConfigMap holding the plan the comparator reads its `compare` section from; the
/// runbook creates it from canary.plan.
pub(crate) fn plan_config_map(c: &ComparatorIr) -> String {
    format!("{}-plan", c.name)
}

/// The second py2 copy (py2's Deployment under its own name and `version: py2-secondary`, so
/// neither the py2 Service nor the py2 subset selects it) and its Service; the comparator's
/// Deployment and Service.
fn comparator(ir: &Ir, s: &ServiceIr, c: &ComparatorIr, t: &ComparatorTarget) -> Vec<Value> {
    let mut secondary = deployment(ir, s, Copy::Py2);
    let secondary_labels = {
        let mut m = Map::new();
        m.insert("app".into(), json!(s.name));
        m.insert("version".into(), json!("py2-secondary"));
        m
    };
    secondary["metadata"]["name"] = json!(c.secondary);
    for path in [
        &["metadata", "labels"][..],
        &["spec", "selector", "matchLabels"],
        &["spec", "template", "metadata", "labels"],
    ] {
        object_at(&mut secondary, path).extend(secondary_labels.clone());
    }
    // One pod is enough to learn what py2 disagrees with itself on.
    secondary["spec"]["replicas"] = json!(1);
    let service_for = |name: &str, labels: &Map<String, Value>, ports: Value| {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": name, "namespace": ir.namespace, "labels": labels },
            "spec": { "selector": labels, "ports": ports }
        })
    };
    let http =
        json!([ { "name": "http", "port": s.port, "targetPort": s.port, "protocol": "TCP" } ]);
    let mut compare_labels = Map::new();
    compare_labels.insert("app".into(), json!(s.name));
    compare_labels.insert("version".into(), json!("comparator"));
    let admin = crate::ir::compare::ADMIN_PORT;
    let args: Vec<Value> = [
        "compare",
        "--listen",
        &t.listen,
        "--admin",
        &t.admin,
        "--primary",
        &t.primary,
        "--secondary",
        &t.secondary,
        "--candidate",
        &t.candidate,
        "--plan",
        "/etc/canaryc/canary.plan",
        "--service",
        &s.name,
    ]
    .into_iter()
    .chain(t.sample_flag.iter().flat_map(|p| ["--sample", p.as_str()]))
    .map(|a| json!(literal(a)))
    .collect();
    let comparator = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": c.name, "namespace": ir.namespace, "labels": compare_labels },
        "spec": {
            // One comparator: the noise it learns is per process.
            "replicas": 1,
            "selector": { "matchLabels": compare_labels },
            "template": {
                "metadata": {
                    "labels": compare_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": admin.to_string(),
                        "prometheus.io/path": "/metrics"
                    }
                },
                "spec": {
                    // SIGTERM lets the comparisons in flight finish (`--grace`, 10s).
                    "terminationGracePeriodSeconds": 15,
                    "containers": [ {
                        "name": "compare",
                        "image": c.image,
                        "command": ["canaryc"],
                        "args": args,
                        "ports": [
                            { "name": "http", "containerPort": s.port, "protocol": "TCP" },
                            { "name": "metrics", "containerPort": admin, "protocol": "TCP" }
                        ],
                        "readinessProbe": { "httpGet": { "path": "/healthz", "port": admin }, "periodSeconds": 10 },
                        "livenessProbe": { "httpGet": { "path": "/healthz", "port": admin }, "periodSeconds": 10, "failureThreshold": 3 },
                        "resources": {
                            "requests": { "cpu": "100m", "memory": "64Mi" },
                            "limits": { "memory": "256Mi" }
                        },
                        "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true, "runAsUser": 65534 },
                        "volumeMounts": [ { "name": "plan", "mountPath": "/etc/canaryc", "readOnly": true } ]
                    } ],
                    "volumes": [ { "name": "plan", "configMap": { "name": plan_config_map(c) } } ]
                }
            }
        }
    });
    let compare_ports = json!([
        { "name": "http", "port": s.port, "targetPort": s.port, "protocol": "TCP" },
        { "name": "http-metrics", "port": admin, "targetPort": admin, "protocol": "TCP" }
    ]);
    vec![
        secondary,
        service_for(&c.secondary, &secondary_labels, http),
        comparator,
        service_for(&c.name, &compare_labels, compare_ports),
    ]
}

pub(super) fn header(ir: &Ir, docs: &[Value]) -> String {
    format!(
        "# {} canary, Python {} -> {}. Generated by canaryc from canary.plan: change the plan and rebuild.\n{}",
        ir.name,
        ir.python_from,
        ir.python_to,
        yaml::documents(docs)
    )
}

fn labels(s: &ServiceIr, copy: Copy) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("app".into(), json!(s.name));
    m.insert("version".into(), json!(copy.as_str()));
    m
}

/// Replicas for a copy at the first stage: py3 gets its share of py2's count, at least one.
fn replicas(ir: &Ir, s: &ServiceIr, copy: Copy) -> u32 {
    match copy {
        Copy::Py2 => s.replicas,
        Copy::Py3 => {
            let share = ir.stages.first().map_or(1.0, |st| st.traffic / 100.0);
            ((f64::from(s.replicas) * share).ceil() as u32).max(1)
        }
    }
}

fn env_list(vars: &[EnvVar]) -> Vec<Value> {
    vars.iter()
        // Kubernetes expands `$(VAR)` in env values: the plan's values are literal.
        .map(|e| json!({ "name": e.name, "value": literal(&e.value) }))
        .collect()
}

/// Metadata the API server owns, which never belongs in a manifest of the team's object.
pub(super) fn strip_server_fields(meta: &mut Map<String, Value>) {
    for key in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "selfLink",
    ] {
        meta.remove(key);
    }
    if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
        annotations.remove("deployment.kubernetes.io/revision");
        if annotations.is_empty() {
            meta.remove("annotations");
        }
    }
}

pub(super) fn deployment(ir: &Ir, s: &ServiceIr, copy: Copy) -> Value {
    let mut d = s.k8s_deployment.clone().unwrap_or_else(|| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {},
            "spec": { "selector": { "matchLabels": {} }, "template": { "metadata": {}, "spec": { "containers": [ { "name": s.name } ] } } }
        })
    });
    // Fields the API server owns never belong in a manifest.
    if let Some(obj) = d.as_object_mut() {
        obj.remove("status");
        // Deployments left the beta groups in Kubernetes 1.16: a clone of an old manifest
        // moves to apps/v1 (its required selector is set below).
        let beta = ["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"];
        if obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| beta.contains(&v))
        {
            obj.insert("apiVersion".into(), json!("apps/v1"));
        }
    }
    let name = s.object(copy);
    let meta = object_at(&mut d, &["metadata"]);
    strip_server_fields(meta);
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ir.namespace));
    let meta_labels = object_at(&mut d, &["metadata", "labels"]);
    meta_labels.extend(labels(s, copy));
    object_at(&mut d, &["spec", "selector", "matchLabels"]).extend(labels(s, copy));
    object_at(&mut d, &["spec", "template", "metadata", "labels"]).extend(labels(s, copy));
    object_at(&mut d, &["spec"]).insert("replicas".into(), json!(replicas(ir, s, copy)));
    let env = match copy {
        Copy::Py2 => &s.env_py2,
        Copy::Py3 => &s.env_py3,
    };
    let pod = object_at(&mut d, &["spec", "template", "spec"]);
    let containers = pod.entry("containers").or_insert_with(|| json!([]));
    if let Some(list) = containers.as_array_mut() {
        if list.is_empty() {
            list.push(json!({ "name": s.name }));
        }
        if let Some(Value::Object(c)) = list.first_mut() {
            container(c, s, copy, env);
        }
    }
    d
}

/// The app container: image, port, environment, resources, probes.
fn container(c: &mut Map<String, Value>, s: &ServiceIr, copy: Copy, env: &[EnvVar]) {
    let image = match copy {
        Copy::Py2 => s.image_py2.clone(),
        Copy::Py3 => s.image_py3.clone(),
    };
    if let Some(image) = image {
        c.insert("image".into(), json!(image));
    }
    let has_port = c.get("ports").and_then(Value::as_array).is_some_and(|p| {
        p.iter()
            .any(|p| p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(s.port)))
    });
    if !has_port {
        let ports = c.entry("ports").or_insert_with(|| json!([]));
        if let Some(list) = ports.as_array_mut() {
            let named = list.iter().any(|p| p.get("name") == Some(&json!("http")));
            let mut port = json!({ "containerPort": s.port, "protocol": "TCP" });
            if !named {
                port["name"] = json!("http");
            }
            list.push(port);
        }
    }
    // Environment: the team's entries, with ours replacing any of the same name.
    let list = c.entry("env").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.retain(|e| {
            let name = e.get("name").and_then(Value::as_str).unwrap_or("");
            env.iter().all(|ours| ours.name != name)
        });
        list.extend(env_list(env));
    }
    if s.cpu_millis.is_some() || s.memory_bytes.is_some() {
        let mut amounts = Map::new();
        if let Some(cpu) = s.cpu_millis {
            amounts.insert("cpu".into(), json!(format!("{cpu}m")));
        }
        if let Some(mem) = s.memory_bytes {
            amounts.insert("memory".into(), json!(memory(mem)));
        }
        c.insert(
            "resources".into(),
            json!({ "requests": amounts, "limits": amounts }),
        );
    }
    let probe = match &s.health {
        Some(path) => {
            json!({ "httpGet": { "path": path, "port": s.port }, "periodSeconds": 10, "failureThreshold": 3 })
        }
        None => {
            json!({ "tcpSocket": { "port": s.port }, "periodSeconds": 10, "failureThreshold": 3 })
        }
    };
    // py3 imports cold (no .pyc yet on a fresh image): give readiness room to start.
    let mut readiness = probe.clone();
    readiness["initialDelaySeconds"] = json!(5);
    c.entry("readinessProbe").or_insert(readiness);
    c.entry("livenessProbe").or_insert(probe);
}

/// `512Mi` for exact binary sizes, plain bytes otherwise.
fn memory(bytes: u64) -> String {
    for (unit, size) in [("Gi", 1u64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

fn object_at<'v>(value: &'v mut Value, path: &[&str]) -> &'v mut Map<String, Value> {
    let mut current = value;
    for key in path {
        if !current.is_object() {
            *current = json!({});
        }
        current = current
            .as_object_mut()
            .map(|m| m.entry((*key).to_string()).or_insert_with(|| json!({})))
            .expect("an object, made one above");
    }
    if !current.is_object() {
        *current = json!({});
    }
    current.as_object_mut().expect("an object, made one above")
}

fn service(ir: &Ir, s: &ServiceIr, copy: Copy) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": s.object(copy), "namespace": ir.namespace, "labels": labels(s, copy) },
        "spec": {
            "selector": labels(s, copy),
            "ports": [ { "name": "http", "port": s.port, "targetPort": s.port, "protocol": "TCP" } ]
        }
    })
}

fn autoscaler(ir: &Ir, s: &ServiceIr, copy: Copy) -> Value {
    let (min, max) = s
        .k8s_autoscaler
        .unwrap_or((s.replicas, (s.replicas * 3).max(3)));
    let min = match copy {
        Copy::Py2 => min.max(1),
        Copy::Py3 => 1,
    };
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": s.object(copy), "namespace": ir.namespace, "labels": labels(s, copy) },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": s.object(copy) },
            "minReplicas": min,
            "maxReplicas": max.max(min),
            "metrics": [ { "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } } ]
        }
    })
}

/// Weights total: 100, or 1000 when a stage asks for a fraction of a percent.
fn total(ir: &Ir) -> u32 {
    if ir.stages.iter().any(|s| s.traffic.fract() != 0.0) {
        1000
    } else {
        100
    }
}

fn first_weights(ir: &Ir) -> (u32, u32) {
    weights(ir.stages.first().map_or(0.0, |s| s.traffic), total(ir))
}

fn apex_service(ir: &Ir, s: &ServiceIr) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": s.name, "namespace": ir.namespace, "labels": { "app": s.name } },
        "spec": {
            "selector": { "app": s.name },
            "ports": [ { "name": "http", "port": s.port, "targetPort": s.port, "protocol": "TCP" } ]
        }
    })
}

fn set_cookie(name: &str, copy: Copy) -> String {
    format!("{name}={}; Path=/; Max-Age=86400; HttpOnly", copy.as_str())
}

/// A regex on the Cookie header matching `NAME=VALUE` anywhere in it.
fn cookie_regex(name: &str, copy: Copy) -> String {
    format!(
        "^(.*;\\s*)?{}={}(;.*)?$",
        regex::literal(name),
        copy.as_str()
    )
}

fn istio(ir: &Ir, s: &ServiceIr) -> Vec<Value> {
    let (w2, w3) = first_weights(ir);
    let dest = |copy: Copy, weight: Option<u32>| {
        // The port of the Service the host names (Istio's Destination.port), not the container's.
        let mut d = json!({ "destination": { "host": s.name, "subset": copy.as_str(), "port": { "number": s.kube.service_port } } });
        if let Some(w) = weight {
            d["weight"] = json!(w);
        }
        if let Some(sticky) = ir.sticky.as_ref().filter(|st| st.by == StickyBy::Cookie) {
            d["headers"] =
                json!({ "response": { "add": { "Set-Cookie": set_cookie(&sticky.name, copy) } } });
        }
        d
    };
    let retries = json!({ "attempts": 2, "perTryTimeout": "5s", "retryOn": "gateway-error,connect-failure,refused-stream" });
    let mut http = Vec::new();
    if let Some(sticky) = ir.sticky.as_ref().filter(|st| st.by == StickyBy::Cookie) {
        // Users already pinned by the cookie stay where they are (Flagger's session affinity).
        for copy in [Copy::Py3, Copy::Py2] {
            http.push(json!({
                "name": format!("pinned-{}", copy.as_str()),
                "match": [ { "headers": { "cookie": { "regex": cookie_regex(&sticky.name, copy) } } } ],
                "route": [ dest(copy, None) ],
                "retries": retries,
            }));
        }
    }
    http.push(json!({
        "name": "canary-split",
        "route": [ dest(Copy::Py2, Some(w2)), dest(Copy::Py3, Some(w3)) ],
        "retries": retries,
    }));
    if let Some((c, t)) = mirror_target(s) {
        http = mirrored(http, s, c, t);
    }
    let mut docs = Vec::new();
    if !s.k8s_has_service {
        docs.push(apex_service(ir, s));
    }
    docs.push(json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": { "name": s.name, "namespace": ir.namespace },
        "spec": {
            "host": s.name,
            "subsets": [
                { "name": "py2", "labels": { "version": "py2" } },
                { "name": "py3", "labels": { "version": "py3" } }
            ]
        }
    }));
    docs.push(json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": { "name": s.name, "namespace": ir.namespace },
        "spec": { "hosts": [ s.name ], "http": http }
    }));
    docs
}

/// Each route preceded by its twin for GET, HEAD and OPTIONS, which also mirrors to the
/// comparator. Envoy's mirror is fire-and-forget (shared/reference/py2-py3-runtime.md §5): the
/// client never waits for it. Only safe methods: the comparator sends what it receives to py2
/// again as its primary, so a mirrored write would run twice on py2.
fn mirrored(http: Vec<Value>, s: &ServiceIr, c: &ComparatorIr, t: &ComparatorTarget) -> Vec<Value> {
    let percent = match t.placement {
        Placement::Mirror { percent } => percent,
        Placement::InFrontOfPy2 => 100.0,
    };
    let methods = json!({ "regex": c.methods.join("|") });
    let mut out = Vec::new();
    for rule in http {
        let mut twin = rule.clone();
        let name = twin["name"].as_str().unwrap_or("route").to_string();
        twin["name"] = json!(format!("{name}-compared"));
        let matches = match twin.get("match").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    m["method"] = methods.clone();
                    m
                })
                .collect(),
            None => vec![json!({ "method": methods })],
        };
        twin["match"] = Value::Array(matches);
        twin["mirror"] = json!({ "host": c.name, "port": { "number": s.port } });
        twin["mirrorPercentage"] = json!({ "value": percent });
        out.push(twin);
        out.push(rule);
    }
    out
}

fn ingresses(ir: &Ir, s: &ServiceIr) -> Vec<Value> {
    let (_, w3) = first_weights(ir);
    // Host, paths and TLS from the team's Ingress; the paths to this service point at the copy
    // (the canary Ingress has only those).
    let spec = |copy: Copy| -> Value {
        let mut spec = super::engine::ingress_spec(s, &s.object(copy), s.port, copy == Copy::Py3);
        if let Some(obj) = spec.as_object_mut() {
            obj.insert("ingressClassName".into(), json!("nginx"));
            if copy == Copy::Py3 {
                // The canary Ingress must not redefine TLS: the primary's certificate serves both.
                obj.remove("tls");
            }
        }
        spec
    };
    let mut common = Map::new();
    if let Some(sticky) = ir.sticky.as_ref().filter(|st| st.by == StickyBy::Cookie) {
        common.insert(
            "nginx.ingress.kubernetes.io/affinity".into(),
            json!("cookie"),
        );
        common.insert(
            "nginx.ingress.kubernetes.io/session-cookie-name".into(),
            json!(sticky.name),
        );
        common.insert(
            "nginx.ingress.kubernetes.io/affinity-canary-behavior".into(),
            json!("sticky"),
        );
    }
    let mut canary = common.clone();
    canary.insert("nginx.ingress.kubernetes.io/canary".into(), json!("true"));
    canary.insert(
        "nginx.ingress.kubernetes.io/canary-weight".into(),
        json!(w3.to_string()),
    );
    canary.insert(
        "nginx.ingress.kubernetes.io/canary-weight-total".into(),
        json!(total(ir).to_string()),
    );
    let mut primary_meta =
        json!({ "name": s.name, "namespace": ir.namespace, "labels": { "app": s.name } });
    if !common.is_empty() {
        primary_meta["annotations"] = Value::Object(common);
    }
    vec![
        json!({ "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": primary_meta, "spec": spec(Copy::Py2) }),
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": { "name": format!("{}-canary", s.name), "namespace": ir.namespace, "labels": { "app": s.name }, "annotations": canary },
            "spec": spec(Copy::Py3)
        }),
    ]
}

fn http_route(ir: &Ir, s: &ServiceIr) -> Vec<Value> {
    let (w2, w3) = first_weights(ir);
    let team = s.k8s_route.as_ref();
    let parent_refs = team
        .and_then(|r| r.pointer("/spec/parentRefs").cloned())
        .unwrap_or_else(|| json!([ { "name": format!("{}-gateway", ir.name) } ]));
    let backend = |copy: Copy, weight: u32| {
        let mut b = json!({ "name": s.object(copy), "port": s.port, "weight": weight });
        if let Some(sticky) = ir.sticky.as_ref().filter(|st| st.by == StickyBy::Cookie) {
            b["filters"] = json!([ { "type": "ResponseHeaderModifier", "responseHeaderModifier": { "add": [ { "name": "Set-Cookie", "value": set_cookie(&sticky.name, copy) } ] } } ]);
        }
        b
    };
    let mut rules = Vec::new();
    if let Some(sticky) = ir.sticky.as_ref().filter(|st| st.by == StickyBy::Cookie) {
        for copy in [Copy::Py3, Copy::Py2] {
            rules.push(json!({
                "matches": [ { "headers": [ { "type": "RegularExpression", "name": "Cookie", "value": cookie_regex(&sticky.name, copy) } ] } ],
                "backendRefs": [ { "name": s.object(copy), "port": s.port } ]
            }));
        }
    }
    rules.push(json!({ "backendRefs": [ backend(Copy::Py2, w2), backend(Copy::Py3, w3) ] }));
    let mut spec = json!({ "parentRefs": parent_refs, "rules": rules });
    if let Some(hosts) = team.and_then(|r| r.pointer("/spec/hostnames").cloned()) {
        spec["hostnames"] = hosts;
    }
    vec![json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": s.name, "namespace": ir.namespace, "labels": { "app": s.name } },
        "spec": spec
    })]
}
