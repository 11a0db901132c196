//! What the runbooks say about the engine each target actually got: the summary's promise,
//! the diagram's arrows back to the router, what the automatic rollback does, the cutover steps
//! for engine-driven Kubernetes, and the manual commands. A target with `engine: none` is
//! described as manual, always (tests/engine_docs.rs holds every bundle to it), and no sentence
//! promises what the generated objects do not do (stickiness an engine drops, holds Flagger
//! cannot keep, a rollback after Flagger's promotion).

use std::fmt::Write as _;

use super::analysis::{OUTAGE_BUDGET_SECS, STAGE_TIMEOUT_SECS, consecutive_error_limit};
use super::argo::{ROLLOUT_LABEL, rollback_template_name, trigger_interval};
use super::flagger;
use crate::emit::prometheus::duration;
use crate::ir::{Engine, InfraKind, Router, StickyBy};
use crate::ir::{Ir, ServiceIr, StageIr, Target, TriggerKind, fmt};

pub(crate) fn engine_name(engine: Engine) -> &'static str {
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
        InfraKind::BareMetal => "bare metal",
    }
}

fn hold_text(stage: &StageIr) -> String {
    duration((stage.hold_hours * 3600.0).round() as u64)
}

fn flagger_target(ir: &Ir) -> bool {
    ir.targets.iter().any(|t| t.engine == Engine::Flagger)
}

/// The summary's sentence on who moves traffic, per target.
pub(crate) fn summary(ir: &Ir) -> String {
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| match t.engine {
            Engine::None => format!(
                "on {} a person moves each stage's weights and rolls back by hand: this bundle has no engine there (`engine: none`)",
                infra_short(t.infra)
            ),
            Engine::Flagger => format!(
                "on {} Flagger rolls py3 back to py2 by itself when a rollback trigger fires during the canary, and moves to the next stage only when a person opens its stage gate after the stage's hold (Flagger has no per-stage hold and does not judge the stages' criteria)",
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
pub(crate) fn diagram(ir: &Ir) -> String {
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
                    "  prom -->|metric checks| flagger{i}[Flagger]\n  gate{i}([Operator: opens the stage gate after each hold]) --> flagger{i}\n  flagger{i} -->|next weight, rollback: py3 weight 0| router"
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

/// Whether routing is sticky on every target, and if not, where and why not: the sentence
/// the plan's hazards section gives after the table.
pub(crate) fn sticky(ir: &Ir) -> Option<String> {
    let sticky = ir.sticky.as_ref()?;
    let by = match sticky.by {
        StickyBy::Cookie => format!(
            "the {} cookie",
            crate::emit::escape::markdown::code(&sticky.name)
        ),
        StickyBy::Header => format!(
            "the {} header",
            crate::emit::escape::markdown::code(&sticky.name)
        ),
    };
    let dropped: Vec<String> = ir
        .targets
        .iter()
        .filter(|t| sticky.by == StickyBy::Cookie && !t.engine.keeps_sticky(t.router))
        .map(|t| {
            format!(
                "on {} {} splits each request afresh and canaryc leaves the cookie routes out (CNR514)",
                infra_short(t.infra),
                engine_name(t.engine)
            )
        })
        .collect();
    Some(if dropped.is_empty() {
        format!(
            "Routing is sticky by {by}: a user stays on one interpreter, so py2 and py3 never read each other's sessions.\n"
        )
    } else {
        format!(
            "The plan asks for routing sticky by {by}, and this bundle does not deliver it everywhere: {}. There a user's requests alternate between py2 and py3, so any mitigation above that relies on keeping a user on one interpreter does not hold: make sessions and caches readable by both interpreters first, or use `engine: flagger` (sticky on Istio and Gateway API).\n",
            dropped.join("; ")
        )
    })
}

/// The ramp-up table's caveat for engines that cannot hold or judge a stage by themselves.
pub(crate) fn ramp_note(ir: &Ir) -> Option<String> {
    flagger_target(ir).then(|| {
        "On Kubernetes, Flagger does not hold a stage or judge its criteria: it waits at its stage gate until a person opens it, so each hold above lasts as long as the gate stays closed, and the person checks the stage's criteria (dashboard, `prometheus-alerts.yaml`'s queries) before opening it. Flagger's last step is its promotion: py3 becomes the primary and py2 stops running, so the last stage is held on py3 alone.\n".to_string()
    })
}

/// The rollback runbook's first sentence: what a rollback leaves running, per engine.
pub(crate) fn rollback_intro(ir: &Ir) -> String {
    let mut o = "Rolling back sends every request to the py2 copy. ".to_string();
    if flagger_target(ir) {
        o.push_str("On Kubernetes Flagger scales the py3 target to 0 when it rolls back: fix the build and apply it again. Everywhere else py3 keeps running with no traffic, so it can be inspected, fixed and brought back at the stage it left. ");
    } else {
        o.push_str("py3 keeps running with no traffic, so it can be inspected, fixed and brought back at the stage it left. ");
    }
    o.push_str("Nothing about py2 changes: it has served the rest of the traffic all along.\n\n");
    o
}

/// A note on the manual-rollback table's row for `stage`, where an engine changes it.
pub(crate) fn stage_rollback_note(ir: &Ir, stage: &StageIr) -> String {
    if flagger_target(ir) && stage.traffic >= 100.0 {
        " (Kubernetes with Flagger: after its promotion py2 no longer runs and the rollback gate does nothing; deploy py2 again, below)".to_string()
    } else {
        String::new()
    }
}

fn argo_automatic(ir: &Ir) -> String {
    let triggers: Vec<String> = ir
        .triggers
        .iter()
        .map(|t| format!("`{}`", t.text))
        .collect();
    let templates: Vec<String> = ir
        .services
        .iter()
        .map(|s| format!("`{}`", rollback_template_name(s)))
        .collect();
    format!(
        "Argo Rollouts runs the AnalysisTemplate {} in the background for the whole rollout: one metric per rollback trigger ({}), measured every {} on the Prometheus at {}. A measurement that breaches fails the analysis and the Rollout aborts: the canary weight goes to 0, all traffic is back on py2 (the stable ReplicaSet) and the Rollout is `Degraded`; py3's pods keep running with no traffic (`abortScaleDownDelaySeconds: 0`) for inspection. {}A trigger with nothing to judge is no breach: a sequential test with no margin recorded yet (py3 has served nothing){}, or, at 100%, a threshold relative to py2, which then serves nothing (the sequential tests keep py2's last day as their baseline, and the absolute triggers still apply). If Prometheus cannot be queried, each measurement is retried every 10s for {} (`consecutiveErrorLimit: {}`); a longer outage errors the analysis and Argo aborts the Rollout, the safe side: `kubectl argo rollouts retry rollout NAME` once Prometheus is back. A py3 whose pods never become ready when a step scales them up aborts too (`progressDeadlineAbort`; Argo measures no progress while a step pauses, so during a hold it is the health trigger that catches failing pods). Before each next `setWeight`, the stage's own AnalysisTemplate judges its success criteria over its hold (Prometheus has {} to answer; a criterion relative to py2 at 100% compares with py2 over the stage before); a criterion that does not hold leaves the analysis Inconclusive and the Rollout paused for a person (`kubectl argo rollouts promote` to move on anyway, `abort` to roll back).\n",
        templates.join(", "),
        triggers.join(", "),
        trigger_interval(ir),
        crate::ir::prometheus_url(ir, InfraKind::Kubernetes),
        recorded_rules(ir, "AnalysisTemplates"),
        guarded_triggers(ir),
        duration(OUTAGE_BUDGET_SECS),
        consecutive_error_limit(),
        duration(STAGE_TIMEOUT_SECS),
    )
}

/// The recorded margins the engine's analyses read (`emit/engine/analysis.rs`).
pub(crate) fn recorded_margins(ir: &Ir) -> Vec<&'static str> {
    let mut out = Vec::new();
    if ir.triggers.iter().any(|t| t.effect.is_some()) {
        out.push("canary:py3_error_ratio:margin");
    }
    if ir.triggers.iter().any(|t| t.latency.is_some()) {
        out.push("canary:py3_latency_slow_ratio:margin");
    }
    if ir.stages.iter().any(|s| !s.evidence.is_empty()) {
        out.push("canary:stage_evidence:margin");
    }
    out
}

/// The minimum-traffic guard, for an error-rate or latency trigger that is a threshold rather
/// than a sequential test (analysis.rs guards only those).
fn guarded_triggers(ir: &Ir) -> String {
    let guarded = ir.triggers.iter().any(|t| {
        !t.is_sequential()
            && matches!(
                t.kind,
                TriggerKind::ErrorRate | TriggerKind::LatencyRatio | TriggerKind::LatencyAbsolute
            )
    });
    if guarded {
        format!(
            ", a threshold on py3's error rate or latency below {} requests in the window",
            ir.metrics.min_requests
        )
    } else {
        String::new()
    }
}

/// Where the engine's sequential tests come from, and what happens without them: the analyses
/// read series only the bundle's recording rules produce.
fn recorded_rules(ir: &Ir, analyses: &str) -> String {
    let margins = recorded_margins(ir);
    if margins.is_empty() {
        return String::new();
    }
    let names: Vec<String> = margins.iter().map(|m| format!("`{m}`")).collect();
    format!(
        "The error-rate and latency triggers and criteria are the sequential tests of `prometheus-alerts.yaml`: the {analyses} query the margins its recording rules record ({}), the series its alerts decide on, so those rules must be loaded into the Prometheus at {}, the one the {analyses} query (its `rule_files`, or a PrometheusRule with the rules' group for the Prometheus Operator). Without them these triggers find nothing to judge and never roll back, and no criterion they judge ever passes. ",
        names.join(", "),
        crate::ir::prometheus_url(ir, InfraKind::Kubernetes),
    )
}

fn flagger_automatic(ir: &Ir) -> String {
    let triggers: Vec<String> = ir
        .triggers
        .iter()
        .map(|t| format!("`{}`", t.text))
        .collect();
    let every = duration(flagger::interval(ir));
    format!(
        "Flagger checks one MetricTemplate per rollback trigger ({}) every analysis interval ({every}) while the canary runs, and rolls back after {} failed checks (`threshold`): all traffic to the primary (py2), the py3 target scaled to 0. {}Flagger counts a query Prometheus could not answer as a failed check and adds failed checks up over the whole canary, so a few minutes of Prometheus outage are ridden out, and a real breach rolls back {} intervals after its trigger's window. What Flagger cannot express, plainly: it has one interval for every step and no per-stage hold, so each stage is held by its gate (`confirm-traffic-increase` to the flagger-loadtester at {}), which a person opens after the stage's hold and closes once the weight moved; it judges every step by the same checks, so the stages' own success criteria are the person's to check before opening the gate; approval is opening that gate. Its last step is the promotion: py3 becomes the primary, py2 stops, and from then on the rollback webhook does nothing. Use `engine: argo-rollouts` for per-stage holds and criteria judged by the engine.\n",
        triggers.join(", "),
        flagger::THRESHOLD,
        recorded_rules(ir, "MetricTemplates"),
        flagger::THRESHOLD,
        flagger::gate_url(ir),
    )
}

/// What rolls back on one target, for the rollback runbook.
pub(crate) fn automatic(ir: &Ir, t: Target) -> String {
    match t.engine {
        Engine::ArgoRollouts => argo_automatic(ir),
        Engine::Flagger => flagger_automatic(ir),
        Engine::Canaryc if t.infra == InfraKind::DockerCompose => format!(
            "Inside the Compose stack, Prometheus (`compose-prometheus.yml`) evaluates `prometheus-alerts.yaml` and Alertmanager (`compose-alertmanager.yml`) routes every `canary=\"rollback\"` alert of `plan=\"{}\"` to the `canary-rollback` service, the `webhook` daemon (`compose-webhook-hooks.yaml`) running `canaryc rollback SERVICE`: py3's weight to 0 and maintenance through HAProxy's admin socket (shared in the `haproxy-state` volume), py2 at full weight, the server state saved so a reload keeps it. The `canary-promote` service runs `canaryc promote` every {} and moves to the next stage only when the hold has elapsed, the stage's criteria hold on Prometheus and any approval was given; promote and rollback take the same lock, and promote checks again for a rollback just before it sets a weight, so it never undoes one; after a rollback it moves nothing until `canaryc promote --restart`.\n",
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
pub(crate) fn rollback_commands(ir: &Ir, t: Target) -> Option<Vec<String>> {
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
                .flat_map(|s| {
                    [
                        format!("{}   # during the canary", flagger::loadtester(ir, s, "rollback/open")),
                        format!(
                            "kubectl -n {ns} wait canary/{} --for=jsonpath='{{.status.phase}}'=Failed --timeout=10m",
                            s.name
                        ),
                        format!(
                            "{}   # or the next release is rolled back at once",
                            flagger::loadtester(ir, s, "rollback/close")
                        ),
                    ]
                })
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

/// After Flagger's promotion, how py2 comes back: the same target, with the py2 template.
pub(crate) fn after_promotion(ir: &Ir) -> Option<String> {
    if !flagger_target(ir) {
        return None;
    }
    let ns = &ir.namespace;
    let mut o = "After Flagger's promotion py2 no longer runs (the primary is py3) and the rollback gate does nothing. To go back, deploy py2 as a new revision without the stage gates: skip the analysis, apply the py2 target, and let Flagger promote it at once:\n\n```sh\n".to_string();
    for s in &ir.services {
        let _ = writeln!(
            o,
            "kubectl -n {ns} patch canary {} --type merge -p '{{\"spec\":{{\"skipAnalysis\":true}}}}'",
            s.name
        );
    }
    o.push_str("kubectl apply -f k8s-flagger.yaml   # the py2 target; with skipAnalysis Flagger promotes it without the gates\n");
    for s in &ir.services {
        let _ = writeln!(
            o,
            "kubectl -n {ns} wait canary/{} --for=jsonpath='{{.status.phase}}'=Succeeded --timeout=15m",
            s.name
        );
        let _ = writeln!(
            o,
            "kubectl -n {ns} patch canary {} --type merge -p '{{\"spec\":{{\"skipAnalysis\":false}}}}'",
            s.name
        );
    }
    o.push_str("```\n\n");
    Some(o)
}

fn pods_ready(ir: &Ir, s: &ServiceIr) -> String {
    let ns = &ir.namespace;
    format!(
        "until kubectl -n {ns} get pods -l {ROLLOUT_LABEL}={name} -o name | grep -q .; do sleep 2; done && kubectl -n {ns} wait pod -l {ROLLOUT_LABEL}={name} --for=condition=Ready --timeout=10m",
        name = s.name
    )
}

fn argo_steps(ir: &Ir, t: Target) -> Vec<(String, Vec<String>)> {
    let ns = &ir.namespace;
    let each = |f: &dyn Fn(&ServiceIr) -> String| ir.services.iter().map(f).collect::<Vec<_>>();
    let mut steps = vec![(
        "Install the Argo Rollouts controller and its kubectl plugin (https://argoproj.github.io/argo-rollouts/installation/), and check the CRDs are there:".to_string(),
        vec!["kubectl get crd rollouts.argoproj.io analysistemplates.argoproj.io".to_string()],
    )];
    if t.router == Router::GatewayApi {
        steps.push((
            "Register the Gateway API traffic-router plugin with the controller and give it its RBAC, then restart the controller. `kubectl create` refuses when the controller already has an `argo-rollouts-config`: then add the file's `trafficRouterPlugins` entry to yours instead of replacing it:".to_string(),
            vec![
                "kubectl create -f k8s-argo-rollouts-config.yaml || kubectl -n argo-rollouts edit configmap argo-rollouts-config".to_string(),
                "kubectl apply -f k8s-argo-rollouts-rbac.yaml".to_string(),
                "kubectl -n argo-rollouts rollout restart deployment argo-rollouts".to_string(),
            ],
        ));
    }
    let mut create = vec![
        "promtool check rules prometheus-alerts.yaml".to_string(),
        "kubectl apply -f k8s-rollout.yaml".to_string(),
    ];
    create.extend(each(&|s| pods_ready(ir, s)));
    steps.push((
        format!(
            "Load `prometheus-alerts.yaml` (alerts and the recording rules the AnalysisTemplates query) into the Prometheus at {}, then create the Rollout on py2 with its Services and AnalysisTemplates (its first revision is stable at once, without steps), and wait for its pods to be Ready. Nothing routes to them yet, so nothing fails while they start:",
            crate::ir::prometheus_url(ir, InfraKind::Kubernetes)
        ),
        create,
    ));
    let mut route = vec!["kubectl apply -f k8s-rollout-routing.yaml".to_string()];
    route.extend(each(&|s| {
        format!(
            "kubectl argo rollouts -n {ns} status {} --timeout 10m",
            s.name
        )
    }));
    steps.push((
        format!(
            "Only then apply the routing (it sends the service's traffic to the Rollout's pods, and the Rollout needs it to finish): the status turns Healthy{}",
            crate::emit::markdown::step_end(&crate::emit::markdown::istio_takeover(ir))
        ),
        route,
    ));
    steps.push((
        "Once the Rollout serves, retire the original Deployment (the Rollout's HPA has replaced its HPA):".to_string(),
        each(&|s| format!("kubectl -n {ns} scale deployment {} --replicas=0   # today's Deployment; delete it after the first release", s.name)),
    ));
    let gates: Vec<String> = ir
        .stages
        .iter()
        .filter_map(|s| {
            s.approval
                .as_ref()
                .map(|a| format!("{} ({})", s.name, md_text(a)))
        })
        .collect();
    let stages: Vec<String> = ir
        .stages
        .iter()
        .map(|s| format!("{}% for {}", fmt(s.traffic), hold_text(s)))
        .collect();
    let mut start = each(&|s| super::argo::patch_command(ir, s));
    start.extend(each(&|s| {
        format!(
            "kubectl argo rollouts -n {ns} get rollout {} --watch",
            s.name
        )
    }));
    steps.push((
        format!(
            "Start the canary: patch the py3 template into the Rollout. Argo Rollouts then runs every stage by itself ({}), judging each stage's criteria before the next weight{}:",
            stages.join(", "),
            if gates.is_empty() {
                String::new()
            } else {
                format!(", and pauses for a person at {}", gates.join(", "))
            }
        ),
        start,
    ));
    steps.push((
        "At an approval gate, or after an Inconclusive stage analysis, move on when satisfied:"
            .to_string(),
        each(&|s| format!("kubectl argo rollouts -n {ns} promote {}", s.name)),
    ));
    steps
}

/// One stage under Flagger: open its gate, wait for the weight (or the promotion), close it.
fn flagger_stage(ir: &Ir, st: &StageIr) -> (String, Vec<String>) {
    let ns = &ir.namespace;
    let criteria = if st.criteria.is_empty() {
        String::new()
    } else {
        format!(
            " the dashboard shows {} (Flagger checks only the rollback triggers)",
            st.criteria.join(" and ")
        )
    };
    let title = if st.traffic < 100.0 {
        format!(
            "Stage `{}`: open the gate, wait for the weight to reach {}%, close the gate. Hold it for {}; open the next gate only once the hold has elapsed{}{}:",
            st.name,
            crate::ir::weights(st.traffic, 100).1,
            hold_text(st),
            if criteria.is_empty() {
                String::new()
            } else {
                format!(" and{criteria}")
            },
            st.approval
                .as_ref()
                .map(|a| format!(", with {}", md_text(a)))
                .unwrap_or_default()
        )
    } else {
        format!(
            "Stage `{}` is Flagger's promotion: py3 becomes the primary and serves everything, and py2 stops. Open the gate{}, wait for the Canary to succeed, close the gate; hold it for {}{}: from now on a rollback means deploying py2 again (rollback runbook):",
            st.name,
            st.approval
                .as_ref()
                .map(|a| format!(" only with {}", md_text(a)))
                .unwrap_or_default(),
            hold_text(st),
            if criteria.is_empty() {
                String::new()
            } else {
                format!(", while{criteria}")
            }
        )
    };
    let mut commands = Vec::new();
    for s in &ir.services {
        commands.push(flagger::loadtester(ir, s, "gate/open"));
        commands.push(if st.traffic < 100.0 {
            format!(
                "kubectl -n {ns} wait canary/{} --for=jsonpath='{{.status.canaryWeight}}'={} --timeout=5m",
                s.name,
                crate::ir::weights(st.traffic, 100).1
            )
        } else {
            format!(
                "kubectl -n {ns} wait canary/{} --for=jsonpath='{{.status.phase}}'=Succeeded --timeout=15m",
                s.name
            )
        });
        commands.push(flagger::loadtester(ir, s, "gate/close"));
    }
    (title, commands)
}

fn flagger_steps(ir: &Ir) -> Vec<(String, Vec<String>)> {
    let ns = &ir.namespace;
    let each = |f: &dyn Fn(&ServiceIr) -> String| ir.services.iter().map(f).collect::<Vec<_>>();
    let mut steps = vec![
        (
            format!(
                "Install Flagger for the router and the flagger-loadtester in namespace {ns} (its gates hold each stage and the manual rollback), and check the CRDs are there:"
            ),
            vec!["kubectl get crd canaries.flagger.app metrictemplates.flagger.app".to_string()],
        ),
        (
            format!(
                "Load `prometheus-alerts.yaml` (alerts and the recording rules the MetricTemplates query) into the Prometheus at {}, then create the target Deployment on py2, the MetricTemplates and the Canary; Flagger copies the target to `-primary`, which serves everything (it acts once per interval, {}):",
                crate::ir::prometheus_url(ir, InfraKind::Kubernetes),
                duration(flagger::interval(ir))
            ),
            {
                let mut c = vec![
                    "promtool check rules prometheus-alerts.yaml".to_string(),
                    "kubectl apply -f k8s-flagger.yaml".to_string(),
                ];
                c.extend(each(&|s| {
                    format!(
                        "kubectl -n {ns} wait canary/{} --for=condition=Promoted --timeout=10m",
                        s.name
                    )
                }));
                c
            },
        ),
        (
            "Close the gates an earlier release may have left open (the loadtester keeps them until closed): an open stage gate would let Flagger run through every stage, an open rollback gate would roll the canary back at once:".to_string(),
            ir.services
                .iter()
                .flat_map(|s| {
                    [
                        flagger::loadtester(ir, s, "gate/close"),
                        flagger::loadtester(ir, s, "rollback/close"),
                    ]
                })
                .collect(),
        ),
        (
            "Start the canary: patch the py3 template into the target. Flagger scales it up and waits at the stage gate, at weight 0:".to_string(),
            {
                let mut c = each(&|s| super::flagger::patch_command(ir, s));
                c.extend(each(&|s| format!("kubectl -n {ns} get canary {} --watch", s.name)));
                c
            },
        ),
    ];
    steps.extend(ir.stages.iter().map(|st| flagger_stage(ir, st)));
    steps
}

/// Cutover steps for a Kubernetes target driven by an engine: `(title, commands)`.
pub(crate) fn kubernetes_steps(ir: &Ir, t: Target) -> Option<Vec<(String, Vec<String>)>> {
    match t.engine {
        Engine::ArgoRollouts => Some(argo_steps(ir, t)),
        Engine::Flagger => Some(flagger_steps(ir)),
        _ => None,
    }
}

/// Steps for canaryc's loop, before the stages.
pub(crate) fn loop_steps(ir: &Ir, t: Target) -> Vec<(String, Vec<String>)> {
    if t.engine != Engine::Canaryc {
        return Vec::new();
    }
    let gates: Vec<String> = ir
        .stages
        .iter()
        .filter_map(|s| {
            s.approval
                .as_ref()
                .map(|a| format!("`{}` ({})", s.name, md_text(a)))
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
                format!("The stack's `canary-promote` service moves py3 from stage to stage by itself, once each hold has elapsed and the stage's criteria hold.{gate_text} To see where it is, and to approve at a gate once it waits there:"),
                vec![
                    "docker compose -f docker-compose-canary.yml exec canary-promote canaryc promote --config /etc/canaryc/canary-promote.json --status".to_string(),
                    "docker compose -f docker-compose-canary.yml exec canary-promote canaryc promote --config /etc/canaryc/canary-promote.json --approve".to_string(),
                ],
            ),
        ],
        _ => {
            let dir = &ir.host.install_dir;
            vec![(
                format!("Install `canaryc promote` on a timer: every minute it moves py3 to the next stage once the hold has elapsed and the stage's criteria hold on Prometheus.{gate_text} To see where it is, and to approve at a gate once it waits there:"),
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
pub(crate) fn alert_action(ir: &Ir) -> String {
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| {
            let what = match t.engine {
                Engine::Canaryc => "Alertmanager sends it to the rollback receiver, which moves that service's traffic back to py2".to_string(),
                Engine::ArgoRollouts => "Argo Rollouts' background analysis evaluates the same trigger and aborts the Rollout (all traffic to py2)".to_string(),
                Engine::Flagger => format!("during the canary, Flagger's check of the same trigger fails each interval and rolls back after {} failed checks", flagger::THRESHOLD),
                Engine::None => "no engine acts on it: roll back by hand".to_string(),
            };
            if ir.targets.len() > 1 {
                format!("{}: {what}", infra_short(t.infra))
            } else {
                what
            }
        })
        .collect();
    format!("{}; see the rollback runbook.", parts.join("; "))
}

/// Whether any target rolls back by itself.
pub(crate) fn any_automatic(ir: &Ir) -> bool {
    ir.targets.iter().any(|t| t.engine.automatic())
}

/// How the copies run, for the architecture's caption.
pub(crate) fn copies(ir: &Ir) -> String {
    let kubernetes = ir
        .targets
        .iter()
        .find(|t| t.infra == InfraKind::Kubernetes)
        .map(|t| t.engine);
    let containers = "the app container is named `NAME-py2` or `NAME-py3`, which is how the pod metrics (memory, CPU, readiness) tell the copies apart";
    match kubernetes {
        Some(Engine::ArgoRollouts) => format!("On Kubernetes both copies are ReplicaSets of one Rollout: py2 the stable one, py3 the canary; Argo Rollouts scales the canary with its weight, and {containers}."),
        Some(Engine::Flagger) => format!("On Kubernetes Flagger runs py2 as the primary (`NAME-primary`) and py3 as the target Deployment, scaled up for the analysis and down after it; {containers}."),
        _ => "Each copy has its own Deployment or unit, so either can be scaled, restarted or removed without touching the other.".to_string(),
    }
}

/// Verification commands for an engine-driven target.
pub(crate) fn verify(ir: &Ir, t: Target) -> Option<Vec<String>> {
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
                    ir.host.install_dir
                )
            };
            (t.infra == InfraKind::DockerCompose).then(|| vec![config])
        }
        Engine::None => None,
    }
}

/// The last step after a rollback: how each engine restarts the stage.
pub(crate) fn restart(ir: &Ir) -> String {
    let ns = &ir.namespace;
    let parts: Vec<String> = ir
        .targets
        .iter()
        .map(|t| match t.engine {
            Engine::ArgoRollouts => format!("with Argo Rollouts, patch the fixed py3 template in (`kubectl -n {ns} patch rollout NAME --type merge --patch-file k8s-rollout-py3-NAME.patch` with the new image): a new canary starts from the first step, or `kubectl argo rollouts -n {ns} retry rollout NAME` to retry the same one"),
            Engine::Flagger => "with Flagger, close the rollback gate (`rollback/close`, as in the cutover steps) and patch the fixed py3 template into the target (`k8s-flagger-py3-NAME.patch` with the new image): a new analysis starts, at the stage gate".to_string(),
            Engine::Canaryc => "with canaryc's loop, `canaryc promote --restart` gives py3 the stage's weight again and restarts its hold".to_string(),
            Engine::None => format!("on {}, apply the stage's split again, from the cutover steps in `canary-plan.md`", infra_short(t.infra)),
        })
        .collect();
    format!(
        "3. Restart the stage that was rolled back: {}.\n",
        parts.join("; ")
    )
}

/// An approval's text inside a runbook sentence: the plan's words, Markdown-escaped.
fn md_text(approval: &str) -> String {
    crate::emit::escape::markdown::text(approval).into_owned()
}
