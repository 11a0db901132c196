//! Existing HAProxy and nginx configurations: the load balancer a bare-metal or Compose canary
//! will split traffic with.

use super::facts::{Detection, Evidence, ProxyConfig, RouterKind};

pub fn analyze(path: &str, text: &str, out: &mut Detection) {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let haproxy_sections = text.lines().any(|l| {
        ["frontend ", "backend ", "listen "]
            .iter()
            .any(|s| l.starts_with(s))
    });
    if name.contains("haproxy") || (name.ends_with(".cfg") && haproxy_sections) {
        let servers = text
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some("server")).then(|| words.nth(1).unwrap_or("").to_string())
            })
            .collect();
        if haproxy_sections {
            let line = text
                .lines()
                .position(|l| l.starts_with("backend ") || l.starts_with("listen "))
                .unwrap_or(0);
            out.proxies.push(ProxyConfig {
                kind: RouterKind::Haproxy,
                evidence: Evidence::new(path, line + 1),
                servers,
            });
        }
        return;
    }
    let nginx = name.ends_with(".conf")
        && text.lines().any(|l| {
            let t = l.trim_start();
            t.starts_with("upstream ") || t.starts_with("proxy_pass ") || t.starts_with("server {")
        });
    if nginx {
        let servers = text
            .lines()
            .map(str::trim)
            .filter(|l| {
                l.starts_with("server ") && !l.starts_with("server {") && !l.starts_with("server_")
            })
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .map(|s| s.trim_end_matches(';').to_string())
            })
            .collect();
        let line = text
            .lines()
            .position(|l| {
                l.trim_start().starts_with("upstream ") || l.trim_start().starts_with("proxy_pass")
            })
            .unwrap_or(0);
        out.proxies.push(ProxyConfig {
            kind: RouterKind::Nginx,
            evidence: Evidence::new(path, line + 1),
            servers,
        });
    }
}
