//! What detection found, each fact with the file and line it came from.
//!
//! This is also the JSON schema of `canaryc detect --format json` (docs/detection.md), so field
//! names are API: add fields, never rename them without bumping [`FORMAT_VERSION`]. Paths are
//! relative to the codebase root and use `/`, so the output is the same on every machine.

use serde::Serialize;

pub const FORMAT_VERSION: u32 = 1;

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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Detection {
    pub format_version: u32,
    /// Infrastructure kinds found, with the files that show them. Several is normal.
    pub infra: Vec<InfraFinding>,
    /// One entry per service found (a monorepo has several).
    pub services: Vec<ServiceFacts>,
    pub kubernetes: KubernetesFacts,
    pub compose: Vec<ComposeService>,
    pub dockerfiles: Vec<Dockerfile>,
    pub processes: Vec<ProcessFacts>,
    pub proxies: Vec<ProxyConfig>,
    /// Ansible and Terraform: files to update when the rollout changes the infrastructure.
    pub iac: Vec<IacFinding>,
    pub hazards: Vec<Hazard>,
    /// Files that could not be understood (broken YAML, malformed manifests): detection went on.
    pub warnings: Vec<Warning>,
    /// Files and directories not read, and why (too large, symlink, not text).
    pub skipped: Vec<Skipped>,
    /// How many files were looked at and how many read.
    pub stats: Stats,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceFacts {
    /// The directory name, or the codebase's for a single service at the root.
    pub name: String,
    /// Directory relative to the root (`.` for the root).
    pub dir: String,
    pub framework: Option<Fact<String>>,
    /// `module:callable`, e.g. `ledger.wsgi:application`.
    pub entrypoint: Option<Fact<String>>,
    /// gunicorn, uwsgi, mod_wsgi, waitress, `app.run` ...
    pub server: Option<Fact<String>>,
    pub port: Option<Fact<u16>>,
    pub health: Option<Fact<String>>,
    pub metrics_library: Option<Fact<String>>,
    /// A Python 2 base image or interpreter seen for this service.
    pub python2: Option<Fact<String>>,
    /// The command that starts it, from a Procfile, Dockerfile, unit or supervisord program.
    pub command: Option<Fact<String>>,
    pub image: Option<Fact<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KubernetesFacts {
    pub workloads: Vec<Workload>,
    pub services: Vec<K8sObject>,
    pub autoscalers: Vec<K8sObject>,
    pub ingresses: Vec<Ingress>,
    pub routes: Vec<K8sObject>,
    pub namespaces: Vec<Fact<String>>,
    pub istio: Vec<Evidence>,
    /// Istio Gateways and VirtualServices, for the routes the engines write (which Gateway and
    /// hosts a service is reached through). Not in the JSON output.
    #[serde(skip)]
    pub istio_objects: Vec<K8sObject>,
    pub helm_charts: Vec<Fact<String>>,
    /// `image.repository:image.tag` from a chart's values.yaml.
    pub helm_images: Vec<Fact<String>>,
    pub kustomizations: Vec<Evidence>,
    /// Progressive-delivery controllers the manifests use: `flagger` (flagger.app objects),
    /// `argo-rollouts` (argoproj.io Rollouts and AnalysisTemplates).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<Fact<String>>,
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
    /// The whole manifest, for routes, Services and Istio objects the backends keep parts of
    /// (not in the JSON output).
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    pub replicas: Option<u32>,
    pub containers: Vec<Container>,
    pub evidence: Evidence,
    /// The whole manifest, for the backends to clone (not part of the JSON output).
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub ports: Vec<u16>,
    pub health: Option<String>,
    /// Names of env vars; values are never copied (they may be secrets).
    pub env: Vec<String>,
    /// `secretKeyRef`/`secretRef` names the container refers to.
    pub secret_refs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ingress {
    pub name: String,
    pub namespace: Option<String>,
    pub class: Option<String>,
    pub hosts: Vec<String>,
    pub tls: bool,
    pub evidence: Evidence,
    #[serde(skip)]
    pub manifest: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComposeService {
    pub name: String,
    pub image: Option<String>,
    pub build: Option<String>,
    pub ports: Vec<String>,
    pub env: Vec<String>,
    pub depends_on: Vec<String>,
    /// redis, memcached, rabbitmq ...: shared state the two copies will share.
    pub role: Option<String>,
    pub evidence: Evidence,
    #[serde(skip)]
    pub definition: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dockerfile {
    /// The final stage's base image.
    pub base_image: Fact<String>,
    /// Whether the base image is a Python 2 one (`python:2.7*`).
    pub python2: bool,
    pub expose: Vec<Fact<u16>>,
    /// CMD or ENTRYPOINT (ENTRYPOINT first), as one shell line.
    pub command: Option<Fact<String>>,
    pub workdir: Option<String>,
    /// Names of variables set with ENV.
    pub env: Vec<String>,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessFacts {
    /// procfile, supervisord, systemd
    pub source: String,
    pub name: String,
    pub command: String,
    pub user: Option<String>,
    pub working_directory: Option<String>,
    pub environment: Vec<String>,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyConfig {
    pub kind: RouterKind,
    pub evidence: Evidence,
    /// Backend or upstream server addresses.
    pub servers: Vec<String>,
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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Warning {
    pub file: String,
    pub line: u32,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}
