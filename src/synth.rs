//! Writing a `canary.plan` from what detection found: the first step of `canaryc plan`.
//!
//! The plan is meant to be read and edited: every value it states says where it came from, and
//! every value it leaves to detection says so in a comment. Pure: a function of the detection
//! and the command-line choices.

use std::fmt::Write as _;

use crate::detect::Detection;
use crate::detect::facts::{InfraKind as Detected, ServiceFacts};
use crate::model::{InfraKind, PyVersion};

#[derive(Debug, Clone)]
pub struct Choices {
    pub name: String,
    /// The codebase as the plan refers to it (relative to where the plan is written).
    pub codebase: String,
    pub target: PyVersion,
    pub infra: InfraKind,
    /// Error-rate rollback threshold in percent.
    pub rollback_threshold: f64,
    pub schedule: String,
}

/// An assumption the plan makes that the user should check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assumption {
    pub service: String,
    pub text: String,
}

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

/// The py3 image by the usual convention: the py2 image's tag with its Python version replaced
/// (`ledger:2.7-40` → `ledger:3.13-40`), or `-py3.13` appended when the tag has none.
pub fn py3_image(py2: &str, target: PyVersion) -> String {
    let (repo, tag) = match py2.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r, t),
        None => (py2, "latest"),
    };
    let tag = tag.split('@').next().unwrap_or(tag);
    let replaced = ["2.7", "py27", "python2", "py2"]
        .iter()
        .find(|v| tag.contains(**v))
        .map(|v| {
            let new = match *v {
                "2.7" => target.to_string(),
                "py27" => format!("py{}{}", target.major, target.minor),
                "python2" => format!("python{target}"),
                _ => format!("py{target}"),
            };
            tag.replacen(v, &new, 1)
        });
    let repo = repo.split('@').next().unwrap_or(repo);
    match replaced {
        Some(t) => format!("{repo}:{t}"),
        None => format!("{repo}:{tag}-py{target}"),
    }
}

fn needs_images(infra: InfraKind, detection: &Detection) -> bool {
    match infra {
        InfraKind::Kubernetes | InfraKind::DockerCompose => true,
        InfraKind::BareMetal => false,
        InfraKind::Auto => detection
            .infra
            .iter()
            .any(|f| matches!(f.kind, Detected::Kubernetes | Detected::DockerCompose)),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The plan text and the assumptions it makes.
pub fn plan(detection: &Detection, choices: &Choices) -> (String, Vec<Assumption>) {
    let mut o = String::new();
    let mut assumptions = Vec::new();
    let _ = writeln!(
        o,
        "# canary.plan for {name}, written by `canaryc plan` from what it found in the codebase.\n\
         # Edit it, then rebuild the files next to it: canaryc build canary.plan --output .\n\
         # The language: docs/language.md in canaryc's repository; `canaryc explain CODE` for any diagnostic.\n",
        name = choices.name
    );
    let _ = writeln!(
        o,
        "use std.schedules.{}\nuse std.rollback.defaults\n",
        choices.schedule
    );
    let _ = writeln!(o, "plan {} {{", choices.name);
    let _ = writeln!(o, "  codebase = {}", quote(&choices.codebase));
    let _ = writeln!(o, "  python   = 2.7 -> {}", choices.target);
    if detection.infra.is_empty() {
        o.push_str(
            "  # Nothing deployable was detected: `auto` falls back to bare metal with HAProxy.\n",
        );
    }
    for f in &detection.infra {
        let evidence: Vec<String> = f.evidence.iter().take(2).map(ToString::to_string).collect();
        let routers: Vec<String> = f
            .routers
            .iter()
            .map(|r| format!("{} ({})", r.value.as_str(), r.evidence))
            .collect();
        let _ = writeln!(
            o,
            "  # detected {}: {}{}",
            f.kind.as_str(),
            evidence.join(", "),
            if routers.is_empty() {
                String::new()
            } else {
                format!("; router {}", routers.join(", "))
            }
        );
    }
    let infra = match choices.infra {
        InfraKind::Auto => "auto".to_string(),
        other => other.as_str().to_string(),
    };
    let _ = writeln!(o, "  infra    = {infra}");
    o.push_str("  # start  = 2027-01-11   # uncomment with the real start date for calendar dates in the runbooks\n\n");

    // Celery workers take no HTTP traffic: they are canaried by queue, not by a traffic split.
    let (workers, services): (Vec<&ServiceFacts>, Vec<&ServiceFacts>) = detection
        .services
        .iter()
        .partition(|s| s.server.as_ref().is_some_and(|f| f.value == "celery"));
    for w in &workers {
        let _ = writeln!(
            o,
            "  # {} ({}) is a Celery worker: it takes no HTTP traffic to split. Run a py3 worker on its\n  # own queue during the canary (see the celery-pickle hazard, if any).",
            w.name, w.dir
        );
    }
    let images = needs_images(choices.infra, detection);
    if services.is_empty() {
        o.push_str("  # No service was detected: state its port, health path and how to run it.\n");
        let _ = writeln!(o, "  service {{");
        o.push_str("    port = 8000\n  }\n");
        assumptions.push(Assumption {
            service: choices.name.clone(),
            text: "port 8000: nothing in the codebase says which port the service uses".into(),
        });
    }
    let single = services.len() == 1;
    for s in &services {
        let name = if single {
            None
        } else {
            Some(dns_label(&s.name))
        };
        let service_name = name.clone().unwrap_or_else(|| choices.name.clone());
        let _ = writeln!(
            o,
            "  service{} {{",
            name.map(|n| format!(" {n}")).unwrap_or_default()
        );
        for (what, fact) in [
            (
                "framework",
                s.framework
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "entrypoint",
                s.entrypoint
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "server",
                s.server
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "port",
                s.port
                    .as_ref()
                    .map(|f| (f.value.to_string(), f.evidence.to_string())),
            ),
            (
                "health",
                s.health
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
        ] {
            if let Some((value, at)) = fact {
                let _ = writeln!(o, "    # {what:<10} {value} ({at})");
            }
        }
        o.push_str(
            "    # Detected values fill in what this block leaves out; a value stated here wins.\n",
        );
        if images {
            if let Some(image) = &s.image {
                let py3 = py3_image(&image.value, choices.target);
                let _ = writeln!(
                    o,
                    "    image py2 = {}   # {}",
                    quote(&image.value),
                    image.evidence
                );
                let _ = writeln!(
                    o,
                    "    image py3 = {}   # assumed from the py2 tag: check it",
                    quote(&py3)
                );
                assumptions.push(Assumption {
                    service: service_name.clone(),
                    text: format!("py3 image {py3}, from the py2 image's tag: set `image py3` to your py3 build's image"),
                });
            } else {
                let py3 = format!("{service_name}:py{}", choices.target);
                let _ = writeln!(
                    o,
                    "    image py3 = {}   # assumed: the py3 build's image",
                    quote(&py3)
                );
                assumptions.push(Assumption {
                    service: service_name.clone(),
                    text: format!(
                        "py3 image {py3}: no image was found to derive it from; set `image py3`"
                    ),
                });
            }
        }
        if s.port.is_none() {
            o.push_str("    port = 8000   # assumed: nothing in the codebase says\n");
            assumptions.push(Assumption {
                service: service_name.clone(),
                text: "port 8000: nothing in the codebase says which port the service uses".into(),
            });
        }
        o.push_str("  }\n");
    }

    let session_hazard = detection.hazards.iter().find(|h| {
        matches!(
            h.id,
            "django-session-cache" | "django-session-pickle" | "pickle-shared-cache"
        )
    });
    if let Some(h) = session_hazard {
        let at: Vec<String> = h.evidence.iter().take(2).map(ToString::to_string).collect();
        let _ = writeln!(
            o,
            "\n  # Sessions or cached pickles are shared between the copies ({}): keep each user on\n  # one interpreter, or they are logged out when they switch, which looks like a py3 regression.\n  route {{ sticky = cookie(\"py_version\") }}",
            at.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "\n  # Roll back when py3's server errors are this many points above py2's (`--rollback-threshold`;\n  # a sequential test, caught as soon as py3's requests show it); the other default triggers stay.\n  rollback = defaults {{ error_rate > {}% }}",
        crate::ir::fmt(choices.rollback_threshold)
    );
    let _ = writeln!(o, "\n  schedule = {}\n}}", choices.schedule);
    (o, assumptions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py3_images_follow_the_tag() {
        let t = PyVersion {
            major: 3,
            minor: 13,
        };
        assert_eq!(
            py3_image("registry.internal/ledger:2.7-40", t),
            "registry.internal/ledger:3.13-40"
        );
        assert_eq!(
            py3_image("registry:5000/app:py27", t),
            "registry:5000/app:py313"
        );
        assert_eq!(py3_image("app", t), "app:latest-py3.13");
        assert_eq!(py3_image("app:v12", t), "app:v12-py3.13");
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("My_App"), "my-app");
        assert_eq!(dns_label("--"), "app");
        assert_eq!(dns_label("k8s-istio"), "k8s-istio");
    }
}
