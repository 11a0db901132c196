//! HAProxy's runtime API, as text: the commands promote and rollback send, and the parse of
//! `show servers state`. Facts from shared/reference/canary-systems.md §4.4: weights are
//! 0–256 and relative; a change is lost on reload unless saved for `load-server-state-from-file`.

/// One server's runtime state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    pub weight: u32,
    /// `srv_admin_state`: bit 0 set means forced maintenance.
    pub admin_state: u32,
}

impl Server {
    pub fn in_maintenance(self) -> bool {
        self.admin_state & 1 == 1
    }
}

/// `(py2, py3)` weights out of `total` for a py3 share in percent (the same rounding as the
/// generated config and scripts: a share above zero never rounds to nothing).
pub fn weights(traffic: f64, total: u32) -> (u32, u32) {
    crate::ir::weights(traffic, total)
}

/// The commands that give py3 `traffic` percent of `service`'s new requests. They leave a py3
/// in maintenance there: only `--restart` (`ready`) undoes a rollback.
pub fn set_stage(service: &str, traffic: f64, total: u32) -> Vec<String> {
    let (py2, py3) = weights(traffic, total);
    vec![
        format!("set server {service}/py2 weight {py2}"),
        format!("set server {service}/py3 weight {py3}"),
    ]
}

/// Takes py3 out of maintenance (after a rollback, on `--restart`).
pub fn ready(service: &str) -> String {
    format!("set server {service}/py3 state ready")
}

/// The commands that send every request of `service` back to py2: py3 to weight 0 and
/// maintenance, so users pinned to py3 by cookie are redispatched too.
pub fn rollback(service: &str, total: u32) -> Vec<String> {
    vec![
        format!("set server {service}/py2 state ready"),
        format!("set server {service}/py2 weight {total}"),
        format!("set server {service}/py3 weight 0"),
        format!("set server {service}/py3 state maint"),
    ]
}

/// `name -> Server` for one backend, from `show servers state BACKEND`.
pub fn servers(text: &str, backend: &str) -> Vec<(String, Server)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...
        if parts.len() > 7 && parts[1] == backend && !line.starts_with('#') {
            let (Ok(admin_state), Ok(weight)) = (parts[6].parse(), parts[7].parse()) else {
                continue;
            };
            out.push((
                parts[3].to_string(),
                Server {
                    weight,
                    admin_state,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n3 shop 1 py2 127.0.0.1 2 0 230 230 12 6 3 4 6 0 0 0 - 18081 -\n3 shop 2 py3 127.0.0.1 2 1 0 26 12 6 3 4 6 0 0 0 - 18082 -\n";

    #[test]
    fn parses_weights_and_maintenance() {
        let s = servers(STATE, "shop");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0, "py2");
        assert_eq!(s[0].1.weight, 230);
        assert!(!s[0].1.in_maintenance());
        assert_eq!(s[1].1.weight, 0);
        assert!(s[1].1.in_maintenance());
        assert!(servers(STATE, "other").is_empty());
    }

    #[test]
    fn stage_weights_round_like_the_scripts() {
        assert_eq!(
            set_stage("shop", 10.0, 256),
            vec![
                "set server shop/py2 weight 230",
                "set server shop/py3 weight 26"
            ]
        );
        assert_eq!(weights(0.1, 256), (255, 1));
    }
}
