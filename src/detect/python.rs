//! Python facts: framework, WSGI entrypoint and server, port, health endpoint, metrics library,
//! gRPC servers and Python 2 only syntax.
//!
//! These are textual signals, not an import graph: good enough to fill a plan's gaps, and each
//! comes with the line it was read from so a person can check it.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::{Evidence, Fact};
use super::validate;

/// Facts found in one file, before they are attributed to a service.
#[derive(Debug, Default, Clone)]
pub(super) struct PyFacts {
    pub framework: Option<Fact<String>>,
    pub entrypoint: Option<Fact<String>>,
    pub server: Option<Fact<String>>,
    pub port: Option<Fact<u16>>,
    pub health: Option<Fact<String>>,
    pub metrics_library: Option<Fact<String>>,
    pub grpc: Option<Evidence>,
    pub python2: Option<Evidence>,
}

impl PyFacts {
    /// Keeps the facts already known; fills the gaps from `other`.
    pub(super) fn fill_from(&mut self, other: PyFacts) {
        self.framework = self.framework.take().or(other.framework);
        self.entrypoint = self.entrypoint.take().or(other.entrypoint);
        self.server = self.server.take().or(other.server);
        self.port = self.port.take().or(other.port);
        self.health = self.health.take().or(other.health);
        self.metrics_library = self.metrics_library.take().or(other.metrics_library);
        self.grpc = self.grpc.take().or(other.grpc);
        self.python2 = self.python2.take().or(other.python2);
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

static FRAMEWORK: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
    vec![
        (re(r"(?m)^\s*(from|import)\s+django\b"), "django"),
        (
            re(r"(?m)^\s*from\s+flask\s+import\b|^\s*import\s+flask\b"),
            "flask",
        ),
        (re(r"(?m)^\s*(from|import)\s+pyramid\b"), "pyramid"),
        (re(r"(?m)^\s*(from|import)\s+tornado\b"), "tornado"),
        (
            re(r"(?m)^\s*def\s+application\s*\(\s*environ\s*,\s*start_response"),
            "wsgi",
        ),
    ]
});

static HEALTH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"["'](\^?/?(?:healthz?|health-check|healthcheck|status|ping|ready|readyz|livez?|alive)/?\$?)["']"#,
    )
});
static ROUTE_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"route\(|path\(|re_path\(|url\(|add_route\(|PATH_INFO|path_info|\(r?['\x22]/")
});
static APP_RUN_PORT: LazyLock<Regex> = LazyLock::new(|| re(r"\.run\([^)]*port\s*=\s*(\d{2,5})"));
static APP_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s+\w+\.run\([^)]*(host|port|debug)"));
static GRPC_SERVER: LazyLock<Regex> = LazyLock::new(|| re(r"\bgrpc\.server\("));
static PY2_SYNTAX: LazyLock<Regex> = LazyLock::new(|| {
    re(r#"(?m)^\s*print\s+["'\w%]|^\s*except\s+[\w.]+\s*,\s*\w+\s*:|^\s*raise\s+\w+\s*,\s*["']"#)
});
static FLASK_APP: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^(\w+)\s*=\s*Flask\("));
static DJANGO_WSGI: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^(\w+)\s*=\s*get_wsgi_application\("));
static METRICS: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
    vec![
        (
            re(r"(?m)^\s*(from|import)\s+django_prometheus\b"),
            "django-prometheus",
        ),
        (
            re(r"(?m)^\s*(from|import)\s+prometheus_flask_exporter\b"),
            "prometheus-flask-exporter",
        ),
        (
            re(r"(?m)^\s*(from|import)\s+prometheus_client\b"),
            "prometheus_client",
        ),
        (re(r"(?m)^\s*(from|import)\s+statsd\b"), "statsd"),
        (re(r"(?m)^\s*(from|import)\s+datadog\b"), "datadog"),
    ]
});

fn line_at(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

/// `ledger/wsgi.py` to `ledger.wsgi`, relative to the service directory.
fn module_of(path: &str, service_dir: &str) -> String {
    let rel = if service_dir == "." {
        path
    } else {
        path.strip_prefix(service_dir)
            .map_or(path, |p| p.trim_start_matches('/'))
    };
    rel.trim_end_matches(".py").replace('/', ".")
}

/// Cheap substring tests that rule a file out before any regex runs: most files of a large
/// codebase mention no framework, route or metrics library.
fn mentions(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

pub(super) fn python_file(path: &str, text: &str, service_dir: &str) -> PyFacts {
    let mut facts = PyFacts::default();
    let imports = text.contains("import");
    let frameworks = imports && mentions(text, &["django", "flask", "pyramid", "tornado"])
        || text.contains("start_response");
    for (pattern, name) in FRAMEWORK.iter().filter(|_| frameworks) {
        if let Some(m) = pattern.find(text) {
            facts.framework = Some(Fact::new(
                (*name).to_string(),
                path,
                line_at(text, m.start()),
            ));
            break;
        }
    }
    let metrics = imports && mentions(text, &["prometheus", "statsd", "datadog"]);
    for (pattern, name) in METRICS.iter().filter(|_| metrics) {
        if let Some(m) = pattern.find(text) {
            facts.metrics_library = Some(Fact::new(
                (*name).to_string(),
                path,
                line_at(text, m.start()),
            ));
            break;
        }
    }
    let health_words = ["health", "status", "ping", "ready", "live", "alive"];
    // Tests request health paths too; only the application's routes count.
    let name = path.rsplit('/').next().unwrap_or(path);
    let test_file = format!("/{path}").contains("/tests/")
        || format!("/{path}").contains("/test/")
        || name.starts_with("test_")
        || name.ends_with("_test.py")
        || name == "tests.py";
    // Decided once per file: most files of a large codebase mention no health word.
    let look_for_health = !test_file && mentions(text, &health_words);
    for (i, line) in text.lines().enumerate().filter(|_| look_for_health) {
        if !mentions(line, &health_words) || !ROUTE_CONTEXT.is_match(line) {
            continue;
        }
        if let Some(c) = HEALTH.captures(line) {
            let raw = c.get(1).map_or("", |m| m.as_str());
            let path_text = format!(
                "/{}",
                raw.trim_start_matches('^')
                    .trim_start_matches('/')
                    .trim_end_matches('$')
            );
            if validate::health_path(&path_text).is_ok() {
                facts.health = Some(Fact::new(path_text, path, i + 1));
                break;
            }
        }
    }
    if text.contains(".run(") {
        // Flask's built-in server: production for some teams (behind a mesh), development
        // only when the call turns the debugger on.
        let call = APP_RUN.find(text).filter(|_| text.contains("Flask("));
        let debug = call.is_some_and(|m| {
            let rest = &text[m.start()..];
            let end = rest.find(')').unwrap_or(rest.len());
            rest[..end].replace(' ', "").contains("debug=True")
        });
        let server = if debug {
            "app.run with debug=True (development server)"
        } else {
            "app.run (Flask's built-in server)"
        };
        if let Some(c) = APP_RUN_PORT.captures(text) {
            let m = c.get(1).expect("group 1");
            if let Ok(port) = validate::port(m.as_str()) {
                facts.port = Some(Fact::new(port, path, line_at(text, m.start())));
                facts.server = Some(Fact::new(server.into(), path, line_at(text, m.start())));
            }
        } else if let Some(m) = call {
            facts.server = Some(Fact::new(server.into(), path, line_at(text, m.start())));
        }
    }
    if text.contains("grpc") {
        if let Some(m) = GRPC_SERVER.find(text) {
            facts.grpc = Some(Evidence::new(path, line_at(text, m.start())));
        }
    }
    if text.contains("print") || text.contains("except") || text.contains("raise") {
        if let Some(m) = PY2_SYNTAX.find(text) {
            facts.python2 = Some(Evidence::new(path, line_at(text, m.start())));
        }
    }
    let module = module_of(path, service_dir);
    if let Some(c) = DJANGO_WSGI
        .captures(text)
        .filter(|_| text.contains("get_wsgi_application"))
    {
        let m = c.get(1).expect("group 1");
        facts.entrypoint = Some(Fact::new(
            format!("{module}:{}", m.as_str()),
            path,
            line_at(text, m.start()),
        ));
    } else if let Some(c) = FLASK_APP.captures(text).filter(|_| text.contains("Flask(")) {
        let m = c.get(1).expect("group 1");
        facts.entrypoint = Some(Fact::new(
            format!("{module}:{}", m.as_str()),
            path,
            line_at(text, m.start()),
        ));
    } else if facts.framework.as_ref().is_some_and(|f| f.value == "wsgi") {
        let line = facts
            .framework
            .as_ref()
            .map_or(1, |f| f.evidence.line as usize);
        facts.entrypoint = Some(Fact::new(format!("{module}:application"), path, line));
    }
    facts
}

/// Whether a command runs a Python program canaryc recognises (a WSGI server, a worker,
/// `python x.py`).
pub(super) fn command_runs_python(command: &str) -> bool {
    super::command::runs_python(&super::command::unwrap(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flask_app_with_health_route() {
        let text = "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/healthz')\ndef health():\n    return 'ok'\n\nif __name__ == '__main__':\n    app.run(host='0.0.0.0', port=5000)\n";
        let f = python_file("shop/app.py", text, "shop");
        assert_eq!(f.framework.unwrap().value, "flask");
        assert_eq!(f.entrypoint.unwrap().value, "app:app");
        assert_eq!(f.health.as_ref().unwrap().value, "/healthz");
        assert_eq!(f.health.unwrap().evidence.line, 4);
        assert_eq!(f.port.unwrap().value, 5000);
    }

    #[test]
    fn django_url_patterns() {
        let text = "from django.urls import path\nurlpatterns = [\n    path('healthz/', views.health),\n]\n";
        // Django serves `path('healthz/')` at /healthz/ (the slash is part of the route).
        assert_eq!(
            python_file("ledger/urls.py", text, ".")
                .health
                .unwrap()
                .value,
            "/healthz/"
        );
    }
}
