//! Detection: what a codebase already runs, read from its files, every fact with its evidence.
//!
//! [`walk`] is the only part that touches the file system; [`analyze`] is a pure function of the
//! files it returns, with one module per source kind. The result, [`Detection`], is both what
//! `canaryc detect` prints and what `check`/`build` merge into a plan.

mod ansible;
mod compose;
mod dockerfile;
pub mod facts;
mod hazards;
mod ini;
mod kubernetes;
pub mod merge;
mod procfile;
mod proxy;
mod python;
mod supervisord;
mod systemd;
mod terraform;
pub mod walk;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

pub use facts::Detection;
use facts::{
    Evidence, Fact, InfraFinding, InfraKind, RouterKind, ServiceFacts, Skipped, Stats, Warning,
};
use python::PyFacts;
use walk::{Limits, SourceText};

/// Walks `root` and analyses what it finds.
pub fn detect(root: &Path, limits: &Limits) -> std::io::Result<Detection> {
    let walked = walk::walk(root, limits)?;
    let root_name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "app".into());
    let mut detection = analyze(&walked.files, &root_name);
    detection.skipped.extend(walked.skipped);
    detection.skipped.sort();
    for path in walked.lossy {
        detection.warnings.push(Warning {
            file: path,
            line: 1,
            message: "not UTF-8: read with replacement characters".into(),
        });
    }
    detection.warnings.sort();
    detection.stats = Stats {
        files_seen: walked.files_seen,
        files_read: walked.files.len(),
    };
    Ok(detection)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(".", |(d, _)| d)
}

/// Files whose presence makes their directory a service.
fn is_service_marker(name: &str) -> bool {
    dockerfile::is_dockerfile(name)
        || matches!(
            name,
            "Procfile" | "manage.py" | "setup.py" | "pyproject.toml" | "requirements.txt"
        )
}

/// The deepest service directory containing `path`: its nearest ancestor in `dirs`.
fn service_dir_of<'d>(path: &str, dirs: &'d [String]) -> Option<&'d str> {
    let mut dir = path;
    while let Some((parent, _)) = dir.rsplit_once('/') {
        if let Ok(i) = dirs.binary_search_by(|d| d.as_str().cmp(parent)) {
            return Some(dirs[i].as_str());
        }
        dir = parent;
    }
    dirs.binary_search_by(|d| d.as_str().cmp("."))
        .ok()
        .map(|i| dirs[i].as_str())
}

/// Analyses the files of a codebase. `root_name` names a service at the root.
pub fn analyze(files: &[SourceText], root_name: &str) -> Detection {
    let mut out = Detection {
        format_version: facts::FORMAT_VERSION,
        ..Detection::default()
    };
    let mut signals = hazards::Signals::default();
    let chart_dirs: Vec<String> = files
        .iter()
        .filter(|f| file_name(&f.path) == "Chart.yaml")
        .map(|f| dir_of(&f.path).to_string())
        .collect();
    let mut service_dirs: Vec<String> = files
        .iter()
        .filter(|f| is_service_marker(file_name(&f.path)))
        .map(|f| dir_of(&f.path).to_string())
        .collect();
    service_dirs.sort();
    service_dirs.dedup();
    if service_dirs.is_empty() {
        service_dirs.push(".".into());
    }

    // Python facts per service directory, from source files and from commands.
    let mut from_python: BTreeMap<String, PyFacts> = BTreeMap::new();
    let mut from_commands: BTreeMap<String, PyFacts> = BTreeMap::new();
    let mut framework_from_requirements: BTreeMap<String, Fact<String>> = BTreeMap::new();

    for file in files {
        let (path, text) = (file.path.as_str(), file.text.as_str());
        let name = file_name(path);
        let lower = name.to_ascii_lowercase();
        let service = service_dir_of(path, &service_dirs)
            .unwrap_or(".")
            .to_string();
        if name == "Chart.yaml" {
            kubernetes::chart(path, text, &mut out);
            continue;
        }
        if (lower.ends_with(".yaml") || lower.ends_with(".yml"))
            && kubernetes::is_helm_template(path, &chart_dirs)
        {
            out.skipped.push(Skipped {
                path: path.to_string(),
                reason: "Helm template: not YAML until rendered (run `helm template` and point canaryc at the output)".into(),
            });
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
                compose::analyze(path, &docs, &mut out);
            } else if !kubernetes::manifests(path, &docs, &mut out) {
                ansible::analyze(path, &docs, &mut out);
            }
            continue;
        }
        if dockerfile::is_dockerfile(name) {
            dockerfile::analyze(path, text, &mut out);
            continue;
        }
        if name == "Procfile" {
            procfile::analyze(path, text, &mut out);
            continue;
        }
        if lower.ends_with(".service") && text.contains("[Service]") {
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
            let facts = python::python_file(path, text, &service);
            from_python.entry(service).or_default().fill_from(facts);
            signals.python_file(path, text);
            continue;
        }
        if (lower.starts_with("requirements") && lower.ends_with(".txt"))
            || lower == "constraints.txt"
        {
            signals.requirements(path, text);
            for (i, line) in text.lines().enumerate() {
                let pkg = line.trim().to_ascii_lowercase();
                let framework = ["django", "flask", "pyramid", "tornado"]
                    .into_iter()
                    .find(|f| {
                        pkg.starts_with(f)
                            && !pkg[f.len()..].starts_with(|c: char| {
                                c.is_ascii_alphanumeric() || c == '-' || c == '_'
                            })
                    });
                if let Some(f) = framework {
                    framework_from_requirements
                        .entry(service.clone())
                        .or_insert_with(|| Fact::new(f.to_string(), path, i + 1));
                }
            }
            continue;
        }
        if lower.ends_with(".conf") || lower.ends_with(".ini") || lower.ends_with(".cfg") {
            if supervisord::looks_like(text) {
                supervisord::analyze(path, text, &mut out);
            } else if text.contains("[uwsgi]") {
                let facts = python::uwsgi_ini(path, text);
                from_commands
                    .entry(service.clone())
                    .or_default()
                    .fill_from(facts);
                if let Some(e) = from_commands.get(&service).and_then(|f| f.server.as_ref()) {
                    signals.embedded_server.push(e.evidence.clone());
                }
            } else {
                signals.apache_config(path, text);
                proxy::analyze(path, text, &mut out);
            }
        }
    }

    // Commands: systemd units first (absolute paths, the host's own), then supervisord programs,
    // Procfiles and Dockerfiles; the first command of a service is the one that starts it.
    let rank = |source: &str| match source {
        "systemd" => 0,
        "supervisord" => 1,
        _ => 2,
    };
    let mut processes: Vec<&facts::ProcessFacts> = out
        .processes
        .iter()
        .filter(|p| {
            !matches!(p.name.as_str(), "release" | "worker" | "beat" | "scheduler")
                || out.processes.len() == 1
        })
        .collect();
    processes.sort_by_key(|p| rank(&p.source));
    let mut commands: Vec<(String, Fact<String>)> = processes
        .into_iter()
        .map(|p| {
            (
                p.evidence.file.clone(),
                Fact {
                    value: p.command.clone(),
                    evidence: p.evidence.clone(),
                },
            )
        })
        .collect();
    commands.extend(
        out.dockerfiles
            .iter()
            .filter_map(|d| d.command.clone().map(|c| (d.evidence.file.clone(), c))),
    );
    for (file, command) in &commands {
        let service = service_dir_of(file, &service_dirs)
            .unwrap_or(".")
            .to_string();
        let facts = python::command(
            &command.value,
            &command.evidence.file,
            command.evidence.line as usize,
        );
        signals.command(&command.value, command.evidence.clone());
        from_commands.entry(service).or_default().fill_from(facts);
    }
    for d in &out.dockerfiles {
        if d.python2 {
            signals.python2_image.push(d.base_image.evidence.clone());
        }
    }

    out.services = service_dirs
        .iter()
        .filter_map(|dir| {
            service_facts(
                dir,
                root_name,
                &out,
                from_commands.remove(dir),
                from_python.remove(dir),
                framework_from_requirements.remove(dir),
                &commands,
                &service_dirs,
            )
        })
        .collect();

    let shared_state: Vec<Evidence> = out
        .compose
        .iter()
        .filter(|c| matches!(c.role.as_deref(), Some("cache" | "broker")))
        .map(|c| c.evidence.clone())
        .collect();
    out.hazards = signals.into_hazards(&shared_state);
    out.infra = infra(&out);
    sort(&mut out);
    out
}

#[allow(clippy::too_many_arguments)]
fn service_facts(
    dir: &str,
    root_name: &str,
    out: &Detection,
    from_commands: Option<PyFacts>,
    from_python: Option<PyFacts>,
    framework_from_requirements: Option<Fact<String>>,
    commands: &[(String, Fact<String>)],
    dirs: &[String],
) -> Option<ServiceFacts> {
    let service_count = dirs.len();
    let mut facts = from_commands.unwrap_or_default();
    facts.fill_from(from_python.unwrap_or_default());
    let in_dir = |file: &str| dir == "." && !file.contains('/') || dir_of(file) == dir;
    let name = if dir == "." {
        root_name.to_string()
    } else {
        file_name(dir).to_string()
    };
    let dockerfile = out.dockerfiles.iter().find(|d| in_dir(&d.evidence.file));
    if facts.port.is_none() {
        facts.port = dockerfile.and_then(|d| d.expose.first().cloned());
    }
    // Kubernetes: the workload named like the service, or the only one.
    let workload = out
        .kubernetes
        .workloads
        .iter()
        .find(|w| w.name == name)
        .or_else(|| {
            (out.kubernetes.workloads.len() == 1 && service_count == 1)
                .then(|| &out.kubernetes.workloads[0])
        });
    let container = workload.and_then(|w| w.containers.first());
    if let (None, Some(w), Some(c)) = (&facts.port, workload, container) {
        facts.port = c
            .ports
            .first()
            .map(|p| Fact::new(*p, &w.evidence.file, w.evidence.line as usize));
    }
    if let (None, Some(w), Some(c)) = (&facts.health, workload, container) {
        facts.health = c
            .health
            .clone()
            .map(|h| Fact::new(h, &w.evidence.file, w.evidence.line as usize));
    }
    let image = container
        .and_then(|c| {
            c.image
                .clone()
                .map(|i| (i, workload.map(|w| w.evidence.clone())))
        })
        .map(|(i, e)| Fact {
            value: i,
            evidence: e.unwrap_or_else(|| Evidence::new(".", 1)),
        })
        .or_else(|| {
            // A Helm chart's image, when the codebase has one service.
            (service_count == 1)
                .then(|| out.kubernetes.helm_images.first().cloned())
                .flatten()
        })
        .or_else(|| {
            out.compose
                .iter()
                .find(|c| {
                    c.name == name
                        || c.build.as_deref().is_some_and(|b| {
                            b.trim_start_matches("./").trim_end_matches('/') == dir
                        })
                })
                .and_then(|c| {
                    c.image.clone().map(|i| Fact {
                        value: i,
                        evidence: c.evidence.clone(),
                    })
                })
        });
    let command = commands
        .iter()
        .find(|(file, _)| service_dir_of(file, dirs) == Some(dir))
        .map(|(_, c)| c.clone());
    let python2 = dockerfile
        .filter(|d| d.python2)
        .map(|d| d.base_image.clone());
    let service = ServiceFacts {
        name,
        dir: dir.to_string(),
        framework: facts.framework.or(framework_from_requirements),
        entrypoint: facts.entrypoint,
        server: facts.server,
        port: facts.port,
        health: facts.health,
        metrics_library: facts.metrics_library,
        python2,
        command,
        image,
    };
    let anything = service.framework.is_some()
        || service.entrypoint.is_some()
        || service.command.is_some()
        || service.port.is_some()
        || service.image.is_some();
    anything.then_some(service)
}

fn infra(out: &Detection) -> Vec<InfraFinding> {
    let mut found = Vec::new();
    let k8s = &out.kubernetes;
    let mut k8s_evidence: Vec<Evidence> = k8s
        .workloads
        .iter()
        .map(|w| w.evidence.clone())
        .chain(k8s.services.iter().map(|s| s.evidence.clone()))
        .chain(k8s.ingresses.iter().map(|i| i.evidence.clone()))
        .chain(k8s.routes.iter().map(|r| r.evidence.clone()))
        .chain(k8s.helm_charts.iter().map(|c| c.evidence.clone()))
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
    if !out.compose.is_empty() {
        let routers = out
            .compose
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
        let mut evidence: Vec<Evidence> = out
            .compose
            .iter()
            .map(|c| Evidence::new(&c.evidence.file, 1))
            .collect();
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
                    let host = v.split(':').next()?.trim_start_matches("./");
                    Some(if base == "." {
                        host.to_string()
                    } else {
                        format!("{base}/{host}")
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let host_proxies: Vec<&facts::ProxyConfig> = out
        .proxies
        .iter()
        .filter(|p| !mounted.contains(&p.evidence.file))
        .collect();
    let mut bare: Vec<Evidence> = out
        .processes
        .iter()
        .map(|p| p.evidence.clone())
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

/// Orders facts by where they were found, then by name: the output must not depend on the order
/// the parallel walk happened to read files in.
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
    k.istio.sort();
    k.istio.dedup();
    by_evidence_then!(out.processes, name);
    by_evidence_then!(out.iac, what);
    by_evidence_then!(out.compose, name);
    out.proxies.sort_by(|a, b| a.evidence.cmp(&b.evidence));
    out.dockerfiles.sort_by(|a, b| a.evidence.cmp(&b.evidence));
    out.warnings.sort();
    out.skipped.sort();
}
