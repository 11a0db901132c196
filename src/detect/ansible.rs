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

/// Whether a YAML file holds variables Ansible gives to templates: a role's `defaults/` or
/// `vars/`, or the inventory's `group_vars/`.
pub fn is_vars_file(path: &str) -> bool {
    let p = format!("/{path}");
    p.contains("/defaults/") || p.contains("/vars/") || p.contains("/group_vars/")
}

/// Where a variables file applies: its role's directory, or everywhere (`""`) for group_vars.
pub fn vars_scope(path: &str) -> String {
    let p = format!("/{path}");
    for marker in ["/defaults/", "/vars/"] {
        if let Some(i) = p.find(marker) {
            return p[1..i.max(1)].to_string();
        }
    }
    String::new()
}

/// The role directory a template belongs to (`roles/app` for `roles/app/templates/x.j2`).
pub fn template_scope(path: &str) -> String {
    let p = format!("/{path}");
    p.find("/templates/")
        .map(|i| p[1..i.max(1)].to_string())
        .unwrap_or_default()
}

/// Top-level scalar variables of a vars file.
pub fn vars(docs: &[Doc<'_>]) -> Vec<(String, String)> {
    docs.iter()
        .filter_map(|d| d.value.as_object())
        .flat_map(|m| {
            m.iter()
                .filter_map(|(k, v)| super::yaml::scalar(v).map(|v| (k.clone(), v)))
        })
        .collect()
}
