//! On bare metal: who the copies run as, and what serves the service's public port today,
//! which the load balancer can take only once it is stopped.

use schemars::JsonSchema;
use serde::Serialize;

use crate::detect::facts::{Workload, WorkloadKind};

/// The user Apache runs a mod_wsgi daemon as when its `WSGIDaemonProcess` has no `user=`, on
/// Debian and Ubuntu (RHEL's is `apache`). The app's files (graphite-web's storage, say) are
/// owned by it, so the copies run as it too.
pub const APACHE_USER: &str = "www-data";

/// The user a host copy runs as, and why, when canaryc assumed it rather than read it.
pub(super) fn user(host: Option<&Workload>) -> (Option<String>, Option<String>) {
    let Some(w) = host else {
        return (None, None);
    };
    match (&w.user, w.kind) {
        (Some(user), _) => (Some(user.clone()), None),
        (None, WorkloadKind::ModWsgi) => (
            Some(APACHE_USER.to_string()),
            Some(format!(
                "Apache ran this app's mod_wsgi daemon as its own user ({} has no `user=`): {APACHE_USER} on Debian and Ubuntu, apache on RHEL",
                w.evidence.file
            )),
        ),
        (None, _) => (None, None),
    }
}

/// What serves the service's public port on the host today.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Predecessor {
    pub kind: PredecessorKind,
    /// The name its manager knows it by: the unit, program or job; for Apache, the virtual
    /// host's file.
    pub name: String,
    /// The file in the codebase canaryc found it in.
    pub file: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PredecessorKind {
    /// An Apache virtual host serving the app through mod_wsgi.
    ApacheVhost,
    SystemdUnit,
    SupervisordProgram,
    UpstartJob,
    /// A process canaryc found (a Procfile line, a server config, the code itself) without
    /// knowing what starts it on the host.
    Process,
}

/// What the linked host workload says serves the port today.
pub(super) fn predecessor(host: Option<&Workload>) -> Option<Predecessor> {
    let w = host?;
    let file = w.evidence.file.clone();
    let stem = file.rsplit('/').next().unwrap_or(&file).to_string();
    let (kind, name) = match w.kind {
        WorkloadKind::ModWsgi => (PredecessorKind::ApacheVhost, stem),
        WorkloadKind::SystemdUnit => (PredecessorKind::SystemdUnit, stem),
        WorkloadKind::SupervisordProgram => (PredecessorKind::SupervisordProgram, w.name.clone()),
        WorkloadKind::UpstartJob => (
            PredecessorKind::UpstartJob,
            stem.strip_suffix(".conf").unwrap_or(&stem).to_string(),
        ),
        _ => (PredecessorKind::Process, w.name.clone()),
    };
    Some(Predecessor { kind, name, file })
}
