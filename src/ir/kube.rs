//! Kubernetes facts the routing objects and the metric queries need, decided once here rather
//! than in each emitter: the team's Service clients address (its name and port), the Ingress
//! or HTTPRoute that reaches it, the Istio Gateway and hosts it is served on, and how the
//! monitoring tells py2 from py3 under the engine that runs the copies.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{Engine, InfraKind, MetricsSource, Router};
use super::{Interpreter, Target};
use crate::detect::Detection;
use crate::detect::facts::{K8sLinks, K8sObject, Workload};

/// A name per copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PerCopy {
    pub py2: String,
    pub py3: String,
}

impl PerCopy {
    pub fn get(&self, copy: Interpreter) -> &str {
        match copy {
            Interpreter::Py2 => &self.py2,
            Interpreter::Py3 => &self.py3,
        }
    }

    fn suffixed(name: &str, py2: &str, py3: &str) -> PerCopy {
        PerCopy {
            py2: format!("{name}{py2}"),
            py3: format!("{name}{py3}"),
        }
    }
}

/// How one copy's pods are found in kube-state-metrics and cAdvisor series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PodsIr {
    /// Each copy is its own Deployment (the plain files): `NAME-py3`, pods `NAME-py3-<hash>-<id>`.
    Deployment(PerCopy),
    /// Both copies' pods are named after one object (an Argo Rollout's ReplicaSets are
    /// `NAME-<hash>`; Flagger's target and primary differ only by a suffix that the target's
    /// own name lacks), so the app container is named per copy instead: `NAME-py2`, `NAME-py3`.
    /// cAdvisor and kube-state-metrics label every container series with it, no relabelling or
    /// label allowlist needed.
    Container(PerCopy),
}

/// The labels each copy's requests and pods carry on Kubernetes, by engine. Every query the
/// bundle runs (alerts, dashboard, the engines' analyses) selects through these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ObservedIr {
    /// Istio's `destination_service_name`: the host each copy's requests are routed to. The
    /// plain files and Argo Rollouts split one host into subsets (`NAME`); Flagger routes to
    /// its `NAME-primary` and `NAME-canary` Services (fluxcd/flagger pkg/router/istio.go).
    pub istio_destination: PerCopy,
    /// ingress-nginx: the Service the primary Ingress routes to. A canary Ingress adds no
    /// location of its own: its backend is an alternative upstream of the primary's, so both
    /// copies' requests carry the primary's `ingress` and `service` labels, and py3's a
    /// non-empty `canary` label (the alternative upstream, `NAMESPACE-SERVICE-PORT`)
    /// (kubernetes/ingress-nginx rootfs/etc/nginx/lua/monitor.lua, balancer.lua; Flagger's
    /// NGINX queries select `canary!=""` the same way).
    pub ingress_service: String,
    /// The upstream py3's requests name in `canary`: the canary Service, namespace and port.
    pub ingress_canary_upstream: String,
    pub pods: PodsIr,
}

/// Where Kubernetes clients reach one service and how the team routes to it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct KubeIr {
    /// The Service clients address: the team's of the service's name, or one canaryc creates.
    pub service: String,
    /// Its port: what Istio destinations, Ingress backends and HTTPRoute backendRefs name.
    /// The container port (`ServiceIr::port`) is its target port.
    pub service_port: u16,
    /// Istio: the VirtualService canaryc splits first: the team's that routes to the service
    /// (under its own name, so applying replaces it instead of racing it), else canaryc's own.
    #[serde(flatten)]
    pub virtual_service: VirtualServiceIr,
    /// The other VirtualServices that must be split too, each listed with its routes in the
    /// Rollout: the team's other VirtualServices that route to the service (one bound to their
    /// Gateways and one to the sidecars, as Istio's samples pair them), or, when every team
    /// VirtualService is bound to Gateways alone, canaryc's own for the sidecars (without it
    /// in-mesh clients would reach both copies' pods through the Service, by pod count).
    #[serde(skip)]
    pub more_virtual_services: Vec<VirtualServiceIr>,
    /// The DestinationRule canaryc writes with the copies' subsets: the service's name, or the
    /// first of `NAME-canary`, `NAME-canary-2`, ... no team DestinationRule has. istiod merges
    /// DestinationRules for one host (unique subsets concatenated, the first rule's traffic
    /// policy kept: pilot/pkg/model/destination_rule.go `mergeDestinationRule`, Istio master
    /// 2026-08), so the team's stays in force beside ours instead of being replaced.
    #[serde(skip)]
    pub destination_rule: String,
    /// Subset names of the team's DestinationRules for the service's host: one named like
    /// canaryc's would be kept in place of ours by that merge (CNR459).
    #[serde(skip)]
    pub team_subsets: Vec<String>,
    pub observed: ObservedIr,
    /// The router's objects of the plain files (no engine), which a person edits stage by stage.
    #[serde(skip)]
    pub plain: PlainRoutingIr,
}

/// One VirtualService canaryc writes: a team's, taken over with its routes, or its own.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VirtualServiceIr {
    /// Istio: the VirtualService's name: the team's when it is theirs (applying replaces it
    /// instead of racing it), else the service's, or a name after it that no team
    /// VirtualService has.
    #[serde(rename = "virtual_service")]
    pub name: String,
    /// The namespace it is written into: the team's VirtualService stays where they applied it
    /// (an ingress namespace's VirtualService to the service, say), canaryc's own goes into the
    /// plan's. Writing the team's into the plan's namespace would leave theirs routing beside it.
    #[serde(skip)]
    pub namespace: String,
    /// The Gateways it is bound to (`mesh` among them when a Gateway is named and the team
    /// has no VirtualService for the sidecars) and the hosts it answers for.
    pub gateways: Vec<String>,
    pub hosts: Vec<String>,
    /// Its `http` routes, in the team's order: theirs when it is the team's (its routes to
    /// other services must survive the apply), else canaryc's one `primary` route.
    #[serde(skip)]
    pub http: Vec<VsRoute>,
    /// The rest of the team's spec (`tcp` and `tls` routes, `exportTo`), written back as it is.
    #[serde(skip)]
    pub rest: serde_json::Map<String, Value>,
    /// Whether it is the team's.
    #[serde(skip)]
    pub team: bool,
    /// The team's labels and annotations (string values), written back with it: what selects
    /// or tracks the object (a GitOps tool's tracking label, a team's ownership annotation)
    /// keeps doing so. kubectl's last-applied configuration is left out: it would describe the
    /// team's spec, not the one written.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    #[serde(skip)]
    pub annotations: BTreeMap<String, String>,
    /// Where the team's is defined (`file:line`), and every other definition of a VirtualService
    /// of its name and namespace with another spec: alternatives of which one is applied at a
    /// time (a sample's `virtual-service-all-v1.yaml` and `virtual-service-reviews-v3.yaml`).
    /// canaryc takes over the first in path order (CNR457); applying it replaces whichever is
    /// live.
    #[serde(skip)]
    pub defined_at: String,
    #[serde(skip)]
    pub alternatives: Vec<String>,
}

impl VirtualServiceIr {
    /// canaryc's own VirtualService in the plan's namespace: one `primary` route.
    fn own(
        name: String,
        namespace: &str,
        gateways: Vec<String>,
        hosts: Vec<String>,
        service: &str,
    ) -> VirtualServiceIr {
        VirtualServiceIr {
            name,
            namespace: namespace.to_string(),
            gateways,
            hosts,
            http: own_route(service, namespace),
            rest: serde_json::Map::new(),
            team: false,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            defined_at: String::new(),
            alternatives: Vec::new(),
        }
    }

    /// How Argo Rollouts' `trafficRouting.istio.virtualServices[].name` names it: `name`, or
    /// `name.namespace` in another namespace than the Rollout's (Argo's
    /// `GetVirtualServiceNamespaceName` splits the reference at its first dot).
    pub fn rollout_reference(&self, rollout_namespace: &str) -> String {
        if self.namespace == rollout_namespace {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, self.namespace)
        }
    }

    /// Whether the sidecars apply it: bound to no Gateway, or to `mesh` among them.
    pub fn binds_mesh(&self) -> bool {
        self.gateways.is_empty() || self.gateways.iter().any(|g| g == "mesh")
    }
}

/// One route of the VirtualService canaryc writes over the team's.
#[derive(Debug, Clone, PartialEq)]
pub enum VsRoute {
    /// A route of the team's with no destination of the service: written back verbatim.
    Other(Value),
    /// A route that reaches the service: its destinations of the service become the split.
    Service(ServiceRoute),
}

impl VsRoute {
    /// A route to the service that canaryc splits between the copies.
    pub fn is_split(&self) -> bool {
        matches!(
            self,
            VsRoute::Service(ServiceRoute {
                shared_weight: None,
                ..
            })
        )
    }

    /// A route to the service shared with another service: its share stays on py2 (CNR455).
    pub fn is_shared(&self) -> bool {
        matches!(
            self,
            VsRoute::Service(ServiceRoute {
                shared_weight: Some(_),
                ..
            })
        )
    }
}

/// The DestinationRule subsets canaryc writes for the copies, py2's first: Argo Rollouts'
/// `stable` and `canary` (which it pins to pod-template hashes), else the plain files' `py2`
/// and `py3` (the copies' `version` labels). Flagger routes to Services, not subsets.
pub fn copy_subsets(engine: Engine) -> [&'static str; 2] {
    match engine {
        Engine::ArgoRollouts => ["stable", "canary"],
        _ => ["py2", "py3"],
    }
}

/// A route to the service: what the team wrote around its destinations, kept.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRoute {
    /// Unique in the VirtualService, among the team's routes written back too: the team's name,
    /// else `NAME-2`, ... when another route has it, `primary`, `primary-2`, ... when it has
    /// none (Argo Rollouts re-weights the first route of a name: `team_routes`).
    pub name: String,
    /// The team's route as written (`match`, `rewrite`, `timeout`, `headers`, `retries`, ...);
    /// `None` for canaryc's own route, when the team has no VirtualService.
    pub team: Option<Value>,
    /// Destinations of this route to other services, when it splits between them and the
    /// service: `Some(weight)` is the team's weight of the service in it. Neither engine can
    /// split such a route without changing the other services' share (CNR455), so the service's
    /// share stays on py2 and the route is not re-weighted.
    pub shared_weight: Option<u32>,
    /// The host canaryc's destinations name: the service's short name in its own namespace;
    /// in a VirtualService of another namespace, where a short name means that namespace's
    /// service (Istio resolves short hosts against the rule's namespace), the team's qualified
    /// host as they wrote it (`ledger.payments.svc.cluster.local`).
    pub host: String,
    /// The namespace of the VirtualService the route is in: where its short hosts resolve.
    pub rule_namespace: String,
}

impl ServiceRoute {
    /// Another Service of the plan's namespace (the comparator's), named as this route names
    /// the service: short in the service's namespace, qualified the same way elsewhere.
    pub fn sibling_host(&self, service: &str, other: &str) -> String {
        match self.host.strip_prefix(service) {
            Some(rest) if rest.starts_with('.') => format!("{other}{rest}"),
            _ => other.to_string(),
        }
    }

    /// The team's route with `ours` in place of its destinations of the service (`name` set):
    /// every other field as they wrote it. `shared` routes keep their other destinations, in
    /// their place, with `ours` where the first destination of the service was.
    pub fn with_destinations(
        &self,
        service: &str,
        namespace: &str,
        ours: Vec<Value>,
    ) -> serde_json::Map<String, Value> {
        let mut route = match &self.team {
            Some(Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let theirs = match route.remove("route") {
            Some(Value::Array(d)) => d,
            _ => Vec::new(),
        };
        let mut ours = Some(ours);
        let mut destinations = Vec::new();
        for d in theirs {
            if destination_names_service(&d, service, namespace, &self.rule_namespace) {
                destinations.extend(ours.take().into_iter().flatten());
            } else {
                destinations.push(d);
            }
        }
        destinations.extend(ours.into_iter().flatten());
        route.insert("name".into(), Value::String(self.name.clone()));
        route.insert("route".into(), Value::Array(destinations));
        route
    }
}

/// Whether a route destination, in a rule of `rule_namespace`, names `service` in `namespace`.
fn destination_names_service(
    d: &Value,
    service: &str,
    namespace: &str,
    rule_namespace: &str,
) -> bool {
    spec_str(d, "/destination/host")
        .is_some_and(|h| names_service_from(h, service, namespace, rule_namespace))
}

/// The team's routes, classified, each route to the service under a name no other route of the
/// VirtualService has: Argo Rollouts re-weights the first route of each name the Rollout lists
/// (rollout/trafficrouting/istio/istio.go, `getHttpRouteIndexesToPatch` and `searchHttpRoute`),
/// and istiod lets names repeat (istio/istio#22858), so a team route to another service that
/// shares the split route's name would be re-weighted in its place (and stripped of its
/// destinations, which are neither subset). The team's name is kept when it is unique among the
/// routes written back and the routes to the service before it; else the first of `NAME-2`,
/// `NAME-3`, ... that no route has. Unnamed routes are `primary`, `primary-2`, ..., past every
/// name the team uses.
fn team_routes(vs: &Value, service: &str, namespace: &str, rule_namespace: &str) -> Vec<VsRoute> {
    let routes: Vec<&Value> = array(vs, "/spec/http").collect();
    let mut taken: Vec<String> = routes
        .iter()
        .filter_map(|r| spec_str(r, "/name"))
        .map(str::to_string)
        .collect();
    let to_service = |r: &Value| {
        array(r, "/route").any(|d| destination_names_service(d, service, namespace, rule_namespace))
    };
    // The names of the routes canaryc writes back verbatim (those to other services only).
    let verbatim: Vec<&str> = routes
        .iter()
        .filter(|r| !to_service(r))
        .filter_map(|r| spec_str(r, "/name"))
        .collect();
    let mut ours: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for r in routes {
        let dests: Vec<&Value> = array(r, "/route").collect();
        let (to_us, to_others): (Vec<&Value>, Vec<&Value>) = dests
            .iter()
            .partition(|d| destination_names_service(d, service, namespace, rule_namespace));
        if to_us.is_empty() {
            out.push(VsRoute::Other(r.clone()));
            continue;
        }
        let natural = spec_str(r, "/name");
        let name = match natural {
            Some(n) if !verbatim.contains(&n) && !ours.iter().any(|o| o == n) => n.to_string(),
            _ => {
                let (base, first) = natural.map_or(("primary", 1), |n| (n, 2));
                let name = (first..)
                    .map(|i| match i {
                        1 => base.to_string(),
                        i => format!("{base}-{i}"),
                    })
                    .find(|n| !taken.contains(n))
                    .unwrap_or_default();
                taken.push(name.clone());
                name
            }
        };
        ours.push(name.clone());
        // Istio: an unweighted destination alone takes everything; weights otherwise.
        let weight = |d: &&Value| {
            d.get("weight")
                .and_then(Value::as_u64)
                .and_then(|w| u32::try_from(w).ok())
                .unwrap_or(0)
        };
        let shared_weight = (!to_others.is_empty()).then(|| to_us.iter().map(weight).sum::<u32>());
        let host = match to_us.first().and_then(|d| spec_str(d, "/destination/host")) {
            Some(h) if rule_namespace != namespace => h.to_string(),
            _ => service.to_string(),
        };
        out.push(VsRoute::Service(ServiceRoute {
            name,
            team: Some(r.clone()),
            shared_weight,
            host,
            rule_namespace: rule_namespace.to_string(),
        }));
    }
    out
}

/// canaryc's own route, when the team has no VirtualService: in the service's namespace.
pub fn own_route(service: &str, namespace: &str) -> Vec<VsRoute> {
    vec![VsRoute::Service(ServiceRoute {
        name: "primary".into(),
        team: None,
        shared_weight: None,
        host: service.to_string(),
        rule_namespace: namespace.to_string(),
    })]
}

/// What the plain files' router objects are named, and which of their routes holds the
/// weighted split: the runbook's commands patch exactly what `emit/kubernetes.rs` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainRoutingIr {
    /// The primary Ingress and HTTPRoute: the service's name (the DestinationRule is
    /// `KubeIr::destination_rule`).
    pub name: String,
    /// The VirtualService, its hosts and Gateways: the team's when they have one (its routes
    /// to other services are written back, so applying it keeps them), else the service's
    /// name, for the sidecars only.
    pub virtual_service: String,
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
    /// ingress-nginx's canary Ingress.
    pub canary_ingress: String,
    /// The index, in the HTTPRoute's `rules`, of the weighted split: after the two
    /// cookie-pinned rules when routing is sticky by cookie. (The VirtualService's routes are
    /// listed with their roles by `emit::kubernetes`, which the runbook's commands follow.)
    pub split_route: usize,
}

impl PlainRoutingIr {
    fn new(name: &str, pinned: bool) -> PlainRoutingIr {
        PlainRoutingIr {
            name: name.to_string(),
            virtual_service: name.to_string(),
            hosts: vec![name.to_string()],
            gateways: Vec::new(),
            canary_ingress: format!("{name}-canary"),
            split_route: if pinned { 2 } else { 0 },
        }
    }
}

/// The team's objects one service's routing is cloned from.
#[derive(Debug, Clone, Default)]
pub(super) struct TeamRouting {
    /// The Ingress that routes to the service.
    pub ingress: Option<Value>,
    /// The HTTPRoute that routes to the service (or the only one, for its Gateway and hosts).
    pub route: Option<Value>,
}

impl KubeIr {
    /// Every VirtualService canaryc writes for the service, the one split first first.
    pub fn virtual_services(&self) -> impl Iterator<Item = &VirtualServiceIr> {
        std::iter::once(&self.virtual_service).chain(&self.more_virtual_services)
    }

    /// A service with no Kubernetes target: names as canaryc would create them.
    pub fn plain(name: &str, port: u16, namespace: &str) -> KubeIr {
        KubeIr {
            service: name.to_string(),
            service_port: port,
            virtual_service: VirtualServiceIr::own(
                name.to_string(),
                namespace,
                Vec::new(),
                vec![name.to_string()],
                name,
            ),
            more_virtual_services: Vec::new(),
            destination_rule: name.to_string(),
            team_subsets: Vec::new(),
            observed: observed(Engine::None, name, namespace, port, port),
            plain: PlainRoutingIr::new(name, false),
        }
    }
}

/// The engine running the copies on Kubernetes, if a target is Kubernetes.
pub(super) fn kubernetes_engine(targets: &[Target]) -> Option<Engine> {
    targets
        .iter()
        .find(|t| t.infra == InfraKind::Kubernetes)
        .map(|t| t.engine)
}

/// The labels each copy carries under `engine` (`None` and `Canaryc`: the plain files).
/// `service_port` is the port of the Services canaryc or Flagger create for the engine;
/// the plain files' per-copy Services listen on the container port.
pub(super) fn observed(
    engine: Engine,
    name: &str,
    namespace: &str,
    service_port: u16,
    container_port: u16,
) -> ObservedIr {
    let same = PerCopy::suffixed(name, "", "");
    match engine {
        Engine::ArgoRollouts => ObservedIr {
            istio_destination: same,
            ingress_service: format!("{name}-stable"),
            ingress_canary_upstream: format!("{namespace}-{name}-canary-{service_port}"),
            pods: PodsIr::Container(PerCopy::suffixed(name, "-py2", "-py3")),
        },
        Engine::Flagger => ObservedIr {
            istio_destination: PerCopy::suffixed(name, "-primary", "-canary"),
            ingress_service: name.to_string(),
            ingress_canary_upstream: format!("{namespace}-{name}-canary-{service_port}"),
            pods: PodsIr::Container(PerCopy::suffixed(name, "-py2", "-py3")),
        },
        Engine::Canaryc | Engine::None => ObservedIr {
            istio_destination: same,
            ingress_service: format!("{name}-py2"),
            ingress_canary_upstream: format!("{namespace}-{name}-py3-{container_port}"),
            pods: PodsIr::Deployment(PerCopy::suffixed(name, "-py2", "-py3")),
        },
    }
}

/// What the monitoring of a target running `router` can read. The app's own metrics exist on
/// every target; the router's only where that router runs.
pub(super) fn produces(router: Router, source: MetricsSource) -> bool {
    match source {
        MetricsSource::Istio => router == Router::Istio,
        MetricsSource::NginxIngress => router == Router::NginxIngress,
        MetricsSource::Haproxy => router == Router::Haproxy,
        MetricsSource::App => true,
    }
}

/// The metrics source that follows a router.
pub(super) fn source_of(router: Router) -> MetricsSource {
    match router {
        Router::Istio => MetricsSource::Istio,
        Router::NginxIngress => MetricsSource::NginxIngress,
        Router::Haproxy => MetricsSource::Haproxy,
        Router::GatewayApi | Router::Nginx => MetricsSource::App,
    }
}

fn spec_str<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn array<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Whether an Istio or Kubernetes host names `service` in `namespace` (`ledger`,
/// `ledger.payments`, `ledger.payments.svc.cluster.local`).
fn names_service(host: &str, service: &str, namespace: &str) -> bool {
    names_service_from(host, service, namespace, namespace)
}

/// `names_service` for a host written in an object of `rule_namespace`: a short name there
/// means that namespace's service (Istio qualifies short hosts with the rule's namespace).
fn names_service_from(host: &str, service: &str, namespace: &str, rule_namespace: &str) -> bool {
    (host == service && rule_namespace == namespace)
        || host == format!("{service}.{namespace}")
        || host.starts_with(&format!("{service}.{namespace}.svc"))
}

/// Istio's `host.Name.Matches` for a wildcard host against the service's short name: `*`
/// matches every host, `*.suffix` every host ending `.suffix`. Exact names are `names_service`.
fn istio_host_matches(host: &str, service: &str) -> bool {
    host.strip_prefix('*')
        .is_some_and(|suffix| service.ends_with(suffix))
}

/// Whether an Ingress sends any path to `service`.
pub(super) fn ingress_routes_to(ingress: &Value, service: &str) -> bool {
    array(ingress, "/spec/rules")
        .flat_map(|r| array(r, "/http/paths"))
        .chain(ingress.pointer("/spec/defaultBackend"))
        .any(|p| {
            spec_str(p, "/backend/service/name") == Some(service)
                || spec_str(p, "/service/name") == Some(service)
        })
}

/// Whether an HTTPRoute has a backendRef to `service` (a core Service, the default kind).
pub fn route_routes_to(route: &Value, service: &str) -> bool {
    array(route, "/spec/rules")
        .flat_map(|r| array(r, "/backendRefs"))
        .any(|b| is_service_ref(b, service))
}

/// A backendRef to the core Service `service`.
pub fn is_service_ref(backend: &Value, service: &str) -> bool {
    let kind = spec_str(backend, "/kind").unwrap_or("Service");
    let group = spec_str(backend, "/group").unwrap_or("");
    kind == "Service" && group.is_empty() && spec_str(backend, "/name") == Some(service)
}

/// The port of the team's Service that forwards to the container port `port` (by number or
/// by the container port's name), or its only port.
fn service_port(service: &Value, port: u16, port_names: &[String]) -> Option<u16> {
    let ports: Vec<&Value> = array(service, "/spec/ports").collect();
    let number = |p: &Value| {
        p.get("port")
            .and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
    };
    let targets_container = |p: &&&Value| match p.get("targetPort") {
        Some(Value::Number(n)) => n.as_u64() == Some(u64::from(port)),
        Some(Value::String(name)) => port_names.contains(name),
        // No targetPort: the Service's port is the container's.
        _ => number(p) == Some(port),
    };
    ports
        .iter()
        .find(targets_container)
        .or_else(|| (ports.len() == 1).then(|| &ports[0]))
        .and_then(|p| number(p))
}

/// The container port's names in the team's Deployment (`http` for 8000).
fn container_port_names(deployment: Option<&Value>, port: u16) -> Vec<String> {
    deployment
        .into_iter()
        .flat_map(|d| array(d, "/spec/template/spec/containers"))
        .flat_map(|c| array(c, "/ports"))
        .filter(|p| p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(port)))
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The port an Ingress or HTTPRoute backend names for `service`.
fn backend_port(ingress: Option<&Value>, route: Option<&Value>, service: &str) -> Option<u16> {
    let to_u16 = |v: Option<&Value>| {
        v.and_then(Value::as_u64)
            .and_then(|n| u16::try_from(n).ok())
    };
    let from_ingress = ingress.and_then(|i| {
        array(i, "/spec/rules")
            .flat_map(|r| array(r, "/http/paths"))
            .filter(|p| spec_str(p, "/backend/service/name") == Some(service))
            .find_map(|p| to_u16(p.pointer("/backend/service/port/number")))
    });
    from_ingress.or_else(|| {
        route.and_then(|r| {
            array(r, "/spec/rules")
                .flat_map(|r| array(r, "/backendRefs"))
                .filter(|b| is_service_ref(b, service))
                .find_map(|b| to_u16(b.get("port")))
        })
    })
}

/// The string entries of the mapping at `pointer`, but for the keys `leave_out`.
fn string_map(v: &Value, pointer: &str, leave_out: &[&str]) -> BTreeMap<String, String> {
    v.pointer(pointer)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| !leave_out.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

/// The first name of `candidates` that none of `taken` has.
fn free_name(candidates: impl IntoIterator<Item = String>, taken: &[&str]) -> String {
    candidates
        .into_iter()
        .find(|n| !taken.contains(&n.as_str()))
        .unwrap_or_default()
}

/// `NAME`, then `NAME-SUFFIX`, `NAME-SUFFIX-2`, ...
fn names_after(name: &str, suffix: &str) -> impl Iterator<Item = String> {
    let name = name.to_string();
    let suffix = suffix.to_string();
    (0..).map(move |i| match i {
        0 => name.clone(),
        1 => format!("{name}-{suffix}"),
        i => format!("{name}-{suffix}-{i}"),
    })
}

/// The Istio objects canaryc writes for a service, decided from the team's.
struct IstioRouting {
    /// The VirtualServices to split, the first the one split first (never empty).
    virtual_services: Vec<VirtualServiceIr>,
    destination_rule: String,
    team_subsets: Vec<String>,
}

/// Istio: the team's VirtualServices that route to the service (each kept, under its name, with
/// its routes), or one of canaryc's own through the Gateway the service is served on; one for
/// the sidecars when none of those binds them; and a DestinationRule named past the team's.
/// canaryc's own objects never take a name a team object of their kind has: applying them
/// would replace that object (a VirtualService or DestinationRule of Istio's samples, say,
/// that the team applies from an optional file).
fn istio_route(objects: &[K8sObject], service: &str, namespace: &str) -> IstioRouting {
    let manifests = |kind: &'static str| {
        objects
            .iter()
            .filter(move |o| o.kind == kind)
            .filter_map(|o| o.manifest.as_ref().map(|m| (o, m)))
    };
    let strings = |v: &Value, pointer: &str| -> Vec<String> {
        array(v, pointer)
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let names_of = |kind: &str| -> Vec<&str> {
        objects
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.name.as_str())
            .collect()
    };
    let vs_names = names_of("VirtualService");
    let dr_names = names_of("DestinationRule");
    // Where an object's short hosts resolve: its own namespace (the plan's when it names none).
    let home = |o: &K8sObject| o.namespace.clone().unwrap_or_else(|| namespace.to_string());
    let mut team_subsets: Vec<String> = manifests("DestinationRule")
        .filter(|(o, m)| {
            spec_str(m, "/spec/host")
                .is_some_and(|h| names_service_from(h, service, namespace, &home(o)))
        })
        .map(|(_, m)| m)
        .flat_map(|m| array(m, "/spec/subsets"))
        .filter_map(|s| spec_str(s, "/name"))
        .map(str::to_string)
        .collect();
    team_subsets.sort();
    team_subsets.dedup();
    let destination_rule = free_name(names_after(service, "canary"), &dr_names);

    // One object per name: files that define the same VirtualService in alternatives (a
    // sample's `-v1`, `-50-v3`, ...) give the first, in path order; the others are listed
    // (those with another spec, whether or not they route to the service: applying ours
    // replaces whichever is live).
    let at = |o: &K8sObject| format!("{}:{}", o.evidence.file, o.evidence.line);
    let alternatives = |o: &K8sObject, m: &Value| -> Vec<String> {
        manifests("VirtualService")
            .filter(|(a, am)| {
                home(a) == home(o) && a.name == o.name && am.get("spec") != m.get("spec")
            })
            .map(|(a, _)| at(a))
            .collect()
    };
    let mut seen: Vec<(String, &str)> = Vec::new();
    let theirs: Vec<_> = manifests("VirtualService")
        .filter(|(o, m)| {
            array(m, "/spec/http")
                .flat_map(|h| array(h, "/route"))
                .filter_map(|d| spec_str(d, "/destination/host"))
                .any(|h| names_service_from(h, service, namespace, &home(o)))
        })
        .filter(|(o, _)| {
            let key = (home(o), o.name.as_str());
            let first = !seen.contains(&key);
            seen.push(key);
            first
        })
        .collect();
    let mut virtual_services: Vec<VirtualServiceIr> = theirs
        .iter()
        .map(|(o, m)| {
            let mut rest = match m.get("spec") {
                Some(Value::Object(spec)) => spec.clone(),
                _ => serde_json::Map::new(),
            };
            for key in ["hosts", "gateways", "http"] {
                rest.remove(key);
            }
            VirtualServiceIr {
                name: o.name.clone(),
                namespace: home(o),
                gateways: strings(m, "/spec/gateways"),
                hosts: strings(m, "/spec/hosts"),
                http: team_routes(m, service, namespace, &home(o)),
                rest,
                team: true,
                labels: string_map(m, "/metadata/labels", &[]),
                annotations: string_map(
                    m,
                    "/metadata/annotations",
                    &["kubectl.kubernetes.io/last-applied-configuration"],
                ),
                defined_at: at(o),
                alternatives: alternatives(o, m),
            }
        })
        .collect();
    // Another of the team's VirtualServices already routes the sidecars' requests for the
    // service's host: the first is left on its Gateways (a second VirtualService for one host
    // bound to the mesh would conflict with it).
    let sidecars_routed = virtual_services.iter().skip(1).any(|v| {
        v.binds_mesh()
            && v.hosts.iter().any(|h| {
                names_service_from(h, service, namespace, &v.namespace)
                    || istio_host_matches(h, service)
            })
    });
    if let Some(first) = virtual_services.first_mut() {
        // A host that already matches the service's name (`*`, or `*.suffix` it ends with)
        // must stay alone: istiod refuses "duplicate hosts in virtual service"
        // (`host.Name.Matches` on the hosts as written), and refuses the host `*` on a
        // VirtualService bound to the mesh (pkg/config/validation, `validateVirtualService`).
        // Such a VirtualService stays on the team's gateways.
        // One in another namespace is left on its Gateways too: its short hosts would name that
        // namespace's services, and the sidecars' own VirtualService is added beside it.
        let covered = first.hosts.iter().any(|h| istio_host_matches(h, service));
        if !covered && !sidecars_routed && first.namespace == namespace {
            // In-mesh clients split too: the service's own host through the sidecars.
            if !first.binds_mesh() {
                first.gateways.push("mesh".into());
            }
            if !first
                .hosts
                .iter()
                .any(|h| names_service(h, service, namespace))
            {
                first.hosts.push(service.to_string());
            }
        }
        if !virtual_services.iter().any(VirtualServiceIr::binds_mesh) {
            // Bound to the team's Gateways only: the sidecars' own beside them.
            virtual_services.push(VirtualServiceIr::own(
                free_name(names_after(service, "mesh"), &vs_names),
                namespace,
                Vec::new(),
                vec![service.to_string()],
                service,
            ));
        }
        return IstioRouting {
            virtual_services,
            destination_rule,
            team_subsets,
        };
    }
    let own_name = free_name(names_after(service, "canary"), &vs_names);
    let gateways: Vec<_> = manifests("Gateway").collect();
    let chosen = gateways
        .iter()
        .find(|(o, _)| o.name == service)
        .or_else(|| (gateways.len() == 1).then(|| &gateways[0]));
    let Some((o, m)) = chosen else {
        return IstioRouting {
            virtual_services: vec![VirtualServiceIr::own(
                own_name,
                namespace,
                Vec::new(),
                vec![service.to_string()],
                service,
            )],
            destination_rule,
            team_subsets,
        };
    };
    let reference = match o.namespace.as_deref() {
        Some(ns) if ns != namespace => format!("{ns}/{}", o.name),
        _ => o.name.clone(),
    };
    let mut hosts: Vec<String> = array(m, "/spec/servers")
        .flat_map(|s| array(s, "/hosts"))
        .filter_map(Value::as_str)
        // `namespace/host` in a Gateway; a bare `*` would capture every host on the Gateway.
        .map(|h| h.rsplit('/').next().unwrap_or(h).to_string())
        .filter(|h| h != "*")
        .collect();
    hosts.dedup();
    hosts.push(service.to_string());
    IstioRouting {
        virtual_services: vec![VirtualServiceIr::own(
            own_name,
            namespace,
            vec![reference, "mesh".into()],
            hosts,
            service,
        )],
        destination_rule,
        team_subsets,
    }
}

/// The Kubernetes facts of one service. `deployment` is the team's Deployment manifest;
/// `pinned`, whether routing is sticky by cookie (pinned routes before the split).
#[allow(clippy::too_many_arguments)]
pub(super) fn lower(
    name: &str,
    port: u16,
    namespace: &str,
    engine: Engine,
    workload: Option<&Workload>,
    detection: Option<&Detection>,
    single_service: bool,
    pinned: bool,
) -> (KubeIr, TeamRouting) {
    // The team's Deployment, and what the link pass found it behind.
    let deployment = workload.and_then(|w| w.manifest.as_ref());
    let links = workload.map(|w| &w.k8s);
    let Some(k8s) = detection.map(|d| &d.kubernetes) else {
        let kube = KubeIr {
            observed: observed(engine, name, namespace, port, port),
            plain: PlainRoutingIr::new(name, pinned),
            ..KubeIr::plain(name, port, namespace)
        };
        return (kube, TeamRouting::default());
    };
    // The team's Service of the same name: the one clients address, that an engine's routing
    // keeps as the host (a differently named Service gets an apex of the service's name).
    // The link pass found them by selector and backend (detect/link.rs); by name otherwise.
    let linked = |kind: fn(&K8sLinks) -> Option<&String>| links.and_then(kind);
    let team_service = linked(|l| l.service.as_ref())
        .and_then(|n| k8s.services.iter().find(|s| &s.name == n))
        .or_else(|| k8s.services.iter().find(|s| s.name == name));
    let service = name.to_string();
    let ingress = linked(|l| l.ingress.as_ref())
        .and_then(|n| k8s.ingresses.iter().find(|i| &i.name == n))
        .and_then(|i| i.manifest.as_ref())
        .or_else(|| {
            k8s.ingresses
                .iter()
                .filter_map(|i| i.manifest.as_ref())
                .find(|m| ingress_routes_to(m, &service))
        })
        .cloned();
    let route = linked(|l| l.route.as_ref())
        .and_then(|n| k8s.routes.iter().find(|r| &r.name == n))
        .and_then(|r| r.manifest.as_ref())
        .or_else(|| {
            k8s.routes
                .iter()
                .filter(|r| r.kind == "HTTPRoute")
                .filter_map(|r| r.manifest.as_ref())
                .find(|m| route_routes_to(m, &service))
        })
        .or_else(|| {
            // A route that names no backend of ours still says which Gateway and hosts.
            (single_service && k8s.routes.len() == 1)
                .then(|| k8s.routes[0].manifest.as_ref())
                .flatten()
        })
        .cloned();
    let names = container_port_names(deployment, port);
    let service_port = team_service
        .and_then(|s| s.manifest.as_ref())
        .and_then(|m| service_port(m, port, &names))
        .or_else(|| backend_port(ingress.as_ref(), route.as_ref(), &service))
        .unwrap_or(port);
    let IstioRouting {
        mut virtual_services,
        destination_rule,
        team_subsets,
    } = istio_route(&k8s.istio_objects, name, namespace);
    let virtual_service = virtual_services.remove(0);
    let mut plain = PlainRoutingIr::new(name, pinned);
    plain.virtual_service = virtual_service.name.clone();
    if virtual_service.team {
        plain.hosts = virtual_service.hosts.clone();
        plain.gateways = virtual_service.gateways.clone();
    }
    let kube = KubeIr {
        service,
        service_port,
        virtual_service,
        more_virtual_services: virtual_services,
        destination_rule,
        team_subsets,
        observed: observed(engine, name, namespace, service_port, port),
        plain,
    };
    (kube, TeamRouting { ingress, route })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_services_port_is_the_one_forwarding_to_the_container() {
        let svc = json!({ "spec": { "ports": [
            { "name": "metrics", "port": 9100, "targetPort": 9100 },
            { "name": "http", "port": 80, "targetPort": "http" }
        ] } });
        assert_eq!(service_port(&svc, 8000, &["http".into()]), Some(80));
        assert_eq!(service_port(&svc, 9100, &[]), Some(9100));
        let one = json!({ "spec": { "ports": [ { "port": 443, "targetPort": "web" } ] } });
        assert_eq!(service_port(&one, 8000, &[]), Some(443));
    }

    #[test]
    fn a_wildcard_virtual_service_keeps_its_hosts_and_gateways() {
        let vs = K8sObject {
            kind: "VirtualService".into(),
            name: "bookshop".into(),
            namespace: None,
            evidence: crate::detect::facts::Evidence::new("vs.yaml", 1),
            replicas: None,
            targets: Vec::new(),
            manifest: Some(json!({ "spec": {
                "hosts": ["*"],
                "gateways": ["bookshop-gateway"],
                "http": [ { "route": [ { "destination": { "host": "storefront" } } ] } ],
            } })),
        };
        let routing = istio_route(&[vs], "storefront", "default");
        let [theirs, mesh] = &routing.virtual_services[..] else {
            panic!("{:?}", routing.virtual_services)
        };
        assert_eq!(theirs.name, "bookshop");
        assert!(theirs.team);
        // Adding `mesh` or `storefront` here is what istiod refuses.
        assert_eq!(theirs.gateways, vec!["bookshop-gateway"]);
        assert_eq!(theirs.hosts, vec!["*"]);
        // The sidecars' own, beside it.
        assert_eq!((mesh.name.as_str(), mesh.team), ("storefront", false));
        assert_eq!(mesh.hosts, vec!["storefront"]);
    }

    #[test]
    fn the_teams_routes_keep_their_order_and_get_unique_names() {
        let dest =
            |host: &str, weight: u32| json!({ "destination": { "host": host }, "weight": weight });
        let vs = json!({ "spec": { "http": [
            { "name": "primary", "route": [ dest("reviews", 100) ] },
            { "match": [ { "uri": { "prefix": "/a" } } ], "route": [ dest("shop", 100) ] },
            { "name": "b", "route": [ dest("shop.web.svc.cluster.local", 100) ] },
            { "name": "b", "route": [ dest("shop.web", 100) ] },
            { "name": "mixed", "route": [ dest("shop", 70), dest("legacy", 30) ] },
        ] } });
        let routes = team_routes(&vs, "shop", "web", "web");
        assert!(matches!(&routes[0], VsRoute::Other(r) if r["name"] == "primary"));
        let ours: Vec<(&str, Option<u32>)> = routes[1..]
            .iter()
            .map(|r| match r {
                VsRoute::Service(r) => (r.name.as_str(), r.shared_weight),
                VsRoute::Other(r) => panic!("{r}"),
            })
            .collect();
        // `primary` is the team's route to reviews: the first unnamed route is `primary-2`.
        assert_eq!(
            ours,
            [
                ("primary-2", None),
                ("b", None),
                ("b-2", None),
                ("mixed", Some(70))
            ]
        );
        let VsRoute::Service(mixed) = &routes[4] else {
            unreachable!()
        };
        let written = mixed.with_destinations("shop", "web", vec![json!({ "ours": true })]);
        assert_eq!(
            written["route"],
            json!([ { "ours": true }, dest("legacy", 30) ])
        );
        assert_eq!(written["name"], "mixed");
    }

    #[test]
    fn a_split_route_never_shares_its_name_with_a_route_written_back() {
        let dest = |host: &str| json!({ "destination": { "host": host } });
        // The team's names repeat (istiod allows it): `http` and `api` for routes to other
        // services too, before and after the routes to the service.
        let vs = json!({ "spec": { "http": [
            { "name": "http", "route": [ dest("reports") ] },
            { "name": "http", "route": [ dest("shop") ] },
            { "name": "api", "route": [ dest("shop") ] },
            { "name": "http-2", "route": [ dest("docs") ] },
            { "name": "api", "route": [ dest("search") ] },
            { "route": [ dest("shop") ] },
        ] } });
        let routes = team_routes(&vs, "shop", "web", "web");
        let names: Vec<&str> = routes
            .iter()
            .map(|r| match r {
                VsRoute::Service(r) => r.name.as_str(),
                VsRoute::Other(r) => r["name"].as_str().unwrap(),
            })
            .collect();
        // Argo re-weights the first route of each listed name: each split route's is its own.
        assert_eq!(
            names,
            ["http", "http-3", "api-2", "http-2", "api", "primary"]
        );
        for r in &routes {
            if let VsRoute::Service(ours) = r {
                assert_eq!(
                    names.iter().filter(|n| **n == ours.name).count(),
                    1,
                    "{names:?}"
                );
            }
        }
    }

    #[test]
    fn a_gateway_gives_the_virtual_service_its_hosts_and_mesh() {
        let gw = K8sObject {
            kind: "Gateway".into(),
            name: "edge".into(),
            namespace: Some("istio-system".into()),
            evidence: crate::detect::facts::Evidence::new("g.yaml", 1),
            replicas: None,
            targets: Vec::new(),
            manifest: Some(
                json!({ "spec": { "servers": [ { "hosts": ["*/ledger.example.com", "*"] } ] } }),
            ),
        };
        let routing = istio_route(&[gw], "ledger", "payments");
        let [ours] = &routing.virtual_services[..] else {
            panic!("{:?}", routing.virtual_services)
        };
        assert_eq!((ours.name.as_str(), ours.team), ("ledger", false));
        assert_eq!(ours.gateways, vec!["istio-system/edge", "mesh"]);
        assert_eq!(ours.hosts, vec!["ledger.example.com", "ledger"]);
        assert_eq!(routing.destination_rule, "ledger");
    }

    #[test]
    fn canaryc_names_its_objects_past_the_teams() {
        let object = |kind: &str, name: &str, manifest: Value| K8sObject {
            kind: kind.into(),
            name: name.into(),
            namespace: None,
            evidence: crate::detect::facts::Evidence::new("x.yaml", 1),
            replicas: None,
            targets: Vec::new(),
            manifest: Some(manifest),
        };
        // A VirtualService and DestinationRules named after the service that route elsewhere
        // (another namespace's `ledger`), and one of its subsets.
        let objects = [
            object(
                "VirtualService",
                "ledger",
                json!({ "spec": { "hosts": ["ledger.audit"], "http": [ { "route": [ { "destination": { "host": "ledger.audit" } } ] } ] } }),
            ),
            object(
                "DestinationRule",
                "ledger",
                json!({ "spec": { "host": "ledger.audit" } }),
            ),
            object(
                "DestinationRule",
                "ledger-canary",
                json!({ "spec": { "host": "ledger", "subsets": [ { "name": "v1" }, { "name": "stable" } ] } }),
            ),
        ];
        let routing = istio_route(&objects, "ledger", "payments");
        assert_eq!(routing.virtual_services[0].name, "ledger-canary");
        assert!(!routing.virtual_services[0].team);
        assert_eq!(routing.destination_rule, "ledger-canary-2");
        assert_eq!(routing.team_subsets, ["stable", "v1"]);
    }

    #[test]
    fn the_observed_names_follow_the_engine() {
        let argo = observed(Engine::ArgoRollouts, "shop", "web", 80, 8000);
        assert_eq!(argo.istio_destination.get(Interpreter::Py3), "shop");
        assert_eq!(argo.ingress_service, "shop-stable");
        assert_eq!(argo.ingress_canary_upstream, "web-shop-canary-80");
        let flagger = observed(Engine::Flagger, "shop", "web", 80, 8000);
        assert_eq!(
            flagger.istio_destination.get(Interpreter::Py2),
            "shop-primary"
        );
        assert_eq!(flagger.ingress_service, "shop");
        let plain = observed(Engine::None, "shop", "web", 80, 8000);
        assert_eq!(
            plain.pods,
            PodsIr::Deployment(PerCopy::suffixed("shop", "-py2", "-py3"))
        );
        assert_eq!(plain.ingress_canary_upstream, "web-shop-py3-8000");
    }
}
