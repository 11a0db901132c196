//! The workload graph: every deployable unit the raw facts declare, linked to what it runs and
//! classified, each link and judgement with its reason.
//!
//! ```text
//!  Deployment / compose service / unit / Procfile line / mod_wsgi vhost / lone Dockerfile
//!        │ image ──────────────▶ ImageBuild (compose build:, skaffold, docker build -t)
//!        │                          └──▶ Dockerfile (stage) ──▶ build context ──▶ Python code
//!        │ command ──▶ entrypoint script (case arm, exec "$@") ──▶ server flags ──▶ port, WSGI app
//!        └ selected by ──▶ Service ◀── Ingress / HTTPRoute; scaled by HPA
//! ```
//!
//! Classes: python-web (serves requests: the traffic canary applies), python-worker (queues,
//! clocks: a queue-based plan), other (databases, caches, proxies, other languages: shared,
//! never canaried). Environments: dev when the file, the mounts, the command or the
//! environment say so, prod otherwise.

use std::collections::BTreeMap;

use super::command::{self, Role};
use super::facts::{
    BuildLink, CodeFacts, Detection, Dockerfile, Environment, Evidence, Fact, ImageBuild,
    InfraKind, Judged, K8sLinks, K8sWorkload, Link, NO_PYTHON_SIGNAL, ProcessSource, PythonMajor,
    Script, ServerConfig, ServerKind, Workload, WorkloadClass, WorkloadId, WorkloadKind,
};
use super::{dir_of, dockerfile, file_name, validate};

/// A workload before it is classified.
struct Draft {
    w: Workload,
    /// Extra signals for classification.
    role_hint: Option<Judged<WorkloadClass>>,
    dev: Option<Judged<Environment>>,
    container_command: bool,
    /// The declared command replaces the image's CMD only: the image's ENTRYPOINT goes first.
    after_entrypoint: bool,
    has_service: bool,
    http_probe: bool,
    compose_role: Option<String>,
    /// compose `build.args`, for a Dockerfile whose base is `FROM ${ARG}`.
    build_args: Vec<(String, String)>,
    /// What the base image, resolved with those args, says: Python (true), not (false).
    base_python: Option<bool>,
}

fn empty(name: &str, kind: WorkloadKind, evidence: &Evidence) -> Workload {
    Workload {
        id: WorkloadId(0),
        name: name.to_string(),
        kind,
        evidence: evidence.clone(),
        also: Vec::new(),
        class: Judged::new(WorkloadClass::Other, "", None),
        environment: Judged::new(Environment::Prod, "", None),
        python: None,
        namespace: None,
        replicas: None,
        image: None,
        build: None,
        code: None,
        command: None,
        runs: None,
        server: None,
        entrypoint: None,
        framework: None,
        port: None,
        public_port: None,
        health: None,
        metrics_library: None,
        serve_options: Vec::new(),
        working_directory: None,
        user: None,
        env: Vec::new(),
        secret_refs: Vec::new(),
        depends_on: Vec::new(),
        k8s: K8sLinks::default(),
        links: Vec::new(),
        manifest: None,
    }
}

fn draft(w: Workload) -> Draft {
    Draft {
        w,
        role_hint: None,
        dev: None,
        container_command: false,
        after_entrypoint: false,
        has_service: false,
        http_probe: false,
        compose_role: None,
        build_args: Vec::new(),
        base_python: None,
    }
}

fn kind_of(k8s: &str) -> WorkloadKind {
    match k8s {
        "StatefulSet" => WorkloadKind::StatefulSet,
        "DaemonSet" => WorkloadKind::DaemonSet,
        "ReplicationController" => WorkloadKind::ReplicationController,
        "DeploymentConfig" => WorkloadKind::DeploymentConfig,
        "CronJob" => WorkloadKind::CronJob,
        "Job" => WorkloadKind::Job,
        _ => WorkloadKind::Deployment,
    }
}

/// The repository of an image reference: `registry:5000/team/app:2.7@sha256:x` → `registry:5000/team/app`.
pub(super) fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// The code directory a path belongs to: the deepest code directory containing it.
pub(super) fn code_dir_of<'d>(path: &str, dirs: &'d [String]) -> Option<&'d str> {
    let mut dir = path;
    loop {
        if let Ok(i) = dirs.binary_search_by(|d| d.as_str().cmp(dir)) {
            return Some(dirs[i].as_str());
        }
        match dir.rsplit_once('/') {
            Some((parent, _)) => dir = parent,
            None => break,
        }
    }
    dirs.binary_search_by(|d| d.as_str().cmp("."))
        .ok()
        .map(|i| dirs[i].as_str())
}

struct Ctx<'a> {
    out: &'a Detection,
    code: &'a [CodeFacts],
    code_dirs: Vec<String>,
    root_name: &'a str,
}

impl Ctx<'_> {
    fn dockerfile(&self, path: &str) -> Option<&Dockerfile> {
        self.out
            .dockerfiles
            .iter()
            .find(|d| d.evidence.file == path)
    }

    fn code(&self, dir: &str) -> Option<&CodeFacts> {
        self.code.iter().find(|c| c.dir == dir)
    }

    fn dir_name<'s>(&'s self, dir: &'s str) -> &'s str {
        if dir == "." {
            self.root_name
        } else {
            file_name(dir)
        }
    }

    /// The build that makes `image`: an exact match (from `file` first), else a build of the
    /// same repository when one of the two tags says nothing (none, `latest`). Another tag of
    /// the same repository is another variant (`app:dotnet` is not `app:before`).
    fn build_of(&self, image: &str, file: &str) -> Option<&ImageBuild> {
        let exact: Vec<&ImageBuild> = self
            .out
            .builds
            .iter()
            .filter(|b| b.image == image)
            .collect();
        if let Some(b) = exact
            .iter()
            .find(|b| b.evidence.file == file)
            .or_else(|| exact.first())
        {
            return Some(b);
        }
        let loose = |t: Option<&str>| t.is_none_or(|t| t == "latest" || t.contains('$'));
        fn tag(i: &str) -> Option<&str> {
            i.strip_prefix(repository(i))
                .and_then(|t| t.strip_prefix(':'))
        }
        let repo = repository(image);
        let same: Vec<&ImageBuild> = self
            .out
            .builds
            .iter()
            .filter(|b| repository(&b.image) == repo && (loose(tag(image)) || loose(tag(&b.image))))
            .collect();
        same.iter()
            .find(|b| b.target.is_none())
            .or_else(|| same.first())
            .copied()
    }

    /// A Dockerfile whose directory the image's name names: `team/ledger` and `ledger/`,
    /// `istio/examples-bookinfo-productpage-v1` and `src/productpage/`.
    fn dockerfile_named_by(&self, image: &str) -> Option<(&Dockerfile, String)> {
        let repo = repository(image).to_ascii_lowercase();
        let last = repo.rsplit('/').next().unwrap_or(&repo);
        let tokens: Vec<&str> = last
            .split(['-', '_', '.'])
            .filter(|t| t.len() >= 3)
            .collect();
        let generic = [
            "app", "src", "docker", "web", "api", "base", "image", "service", "server",
        ];
        let exact: Vec<&Dockerfile> = self
            .out
            .dockerfiles
            .iter()
            .filter(|d| self.dir_name(d.dir()).eq_ignore_ascii_case(last))
            .collect();
        if let [one] = exact.as_slice() {
            return Some((
                one,
                format!("the image's name `{last}` is the directory `{}`", one.dir()),
            ));
        }
        let by_token: Vec<&Dockerfile> = self
            .out
            .dockerfiles
            .iter()
            .filter(|d| {
                let name = self.dir_name(d.dir()).to_ascii_lowercase();
                name.len() >= 4
                    && !generic.contains(&name.as_str())
                    && tokens.contains(&name.as_str())
            })
            .collect();
        if let [one] = by_token.as_slice() {
            return Some((
                one,
                format!(
                    "the image's name `{last}` names the directory `{}`",
                    one.dir()
                ),
            ));
        }
        // `registry/ledger:2.7-40` and a Dockerfile whose context holds the `ledger` package.
        let by_package: Vec<(&Dockerfile, &str)> = self
            .out
            .dockerfiles
            .iter()
            .filter(|d| d.python)
            .filter_map(|d| {
                let dir = d.dir();
                self.code
                    .iter()
                    .filter(|c| c.dir == dir || dir == "." || c.dir.starts_with(&format!("{dir}/")))
                    .filter_map(|c| c.entrypoint.as_ref())
                    .map(|e| e.value.split(['.', ':']).next().unwrap_or(""))
                    .find(|pkg| {
                        pkg.len() >= 3
                            && !generic.contains(pkg)
                            && (pkg.eq_ignore_ascii_case(last) || tokens.contains(pkg))
                    })
                    .map(|pkg| (d, pkg))
            })
            .collect();
        if let [(one, pkg)] = by_package.as_slice() {
            return Some((
                one,
                format!(
                    "the image's name `{last}` is the Python package `{pkg}` that {} builds",
                    one.evidence.file
                ),
            ));
        }
        None
    }

    /// Resolves a command through entrypoint scripts: `dumb-init /app/run.sh server` → the
    /// `server)` arm's command; a wrapper ending in `exec "$@"` → its arguments.
    fn resolve(&self, command: &Fact<String>, links: &mut Vec<Link>) -> Fact<String> {
        let mut current = command.clone();
        for _ in 0..4 {
            let words = command::unwrap(&current.value);
            let Some(first) = words.first() else { break };
            let Some(script) = self.script(first) else {
                break;
            };
            let arg = words.get(1).map(String::as_str);
            if let Some(next) = script.command_for(arg) {
                links.push(Link {
                    to: script.path.clone(),
                    reason: match arg {
                        Some(a) if script.commands.iter().any(|c| c.arm.as_deref() == Some(a)) => {
                            format!("`{first}` is this script; its `{a})` arm runs the command")
                        }
                        _ => format!("`{first}` is this script; it runs the command"),
                    },
                    evidence: Some(next.evidence.clone()),
                });
                let value = next.value.strip_prefix("exec ").unwrap_or(&next.value);
                current = Fact::at(value.to_string(), &next.evidence);
                continue;
            }
            if script.runs_arguments && words.len() > 1 {
                links.push(Link {
                    to: script.path.clone(),
                    reason: format!(
                        "`{first}` is a wrapper that runs its arguments (`exec \"$@\"`)"
                    ),
                    evidence: None,
                });
                current = Fact::at(super::command::join(&words[1..]), &current.evidence);
                continue;
            }
            break;
        }
        current
    }

    /// The script a command's first word names: by path (`./bin/run.sh`, `/app/bin/run.sh`).
    fn script(&self, word: &str) -> Option<&Script> {
        let clean = word.trim_start_matches("./");
        if file_name(clean).is_empty() {
            return None;
        }
        let candidates: Vec<&Script> = self
            .out
            .scripts
            .iter()
            .filter(|s| file_name(&s.path) == file_name(clean))
            .collect();
        if candidates.len() <= 1 {
            return candidates.first().copied();
        }
        // Several scripts share the name: the longest common path suffix wins.
        candidates.into_iter().max_by_key(|s| {
            s.path
                .rsplit('/')
                .zip(clean.rsplit('/'))
                .take_while(|(a, b)| a == b)
                .count()
        })
    }

    /// A server config a command names (`--config wsgi/config.py`, `paster serve prod.ini`).
    fn server_config(&self, path: &str, code_dir: Option<&str>) -> Option<&ServerConfig> {
        let clean = path.trim_start_matches("./");
        let name = file_name(clean);
        let mut found: Vec<&ServerConfig> = self
            .out
            .servers
            .iter()
            .filter(|s| {
                file_name(&s.evidence.file) == name
                    || file_name(&s.evidence.file).trim_end_matches(".j2") == name
                    || file_name(&s.evidence.file).trim_end_matches("_tmpl") == name
            })
            .collect();
        if found.len() > 1 {
            if let Some(dir) = code_dir {
                found.retain(|s| s.evidence.file.starts_with(dir) || dir == ".");
            }
        }
        found.sort_by_key(|s| {
            std::cmp::Reverse(
                s.evidence
                    .file
                    .rsplit('/')
                    .zip(clean.rsplit('/'))
                    .take_while(|(a, b)| a == b)
                    .count(),
            )
        });
        found.first().copied()
    }
}

/// Builds the workload graph into `out.workloads`.
pub(super) fn build(
    out: &mut Detection,
    code: &[CodeFacts],
    code_dirs: Vec<String>,
    root_name: &str,
) {
    let ctx = Ctx {
        out,
        code,
        code_dirs,
        root_name,
    };
    let mut drafts: Vec<Draft> = Vec::new();
    kubernetes(&ctx, &mut drafts);
    compose(&ctx, &mut drafts);
    processes(&ctx, &mut drafts);
    mod_wsgi(&ctx, &mut drafts);
    link_images(&ctx, &mut drafts);
    images(&ctx, &mut drafts);
    lone_configs(&ctx, &mut drafts);
    applications(&ctx, &mut drafts);
    for d in &mut drafts {
        link_and_read(&ctx, d);
    }
    let mut workloads: Vec<Workload> = drafts.into_iter().map(|d| classify(&ctx, d)).collect();
    port_behind_proxy(&ctx, &mut workloads);
    workloads.sort_by(|a, b| (&a.evidence, &a.name).cmp(&(&b.evidence, &b.name)));
    for (i, w) in workloads.iter_mut().enumerate() {
        w.id = WorkloadId(u32::try_from(i).unwrap_or(u32::MAX));
    }
    out.workloads = workloads;
}

fn kubernetes(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    let k = &ctx.out.kubernetes;
    // The same object in several files (a base and a variant) is one workload.
    let mut seen: BTreeMap<(String, Option<String>, String), usize> = BTreeMap::new();
    let charts: Vec<(&str, &Fact<String>)> = k
        .helm_charts
        .iter()
        .map(|c| (dir_of(&c.evidence.file), c))
        .collect();
    // The same object in several files: the file that declares the most workloads is the
    // main manifest (`bookinfo.yaml`), the others variants of it.
    let mut per_file: BTreeMap<&str, usize> = BTreeMap::new();
    for kw in &k.workloads {
        *per_file.entry(kw.evidence.file.as_str()).or_default() += 1;
    }
    let mut ordered: Vec<&K8sWorkload> = k.workloads.iter().collect();
    ordered.sort_by_key(|kw| {
        (
            std::cmp::Reverse(per_file[kw.evidence.file.as_str()]),
            &kw.evidence,
        )
    });
    for kw in ordered {
        let key = (kw.kind.clone(), kw.namespace.clone(), kw.name.clone());
        if let Some(&i) = seen.get(&key) {
            drafts[i].w.also.push(kw.evidence.clone());
            continue;
        }
        let chart = charts
            .iter()
            .find(|(dir, _)| kw.evidence.file.starts_with(&format!("{dir}/")) || *dir == ".")
            .filter(|_| kw.templated);
        let kind = if chart.is_some() {
            WorkloadKind::HelmChart
        } else if kw.templated {
            WorkloadKind::ManifestTemplate
        } else {
            kind_of(&kw.kind)
        };
        let mut w = empty(&kw.name, kind, &kw.evidence);
        w.namespace = kw.namespace.clone();
        w.replicas = kw.replicas;
        let main = main_container(kw);
        if let Some(c) = main {
            let at = |line: u32| {
                if line == 0 {
                    kw.evidence.clone()
                } else {
                    Evidence {
                        file: kw.evidence.file.clone(),
                        line,
                    }
                }
            };
            w.image = c.image.clone().map(|i| Fact::at(i, &at(c.lines[0])));
            w.command = c.command.clone().map(|v| Fact::at(v, &kw.evidence));
            w.port = c.ports.first().map(|p| Fact::at(*p, &at(c.lines[1])));
            w.health = c.health.clone().map(|h| Fact::at(h, &at(c.lines[2])));
            w.env = c.env.clone();
            w.secret_refs = c.secret_refs.clone();
        }
        if let (Some((_, chart)), None) = (chart, &w.image) {
            let chart_dir = dir_of(&chart.evidence.file);
            w.image = k
                .helm_images
                .iter()
                .find(|i| dir_of(&i.evidence.file) == chart_dir)
                .cloned();
            if w.port.is_none() {
                w.port = k
                    .helm_ports
                    .iter()
                    .find(|p| dir_of(&p.evidence.file) == chart_dir)
                    .cloned();
            }
            w.links.push(Link {
                to: chart.evidence.file.clone(),
                reason: format!("a template of the Helm chart `{}`", chart.value),
                evidence: Some(chart.evidence.clone()),
            });
        }
        if kw.kind == "CronJob" || kw.kind == "Job" {
            w.class = Judged::new(
                WorkloadClass::PythonWorker,
                format!("a Kubernetes {}", kw.kind),
                Some(&kw.evidence),
            );
        }
        w.manifest = kw.manifest.clone();
        let mut d = draft(w);
        d.container_command = main.is_some_and(|c| c.command.is_some());
        d.after_entrypoint = main.is_some_and(|c| c.args_only);
        d.http_probe = main.is_some_and(|c| c.health.is_some());
        if kw.kind == "CronJob" || kw.kind == "Job" {
            d.role_hint = Some(d.w.class.clone());
        }
        // Services selecting its pods, HPAs scaling it, Ingresses and routes reaching them.
        let service = k.services.iter().find(|s| {
            !s.targets.is_empty()
                && s.namespace == kw.namespace
                && s.targets.iter().all(|t| kw.labels.contains(t))
        });
        if let Some(s) = service {
            d.w.k8s.service = Some(s.name.clone());
            d.has_service = true;
            d.w.links.push(Link {
                to: format!("Service {}", s.name),
                reason: format!(
                    "its selector {} matches the pods' labels",
                    s.targets.join(",")
                ),
                evidence: Some(s.evidence.clone()),
            });
        }
        if let Some(h) = k.autoscalers.iter().find(|h| h.targets.contains(&kw.name)) {
            d.w.k8s.autoscaler = h.replicas;
            d.w.links.push(Link {
                to: format!("HorizontalPodAutoscaler {}", h.name),
                reason: "its scaleTargetRef names the workload".into(),
                evidence: Some(h.evidence.clone()),
            });
        }
        if let Some(svc) = &d.w.k8s.service {
            if let Some(i) = k.ingresses.iter().find(|i| i.backends.contains(svc)) {
                d.w.k8s.ingress = Some(i.name.clone());
            }
            if let Some(r) = k.routes.iter().find(|r| r.targets.contains(svc)) {
                d.w.k8s.route = Some(r.name.clone());
            }
        }
        seen.insert(key, drafts.len());
        drafts.push(d);
    }
    // A chart whose templates could not be read at all is still one workload.
    for (dir, chart) in &charts {
        if drafts
            .iter()
            .any(|d| d.w.kind == WorkloadKind::HelmChart && d.w.evidence.file.starts_with(dir))
        {
            continue;
        }
        let mut w = empty(&chart.value, WorkloadKind::HelmChart, &chart.evidence);
        w.image = k
            .helm_images
            .iter()
            .find(|i| dir_of(&i.evidence.file) == *dir)
            .cloned();
        drafts.push(draft(w));
    }
}

/// The container that runs the application: named like the workload, else the first one that
/// is not a known sidecar.
fn main_container(kw: &K8sWorkload) -> Option<&super::facts::Container> {
    let sidecar = |n: &str| {
        [
            "istio-proxy",
            "envoy",
            "cloudsql-proxy",
            "cloud-sql-proxy",
            "linkerd-proxy",
            "nginx",
            "statsd",
            "datadog",
        ]
        .iter()
        .any(|s| n.contains(s))
    };
    kw.containers
        .iter()
        .find(|c| c.name == kw.name)
        .or_else(|| kw.containers.iter().find(|c| !sidecar(&c.name)))
        .or_else(|| kw.containers.first())
}

fn compose(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    for c in &ctx.out.compose {
        // A service that only builds and tags an image (`build:` and `image:`, nothing else)
        // runs nothing: its image is a link, not a workload.
        let build_only = c
            .definition
            .as_ref()
            .and_then(|d| d.as_object())
            .is_some_and(|m| {
                m.keys().all(|k| {
                    matches!(
                        k.as_str(),
                        "build"
                            | "image"
                            | "container_name"
                            | "labels"
                            | "platform"
                            | "pull_policy"
                            | "profiles"
                    )
                }) && m.contains_key("build")
                    && m.contains_key("image")
            });
        if build_only {
            continue;
        }
        let mut w = empty(&c.name, WorkloadKind::ComposeService, &c.evidence);
        w.image = c.image.clone().map(|i| Fact::at(i, &c.evidence));
        w.replicas = c.replicas;
        w.port = c.container_ports.first().map(|p| Fact::at(*p, &c.evidence));
        // Clients reach it on the host port the team's stack publishes that port on.
        w.public_port = c
            .container_ports
            .first()
            .and_then(|port| c.published.iter().find(|(target, _)| target == port))
            .filter(|(target, host)| target != host)
            .map(|(_, host)| Fact::at(*host, &c.evidence));
        w.health = c.health.clone().map(|h| Fact::at(h, &c.evidence));
        w.env = c.env.clone();
        w.depends_on = c.depends_on.clone();
        w.manifest = c.definition.clone();
        if let (Some(ctx_dir), Some(file)) = (&c.build, &c.dockerfile) {
            w.build = Some(BuildLink {
                dockerfile: file.clone(),
                stage: c.target.clone(),
                context: ctx_dir.clone(),
            });
            w.links.push(Link {
                to: file.clone(),
                reason: format!(
                    "`build:` {ctx_dir}{}",
                    c.target
                        .as_ref()
                        .map(|t| format!(", target {t}"))
                        .unwrap_or_default()
                ),
                evidence: Some(c.evidence.clone()),
            });
        }
        let mut d = draft(w);
        d.compose_role = c.role.clone();
        d.build_args = c.build_args.clone();
        d.container_command = c.command.is_some() || c.entrypoint.is_some();
        // The container's command: compose's entrypoint/command over the image's.
        let image_stage =
            d.w.build
                .as_ref()
                .and_then(|b| ctx.dockerfile(&b.dockerfile).map(|f| (f, b.stage.clone())))
                .and_then(|(f, stage)| f.stage(stage.as_deref()).cloned());
        let evidence = &c.evidence;
        let entry = c
            .entrypoint
            .clone()
            .map(|e| Fact::at(e, evidence))
            .or_else(|| image_stage.as_ref().and_then(|s| s.entrypoint.clone()));
        let cmd = c
            .command
            .clone()
            .map(|v| Fact::at(v, evidence))
            .or_else(|| {
                (c.entrypoint.is_none())
                    .then(|| image_stage.as_ref().and_then(|s| s.cmd.clone()))
                    .flatten()
            });
        d.w.command = match (&c.command, &c.entrypoint) {
            (None, None) => None,
            _ => {
                dockerfile::join(entry.as_ref(), cmd.as_ref()).map(|f| Fact::at(f.value, evidence))
            }
        };
        // An image found later (by name) may still have an ENTRYPOINT the command goes after.
        d.after_entrypoint = c.command.is_some() && c.entrypoint.is_none() && image_stage.is_none();
        if let Some(reason) = &c.dev_file {
            d.dev = Some(Judged::new(
                Environment::Dev,
                reason.clone(),
                Some(&Evidence::new(&c.evidence.file, 1)),
            ));
        } else if let Some(at) = &c.debug_env {
            d.dev = Some(Judged::new(
                Environment::Dev,
                "its environment turns debugging on",
                Some(at),
            ));
        } else if let Some(mount) = c.bind_mounts.iter().find(|m| {
            let m = m.trim_end_matches('/');
            c.build.as_deref().is_some_and(|b| b == m)
                || ctx.code_dirs.iter().any(|cd| cd == m)
                || m == "."
        }) {
            d.dev = Some(Judged::new(
                Environment::Dev,
                format!("it bind-mounts the source ({mount}) over the image"),
                Some(&c.evidence),
            ));
        } else if ["test", "lint", "ci", "dev"].iter().any(|p| {
            c.name.starts_with(p)
                || c.name.ends_with(&format!("-{p}"))
                || c.name.ends_with(&format!("_{p}"))
        }) {
            d.dev = Some(Judged::new(
                Environment::Dev,
                format!("the service is named `{}`", c.name),
                Some(&c.evidence),
            ));
        }
        drafts.push(d);
    }
}

fn processes(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    for p in &ctx.out.processes {
        let kind = match p.source {
            ProcessSource::Procfile => WorkloadKind::ProcfileProcess,
            ProcessSource::Supervisord => WorkloadKind::SupervisordProgram,
            ProcessSource::Systemd => WorkloadKind::SystemdUnit,
            ProcessSource::Upstart => WorkloadKind::UpstartJob,
        };
        if p.source == ProcessSource::Procfile && p.name == "release" {
            continue; // Heroku's release phase: a one-off, not a process
        }
        let mut w = empty(&p.name, kind, &p.evidence);
        w.command = Some(Fact::at(p.command.clone(), &p.evidence));
        w.working_directory = p.working_directory.clone();
        w.user = p.user.clone();
        w.env = p.environment.clone();
        let mut d = draft(w);
        let file = file_name(&p.evidence.file).to_ascii_lowercase();
        if file.contains("dev") || file.contains("local") || file.contains("test") {
            d.dev = Some(Judged::new(
                Environment::Dev,
                format!("the file name `{file}` says so"),
                Some(&p.evidence),
            ));
        }
        drafts.push(d);
    }
}

fn mod_wsgi(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    for s in ctx
        .out
        .servers
        .iter()
        .filter(|s| s.kind == ServerKind::ModWsgi)
    {
        let name = s.name.clone().unwrap_or_else(|| {
            let stem = file_name(&s.evidence.file)
                .split('.')
                .next()
                .unwrap_or("app")
                .to_string();
            validate::name(&stem).unwrap_or_else(|_| "app".into())
        });
        let mut w = empty(&name, WorkloadKind::ModWsgi, &s.evidence);
        w.code = code_dir_of(&s.evidence.file, &ctx.code_dirs)
            .map(|d| Fact::at(d.to_string(), &s.evidence));
        w.server = Some(Fact::at("mod_wsgi".into(), &s.evidence));
        w.port = s.port.clone();
        w.entrypoint = s.entrypoint.clone();
        w.serve_options = s.serve_options.clone();
        w.user = s.user.clone();
        if s.python2 {
            w.python = Some(Fact::at(PythonMajor(2), &s.evidence));
        }
        let mut d = draft(w);
        d.role_hint = Some(Judged::new(
            WorkloadClass::PythonWeb,
            "Apache serves a WSGI application through mod_wsgi",
            Some(&s.evidence),
        ));
        drafts.push(d);
    }
}

/// Paste and uWSGI configs nothing starts: each is how the code in its directory is served.
fn lone_configs(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    let referenced = |s: &ServerConfig| {
        ctx.out
            .processes
            .iter()
            .map(|p| p.command.as_str())
            .chain(ctx.out.compose.iter().filter_map(|c| c.command.as_deref()))
            .chain(
                ctx.out
                    .scripts
                    .iter()
                    .flat_map(|s| s.commands.iter().map(|c| c.command.value.as_str())),
            )
            .chain(
                ctx.out
                    .dockerfiles
                    .iter()
                    .filter_map(|d| d.command.as_ref().map(|c| c.value.as_str())),
            )
            .chain(
                ctx.out
                    .kubernetes
                    .workloads
                    .iter()
                    .flat_map(|w| w.containers.iter().filter_map(|c| c.command.as_deref())),
            )
            .any(|c| c.contains(file_name(&s.evidence.file).trim_end_matches(".j2")))
    };
    // Code directories something already serves: their configs are read through it.
    let served: Vec<String> = drafts
        .iter()
        .filter_map(|d| {
            let from_build =
                d.w.build
                    .as_ref()
                    .and_then(|b| code_dir_of(&b.context, &ctx.code_dirs));
            let from_file = (!d.w.kind.containerized())
                .then(|| code_dir_of(&d.w.evidence.file, &ctx.code_dirs))
                .flatten();
            d.w.code
                .as_ref()
                .map(|c| c.value.clone())
                .or_else(|| from_build.or(from_file).map(str::to_string))
        })
        .collect();
    for s in ctx
        .out
        .servers
        .iter()
        .filter(|s| matches!(s.kind, ServerKind::Paste | ServerKind::Uwsgi))
    {
        let dir = code_dir_of(&s.evidence.file, &ctx.code_dirs).unwrap_or(".");
        // A config an install script writes is read by what runs it, not run by itself.
        let in_script = super::shell::is_script(file_name(&s.evidence.file));
        if referenced(s) || in_script || served.iter().any(|d| d == dir) {
            continue;
        }
        let name = ctx.dir_name(dir).to_string();
        let mut w = empty(
            &validate::name(&name).unwrap_or_else(|_| "app".into()),
            WorkloadKind::ServerConfig,
            &s.evidence,
        );
        w.port = s.port.clone();
        w.entrypoint = s.entrypoint.clone();
        w.server = s
            .server
            .clone()
            .map(|v| Fact::at(server_name(&v), &s.evidence));
        w.code = Some(Fact::at(dir.to_string(), &s.evidence));
        let mut d = draft(w);
        let file = file_name(&s.evidence.file).to_ascii_lowercase();
        if ["development", "dev.", "test", "local"]
            .iter()
            .any(|w| file.contains(w))
        {
            d.dev = Some(Judged::new(
                Environment::Dev,
                format!("the file name `{file}` says so"),
                Some(&s.evidence),
            ));
        }
        if s.port.is_some() || s.kind == ServerKind::Paste {
            d.role_hint = Some(Judged::new(
                WorkloadClass::PythonWeb,
                format!("{} serves the application", file_name(&s.evidence.file)),
                Some(&s.evidence),
            ));
        }
        drafts.push(d);
    }
}

fn server_name(used: &str) -> String {
    let lower = used.to_ascii_lowercase();
    if lower.contains("gunicorn") {
        "gunicorn".into()
    } else if lower.contains("waitress") {
        "waitress".into()
    } else if lower.contains("uwsgi") {
        "uwsgi".into()
    } else {
        format!("paste ({used})")
    }
}

/// A Python Dockerfile that no workload runs and no build tags: the image is the deliverable
/// (`docker run`), planned next to its copy in Compose.
fn images(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    // Dockerfiles some workload already runs (linked by `link_images`).
    let mut named: Vec<&str> = drafts
        .iter()
        .filter_map(|dr| dr.w.build.as_ref().map(|b| b.dockerfile.as_str()))
        .collect();
    named.sort_unstable();
    let host_code: Vec<&str> = drafts
        .iter()
        .filter(|dr| !dr.w.kind.containerized())
        .filter_map(|dr| code_dir_of(&dr.w.evidence.file, &ctx.code_dirs))
        .collect();
    let mut new = Vec::new();
    for d in ctx.out.dockerfiles.iter().filter(|d| d.python) {
        let file = &d.evidence.file;
        let built = ctx.out.builds.iter().any(|b| {
            b.dockerfile.as_deref() == Some(file.as_str())
                || b.dockerfile.is_none() && dir_of(file) == b.context
        });
        let is_named = named.binary_search(&file.as_str()).is_ok();
        let dir = dir_of(file);
        let code_dir = code_dir_of(file, &ctx.code_dirs).unwrap_or(dir);
        let code_run = host_code.contains(&code_dir);
        if built || is_named || code_run {
            continue;
        }
        let name = validate::name(ctx.dir_name(dir)).unwrap_or_else(|_| "app".into());
        let mut w = empty(&name, WorkloadKind::Image, &d.evidence);
        w.build = Some(BuildLink {
            dockerfile: file.clone(),
            stage: None,
            context: dir.to_string(),
        });
        w.links.push(Link {
            to: file.clone(),
            reason: "nothing in the codebase runs this image: `docker run` by hand or by CI".into(),
            evidence: None,
        });
        new.push(draft(w));
    }
    drafts.extend(new);
}

/// Python code with a WSGI application and nothing at all that runs it.
fn applications(ctx: &Ctx<'_>, drafts: &mut Vec<Draft>) {
    if !drafts.is_empty() {
        return;
    }
    for c in ctx.code.iter().filter(|c| c.entrypoint.is_some()) {
        let name = validate::name(ctx.dir_name(&c.dir)).unwrap_or_else(|_| "app".into());
        let e = c
            .entrypoint
            .as_ref()
            .map(|e| e.evidence.clone())
            .unwrap_or_else(|| Evidence::new(&c.dir, 1));
        let mut w = empty(&name, WorkloadKind::Application, &e);
        w.code = Some(Fact::at(c.dir.clone(), &e));
        let mut d = draft(w);
        d.role_hint = Some(Judged::new(
            WorkloadClass::PythonWeb,
            format!(
                "a WSGI application ({}); nothing in the codebase says how it is run",
                c.entrypoint.as_ref().map_or("", |e| e.value.as_str())
            ),
            Some(&e),
        ));
        drafts.push(d);
    }
}

/// Links each workload's image to the Dockerfile that builds it: a build that tags it, else a
/// Dockerfile its name names; an unnamed container image, to the codebase's only Python
/// Dockerfile; and, as a last resort, the only Python Dockerfile to the only workload that can
/// run it.
fn link_images(ctx: &Ctx<'_>, drafts: &mut [Draft]) {
    for d in drafts.iter_mut() {
        let w = &mut d.w;
        // Image → build → Dockerfile.
        if w.build.is_none() {
            if let Some(image) = w.image.clone() {
                if let Some(b) = ctx.build_of(&image.value, &w.evidence.file) {
                    let file = b
                        .dockerfile
                        .clone()
                        .unwrap_or_else(|| super::join_path(&b.context, "Dockerfile"));
                    w.build = Some(BuildLink {
                        dockerfile: file.clone(),
                        stage: b.target.clone(),
                        context: b.context.clone(),
                    });
                    w.links.push(Link {
                        to: file,
                        reason: format!("{} builds `{}`", b.via, b.image),
                        evidence: Some(b.evidence.clone()),
                    });
                } else if let Some((f, why)) = ctx.dockerfile_named_by(&image.value) {
                    w.build = Some(BuildLink {
                        dockerfile: f.evidence.file.clone(),
                        stage: None,
                        context: f.dir().to_string(),
                    });
                    w.links.push(Link {
                        to: f.evidence.file.clone(),
                        reason: why,
                        evidence: None,
                    });
                }
            } else if w.kind.containerized() && w.kind != WorkloadKind::Image {
                let python: Vec<&Dockerfile> =
                    ctx.out.dockerfiles.iter().filter(|f| f.python).collect();
                if let [one] = python.as_slice() {
                    w.build = Some(BuildLink {
                        dockerfile: one.evidence.file.clone(),
                        stage: None,
                        context: one.dir().to_string(),
                    });
                    w.links.push(Link {
                        to: one.evidence.file.clone(),
                        reason:
                            "its image is not named; this is the codebase's only Python Dockerfile"
                                .into(),
                        evidence: None,
                    });
                }
            }
        }
    }
    let python: Vec<&Dockerfile> = ctx.out.dockerfiles.iter().filter(|f| f.python).collect();
    let [only] = python.as_slice() else { return };
    let open: Vec<usize> = drafts
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.w.kind.containerized()
                && d.w.build.is_none()
                && d.compose_role.is_none()
                && d.w
                    .image
                    .as_ref()
                    .is_some_and(|i| dockerfile::other_language(&i.value).is_none())
        })
        .map(|(i, _)| i)
        .collect();
    let claimed = drafts.iter().any(|d| {
        d.w.build
            .as_ref()
            .is_some_and(|b| b.dockerfile == only.evidence.file)
    });
    if let ([one], false) = (open.as_slice(), claimed) {
        let w = &mut drafts[*one].w;
        w.build = Some(BuildLink {
            dockerfile: only.evidence.file.clone(),
            stage: None,
            context: only.dir().to_string(),
        });
        w.links.push(Link {
            to: only.evidence.file.clone(),
            reason:
                "the codebase's only Python Dockerfile, and the only workload whose image it can be"
                    .into(),
            evidence: None,
        });
    }
}

/// Links a workload to its image's Dockerfile and code, resolves its command and reads what the
/// command, the server config and the code say.
fn link_and_read(ctx: &Ctx<'_>, d: &mut Draft) {
    let w = &mut d.w;
    let stage = w
        .build
        .as_ref()
        .and_then(|b| ctx.dockerfile(&b.dockerfile).map(|f| (f, b.stage.clone())))
        .and_then(|(f, s)| f.stage(s.as_deref()).cloned().map(|st| (f, st)));
    // `FROM ${BASE_IMAGE}` with the base given by compose's `build.args`.
    if let (Some((f, _)), false) = (&stage, d.build_args.is_empty()) {
        let root = f
            .stages
            .first()
            .map(|s| s.from.value.clone())
            .unwrap_or_default();
        if root.contains("${") || root.starts_with('$') {
            let args = &d.build_args;
            let base = dockerfile::substitute(&root, &|n| {
                args.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
            });
            let built_here = ctx
                .build_of(&base, &w.evidence.file)
                .and_then(|b| ctx.dockerfile(b.dockerfile.as_deref().unwrap_or("")))
                .map(|f| f.python);
            d.base_python = built_here
                .or_else(|| dockerfile::python_of_image(&base).map(|_| true))
                .or_else(|| dockerfile::other_language(&base).map(|_| false));
            if !base.contains('$') {
                w.links.push(Link {
                    to: base.clone(),
                    reason: format!("its Dockerfile builds on `{root}`, which `build.args` sets"),
                    evidence: Some(w.evidence.clone()),
                });
            }
        }
    }
    // An image not named by the workload (a template, a Procfile app with a Dockerfile): the
    // tag a compose or skaffold build gives the same Dockerfile stage.
    if w.image.is_none() && w.kind.infra() == InfraKind::Kubernetes {
        if let (Some(b), Some((f, st))) = (&w.build, &stage) {
            let last = f.stages.last().and_then(|s| s.name.clone());
            let effective = |t: &Option<String>| {
                t.clone()
                    .or_else(|| last.clone())
                    .map(|n| n.to_ascii_lowercase())
            };
            let wanted = effective(&b.stage);
            let _ = st;
            let same_stage = |target: &Option<String>| effective(target) == wanted;
            if let Some(built) = ctx.out.builds.iter().find(|x| {
                x.dockerfile.as_deref() == Some(b.dockerfile.as_str()) && same_stage(&x.target)
            }) {
                w.image = Some(Fact::at(built.image.clone(), &built.evidence));
                w.links.push(Link {
                    to: built.image.clone(),
                    reason: format!(
                        "{} tags this Dockerfile's {} stage",
                        built.via,
                        built.target.as_deref().unwrap_or("final")
                    ),
                    evidence: Some(built.evidence.clone()),
                });
            }
        }
    }
    // Code: the build context's, or the directory the host process is declared in.
    if w.code.is_none() {
        let dir = match &w.build {
            Some(b) => code_dir_of(&b.context, &ctx.code_dirs)
                .or_else(|| code_dir_of(&format!("{}/x", b.context), &ctx.code_dirs)),
            None if !w.kind.containerized() => code_dir_of(&w.evidence.file, &ctx.code_dirs),
            None => None,
        };
        if let Some(dir) = dir {
            w.code = Some(Fact::at(dir.to_string(), &w.evidence));
        }
    }
    // Command: declared (after the image's ENTRYPOINT when only CMD is replaced), else the
    // image's.
    if let Some((_, st)) = &stage {
        match (&w.command, d.after_entrypoint, &st.entrypoint) {
            (None, _, _) => w.command = st.command.clone(),
            (Some(c), true, Some(e)) => {
                w.command = Some(Fact::at(format!("{} {}", e.value, c.value), &c.evidence));
            }
            _ => {}
        }
    }
    if let Some(cmd) = w.command.clone() {
        let runs = ctx.resolve(&cmd, &mut w.links);
        let words = command::unwrap(&runs.value);
        let role = command::role(&words);
        let served = command::served(&words);
        let mut config_port = None;
        let mut config_server: Option<String> = None;
        if let Some(path) = &served.config {
            if let Some(s) = ctx.server_config(path, w.code.as_ref().map(|c| c.value.as_str())) {
                w.links.push(Link {
                    to: s.evidence.file.clone(),
                    reason: format!("the command reads `{path}`"),
                    evidence: Some(s.evidence.clone()),
                });
                config_port = s.port.clone();
                if w.entrypoint.is_none() {
                    w.entrypoint = s.entrypoint.clone();
                }
                config_server = s.server.as_deref().map(server_name);
            } else if matches!(&role, Role::Web { server, .. } if server == "paste") {
                // `paster serve $APP_INI`: the config is chosen at run time. When the
                // codebase's paste configs agree on one port, that is the port.
                let mut ports: Vec<&Fact<u16>> = ctx
                    .out
                    .servers
                    .iter()
                    .filter(|s| s.kind == ServerKind::Paste)
                    .filter_map(|s| s.port.as_ref())
                    .collect();
                ports.dedup_by_key(|p| p.value);
                if let [one] = ports.as_slice() {
                    w.links.push(Link {
                        to: one.evidence.file.clone(),
                        reason: format!(
                            "`{path}` is chosen at run time; the codebase's paste server configs all use port {}",
                            one.value
                        ),
                        evidence: Some(one.evidence.clone()),
                    });
                    config_port = Some((*one).clone());
                }
            }
        }
        if let Role::Web { server, dev } = &role {
            // `pserve production.ini` runs whichever server the ini names (waitress, gunicorn).
            let shown = match (&config_server, server.as_str()) {
                (Some(c), "paste") => format!("{c} (from the paste config)"),
                _ => server.clone(),
            };
            w.server = Some(Fact::at(shown, &runs.evidence));
            if *dev && d.dev.is_none() {
                d.dev = Some(Judged::new(
                    Environment::Dev,
                    format!("it runs {server}"),
                    Some(&runs.evidence),
                ));
            }
        }
        if d.dev.is_none() {
            if let Some(reason) = command::dev_reason(&words) {
                d.dev = Some(Judged::new(Environment::Dev, reason, Some(&runs.evidence)));
            }
        }
        let command_port = served.port.as_deref().and_then(|p| {
            if p.contains('$') {
                return None;
            }
            validate::checked(
                p,
                &runs.evidence,
                "bind port",
                validate::port,
                &mut Vec::new(),
            )
            .map(|p| Fact::at(p, &runs.evidence))
        });
        // A worker reads the same ini for its settings; the port in it is the web server's.
        let config_port = config_port.filter(|_| matches!(role, Role::Web { .. }));
        if let Some(p) = command_port.or(config_port) {
            w.port = Some(p);
        }
        if w.entrypoint.is_none() {
            w.entrypoint = served
                .entrypoint
                .clone()
                .map(|e| Fact::at(e, &runs.evidence));
        }
        if let Some(m) = dockerfile::python_of_command(&runs.value) {
            w.python = Some(Fact::at(PythonMajor(m), &runs.evidence));
        }
        if d.role_hint.is_none() {
            d.role_hint = match role {
                Role::Web { server, .. } if served.not_http && !server.contains("uwsgi") => None,
                Role::Web { server, .. } => Some(Judged::new(
                    WorkloadClass::PythonWeb,
                    format!("runs {server}"),
                    Some(&runs.evidence),
                )),
                Role::Worker { what } => Some(Judged::new(
                    WorkloadClass::PythonWorker,
                    format!("runs {what}"),
                    Some(&runs.evidence),
                )),
                Role::Other { what } => Some(Judged::new(
                    WorkloadClass::Other,
                    format!("runs {what}"),
                    Some(&runs.evidence),
                )),
                Role::Python | Role::Unknown => {
                    let lower = runs.value.to_ascii_lowercase();
                    [
                        "pytest",
                        "nosetests",
                        "tox",
                        "flake8",
                        "mocha",
                        "unit-tests",
                        "run-tests",
                        " test",
                        "lint",
                    ]
                    .iter()
                    .any(|t| lower.contains(t))
                    .then(|| {
                        Judged::new(
                            WorkloadClass::Other,
                            "runs tests or linters",
                            Some(&runs.evidence),
                        )
                    })
                }
            };
        }
        if runs != cmd {
            w.runs = Some(runs);
        }
    }
    // What the image says when the workload does not.
    if let Some((f, st)) = &stage {
        if w.port.is_none() {
            w.port = st.expose.first().cloned();
        }
        if w.python.is_none() && st.python {
            let three = dockerfile::python_of_image(&f.base_image.value) == Some(3)
                || st
                    .command
                    .as_ref()
                    .is_some_and(|c| dockerfile::python_of_command(&c.value) == Some(3));
            let major = if st.python2 {
                Some(2)
            } else if three {
                Some(3)
            } else {
                None
            };
            w.python = major.map(|m| Fact::at(PythonMajor(m), &f.base_image.evidence));
        }
    }
    if w.python.is_none() {
        if let Some(image) = &w.image {
            if let Some(m) = dockerfile::python_of_image(&image.value) {
                w.python = Some(Fact::at(PythonMajor(m), &image.evidence));
            }
        }
    }
    // What the code says, when the workload runs that code (not a database image built in
    // the same context).
    // A vendor base canaryc does not know (`redash/base:debian`) over a context of Python code
    // runs that code; a known other language or service does not.
    let runs_the_code = stage
        .as_ref()
        .is_none_or(|(f, _)| f.python || f.language.is_none());
    if let Some(code) = w
        .code
        .as_ref()
        .and_then(|c| ctx.code(&c.value))
        .filter(|_| runs_the_code)
    {
        w.framework = w.framework.take().or_else(|| code.framework.clone());
        if w.entrypoint.is_none() {
            w.entrypoint = code.entrypoint.clone();
        }
        w.health = w.health.take().or_else(|| code.health.clone());
        w.metrics_library = w
            .metrics_library
            .take()
            .or_else(|| code.metrics_library.clone());
        if w.python.is_none() {
            w.python = code.python2.as_ref().map(|e| Fact::at(PythonMajor(2), e));
        }
        let runs_code = w.runs.as_ref().or(w.command.as_ref()).is_some_and(|c| {
            let words = command::unwrap(&c.value);
            matches!(command::role(&words), Role::Python)
        });
        if runs_code || w.kind == WorkloadKind::Application {
            if w.port.is_none() {
                w.port = code.port.clone();
            }
            if w.server.is_none() {
                w.server = code.server.clone();
            }
        }
        if d.role_hint.is_none() && runs_code {
            if let Some(g) = &code.grpc {
                d.role_hint = Some(Judged::new(
                    WorkloadClass::PythonWeb,
                    "serves gRPC (`grpc.server`)",
                    Some(g),
                ));
            } else if let Some(s) = &code.server {
                d.role_hint = Some(Judged::new(
                    WorkloadClass::PythonWeb,
                    format!("the code starts {}", s.value),
                    Some(&s.evidence),
                ));
                if s.value.contains("development") && d.dev.is_none() {
                    d.dev = Some(Judged::new(
                        Environment::Dev,
                        format!("it runs {}", s.value),
                        Some(&s.evidence),
                    ));
                }
            }
        }
    }
    // The Dockerfile's language when it is not Python.
    if let Some((f, _)) = &stage {
        if !f.python && d.role_hint.is_none() {
            if let Some(lang) = &f.language {
                d.role_hint = Some(Judged::new(
                    WorkloadClass::Other,
                    format!(
                        "its image is {} ({} FROM {})",
                        lang.value, f.evidence.file, f.base_image.value
                    ),
                    Some(&lang.evidence),
                ));
            }
        }
    }
}

/// A host's Python web workload with no declared port: when the host's load balancer sends its
/// default traffic to one local port, the application listens there.
fn port_behind_proxy(ctx: &Ctx<'_>, workloads: &mut [Workload]) {
    let missing: Vec<usize> = workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            w.kind.infra() == InfraKind::BareMetal
                && w.class.value == WorkloadClass::PythonWeb
                && w.port.is_none()
        })
        .map(|(i, _)| i)
        .collect();
    let [only] = missing.as_slice() else { return };
    let mut local: Vec<(u16, &Fact<String>, &super::facts::ProxyConfig)> = ctx
        .out
        .proxies
        .iter()
        .flat_map(|p| p.default_servers.iter().map(move |s| (s, p)))
        .filter_map(|(s, p)| {
            let (host, port) = s.value.rsplit_once(':')?;
            let local = matches!(host, "localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]");
            let port = validate::port(port).ok()?;
            local.then_some((port, s, p))
        })
        .collect();
    local.dedup_by_key(|(p, _, _)| *p);
    if let [(port, server, proxy)] = local.as_slice() {
        let w = &mut workloads[*only];
        w.port = Some(Fact::at(*port, &server.evidence));
        w.links.push(Link {
            to: proxy.evidence.file.clone(),
            reason: format!(
                "the host's {} sends its default traffic to {}",
                proxy.kind.as_str(),
                server.value
            ),
            evidence: Some(server.evidence.clone()),
        });
    }
}

/// A command that is a bare shell (`/bin/bash`): a container kept for `docker compose run`.
fn interactive_shell(w: &Workload) -> Option<String> {
    let c = w.runs.as_ref().or(w.command.as_ref())?;
    let words = command::split(&c.value);
    match words.as_slice() {
        [one]
            if matches!(
                command::basename(one),
                "bash" | "sh" | "ash" | "zsh" | "dash"
            ) =>
        {
            Some(one.clone())
        }
        _ => None,
    }
}

fn classify(ctx: &Ctx<'_>, mut d: Draft) -> Workload {
    let python_signal = d.base_python.unwrap_or(false)
        || d.w.python.is_some()
        || d.w.framework.is_some()
        || d.w
            .build
            .as_ref()
            .and_then(|b| ctx.dockerfile(&b.dockerfile))
            .is_some_and(|f| f.python)
        || d.w
            .runs
            .as_ref()
            .or(d.w.command.as_ref())
            .is_some_and(|c| command::runs_python(&command::unwrap(&c.value)));
    let image_other =
        d.w.image
            .as_ref()
            .and_then(|i| dockerfile::other_language(&i.value))
            .map(str::to_string);
    let class = if let Some(role) = &d.compose_role {
        Judged::new(
            WorkloadClass::Other,
            format!(
                "a {role} ({})",
                d.w.image
                    .as_ref()
                    .map_or(d.w.name.as_str(), |i| i.value.as_str())
            ),
            Some(&d.w.evidence),
        )
    } else if let Some(hint) = d.role_hint.take() {
        if hint.value == WorkloadClass::PythonWorker && !python_signal {
            Judged::new(
                WorkloadClass::Other,
                format!("{}; {NO_PYTHON_SIGNAL}", hint.reason),
                hint.evidence.as_ref(),
            )
        } else {
            hint
        }
    } else if let Some(shell) = interactive_shell(&d.w) {
        Judged::new(
            WorkloadClass::Other,
            format!("runs an interactive shell (`{shell}`)"),
            d.w.command.as_ref().map(|c| &c.evidence),
        )
    } else if let (Some(lang), false) = (&image_other, python_signal) {
        Judged::new(
            WorkloadClass::Other,
            format!("its image is {lang}"),
            d.w.image.as_ref().map(|i| &i.evidence),
        )
    } else if !python_signal {
        let why = match (&d.w.image, &d.w.build) {
            (Some(i), None) => format!(
                "image `{}` is not built from this codebase and {NO_PYTHON_SIGNAL}",
                i.value
            ),
            _ => NO_PYTHON_SIGNAL.to_string(),
        };
        Judged::new(WorkloadClass::Other, why, Some(&d.w.evidence))
    } else if d.has_service || d.http_probe {
        Judged::new(
            WorkloadClass::PythonWeb,
            if d.has_service {
                format!(
                    "Service {} sends it traffic",
                    d.w.k8s.service.as_deref().unwrap_or("")
                )
            } else {
                "it has an HTTP probe".to_string()
            },
            Some(&d.w.evidence),
        )
    } else if let Some(p) = d.w.port.as_ref().filter(|p| {
        // A port only the image EXPOSEs says little when the workload runs something else
        // with it (a migration, a one-off command).
        let exposed = super::dockerfile::is_dockerfile(file_name(&p.evidence.file));
        !exposed || d.w.command.is_some() && d.w.entrypoint.is_some() && d.w.framework.is_some()
    }) {
        Judged::new(
            WorkloadClass::PythonWeb,
            format!("Python, listening on port {}", p.value),
            Some(&p.evidence),
        )
    } else if d.w.command.is_none() && d.w.kind.containerized() && d.w.build.is_some() {
        Judged::new(
            WorkloadClass::Other,
            "neither it nor its image sets a command: a data or one-off container",
            Some(&d.w.evidence),
        )
    } else if matches!(
        d.w.kind,
        WorkloadKind::HelmChart | WorkloadKind::ManifestTemplate
    ) {
        Judged::new(
            WorkloadClass::PythonWeb,
            "a templated Deployment of a Python image: what it serves is in values canaryc cannot render",
            Some(&d.w.evidence),
        )
    } else if d.w.kind == WorkloadKind::Image {
        Judged::new(
            WorkloadClass::Other,
            "an image nothing in the codebase runs, with no server or port it declares",
            Some(&d.w.evidence),
        )
    } else {
        Judged::new(
            WorkloadClass::PythonWorker,
            "Python that listens on no port and runs no web server",
            Some(&d.w.evidence),
        )
    };
    d.w.class = class;
    d.w.environment = d
        .dev
        .take()
        .unwrap_or_else(|| Judged::new(Environment::Prod, "nothing marks it as development", None));
    if d.w.class.value != WorkloadClass::PythonWeb {
        // A worker or a shared service has no health route to canary (the code's belongs to
        // its web workload).
        if d.w
            .health
            .as_ref()
            .is_some_and(|h| h.evidence.file.ends_with(".py"))
        {
            d.w.health = None;
        }
    }
    if d.w.class.value == WorkloadClass::Other {
        d.w.server = None;
        d.w.entrypoint = None;
    }
    if d.w.class.value == WorkloadClass::PythonWorker {
        // The image's EXPOSE and the code's WSGI application belong to its web sibling.
        d.w.entrypoint = None;
        if d.w
            .port
            .as_ref()
            .is_some_and(|p| super::dockerfile::is_dockerfile(file_name(&p.evidence.file)))
        {
            d.w.port = None;
        }
    }
    d.w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories() {
        assert_eq!(
            repository("registry:5000/team/app:2.7@sha256:x"),
            "registry:5000/team/app"
        );
        assert_eq!(
            repository("registry:5000/team/app"),
            "registry:5000/team/app"
        );
        assert_eq!(repository("app"), "app");
    }
}
