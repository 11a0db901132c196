//! `canary-promote.json` for canaryc's own engine (Compose and bare metal with HAProxy): the
//! stages, holds, approval gates and criteria `canaryc promote` judges, from the same analysis
//! adapter as Argo's templates, and where it reaches HAProxy's runtime API and Prometheus.

use super::analysis;
use crate::emit::haproxy::{WEIGHT_TOTAL, socket, state_file};
use crate::emit::{OutputFile, file};
use crate::ir::{Ir, prometheus_url};
use crate::model::{Engine, InfraKind};
use crate::promote::config::{Check, Config, FORMAT_VERSION, Haproxy, Stage};

/// Where promote keeps the stage reached: on the host, or in the Compose stack's volume.
pub fn state_path(ir: &Ir, compose: bool) -> String {
    if compose {
        "/var/lib/canaryc/promote-state.json".to_string()
    } else {
        format!("/var/lib/canaryc/{}/promote-state.json", ir.name)
    }
}

pub fn config(ir: &Ir, compose: bool) -> Config {
    let infra = if compose {
        InfraKind::DockerCompose
    } else {
        InfraKind::BareMetal
    };
    Config {
        format_version: FORMAT_VERSION,
        plan: ir.name.clone(),
        prometheus: prometheus_url(ir, infra),
        haproxy: Haproxy {
            runtime_api: socket(ir, compose),
            server_state_file: Some(state_file(ir)),
            weight_total: WEIGHT_TOTAL,
        },
        state_file: state_path(ir, compose),
        services: ir.services.iter().map(|s| s.name.clone()).collect(),
        stages: ir
            .stages
            .iter()
            .map(|stage| Stage {
                name: stage.name.clone(),
                traffic: stage.traffic,
                hold_secs: (stage.hold_hours * 3600.0).round() as u64,
                approval: stage.approval.clone(),
                checks: ir
                    .services
                    .iter()
                    .flat_map(|s| {
                        analysis::stage_checks(ir, s, stage)
                            .into_iter()
                            .map(|q| Check {
                                service: s.name.clone(),
                                text: q.text,
                                query: q.promql,
                                op: q.condition.op.as_str().to_string(),
                                threshold: q.condition.threshold,
                            })
                    })
                    .collect(),
            })
            .collect(),
    }
}

pub fn files(ir: &Ir, compose: bool) -> Vec<OutputFile> {
    let runs = ir.targets.iter().any(|t| {
        t.engine == Engine::Canaryc
            && matches!(t.infra, InfraKind::BareMetal | InfraKind::DockerCompose)
    });
    if !runs {
        return Vec::new();
    }
    let text = serde_json::to_string_pretty(&config(ir, compose)).unwrap_or_default() + "\n";
    vec![file(
        "canary-promote.json",
        "canaryc promote: the stages, holds, approval gates and each stage's criteria queries; the runtime API and Prometheus it uses",
        text,
    )]
}
