//! Ansible: playbooks (YAML lists of plays with `hosts:`), roles' tasks, and `ansible.cfg`. The
//! plan lists these so the team knows which playbooks to update for the canary hosts.

use super::facts::{Detection, Evidence, IacFinding};
use super::yaml::Doc;

pub fn config(path: &str, out: &mut Detection) {
    out.iac.push(IacFinding {
        tool: "ansible".into(),
        what: "configuration".into(),
        evidence: Evidence::new(path, 1),
    });
}

/// Returns whether the file was Ansible.
pub fn analyze(path: &str, docs: &[Doc<'_>], out: &mut Detection) -> bool {
    let in_role =
        path.contains("roles/") && (path.contains("/tasks/") || path.contains("/handlers/"));
    let playbook = docs.iter().any(|d| {
        d.value.as_array().is_some_and(|plays| {
            plays.iter().any(|p| {
                p.get("hosts").is_some() && (p.get("tasks").is_some() || p.get("roles").is_some())
            })
        })
    });
    if !(playbook || in_role) {
        return false;
    }
    let what = if playbook { "playbook" } else { "role tasks" };
    let line = docs
        .first()
        .map_or(1, |d| d.line_of(if playbook { "hosts:" } else { "name:" }));
    out.iac.push(IacFinding {
        tool: "ansible".into(),
        what: what.into(),
        evidence: Evidence::new(path, line),
    });
    true
}
