//! Existing HAProxy and nginx configurations: the load balancer a bare-metal or Compose canary
//! will split traffic with, and where it sends the default traffic (the application's port
//! when nothing else declares it).

use super::facts::{Detection, Evidence, Fact, ProxyConfig, RouterKind};

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    analyze_as(path, &name, text, out);
}

/// As [`analyze`], for text whose file is named `name` (a heredoc in a script).
pub(super) fn analyze_as(path: &str, name: &str, text: &str, out: &mut Detection) {
    let haproxy_sections = text.lines().any(|l| {
        ["frontend ", "backend ", "listen "]
            .iter()
            .any(|s| l.starts_with(s))
    });
    if name.contains("haproxy") || (name.ends_with(".cfg") && haproxy_sections) {
        if haproxy_sections {
            haproxy(path, text, out);
        }
        return;
    }
    let nginx = name.ends_with(".conf")
        && text.lines().any(|l| {
            let t = l.trim_start();
            t.starts_with("upstream ") || t.starts_with("proxy_pass ") || t.starts_with("server {")
        });
    if nginx {
        let mut servers = Vec::new();
        let mut upstreams: Vec<Vec<Fact<String>>> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let l = raw.trim();
            if l.starts_with("upstream ") {
                upstreams.push(Vec::new());
            } else if l.starts_with("server ")
                && !l.starts_with("server {")
                && !l.starts_with("server_")
            {
                if let Some(addr) = l
                    .split_whitespace()
                    .nth(1)
                    .map(|s| s.trim_end_matches(';').to_string())
                {
                    servers.push(addr.clone());
                    if let Some(u) = upstreams.last_mut() {
                        u.push(Fact::new(addr, path, i + 1));
                    }
                }
            }
        }
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
            default_servers: if upstreams.len() == 1 {
                upstreams.remove(0)
            } else {
                Vec::new()
            },
        });
    }
}

fn haproxy(path: &str, text: &str, out: &mut Detection) {
    let mut servers = Vec::new();
    // backend name → its servers; the frontend's default_backend.
    let mut backends: Vec<(String, Vec<Fact<String>>)> = Vec::new();
    let mut default_backend: Option<String> = None;
    let mut in_backend = false;
    for (i, raw) in text.lines().enumerate() {
        let mut words = raw.split_whitespace();
        let first = words.next().unwrap_or("");
        if !raw.starts_with(char::is_whitespace) {
            in_backend = matches!(first, "backend" | "listen");
            if in_backend {
                backends.push((words.next().unwrap_or("").to_string(), Vec::new()));
            }
            continue;
        }
        match first {
            "server" => {
                let addr = words.nth(1).unwrap_or("").to_string();
                servers.push(addr.clone());
                if let (true, Some((_, list))) = (in_backend, backends.last_mut()) {
                    list.push(Fact::new(addr, path, i + 1));
                }
            }
            "default_backend" if default_backend.is_none() => {
                default_backend = words.next().map(str::to_string);
            }
            _ => {}
        }
    }
    let default_servers = match &default_backend {
        Some(name) => backends
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default(),
        None if backends.len() == 1 => backends[0].1.clone(),
        None => Vec::new(),
    };
    let line = text
        .lines()
        .position(|l| l.starts_with("backend ") || l.starts_with("listen "))
        .unwrap_or(0);
    out.proxies.push(ProxyConfig {
        kind: RouterKind::Haproxy,
        evidence: Evidence::new(path, line + 1),
        servers,
        default_servers,
    });
}
