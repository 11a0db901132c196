//! What the runbooks say about the engine each target actually got: the summary's promise,
//! the diagram's arrows back to the router, what the automatic rollback does, the cutover steps
//! for engine-driven Kubernetes, and the manual commands. A target with `engine: none` is
//! described as manual, always (tests/engine_docs.rs holds every bundle to it).

use std::fmt::Write as _;

use super::analysis;
use super::argo::rollback_template_name;
use super::flagger;
use crate::emit::prometheus::duration;
use crate::ir::{Ir, Target, fmt};
use crate::model::{Engine, InfraKind};

pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::ArgoRollouts => "Argo Rollouts",
        Engine::Flagger => "Flagger",
        Engine::Canaryc => {
            "canaryc's loop (Prometheus, Alertmanager, the rollback receiver and `canaryc promote` on HAProxy's runtime API)"
        }
        Engine::None => "no engine",
    }
}

fn infra_short(kind: InfraKind) -> &'static str {
    match kind {
        InfraKind::Kubernetes => "Kubernetes",
        InfraKind::DockerCompose => "Docker Compose",
        InfraKind::BareMetal | InfraKind::Auto => "bare metal",
    }
}

/// The summary's sentence on who moves traffic, per target.
pub fn summary(ir: &Ir) -> String {
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| match t.engine {
            Engine::None => format!(
                "on {} a person moves each stage's weights and rolls back by hand: this bundle has no engine there (`engine: none`)",
                infra_short(t.infra)
            ),
            engine => format!(
                "on {} {} moves py3 forward when a stage's hold has elapsed and its criteria hold, and back to py2 by itself when a rollback trigger fires",
                infra_short(t.infra),
                engine_name(engine)
            ),
        })
        .collect();
    let mut s = parts.join("; ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s + "."
}

/// The diagram's lines after Prometheus: who acts on what it sees.
pub fn diagram(ir: &Ir) -> String {
    let mut o = String::new();
    for (i, t) in ir.targets.iter().enumerate() {
        match t.engine {
            Engine::ArgoRollouts => {
                let _ = writeln!(
                    o,
                    "  prom -->|analysis| argo{i}[Argo Rollouts]\n  argo{i} -->|setWeight, abort: py3 weight 0| router"
                );
            }
            Engine::Flagger => {
                let _ = writeln!(
                    o,
                    "  prom -->|metric checks| flagger{i}[Flagger]\n  flagger{i} -->|step weights, rollback: py3 weight 0| router"
                );
            }
            Engine::Canaryc => {
                let _ = writeln!(
                    o,
                    "  prom -->|rollback alerts| am{i}[Alertmanager]\n  am{i} -->|canaryc rollback: py3 weight 0| router\n  prom -->|stage criteria| promote{i}[canaryc promote]\n  promote{i} -->|next stage's weights| router"
                );
            }
            Engine::None => {
                let _ = writeln!(
                    o,
                    "  prom -->|alerts| person{i}([Operator: moves weights and rolls back by hand])"
                );
            }
        }
    }
    o
}

/// What rolls back on one target, for the rollback runbook.
pub fn automatic(ir: &Ir, t: Target) -> String {
    let triggers: Vec<String> = ir
        .triggers
        .iter()
        .filter(|tr| analysis::applies(t.engine, tr).is_ok())
        .map(|tr| format!("`{}`", tr.text))
        .collect();
    let skipped = |engine: Engine| -> String {
        let notes: Vec<String> = ir
            .triggers
            .iter()
            .filter_map(|tr| {
                analysis::applies(engine, tr)
                    .err()
                    .map(|why| format!("`{}`: {why}", tr.text))
            })
            .collect();
        if notes.is_empty() {
            String::new()
        } else {
            format!(" Not evaluated by the engine: {}.", notes.join("; "))
        }
    };
    match t.engine {
        Engine::ArgoRollouts => format!(
            "{} runs the AnalysisTemplate `{}` in the background for the whole rollout: one metric per rollback trigger ({}), measured every {} on the Prometheus at {}. A measurement that breaches fails the analysis and the Rollout aborts: the canary weight goes to 0, all traffic is back on py2 (the stable ReplicaSet) and the Rollout is `Degraded`.{} A py3 whose pods do not become ready within the progress deadline aborts too (`progressDeadlineAbort`). Before each next `setWeight`, the stage's own AnalysisTemplate judges its success criteria over its hold; a criterion that does not hold leaves the analysis Inconclusive and the Rollout paused for a person (`kubectl argo rollouts promote` to move on anyway, `abort` to roll back).\n",
            engine_name(t.engine),
            ir.services
                .first()
                .map(rollback_template_name)
                .unwrap_or_default(),
            triggers.join(", "),
            duration(ir.metrics.scrape_interval_secs.clamp(10, 60)),
            crate::ir::prometheus_url(ir, InfraKind::Kubernetes),
            skipped(Engine::ArgoRollouts),
        ),
        Engine::Flagger => format!(
            "Flagger checks one MetricTemplate per rollback trigger ({}) once per analysis interval ({}), and rolls back on the first failed check (`threshold: 1`): all traffic to the primary (py2), the py3 target scaled to 0.{} What Flagger cannot express, plainly: it holds every stage for the same interval ({}), not for each stage's own hold; it judges every step by the same checks, so the stages' own success criteria are not evaluated (only the rollback triggers are); it acts on a breach at the next interval, not when the alert fires; approval is a `confirm-promotion` webhook to the flagger-loadtester gate ({}). Use `engine: argo-rollouts` for per-stage holds and criteria.\n",
            triggers.join(", "),
            duration(flagger::interval(ir)),
            skipped(Engine::Flagger),
            duration(flagger::interval(ir)),
            flagger::gate_url(ir),
        ),
        Engine::Canaryc if t.infra == InfraKind::DockerCompose => format!(
            "Inside the Compose stack, Prometheus (`compose-prometheus.yml`) evaluates `prometheus-alerts.yaml` and Alertmanager (`compose-alertmanager.yml`) routes every `canary=\"rollback\"` alert of `plan=\"{}\"` to the `canary-rollback` service, the `webhook` daemon (`compose-webhook-hooks.yaml`) running `canaryc rollback SERVICE`: py3's weight to 0 and maintenance through HAProxy's admin socket (shared in the `haproxy-state` volume), py2 at full weight, the server state saved so a reload keeps it. The `canary-promote` service runs `canaryc promote` every {} and moves to the next stage only when the hold has elapsed, the stage's criteria hold on Prometheus and any approval was given; after a rollback it moves nothing until `canaryc promote --restart`.\n",
            ir.name,
            duration(super::compose_loop::promote_every(ir))
        ),
        Engine::Canaryc => String::new(),
        Engine::None => format!(
            "Nothing in this bundle rolls back {}: it has no engine there (`engine: none`). The alerts fire and link here; route them from your Alertmanager to whoever runs the manual rollback below.\n",
            infra_short(t.infra)
        ),
    }
}

/// The manual rollback commands an engine-driven target uses instead of editing the router.
pub fn rollback_commands(ir: &Ir, t: Target) -> Option<Vec<String>> {
    let ns = &ir.namespace;
    match t.engine {
        Engine::ArgoRollouts => Some(
            ir.services
                .iter()
                .map(|s| format!("kubectl argo rollouts -n {ns} abort {}", s.name))
                .collect(),
        ),
        Engine::Flagger => Some(
            ir.services
                .iter()
                .map(|s| format!(
                    "kubectl -n {ns} exec deploy/flagger-loadtester -- curl -s -d '{{\"name\":\"{}\",\"namespace\":\"{ns}\"}}' http://localhost:8080/rollback/open",
                    s.name
                ))
                .collect(),
        ),
        Engine::Canaryc if t.infra == InfraKind::DockerCompose => Some(
            ir.services
                .iter()
                .map(|s| format!("docker compose -f docker-compose-canary.yml exec canary-promote canaryc rollback --config /etc/canaryc/canary-promote.json {}", s.name))
                .collect(),
        ),
        _ => None,
    }
}

/// Cutover steps for a Kubernetes target driven by an engine: `(title, commands)`.
pub fn kubernetes_steps(ir: &Ir, t: Target) -> Option<Vec<(String, Vec<String>)>> {
    let ns = &ir.namespace;
    let names: Vec<&str> = ir.services.iter().map(|s| s.name.as_str()).collect();
    let first = names.first().copied().unwrap_or_default();
    let originals: Vec<String> = names
        .iter()
        .map(|n| format!("kubectl -n {ns} get deployment {n}   # today's Deployment: retire it once the Rollout serves"))
        .collect();
    let mut steps = Vec::new();
    match t.engine {
        Engine::ArgoRollouts => {
            steps.push((
                "Install the Argo Rollouts controller and its kubectl plugin (https://argoproj.github.io/argo-rollouts/installation/), and check the CRDs are there:".to_string(),
                vec!["kubectl get crd rollouts.argoproj.io analysistemplates.argoproj.io".to_string()],
            ));
            if t.router == crate::model::Router::GatewayApi {
                steps.push((
                    "Register the Gateway API traffic-router plugin with the controller, then restart it:".to_string(),
                    vec![
                        "kubectl apply -f k8s-argo-rollouts-config.yaml".to_string(),
                        "kubectl -n argo-rollouts rollout restart deployment argo-rollouts".to_string(),
                    ],
                ));
            }
            steps.push((
                "Load the alerts into Prometheus, then create the Rollout on py2 with its Services, routing and AnalysisTemplates (its first revision is stable at once, without steps):".to_string(),
                vec![
                    "promtool check rules prometheus-alerts.yaml".to_string(),
                    "kubectl apply -f k8s-rollout.yaml".to_string(),
                    format!("kubectl argo rollouts -n {ns} status {first} --timeout 10m"),
                ],
            ));
            steps.push((
                "Once the Rollout's pods serve, retire the original Deployment:".to_string(),
                originals,
            ));
            let gates: Vec<String> = ir
                .stages
                .iter()
                .filter_map(|s| {
                    s.approval
                        .as_ref()
                        .map(|a| format!("{} ({})", s.name, crate::emit::escape::markdown::text(a)))
                })
                .collect();
            steps.push((
                format!(
                    "Start the canary: apply the py3 template. Argo Rollouts then runs every stage by itself ({}), judging each stage's criteria before the next weight{}:",
                    ir.stages
                        .iter()
                        .map(|s| format!("{}% for {}", fmt(s.traffic), duration((s.hold_hours * 3600.0).round() as u64)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if gates.is_empty() {
                        String::new()
                    } else {
                        format!(", and pauses for a person at {}", gates.join(", "))
                    }
                ),
                vec![
                    "kubectl apply -f k8s-rollout-py3.yaml".to_string(),
                    format!("kubectl argo rollouts -n {ns} get rollout {first} --watch"),
                ],
            ));
            steps.push((
                "At an approval gate, or after an Inconclusive stage analysis, move on when satisfied:".to_string(),
                vec![format!("kubectl argo rollouts -n {ns} promote {first}")],
            ));
        }
        Engine::Flagger => {
            steps.push((
                format!(
                    "Install Flagger for the router and the flagger-loadtester in namespace {ns} (its gate holds the approval), and check the CRDs are there:"
                ),
                vec!["kubectl get crd canaries.flagger.app metrictemplates.flagger.app".to_string()],
            ));
            steps.push((
                "Load the alerts into Prometheus, then create the target Deployment on py2, the MetricTemplates and the Canary; Flagger copies the target to `-primary`, which serves everything:".to_string(),
                vec![
                    "promtool check rules prometheus-alerts.yaml".to_string(),
                    "kubectl apply -f k8s-flagger.yaml".to_string(),
                    format!("kubectl -n {ns} wait canary/{first} --for=condition=Promoted --timeout=10m"),
                ],
            ));
            steps.push((
                format!(
                    "Start the canary: apply the py3 template. Flagger steps through {} one interval ({}) at a time, checking the rollback triggers each interval:",
                    ir.stages.iter().filter(|s| s.traffic < 100.0).map(|s| format!("{}%", fmt(s.traffic))).collect::<Vec<_>>().join(", "),
                    duration(flagger::interval(ir))
                ),
                vec![
                    "kubectl apply -f k8s-flagger-py3.yaml".to_string(),
                    format!("kubectl -n {ns} get canary {first} --watch"),
                ],
            ));
            if ir.stages.iter().any(|s| s.approval.is_some()) {
                steps.push((
                    "Before promotion Flagger waits at the gate; open it when the sign-off is given:".to_string(),
                    vec![format!(
                        "kubectl -n {ns} exec deploy/flagger-loadtester -- curl -s -d '{{\"name\":\"{first}\",\"namespace\":\"{ns}\"}}' http://localhost:8080/gate/open"
                    )],
                ));
            }
        }
        _ => return None,
    }
    Some(steps)
}

/// Steps for canaryc's loop, before the stages.
pub fn loop_steps(ir: &Ir, t: Target) -> Vec<(String, Vec<String>)> {
    if t.engine != Engine::Canaryc {
        return Vec::new();
    }
    let gates: Vec<String> = ir
        .stages
        .iter()
        .filter_map(|s| {
            s.approval
                .as_ref()
                .map(|a| format!("`{}` ({})", s.name, crate::emit::escape::markdown::text(a)))
        })
        .collect();
    let gate_text = if gates.is_empty() {
        String::new()
    } else {
        format!(" It stops at {} until a person approves.", gates.join(", "))
    };
    match t.infra {
        InfraKind::DockerCompose => vec![
            (
                "Build the image the rollback receiver and promote run (canaryc and the webhook daemon), tagged as the stack expects:".to_string(),
                vec![format!(
                    "cp \"$(command -v canaryc)\" . && docker build -t {} -f Dockerfile.canaryc .",
                    super::compose_loop::canaryc_image()
                )],
            ),
            (
                format!("The stack's `canary-promote` service moves py3 from stage to stage by itself, once each hold has elapsed and the stage's criteria hold.{gate_text} To see where it is, and to approve at a gate:"),
                vec![
                    "docker compose -f docker-compose-canary.yml exec canary-promote canaryc promote --config /etc/canaryc/canary-promote.json --status".to_string(),
                    "docker compose -f docker-compose-canary.yml exec canary-promote canaryc promote --config /etc/canaryc/canary-promote.json --approve".to_string(),
                ],
            ),
        ],
        _ => {
            let dir = crate::emit::automation::install_dir(ir);
            vec![(
                format!("Install `canaryc promote` on a timer: every minute it moves py3 to the next stage once the hold has elapsed and the stage's criteria hold on Prometheus.{gate_text} To see where it is, and to approve at a gate:"),
                vec![
                    format!("sudo install -m 0644 canary-promote.json {dir}/"),
                    format!("sudo install -m 0644 canary-promote.service /etc/systemd/system/canary-promote-{}.service", ir.name),
                    format!("sudo install -m 0644 canary-promote.timer /etc/systemd/system/canary-promote-{}.timer", ir.name),
                    format!("sudo systemctl daemon-reload && sudo systemctl enable --now canary-promote-{}.timer", ir.name),
                    format!("sudo canaryc promote --config {dir}/canary-promote.json --status"),
                    format!("sudo canaryc promote --config {dir}/canary-promote.json --approve"),
                ],
            )]
        }
    }
}

/// What happens to an alert, for its description: only what the bundle really does.
pub fn alert_action(ir: &Ir) -> String {
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| {
            let what = match t.engine {
                Engine::Canaryc => "Alertmanager sends it to the rollback receiver, which moves that service's traffic back to py2",
                Engine::ArgoRollouts => "Argo Rollouts' background analysis evaluates the same trigger and aborts the Rollout (all traffic to py2)",
                Engine::Flagger => "Flagger's check of the same trigger rolls back at its next interval",
                Engine::None => "no engine acts on it: roll back by hand",
            };
            if ir.targets.len() > 1 {
                format!("{}: {what}", infra_short(t.infra))
            } else {
                what.to_string()
            }
        })
        .collect();
    format!("{}; see the rollback runbook.", parts.join("; "))
}

/// Whether any target rolls back by itself.
pub fn any_automatic(ir: &Ir) -> bool {
    ir.targets.iter().any(|t| t.engine.automatic())
}

/// How the copies run, for the architecture's caption.
pub fn copies(ir: &Ir) -> String {
    let kubernetes = ir
        .targets
        .iter()
        .find(|t| t.infra == InfraKind::Kubernetes)
        .map(|t| t.engine);
    match kubernetes {
        Some(Engine::ArgoRollouts) => "On Kubernetes both copies are ReplicaSets of one Rollout: py2 the stable one, py3 the canary; Argo Rollouts scales the canary with its weight.".to_string(),
        Some(Engine::Flagger) => "On Kubernetes Flagger runs py2 as the primary (`NAME-primary`) and py3 as the target Deployment, scaled up for the analysis and down after it.".to_string(),
        _ => "Each copy has its own Deployment or unit, so either can be scaled, restarted or removed without touching the other.".to_string(),
    }
}

/// Verification commands for an engine-driven target.
pub fn verify(ir: &Ir, t: Target) -> Option<Vec<String>> {
    let ns = &ir.namespace;
    match t.engine {
        Engine::ArgoRollouts => Some(
            ir.services
                .iter()
                .map(|s| format!("kubectl argo rollouts -n {ns} get rollout {}   # Degraded, canary weight 0, the stable ReplicaSet serving", s.name))
                .collect(),
        ),
        Engine::Flagger => Some(
            ir.services
                .iter()
                .map(|s| format!("kubectl -n {ns} get canary {}   # Failed, weight 0", s.name))
                .collect(),
        ),
        Engine::Canaryc => {
            let config = if t.infra == InfraKind::DockerCompose {
                "docker compose -f docker-compose-canary.yml exec canary-promote canaryc promote --config /etc/canaryc/canary-promote.json --status".to_string()
            } else {
                format!(
                    "sudo canaryc promote --config {}/canary-promote.json --status",
                    crate::emit::automation::install_dir(ir)
                )
            };
            (t.infra == InfraKind::DockerCompose).then(|| vec![config])
        }
        Engine::None => None,
    }
}

/// The last step after a rollback: how each engine restarts the stage.
pub fn restart(ir: &Ir) -> String {
    let ns = &ir.namespace;
    let first = ir.services.first().map_or("", |s| s.name.as_str());
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| match t.engine {
            Engine::ArgoRollouts => format!("with Argo Rollouts, apply the fixed py3 template (`kubectl apply -f k8s-rollout-py3.yaml` with the new image): a new canary starts from the first step, or `kubectl argo rollouts -n {ns} retry rollout {first}` to retry the same one"),
            Engine::Flagger => "with Flagger, apply the fixed py3 template (`kubectl apply -f k8s-flagger-py3.yaml` with the new image): a new analysis starts".to_string(),
            Engine::Canaryc => "with canaryc's loop, `canaryc promote --restart` gives py3 the stage's weight again and restarts its hold".to_string(),
            Engine::None => format!("on {}, apply the stage's split again, from the cutover steps in `canary-plan.md`", infra_short(t.infra)),
        })
        .collect();
    format!(
        "3. Restart the stage that was rolled back: {}.\n",
        parts.join("; ")
    )
}
