//! The `engine:` argument of an infrastructure target, and what an engine can and cannot do
//! with the rest of the plan (CNR510–CNR516).
//!
//! The argument is checked here; the engine a target gets when the plan names none is decided in
//! `ir::lower` (it may depend on the codebase: Flagger when the team already runs it). The
//! whole-plan warnings are shared: `check` reports them for engines the plan names, `lower` for
//! the engines it chose, so a plan hears about each problem once.

use super::Checker;
use crate::diag::{Code, Diagnostic};
use crate::model::{Engine, InfraKind, Router, Schedule, Sticky, StickyBy};
use crate::source::{Span, Spanned};
use crate::syntax::ast::Value;

impl Checker<'_> {
    /// `engine: argo-rollouts` inside `kubernetes(...)`: a known engine that can run there and
    /// drive the router.
    pub(crate) fn engine_arg(
        &mut self,
        kind: InfraKind,
        router: Option<Router>,
        value: &Value,
    ) -> Option<Engine> {
        let example = "infra = kubernetes(router: istio, engine: argo-rollouts)";
        let name = self.name_of(value, Engine::NAMES, "engine", example)?;
        let engine = Engine::parse(name.value)?;
        let allowed = Engine::for_infra(kind);
        if !allowed.contains(&engine) {
            let names: Vec<&str> = allowed.iter().map(|e| e.as_str()).collect();
            self.report(
                Diagnostic::new(
                    Code::EngineInfraMismatch,
                    value.span,
                    format!("{} cannot run a {} canary", engine.as_str(), kind.as_str()),
                )
                .label("engine does not fit")
                .help(if names.is_empty() {
                    "`auto` chooses the engine with the infrastructure; name the infrastructure to choose one".to_string()
                } else {
                    format!(
                        "{} canaries run on {}",
                        kind.as_str(),
                        super::entries::quote_list(&names)
                    )
                }),
            );
            return None;
        }
        let router = router.or_else(|| kind.routers().first().copied());
        if let Some(router) = router.filter(|r| !engine.drives(*r)) {
            self.report(
                Diagnostic::new(
                    Code::EngineRouterMismatch,
                    value.span,
                    format!("{} cannot move {}'s weights", engine.as_str(), router.as_str()),
                )
                .label("no runtime API to drive")
                .help("canaryc's own loop sets weights through HAProxy's runtime API; plain nginx has none. Use `router: haproxy`, or `engine: none` and move the weights by hand"),
            );
            return None;
        }
        Some(engine)
    }

    /// The `prometheus` field of `monitor`: an http URL (what `canaryc promote` and the
    /// analysis templates query).
    pub(crate) fn prometheus_url(&mut self, url: &Spanned<String>) -> bool {
        let rest = url.value.strip_prefix("http://");
        let ok = rest.is_some_and(|r| {
            let host = r.split('/').next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains('@')
        });
        if !ok {
            self.report(
                Diagnostic::new(
                    Code::InvalidPrometheusUrl,
                    url.span,
                    format!("`{}` is not a Prometheus address canaryc can query", url.value),
                )
                .label("expected http://HOST:PORT")
                .help("write the address the engine reaches Prometheus at, e.g. `prometheus = \"http://prometheus.monitoring.svc:9090\"` (plain http: put a TLS proxy next to it if needed)"),
            );
        }
        ok
    }

    /// Whole-plan warnings for the engines the plan names.
    pub(crate) fn engines_against_plan(
        &mut self,
        infra: &[Spanned<crate::model::InfraTarget>],
        schedule: Option<&Schedule>,
        sticky: Option<&Spanned<Sticky>>,
    ) {
        for target in infra {
            let Some(engine) = target.engine else {
                continue;
            };
            let router = target
                .router
                .or_else(|| target.kind.routers().first().copied());
            let Some(router) = router else { continue };
            for d in warnings(engine, router, target.span, schedule, sticky) {
                self.report(d);
            }
        }
    }
}

/// What `engine` on `router` cannot express of the plan: a Flagger rollout has one interval for
/// every step (CNR512), an engine that cannot keep users on one interpreter (CNR514), weights
/// finer than the engine's (CNR515). `at` is where the target is written.
pub fn warnings(
    engine: Engine,
    router: Router,
    at: Span,
    schedule: Option<&Schedule>,
    sticky: Option<&Spanned<Sticky>>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(schedule) = schedule {
        let holds: Vec<u64> = schedule.stages.iter().map(|s| s.hold.value).collect();
        if engine == Engine::Flagger && holds.iter().any(|h| Some(h) != holds.first()) {
            // canary-systems.md §1.2: Flagger advances one step per `interval`, the same for
            // every step; there is no per-step hold.
            let shortest = holds.iter().copied().min().unwrap_or(0);
            out.push(
                Diagnostic::new(
                    Code::FlaggerOneInterval,
                    at,
                    "Flagger holds every stage for the same interval: the plan's holds differ",
                )
                .label("flagger here")
                .help(format!(
                    "canaryc sets the interval to the shortest hold ({}), so every stage is held that long and no longer; use `engine: argo-rollouts` to hold each stage for its own duration",
                    crate::check::duration_text(shortest)
                )),
            );
        }
        let fine = schedule
            .stages
            .iter()
            .find(|s| s.traffic.value.fract() != 0.0);
        if let Some(stage) = fine {
            // Argo's setWeight is a whole percent unless maxTrafficWeight raises the total,
            // which NGINX honours (canary-systems.md §2.1); the Gateway API plugin does not
            // (it sets the stable weight to `100 - desiredWeight`: argoproj-labs/
            // rollouts-plugin-trafficrouter-gatewayapi pkg/plugin/httproute.go). Flagger's
            // stepWeights are whole percents.
            let coarse = match engine {
                Engine::Flagger => true,
                Engine::ArgoRollouts => router != Router::NginxIngress,
                Engine::Canaryc | Engine::None => false,
            };
            if coarse {
                out.push(
                    Diagnostic::new(
                        Code::WeightNotExpressible,
                        stage.traffic.span,
                        format!(
                            "{} on {} moves traffic in whole percents: {}% becomes 1%",
                            engine.as_str(),
                            router.as_str(),
                            crate::check::number_text(stage.traffic.value)
                        ),
                    )
                    .label("finer than the engine's step")
                    .secondary(at, "engine chosen here")
                    .help("use whole percents, or Argo Rollouts with `router: nginx-ingress` (weights out of 1000)"),
                );
            }
        }
    }
    if let Some(sticky) = sticky {
        if sticky.by == StickyBy::Cookie && !engine.keeps_sticky(router) {
            out.push(
                Diagnostic::new(
                    Code::EngineNotSticky,
                    sticky.span,
                    format!(
                        "{} cannot keep a user on one interpreter on {}",
                        engine.as_str(),
                        router.as_str()
                    ),
                )
                .label("sticky routing asked for")
                .secondary(at, "engine here")
                .help(match engine {
                    Engine::ArgoRollouts => "Argo Rollouts splits each request afresh: canaryc leaves the cookie routes out (a route Argo does not manage would keep pinned users on py3 after an abort). Use `engine: flagger` on Istio or Gateway API (sessionAffinity), or make sessions readable by both interpreters",
                    _ => "Flagger's sessionAffinity works on Istio and Gateway API only; move to `router: gateway-api`, or make sessions readable by both interpreters",
                }),
            );
        }
    }
    out
}
