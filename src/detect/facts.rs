//! What detection found, each fact with the file and line it came from.
//!
//! Two layers. The *raw facts* say what each file declares (`kubernetes`, `compose`,
//! `dockerfiles`, `processes`, `scripts`, `servers`, ...). The *workloads* are built from them
//! (`workloads.rs`): every deployable unit the codebase declares, linked to the image, Dockerfile,
//! build context and Python code it runs, and classified (python-web, python-worker, other; prod
//! or dev) with the reason. Planning reads the workloads; the raw facts are there to show why.
//!
//! This is also the JSON schema of `canaryc detect --format json` (docs/detection.md), so field
//! names are API: add fields, never rename them without bumping [`FORMAT_VERSION`]. Paths are
//! relative to the codebase root and use `/`, so the output is the same on every machine.

use serde::Serialize;

/// 2: workloads replace the per-directory `services`; env entries are objects with a
/// `credential` flag.
pub const FORMAT_VERSION: u32 = 2;

/// Where a fact comes from: a file relative to the codebase root, and a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Evidence {
    pub file: String,
    pub line: u32,
}

impl Evidence {
    pub fn new(file: &str, line: usize) -> Self {
        Evidence {
            file: file.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A value and where it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact<T> {
    pub value: T,
    pub evidence: Evidence,
}

impl<T> Fact<T> {
    pub fn new(value: T, file: &str, line: usize) -> Self {
        Fact {
            value,
            evidence: Evidence::new(file, line),
        }
    }

    pub fn at(value: T, evidence: &Evidence) -> Self {
        Fact {
            value,
            evidence: evidence.clone(),
        }
    }
}

/// A judgement (a class, prod or dev) with the reason a person can check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judged<T> {
    pub value: T,
    pub reason: String,
    pub evidence: Option<Evidence>,
}

impl<T> Judged<T> {
    pub fn new(value: T, reason: impl Into<String>, evidence: Option<&Evidence>) -> Self {
        Judged {
            value,
            reason: reason.into(),
            evidence: evidence.cloned(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Detection {
    pub format_version: u32,
    /// Infrastructure kinds found, with the files that show them. Several is normal.
    pub infra: Vec<InfraFinding>,
    /// Every deployable unit, linked and classified: what planning reads.
    pub workloads: Vec<Workload>,
    /// Python code, one entry per directory that holds an application.
    pub code: Vec<CodeFacts>,
    pub kubernetes: KubernetesFacts,
    pub compose: Vec<ComposeService>,
    pub dockerfiles: Vec<Dockerfile>,
    /// Images built from a context: compose `build:`, skaffold artifacts, `docker build -t`.
    pub builds: Vec<ImageBuild>,
    pub processes: Vec<ProcessFacts>,
    /// Shell scripts that start something (entrypoints, `bin/run-*.sh`).
    pub scripts: Vec<Script>,
    /// Server configurations: paste `[server:main]`, gunicorn config files, uWSGI ini, Apache
    /// mod_wsgi virtual hosts.
    pub servers: Vec<ServerConfig>,
    pub proxies: Vec<ProxyConfig>,
    /// Ansible and Terraform: files to update when the rollout changes the infrastructure.
    pub iac: Vec<IacFinding>,
    pub hazards: Vec<Hazard>,
    /// Literal credentials in the codebase's deployment files, each with the fix.
    pub credentials: Vec<Credential>,
    /// A buildpack platform's runtime pin (`runtime.txt` holding `python-2.7.13`: Heroku, and
    /// the platforms that copied it): the Procfile runs on a PaaS, not on hosts the team runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buildpack_runtime: Vec<Evidence>,
    /// Files or values that could not be used (broken YAML, a port that is not a port):
    /// detection went on without them.
    pub warnings: Vec<Warning>,
    /// Files and directories not read, and why (too large, symlink, not text).
    pub skipped: Vec<Skipped>,
    /// How many files were looked at and how many read.
    pub stats: Stats,
}

impl Detection {
    pub fn workload(&self, id: WorkloadId) -> Option<&Workload> {
        self.workloads.get(id.0 as usize)
    }

    /// A compose service by file and name (dependencies are looked up in their own file).
    pub fn compose_service(&self, file: &str, name: &str) -> Option<&ComposeService> {
        self.compose
            .iter()
            .find(|c| c.evidence.file == file && c.name == name)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    pub files_seen: usize,
    pub files_read: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InfraKind {
    Kubernetes,
    DockerCompose,
    BareMetal,
}

impl InfraKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InfraKind::Kubernetes => "kubernetes",
            InfraKind::DockerCompose => "docker-compose",
            InfraKind::BareMetal => "bare-metal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    Istio,
    GatewayApi,
    NginxIngress,
    Haproxy,
    Nginx,
}

impl RouterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouterKind::Istio => "istio",
            RouterKind::GatewayApi => "gateway-api",
            RouterKind::NginxIngress => "nginx-ingress",
            RouterKind::Haproxy => "haproxy",
            RouterKind::Nginx => "nginx",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InfraFinding {
    pub kind: InfraKind,
    /// Routers seen with this infrastructure, most specific first.
    pub routers: Vec<Fact<RouterKind>>,
    pub evidence: Vec<Evidence>,
}

/// A workload's index in [`Detection::workloads`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct WorkloadId(pub u32);

/// What declares a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicationController,
    DeploymentConfig,
    CronJob,
    Job,
    /// A Helm chart (its templates are not YAML until rendered; values.yaml is read).
    HelmChart,
    /// A templated manifest (`*.yaml.j2`, `*.yaml.tmpl`): read leniently.
    ManifestTemplate,
    ComposeService,
    SystemdUnit,
    UpstartJob,
    SupervisordProgram,
    ProcfileProcess,
    /// An Apache virtual host running a WSGI application through mod_wsgi.
    ModWsgi,
    /// A server config (paste, uWSGI, gunicorn) nothing else in the codebase starts.
    ServerConfig,
    /// A Dockerfile whose image nothing in the codebase runs: `docker run` by hand or by CI.
    Image,
    /// Python code with a WSGI application and nothing that runs it.
    Application,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicationController => "ReplicationController",
            WorkloadKind::DeploymentConfig => "DeploymentConfig",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Job => "Job",
            WorkloadKind::HelmChart => "Helm chart",
            WorkloadKind::ManifestTemplate => "manifest template",
            WorkloadKind::ComposeService => "compose service",
            WorkloadKind::SystemdUnit => "systemd unit",
            WorkloadKind::UpstartJob => "Upstart job",
            WorkloadKind::SupervisordProgram => "supervisord program",
            WorkloadKind::ProcfileProcess => "Procfile process",
            WorkloadKind::ModWsgi => "mod_wsgi app",
            WorkloadKind::ServerConfig => "server config",
            WorkloadKind::Image => "image",
            WorkloadKind::Application => "application",
        }
    }

    /// The infrastructure that runs this kind of workload.
    pub fn infra(self) -> InfraKind {
        match self {
            WorkloadKind::Deployment
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet
            | WorkloadKind::ReplicationController
            | WorkloadKind::DeploymentConfig
            | WorkloadKind::CronJob
            | WorkloadKind::Job
            | WorkloadKind::HelmChart
            | WorkloadKind::ManifestTemplate => InfraKind::Kubernetes,
            // An image nothing orchestrates runs best next to its copy in Compose.
            WorkloadKind::ComposeService | WorkloadKind::Image => InfraKind::DockerCompose,
            WorkloadKind::SystemdUnit
            | WorkloadKind::UpstartJob
            | WorkloadKind::SupervisordProgram
            | WorkloadKind::ProcfileProcess
            | WorkloadKind::ModWsgi
            | WorkloadKind::ServerConfig
            | WorkloadKind::Application => InfraKind::BareMetal,
        }
    }

    /// Whether the workload runs in a container (its command is the image's, not a host's).
    pub fn containerized(self) -> bool {
        matches!(
            self.infra(),
            InfraKind::Kubernetes | InfraKind::DockerCompose
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadClass {
    /// Receives HTTP (or gRPC): the traffic canary applies.
    PythonWeb,
    /// Celery, RQ, cron, consumers: canaried by queue, never weighted as HTTP.
    PythonWorker,
    /// Databases, caches, proxies, services in other languages: shared, never canaried.
    Other,
}

/// How a workload's class reason ends when it is [`WorkloadClass::Other`] only for want of
/// evidence that it runs Python (an image from elsewhere, a templated command), not because it
/// is a shared service or another language: a plan that names it as a service is that evidence.
pub const NO_PYTHON_SIGNAL: &str = "nothing says it runs Python";

impl WorkloadClass {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadClass::PythonWeb => "python-web",
            WorkloadClass::PythonWorker => "python-worker",
            WorkloadClass::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Prod,
    Dev,
}

/// The Python major version a workload runs, when something says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PythonMajor(pub u8);

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub id: WorkloadId,
    pub name: String,
    pub kind: WorkloadKind,
    /// Where it is declared.
    pub evidence: Evidence,
    /// Other files declaring the same unit (the same Deployment in two manifests).
    pub also: Vec<Evidence>,
    pub class: Judged<WorkloadClass>,
    pub environment: Judged<Environment>,
    /// 2 or 3, when the image, the interpreter in the command or the code says.
    pub python: Option<Fact<PythonMajor>>,
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    /// The image it runs (interpolation defaults applied).
    pub image: Option<Fact<String>>,
    /// The Dockerfile that builds its image, when one in the codebase does.
    pub build: Option<BuildLink>,
    /// The Python code directory it runs.
    pub code: Option<Fact<String>>,
    /// The command as declared (container command, ExecStart, Procfile line).
    pub command: Option<Fact<String>>,
    /// What that command ends up running, through entrypoint scripts and `exec`.
    pub runs: Option<Fact<String>>,
    pub server: Option<Fact<String>>,
    pub entrypoint: Option<Fact<String>>,
    pub framework: Option<Fact<String>>,
    pub port: Option<Fact<u16>>,
    /// Where clients reach it when that is another port than `port` (a Compose service's
    /// published host port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_port: Option<Fact<u16>>,
    pub health: Option<Fact<String>>,
    pub metrics_library: Option<Fact<String>>,
    /// Arguments a host's assumed server needs to serve it as the team's config does
    /// (`ServerConfig::serve_options`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serve_options: Vec<String>,
    /// Where a host process runs from, and as whom.
    pub working_directory: Option<String>,
    pub user: Option<String>,
    /// Environment variable names (values are never recorded), credential-looking ones flagged.
    pub env: Vec<EnvVar>,
    pub secret_refs: Vec<String>,
    pub depends_on: Vec<String>,
    /// Kubernetes objects that route to or scale it.
    pub k8s: K8sLinks,
    /// How each link above was made, for a person to check.
    pub links: Vec<Link>,
    /// The manifest or compose definition, for the backends to clone (not in the JSON output).
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

impl Workload {
    /// Classed [`WorkloadClass::Other`] only because nothing shows it runs Python.
    pub fn python_unknown(&self) -> bool {
        self.class.value == WorkloadClass::Other && self.class.reason.ends_with(NO_PYTHON_SIGNAL)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct K8sLinks {
    pub service: Option<String>,
    /// (min, max) replicas of the HPA targeting it.
    pub autoscaler: Option<(u32, u32)>,
    pub ingress: Option<String>,
    pub route: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildLink {
    pub dockerfile: String,
    /// The stage built (`target:`), or the last one.
    pub stage: Option<String>,
    pub context: String,
}

/// One edge of the workload graph: `image -> Dockerfile`, `command -> script`, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub to: String,
    pub reason: String,
    pub evidence: Option<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvVar {
    pub name: String,
    /// A literal value that looks like a credential (by name or by shape): never copied into
    /// documents; emitters keep it only where the cloned workload needs it.
    pub credential: bool,
    pub evidence: Evidence,
}

/// A literal credential found in a deployment file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Credential {
    pub evidence: Evidence,
    /// What holds it: `env DB_PASSWORD`, `URL user:password`, `--requirepass`, `probe header`.
    pub what: String,
    pub fix: String,
}

/// Python code: facts read from source, attributed to the directory of the nearest
/// `setup.py`, `manage.py`, requirements file or Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CodeFacts {
    /// Directory relative to the root (`.` for the root).
    pub dir: String,
    pub framework: Option<Fact<String>>,
    /// `module:callable`, e.g. `ledger.wsgi:application`.
    pub entrypoint: Option<Fact<String>>,
    /// A server started from the code itself (`app.run`, `serve(...)`).
    pub server: Option<Fact<String>>,
    pub port: Option<Fact<u16>>,
    pub health: Option<Fact<String>>,
    pub metrics_library: Option<Fact<String>>,
    /// A gRPC server (`grpc.server(`): request traffic, not HTTP/1.
    pub grpc: Option<Evidence>,
    /// Python 2 only syntax or packages seen in the code.
    pub python2: Option<Evidence>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KubernetesFacts {
    pub workloads: Vec<K8sWorkload>,
    pub services: Vec<K8sObject>,
    pub autoscalers: Vec<K8sObject>,
    pub ingresses: Vec<Ingress>,
    pub routes: Vec<K8sObject>,
    pub namespaces: Vec<Fact<String>>,
    pub istio: Vec<Evidence>,
    /// Istio Gateways, VirtualServices and DestinationRules, for the routes the engines write
    /// (which Gateway and hosts a service is reached through, which names the team's objects
    /// already have). Not in the JSON output.
    #[serde(skip)]
    pub istio_objects: Vec<K8sObject>,
    pub helm_charts: Vec<Fact<String>>,
    /// `image.repository:image.tag` from a chart's values.yaml.
    pub helm_images: Vec<Fact<String>>,
    /// `service.targetPort` (or `service.port`, `containerPort`) from a chart's values.yaml.
    pub helm_ports: Vec<Fact<u16>>,
    pub kustomizations: Vec<Evidence>,
    /// Progressive-delivery controllers the manifests use: `flagger` (flagger.app objects),
    /// `argo-rollouts` (argoproj.io Rollouts and AnalysisTemplates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<Fact<String>>,
    /// Templated manifests (Helm templates, `*.yaml.j2`) and the kinds they declare.
    pub templates: Vec<Fact<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct K8sObject {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub evidence: Evidence,
    /// (min, max) replicas, for autoscalers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<(u32, u32)>,
    /// What it points at: a Service's selector (`app=ledger`), an HPA's target, a route's
    /// backends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The whole manifest, for routes, Services and Istio objects the backends keep parts of
    /// (not in the JSON output).
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct K8sWorkload {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    /// The pod template's labels, `key=value`.
    pub labels: Vec<String>,
    pub containers: Vec<Container>,
    /// Read from a template (Helm, `*.yaml.j2`): values may be missing, nothing to clone.
    pub templated: bool,
    pub evidence: Evidence,
    /// The whole manifest, for the backends to clone (not part of the JSON output).
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    /// `command` and `args`, as one shell line.
    pub command: Option<String>,
    /// Only `args`: they go after the image's ENTRYPOINT.
    pub args_only: bool,
    pub ports: Vec<u16>,
    pub health: Option<String>,
    /// Names of env vars; values are never copied.
    pub env: Vec<EnvVar>,
    /// `secretKeyRef`/`secretRef` names the container refers to.
    pub secret_refs: Vec<String>,
    /// Lines of the image, the first containerPort and the probe path (0: not found).
    #[serde(skip)]
    pub lines: [u32; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingress {
    pub name: String,
    pub namespace: Option<String>,
    pub class: Option<String>,
    pub hosts: Vec<String>,
    pub tls: bool,
    /// Services it routes to.
    pub backends: Vec<String>,
    pub evidence: Evidence,
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComposeService {
    pub name: String,
    /// The image, with `${VAR:-default}` interpolated from defaults and `.env`.
    pub image: Option<String>,
    /// The build context, relative to the codebase root.
    pub build: Option<String>,
    /// The Dockerfile, relative to the codebase root, and the stage built.
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    /// `build.args` with values (a name alone takes the variable's default).
    pub build_args: Vec<(String, String)>,
    pub command: Option<String>,
    pub entrypoint: Option<String>,
    /// As written (`"5000:80"`); `published` and `target` below.
    pub ports: Vec<String>,
    /// Container ports it publishes or exposes, in order.
    pub container_ports: Vec<u16>,
    /// (container port, host port) of each mapping that names one host port (`"8001:8000"`,
    /// `{target: 8000, published: 8001}`), in order: where clients reach it today.
    #[serde(skip)]
    pub published: Vec<(u16, u16)>,
    pub env: Vec<EnvVar>,
    pub env_files: Vec<String>,
    pub depends_on: Vec<String>,
    /// Host paths bind-mounted into the container (relative to the root when inside it).
    pub bind_mounts: Vec<String>,
    pub replicas: Option<u32>,
    /// A `healthcheck` test that fetches a path.
    pub health: Option<String>,
    /// redis, memcached, rabbitmq ...: shared state the two copies will share.
    pub role: Option<String>,
    /// Why the whole file is a development one (its name, its header comment).
    pub dev_file: Option<String>,
    /// `DEBUG=True`, `FLASK_DEBUG=1`, `FLASK_ENV=development` in its environment.
    pub debug_env: Option<Evidence>,
    pub evidence: Evidence,
    #[serde(skip)]
    pub definition: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dockerfile {
    /// The final stage's base image, with build args resolved; a stage name when the final
    /// stage builds on an earlier one is replaced by that stage's base.
    pub base_image: Fact<String>,
    /// Whether the final stage runs Python 2 (a Python 2 base, or Python 2 installed).
    pub python2: bool,
    /// Whether anything in the final stage's chain installs or runs Python.
    pub python: bool,
    /// The language of the final stage when it is not Python (`ruby`, `node`, `java` ...).
    pub language: Option<Fact<String>>,
    /// The final stage's settings, inherited through `FROM <stage>`.
    pub expose: Vec<Fact<u16>>,
    /// CMD or ENTRYPOINT (ENTRYPOINT first), as one shell line.
    pub command: Option<Fact<String>>,
    pub workdir: Option<String>,
    /// Names of variables set with ENV.
    pub env: Vec<String>,
    pub stages: Vec<Stage>,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: Option<String>,
    /// The base, build args resolved: an image, or the name of an earlier stage.
    pub from: Fact<String>,
    /// Index of the earlier stage it builds on.
    pub parent: Option<usize>,
    pub python2: bool,
    pub python: bool,
    pub expose: Vec<Fact<u16>>,
    /// ENTRYPOINT and CMD joined, as the container runs them.
    pub command: Option<Fact<String>>,
    pub entrypoint: Option<Fact<String>>,
    pub cmd: Option<Fact<String>>,
    pub workdir: Option<String>,
    pub env: Vec<String>,
}

/// An image built from a context: the link between an image name and a Dockerfile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageBuild {
    pub image: String,
    pub context: String,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    /// compose, skaffold, script
    pub via: String,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessSource {
    Procfile,
    Supervisord,
    Systemd,
    Upstart,
}

impl ProcessSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessSource::Procfile => "procfile",
            ProcessSource::Supervisord => "supervisord",
            ProcessSource::Systemd => "systemd",
            ProcessSource::Upstart => "upstart",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessFacts {
    pub source: ProcessSource,
    pub name: String,
    pub command: String,
    pub user: Option<String>,
    pub working_directory: Option<String>,
    pub environment: Vec<EnvVar>,
    pub evidence: Evidence,
}

/// A shell script that starts a program: each `case` arm's (or the script's) final command.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Script {
    pub path: String,
    /// `(arm, command)`: the arm is the `case "$1"` pattern, `None` for the script's own.
    pub commands: Vec<ScriptCommand>,
    /// The script ends with `exec "$@"`: it runs its arguments (a wrapper entrypoint).
    pub runs_arguments: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptCommand {
    pub arm: Option<String>,
    pub command: Fact<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServerKind {
    /// A paste `[server:main]` section.
    Paste,
    /// A gunicorn config file (`bind = ...`).
    Gunicorn,
    Uwsgi,
    /// An Apache virtual host with `WSGIScriptAlias`.
    ModWsgi,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerConfig {
    pub kind: ServerKind,
    /// The mod_wsgi daemon process or the paste server's name.
    pub name: Option<String>,
    /// The server it runs (`egg:Paste#http`, `egg:gunicorn`), for paste.
    pub server: Option<String>,
    pub port: Option<Fact<u16>>,
    /// The WSGI application: `module:callable`, a paste `egg:NAME`, a script path.
    pub entrypoint: Option<Fact<String>>,
    /// Python 2 named by the config (a `python2.7` path in `python-home`).
    pub python2: bool,
    /// For mod_wsgi: the `mod_wsgi-express start-server` arguments that serve the application
    /// as the virtual host does (its daemon's processes and threads, its static `Alias`es).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serve_options: Vec<String>,
    /// For mod_wsgi: the daemon's `user=`, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyConfig {
    pub kind: RouterKind,
    pub evidence: Evidence,
    /// Backend or upstream server addresses.
    pub servers: Vec<String>,
    /// The servers that get the default traffic (HAProxy's `default_backend`, the only
    /// upstream), each with its line: where the application listens behind the proxy.
    pub default_servers: Vec<Fact<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IacFinding {
    /// ansible or terraform
    pub tool: String,
    /// What the file is: playbook, role, load balancer resource ...
    pub what: String,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HazardLevel {
    /// Breaks side-by-side operation unless mitigated.
    Blocker,
    /// Needs a setting or a look.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hazard {
    /// Stable identifier, e.g. `pickle-shared-cache`.
    pub id: &'static str,
    pub level: HazardLevel,
    pub title: String,
    pub mitigation: String,
    pub evidence: Vec<Evidence>,
}

/// Why a file or value was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The file could not be understood (CNR603).
    Unreadable,
    /// A value is not what its field holds: a port that is not a port (CNR606).
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    pub file: String,
    pub line: u32,
    pub message: String,
    pub kind: WarningKind,
}

impl Warning {
    pub fn unreadable(file: &str, line: usize, message: impl Into<String>) -> Self {
        Warning {
            file: file.to_string(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            message: message.into(),
            kind: WarningKind::Unreadable,
        }
    }

    pub fn rejected(evidence: &Evidence, message: impl Into<String>) -> Self {
        Warning {
            file: evidence.file.clone(),
            line: evidence.line,
            message: message.into(),
            kind: WarningKind::Rejected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}
