//! Writing a `canary.plan` from what detection found: the first step of `canaryc plan`.
//!
//! The plan is meant to be read and edited: every value it states says where it came from,
//! every value it assumes says so (and is listed for the summary), and a value nothing can
//! stand in for (a port no file declares, for a server with no default) is written as a
//! commented-out line marked `FILL IN`, listed as unresolved: `canaryc plan` then writes only
//! this draft and exits 1. Pure: a function of the detection and the command-line choices.
//!
//! Everything detected is attacker-controlled text (anyone can edit a manifest). Every comment
//! goes through [`comment`] and every string through [`quote`], so the written plan parses to
//! exactly the tree this module means, whatever the codebase holds.

use std::fmt::Write as _;

use crate::detect::Detection;
use crate::detect::facts::{InfraKind as Detected, Workload, WorkloadKind};
use crate::detect::link::{self, Choice};
use crate::model::{InfraKind, PyVersion};

pub use crate::detect::link::dns_label;

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

/// A field the plan cannot fill: written commented out, with `marker` on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub service: String,
    pub field: &'static str,
    pub why: String,
    /// Unique text on the field's line, to find its line number after formatting.
    pub marker: String,
}

/// What [`plan`] writes.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    pub assumptions: Vec<Assumption>,
    pub unresolved: Vec<Unresolved>,
    pub choice: Choice,
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

/// A plan string literal: `\` and `"` escaped, newlines and tabs as `\n` and `\t`, any other
/// control character (which the language has no escape for) replaced.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if unsafe_in_text(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters that end a line somewhere (the grammar, an editor, a terminal) or hide text.
fn unsafe_in_text(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Text for a `#` comment: one line whatever it holds (a comment ends at the first newline,
/// so a newline in a detected value would start a plan statement).
pub fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if unsafe_in_text(c) { '?' } else { c })
        .collect()
}

/// The name `canaryc plan` gives a plan: the one service it canaries when there is one
/// Kubernetes workload to canary, else the codebase directory's.
pub fn plan_name(detection: &Detection, choice: &Choice, dir_name: &str) -> String {
    match choice.web.as_slice() {
        [one] => match detection.workload(*one) {
            Some(w) if w.kind.infra() == Detected::Kubernetes => link::service_name(w),
            _ => dns_label(dir_name),
        },
        _ => dns_label(dir_name),
    }
}

fn forced(infra: InfraKind) -> Option<Detected> {
    match infra {
        InfraKind::Auto => None,
        InfraKind::Kubernetes => Some(Detected::Kubernetes),
        InfraKind::DockerCompose => Some(Detected::DockerCompose),
        InfraKind::BareMetal => Some(Detected::BareMetal),
    }
}

/// The default port of a server, when it has one people rely on.
fn default_port(server: &str) -> Option<(u16, &'static str)> {
    let s = server.to_ascii_lowercase();
    if s.contains("gunicorn") {
        Some((8000, "gunicorn's default bind is port 8000"))
    } else if s.contains("runserver") {
        Some((8000, "Django's runserver listens on port 8000 by default"))
    } else if s.contains("flask") || s.contains("app.run") {
        Some((
            5000,
            "Flask's development server listens on port 5000 by default",
        ))
    } else if s.contains("waitress") {
        Some((8080, "waitress listens on port 8080 by default"))
    } else if s.contains("paste") || s.contains("pserve") {
        Some((8080, "paste's HTTP server listens on port 8080 by default"))
    } else {
        None
    }
}

/// A field the plan cannot fill: written commented out, marked, and listed for the summary.
/// `(field, example value, what it is)`.
fn fill_in(
    o: &mut String,
    unresolved: &mut Vec<Unresolved>,
    service: &str,
    (field, example, what): (&'static str, &str, &str),
    why: String,
) {
    let marker = format!("FILL IN ({service}): {field}");
    let _ = writeln!(
        o,
        "    # {field} = {example}   # {}: {what}",
        comment(&marker)
    );
    unresolved.push(Unresolved {
        service: service.to_string(),
        field,
        why,
        marker: comment(&marker),
    });
}

fn line(o: &mut String, indent: &str, text: &str) {
    let _ = writeln!(o, "{indent}# {}", comment(text));
}

fn at(w: &Workload) -> String {
    format!("the {} `{}` ({})", w.kind.as_str(), w.name, w.evidence)
}

/// The plan text, its assumptions, and the fields left to fill.
pub fn plan(detection: &Detection, choices: &Choices) -> Draft {
    let mut o = String::new();
    let mut assumptions = Vec::new();
    let mut unresolved = Vec::new();
    let choice = link::choose(detection, forced(choices.infra));
    let name = dns_label(&choices.name);
    let _ = writeln!(
        o,
        "# canary.plan for {name}, written by `canaryc plan` from what it found in the codebase.\n\
         # Edit it, then rebuild the files next to it: canaryc build canary.plan --output .\n\
         # The language: docs/language.md in canaryc's repository; `canaryc explain CODE` for any diagnostic.\n",
    );
    let schedule = dns_label(&choices.schedule);
    let _ = writeln!(
        o,
        "use std.schedules.{schedule}\nuse std.rollback.defaults\n"
    );
    let _ = writeln!(o, "plan {name} {{");
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
        line(
            &mut o,
            "  ",
            &format!(
                "detected {}: {}{}",
                f.kind.as_str(),
                evidence.join(", "),
                if routers.is_empty() {
                    String::new()
                } else {
                    format!("; router {}", routers.join(", "))
                }
            ),
        );
    }
    if let Some(kind) = choice.infra {
        line(
            &mut o,
            "  ",
            &format!("planned for {}: {}", kind.as_str(), choice.reason),
        );
    }
    for (kind, ids) in &choice.alternatives {
        let mut names: Vec<String> = ids
            .iter()
            .filter_map(|id| detection.workload(*id))
            .map(|w| w.name.clone())
            .collect();
        names.dedup();
        line(
            &mut o,
            "  ",
            &format!(
                "also deployed on {}: {} (plan it with `--infra-type {}`, or list both targets in `infra`)",
                kind.as_str(),
                names.join(", "),
                kind.as_str()
            ),
        );
    }
    let infra = match choices.infra {
        InfraKind::Auto => "auto".to_string(),
        other => other.as_str().to_string(),
    };
    let _ = writeln!(o, "  infra    = {infra}");
    o.push_str("  # start  = 2027-01-11   # uncomment with the real start date for calendar dates in the runbooks\n\n");

    if !choice.workers.is_empty() {
        o.push_str("  # Python workers take no HTTP traffic to split: canary each by queue. Run a py3 worker on\n  # its own queue (or consumer group) next to the py2 one, and move producers over once it is\n  # healthy (see the celery-pickle hazard, if any).\n");
        for id in &choice.workers {
            if let Some(w) = detection.workload(*id) {
                line(
                    &mut o,
                    "  ",
                    &format!("  worker {}: {}", at(w), w.class.reason),
                );
            }
        }
        o.push('\n');
    }
    if !choice.shared.is_empty() {
        o.push_str("  # Shared by both copies, never canaried:\n");
        for id in &choice.shared {
            if let Some(w) = detection.workload(*id) {
                line(&mut o, "  ", &format!("  {}: {}", at(w), w.class.reason));
            }
        }
        o.push('\n');
    }
    if !choice.skipped.is_empty() {
        o.push_str("  # Python web workloads not planned:\n");
        for (id, why) in &choice.skipped {
            if let Some(w) = detection.workload(*id) {
                line(&mut o, "  ", &format!("  {}: {why}", at(w)));
            }
        }
        o.push('\n');
    }
    if choice.dev_only {
        o.push_str("  # Only development configuration serves the application: the values below come from it.\n  # Check them against production before the canary starts.\n");
    }

    let target_infra = choice.infra.or(forced(choices.infra));
    let images = matches!(
        target_infra,
        Some(Detected::Kubernetes | Detected::DockerCompose)
    ) || matches!(
        choices.infra,
        InfraKind::Kubernetes | InfraKind::DockerCompose
    );
    let web: Vec<&Workload> = choice
        .web
        .iter()
        .filter_map(|id| detection.workload(*id))
        .collect();
    if web.is_empty() {
        // What `infra = auto` resolves to with no Python web workload (detect::merge): the
        // first infrastructure found, by preference.
        let resolved = target_infra.or_else(|| link::first_found(detection));
        let images = images
            || matches!(
                resolved,
                Some(Detected::Kubernetes | Detected::DockerCompose)
            );
        // Workloads that may be the service: detection found no sign of Python in them (an
        // image from elsewhere, a templated command), which the plan naming one settles.
        let mut unknown: Vec<&Workload> = detection
            .workloads
            .iter()
            .filter(|w| w.python_unknown() && resolved.is_none_or(|k| w.kind.infra() == k))
            .collect();
        unknown.sort_by_key(|w| (w.health.is_none(), w.port.is_none(), w.id));
        if unknown.is_empty() {
            o.push_str("  # No Python web workload was detected: state its port, health path and how to run it.\n");
        } else {
            o.push_str("  # No Python web workload was detected. Workloads canaryc could not tell run Python: if one is\n  # the service, name the service after it (`service NAME {`): canaryc then fills in what it found.\n");
            for w in unknown.iter().take(8) {
                let port = w.port.as_ref().map(|p| format!(", port {}", p.value));
                line(
                    &mut o,
                    "  ",
                    &format!(
                        "  {}{}: {}",
                        at(w),
                        port.unwrap_or_default(),
                        w.class.reason
                    ),
                );
            }
            if unknown.len() > 8 {
                line(
                    &mut o,
                    "  ",
                    &format!(
                        "  and {} more (`canaryc detect` lists them)",
                        unknown.len() - 8
                    ),
                );
            }
        }
        let _ = writeln!(o, "  service {{");
        fill_in(
            &mut o,
            &mut unresolved,
            &name,
            (
                "port",
                "8000",
                "nothing in the codebase says which port the service uses",
            ),
            "nothing in the codebase serves HTTP".into(),
        );
        if images {
            for (field, example, what, why) in [
                (
                    "image py2",
                    format!("registry/{name}:2.7"),
                    "the image production runs today",
                    "nothing names the image the service runs",
                ),
                (
                    "image py3",
                    format!("registry/{name}:3"),
                    "the py3 build's image",
                    "the py3 build's image is yours to name",
                ),
            ] {
                fill_in(
                    &mut o,
                    &mut unresolved,
                    &name,
                    (field, &quote(&example), what),
                    why.into(),
                );
            }
        } else {
            fill_in(
                &mut o,
                &mut unresolved,
                &name,
                ("command py2", "\"...\"", "how a host starts the py2 copy"),
                "nothing in the codebase says how the service is started".into(),
            );
        }
        o.push_str("  }\n");
    }
    let single = web.len() == 1;
    for w in &web {
        let label = (!single).then(|| link::service_name(w));
        let service_name = label.clone().unwrap_or_else(|| name.clone());
        let _ = writeln!(
            o,
            "  service{} {{",
            label.as_ref().map(|n| format!(" {n}")).unwrap_or_default()
        );
        line(&mut o, "    ", &format!("workload   {}", at(w)));
        line(
            &mut o,
            "    ",
            &format!("class      {}: {}", w.class.value.as_str(), w.class.reason),
        );
        for l in &w.links {
            line(
                &mut o,
                "    ",
                &format!(
                    "link       {}: {}{}",
                    l.to,
                    l.reason,
                    l.evidence
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            );
        }
        let facts = [
            (
                "runs",
                w.runs
                    .as_ref()
                    .or(w.command.as_ref())
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "framework",
                w.framework
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "entrypoint",
                w.entrypoint
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "server",
                w.server
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
            (
                "port",
                w.port
                    .as_ref()
                    .map(|f| (f.value.to_string(), f.evidence.to_string())),
            ),
            (
                "public",
                w.public_port
                    .as_ref()
                    .map(|f| (f.value.to_string(), f.evidence.to_string())),
            ),
            (
                "health",
                w.health
                    .as_ref()
                    .map(|f| (f.value.clone(), f.evidence.to_string())),
            ),
        ];
        for (what, fact) in facts {
            if let Some((value, evidence)) = fact {
                line(&mut o, "    ", &format!("{what:<10} {value} ({evidence})"));
            }
        }
        o.push_str(
            "    # Detected values fill in what this block leaves out; a value stated here wins.\n",
        );
        if images {
            let builds_here = w.build.is_some()
                && target_infra == Some(Detected::DockerCompose)
                && w.kind.infra() == Detected::DockerCompose;
            // A detected image no registry would accept (a newline, a quote) is not written
            // into the plan, where the checker would refuse it: the operator fills it in.
            let detected = w.image.as_ref();
            let image = detected.filter(|i| crate::check::strings::is_image_reference(&i.value));
            if let (Some(refused), None) = (detected, image) {
                line(
                    &mut o,
                    "    ",
                    &format!(
                        "image py2: `{}` ({}) is not an image reference",
                        crate::check::strings::shown(&refused.value),
                        refused.evidence
                    ),
                );
            }
            match image {
                Some(image) => {
                    let py3 = py3_image(&image.value, choices.target);
                    let _ = writeln!(
                        o,
                        "    image py2 = {}   # {}",
                        quote(&image.value),
                        comment(&image.evidence.to_string())
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
                }
                None => {
                    if !builds_here {
                        let example = quote(&format!("registry/{service_name}:2.7"));
                        fill_in(
                            &mut o,
                            &mut unresolved,
                            &service_name,
                            ("image py2", &example, "the image production runs today"),
                            format!("nothing names the image {} runs", at(w)),
                        );
                    } else if let Some(b) = &w.build {
                        line(
                            &mut o,
                            "    ",
                            &format!(
                                "image py2: built from {} (context {})",
                                b.dockerfile, b.context
                            ),
                        );
                    }
                    let py3 = format!("{}:py{}", dns_label(&service_name), choices.target);
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
        }
        let bare = target_infra == Some(Detected::BareMetal);
        if w.port.is_none() {
            // No server named, but on a host canaryc serves the WSGI application itself (the
            // assumed `command py2` below), on that server's default port.
            let assumed_server = (bare && !images)
                .then(|| assumed_wsgi_server(w))
                .flatten()
                .map(|(_, why)| (8000, why));
            match w
                .server
                .as_ref()
                .and_then(|s| default_port(&s.value))
                .or(assumed_server)
            {
                Some((port, why)) => {
                    let _ = writeln!(
                        o,
                        "    port = {port}   # assumed: {why}; nothing in the codebase says"
                    );
                    assumptions.push(Assumption {
                        service: service_name.clone(),
                        text: format!(
                            "port {port}: {why}, and nothing in the codebase declares another"
                        ),
                    });
                }
                None => {
                    fill_in(
                        &mut o,
                        &mut unresolved,
                        &service_name,
                        ("port", "8000", "the port it listens on"),
                        format!("nothing says which port {} listens on", at(w)),
                    );
                }
            }
        }
        if bare && !images {
            host_command(&mut o, w, &service_name, &mut assumptions, &mut unresolved);
            // The old job's shell set variables a systemd unit does not.
            let command = w
                .runs
                .as_ref()
                .or(w.command.as_ref())
                .filter(|_| !w.kind.containerized());
            if let Some(c) = command.filter(|c| c.value.contains('$')) {
                let vars: Vec<&str> = c
                    .value
                    .split('$')
                    .skip(1)
                    .map(|v| {
                        v.trim_start_matches('{')
                            .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                            .next()
                            .unwrap_or("")
                    })
                    .filter(|v| !v.is_empty())
                    .collect();
                if !vars.is_empty() {
                    assumptions.push(Assumption {
                        service: service_name.clone(),
                        text: format!(
                            "the command ({}) uses ${}, which its old job's shell set: systemd expands only variables the unit defines, so give it a value in the service's `env` block or write it into `command py2`",
                            c.evidence,
                            vars.join(", $")
                        ),
                    });
                }
            }
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
            comment(&at.join(", "))
        );
    }
    let _ = writeln!(
        o,
        "\n  # Roll back when py3's server errors are this many points above py2's (`--rollback-threshold`;\n  # a sequential test, caught as soon as py3's requests show it); the other default triggers stay.\n  rollback = defaults {{ error_rate > {}% }}",
        crate::ir::fmt(choices.rollback_threshold)
    );
    let _ = writeln!(o, "\n  schedule = {schedule}\n}}");
    Draft {
        text: o,
        assumptions,
        unresolved,
        choice,
    }
}

/// How a host starts the py2 copy when the workload itself does not say (a mod_wsgi vhost, a
/// paste config, code alone): written as an assumption, or left to fill.
#[derive(Clone, Copy)]
enum WsgiServer {
    Gunicorn,
    ModWsgiExpress,
}

/// The server canaryc runs a host's WSGI application with when nothing in the codebase starts
/// it: gunicorn for a `module:app` entrypoint, mod_wsgi-express for a `.wsgi` file. Both listen
/// on port 8000 by default.
fn assumed_wsgi_server(w: &Workload) -> Option<(WsgiServer, &'static str)> {
    if !w.kind.containerized() && w.command.is_some() {
        return None;
    }
    let entry = w.entrypoint.as_ref().map(|e| e.value.as_str())?;
    if w.kind == WorkloadKind::ServerConfig && entry.starts_with("paste ") {
        None
    } else if crate::detect::command::looks_like_entrypoint(entry) {
        Some((
            WsgiServer::Gunicorn,
            "canaryc runs the WSGI application with gunicorn (the assumed `command py2`), whose default bind is port 8000",
        ))
    } else if entry.starts_with('/') && !entry.contains(char::is_whitespace) {
        Some((
            WsgiServer::ModWsgiExpress,
            "canaryc runs the WSGI file with mod_wsgi-express (the assumed `command py2`), which listens on port 8000 by default",
        ))
    } else {
        None
    }
}

fn host_command(
    o: &mut String,
    w: &Workload,
    service: &str,
    assumptions: &mut Vec<Assumption>,
    unresolved: &mut Vec<Unresolved>,
) {
    let declared = !w.kind.containerized() && w.command.is_some();
    if declared {
        return;
    }
    let entry = w
        .entrypoint
        .as_ref()
        .map(|e| e.value.as_str())
        .unwrap_or("");
    let paste_file =
        (w.kind == WorkloadKind::ServerConfig && entry.starts_with("paste ")).then(|| {
            w.evidence
                .file
                .rsplit('/')
                .next()
                .unwrap_or(&w.evidence.file)
                .to_string()
        });
    let port = w.port.as_ref().map_or(8000, |p| p.value);
    let assumed = if let Some(ini) = paste_file {
        Some(format!("paster serve {ini}"))
    } else {
        match assumed_wsgi_server(w) {
            Some((WsgiServer::Gunicorn, _)) => {
                Some(format!("gunicorn --bind 127.0.0.1:{port} {entry}"))
            }
            Some((WsgiServer::ModWsgiExpress, _)) => Some(
                [
                    format!("mod_wsgi-express start-server {entry} --port {port}"),
                    w.serve_options.join(" "),
                ]
                .join(" ")
                .trim_end()
                .to_string(),
            ),
            None => None,
        }
    };
    match assumed {
        Some(c) if crate::detect::validate::command(&c).is_ok() => {
            let _ = writeln!(
                o,
                "    command py2 = {}   # assumed: run from the py2 virtualenv in the service's directory",
                quote(&c)
            );
            assumptions.push(Assumption {
                service: service.to_string(),
                text: format!("command py2 `{c}`: nothing in the codebase starts it on a host; set `command py2`"),
            });
        }
        _ => {
            fill_in(
                o,
                unresolved,
                service,
                ("command py2", "\"...\"", "how a host starts the py2 copy"),
                format!("nothing says how a host starts {}", at(w)),
            );
        }
    }
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
    fn comments_and_strings_stay_on_one_line() {
        assert_eq!(comment("/h\n  }\n  monitor {"), "/h?  }?  monitor {");
        assert_eq!(comment("a\u{2028}b\rc"), "a?b?c");
        assert_eq!(quote("a\"b\\c\nd\u{0}"), "\"a\\\"b\\\\c\\nd\u{FFFD}\"");
    }
}
