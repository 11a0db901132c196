//! CNR519: two parts of a bundle that would listen on one port of one host.
//!
//! On Compose, canary-lb publishes every service's public port and HAProxy's stats port on the
//! Compose host; on bare metal the load balancer binds each service's public port, the copies
//! listen at `port + 1` and `port + 2`, and the rollback automation takes its monitor ports.
//! Two of them on one port cannot both start: `docker compose` refuses the stack ("port is
//! already allocated"), HAProxy fails to bind, nginx serves one site for both. Kubernetes gives
//! every Service its own address, so it is not checked here.
//!
//! Run after detection is merged in: the ports a codebase declares (a Compose service's
//! container port and the host port it is published on) are only known then. The comparator's
//! own ports are CNR427's (`compare.rs`).

use crate::diag::{Code, Diagnostic};
use crate::model::{InfraKind, Plan, Router, Service};
use crate::source::Span;

/// One port the bundle takes on a host, and what takes it (also CNR427's, `compare.rs`).
pub(super) struct Taken {
    pub(super) port: u16,
    pub(super) what: String,
    pub(super) span: Span,
}

/// The port the service listens on, as the IR will take it (8000 when nothing says: CNR702).
pub(super) fn port_of(s: &Service) -> (u16, Span) {
    s.port
        .as_ref()
        .map_or((8000, s.name.span), |p| (p.value, p.span))
}

/// The port the load balancer takes for the service.
fn public_port_of(s: &Service) -> (u16, Span) {
    s.public_port
        .as_ref()
        .map_or_else(|| port_of(s), |p| (p.value, p.span))
}

/// Every clash on every Compose and bare-metal target of the plan, each reported once.
pub fn port_collisions(plan: &Plan) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut seen: Vec<(u16, String, String)> = Vec::new();
    for target in &plan.infra {
        let t = &target.value;
        let host = match t.kind {
            InfraKind::BareMetal => true,
            InfraKind::DockerCompose => false,
            InfraKind::Kubernetes | InfraKind::Auto => continue,
        };
        let nginx = t.router == Some(Router::Nginx);
        let taken = taken(plan, host, nginx);
        for (i, later) in taken.iter().enumerate() {
            let Some(first) = taken[..i].iter().find(|t| t.port == later.port) else {
                continue;
            };
            let key = (later.port, first.what.clone(), later.what.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            out.push(collision(first, later, host));
        }
    }
    out
}

fn taken(plan: &Plan, host: bool, nginx: bool) -> Vec<Taken> {
    let balancer = match (host, nginx) {
        (false, _) => "canary-lb",
        (true, true) => "nginx",
        (true, false) => "HAProxy",
    };
    let mut taken = Vec::new();
    for s in &plan.services {
        let name = &s.name.value;
        let (public, span) = public_port_of(s);
        taken.push(Taken {
            port: public,
            what: format!("{balancer}'s port for `{name}`"),
            span,
        });
        if host {
            let (port, span) = port_of(s);
            for (offset, copy) in [(1, "py2"), (2, "py3")] {
                taken.push(Taken {
                    port: port.saturating_add(offset),
                    what: format!("{copy}'s copy of `{name}` (port + {offset})"),
                    span,
                });
            }
        }
    }
    let monitor = &plan.monitor;
    if !nginx {
        taken.push(Taken {
            port: monitor.stats_port.value,
            what: "HAProxy's stats and exporter port (`stats_port`)".into(),
            span: monitor.stats_port.span,
        });
    }
    if host {
        taken.push(Taken {
            port: monitor.alertmanager_port.value,
            what: "Alertmanager's port (`alertmanager_port`)".into(),
            span: monitor.alertmanager_port.span,
        });
        taken.push(Taken {
            port: monitor.webhook_port.value,
            what: "the rollback webhook's port (`webhook_port`)".into(),
            span: monitor.webhook_port.span,
        });
    }
    if monitor.prometheus.is_none() {
        taken.push(Taken {
            port: 9090,
            what: "the bundle's own Prometheus (9090)".into(),
            span: Span::default(),
        });
    }
    taken
}

fn collision(first: &Taken, later: &Taken, host: bool) -> Diagnostic {
    let place = if host {
        "on the host"
    } else {
        "on the Compose host"
    };
    // Point at a place the plan (or the codebase) wrote; Prometheus's 9090 is no one's line.
    let (primary, other) = if later.span == Span::default() {
        (first, later)
    } else {
        (later, first)
    };
    let mut d = Diagnostic::new(
        Code::PortCollision,
        primary.span,
        format!(
            "port {} is taken twice {place}: by {} and by {}",
            later.port, first.what, later.what
        ),
    )
    .label(format!("{}: {}", primary.what, primary.port))
    .help(if host {
        "give the services ports whose neighbours (`port + 1`, `port + 2`: the copies) are free, or a `public_port` for the load balancer, or move the monitor port it meets (`monitor { stats_port = ... }`)"
    } else {
        "give each service its own public port (`public_port = ...`: the host port clients use, while the copies keep listening on `port` in their containers), or move the monitor port it meets (`monitor { stats_port = ... }`)"
    })
    .note("two listeners on one port cannot both start: Compose refuses the stack, HAProxy fails to bind, nginx serves one site for both");
    if other.span != Span::default() && other.span != primary.span {
        d = d.secondary(other.span, format!("{}: {}", other.what, other.port));
    }
    d
}
