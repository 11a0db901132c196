//! Python facts: framework, WSGI entrypoint and server, port, health endpoint, metrics library,
//! gRPC servers and Python 2 only syntax.
//!
//! These are textual signals, not an import graph: good enough to fill a plan's gaps, and each
//! comes with the line it was read from so a person can check it.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::{Evidence, Fact};
use super::scan::{Ascii, Core, Key, LineCounter, LineStart, Present, WordSet, is_space, is_word};
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

/// Which facts a file is still searched for: a fact its code directory already has from an
/// earlier file is kept over this file's ([`PyFacts::fill_from`]), so it is not searched again
/// (issue 15: on a large codebase most files would otherwise be scanned for facts the first few
/// files already gave). A group is searched when any fact it gives is wanted, and then gives
/// all of them as before, so what is kept is unchanged.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted {
    pub framework: bool,
    pub entrypoint: bool,
    /// `server` and `port` (one search gives both).
    pub server: bool,
    pub health: bool,
    pub metrics_library: bool,
    pub grpc: bool,
    pub python2: bool,
}

impl Wanted {
    #[cfg(test)]
    pub(super) const ALL: Wanted = Wanted {
        framework: true,
        entrypoint: true,
        server: true,
        health: true,
        metrics_library: true,
        grpc: true,
        python2: true,
    };

    /// The facts neither `a` nor `b` has yet.
    pub(super) fn missing_from(a: Option<&PyFacts>, b: Option<&PyFacts>) -> Wanted {
        let none = |f: fn(&PyFacts) -> bool| !a.is_some_and(f) && !b.is_some_and(f);
        Wanted {
            framework: none(|k| k.framework.is_some()),
            entrypoint: none(|k| k.entrypoint.is_some()),
            server: none(|k| k.server.is_some()) || none(|k| k.port.is_some()),
            health: none(|k| k.health.is_some()),
            metrics_library: none(|k| k.metrics_library.is_some()),
            grpc: none(|k| k.grpc.is_some()),
            python2: none(|k| k.python2.is_some()),
        }
    }
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

/// Patterns `(?m)^\s*CORE`, searched by their keywords (see [`LineStart`]).
fn line_start(core: &str, keys: &'static [Key]) -> LineStart {
    LineStart::new(core, keys)
}

/// `(from|import)\s+NAME`.
macro_rules! import_of {
    ($name:literal) => {
        &[("from", &[$name]), ("import", &[$name])]
    };
}

/// `(?m)^\s*(from|import)\s+NAME\b`, decided by hand ([`LineStart::import_of`]).
macro_rules! import_line {
    ($name:literal) => {
        LineStart::import_of(
            concat!(r"(from|import)\s+", $name, r"\b"),
            import_of!($name),
            &[$name],
        )
    };
}

static FRAMEWORK: LazyLock<Vec<(LineStart, &str)>> = LazyLock::new(|| {
    vec![
        // (?m)^\s*(from|import)\s+django\b
        (import_line!("django"), "django"),
        // (?m)^\s*from\s+flask\s+import\b|^\s*import\s+flask\b
        (
            line_start(
                r"from\s+flask\s+import\b|import\s+flask\b",
                import_of!("flask"),
            ),
            "flask",
        ),
        (import_line!("pyramid"), "pyramid"),
        (import_line!("tornado"), "tornado"),
        (
            line_start(
                r"def\s+application\s*\(\s*environ\s*,\s*start_response",
                &[("def", &["application"])],
            ),
            "wsgi",
        ),
    ]
});

static HEALTH: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r#"["'](\^?/?(?:healthz?|health-check|healthcheck|status|ping|ready|readyz|livez?|alive)/?\$?)["']"#,
    )
});
/// The words a line must mention to be read for a health route.
const HEALTH_WORDS: [&str; 6] = ["health", "status", "ping", "ready", "live", "alive"];
static HEALTH_WORD: LazyLock<Regex> = LazyLock::new(|| re(&HEALTH_WORDS.join("|")));
static ROUTE_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"route\(|path\(|re_path\(|url\(|add_route\(|PATH_INFO|path_info|\(r?['\x22]/")
});
static APP_RUN_PORT: LazyLock<Regex> = LazyLock::new(|| re(r"\.run\([^)]*port\s*=\s*(\d{2,5})"));
static APP_RUN: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^\s+\w+\.run\([^)]*(host|port|debug)"));
static GRPC_SERVER: LazyLock<Regex> = LazyLock::new(|| re(r"\bgrpc\.server\("));
// (?m)^\s*print\s+["'\w%]|^\s*except\s+[\w.]+\s*,\s*\w+\s*:|^\s*raise\s+\w+\s*,\s*["']
static PY2_SYNTAX: LazyLock<LineStart> = LazyLock::new(|| {
    LineStart::with_matcher(
        r#"print\s+["'\w%]|except\s+[\w.]+\s*,\s*\w+\s*:|raise\s+\w+\s*,\s*["']"#,
        &[("print", &[]), ("except", &[]), ("raise", &[])],
        py2_syntax_at,
    )
});

/// The keywords [`PY2_SYNTAX`] starts with, each searched for with a searcher built once: a
/// `str::contains` sets one up per call, and three per file were a twentieth of detecting a
/// tree of small modules (issue 15).
static PY2_KEYWORDS: LazyLock<[memchr::memmem::Finder<'static>; 3]> = LazyLock::new(|| {
    ["print", "except", "raise"].map(|k| memchr::memmem::Finder::new(k.as_bytes()))
});

/// [`PY2_SYNTAX`]'s CORE at the start of `s`, decided over ASCII: compiling its regex (four
/// Unicode `\w`, 9.1M instructions) was 5% of detecting a 2,000-module Python tree, for the
/// first file with a `print` (issue 15). Every part is a run of one class then a character
/// outside it, and the three branches start with different keywords.
fn py2_syntax_at(s: &[u8]) -> Core {
    let mut c = Ascii { s, i: 0 };
    let quote = |b: u8| b == b'"' || b == b'\'';
    let result = if s.starts_with(b"print") {
        c.i = 5;
        c.run(is_space, 1)
            .and_then(|()| c.one(|b| matches!(b, b'"' | b'\'' | b'%') || is_word(b)))
    } else if s.starts_with(b"except") {
        c.i = 6;
        c.run(is_space, 1)
            .and_then(|()| c.run(|b| is_word(b) || b == b'.', 1))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.one(|b| b == b','))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.run(is_word, 1))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.one(|b| b == b':'))
    } else if s.starts_with(b"raise") {
        c.i = 5;
        c.run(is_space, 1)
            .and_then(|()| c.run(is_word, 1))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.one(|b| b == b','))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.one(quote))
    } else {
        return Core::NoMatch;
    };
    c.core(result)
}
static FLASK_APP: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^(\w+)\s*=\s*Flask\("));
static DJANGO_WSGI: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^(\w+)\s*=\s*get_wsgi_application\("));

/// Group 1 of the first match of `(?m)^(\w+)\s*=\s*CALL` (`full`, CALL the literal `call`),
/// decided by hand over ASCII from each occurrence of `call` back to a line start; the regex
/// decides a text where a character that is not ASCII is in the way. (Compiling that regex,
/// with Unicode `\w` and `\s`, cost 3.4M instructions, for the one `wsgi.py` of a codebase.)
/// The occurrences are tried in order: a match ends with its call, and the text between its
/// start and its call (a word, spaces, `=`) holds no other call, so the first occurrence with
/// a match has the leftmost one.
fn assignment_of(text: &str, call: &str, full: &LazyLock<Regex>) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    for c in memchr::memmem::find_iter(b, call.as_bytes()) {
        match assigned_at(b, c) {
            Core::Match(start) => {
                // The name ends where the spaces before `=` start.
                let mut end = start;
                while end < b.len() && is_word(b[end]) {
                    end += 1;
                }
                return Some((start, end));
            }
            Core::NoMatch => {}
            Core::Unsure => {
                let m = full.captures(text)?.get(1)?;
                return Some((m.start(), m.end()));
            }
        }
    }
    None
}

/// Whether `^(\w+)\s*=\s*` ends at `c`: `Match(start of the name)`.
fn assigned_at(b: &[u8], c: usize) -> Core {
    let mut i = c;
    while i > 0 && is_space(b[i - 1]) {
        i -= 1;
    }
    match i.checked_sub(1).map(|j| b[j]) {
        Some(b'=') => i -= 1,
        Some(x) if !x.is_ascii() => return Core::Unsure,
        _ => return Core::NoMatch,
    }
    while i > 0 && is_space(b[i - 1]) {
        i -= 1;
    }
    let end = i;
    while i > 0 && is_word(b[i - 1]) {
        i -= 1;
    }
    match i.checked_sub(1).map(|j| b[j]) {
        Some(x) if !x.is_ascii() => Core::Unsure,
        _ if i == end => Core::NoMatch,
        None | Some(b'\n') => Core::Match(i),
        Some(_) => Core::NoMatch,
    }
}
static METRICS: LazyLock<Vec<(LineStart, &str)>> = LazyLock::new(|| {
    vec![
        (import_line!("django_prometheus"), "django-prometheus"),
        (
            import_line!("prometheus_flask_exporter"),
            "prometheus-flask-exporter",
        ),
        (import_line!("prometheus_client"), "prometheus_client"),
        (import_line!("statsd"), "statsd"),
        (import_line!("datadog"), "datadog"),
    ]
});

/// The words whose absence rules a Python file out of a search, looked for in one pass (most
/// files of a large codebase contain none of them, and a `contains` each scanned all of it),
/// each by a fragment whose first bytes are rare in code (see [`WordSet`]), of four bytes or
/// more (then the searcher screens by four bytes, not three: on generated Django code the scan
/// took about 7% less of detection). [`super::hazards`] and [`super::servers`] gate on them
/// too; `rq` (too short to screen by) is asked of the `from`s the scan lists.
///
/// The frameworks' and metrics libraries' names are not among them: every pattern that finds
/// one is `(from|import)\s+NAME`, so the keywords the scan lists say whether a file could
/// match ([`Present::key_then_any`]), and six fewer literals make the scan's packed search
/// verify fewer false candidates (issue 15).
pub(super) const GATE_WORDS: &[(&str, &str)] = &[
    ("start_response", "rt_resp"),
    ("health", "alth"),
    ("status", "atus"),
    ("ping", "ping"),
    ("ready", "eady"),
    ("live", "live"),
    ("alive", "live"),
    (".run(", ".run("),
    ("Flask(", "Flask("),
    ("grpc", "grpc"),
    ("get_wsgi_application", "wsgi_"),
    ("ickle", "ickle"),
    ("Cache", "Cache"),
    ("memcache", "cache"),
    ("cacheops", "cache"),
    ("redis", "edis"),
    ("pylibmc", "libmc"),
    ("flask_caching", "flask"),
    ("flask_session", "flask"),
    ("beaker", "beak"),
    ("SESSION_", "SESSION_"),
    ("bind", "bind"),
    ("import", "import"),
];
pub(super) static GATES: LazyLock<WordSet> = LazyLock::new(|| WordSet::new(GATE_WORDS));

/// The bit of `word` in [`GATES`]' scans ([`Present::any`]), found at compile time.
pub(super) const fn gate(word: &str) -> u64 {
    let w = word.as_bytes();
    let mut i = 0;
    while i < GATE_WORDS.len() {
        let g = GATE_WORDS[i].0.as_bytes();
        if g.len() == w.len() {
            let mut j = 0;
            while j < w.len() && g[j] == w[j] {
                j += 1;
            }
            if j == w.len() {
                return 1 << i;
            }
        }
        i += 1;
    }
    panic!("not a gate word")
}

/// The bits of `words` in [`GATES`]' scans.
pub(super) const fn gates(words: &[&str]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < words.len() {
        mask |= gate(words[i]);
        i += 1;
    }
    mask
}

/// The names after `from` or `import` that some [`FRAMEWORK`] pattern but the WSGI one needs.
const FRAMEWORK_NAMES: &[&str] = &["django", "flask", "pyramid", "tornado"];
/// The names after `from` or `import` that some [`METRICS`] pattern needs.
const METRICS_NAMES: &[&str] = &["django_prometheus", "prometheus", "statsd", "datadog"];
const IMPORT: u64 = gate("import");
const HEALTH_GATE: u64 = gates(&HEALTH_WORDS);

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

/// `present` is [`GATES`] scanned over `text`.
#[cfg(test)]
pub(super) fn python_file(
    path: &str,
    text: &str,
    service_dir: &str,
    present: &Present<'_>,
) -> PyFacts {
    python_file_wanted(path, text, service_dir, present, Wanted::ALL)
}

/// The facts of one file, searched for those `wanted` only (the others may be left out).
pub(super) fn python_file_wanted(
    path: &str,
    text: &str,
    service_dir: &str,
    present: &Present<'_>,
    wanted: Wanted,
) -> PyFacts {
    let mut facts = PyFacts::default();
    // Cheap tests that rule a file out before any search: most files of a large codebase
    // import no framework or metrics library and mention no route.
    let imports = present.any(IMPORT);
    // The entrypoint of a bare WSGI module comes from its framework's line.
    let frameworks = (wanted.framework || wanted.entrypoint)
        && (imports && present.key_then_any(text, FRAMEWORK_NAMES)
            || present.any(gate("start_response")));
    for (pattern, name) in FRAMEWORK.iter().filter(|_| frameworks) {
        if let Some((start, _)) = pattern.find_in(text, present) {
            facts.framework = Some(Fact::new((*name).to_string(), path, line_at(text, start)));
            break;
        }
    }
    let metrics = wanted.metrics_library && imports && present.key_then_any(text, METRICS_NAMES);
    for (pattern, name) in METRICS.iter().filter(|_| metrics) {
        if let Some((start, _)) = pattern.find_in(text, present) {
            facts.metrics_library =
                Some(Fact::new((*name).to_string(), path, line_at(text, start)));
            break;
        }
    }
    // Tests request health paths too; only the application's routes count.
    let test_file = || {
        let name = path.rsplit('/').next().unwrap_or(path);
        // `/{path}` contains `/tests/` or `/test/`.
        path.starts_with("tests/")
            || path.contains("/tests/")
            || path.starts_with("test/")
            || path.contains("/test/")
            || name.starts_with("test_")
            || name.ends_with("_test.py")
            || name == "tests.py"
    };
    // Decided once per file: most files of a large codebase mention no health word (the path
    // is looked at after the scan's bits: its searches were 4% of a 100,000-file tree).
    if wanted.health && present.any(HEALTH_GATE) && !test_file() {
        facts.health = health_route(path, text);
    }
    if wanted.server && present.any(gate(".run(")) {
        // Flask's built-in server: production for some teams (behind a mesh), development
        // only when the call turns the debugger on.
        let call = APP_RUN.find(text).filter(|_| present.any(gate("Flask(")));
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
    if wanted.grpc && present.any(gate("grpc")) {
        if let Some(m) = GRPC_SERVER.find(text) {
            facts.grpc = Some(Evidence::new(path, line_at(text, m.start())));
        }
    }
    if wanted.python2
        && PY2_KEYWORDS
            .iter()
            .any(|k| k.find(text.as_bytes()).is_some())
    {
        if let Some((start, _)) = PY2_SYNTAX.find_in(text, present) {
            facts.python2 = Some(Evidence::new(path, line_at(text, start)));
        }
    }
    let module = || module_of(path, service_dir);
    // The substring tests first: the regexes have no literal prefix to skip to.
    if !wanted.entrypoint {
        return facts;
    }
    if let Some((start, end)) = Some(text)
        .filter(|_| present.any(gate("get_wsgi_application")))
        .and_then(|t| assignment_of(t, "get_wsgi_application(", &DJANGO_WSGI))
    {
        facts.entrypoint = Some(Fact::new(
            format!("{}:{}", module(), &text[start..end]),
            path,
            line_at(text, start),
        ));
    } else if let Some((start, end)) = Some(text)
        .filter(|_| present.any(gate("Flask(")))
        .and_then(|t| assignment_of(t, "Flask(", &FLASK_APP))
    {
        facts.entrypoint = Some(Fact::new(
            format!("{}:{}", module(), &text[start..end]),
            path,
            line_at(text, start),
        ));
    } else if facts.framework.as_ref().is_some_and(|f| f.value == "wsgi") {
        let line = facts
            .framework
            .as_ref()
            .map_or(1, |f| f.evidence.line as usize);
        facts.entrypoint = Some(Fact::new(format!("{}:application", module()), path, line));
    }
    facts
}

/// A route pattern as a path: `^/healthz$`, `^healthz` and `/healthz` are `/healthz`.
fn route_path(raw: &str) -> String {
    format!(
        "/{}",
        raw.trim_start_matches('^')
            .trim_start_matches('/')
            .trim_end_matches('$')
    )
}

/// The first line, in order, that mentions a health word in a route and names a valid health
/// path. Only the lines with a health word are looked at, found with one search.
fn health_route(path: &str, text: &str) -> Option<Fact<String>> {
    let mut lines = LineCounter::new();
    // The end of the last line looked at: later words on it are skipped.
    let mut done = 0;
    for word in HEALTH_WORD.find_iter(text) {
        if word.start() < done {
            continue;
        }
        let start = text[..word.start()].rfind('\n').map_or(0, |i| i + 1);
        let (end, next) = text[word.start()..]
            .find('\n')
            .map_or((text.len(), text.len()), |i| {
                (word.start() + i, word.start() + i + 1)
            });
        done = next;
        // As `str::lines` gives it: without `\n` or `\r\n`.
        let line = &text[start..end];
        let line = if end < text.len() {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        if !ROUTE_CONTEXT.is_match(line) {
            continue;
        }
        if let Some(c) = HEALTH.captures(line) {
            let path_text = route_path(c.get(1).map_or("", |m| m.as_str()));
            if validate::health_path(&path_text).is_ok() {
                let line_no = lines.line_of(text, start);
                return Some(Fact::new(path_text, path, line_no));
            }
        }
    }
    None
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
        let f = python_file("shop/app.py", text, "shop", &GATES.scan(text));
        assert_eq!(f.framework.unwrap().value, "flask");
        assert_eq!(f.entrypoint.unwrap().value, "app:app");
        assert_eq!(f.health.as_ref().unwrap().value, "/healthz");
        assert_eq!(f.health.unwrap().evidence.line, 4);
        assert_eq!(f.port.unwrap().value, 5000);
    }

    /// Files searched only for the facts the ones before them lack give the facts that
    /// searching every file for everything and keeping the first of each gives.
    #[test]
    fn wanted_facts_fill_as_all_facts() {
        let texts = [
            "import os\n",
            "print 'x'\nfrom flask import Flask\napp = Flask(__name__)\n",
            "def application(environ, start_response):\n    pass\n",
            "@app.route('/healthz')\ndef h(): pass\napp.run(port=5000)\n",
            "from prometheus_client import Counter\ns = grpc.server(x)\n",
            "import django\napplication = get_wsgi_application()\n",
            "app.run(debug=True)\nfrom flask import Flask\napp = Flask(__name__)\n",
        ];
        // Every order of a few of them: which file gives a fact depends on what came first.
        for start in 0..texts.len() {
            let order: Vec<&str> = texts
                .iter()
                .cycle()
                .skip(start)
                .take(texts.len())
                .copied()
                .collect();
            let (mut all, mut some) = (PyFacts::default(), PyFacts::default());
            for (i, text) in order.iter().enumerate() {
                let path = format!("svc/m{i}.py");
                let present = GATES.scan(text);
                all.fill_from(python_file(&path, text, "svc", &present));
                let wanted = Wanted::missing_from(Some(&some), None);
                some.fill_from(python_file_wanted(&path, text, "svc", &present, wanted));
            }
            assert_eq!(format!("{all:?}"), format!("{some:?}"), "from {start}");
        }
    }

    #[test]
    fn django_url_patterns() {
        let text = "from django.urls import path\nurlpatterns = [\n    path('healthz/', views.health),\n]\n";
        // Django serves `path('healthz/')` at /healthz/ (the slash is part of the route).
        assert_eq!(
            python_file("ledger/urls.py", text, ".", &GATES.scan(text))
                .health
                .unwrap()
                .value,
            "/healthz/"
        );
    }

    /// The health route as the loop over every line found it.
    fn health_as_written(text: &str) -> Option<(String, usize)> {
        for (i, line) in text.lines().enumerate() {
            if !HEALTH_WORDS.iter().any(|w| line.contains(w)) || !ROUTE_CONTEXT.is_match(line) {
                continue;
            }
            if let Some(c) = HEALTH.captures(line) {
                let p = route_path(c.get(1).map_or("", |m| m.as_str()));
                if validate::health_path(&p).is_ok() {
                    return Some((p, i + 1));
                }
            }
        }
        None
    }

    #[test]
    fn health_route_as_written() {
        for text in [
            "x = 'status'\nurl(r'^status/$', v)\n",
            "# ping\r\npath('ping/', v)\r\npath('alive', v)",
            "path('healthz', v) # health\npath('ready', v)\n",
            "route('/x', status=1)\n\nroute('/livez')\r",
            "path('health check', v)\npath('readyz/', v)\n",
            "",
            "alive live ready\n",
        ] {
            let ours = health_route("f.py", text).map(|f| (f.value, f.evidence.line as usize));
            assert_eq!(ours, health_as_written(text), "{text:?}");
        }
    }

    proptest::proptest! {
        /// Python 2 syntax is found as the regex finds it, from every start, on texts with
        /// Unicode spaces and word characters where the matcher leaves it to the regex.
        #[test]
        fn python2_syntax_as_written(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                " ", "\t", "\n", "\r\n", "\u{b}", "\u{a0}", "\u{2028}", "x", "é", "ǅ", "_", "1",
                ".", ",", ":", "'", "\"", "%", "(", "print", "except", "raise", "ValueError",
                "e", "printx",
            ]), 0..20)
        ) {
            let full = Regex::new(
                r#"(?m)^\s*print\s+["'\w%]|^\s*except\s+[\w.]+\s*,\s*\w+\s*:|^\s*raise\s+\w+\s*,\s*["']"#,
            )
            .unwrap();
            let anchored = Regex::new(
                r#"^(?:print\s+["'\w%]|except\s+[\w.]+\s*,\s*\w+\s*:|raise\s+\w+\s*,\s*["'])"#,
            )
            .unwrap();
            let text = pieces.concat();
            let mut from = 0;
            while from <= text.len() {
                if text.is_char_boundary(from) {
                    let want = full.find_at(&text, from).map(|m| (m.start(), m.end()));
                    proptest::prop_assert_eq!(PY2_SYNTAX.find_at(&text, from), want, "{:?} from {}", text, from);
                    // The matcher alone: the anchored regex's answer, or unsure.
                    let at = anchored.find(&text[from..]).map(|m| m.end());
                    match py2_syntax_at(&text.as_bytes()[from..]) {
                        Core::Match(end) => proptest::prop_assert_eq!(Some(end), at),
                        Core::NoMatch => proptest::prop_assert_eq!(None, at),
                        Core::Unsure => {}
                    }
                }
                from += 1;
            }
        }
    }

    proptest::proptest! {
        /// The hand-written assignment search gives the regexes' group 1.
        #[test]
        fn assignment_as_written(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                " ", "\t", "\n", "\r\n", "\u{a0}", "\u{2028}", "x", "é", "_", "1", "=", "==",
                "(", "app", "application", "Flask(", "get_wsgi_application(", "Flask", ".",
                "myFlask(", "\u{85}",
            ]), 0..16)
        ) {
            let text = pieces.concat();
            for (call, full) in [("Flask(", &FLASK_APP), ("get_wsgi_application(", &DJANGO_WSGI)] {
                let want = full
                    .captures(&text)
                    .and_then(|c| c.get(1))
                    .map(|m| (m.start(), m.end()));
                proptest::prop_assert_eq!(assignment_of(&text, call, full), want, "{:?}", text);
            }
        }
    }

    #[test]
    fn line_start_patterns_find_as_written() {
        let texts = [
            "import os\n\n\n   from django.db import models\n",
            "print\nfoo = 1\n",
            "x = 1\n  except ValueError, e:\n",
            "def application(environ, start_response):\n",
            "s = 'import flask'\nfrom flask import Flask\n",
            "\t\n\timport prometheus_client\n",
        ];
        let written = [
            (r"(?m)^\s*(from|import)\s+django\b", &FRAMEWORK[0].0),
            (
                r"(?m)^\s*from\s+flask\s+import\b|^\s*import\s+flask\b",
                &FRAMEWORK[1].0,
            ),
            (
                r"(?m)^\s*def\s+application\s*\(\s*environ\s*,\s*start_response",
                &FRAMEWORK[4].0,
            ),
            (
                r#"(?m)^\s*print\s+["'\w%]|^\s*except\s+[\w.]+\s*,\s*\w+\s*:|^\s*raise\s+\w+\s*,\s*["']"#,
                &*PY2_SYNTAX,
            ),
            (
                r"(?m)^\s*(from|import)\s+prometheus_client\b",
                &METRICS[2].0,
            ),
        ];
        for (pattern, ours) in written {
            let pattern = Regex::new(pattern).unwrap();
            for text in texts {
                let want = pattern.find(text).map(|m| (m.start(), m.end()));
                assert_eq!(ours.find(text), want, "{pattern} in {text:?}");
            }
        }
    }
}
