//! Server configurations, where ports and entry points are declared outside any command line:
//! paste `[server:main]` sections (Pylons, Pyramid, `gunicorn --paste`), gunicorn config files
//! (`bind = ...`), uWSGI `[uwsgi]` ini files, and Apache virtual hosts that run a WSGI
//! application through mod_wsgi. Templates (`*.j2`) are read with the variables Ansible would
//! give them, when the role's defaults say.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::{Detection, Evidence, Fact, ServerConfig, ServerKind};
use super::{ini, validate};

/// Variables a template refers to (`{{ keystone_service_port }}`), from Ansible defaults.
pub(super) type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

static TEMPLATE_VAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(\|[^}]*)?\}\}").expect("valid regex")
});

/// `{{ name }}` replaced by the variable's value, as often as it resolves (nested defaults).
pub(super) fn render(text: &str, vars: Vars<'_>) -> String {
    let mut out = text.to_string();
    for _ in 0..4 {
        if !out.contains("{{") {
            break;
        }
        let next = TEMPLATE_VAR
            .replace_all(&out, |c: &regex::Captures<'_>| {
                vars(&c[1]).unwrap_or_else(|| c[0].to_string())
            })
            .into_owned();
        if next == out {
            break;
        }
        out = next;
    }
    out
}

fn port_at(raw: &str, evidence: &Evidence, what: &str, out: &mut Detection) -> Option<Fact<u16>> {
    if raw.contains("{{") || raw.contains("%(") || raw.contains('$') {
        return None;
    }
    validate::checked(raw, evidence, what, validate::port, &mut out.warnings)
        .map(|p| Fact::at(p, evidence))
}

/// A paste ini (`[server:main]`, `[app:main]`); `%(name)s` resolved from `[DEFAULT]`.
pub(super) fn paste(path: &str, text: &str, out: &mut Detection) {
    let sections = ini::sections(text);
    let defaults: Vec<(&str, String)> = sections
        .iter()
        .filter(|s| s.name.eq_ignore_ascii_case("DEFAULT"))
        .flat_map(|s| s.entries.iter().map(|(k, v, _)| (*k, v.clone())))
        .collect();
    let interpolate = |value: &str, own: &ini::Section<'_>| -> String {
        let mut v = value.to_string();
        for _ in 0..4 {
            let Some(start) = v.find("%(") else { break };
            let Some(end) = v[start..].find(")s") else {
                break;
            };
            let name = &v[start + 2..start + end];
            let Some(found) = own.get(name).map(str::to_string).or_else(|| {
                defaults
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            }) else {
                break;
            };
            v = format!("{}{}{}", &v[..start], found, &v[start + end + 2..]);
        }
        v
    };
    let app = sections
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case("app:main") || s.name.starts_with("app:"))
        .and_then(|s| {
            s.get("use")
                .map(|u| Fact::new(format!("paste {u}"), path, s.line_of("use")))
                .or_else(|| {
                    s.get("paste.app_factory")
                        .map(|f| Fact::new(f.to_string(), path, s.line_of("paste.app_factory")))
                })
        });
    for s in sections.iter().filter(|s| s.name.starts_with("server:")) {
        let evidence = Evidence::new(path, s.line);
        let port = s.get("port").and_then(|p| {
            let raw = interpolate(p, s);
            port_at(
                &raw,
                &Evidence::new(path, s.line_of("port")),
                "paste port",
                out,
            )
        });
        let port = port.or_else(|| {
            s.get("bind").and_then(|b| {
                let raw = interpolate(b, s);
                let p = raw.rsplit(':').next().unwrap_or("").to_string();
                port_at(
                    &p,
                    &Evidence::new(path, s.line_of("bind")),
                    "paste bind port",
                    out,
                )
            })
        });
        out.servers.push(ServerConfig {
            kind: ServerKind::Paste,
            name: s.name.strip_prefix("server:").map(str::to_string),
            server: s.get("use").map(str::to_string),
            port,
            entrypoint: app.clone(),
            python2: false,
            serve_options: Vec::new(),
            user: None,
            evidence,
        });
    }
}

static BIND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?m)^bind\s*=\s*(.+)$"#).expect("valid regex"));
static DIGITS_AFTER_COLON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#":(\d{2,5})\b"#).expect("valid regex"));
static GETENV_DEFAULT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:getenv|environ\.get)\(\s*['"][A-Z_]*PORT[A-Z_]*['"]\s*,\s*['"]?(\d{2,5})"#)
        .expect("valid regex")
});

/// Whether a Python file is a gunicorn config: a top-level `bind =` next to other settings.
pub(super) fn is_gunicorn_config(path: &str, text: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    text.contains("bind")
        && BIND.is_match(text)
        && (name.contains("gunicorn")
            || ["workers", "worker_class", "timeout", "accesslog"]
                .iter()
                .any(|k| text.lines().any(|l| l.starts_with(k))))
}

/// A gunicorn config file: the port in `bind = ...`, or the default of `getenv('PORT', N)`.
pub(super) fn gunicorn(path: &str, text: &str, out: &mut Detection) {
    let Some(c) = BIND.captures(text) else { return };
    let m = c.get(1).expect("group 1");
    let line = text[..m.start()].matches('\n').count() + 1;
    let value = m.as_str();
    let raw = DIGITS_AFTER_COLON
        .captures(value)
        .or_else(|| GETENV_DEFAULT.captures(value))
        .or_else(|| GETENV_DEFAULT.captures(text))
        .map(|c| c[1].to_string());
    let evidence = Evidence::new(path, line);
    let port = raw.and_then(|r| port_at(&r, &evidence, "gunicorn bind port", out));
    out.servers.push(ServerConfig {
        kind: ServerKind::Gunicorn,
        name: None,
        server: Some("gunicorn".into()),
        port,
        entrypoint: None,
        python2: false,
        serve_options: Vec::new(),
        user: None,
        evidence,
    });
}

/// uWSGI ini files: `http = :8000`, `module = app:app`.
pub(super) fn uwsgi(path: &str, text: &str, vars: Vars<'_>, out: &mut Detection) {
    for s in ini::sections(text).iter().filter(|s| s.name == "uwsgi") {
        let mut port = None;
        let mut entrypoint = None;
        for (key, value, line) in &s.entries {
            let value = render(value, vars);
            let evidence = Evidence::new(path, *line);
            match *key {
                "http" | "http-socket" | "socket" | "uwsgi-socket"
                    if port.is_none() && !value.contains(".sock") =>
                {
                    let raw = value.rsplit(':').next().unwrap_or("").to_string();
                    port = port_at(&raw, &evidence, "uWSGI port", out);
                }
                "module" | "wsgi-file" | "wsgi" | "mount" => {
                    entrypoint = Some(Fact::at(value.clone(), &evidence));
                }
                _ => {}
            }
        }
        out.servers.push(ServerConfig {
            kind: ServerKind::Uwsgi,
            name: None,
            server: Some("uwsgi".into()),
            port,
            entrypoint,
            python2: text.contains("python2")
                || text.contains("plugin = python\n")
                || text.contains("plugins = python\n"),
            serve_options: Vec::new(),
            user: None,
            evidence: Evidence::new(path, s.line),
        });
    }
}

/// `processes=5 threads=5` of a `WSGIDaemonProcess` as `--processes 5 --threads 5`; other
/// options (user, home, python-home, display-name) are the host's, not the server's. When
/// either is not a number canaryc can read (a template of the host's CPU count, as
/// openstack-ansible's keystone role has), neither is passed on: `--threads 1` without its
/// `--processes` would leave one process of one thread, less than mod_wsgi-express's default.
fn daemon_flags<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut flags = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        if !matches!(key, "processes" | "threads") {
            continue;
        }
        if !value.parse::<u16>().is_ok_and(|n| (1..=1024).contains(&n)) {
            return Vec::new();
        }
        flags.extend([format!("--{key}"), value.to_string()]);
    }
    flags
}

/// A `WSGIDaemonProcess` of a virtual host: its name and line, whether it names Python 2, and
/// the user it runs as.
struct Daemon {
    name: String,
    line: usize,
    python2: bool,
    user: Option<String>,
}

/// The daemon's `user=`, when it names a user as it is (not a template of the host's).
fn daemon_user(options: &[&str]) -> Option<String> {
    options
        .iter()
        .find_map(|word| word.strip_prefix("user="))
        .map(|user| user.trim_matches('"'))
        .filter(|user| validate::name(user).is_ok())
        .map(str::to_string)
}

/// A path to pass on as it is: no template placeholder (`@DJANGO_ROOT@`, `${APP}`, `{{ x }}`),
/// no quoting or shell character, nothing a unit's ExecStart would read differently.
fn is_plain_path(path: &str) -> bool {
    path.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
}

/// Whether an Apache config runs a WSGI application.
pub(super) fn is_mod_wsgi(text: &str) -> bool {
    text.contains("WSGIScriptAlias") || text.contains("WSGIDaemonProcess")
}

/// Apache virtual hosts with `WSGIScriptAlias`: one server each, named after its
/// `WSGIDaemonProcess` (or `WSGIProcessGroup`, `ServerName`), on the `<VirtualHost>`'s port.
pub(super) fn mod_wsgi(path: &str, text: &str, vars: Vars<'_>, out: &mut Detection) {
    let rendered = render(text, vars);
    let mut listen: Option<(String, usize)> = None;
    let mut host: Option<(String, usize)> = None;
    let mut daemon: Option<Daemon> = None;
    // The daemon's `processes=` and `threads=` as mod_wsgi-express flags, and the virtual
    // host's static `Alias`es as `--url-alias`: without them the copies would run with
    // mod_wsgi-express's single process and answer /static/ with the application.
    let mut daemon_options: Vec<String> = Vec::new();
    let mut aliases: Vec<String> = Vec::new();
    let mut group: Option<String> = None;
    let mut server_name: Option<String> = None;
    let mut script: Option<(String, usize)> = None;
    let flush = |host: &mut Option<(String, usize)>,
                 daemon: &Option<Daemon>,
                 options: Vec<String>,
                 group: &mut Option<String>,
                 server_name: &mut Option<String>,
                 script: &mut Option<(String, usize)>,
                 listen: &Option<(String, usize)>,
                 out: &mut Detection| {
        let Some((entry, entry_line)) = script.take() else {
            *group = None;
            *server_name = None;
            *host = None;
            return;
        };
        let (port_text, port_line) = host.take().or_else(|| listen.clone()).unwrap_or_default();
        let port = (!port_text.is_empty())
            .then(|| {
                port_at(
                    &port_text,
                    &Evidence::new(path, port_line),
                    "mod_wsgi port",
                    out,
                )
            })
            .flatten();
        let name = daemon
            .as_ref()
            .map(|d| d.name.clone())
            .or_else(|| group.take())
            .or_else(|| server_name.take())
            .filter(|n| validate::name(n).is_ok());
        out.servers.push(ServerConfig {
            kind: ServerKind::ModWsgi,
            name,
            server: Some("mod_wsgi".into()),
            port,
            entrypoint: Some(Fact::new(entry, path, entry_line)),
            python2: daemon.as_ref().is_some_and(|d| d.python2),
            serve_options: options,
            user: daemon.as_ref().and_then(|d| d.user.clone()),
            evidence: Evidence::new(path, daemon.as_ref().map_or(entry_line, |d| d.line)),
        });
    };
    for (i, raw) in rendered.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or("");
        match directive.to_ascii_lowercase().as_str() {
            "listen" => {
                if let Some(w) = words.next() {
                    listen = Some((w.rsplit(':').next().unwrap_or(w).to_string(), n));
                }
            }
            "<virtualhost" => {
                let addr = words.next().unwrap_or("").trim_end_matches('>');
                host = addr.rsplit_once(':').map(|(_, p)| (p.to_string(), n));
            }
            "</virtualhost>" => {
                let options = daemon_options.iter().chain(&aliases).cloned().collect();
                aliases.clear();
                flush(
                    &mut host,
                    &daemon,
                    options,
                    &mut group,
                    &mut server_name,
                    &mut script,
                    &listen,
                    out,
                );
            }
            "wsgidaemonprocess" => {
                if let Some(name) = words.next() {
                    let options: Vec<&str> = words.collect();
                    daemon = Some(Daemon {
                        name: name.to_string(),
                        line: n,
                        python2: line.contains("python2"),
                        user: daemon_user(&options),
                    });
                    daemon_options = daemon_flags(options.into_iter());
                }
            }
            "wsgiprocessgroup" => group = words.next().map(str::to_string),
            "alias" => {
                let url = words.next().map(|w| w.trim_matches('"'));
                let dir = words.next().map(|w| w.trim_matches('"'));
                if let (Some(url), Some(dir)) = (url, dir)
                    && url.starts_with('/')
                    && is_plain_path(url)
                    && dir.starts_with('/')
                    && is_plain_path(dir)
                {
                    aliases.extend(["--url-alias".into(), url.into(), dir.into()]);
                }
            }
            "servername" => server_name = words.next().map(str::to_string),
            "wsgiscriptalias" => {
                let _mount = words.next();
                if let Some(s) = words.next() {
                    script = Some((s.to_string(), n));
                }
            }
            _ => {}
        }
    }
    // A config without `<VirtualHost>` (an include of the host's): its aliases are its own.
    let options = daemon_options.into_iter().chain(aliases).collect();
    flush(
        &mut host,
        &daemon,
        options,
        &mut group,
        &mut server_name,
        &mut script,
        &listen,
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_ports_interpolate_from_defaults() {
        let mut out = Detection::default();
        paste(
            "production.ini",
            "[DEFAULT]\nhttp_port = 6543\n\n[server:main]\nuse = egg:waitress#main\nhost = 0.0.0.0\nport = %(http_port)s\n\n[app:main]\nuse = egg:billing\n",
            &mut out,
        );
        let s = &out.servers[0];
        assert_eq!(s.port.as_ref().unwrap().value, 6543);
        assert_eq!(s.port.as_ref().unwrap().evidence.line, 7);
        assert_eq!(s.entrypoint.as_ref().unwrap().value, "paste egg:billing");
        let mut out = Detection::default();
        paste(
            "example.ini",
            "[server:main]\nuse = egg:Paste#http\nport = %(http_port)s\n",
            &mut out,
        );
        assert!(
            out.servers[0].port.is_none(),
            "an unresolved port is unknown, not 8000"
        );
    }

    #[test]
    fn gunicorn_config_defaults() {
        let mut out = Detection::default();
        let text = "from os import getenv\n\nbind = '0.0.0.0:{}'.format(getenv('PORT', 8000))\nworkers = 2\n";
        assert!(is_gunicorn_config("wsgi/config.py", text));
        gunicorn("wsgi/config.py", text, &mut out);
        assert_eq!(out.servers[0].port.as_ref().unwrap().value, 8000);
        assert_eq!(out.servers[0].port.as_ref().unwrap().evidence.line, 3);
    }

    #[test]
    fn mod_wsgi_with_ansible_variables() {
        let vars = |n: &str| (n == "app_port").then(|| "5000".to_string());
        let mut out = Detection::default();
        mod_wsgi(
            "roles/app/templates/app-httpd.conf.j2",
            "Listen {{ app_port }}\n<VirtualHost *:{{ app_port }}>\n    WSGIDaemonProcess app-web user=app processes=2 python-home=/srv/app/venv/lib/python2.7\n    WSGIProcessGroup app-web\n    WSGIScriptAlias / /srv/app/app.wsgi\n</VirtualHost>\n",
            &vars,
            &mut out,
        );
        let s = &out.servers[0];
        assert_eq!(s.name.as_deref(), Some("app-web"));
        assert_eq!(s.port.as_ref().unwrap().value, 5000);
        assert!(s.python2);
        assert_eq!(s.entrypoint.as_ref().unwrap().value, "/srv/app/app.wsgi");
    }

    #[test]
    fn mod_wsgi_daemon_size_and_static_aliases_become_server_options() {
        let mut out = Detection::default();
        mod_wsgi(
            "examples/vhost.conf",
            "<VirtualHost *:80>\n    WSGIDaemonProcess graphite processes=5 threads=7 display-name='%{GROUP}' inactivity-timeout=120\n    WSGIScriptAlias / /opt/graphite/conf/graphite.wsgi\n    Alias /static/ \"/opt/graphite/static/\"\n    Alias /media/ \"@DJANGO_ROOT@/contrib/admin/media/\"\n    Alias /x/ relative/dir\n</VirtualHost>\n",
            &|_: &str| None,
            &mut out,
        );
        // The placeholder and the relative path are not passed on: the copies would not start.
        assert_eq!(
            out.servers[0].serve_options,
            [
                "--processes",
                "5",
                "--threads",
                "7",
                "--url-alias",
                "/static/",
                "/opt/graphite/static/"
            ]
        );
        for unreadable in ["processes=0", "threads=abc", "processes=99999"] {
            assert!(daemon_flags([unreadable, "threads=4"].into_iter()).is_empty());
            assert!(daemon_flags(["processes=4", unreadable].into_iter()).is_empty());
        }
        assert_eq!(daemon_flags(["threads=4"].into_iter()), ["--threads", "4"]);
    }
}
