//! Ansible: playbooks (YAML lists of plays with `hosts:`), roles' tasks, and `ansible.cfg`. The
//! plan lists these so the team knows which playbooks to update for the canary hosts.

use super::facts::{Credential, Detection, Evidence, IacFinding};
use super::validate;
use super::yaml::Doc;

pub(super) fn config(path: &str, out: &mut Detection) {
    out.iac.push(IacFinding {
        tool: "ansible".into(),
        what: "configuration".into(),
        evidence: Evidence::new(path, 1),
    });
}

/// Returns whether the file was Ansible.
pub(super) fn analyze(path: &str, docs: &[Doc<'_>], out: &mut Detection) -> bool {
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
pub(super) fn is_vars_file(path: &str) -> bool {
    let p = format!("/{path}");
    p.contains("/defaults/") || p.contains("/vars/") || p.contains("/group_vars/")
}

/// Where a variables file applies: its role's directory, or everywhere (`""`) for group_vars.
pub(super) fn vars_scope(path: &str) -> String {
    let p = format!("/{path}");
    for marker in ["/defaults/", "/vars/"] {
        if let Some(i) = p.find(marker) {
            return p[1..i.max(1)].to_string();
        }
    }
    String::new()
}

/// The role directory a template belongs to (`roles/app` for `roles/app/templates/x.j2`).
pub(super) fn template_scope(path: &str) -> String {
    let p = format!("/{path}");
    p.find("/templates/")
        .map(|i| p[1..i.max(1)].to_string())
        .unwrap_or_default()
}

/// Literal credentials among a vars file's top-level variables (`db_password: hunter2`): a
/// Jinja reference (`"{{ vault_db_password }}"`) or a `!vault` value is not one.
pub(super) fn credentials(path: &str, docs: &[Doc<'_>], out: &mut Detection) {
    for doc in docs {
        let Some(map) = doc.value.as_object() else {
            continue;
        };
        for (key, value) in map {
            // Strings only: `api_token_enabled: true` is a switch, not a secret.
            let Some(text) = value.as_str() else {
                continue;
            };
            // A `!vault` value reaches here as its ciphertext.
            let vaulted = text.trim_start().starts_with("$ANSIBLE_VAULT");
            // `keystone_ssl_key: /etc/ssl/private/keystone.key` names a file on the host.
            let a_path = text.starts_with('/') && !text.contains(char::is_whitespace);
            if validate::secret_setting_name(key) && validate::literal(text) && !vaulted && !a_path
            {
                out.credentials.push(Credential {
                    evidence: Evidence::new(path, doc.line_of(&format!("{key}:"))),
                    what: format!("Ansible variable {key}"),
                    fix: validate::FIX_ANSIBLE.into(),
                });
            }
        }
    }
}

/// Top-level scalar variables of a vars file.
pub(super) fn vars(docs: &[Doc<'_>]) -> Vec<(String, String)> {
    docs.iter()
        .filter_map(|d| d.value.as_object())
        .flat_map(|m| {
            m.iter()
                .filter_map(|(k, v)| super::yaml::scalar(v).map(|v| (k.clone(), v)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_secrets_in_vars_files_are_credentials_and_references_are_not() {
        let text = "keystone_admin_password: hunter2\nkeystone_db_password: \"{{ vault_db }}\"\nkeystone_token_enabled: true\nkeystone_token_driver: memcache\nkeystone_ssl_key: /etc/ssl/private/keystone.key\nkeystone_service_port: 5000\nkeystone_auth_token: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3631\n";
        let (docs, _) = super::super::yaml::documents("roles/k/defaults/main.yml", text);
        let mut out = Detection::default();
        credentials("roles/k/defaults/main.yml", &docs, &mut out);
        let found: Vec<(&str, u32)> = out
            .credentials
            .iter()
            .map(|c| (c.what.as_str(), c.evidence.line))
            .collect();
        assert_eq!(found, vec![("Ansible variable keystone_admin_password", 1)]);
    }
}
