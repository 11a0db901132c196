//! Kubernetes: a Deployment, Service and HPA (autoscaling/v2) per copy, cloned from the team's
//! own Deployment when detection found one (env, secret references, resources, probes, volumes,
//! security context are kept; `version: py2|py3` is added to labels and selectors; py3 gets its
//! image and runtime environment), plus the router's objects: Istio VirtualService and
//! DestinationRule, ingress-nginx primary and canary Ingresses, or a Gateway API HTTPRoute.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::engine::{Meta, document};
use super::escape::{kubernetes::literal, regex};
use super::objects::*;
use super::{OutputFile, file, yaml};
use crate::ir::{
    ComparatorIr, ComparatorTarget, EnvVar, InfraKind, Interpreter, Ir, Placement, Router,
    ServiceIr, StickyBy, Target, VsRoute,
};

pub(super) fn files(ir: &Ir, t: &Target) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for copy in [Interpreter::Py2, Interpreter::Py3] {
        let mut docs = header_documents(ir);
        for s in &ir.services {
            docs.push(&deployment(ir, s, copy));
            docs.push(&service(ir, s, copy));
            docs.push(&autoscaler(ir, s, copy));
        }
        out.push(file(
            format!("k8s-deployment-{}.yaml", copy.as_str()),
            match copy {
                Interpreter::Py2 => "Kubernetes: the py2 copy (Deployment, Service, HPA), cloned from the current Deployment",
                Interpreter::Py3 => "Kubernetes: the py3 copy (Deployment, Service, HPA) with its image and runtime settings",
            },
            docs.finish(),
        ));
    }
    match t.router {
        Router::Istio => {
            let mut docs = header_documents(ir);
            for s in &ir.services {
                docs.extend(&istio(ir, t, s));
            }
            out.push(file(
                "k8s-virtual-service.yaml",
                "Istio VirtualService (first stage's weights) and DestinationRule with py2/py3 subsets",
                docs.finish(),
            ));
        }
        Router::NginxIngress => {
            let mut docs = header_documents(ir);
            for s in &ir.services {
                docs.extend(&ingresses(ir, t, s));
            }
            out.push(file(
                "k8s-ingress.yaml",
                "ingress-nginx primary and canary Ingresses (canary-weight annotations)",
                docs.finish(),
            ));
        }
        Router::GatewayApi => {
            let mut docs = header_documents(ir);
            for s in &ir.services {
                docs.extend(&http_route(ir, t, s));
            }
            out.push(file(
                "k8s-httproute.yaml",
                "Gateway API HTTPRoute with weighted py2/py3 backendRefs",
                docs.finish(),
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
    let mut secondary = deployment(ir, s, Interpreter::Py2);
    let secondary_labels = app_labels(s, "py2-secondary");
    with_object(&mut secondary, &["metadata"], |m| {
        m.insert("name".into(), json!(c.secondary));
    });
    for path in [
        &["metadata", "labels"][..],
        &["spec", "selector", "matchLabels"],
        &["spec", "template", "metadata", "labels"],
    ] {
        with_object(&mut secondary, path, |m| {
            m.extend(secondary_labels.iter().map(|(k, v)| (k.clone(), json!(v))));
        });
    }
    // One pod is enough to learn what py2 disagrees with itself on.
    with_object(&mut secondary, &["spec"], |m| {
        m.insert("replicas".into(), json!(1));
    });
    let service_for = |name: &str, labels: &Labels, ports: Vec<ServicePort>| {
        let mut meta = Meta::new(name, &ir.namespace);
        meta.labels = labels.clone();
        document(&Object::new(
            "v1",
            "Service",
            meta,
            ServiceSpec {
                selector: labels.clone(),
                ports,
            },
        ))
    };
    let compare_labels = app_labels(s, "comparator");
    let admin = crate::ir::compare::ADMIN_PORT;
    let args = [
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
    .map(|a| literal(a).into_owned())
    .collect();
    let health = |failure_threshold| Probe {
        http_get: Some(HttpGet {
            path: "/healthz".into(),
            port: admin,
        }),
        tcp_socket: None,
        initial_delay_seconds: None,
        period_seconds: 10,
        failure_threshold,
    };
    let container_port = |name, port| ContainerPort {
        name: Some(name),
        container_port: port,
        protocol: "TCP",
    };
    let mut meta = Meta::new(c.name.clone(), &ir.namespace);
    meta.labels = compare_labels.clone();
    let comparator = Object::new(
        "apps/v1",
        "Deployment",
        meta,
        DeploymentSpec {
            // One comparator: the noise it learns is per process.
            replicas: 1,
            selector: Selector {
                match_labels: compare_labels.clone(),
            },
            template: PodTemplate {
                metadata: PodMeta {
                    labels: compare_labels.clone(),
                    annotations: [
                        ("prometheus.io/scrape", "true".to_string()),
                        ("prometheus.io/port", admin.to_string()),
                        ("prometheus.io/path", "/metrics".to_string()),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                },
                spec: PodSpec {
                    // SIGTERM lets the comparisons in flight finish (`--grace`, 10s).
                    termination_grace_period_seconds: 15,
                    containers: vec![Container {
                        name: "compare",
                        image: c.image.clone(),
                        command: vec!["canaryc"],
                        args,
                        ports: vec![
                            container_port("http", s.port),
                            container_port("metrics", admin),
                        ],
                        readiness_probe: health(None),
                        liveness_probe: health(Some(3)),
                        resources: Resources {
                            requests: [("cpu", "100m".into()), ("memory", "64Mi".into())].into(),
                            limits: [("memory", "256Mi".into())].into(),
                        },
                        security_context: SecurityContext {
                            allow_privilege_escalation: false,
                            read_only_root_filesystem: true,
                            run_as_non_root: true,
                            run_as_user: 65534,
                        },
                        volume_mounts: vec![VolumeMount {
                            name: "plan",
                            mount_path: "/etc/canaryc",
                            read_only: true,
                        }],
                    }],
                    volumes: vec![Volume {
                        name: "plan",
                        config_map: NameRef {
                            name: plan_config_map(c),
                        },
                    }],
                },
            },
        },
    );
    vec![
        secondary,
        service_for(
            &c.secondary,
            &secondary_labels,
            vec![ServicePort::tcp("http", s.port)],
        ),
        document(&comparator),
        service_for(
            &c.name,
            &compare_labels,
            vec![
                ServicePort::tcp("http", s.port),
                ServicePort::tcp("http-metrics", admin),
            ],
        ),
    ]
}

pub(super) fn header(ir: &Ir, docs: &[Value]) -> String {
    let mut file = header_documents(ir);
    file.extend(docs);
    file.finish()
}

/// A file of documents under the header, written as they come (a fleet's objects are never
/// all in memory as trees at once).
pub(super) fn header_documents(ir: &Ir) -> yaml::Documents {
    yaml::Documents::new(format!(
        "# {} canary, Python {} -> {}. Generated by canaryc from canary.plan: change the plan and rebuild.\n",
        ir.name, ir.python_from, ir.python_to,
    ))
}

/// `app: NAME`, `version: VERSION`.
fn app_labels(s: &ServiceIr, version: &str) -> Labels {
    [("app", s.name.as_str()), ("version", version)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn labels(s: &ServiceIr, copy: Interpreter) -> Labels {
    app_labels(s, copy.as_str())
}

/// `app: NAME`: what the apex Service, the Ingresses and the HTTPRoute carry.
fn app_only(ir: &Ir, name: impl Into<String>, s: &ServiceIr) -> Meta {
    Meta::new(name, &ir.namespace).label("app", &s.name)
}

/// Replicas for a copy at the first stage: py3 gets its share of py2's count, at least one.
fn replicas(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> u32 {
    match copy {
        Interpreter::Py2 => s.replicas,
        Interpreter::Py3 => {
            let share = ir.stages.first().map_or(1.0, |st| st.traffic / 100.0);
            ((f64::from(s.replicas) * share).ceil() as u32).max(1)
        }
    }
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

/// A copy's Deployment: the team's, cloned (a `Value`: canaryc keeps every field it does not
/// set), or a minimal one.
pub(super) fn deployment(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Value {
    let mut d = s.k8s_deployment.clone().unwrap_or_else(|| {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {},
            "spec": { "selector": { "matchLabels": {} }, "template": { "metadata": {}, "spec": { "containers": [ { "name": s.name } ] } } }
        })
    });
    let labels = || labels(s, copy).into_iter().map(|(k, v)| (k, json!(v)));
    with_object(&mut d, &[], |obj| {
        // Fields the API server owns never belong in a manifest.
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
    });
    with_object(&mut d, &["metadata"], |meta| {
        strip_server_fields(meta);
        meta.insert("name".into(), json!(s.object(copy)));
        meta.insert("namespace".into(), json!(ir.namespace));
    });
    with_object(&mut d, &["metadata", "labels"], |m| m.extend(labels()));
    with_object(&mut d, &["spec", "selector", "matchLabels"], |m| {
        m.extend(labels());
    });
    with_object(&mut d, &["spec", "template", "metadata", "labels"], |m| {
        m.extend(labels());
    });
    with_object(&mut d, &["spec"], |m| {
        m.insert("replicas".into(), json!(replicas(ir, s, copy)));
    });
    let env = match copy {
        Interpreter::Py2 => &s.env_py2,
        Interpreter::Py3 => &s.env_py3,
    };
    with_object(&mut d, &["spec", "template", "spec"], |pod| {
        let containers = pod.entry("containers").or_insert_with(|| json!([]));
        if let Some(list) = containers.as_array_mut() {
            if list.is_empty() {
                list.push(json!({ "name": s.name }));
            }
            if let Some(Value::Object(c)) = list.first_mut() {
                container(c, s, copy, env);
            }
        }
    });
    d
}

/// The app container: image, port, environment, resources, probes.
fn container(c: &mut Map<String, Value>, s: &ServiceIr, copy: Interpreter, env: &[EnvVar]) {
    let image = match copy {
        Interpreter::Py2 => s.image_py2.clone(),
        Interpreter::Py3 => s.image_py3.clone(),
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
            list.push(document(&ContainerPort {
                name: (!named).then_some("http"),
                container_port: s.port,
                protocol: "TCP",
            }));
        }
    }
    // Environment: the team's entries, with ours replacing any of the same name.
    let list = c.entry("env").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut() {
        list.retain(|e| {
            let name = e.get("name").and_then(Value::as_str).unwrap_or("");
            env.iter().all(|ours| ours.name != name)
        });
        // Kubernetes expands `$(VAR)` in env values: the plan's values are literal.
        list.extend(env.iter().map(|e| {
            document(&EnvEntry {
                name: e.name.clone(),
                value: literal(&e.value).into_owned(),
            })
        }));
    }
    if s.cpu_millis.is_some() || s.memory_bytes.is_some() {
        let mut amounts = BTreeMap::new();
        if let Some(cpu) = s.cpu_millis {
            amounts.insert("cpu", format!("{cpu}m"));
        }
        if let Some(mem) = s.memory_bytes {
            amounts.insert("memory", memory(mem));
        }
        let resources = Resources {
            requests: amounts.clone(),
            limits: amounts,
        };
        c.insert("resources".into(), document(&resources));
    }
    let probe = Probe {
        http_get: s.health.as_ref().map(|path| HttpGet {
            path: path.clone(),
            port: s.port,
        }),
        tcp_socket: s.health.is_none().then_some(TcpSocket { port: s.port }),
        initial_delay_seconds: None,
        period_seconds: 10,
        failure_threshold: Some(3),
    };
    // py3 imports cold (no .pyc yet on a fresh image): give readiness room to start.
    let readiness = Probe {
        initial_delay_seconds: Some(5),
        ..probe.clone()
    };
    c.entry("readinessProbe")
        .or_insert_with(|| document(&readiness));
    c.entry("livenessProbe").or_insert_with(|| document(&probe));
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

/// Runs `edit` on the object at `path` in a team's manifest, making each step an object
/// where it is not one (a manifest that says `metadata: null` still gets its name).
fn with_object(value: &mut Value, path: &[&str], edit: impl FnOnce(&mut Map<String, Value>)) {
    if !value.is_object() {
        *value = json!({});
    }
    if let Value::Object(map) = value {
        match path.split_first() {
            None => edit(map),
            Some((key, rest)) => {
                let child = map.entry(*key).or_insert_with(|| json!({}));
                with_object(child, rest, edit);
            }
        }
    }
}

/// A copy's object: `NAME-py2` with `app` and `version` labels.
fn copy_meta(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Meta {
    let mut meta = Meta::new(s.object(copy), &ir.namespace);
    meta.labels = labels(s, copy);
    meta
}

fn service(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Value {
    let meta = copy_meta(ir, s, copy);
    document(&Object::new(
        "v1",
        "Service",
        meta,
        ServiceSpec {
            selector: labels(s, copy),
            ports: vec![ServicePort::tcp("http", s.port)],
        },
    ))
}

fn autoscaler(ir: &Ir, s: &ServiceIr, copy: Interpreter) -> Value {
    let (min, max) = s
        .k8s_autoscaler
        .unwrap_or((s.replicas, (s.replicas * 3).max(3)));
    let min = match copy {
        Interpreter::Py2 => min.max(1),
        Interpreter::Py3 => 1,
    };
    let meta = copy_meta(ir, s, copy);
    document(&Object::new(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        meta,
        AutoscalerSpec {
            scale_target_ref: TargetRef {
                api_version: "apps/v1",
                kind: "Deployment",
                name: s.object(copy),
            },
            min_replicas: min,
            max_replicas: max.max(min),
            metrics: vec![AutoscalerMetric::cpu()],
        },
    ))
}

fn apex_service(ir: &Ir, s: &ServiceIr) -> Value {
    let app: Labels = [("app".to_string(), s.name.clone())].into();
    document(&Object::new(
        "v1",
        "Service",
        app_only(ir, s.name.clone(), s),
        ServiceSpec {
            selector: app,
            ports: vec![ServicePort::tcp("http", s.port)],
        },
    ))
}

fn set_cookie(name: &str, copy: Interpreter) -> String {
    format!("{name}={}; Path=/; Max-Age=86400; HttpOnly", copy.as_str())
}

/// A regex on the Cookie header matching `NAME=VALUE` anywhere in it.
fn cookie_regex(name: &str, copy: Interpreter) -> String {
    format!(
        "^(.*;\\s*)?{}={}(;.*)?$",
        regex::literal(name),
        copy.as_str()
    )
}

/// The sticky cookie's name, when routing is sticky by cookie.
fn cookie(ir: &Ir) -> Option<&str> {
    ir.sticky
        .as_ref()
        .filter(|st| st.by == StickyBy::Cookie)
        .map(|st| st.name.as_str())
}

/// What a route of the plain VirtualService does, for the runbook's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The team's, to other services: never touched.
    Other,
    /// Users pinned to one copy by the cookie.
    Pinned,
    /// The weighted split (py2 first, py3 second), or its mirroring twin.
    Split,
    /// The team's route shared with another service: its share of the service stays on py2.
    Shared,
}

/// The plain VirtualService's `http` routes at weights `(w2, w3)`, in order, with their roles:
/// the team's routes to other services verbatim, and for each route to the service its
/// cookie-pinned twins (when sticky), the split, and the comparator's mirroring twins.
/// One VirtualService of the plain files: its name, hosts, Gateways, routes and the rest of
/// the team's spec.
struct PlainVs<'a> {
    name: &'a str,
    hosts: Vec<String>,
    gateways: Vec<String>,
    routes: &'a [VsRoute],
    rest: serde_json::Map<String, Value>,
    /// The IR's VirtualService it renders: the team's labels and annotations, when theirs.
    source: &'a crate::ir::VirtualServiceIr,
}

impl PlainVs<'_> {
    /// The host its routes name the service by (`ServiceRoute::host`): the service's short name
    /// unless the VirtualService is in another namespace.
    fn service_host(&self, service: &str) -> String {
        first_service_route(self.routes).map_or_else(|| service.to_string(), |r| r.host.clone())
    }
}

/// The first route to the service: its host and namespace are every such route's in the
/// VirtualService.
fn first_service_route(routes: &[VsRoute]) -> Option<&crate::ir::ServiceRoute> {
    routes.iter().find_map(|r| match r {
        VsRoute::Service(r) => Some(r),
        VsRoute::Other(_) => None,
    })
}

/// The plain files' VirtualServices of a service: the one split first (the team's, or
/// canaryc's for the sidecars only), then the others the IR split (the team's other
/// VirtualServices to the service, or the sidecars' own).
fn plain_virtual_services(s: &ServiceIr) -> Vec<PlainVs<'_>> {
    let plain = &s.kube.plain;
    let first = &s.kube.virtual_service;
    let mut out = vec![PlainVs {
        name: &plain.virtual_service,
        hosts: plain.hosts.clone(),
        gateways: plain.gateways.clone(),
        routes: &first.http,
        rest: first.rest.clone(),
        source: first,
    }];
    out.extend(s.kube.more_virtual_services.iter().map(|vs| PlainVs {
        name: &vs.name,
        hosts: vs.hosts.clone(),
        gateways: vs.gateways.clone(),
        routes: &vs.http,
        rest: vs.rest.clone(),
        source: vs,
    }));
    out
}

fn istio_http(
    ir: &Ir,
    s: &ServiceIr,
    routes: &[VsRoute],
    (w2, w3): (u32, u32),
) -> Vec<(Role, Value)> {
    let dest = |host: &str, copy: Interpreter, weight: Option<u32>| IstioDestination {
        // The port of the Service the host names (Istio's Destination.port), not the container's.
        destination: Destination {
            host: host.to_string(),
            subset: copy.as_str(),
            port: PortNumber {
                number: s.kube.service_port,
            },
        },
        weight,
        headers: cookie(ir).map(|name| IstioHeaders {
            response: AddHeaders {
                add: [("Set-Cookie", set_cookie(name, copy))].into(),
            },
        }),
    };
    let retries = IstioRetries {
        attempts: 2,
        per_try_timeout: "5s",
        retry_on: "gateway-error,connect-failure,refused-stream",
    };
    let mut http: Vec<(Role, PlainRoute)> = Vec::new();
    for r in routes {
        let r = match r {
            VsRoute::Other(team) => {
                http.push((Role::Other, PlainRoute::Team(team.clone())));
                continue;
            }
            VsRoute::Service(r) => r,
        };
        // The team's route around our destinations: everything but what canaryc sets.
        let route = |name: String, role: Role, destinations: Vec<IstioDestination>| {
            let ours = destinations.iter().map(document).collect();
            let mut team = r.with_destinations(&s.name, &ir.namespace, ours);
            let destinations = match team.remove("route") {
                Some(Value::Array(d)) => d,
                _ => Vec::new(),
            };
            let matches = match team.remove("match") {
                Some(Value::Array(m)) => m,
                _ => Vec::new(),
            };
            team.remove("name");
            let route = IstioRoute {
                name,
                matches,
                route: destinations,
                retries: (!team.contains_key("retries")).then(|| retries.clone()),
                mirror: None,
                mirror_percentage: None,
                team,
            };
            (role, PlainRoute::Ours(route))
        };
        if let Some(weight) = r.shared_weight {
            http.push(route(
                r.name.clone(),
                Role::Shared,
                vec![dest(&r.host, Interpreter::Py2, Some(weight))],
            ));
            continue;
        }
        // canaryc's own route keeps the names it always had.
        let (split, pinned) = match r.team {
            None => ("canary-split".to_string(), "pinned".to_string()),
            Some(_) => (r.name.clone(), format!("{}-pinned", r.name)),
        };
        if let Some(name) = cookie(ir) {
            // Users already pinned by the cookie stay where they are (Flagger's session
            // affinity): the route's own matches, each also on the cookie.
            for copy in [Interpreter::Py3, Interpreter::Py2] {
                let (role, mut pinned) = route(
                    format!("{pinned}-{}", copy.as_str()),
                    Role::Pinned,
                    vec![dest(&r.host, copy, None)],
                );
                if let PlainRoute::Ours(p) = &mut pinned {
                    let cookie = document(&Regex {
                        regex: cookie_regex(name, copy),
                    });
                    if p.matches.is_empty() {
                        p.matches.push(json!({}));
                    }
                    for m in &mut p.matches {
                        with_object(m, &["headers"], |h| {
                            h.insert("cookie".into(), cookie.clone());
                        });
                    }
                }
                http.push((role, pinned));
            }
        }
        http.push(route(
            split,
            Role::Split,
            vec![
                dest(&r.host, Interpreter::Py2, Some(w2)),
                dest(&r.host, Interpreter::Py3, Some(w3)),
            ],
        ));
    }
    if let Some((c, t)) = mirror_target(s) {
        // The comparator's host as the routes name the service's (qualified in a
        // VirtualService of another namespace).
        let mirror_host = first_service_route(routes)
            .map_or_else(|| c.name.clone(), |r| r.sibling_host(&s.name, &c.name));
        http = mirrored(http, s, c, t, mirror_host);
    }
    http.into_iter()
        .map(|(role, r)| match r {
            PlainRoute::Team(v) => (role, v),
            PlainRoute::Ours(r) => (role, document(&r)),
        })
        .collect()
}

/// A route of the plain VirtualService: the team's as written, or one canaryc builds.
enum PlainRoute {
    Team(Value),
    Ours(IstioRoute),
}

fn istio(ir: &Ir, t: &Target, s: &ServiceIr) -> Vec<Value> {
    let mut docs = Vec::new();
    if !s.k8s_has_service {
        docs.push(apex_service(ir, s));
    }
    let subset = |name: &'static str| Subset {
        name,
        labels: [("version".to_string(), name.to_string())].into(),
    };
    docs.push(document(&Object::new(
        "networking.istio.io/v1beta1",
        "DestinationRule",
        Meta::new(s.kube.destination_rule.clone(), &ir.namespace),
        DestinationRuleSpec {
            host: s.name.clone(),
            subsets: crate::ir::copy_subsets(t.engine)
                .into_iter()
                .map(subset)
                .collect(),
        },
    )));
    for vs in plain_virtual_services(s) {
        let http = istio_http(ir, s, vs.routes, t.first_weights(ir))
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        docs.push(document(&Object::new(
            "networking.istio.io/v1beta1",
            "VirtualService",
            Meta {
                labels: vs.source.labels.clone(),
                annotations: vs.source.annotations.clone(),
                ..Meta::new(vs.name, &vs.source.namespace)
            },
            VirtualServiceSpec {
                hosts: vs.hosts,
                gateways: vs.gateways,
                http,
                team: vs.rest,
            },
        )));
    }
    docs
}

/// Each route to the service preceded by its twin for GET, HEAD and OPTIONS, which also
/// mirrors to the comparator. Envoy's mirror is fire-and-forget
/// (shared/reference/py2-py3-runtime.md §5): the client never waits for it. Only safe methods:
/// the comparator sends what it receives to py2 again as its primary, so a mirrored write
/// would run twice on py2. The team's routes to other services and those it shares with
/// them (py2 only) are not compared.
fn mirrored(
    http: Vec<(Role, PlainRoute)>,
    s: &ServiceIr,
    c: &ComparatorIr,
    t: &ComparatorTarget,
    mirror_host: String,
) -> Vec<(Role, PlainRoute)> {
    let percent = match t.placement {
        Placement::Mirror { percent } => percent,
        Placement::InFrontOfPy2 => 100.0,
    };
    let methods = document(&Regex {
        regex: c.methods.join("|"),
    });
    let mut out = Vec::new();
    for (role, rule) in http {
        let rule = match (role, rule) {
            (Role::Pinned | Role::Split, PlainRoute::Ours(rule)) => rule,
            (role, rule) => {
                out.push((role, rule));
                continue;
            }
        };
        let mut matches = rule.matches.clone();
        if matches.is_empty() {
            matches.push(json!({}));
        }
        for m in &mut matches {
            with_object(m, &[], |m| {
                m.insert("method".into(), methods.clone());
            });
        }
        let twin = IstioRoute {
            name: format!("{}-compared", rule.name),
            matches,
            mirror: Some(IstioMirror {
                host: mirror_host.clone(),
                port: PortNumber { number: s.port },
            }),
            mirror_percentage: Some(Percentage { value: percent }),
            ..rule.clone()
        };
        out.push((role, PlainRoute::Ours(twin)));
        out.push((role, PlainRoute::Ours(rule)));
    }
    out
}

fn ingresses(ir: &Ir, t: &Target, s: &ServiceIr) -> Vec<Value> {
    let (_, w3) = t.first_weights(ir);
    // Host, paths and TLS from the team's Ingress; the paths to this service point at the copy
    // (the canary Ingress has only those).
    let spec = |copy: Interpreter| -> Value {
        let mut spec =
            super::engine::ingress_spec(s, &s.object(copy), s.port, copy == Interpreter::Py3);
        if let Some(obj) = spec.as_object_mut() {
            obj.insert("ingressClassName".into(), json!("nginx"));
            if copy == Interpreter::Py3 {
                // The canary Ingress must not redefine TLS: the primary's certificate serves both.
                obj.remove("tls");
            }
        }
        spec
    };
    let mut common = Labels::new();
    if let Some(name) = cookie(ir) {
        for (key, value) in [
            ("affinity", "cookie"),
            ("session-cookie-name", name),
            ("affinity-canary-behavior", "sticky"),
        ] {
            common.insert(format!("nginx.ingress.kubernetes.io/{key}"), value.into());
        }
    }
    let mut canary = common.clone();
    for (key, value) in [
        ("canary", "true".to_string()),
        ("canary-weight", w3.to_string()),
        ("canary-weight-total", t.weight_total.to_string()),
    ] {
        canary.insert(format!("nginx.ingress.kubernetes.io/{key}"), value);
    }
    let mut primary = app_only(ir, s.kube.plain.name.clone(), s);
    primary.annotations = common;
    let mut canary_meta = app_only(ir, s.kube.plain.canary_ingress.clone(), s);
    canary_meta.annotations = canary;
    let ingress =
        |meta, spec| document(&Object::new("networking.k8s.io/v1", "Ingress", meta, spec));
    vec![
        ingress(primary, spec(Interpreter::Py2)),
        ingress(canary_meta, spec(Interpreter::Py3)),
    ]
}

fn http_route(ir: &Ir, t: &Target, s: &ServiceIr) -> Vec<Value> {
    let (w2, w3) = t.first_weights(ir);
    let team = s.k8s_route.as_ref();
    let parent_refs = team
        .and_then(|r| r.pointer("/spec/parentRefs").cloned())
        .unwrap_or_else(|| {
            document(&[NameRef {
                name: format!("{}-gateway", ir.name),
            }])
        });
    let backend = |copy: Interpreter, weight: Option<u32>, pin: bool| BackendRef {
        name: s.object(copy),
        port: s.port,
        weight,
        filters: cookie(ir)
            .filter(|_| !pin)
            .map(|name| RouteFilter {
                kind: "ResponseHeaderModifier",
                response_header_modifier: HeaderModifier {
                    add: vec![Header {
                        name: "Set-Cookie",
                        value: set_cookie(name, copy),
                    }],
                },
            })
            .into_iter()
            .collect(),
    };
    let mut rules = Vec::new();
    if let Some(name) = cookie(ir) {
        for copy in [Interpreter::Py3, Interpreter::Py2] {
            rules.push(HttpRouteRule {
                matches: vec![HttpRouteMatch {
                    headers: vec![HeaderMatch {
                        kind: "RegularExpression",
                        name: "Cookie",
                        value: cookie_regex(name, copy),
                    }],
                }],
                backend_refs: vec![backend(copy, None, true)],
            });
        }
    }
    rules.push(HttpRouteRule {
        matches: Vec::new(),
        backend_refs: vec![
            backend(Interpreter::Py2, Some(w2), false),
            backend(Interpreter::Py3, Some(w3), false),
        ],
    });
    vec![document(&Object::new(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        app_only(ir, s.kube.plain.name.clone(), s),
        HttpRouteSpec {
            parent_refs,
            rules,
            hostnames: team.and_then(|r| r.pointer("/spec/hostnames").cloned()),
        },
    ))]
}

// The commands a person runs against the plain files' router, for the runbooks: they patch
// exactly the objects and routes this file writes (`KubeIr::plain`).

/// Sets one stage's weights, per service.
pub(super) fn split_commands(ir: &Ir, t: &Target, stage: &crate::ir::StageIr) -> Vec<String> {
    let ns = &ir.namespace;
    let (w2, w3) = t.weights(stage);
    ir.services
        .iter()
        .flat_map(|s| {
            let plain = &s.kube.plain;
            let (name, route) = (&plain.name, plain.split_route);
            match t.router {
                Router::Istio => plain_virtual_services(s)
                    .iter()
                    .map(|vs| {
                        // Every split and its mirroring twin (`mirrored`), which carries the
                        // same weights; the team's other routes are left alone.
                        let ops: Vec<String> = istio_http(ir, s, vs.routes, (w2, w3))
                            .iter()
                            .enumerate()
                            .filter(|(_, (role, _))| *role == Role::Split)
                            .flat_map(|(r, _)| {
                                [(0, w2), (1, w3)].map(|(d, w)| {
                                    format!("{{\"op\":\"replace\",\"path\":\"/spec/http/{r}/route/{d}/weight\",\"value\":{w}}}")
                                })
                            })
                            .collect();
                        format!(
                            "kubectl -n {} patch virtualservice {} --type=json -p '[{}]'",
                            vs.source.namespace,
                            vs.name,
                            ops.join(",")
                        )
                    })
                    .collect(),
                Router::NginxIngress => vec![format!(
                    "kubectl -n {ns} annotate ingress {} nginx.ingress.kubernetes.io/canary-weight={w3} --overwrite",
                    plain.canary_ingress
                )],
                _ => vec![format!(
                    "kubectl -n {ns} patch httproute {name} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/rules/{route}/backendRefs/0/weight\",\"value\":{w2}}},{{\"op\":\"replace\",\"path\":\"/spec/rules/{route}/backendRefs/1/weight\",\"value\":{w3}}}]'"
                )],
            }
        })
        .collect()
}

/// Sends everything back to py2, per service.
pub(super) fn rollback_commands(ir: &Ir, t: &Target) -> Vec<String> {
    let ns = &ir.namespace;
    ir.services
        .iter()
        .flat_map(|s| {
            let name = &s.kube.plain.name;
            match t.router {
                Router::Istio => {
                    plain_virtual_services(s)
                        .iter()
                        .map(|vs| {
                            let vs_ns = &vs.source.namespace;
                            let py2 = format!(
                                "[{{\"destination\":{{\"host\":\"{host}\",\"subset\":\"py2\",\"port\":{{\"number\":{port}}}}}}}]",
                                host = vs.service_host(name),
                                port = s.kube.service_port
                            );
                            let http = istio_http(ir, s, vs.routes, t.first_weights(ir));
                            if http
                                .iter()
                                .all(|(role, _)| matches!(role, Role::Pinned | Role::Split))
                            {
                                // Only canaryc's routes: one route, to py2.
                                format!(
                                    "kubectl -n {vs_ns} patch virtualservice {} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/http\",\"value\":[{{\"name\":\"rollback\",\"route\":{py2}}}]}}]'",
                                    vs.name
                                )
                            } else {
                                // The team's routes stay: each route to the service goes to py2.
                                let ops: Vec<String> = http
                                    .iter()
                                    .enumerate()
                                    .filter(|(_, (role, _))| {
                                        matches!(role, Role::Pinned | Role::Split)
                                    })
                                    .map(|(r, _)| {
                                        format!("{{\"op\":\"replace\",\"path\":\"/spec/http/{r}/route\",\"value\":{py2}}}")
                                    })
                                    .collect();
                                format!(
                                    "kubectl -n {vs_ns} patch virtualservice {} --type=json -p '[{}]'",
                                    vs.name,
                                    ops.join(",")
                                )
                            }
                        })
                        .collect()
                }
                Router::NginxIngress => vec![format!(
                    "kubectl -n {ns} delete ingress {}",
                    s.kube.plain.canary_ingress
                )],
                _ => vec![format!(
                    "kubectl -n {ns} patch httproute {name} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/rules\",\"value\":[{{\"backendRefs\":[{{\"name\":\"{}\",\"port\":{}}}]}}]}}]'",
                    s.object(Interpreter::Py2),
                    s.port
                )],
            }
        })
        .collect()
}

/// Shows where traffic goes, per service.
pub(super) fn verify_commands(ir: &Ir, t: &Target) -> Vec<String> {
    let ns = &ir.namespace;
    ir.services
        .iter()
        .map(|s| {
            let name = &s.kube.plain.name;
            match t.router {
                Router::Istio => plain_virtual_services(s)
                    .iter()
                    .map(|vs| {
                        format!(
                            "kubectl -n {} get virtualservice {} -o jsonpath='{{.spec.http}}'",
                            vs.source.namespace, vs.name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Router::NginxIngress => format!(
                    "kubectl -n {ns} get ingress {}   # NotFound: no canary traffic",
                    s.kube.plain.canary_ingress
                ),
                _ => format!("kubectl -n {ns} get httproute {name} -o jsonpath='{{.spec.rules}}'"),
            }
        })
        .collect()
}
