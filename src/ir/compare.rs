//! Where the bundle runs `canaryc compare` (docs/compare.md) when the plan has a `compare { }`
//! section: names, ports, which copy is the primary, the secondary and the candidate, and how
//! traffic reaches the comparator on each target. Emitters only render these decisions.
//!
//! Placement follows shared/reference/canary-systems.md §7 (Diffy: primary, secondary and
//! candidate; the noise is primary vs secondary) and the mirroring facts of §4 and
//! py2-py3-runtime.md §5:
//!
//! - Compose and bare metal (HAProxy or nginx): in front of py2. The load balancer's py2 server is
//!   the comparator, which answers from py2 and mirrors to the second py2 copy and py3 off the
//!   client's path. HAProxy mirrors only through an SPOE agent, and nginx's `mirror` holds the
//!   client's request until the mirror answers, so neither mirrors for us.
//! - Kubernetes with Istio and plain Deployments (`engine: none`): an Istio `mirror` with
//!   `mirrorPercentage` on GET, HEAD and OPTIONS. Envoy's mirror is fire-and-forget (the client
//!   never waits for the comparator) and does not compare, so the comparator does. It mirrors
//!   safe methods only: the comparator sends every request it receives to py2 again, as its
//!   primary, so a mirrored write would run twice on py2.
//! - Elsewhere (Argo Rollouts and Flagger own the routing and the Services; ingress-nginx's
//!   `mirror-target` is not canary-aware): no comparator on that target (CNR426).

use schemars::JsonSchema;
use serde::Serialize;

use super::{Engine, InfraKind, Router};

use super::{Interpreter, Target};

/// The comparator's admin port (`/metrics`, `/report`): the port `canaryc compare` defaults to.
pub const ADMIN_PORT: u16 = 9464;

/// Where a service's comparator listens on a host (bare metal), beside the copies at `port + 1`
/// (py2) and `port + 2` (py3): its proxy at `port + 3`, the second py2 copy at `port + 4`, and
/// its admin listener at `ADMIN_PORT + index`. In containers and pods it listens on `port`
/// and `ADMIN_PORT`, and only the admin port is published (Compose, on loopback). The checker
/// reads the same numbers for CNR427.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPorts {
    pub proxy: u16,
    pub secondary: u16,
    pub admin: u16,
}

pub fn host_ports(port: u16, index: usize) -> HostPorts {
    HostPorts {
        proxy: port.saturating_add(3),
        secondary: port.saturating_add(4),
        admin: ADMIN_PORT.saturating_add(u16::try_from(index).unwrap_or(u16::MAX)),
    }
}

/// The comparator of one service.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ComparatorIr {
    /// Its container, unit, Deployment and Service: `NAME-compare`.
    pub name: String,
    /// The second py2 copy, which only the comparator calls: `NAME-py2-secondary`.
    pub secondary: String,
    /// The image on Compose and Kubernetes: canaryc, built from `Dockerfile.canaryc`.
    pub image: String,
    /// On a host: the comparator's proxy port, the second py2 copy's port and the admin port
    /// (each copy of a shared host has its own; containers and pods use the service's port and
    /// `ADMIN_PORT`).
    pub host_port: u16,
    pub host_secondary_port: u16,
    pub host_admin_port: u16,
    /// Mirrored methods (the comparator's default; a plan endpoint may add more, which it then
    /// mirrors only where the traffic reaches it unfiltered, in front of py2).
    pub methods: Vec<String>,
    /// How each target's traffic reaches it; targets without a comparator are absent.
    pub targets: Vec<ComparatorTarget>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ComparatorTarget {
    pub infra: InfraKind,
    pub placement: Placement,
    /// `canaryc compare --listen`, `--admin`, `--primary`, `--secondary`, `--candidate`.
    pub listen: String,
    pub admin: String,
    pub primary: String,
    pub secondary: String,
    pub candidate: String,
    /// Where Prometheus scrapes `/metrics` (HOST:PORT).
    pub scrape: String,
    /// `--sample`, when the comparator's own sampling must differ from the plan's `sample`
    /// (which it reads with `--plan`): behind an Istio mirror that already sends only that
    /// share, it compares all it gets (`100`), or the plan's share would apply twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_flag: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Placement {
    /// The load balancer's py2 server is the comparator, which answers from py2.
    InFrontOfPy2,
    /// The router mirrors this share of the safe requests to the comparator (fire-and-forget).
    Mirror { percent: f64 },
}

impl ComparatorIr {
    pub fn target(&self, infra: InfraKind) -> Option<&ComparatorTarget> {
        self.targets.iter().find(|t| t.infra == infra)
    }
}

/// Why `target` cannot run a comparator, or `None` when it can.
pub fn unsupported(target: &Target) -> Option<String> {
    match (target.infra, target.router, target.engine) {
        (InfraKind::Kubernetes, Router::Istio, Engine::None) => None,
        (InfraKind::Kubernetes, Router::Istio, engine) => Some(format!(
            "{} owns the VirtualService and the Services of the copies, so nothing can mirror py2's traffic to a comparator or address py2's pods alone",
            engine.as_str()
        )),
        (InfraKind::Kubernetes, router, _) => Some(format!(
            "{} has no mirror canaryc can aim at a comparator (Istio's `mirror` is fire-and-forget; ingress-nginx's `mirror-target` is not canary-aware)",
            router.as_str()
        )),
        _ => None,
    }
}

/// The comparator of service `name` (listening on `port` in containers, the copies on
/// `port_py2`/`port_py3` on hosts), for the targets that can run one. `index` is the service's
/// position in the plan, for the admin port on a shared host. `sample` is the plan's share
/// compared, in percent: the router's `mirrorPercentage` where a router mirrors, the
/// comparator's own sampling (read from the plan) where it sits in front of py2.
#[allow(clippy::too_many_arguments)]
pub fn lower(
    name: &str,
    port: u16,
    port_py2: u16,
    port_py3: u16,
    index: usize,
    targets: &[Target],
    sample: f64,
    image: String,
) -> ComparatorIr {
    let object = |copy: Interpreter| format!("{name}-{}", copy.as_str());
    let secondary = format!("{name}-py2-secondary");
    let compare = format!("{name}-compare");
    let HostPorts {
        proxy: host_port,
        secondary: host_secondary_port,
        admin: host_admin_port,
    } = host_ports(port, index);
    let targets = targets
        .iter()
        .filter(|t| unsupported(t).is_none())
        .map(|t| match t.infra {
            InfraKind::Kubernetes | InfraKind::DockerCompose => ComparatorTarget {
                infra: t.infra,
                placement: if t.infra == InfraKind::Kubernetes {
                    Placement::Mirror { percent: sample }
                } else {
                    Placement::InFrontOfPy2
                },
                listen: format!(":{port}"),
                admin: format!(":{ADMIN_PORT}"),
                primary: format!("http://{}:{port}", object(Interpreter::Py2)),
                secondary: format!("http://{secondary}:{port}"),
                candidate: format!("http://{}:{port}", object(Interpreter::Py3)),
                scrape: format!("{compare}:{ADMIN_PORT}"),
                sample_flag: (t.infra == InfraKind::Kubernetes && sample < 100.0)
                    .then(|| "100".to_string()),
            },
            InfraKind::BareMetal => ComparatorTarget {
                infra: t.infra,
                placement: Placement::InFrontOfPy2,
                listen: format!("127.0.0.1:{host_port}"),
                admin: format!("127.0.0.1:{host_admin_port}"),
                primary: format!("http://127.0.0.1:{port_py2}"),
                secondary: format!("http://127.0.0.1:{host_secondary_port}"),
                candidate: format!("http://127.0.0.1:{port_py3}"),
                scrape: format!("127.0.0.1:{host_admin_port}"),
                sample_flag: None,
            },
        })
        .collect();
    ComparatorIr {
        name: compare,
        secondary,
        image,
        host_port,
        host_secondary_port,
        host_admin_port,
        methods: vec!["GET".into(), "HEAD".into(), "OPTIONS".into()],
        targets,
    }
}
