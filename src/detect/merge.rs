//! Merging detected facts into a checked plan.
//!
//! A value the plan states wins; a field it leaves out is filled from what detection found;
//! where the two disagree, a warning points at both places (the plan, and the file and line in
//! the codebase). `infra = auto` becomes the infrastructure detected, or bare metal when nothing
//! is found. Hazards that the plan does not mitigate become warnings too.
//!
//! Pure: codebase files that diagnostics point into are fetched through the `load` callback the
//! CLI provides and added to the source map, so they render like any other source.

use super::facts::{Detection, Evidence, Fact, HazardLevel, InfraKind as DetectedKind, RouterKind};
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

    pub fn merge(&mut self, plan: &Plan, detection: &Detection) -> Plan {
        let mut merged = plan.clone();
        self.report_unreadable(detection);
        merged.infra = self.infra(plan, detection);
        let single = plan.services.len() == 1 && detection.services.len() == 1;
        for service in &mut merged.services {
            let found = detection
                .services
                .iter()
                .find(|s| s.name == service.name.value)
                .or_else(|| single.then(|| &detection.services[0]));
            if let Some(found) = found {
                self.fill_service(service, found);
            }
        }
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
            self.diagnostics.push(
                Diagnostic::new(
                    Code::CodebaseFileUnreadable,
                    span,
                    format!("{}: {}", warning.file, warning.message),
                )
                .label("detection skipped this")
                .help("canaryc carried on without it; fix the file if it describes the service"),
            );
        }
    }

    fn infra(&mut self, plan: &Plan, detection: &Detection) -> Vec<Spanned<InfraTarget>> {
        let auto = plan.infra.iter().find(|t| t.kind == InfraKind::Auto);
        let Some(auto) = auto else {
            return plan.infra.clone();
        };
        let found: Vec<Spanned<InfraTarget>> = detection
            .infra
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    DetectedKind::Kubernetes => InfraKind::Kubernetes,
                    DetectedKind::DockerCompose => InfraKind::DockerCompose,
                    DetectedKind::BareMetal => InfraKind::BareMetal,
                };
                let router = f
                    .routers
                    .iter()
                    .map(|r| router(r.value))
                    .find(|r| kind.routers().contains(r));
                Spanned::new(
                    InfraTarget {
                        kind,
                        router,
                        engine: None,
                    },
                    auto.span,
                )
            })
            .collect();
        if found.is_empty() {
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
        }
        found
    }

    fn fill_service(&mut self, service: &mut Service, found: &super::facts::ServiceFacts) {
        fill(self, &mut service.port, found.port.as_ref(), "port", |p| {
            p.to_string()
        });
        fill(
            self,
            &mut service.health,
            found.health.as_ref(),
            "health check path",
            Clone::clone,
        );
        if service.command_py2.is_none() {
            if let Some(command) = &found.command {
                service.command_py2 = Some(Spanned::new(command.value.clone(), Span::default()));
            }
        }
        if service.image_py2.is_none() {
            if let Some(image) = &found.image {
                service.image_py2 = Some(Spanned::new(image.value.clone(), Span::default()));
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
    detected: Option<&Fact<T>>,
    what: &str,
    show: impl Fn(&T) -> String,
) {
    let Some(detected) = detected else { return };
    match slot {
        None => *slot = Some(Spanned::new(detected.value.clone(), Span::default())),
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
