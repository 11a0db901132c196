//! Detection: what a codebase already runs, read from its files, every fact with its evidence.
//!
//! [`walk`] is the only part that touches the file system; [`analyze`] is a pure function of the
//! files it returns: one module per source kind reads the raw facts, then [`workloads`] builds
//! the workload graph from them (every deployable unit, linked to its image, Dockerfile, build
//! context, code, command and port, and classified). [`link`] joins a plan's services to those
//! workloads, once, for checking, merging and lowering alike. The result, [`Detection`], is both
//! what `canaryc detect` prints and what `check`/`build` merge into a plan.

mod ansible;
pub mod command;
mod compose;
mod dockerfile;
pub mod facts;
mod hazards;
mod ini;
mod kubernetes;
pub mod link;
pub mod merge;
mod procfile;
mod proxy;
mod python;
mod scan;
mod servers;
mod shell;
mod supervisord;
mod systemd;
mod terraform;
mod upstart;
pub mod validate;
pub mod walk;
mod workloads;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub use facts::Detection;
use facts::{
    CodeFacts, Evidence, Fact, InfraFinding, InfraKind, RouterKind, ServerKind, Skipped, Warning,
    WorkloadClass,
};
use python::PyFacts;
use walk::{Found, Limits, Read, Reader, SourceText};

/// Walks `root` and analyses what it finds.
pub fn detect(root: &Path, limits: &Limits) -> std::io::Result<Detection> {
    let (walked, mut reader) = walk::walk(root, limits)?;
    let root_name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    // The walk gives its files sorted by path. The read limit is counted in that order, as the
    // analysis reads them: a file that would pass it is not read, nor any after it, whatever
    // order the walk's threads found them in. The files before it are analysed again without
    // the rest (the first passes may have read some of them).
    let mut files = walked.files;
    let mut skipped = walked.skipped;
    let mut detection = loop {
        match analyze_files(
            &files,
            &mut reader,
            &root_name,
            true,
            limits.max_total_bytes,
        ) {
            Ok(detection) => break detection,
            Err(at) => {
                let reason = format!("read limit of {} MiB reached", limits.max_total_bytes >> 20);
                skipped.extend(files.drain(at..).map(|f| facts::Skipped {
                    path: f.path,
                    reason: reason.clone(),
                }));
            }
        }
    };
    detection.skipped.extend(skipped);
    detection.skipped.sort();
    detection.stats.files_seen = walked.files_seen;
    Ok(detection)
}

/// The text of a file for the first passes, which only look: read now when the walk left it
/// for later (the main pass reads it again, counting it); none when it is not text.
fn peek<'a>(file: &'a Found, reader: &'a mut Reader) -> Option<&'a str> {
    match &file.read {
        Read::Text { text, .. } => Some(text),
        Read::Binary(_) => None,
        Read::Later { .. } => match reader.read(file) {
            walk::Text::Text { text, .. } => Some(text),
            _ => None,
        },
    }
}

/// The last `/` of a path: a byte loop, as paths are short (`rsplit` costs a searcher's set-up
/// per call, which showed on 100,000-file trees).
fn last_slash(path: &str) -> Option<usize> {
    path.as_bytes().iter().rposition(|&b| b == b'/')
}

fn file_name(path: &str) -> &str {
    last_slash(path).map_or(path, |i| &path[i + 1..])
}

fn dir_of(path: &str) -> &str {
    last_slash(path).map_or(".", |i| &path[..i])
}

/// `base/rel` with `.` and `..` resolved, relative to the codebase root (`.` for the root); an
/// absolute `rel` or one that climbs out of the root is kept as written.
pub(crate) fn join_path(base: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        return rel.trim_end_matches('/').to_string();
    }
    let mut parts: Vec<&str> = if base == "." || base.is_empty() {
        Vec::new()
    } else {
        base.split('/').collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return rel.to_string();
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// Files whose presence makes their directory a home of Python code (`text` is asked only of
/// `setup.py`; none for a file that is not text).
fn is_code_marker<'t>(name: &str, text: impl FnOnce() -> Option<&'t str>) -> bool {
    let marker = match name {
        // A `setup.py` that is not a setuptools script (a Flask view module of that name) says
        // nothing about where a package starts.
        "setup.py" => return text().is_some_and(|t| t.contains("setup(")),
        "manage.py" | "pyproject.toml" | "Pipfile" | "setup.cfg" | "requirements.txt" => true,
        n => dockerfile::is_dockerfile(n),
    };
    marker && text().is_some()
}

/// The name of a file with a template suffix removed: `app.conf.j2` → `app.conf`.
fn untemplated(name: &str) -> &str {
    name.strip_suffix(".j2")
        .or_else(|| name.strip_suffix(".jinja2"))
        .or_else(|| name.strip_suffix(".tmpl"))
        .or_else(|| name.strip_suffix("_tmpl"))
        .unwrap_or(name)
}

/// Analyses the files of a codebase. `root_name` names a workload at the root.
pub fn analyze(files: &[SourceText], root_name: &str) -> Detection {
    let in_order = files.windows(2).all(|w| w[0].path < w[1].path);
    let files: Vec<Found> = files
        .iter()
        .map(|f| Found::text(f.path.clone(), f.text.clone()))
        .collect();
    analyze_files(&files, &mut Reader::none(), root_name, in_order, u64::MAX).unwrap_or_default()
}

/// [`analyze`] of what a walk found, the files it left for later read with `reader`, told
/// whether `files` are in increasing path order (then evidence comes in (file, line) order).
/// `Err(i)`: counting the bytes of `files` in order, file `i` passes `max_total`.
fn analyze_files(
    files: &[Found],
    reader: &mut Reader,
    root_name: &str,
    in_order: bool,
    max_total: u64,
) -> Result<Detection, usize> {
    let mut out = Detection {
        format_version: facts::FORMAT_VERSION,
        ..Detection::default()
    };
    let mut signals = hazards::Signals::default();
    // Each file's name, found once: the passes below ask it of every file.
    let names: Vec<&str> = files.iter().map(|f| file_name(&f.path)).collect();
    let named = || files.iter().zip(names.iter().copied());
    let mut charts: Vec<(String, String)> = Vec::new();
    for (f, _) in named().filter(|(_, name)| *name == "Chart.yaml") {
        let Some(text) = peek(f, reader) else {
            continue;
        };
        let (docs, _) = yaml::documents(&f.path, text);
        let name = docs
            .first()
            .and_then(|d| yaml::str_at(&d.value, &["name"]))
            .unwrap_or("chart")
            .to_string();
        charts.push((dir_of(&f.path).to_string(), name));
    }
    let chart_dirs: Vec<String> = charts.iter().map(|(d, _)| d.clone()).collect();
    let mut code_dirs: Vec<String> = Vec::new();
    for (f, name) in named() {
        if is_code_marker(name, || peek(f, reader)) {
            code_dirs.push(dir_of(&f.path).to_string());
        }
    }
    code_dirs.sort();
    code_dirs.dedup();
    if code_dirs.is_empty() {
        code_dirs.push(".".into());
    }

    // First pass: what other files are read with: `.env` for compose interpolation, Ansible
    // variables for templates.
    let mut dotenvs: BTreeMap<String, compose::DotEnv> = BTreeMap::new();
    let mut vars: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (file, name) in named() {
        if name == ".env" {
            if let Some(text) = peek(file, reader) {
                dotenvs.insert(dir_of(&file.path).to_string(), compose::dotenv(text));
            }
        } else if (name.ends_with(".yml") || name.ends_with(".yaml"))
            && ansible::is_vars_file(&file.path)
        {
            let Some(text) = peek(file, reader) else {
                continue;
            };
            let (docs, _) = yaml::documents(&file.path, text);
            vars.entry(ansible::vars_scope(&file.path))
                .or_default()
                .extend(ansible::vars(&docs));
        }
    }
    let no_env = compose::DotEnv::new();
    // Values files a templated manifest may be rendered with: YAML mappings that are neither
    // manifests nor compose files, flattened to dotted keys.
    let mut values_files: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let templates =
        named().any(|(f, name)| kubernetes::is_template_name(name) && peek(f, reader).is_some());
    if templates {
        for (f, name) in named() {
            let n = name.to_ascii_lowercase();
            if !(n.ends_with(".yaml") || n.ends_with(".yml")) || compose::is_compose_file(&n) {
                continue;
            }
            let Some(text) = peek(f, reader).filter(|t| !t.contains("apiVersion")) else {
                continue;
            };
            let (docs, _) = yaml::documents(&f.path, text);
            let mut flat = BTreeMap::new();
            if let Some(doc) = docs.first() {
                flatten("", &doc.value, &mut flat);
            }
            if !flat.is_empty() {
                values_files.push((f.path.clone(), flat));
            }
        }
    }

    let mut from_python: BTreeMap<String, PyFacts> = BTreeMap::new();
    let mut framework_from_requirements: BTreeMap<String, Fact<String>> = BTreeMap::new();

    // The code directory of the last file's directory; the facts of the last run of files in
    // one code directory, merged into `from_python` when the next run starts (in file order, as
    // merging file by file would).
    let mut last_code_dir: Option<(&str, &str)> = None;
    let mut pending: Option<(&str, PyFacts)> = None;
    // The bytes of the files read so far, in path order.
    let (mut total, mut files_read) = (0u64, 0usize);
    for (i, (file, name)) in named().enumerate() {
        let path = file.path.as_str();
        let read = match &file.read {
            Read::Text { text, lossy } => walk::Text::Text {
                text: text.as_str(),
                lossy: *lossy,
            },
            Read::Binary(len) => walk::Text::Binary(*len),
            // Read now, into the reader's buffer: this file's facts are kept, not its text.
            Read::Later { .. } => reader.read(file),
        };
        total = total.saturating_add(read.counted());
        if total > max_total {
            return Err(i);
        }
        let text = match read {
            walk::Text::Text { text, lossy } => {
                if lossy {
                    out.warnings.push(Warning::unreadable(
                        path,
                        1,
                        "not UTF-8: read with replacement characters",
                    ));
                }
                text
            }
            walk::Text::Binary(_) => {
                out.skipped.push(Skipped {
                    path: path.to_string(),
                    reason: "binary (contains NUL bytes)".into(),
                });
                continue;
            }
            walk::Text::Skipped(reason) => {
                out.skipped.push(Skipped {
                    path: path.to_string(),
                    reason,
                });
                continue;
            }
        };
        files_read += 1;
        let (mut buf, mut owned) = ([0u8; scan::NAME_BUF], String::new());
        let lower = scan::ascii_lowercase(name, &mut buf, &mut owned);
        let plain = untemplated(lower);
        // Worked out only for the files that need them: this loop sees every file read. Files
        // come sorted by path, so the last directory's answer is usually this one's.
        let mut code_dir = || {
            let dir = dir_of(path);
            match last_code_dir {
                Some((d, c)) if d == dir => c,
                _ => {
                    let c = workloads::code_dir_of(path, &code_dirs).unwrap_or(".");
                    last_code_dir = Some((dir, c));
                    c
                }
            }
        };
        let lookup = |v: &str| {
            let scope = ansible::template_scope(path);
            vars.get(&scope)
                .and_then(|m| m.get(v))
                .or_else(|| vars.get("").and_then(|m| m.get(v)))
                .cloned()
        };
        if name == ".env" {
            continue;
        }
        if name == "Chart.yaml" {
            kubernetes::chart(path, text, &mut out);
            continue;
        }
        if (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".tpl"))
            && kubernetes::is_helm_template(path, &chart_dirs)
        {
            let chart = charts
                .iter()
                .find(|(d, _)| path.starts_with(&format!("{d}/")) || d == ".")
                .map(|(_, n)| n.as_str());
            kubernetes::template(path, text, chart, &mut out);
            continue;
        }
        if kubernetes::is_template_name(lower) {
            // Rendered with the production values file next to it, when there is one.
            let values = template_values(path, &values_files);
            let rendered = match values {
                Some((_, vars)) => servers::render(text, &|k: &str| vars.get(k).cloned()),
                None => text.to_string(),
            };
            kubernetes::template(path, &rendered, None, &mut out);
            continue;
        }
        if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            let (docs, warnings) = yaml::documents(path, text);
            out.warnings.extend(warnings);
            if matches!(name, "values.yaml" | "values.yml")
                && chart_dirs.iter().any(|c| c == dir_of(path))
            {
                kubernetes::chart_values(path, &docs, &mut out);
            } else if compose::is_compose_file(name) {
                let env = dotenvs.get(dir_of(path)).unwrap_or(&no_env);
                compose::analyze(path, text, &docs, env, &mut out);
            } else if ansible::is_vars_file(path) {
                // Its variables were read in the first pass; its literal secrets are said here.
                ansible::credentials(path, &docs, &mut out);
            } else if !kubernetes::manifests(path, &docs, &mut out) {
                ansible::analyze(path, &docs, &mut out);
            }
            continue;
        }
        if dockerfile::is_dockerfile(name) {
            dockerfile::analyze(path, text, &mut out);
            continue;
        }
        if name == "Procfile" || lower.starts_with("procfile.") {
            procfile::analyze(path, text, &mut out);
            continue;
        }
        if lower == "runtime.txt" {
            // The Python buildpack's pin: one line `python-X.Y.Z`.
            if let Some((i, _)) = text.lines().enumerate().find(|(_, l)| {
                l.trim()
                    .strip_prefix("python-")
                    .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            }) {
                out.buildpack_runtime.push(Evidence::new(path, i + 1));
            }
            continue;
        }
        if plain.ends_with(".service") && text.contains("[Service]") {
            systemd::analyze(path, text, &mut out);
            continue;
        }
        if lower.ends_with(".tf") {
            terraform::analyze(path, text, &mut out);
            continue;
        }
        if lower == "ansible.cfg" {
            ansible::config(path, &mut out);
            continue;
        }
        if lower.ends_with(".py") {
            let code_dir = code_dir();
            // The words the scans are gated on, found in one pass over the file.
            let present = python::GATES.scan(text);
            // Only the facts this file's code directory does not have yet.
            let earlier = from_python.get(code_dir);
            let run = pending
                .as_ref()
                .filter(|(dir, _)| *dir == code_dir)
                .map(|(_, run)| run);
            let wanted = python::Wanted::missing_from(earlier, run);
            let facts = python::python_file_wanted(path, text, code_dir, &present, wanted);
            match &mut pending {
                Some((dir, run)) if *dir == code_dir => run.fill_from(facts),
                _ => {
                    if let Some((dir, run)) = pending.replace((code_dir, facts)) {
                        from_python
                            .entry(dir.to_string())
                            .or_default()
                            .fill_from(run);
                    }
                }
            }
            signals.python_file(path, text, &present, in_order);
            if present.has(text, "bind") && servers::is_gunicorn_config(path, text) {
                servers::gunicorn(path, text, &mut out);
            }
            continue;
        }
        if (lower.starts_with("requirements") && lower.ends_with(".txt"))
            || lower == "constraints.txt"
        {
            signals.requirements(path, text);
            let code_dir = code_dir();
            for (i, line) in text.lines().enumerate() {
                let pkg = line.trim().to_ascii_lowercase();
                let framework = ["django", "flask", "pyramid", "tornado", "pylons"]
                    .into_iter()
                    .find(|f| {
                        pkg.starts_with(f)
                            && !pkg[f.len()..].starts_with(|c: char| {
                                c.is_ascii_alphanumeric() || c == '-' || c == '_'
                            })
                    });
                if let Some(f) = framework {
                    framework_from_requirements
                        .entry(code_dir.to_string())
                        .or_insert_with(|| Fact::new(f.to_string(), path, i + 1));
                }
            }
            continue;
        }
        if shell::is_script(name) {
            shell::analyze(path, text, &mut out);
            // Configs an install script writes (`cat > /etc/haproxy/haproxy.cfg <<EOF`).
            for doc in shell::heredocs(text) {
                let target = doc.target.to_ascii_lowercase();
                if doc.text.contains("[program:") {
                    supervisord::analyze(path, &doc.text, &mut out);
                } else if doc.text.contains("[server:") {
                    servers::paste(path, &doc.text, &mut out);
                } else if target.ends_with(".cfg")
                    || target.ends_with(".conf")
                    || target.contains("haproxy")
                    || target.contains("nginx")
                {
                    proxy::analyze_as(path, &target, &doc.text, &mut out);
                }
            }
            continue;
        }
        let ini_like = plain.ends_with(".conf")
            || plain.ends_with(".ini")
            || plain.ends_with(".cfg")
            || plain.ends_with(".ini_tmpl")
            || plain.ends_with(".vhost");
        if ini_like {
            let rendered;
            let text = if lower != plain {
                rendered = servers::render(text, &lookup);
                rendered.as_str()
            } else {
                text
            };
            if supervisord::looks_like(text) {
                supervisord::analyze(path, text, &mut out);
            } else if upstart::looks_like(path, text) {
                upstart::analyze(path, text, &mut out);
            } else if text.contains("[uwsgi]") {
                servers::uwsgi(path, text, &lookup, &mut out);
                signals.embedded_server.push(Evidence::new(path, 1));
            } else if text.contains("[server:") || text.contains("[app:main]") {
                servers::paste(path, text, &mut out);
            } else if servers::is_mod_wsgi(text) {
                servers::mod_wsgi(path, text, &lookup, &mut out);
                signals.apache_config(path, text);
            } else {
                signals.apache_config(path, text);
                proxy::analyze(path, text, &mut out);
            }
        }
    }

    if let Some((dir, run)) = pending.take() {
        from_python
            .entry(dir.to_string())
            .or_default()
            .fill_from(run);
    }

    // Python code per directory.
    let mut code_keys: Vec<String> = from_python
        .keys()
        .chain(framework_from_requirements.keys())
        .cloned()
        .collect();
    code_keys.sort();
    code_keys.dedup();
    let code: Vec<CodeFacts> = code_keys
        .into_iter()
        .map(|dir| {
            let py = from_python.remove(&dir).unwrap_or_default();
            // The framework the application declares (requirements) over the first import
            // seen: a stray Flask blueprint does not make a Django project a Flask one.
            let declared = framework_from_requirements.remove(&dir);
            let in_entrypoint = py.framework.as_ref().filter(|f| {
                py.entrypoint
                    .as_ref()
                    .is_some_and(|e| e.evidence.file == f.evidence.file)
            });
            let framework = in_entrypoint.cloned().or(declared).or(py.framework);
            CodeFacts {
                framework,
                entrypoint: py.entrypoint,
                server: py.server,
                port: py.port,
                health: py.health,
                metrics_library: py.metrics_library,
                grpc: py.grpc,
                python2: py.python2,
                dir,
            }
        })
        .filter(|c| {
            c.framework.is_some()
                || c.entrypoint.is_some()
                || c.server.is_some()
                || c.grpc.is_some()
                || c.health.is_some()
        })
        .collect();

    sort(&mut out);
    compose::apply_overrides(&mut out.compose);
    workloads::build(&mut out, &code, code_dirs, root_name);
    out.code = code;
    for w in &out.workloads {
        if let Some(c) = w.runs.as_ref().or(w.command.as_ref()) {
            signals.command(&c.value, c.evidence.clone());
        }
    }
    for s in out.servers.iter().filter(|s| s.kind == ServerKind::ModWsgi) {
        signals.embedded_server.push(s.evidence.clone());
    }
    for d in &out.dockerfiles {
        if d.python2 {
            signals.python2_image.push(d.base_image.evidence.clone());
        }
    }
    let shared_state: Vec<Evidence> = out
        .compose
        .iter()
        .filter(|c| matches!(c.role.as_deref(), Some("cache" | "broker")))
        .map(|c| c.evidence.clone())
        .collect();
    out.hazards = signals.into_hazards(&shared_state);
    out.infra = infra(&out);
    out.credentials.sort();
    out.credentials.dedup();
    out.warnings.sort();
    out.warnings.dedup();
    out.stats.files_read = files_read;
    Ok(out)
}

/// `{a: {b: 1}}` as `a.b = 1`.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            if let (false, Some(v)) = (prefix.is_empty(), yaml::scalar(other)) {
                out.insert(prefix.to_string(), v);
            }
        }
    }
}

/// The values a template is rendered with: a values file under the same top directory,
/// production's first (`values-prod.yaml`, `regions/x/prod.yaml`), never dev, test or stage.
fn template_values<'v>(
    template: &str,
    files: &'v [(String, BTreeMap<String, String>)],
) -> Option<&'v (String, BTreeMap<String, String>)> {
    let top = template.split('/').next().unwrap_or("");
    let mut candidates: Vec<&(String, BTreeMap<String, String>)> = files
        .iter()
        .filter(|(p, _)| p.split('/').next() == Some(top) && p.contains('/'))
        .filter(|(p, _)| {
            let n = file_name(p).to_ascii_lowercase();
            !["dev", "test", "stage", "local", "ci"]
                .iter()
                .any(|w| n.contains(w))
        })
        .collect();
    candidates.sort_by_key(|(p, _)| {
        let n = file_name(p).to_ascii_lowercase();
        (
            !n.contains("prod"),
            !n.starts_with("values"),
            p.len(),
            p.clone(),
        )
    });
    candidates.first().copied()
}

fn infra(out: &Detection) -> Vec<InfraFinding> {
    let mut found = Vec::new();
    let k8s = &out.kubernetes;
    let mut k8s_evidence: Vec<Evidence> = k8s
        .workloads
        .iter()
        .map(|w| w.evidence.clone())
        .chain(k8s.services.iter().map(|s| s.evidence.clone()))
        .chain(k8s.autoscalers.iter().map(|s| s.evidence.clone()))
        .chain(k8s.ingresses.iter().map(|i| i.evidence.clone()))
        .chain(k8s.routes.iter().map(|r| r.evidence.clone()))
        .chain(k8s.helm_charts.iter().map(|c| c.evidence.clone()))
        .chain(k8s.templates.iter().map(|t| t.evidence.clone()))
        .chain(k8s.kustomizations.iter().cloned())
        .collect();
    if !k8s_evidence.is_empty() {
        let mut routers = Vec::new();
        if let Some(e) = k8s.istio.first() {
            routers.push(Fact {
                value: RouterKind::Istio,
                evidence: e.clone(),
            });
        }
        if let Some(r) = k8s.routes.first() {
            routers.push(Fact {
                value: RouterKind::GatewayApi,
                evidence: r.evidence.clone(),
            });
        }
        if let Some(i) = k8s
            .ingresses
            .iter()
            .find(|i| i.class.as_deref().is_some_and(|c| c.contains("nginx")))
        {
            routers.push(Fact {
                value: RouterKind::NginxIngress,
                evidence: i.evidence.clone(),
            });
        }
        k8s_evidence.sort();
        k8s_evidence.dedup();
        found.push(InfraFinding {
            kind: InfraKind::Kubernetes,
            routers,
            evidence: k8s_evidence,
        });
    }
    let runtime_compose: Vec<&facts::ComposeService> = out
        .compose
        .iter()
        .filter(|c| {
            out.workloads
                .iter()
                .any(|w| w.kind == facts::WorkloadKind::ComposeService && w.evidence == c.evidence)
        })
        .collect();
    let images: Vec<&facts::Workload> = out
        .workloads
        .iter()
        .filter(|w| w.kind == facts::WorkloadKind::Image)
        .collect();
    if !runtime_compose.is_empty() || !images.is_empty() {
        let routers = runtime_compose
            .iter()
            .filter(|c| c.role.as_deref() == Some("load balancer"))
            .map(|c| {
                let image = c.image.as_deref().unwrap_or(&c.name);
                let kind = if image.contains("haproxy") {
                    RouterKind::Haproxy
                } else {
                    RouterKind::Nginx
                };
                Fact {
                    value: kind,
                    evidence: c.evidence.clone(),
                }
            })
            .collect();
        let mut evidence: Vec<Evidence> = runtime_compose
            .iter()
            .map(|c| Evidence::new(&c.evidence.file, 1))
            .chain(images.iter().map(|w| w.evidence.clone()))
            .collect();
        evidence.sort();
        evidence.dedup();
        found.push(InfraFinding {
            kind: InfraKind::DockerCompose,
            routers,
            evidence,
        });
    }
    // A proxy config a compose service mounts is the compose stack's load balancer, not a host's.
    let mounted: Vec<String> = out
        .compose
        .iter()
        .flat_map(|c| {
            let base = dir_of(&c.evidence.file).to_string();
            c.definition
                .as_ref()
                .and_then(|d| d.get("volumes"))
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .filter_map(move |v| {
                    let host = v.split(':').next()?;
                    Some(join_path(&base, host))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // Config files copied into an image are the image's, not a host's.
    let in_images = |file: &str| {
        out.dockerfiles.iter().any(|d| {
            let dir = dir_of(&d.evidence.file);
            (dir != "." && file.starts_with(&format!("{dir}/")))
                && out.workloads.iter().any(|w| {
                    w.build
                        .as_ref()
                        .is_some_and(|b| b.dockerfile == d.evidence.file)
                })
        })
    };
    let host_proxies: Vec<&facts::ProxyConfig> = out
        .proxies
        .iter()
        .filter(|p| {
            !mounted
                .iter()
                .any(|m| p.evidence.file == *m || p.evidence.file.starts_with(&format!("{m}/")))
                && !in_images(&p.evidence.file)
        })
        .collect();
    let host_workloads = out.workloads.iter().filter(|w| {
        w.kind.infra() == InfraKind::BareMetal && w.kind != facts::WorkloadKind::Application
    });
    let mut bare: Vec<Evidence> = host_workloads
        .map(|w| w.evidence.clone())
        .chain(host_proxies.iter().map(|p| p.evidence.clone()))
        .chain(
            out.iac
                .iter()
                .filter(|i| i.tool == "ansible")
                .map(|i| i.evidence.clone()),
        )
        .collect();
    if !bare.is_empty() {
        bare.sort();
        bare.dedup();
        let mut routers: Vec<Fact<RouterKind>> = host_proxies
            .iter()
            .map(|p| Fact {
                value: p.kind,
                evidence: p.evidence.clone(),
            })
            .collect();
        routers.sort_by(|a, b| (a.value, &a.evidence).cmp(&(b.value, &b.evidence)));
        routers.dedup_by(|a, b| a.value == b.value);
        found.push(InfraFinding {
            kind: InfraKind::BareMetal,
            routers,
            evidence: bare,
        });
    }
    found
}

/// Orders raw facts by where they were found, then by name: the output must not depend on the
/// order the parallel walk happened to read files in.
fn sort(out: &mut Detection) {
    macro_rules! by_evidence_then {
        ($list:expr, $field:ident) => {
            $list.sort_by(|a, b| (&a.evidence, &a.$field).cmp(&(&b.evidence, &b.$field)))
        };
    }
    let k = &mut out.kubernetes;
    by_evidence_then!(k.workloads, name);
    by_evidence_then!(k.services, name);
    by_evidence_then!(k.autoscalers, name);
    by_evidence_then!(k.ingresses, name);
    by_evidence_then!(k.routes, name);
    by_evidence_then!(k.namespaces, value);
    by_evidence_then!(k.templates, value);
    k.istio.sort();
    k.istio.dedup();
    by_evidence_then!(out.processes, name);
    by_evidence_then!(out.iac, what);
    by_evidence_then!(out.compose, name);
    by_evidence_then!(out.builds, image);
    out.proxies.sort_by(|a, b| a.evidence.cmp(&b.evidence));
    out.dockerfiles.sort_by(|a, b| a.evidence.cmp(&b.evidence));
    out.servers.sort_by(|a, b| a.evidence.cmp(&b.evidence));
    out.scripts.sort_by(|a, b| a.path.cmp(&b.path));
    out.warnings.sort();
    out.skipped.sort();
}

/// Whether a workload is one the traffic canary applies to: Python web, not already Python 3.
pub fn canary_candidate(w: &facts::Workload) -> bool {
    w.class.value == WorkloadClass::PythonWeb && w.python.as_ref().is_none_or(|p| p.value.0 != 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python files in three code directories, each with several hazards on several lines,
    /// facts that later files repeat, and files sorted before and after the ones that give them.
    fn python_codebase() -> Vec<SourceText> {
        let mut files = Vec::new();
        let lines = [
            "import cPickle\n",
            "x = pickle.dumps(y)\n",
            "from django.core.cache import cache\n",
            "CACHES = {'default': {'BACKEND': 'django_redis.cache.RedisCache'}}\n",
            "SESSION_ENGINE = 'django.contrib.sessions.backends.cache'\n",
            "SESSION_SERIALIZER = 'django.contrib.sessions.serializers.PickleSerializer'\n",
            "CELERY_TASK_SERIALIZER = 'pickle'\n",
            "import imp, cgi\n",
            "print 'hello'\n",
            "from flask import Flask\n",
            "app = Flask(__name__)\n",
            "@app.route('/healthz')\n",
            "app.run(port=5000)\n",
            "from prometheus_client import Counter\n",
            "server = grpc.server(pool)\n",
            "application = get_wsgi_application()\n",
            "import django\n",
        ];
        for dir in ["a", "b", "b/c"] {
            files.push(SourceText {
                path: format!("{dir}/setup.py"),
                text: "setup(name='x')\n".into(),
            });
            for i in 0..14 {
                let text: String = (0..20)
                    .map(|j| lines[(i * 7 + j * 3) % lines.len()])
                    .collect();
                files.push(SourceText {
                    path: format!("{dir}/m{i:02}.py"),
                    text,
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    /// Searching only for what can still be shown (facts a code directory lacks, hazards with
    /// fewer than ten pieces of evidence) detects what searching every file for everything does.
    #[test]
    fn early_exits_change_nothing() {
        let files = python_codebase();
        let found: Vec<Found> = files
            .iter()
            .map(|f| Found::text(f.path.clone(), f.text.clone()))
            .collect();
        let run = |in_order| {
            analyze_files(&found, &mut Reader::none(), "app", in_order, u64::MAX).unwrap()
        };
        let (capped, uncapped) = (run(true), run(false));
        assert_eq!(capped, uncapped);
        assert!(capped.hazards.iter().any(|h| h.evidence.len() == 10));
        assert_eq!(analyze(&files, "app"), capped);
    }
}
