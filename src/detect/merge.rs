//! Merging detected facts into a checked plan.
//!
//! `infra = auto` becomes the one infrastructure [`link::choose`] picks (the one running the
//! Python web workloads in production), or bare metal when nothing is found. Each of the
//! plan's services is joined to a workload by [`link::link`]; a value the plan states wins, a
//! field it leaves out is filled from that workload, and where the two disagree a warning
//! points at both places. What does not link, literal credentials, values detection refused
//! and hazards the plan does not mitigate become warnings too.
//!
//! Filled values carry a span into the codebase file they were read from (added to the source
//! map here), so a diagnostic about a detected value points at its file and line; when that
//! file cannot be read back, at the plan's `codebase` line.
//!
//! Pure: codebase files that diagnostics point into are fetched through the `load` callback the
//! CLI provides and added to the source map, so they render like any other source.

use super::facts::{
    Detection, Evidence, Fact, HazardLevel, InfraKind as DetectedKind, RouterKind, WarningKind,
    Workload, WorkloadKind,
};
use super::link::{self, Unlinked};
use crate::diag::{Code, Diagnostic};
use crate::model::{InfraKind, InfraTarget, Plan, Router, Service};
use crate::source::{SourceMap, Span, Spanned};

/// Reads a codebase file by its path relative to the codebase root.
pub type Loader<'a> = &'a dyn Fn(&str) -> Option<String>;

pub struct Merger<'a> {
    sources: &'a mut SourceMap,
    load: Loader<'a>,
    /// How codebase files are named in diagnostics: the codebase path as the user sees it.
    prefix: String,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn model_kind(kind: DetectedKind) -> InfraKind {
    match kind {
        DetectedKind::Kubernetes => InfraKind::Kubernetes,
        DetectedKind::DockerCompose => InfraKind::DockerCompose,
        DetectedKind::BareMetal => InfraKind::BareMetal,
    }
}

impl<'a> Merger<'a> {
    pub fn new(sources: &'a mut SourceMap, load: Loader<'a>, prefix: &str) -> Self {
        let prefix = match prefix.trim_end_matches('/') {
            "" | "." => String::new(),
            p => format!("{p}/"),
        };
        Merger {
            sources,
            load,
            prefix,
            diagnostics: Vec::new(),
        }
    }

    /// The span of the evidence's line (without indentation), adding the file to the sources.
    fn span_of(&mut self, evidence: &Evidence) -> Option<Span> {
        let name = format!("{}{}", self.prefix, evidence.file);
        let id = match self.sources.find(&name) {
            Some(id) => id,
            None => {
                let text = (self.load)(&evidence.file)?;
                self.sources.add(name, text)
            }
        };
        let text = &self.sources.get(id).text;
        let mut start = 0;
        for _ in 1..evidence.line {
            start = text[start..].find('\n').map(|i| start + i + 1)?;
        }
        let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let indent = text[start..end].len() - text[start..end].trim_start().len();
        Some(Span::new(id, start + indent, end.max(start + indent)))
    }

    /// The span a detected value carries: where it was read, else the plan's `codebase`.
    fn detected_span(&mut self, evidence: &Evidence, plan: &Plan) -> Span {
        self.span_of(evidence)
            .or_else(|| plan.codebase.as_ref().map(|c| c.span))
            .unwrap_or(plan.name.span)
    }

    pub fn merge(&mut self, plan: &Plan, detection: &Detection) -> Plan {
        let mut merged = plan.clone();
        self.report_unreadable(detection);
        self.report_credentials(detection);
        merged.infra = self.infra(plan, detection);
        let (links, problems) = link::link(&merged, detection);
        for (i, found) in links.iter().enumerate() {
            let Some(found) = found else { continue };
            let Some(workload) = detection.workload(found.workload) else {
                continue;
            };
            let service = &mut merged.services[i];
            service.workload = Some(found.workload);
            let mut filled = service.clone();
            self.fill_service(&mut filled, workload, plan);
            merged.services[i] = filled;
        }
        self.report_unlinked(&merged, detection, &problems);
        self.hazards(&merged, detection);
        merged
    }

    fn report_unreadable(&mut self, detection: &Detection) {
        for warning in &detection.warnings {
            let evidence = Evidence {
                file: warning.file.clone(),
                line: warning.line,
            };
            let Some(span) = self.span_of(&evidence) else {
                continue;
            };
            let d = match warning.kind {
                WarningKind::Unreadable => Diagnostic::new(
                    Code::CodebaseFileUnreadable,
                    span,
                    format!("{}: {}", warning.file, warning.message),
                )
                .label("detection skipped this")
                .help("canaryc carried on without it; fix the file if it describes the service"),
                WarningKind::Rejected => Diagnostic::new(
                    Code::DetectedValueRejected,
                    span,
                    format!("{}: {}", warning.file, warning.message),
                )
                .label("not used")
                .help("canaryc only uses values that are what their field holds; fix the value, or state it in the plan"),
            };
            self.diagnostics.push(d);
        }
    }

    fn report_credentials(&mut self, detection: &Detection) {
        for c in &detection.credentials {
            let Some(span) = self.span_of(&c.evidence) else {
                continue;
            };
            self.diagnostics.push(
                Diagnostic::new(
                    Code::DetectedCredential,
                    span,
                    format!("a literal credential in {} ({})", c.evidence.file, c.what),
                )
                .label("credential committed to the repository")
                .help(c.fix.clone())
                .note("canaryc never copies it into runbooks, JSON or dashboards; the cloned workload keeps what it needs"),
            );
        }
    }

    fn infra(&mut self, plan: &Plan, detection: &Detection) -> Vec<Spanned<InfraTarget>> {
        let auto = plan.infra.iter().find(|t| t.kind == InfraKind::Auto);
        let Some(auto) = auto else {
            return plan.infra.clone();
        };
        let choice = link::choose(detection, None);
        // No Python web workload: the first infrastructure found, by preference.
        let kind = choice.infra.or_else(|| link::first_found(detection));
        let Some(kind) = kind else {
            self.diagnostics.push(
                Diagnostic::new(Code::InfraFallback, auto.span, "no infrastructure detected: `auto` falls back to bare metal")
                    .label("bare-metal(router: haproxy)")
                    .help("name the infrastructure (`infra = kubernetes(router: istio)`) or point `codebase` at the code and its deployment files"),
            );
            return vec![Spanned::new(
                InfraTarget {
                    kind: InfraKind::BareMetal,
                    router: Some(Router::Haproxy),
                    engine: None,
                },
                auto.span,
            )];
        };
        if kind == DetectedKind::BareMetal {
            if let Some(pin) = detection.buildpack_runtime.first() {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::BuildpackPlatform,
                        auto.span,
                        format!("the codebase runs on a buildpack platform such as Heroku ({pin}), and `infra = auto` planned bare metal"),
                    )
                    .label("bare-metal(router: haproxy)")
                    .note("the bare-metal bundle runs py2 and py3 as systemd units behind HAProxy on a host you run; a platform's router gives no weighted split between two apps, and canaryc has no target for one")
                    .help("move the service to hosts, a Compose stack or a cluster you run and plan it there (`infra = docker-compose(router: haproxy)`): on the platform itself the bundle's units and HAProxy have nowhere to run"),
                );
            }
        }
        let model = model_kind(kind);
        let router = detection
            .infra
            .iter()
            .filter(|f| f.kind == kind)
            .flat_map(|f| f.routers.iter())
            .map(|r| router(r.value))
            .find(|r| model.routers().contains(r));
        if !choice.alternatives.is_empty() {
            let others: Vec<String> = choice
                .alternatives
                .iter()
                .map(|(k, ids)| {
                    let mut names: Vec<String> = Vec::new();
                    for w in ids.iter().filter_map(|id| detection.workload(*id)) {
                        if !names
                            .iter()
                            .any(|n| n.starts_with(&format!("`{}` ", w.name)))
                        {
                            names.push(format!("`{}` ({})", w.name, w.evidence));
                        }
                    }
                    format!("{} runs {}", k.as_str(), names.join(", "))
                })
                .collect();
            self.diagnostics.push(
                Diagnostic::new(
                    Code::InfraAlternatives,
                    auto.span,
                    format!(
                        "`infra = auto` plans {} only; the codebase also deploys elsewhere",
                        kind.as_str()
                    ),
                )
                .label(format!("{}: {}", kind.as_str(), choice.reason))
                .note(format!("also detected: {}", others.join("; ")))
                .help("name the targets to plan several: `infra = [kubernetes(router: istio), bare-metal(router: haproxy)]`"),
            );
        }
        vec![Spanned::new(
            InfraTarget {
                kind: model,
                router,
                // Chosen in `ir::lower`, which also reads the engines the manifests use.
                engine: None,
            },
            auto.span,
        )]
    }

    fn fill_service(&mut self, service: &mut Service, w: &Workload, plan: &Plan) {
        for (slot, detected, what) in [
            (&mut service.port, &w.port, "port"),
            (&mut service.public_port, &w.public_port, "public port"),
        ] {
            if let Some(p) = detected {
                let span = self.detected_span(&p.evidence, plan);
                fill(self, slot, p, span, what, |p| p.to_string());
            }
        }
        if let Some(h) = &w.health {
            let span = self.detected_span(&h.evidence, plan);
            fill(
                self,
                &mut service.health,
                h,
                span,
                "health check path",
                Clone::clone,
            );
        }
        // A host process's command is how the host runs it; a container's belongs to its image
        // and never becomes a host's ExecStart.
        if service.command_py2.is_none() && !w.kind.containerized() {
            // A Procfile line and an Upstart `script` run through a shell and wrappers
            // (`wrap-job`, `exec`): the unit runs the program itself, under the team's APM
            // agent when it has one (`newrelic-admin run-program`).
            let command = match w.kind {
                WorkloadKind::ProcfileProcess | WorkloadKind::UpstartJob => {
                    w.runs.as_ref().or(w.command.as_ref()).map(|c| {
                        Fact::at(
                            super::command::join(&super::command::unwrap_keeping_agents(&c.value)),
                            &c.evidence,
                        )
                    })
                }
                _ => w.command.clone(),
            };
            if let Some(c) = command.filter(|c| !c.value.is_empty()) {
                let span = self.detected_span(&c.evidence, plan);
                service.command_py2 = Some(Spanned::new(c.value, span));
            }
        }
        if service.image_py2.is_none() && w.kind.containerized() {
            if let Some(image) = &w.image {
                let span = self.detected_span(&image.evidence, plan);
                service.image_py2 = Some(Spanned::new(image.value.clone(), span));
            }
        }
    }

    fn report_unlinked(&mut self, plan: &Plan, detection: &Detection, problems: &[Unlinked]) {
        for p in problems {
            match p {
                Unlinked::NoMatch {
                    service,
                    candidates,
                } => {
                    let s = &plan.services[*service];
                    let mut d = Diagnostic::new(
                        Code::ServiceNotDetected,
                        s.name.span,
                        format!("no detected workload is named `{}`", s.name.value),
                    )
                    .label("nothing in the codebase fills this service")
                    .help("name the service after the workload it canaries (its compose service, Deployment or Kubernetes Service), or state every field it needs");
                    if let Some(best) = crate::diag::did_you_mean(
                        &s.name.value,
                        candidates.iter().map(String::as_str),
                    ) {
                        d = d.note(format!("did you mean `{best}`?"));
                    }
                    d = d.note(format!(
                        "Python web workloads detected: {}",
                        candidates.join(", ")
                    ));
                    self.diagnostics.push(d);
                }
                Unlinked::Ambiguous {
                    service,
                    candidates,
                } => {
                    let s = &plan.services[*service];
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::ServiceAmbiguous,
                            s.name.span,
                            format!(
                                "the codebase runs {} Python web workloads; which one is `{}`?",
                                candidates.len(),
                                s.name.value
                            ),
                        )
                        .label("not linked to any of them")
                        .note(format!("candidates: {}", candidates.join(", ")))
                        .help("label the service with the workload's name (`service web { ... }`), or add one service block per workload"),
                    );
                }
                Unlinked::NotWeb { service, workload } => {
                    let s = &plan.services[*service];
                    let Some(w) = detection.workload(*workload) else {
                        continue;
                    };
                    let worker = w.class.value == super::facts::WorkloadClass::PythonWorker;
                    let (what, label, help) = if worker {
                        (
                            "a Python worker, not a web service",
                            "a traffic canary splits HTTP requests",
                            "canary a worker by queue: run a py3 worker on its own queue (or consumer group) next to the py2 one, and move producers over",
                        )
                    } else if w.python_unknown() {
                        // The plan names it: that is the evidence detection lacked.
                        (
                            "not known to run Python",
                            "canaried as the plan says",
                            "canaryc found no sign of Python in it (its image comes from elsewhere, or its command is templated): keep the block if it is your Python web service, remove it if not",
                        )
                    } else {
                        (
                            "a shared service or another language, not a Python web service",
                            "a traffic canary splits HTTP requests",
                            "shared services (databases, caches, proxies) and other languages are not canaried: remove the service block",
                        )
                    };
                    let mut d = Diagnostic::new(
                        Code::ServiceNotPythonWeb,
                        s.name.span,
                        format!("`{}` is {what}: {}", s.name.value, w.class.reason),
                    )
                    .label(label)
                    .help(help);
                    if let Some(span) = self.span_of(&w.evidence) {
                        d = d.secondary(span, format!("{} `{}`", w.kind.as_str(), w.name));
                    }
                    self.diagnostics.push(d);
                }
            }
        }
    }

    /// Hazards the plan leaves unmitigated: shared sessions without sticky routing.
    fn hazards(&mut self, plan: &Plan, detection: &Detection) {
        let sticky = plan.route.sticky.is_some();
        for hazard in &detection.hazards {
            let needs_sticky =
                matches!(hazard.id, "django-session-cache" | "django-session-pickle");
            if hazard.level != HazardLevel::Blocker || (needs_sticky && sticky) {
                continue;
            }
            let Some(first) = hazard.evidence.first() else {
                continue;
            };
            let Some(span) = self.span_of(first) else {
                continue;
            };
            let mut d = Diagnostic::new(Code::UnmitigatedHazard, span, hazard.title.clone())
                .label(format!("{} (detected)", hazard.id))
                .help(hazard.mitigation.clone());
            if needs_sticky {
                d = d.secondary(plan.name.span, "this plan does not route sticky");
            }
            if hazard.evidence.len() > 1 {
                let more: Vec<String> = hazard.evidence[1..]
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                d = d.note(format!("also at {}", more.join(", ")));
            }
            self.diagnostics.push(d);
        }
    }
}

/// Fills `slot` from `detected`, or warns with both places when they disagree.
fn fill<T: PartialEq + Clone>(
    merger: &mut Merger<'_>,
    slot: &mut Option<Spanned<T>>,
    detected: &Fact<T>,
    span: Span,
    what: &str,
    show: impl Fn(&T) -> String,
) {
    match slot {
        None => *slot = Some(Spanned::new(detected.value.clone(), span)),
        Some(stated) if stated.value != detected.value => {
            let mut d = Diagnostic::new(
                Code::DetectedConflict,
                stated.span,
                format!(
                    "the plan says {what} {}, but {} says {}",
                    show(&stated.value),
                    detected.evidence,
                    show(&detected.value)
                ),
            )
            .label("the plan's value wins")
            .help(format!(
                "check which is right; if the code changed, update the plan's {what}"
            ));
            if let Some(span) = merger.span_of(&detected.evidence) {
                d = d.secondary(span, format!("detected {what} {}", show(&detected.value)));
            }
            merger.diagnostics.push(d);
        }
        Some(_) => {}
    }
}

fn router(kind: RouterKind) -> Router {
    match kind {
        RouterKind::Istio => Router::Istio,
        RouterKind::GatewayApi => Router::GatewayApi,
        RouterKind::NginxIngress => Router::NginxIngress,
        RouterKind::Haproxy => Router::Haproxy,
        RouterKind::Nginx => Router::Nginx,
    }
}
