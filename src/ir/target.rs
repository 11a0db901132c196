//! The IR's own vocabulary for where and how a rollout runs. The model's enums carry what the
//! plan may leave open (`infra = auto`, `monitor { source = auto }`); these do not: lowering
//! resolves every `auto` (ir.rs), so an emitter never meets a case it has to guess at.

use schemars::JsonSchema;
use serde::Serialize;

use crate::model;

/// The infrastructure a target runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InfraKind {
    Kubernetes,
    DockerCompose,
    BareMetal,
}

impl InfraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InfraKind::Kubernetes => "kubernetes",
            InfraKind::DockerCompose => "docker-compose",
            InfraKind::BareMetal => "bare-metal",
        }
    }

    /// The routers that can split traffic on this infrastructure; the first is the default.
    pub(crate) fn default_router(self) -> Router {
        match self {
            InfraKind::Kubernetes => Router::Istio,
            InfraKind::DockerCompose | InfraKind::BareMetal => Router::Haproxy,
        }
    }

    /// The model's `auto` left unresolved (no codebase) is bare metal, as with nothing
    /// detected.
    pub(crate) fn resolve(kind: model::InfraKind) -> InfraKind {
        match kind {
            model::InfraKind::Kubernetes => InfraKind::Kubernetes,
            model::InfraKind::DockerCompose => InfraKind::DockerCompose,
            model::InfraKind::BareMetal | model::InfraKind::Auto => InfraKind::BareMetal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Router {
    Istio,
    GatewayApi,
    NginxIngress,
    Haproxy,
    Nginx,
}

impl Router {
    pub fn as_str(self) -> &'static str {
        model::Router::from(self).as_str()
    }
}

impl From<model::Router> for Router {
    fn from(r: model::Router) -> Router {
        match r {
            model::Router::Istio => Router::Istio,
            model::Router::GatewayApi => Router::GatewayApi,
            model::Router::NginxIngress => Router::NginxIngress,
            model::Router::Haproxy => Router::Haproxy,
            model::Router::Nginx => Router::Nginx,
        }
    }
}

impl From<Router> for model::Router {
    fn from(r: Router) -> model::Router {
        match r {
            Router::Istio => model::Router::Istio,
            Router::GatewayApi => model::Router::GatewayApi,
            Router::NginxIngress => model::Router::NginxIngress,
            Router::Haproxy => model::Router::Haproxy,
            Router::Nginx => model::Router::Nginx,
        }
    }
}

/// What acts on the analysis: moves py3 forward stage by stage and back to py2 by itself.
///
/// From shared/reference/canary-systems.md §8: Argo Rollouts is the only widely used Kubernetes
/// controller whose steps hold each stage for its own duration (`setWeight` + `pause`); Flagger
/// has one `interval` for every step. Off Kubernetes nothing runs canaries, so canaryc's own
/// loop does: Prometheus, Alertmanager, a rollback receiver and `canaryc promote`, acting on the
/// load balancer's runtime API (HAProxy's; plain nginx has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    ArgoRollouts,
    Flagger,
    Canaryc,
    /// Plain files: a person moves the weights and rolls back.
    None,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        model::Engine::from(self).as_str()
    }

    /// Whether the bundle rolls back (and ramps up) by itself with this engine.
    pub fn automatic(self) -> bool {
        self != Engine::None
    }

    /// Whether the engine can keep a user on one interpreter while it moves weights (the
    /// model's rule, with its sources).
    pub fn keeps_sticky(self, router: Router) -> bool {
        model::Engine::from(self).keeps_sticky(router.into())
    }
}

impl From<model::Engine> for Engine {
    fn from(e: model::Engine) -> Engine {
        match e {
            model::Engine::ArgoRollouts => Engine::ArgoRollouts,
            model::Engine::Flagger => Engine::Flagger,
            model::Engine::Canaryc => Engine::Canaryc,
            model::Engine::None => Engine::None,
        }
    }
}

impl From<Engine> for model::Engine {
    fn from(e: Engine) -> model::Engine {
        match e {
            Engine::ArgoRollouts => model::Engine::ArgoRollouts,
            Engine::Flagger => model::Engine::Flagger,
            Engine::Canaryc => model::Engine::Canaryc,
            Engine::None => model::Engine::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StickyBy {
    Cookie,
    Header,
}

impl From<model::StickyBy> for StickyBy {
    fn from(by: model::StickyBy) -> StickyBy {
        match by {
            model::StickyBy::Cookie => StickyBy::Cookie,
            model::StickyBy::Header => StickyBy::Header,
        }
    }
}

/// Where the request, error and latency series come from: the plan's choice, or the first
/// target's router's (`kube::source_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MetricsSource {
    Istio,
    NginxIngress,
    Haproxy,
    App,
}

impl MetricsSource {
    pub fn as_str(self) -> &'static str {
        model::MetricsSource::from(self).as_str()
    }

    /// The latency histogram's bucket bounds, in its unit (the model's table, with its sources).
    pub fn latency_buckets(self) -> &'static [f64] {
        model::MetricsSource::from(self).latency_buckets()
    }

    /// Seconds per unit of the latency histogram's buckets.
    pub fn latency_unit_secs(self) -> f64 {
        model::MetricsSource::from(self).latency_unit_secs()
    }

    /// The plan's source, `None` for `auto` (which lowering resolves from the router).
    pub(crate) fn stated(source: model::MetricsSource) -> Option<MetricsSource> {
        Some(match source {
            model::MetricsSource::Auto => return None,
            model::MetricsSource::Istio => MetricsSource::Istio,
            model::MetricsSource::NginxIngress => MetricsSource::NginxIngress,
            model::MetricsSource::Haproxy => MetricsSource::Haproxy,
            model::MetricsSource::App => MetricsSource::App,
        })
    }
}

impl From<MetricsSource> for model::MetricsSource {
    fn from(s: MetricsSource) -> model::MetricsSource {
        match s {
            MetricsSource::Istio => model::MetricsSource::Istio,
            MetricsSource::NginxIngress => model::MetricsSource::NginxIngress,
            MetricsSource::Haproxy => model::MetricsSource::Haproxy,
            MetricsSource::App => model::MetricsSource::App,
        }
    }
}
