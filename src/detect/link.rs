//! The link pass: which detected workloads a plan is about, decided once.
//!
//! [`choose`] picks what to canary from the workload graph alone: one infrastructure (the one
//! that runs the Python web workloads in production; Kubernetes over Compose over hosts when
//! several do), the Python web workloads on it, and the workers and shared services next to
//! them. [`link`] joins a checked plan's services to workloads: by name (the workload's, or the
//! Kubernetes Service that selects it), else, for a one-service plan, the only candidate.
//! `synth` writes plans from the first, `merge` fills plans from the second, `check` reports
//! what does not link, and lowering reads the workload each service was linked to. Nothing
//! else matches services to workloads.

use super::canary_candidate;
use super::facts::{Detection, Environment, InfraKind, Workload, WorkloadClass, WorkloadId};
use crate::model::Plan;

/// A DNS label from any name: `My_App` → `my-app`.
pub fn dns_label(name: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').chars().take(63).collect::<String>();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "app".into() } else { out }
}

/// The name a plan gives a workload's service: the Kubernetes Service that routes to it
/// (`productpage` for the Deployment `productpage-v1`), else its own.
pub fn service_name(w: &Workload) -> String {
    dns_label(w.k8s.service.as_deref().unwrap_or(&w.name))
}

/// What to canary, from the workload graph alone.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Choice {
    /// The infrastructure planned; `None` when no Python web workload was found anywhere.
    pub infra: Option<InfraKind>,
    pub reason: String,
    /// Python web workloads to canary, one per service name.
    pub web: Vec<WorkloadId>,
    /// Python workers on the same infrastructure: a queue-based plan, never a traffic split.
    pub workers: Vec<WorkloadId>,
    /// Other workloads there: the shared dependencies (databases, caches, proxies ...).
    pub shared: Vec<WorkloadId>,
    /// Python web workloads not planned, and why (already Python 3, development only, another
    /// infrastructure).
    pub skipped: Vec<(WorkloadId, String)>,
    /// Other infrastructures that also run Python web workloads in production.
    pub alternatives: Vec<(InfraKind, Vec<WorkloadId>)>,
    /// Only development workloads serve the application.
    pub dev_only: bool,
}

const PREFERENCE: [InfraKind; 3] = [
    InfraKind::Kubernetes,
    InfraKind::DockerCompose,
    InfraKind::BareMetal,
];

/// What `infra = auto` resolves to when no Python web workload chose it: the first
/// infrastructure the codebase shows, by [`PREFERENCE`].
pub fn first_found(detection: &Detection) -> Option<InfraKind> {
    PREFERENCE
        .into_iter()
        .find(|k| detection.infra.iter().any(|f| f.kind == *k))
}

fn prod(w: &Workload) -> bool {
    w.environment.value == Environment::Prod
}

/// Picks the infrastructure and the workloads to plan. `forced` is the infrastructure the
/// user named (`--infra-type`, `infra = bare-metal`); `None` decides from the codebase.
pub fn choose(detection: &Detection, forced: Option<InfraKind>) -> Choice {
    let all = &detection.workloads;
    let web: Vec<&Workload> = all
        .iter()
        .filter(|w| w.class.value == WorkloadClass::PythonWeb)
        .collect();
    let mut choice = Choice::default();
    let candidates: Vec<&Workload> = web
        .iter()
        .copied()
        .filter(|w| canary_candidate(w))
        .collect();
    for w in web.iter().filter(|w| !canary_candidate(w)) {
        choice.skipped.push((
            w.id,
            format!(
                "already runs Python 3 ({})",
                w.python
                    .as_ref()
                    .map(|p| p.evidence.to_string())
                    .unwrap_or_default()
            ),
        ));
    }
    let prod_infra = |kind: InfraKind| candidates.iter().any(|w| w.kind.infra() == kind && prod(w));
    let any_infra = |kind: InfraKind| candidates.iter().any(|w| w.kind.infra() == kind);
    let (infra, reason) = match forced {
        Some(kind) => (
            Some(kind),
            "named on the command line or in the plan".to_string(),
        ),
        None => match PREFERENCE.iter().copied().find(|k| prod_infra(*k)) {
            Some(kind) => (Some(kind), "prod".to_string()),
            None => match PREFERENCE.iter().copied().find(|k| any_infra(*k)) {
                Some(kind) => {
                    choice.dev_only = true;
                    (
                        Some(kind),
                        "only development configuration runs the Python web workloads".to_string(),
                    )
                }
                None => (None, "no Python web workload was found".to_string()),
            },
        },
    };
    choice.infra = infra;
    choice.reason = reason;
    let Some(infra) = infra else {
        return choice;
    };
    let on = |w: &&&Workload| w.kind.infra() == infra;
    let mut planned: Vec<&Workload> = candidates.iter().filter(on).copied().collect();
    if planned.is_empty() && forced.is_some() {
        // Planning a Kubernetes codebase for bare metal: the same application, on hosts.
        planned = candidates.clone();
    }
    if planned.iter().any(|w| prod(w)) {
        for w in planned.iter().filter(|w| !prod(w)) {
            choice
                .skipped
                .push((w.id, format!("development only ({})", w.environment.reason)));
        }
        planned.retain(|w| prod(w));
    } else if !planned.is_empty() {
        choice.dev_only = true;
    }
    // The same application declared twice on hosts (a Procfile line and the systemd unit that
    // runs it in production): the most specific declaration is the one planned.
    planned.sort_by_key(|w| (host_rank(w.kind), w.id));
    let mut apps: Vec<(String, String, WorkloadId)> = Vec::new();
    planned.retain(|w| {
        let (Some(code), Some(entry)) = (&w.code, &w.entrypoint) else {
            return true;
        };
        if w.kind.infra() != InfraKind::BareMetal {
            return true;
        }
        if let Some((_, _, first)) = apps
            .iter()
            .find(|(c, e, _)| *c == code.value && *e == entry.value)
        {
            let first = detection
                .workload(*first)
                .map(|f| format!("the {} `{}`", f.kind.as_str(), f.name))
                .unwrap_or_default();
            choice
                .skipped
                .push((w.id, format!("the same application as {first}")));
            return false;
        }
        apps.push((code.value.clone(), entry.value.clone(), w.id));
        true
    });
    // One workload per service name (a Deployment and its variants share the Service). Of a
    // compose service and its variants (`-f docker-compose.ssl.yml`), the base file's, which
    // `docker compose up` runs.
    planned.sort_by_key(|w| {
        let variant = w.kind == super::facts::WorkloadKind::ComposeService
            && super::compose::is_variant_file(&w.evidence.file);
        (variant, w.id)
    });
    let mut names: Vec<String> = Vec::new();
    for w in planned {
        let name = service_name(w);
        if names.contains(&name) {
            choice
                .skipped
                .push((w.id, format!("another workload already serves `{name}`")));
            continue;
        }
        names.push(name);
        choice.web.push(w.id);
    }
    choice.web.sort();
    for w in candidates.iter().filter(|w| w.kind.infra() != infra) {
        if !choice.skipped.iter().any(|(id, _)| *id == w.id) && !choice.web.contains(&w.id) {
            let why = if prod(w) {
                format!("runs on {}", w.kind.infra().as_str())
            } else {
                format!("development only ({})", w.environment.reason)
            };
            choice.skipped.push((w.id, why));
        }
    }
    for kind in PREFERENCE.iter().copied().filter(|k| *k != infra) {
        let others: Vec<WorkloadId> = candidates
            .iter()
            .filter(|w| w.kind.infra() == kind && prod(w))
            .map(|w| w.id)
            .collect();
        if !others.is_empty() && forced.is_none() {
            choice.alternatives.push((kind, others));
        }
    }
    // Workers and shared services next to the planned ones: on the same infrastructure, and
    // for Compose in the same files (another compose file is another stack).
    let files: Vec<&str> = choice
        .web
        .iter()
        .filter_map(|id| detection.workload(*id))
        .map(|w| w.evidence.file.as_str())
        .collect();
    let beside = |w: &&Workload| {
        // Workers run wherever they run (a Procfile worker next to a compose stack): the queue
        // canary applies to them all.
        let worker_elsewhere = w.class.value == WorkloadClass::PythonWorker
            && w.kind.infra() != InfraKind::DockerCompose;
        let same = w.kind.infra() == infra
            || worker_elsewhere
            || forced.is_some() && choice.web.is_empty();
        let stack = w.kind.infra() != InfraKind::DockerCompose
            || files.is_empty()
            || files.contains(&w.evidence.file.as_str());
        same && stack && (prod(w) || choice.dev_only)
    };
    let mut seen: Vec<(String, WorkloadClass)> = Vec::new();
    let mut near: Vec<&Workload> = all.iter().filter(beside).collect();
    near.sort_by_key(|w| (host_rank(w.kind), w.id));
    let mut same_command: Vec<(String, String)> = Vec::new();
    for w in near {
        let key = (w.name.clone(), w.class.value);
        if seen.contains(&key) || choice.web.contains(&w.id) {
            continue;
        }
        // A worker declared twice on hosts (Procfile and supervisord) is one worker.
        if w.kind.infra() == InfraKind::BareMetal && w.class.value == WorkloadClass::PythonWorker {
            let command = w.runs.as_ref().or(w.command.as_ref()).map(|c| {
                let words = super::command::unwrap(&c.value);
                let mut words = words.into_iter();
                let first = words
                    .next()
                    .map(|f| super::command::basename(&f).to_string())
                    .unwrap_or_default();
                std::iter::once(first)
                    .chain(words)
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            if let (Some(code), Some(command)) = (&w.code, command) {
                let k = (code.value.clone(), command);
                if same_command.contains(&k) {
                    continue;
                }
                same_command.push(k);
            }
        }
        match w.class.value {
            WorkloadClass::PythonWorker if w.python.as_ref().is_none_or(|p| p.value.0 != 3) => {
                choice.workers.push(w.id);
            }
            WorkloadClass::Other => choice.shared.push(w.id),
            _ => continue,
        }
        seen.push(key);
    }
    choice.workers.sort();
    choice.shared.sort();
    choice.skipped.sort();
    if choice.reason == "prod" {
        let n = choice.web.len();
        choice.reason = format!(
            "it runs {n} Python web service{} in production",
            if n == 1 { "" } else { "s" }
        );
    }
    choice
}

/// How specific a host declaration is: a unit says exactly how production runs it.
fn host_rank(kind: super::facts::WorkloadKind) -> u8 {
    use super::facts::WorkloadKind as K;
    match kind {
        K::SystemdUnit => 0,
        K::SupervisordProgram => 1,
        K::UpstartJob => 2,
        K::ModWsgi => 3,
        K::ProcfileProcess => 4,
        K::ServerConfig => 5,
        _ => 6,
    }
}

/// How a plan's service was joined to a workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLink {
    pub workload: WorkloadId,
    pub reason: String,
}

/// What the link pass could not do, for the checker to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// No workload is named like the service, and the plan has several services or the
    /// codebase several candidates.
    NoMatch {
        service: usize,
        candidates: Vec<String>,
    },
    /// A one-service plan, several Python web workloads: which one is meant?
    Ambiguous {
        service: usize,
        candidates: Vec<String>,
    },
    /// The service is named like a workload that is not Python web.
    NotWeb {
        service: usize,
        workload: WorkloadId,
    },
}

/// Links each of the plan's services (by index) to a workload.
pub fn link(plan: &Plan, detection: &Detection) -> (Vec<Option<ServiceLink>>, Vec<Unlinked>) {
    let infra: Option<InfraKind> = plan.infra.iter().find_map(|t| match t.kind {
        crate::model::InfraKind::Kubernetes => Some(InfraKind::Kubernetes),
        crate::model::InfraKind::DockerCompose => Some(InfraKind::DockerCompose),
        crate::model::InfraKind::BareMetal => Some(InfraKind::BareMetal),
        crate::model::InfraKind::Auto => None,
    });
    let choice = choose(detection, infra);
    let mut links = Vec::new();
    let mut problems = Vec::new();
    // The workload `choose` plans under a name comes first: of a compose service and its
    // variant (`docker-compose.ssl.yml`, sorted first by path), the base file's.
    let rank = |w: &Workload| {
        (
            !choice.web.contains(&w.id),
            !canary_candidate(w),
            infra.is_some_and(|i| w.kind.infra() != i),
            !prod(w),
            w.id,
        )
    };
    let candidate_names = || -> Vec<String> {
        choice
            .web
            .iter()
            .filter_map(|id| detection.workload(*id))
            .map(service_name)
            .collect()
    };
    for (i, service) in plan.services.iter().enumerate() {
        let wanted = dns_label(&service.name.value);
        let mut named: Vec<&Workload> = detection
            .workloads
            .iter()
            .filter(|w| {
                dns_label(&w.name) == wanted
                    || w.k8s
                        .service
                        .as_deref()
                        .is_some_and(|s| dns_label(s) == wanted)
            })
            .collect();
        named.sort_by_key(|w| rank(w));
        if let Some(w) = named.first() {
            if w.class.value != WorkloadClass::PythonWeb {
                problems.push(Unlinked::NotWeb {
                    service: i,
                    workload: w.id,
                });
            }
            let how = if dns_label(&w.name) == wanted {
                format!(
                    "the {} `{}` has the service's name",
                    w.kind.as_str(),
                    w.name
                )
            } else {
                format!(
                    "Service `{}` routes to the {} `{}`",
                    w.k8s.service.as_deref().unwrap_or(""),
                    w.kind.as_str(),
                    w.name
                )
            };
            links.push(Some(ServiceLink {
                workload: w.id,
                reason: how,
            }));
            continue;
        }
        if plan.services.len() == 1 {
            match choice.web.as_slice() {
                [one] => {
                    let w = detection.workload(*one);
                    links.push(Some(ServiceLink {
                        workload: *one,
                        reason: format!(
                            "the only Python web workload: the {} `{}`",
                            w.map_or("", |w| w.kind.as_str()),
                            w.map_or("", |w| w.name.as_str())
                        ),
                    }));
                    continue;
                }
                [] => {}
                _ => problems.push(Unlinked::Ambiguous {
                    service: i,
                    candidates: candidate_names(),
                }),
            }
        } else if !choice.web.is_empty() {
            problems.push(Unlinked::NoMatch {
                service: i,
                candidates: candidate_names(),
            });
        }
        links.push(None);
    }
    (links, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("My_App"), "my-app");
        assert_eq!(dns_label("--"), "app");
        assert_eq!(dns_label("k8s-istio"), "k8s-istio");
    }
}
