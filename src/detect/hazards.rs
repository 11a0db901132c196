//! py2 → py3 hazards: what breaks when the two copies share state or run side by side.
//!
//! Signals and mitigations follow shared/reference/py2-py3-runtime.md §6 (scanner signal
//! catalogue) and §7 (runtime knobs). The top findings there drive the blockers: py3 writes
//! pickles with protocol 4/5 that py2 cannot read (§1.1), Django sessions cannot be shared across
//! the Django versions each interpreter forces (§1.2), Celery pickle messages (§1.5), and
//! embedded servers (uWSGI, mod_wsgi) get no locale coercion (§3.6).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::facts::{Evidence, Hazard, HazardLevel};
use super::python::{gate, gates};
use super::scan::{Ascii, LineCounter, LineStart, Present, Stop, is_space, is_word};

/// Evidence gathered across files, turned into hazards once everything is read.
#[derive(Debug, Default)]
pub(super) struct Signals {
    pub pickle: Vec<Evidence>,
    pub shared_cache: Vec<Evidence>,
    pub session_pickle: Vec<Evidence>,
    pub session_cache_backed: Vec<Evidence>,
    pub celery_pickle: Vec<Evidence>,
    pub embedded_server: Vec<Evidence>,
    pub python2_image: Vec<Evidence>,
    pub removed_modules: Vec<Evidence>,
    /// py2-only package → (replacement, evidence).
    pub py2_packages: BTreeMap<String, (&'static str, Vec<Evidence>)>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid regex")
}

// (?m)^\s*import\s+cPickle|^\s*from\s+six\.moves\s+import\s+cPickle|\bc?[Pp]ickle\.dumps?\(|\bpickle\.HIGHEST_PROTOCOL|\bPickler\(
// as its line-start alternatives and the rest, whose matches [`pickle_lines`] merges.
static PICKLE_IMPORT: LazyLock<LineStart> = LazyLock::new(|| {
    LineStart::new(
        r"import\s+cPickle|from\s+six\.moves\s+import\s+cPickle",
        &[("import", &["cPickle"]), ("from", &["six"])],
    )
});
static PICKLE_USE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\bc?[Pp]ickle\.dumps?\(|\bpickle\.HIGHEST_PROTOCOL|\bPickler\("));
static SHARED_CACHE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"MemcachedCache|PyLibMCCache|PyMemcacheCache|django_redis|redis_cache|RedisCache|memcache\.Client\(|pylibmc\.Client\(|pymemcache|cacheops|flask_caching|flask_session|beaker\.session|\bfrom\s+rq\b",
    )
});
static SESSION_SERIALIZER_PICKLE: LazyLock<Regex> =
    LazyLock::new(|| re(r"SESSION_SERIALIZER\s*=\s*['\x22][\w.]*PickleSerializer"));
static SESSION_ENGINE_CACHE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"SESSION_ENGINE\s*=\s*['\x22]django\.contrib\.sessions\.backends\.(cache|cached_db)['\x22]")
});
static CELERY_PICKLE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(CELERY_TASK_SERIALIZER|CELERY_RESULT_SERIALIZER|CELERY_ACCEPT_CONTENT|task_serializer|result_serializer|accept_content|serializer)\s*[=:]\s*[\[(]?[^\n]*['\x22]pickle['\x22]",
    )
});
// (?m)^\s*(?:import|from)\s+(cgi|...)\b
static REMOVED_MODULES: LazyLock<LineStart> = LazyLock::new(|| {
    LineStart::import_of(
        &format!(r"(?:import|from)\s+({})\b", REMOVED_NAMES.join("|")),
        &[("import", REMOVED_NAMES), ("from", REMOVED_NAMES)],
        REMOVED_NAMES,
    )
});
/// The modules, in the pattern's order.
const REMOVED_NAMES: &[&str] = &[
    "cgi",
    "cgitb",
    "imghdr",
    "pipes",
    "telnetlib",
    "crypt",
    "uu",
    "xdrlib",
    "nntplib",
    "mailcap",
    "audioop",
    "asyncore",
    "asynchat",
    "smtpd",
    "imp",
    "distutils",
    "lib2to3",
];
/// The words one of which every match of [`SHARED_CACHE`] but `\bfrom\s+rq\b` contains:
/// `Cache` (MemcachedCache, PyLibMCCache, PyMemcacheCache, RedisCache), `redis` (django_redis,
/// redis_cache), `memcache` (memcache.Client(, pymemcache), `pylibmc`, `cacheops`,
/// `flask_caching`, `flask_session` and `beaker` (beaker.session). The gate was `cache` and
/// `session` besides, in every Django module that imports `django.core.cache` (a regex search
/// of a quarter of the files of a generated Django tree, issue 15).
const SHARED_CACHE_WORDS: [&str; 8] = [
    "Cache",
    "redis",
    "memcache",
    "pylibmc",
    "cacheops",
    "flask_caching",
    "flask_session",
    "beaker",
];

/// Whether [`SHARED_CACHE`] could match `text` (`present` its scan).
fn may_share_cache(text: &str, present: &Present<'_>) -> bool {
    const WORDS: u64 = gates(&SHARED_CACHE_WORDS);
    present.any(WORDS) || present.keyword_then(text, "from", "rq")
}

/// The starts of the matches `find_iter` gives for [`SESSION_SERIALIZER_PICKLE`], decided by
/// hand over ASCII (compiling the regex, with a Unicode `[\w.]*`, cost 2.5M instructions, for
/// the settings module of a codebase); the regex decides a text where a character that is not
/// ASCII is in the way. Every match starts with `SESSION_SERIALIZER`: each occurrence is tried
/// in order, the next searched for from the end of a match.
fn serializer_pickle_starts(text: &str) -> Vec<usize> {
    const KEY: &[u8] = b"SESSION_SERIALIZER";
    const TAIL: &[u8] = b"PickleSerializer";
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(off) = memchr::memmem::find(&b[pos..], KEY) {
        let s = pos + off;
        let mut c = Ascii {
            s: b,
            i: s + KEY.len(),
        };
        let quote = |x: u8| x == b'\'' || x == b'"';
        let head = c
            .run(is_space, 0)
            .and_then(|()| c.one(|x| x == b'='))
            .and_then(|()| c.run(is_space, 0))
            .and_then(|()| c.one(quote));
        let run_start = c.i;
        // `[\w.]*` then the tail: greedy, so the match ends with the last tail in the run.
        let run = head.and_then(|()| c.run(|x| is_word(x) || x == b'.', 0));
        match run {
            Err(Stop::Unsure) => {
                return SESSION_SERIALIZER_PICKLE
                    .find_iter(text)
                    .map(|m| m.start())
                    .collect();
            }
            Err(Stop::NoMatch) => pos = s + 1,
            Ok(()) => match memchr::memmem::rfind(&b[run_start..c.i], TAIL) {
                Some(k) => {
                    out.push(s);
                    pos = run_start + k + TAIL.len();
                }
                None => pos = s + 1,
            },
        }
    }
    out
}

/// What the celery pattern needs somewhere: a quoted `pickle`, in any case, as
/// `(?i)['"]pickle['"]` finds it. Found by its `k` (rare in code) or the Kelvin sign, which
/// Unicode case folding makes a `k` too (the other letters fold to ASCII letters only): the
/// regex's case-insensitive automaton ran over every byte of every file mentioning `ickle` (a
/// third of a generated Django tree, issue 15).
fn quoted_pickle(text: &str) -> bool {
    const KELVIN: &[u8] = "\u{212A}".as_bytes();
    let b = text.as_bytes();
    let quote = |i: usize| matches!(b.get(i), Some(b'\'' | b'"'));
    memchr::memchr3_iter(b'k', b'K', KELVIN[0], b).any(|j| {
        let k = if b[j] != KELVIN[0] {
            1
        } else if b[j..].starts_with(KELVIN) {
            KELVIN.len()
        } else {
            return false;
        };
        j >= 4
            && quote(j - 4)
            && b[j - 3..j].eq_ignore_ascii_case(b"pic")
            && b.get(j + k..j + k + 2)
                .is_some_and(|le| le.eq_ignore_ascii_case(b"le"))
            && quote(j + k + 2)
    })
}

/// py2-only packages and what replaces them (py2-py3-runtime.md §3.5).
const PY2_ONLY: &[(&str, &str)] = &[
    (
        "mysql-python",
        "mysqlclient (same MySQLdb import) or PyMySQL",
    ),
    ("futures", "the standard library's concurrent.futures"),
    (
        "enum34",
        "the standard library's enum (enum34 breaks `re` on 3.6+)",
    ),
    ("subprocess32", "the standard library's subprocess"),
    ("functools32", "the standard library's functools"),
    ("backports.ssl-match-hostname", "the standard library's ssl"),
    ("ordereddict", "collections.OrderedDict"),
    ("unittest2", "the standard library's unittest"),
    ("fabric<2", "Fabric 2+ or Fabric3"),
    ("nose", "pytest or nose2 (nose breaks on 3.10+)"),
    ("pil", "Pillow"),
    ("pycrypto", "pycryptodome or cryptography"),
    ("beautifulsoup", "beautifulsoup4"),
    ("python-openid", "python3-openid"),
    ("suds", "suds-community or zeep"),
    ("oauth2", "oauthlib / requests-oauthlib"),
    ("south", "Django migrations"),
    (
        "django-celery",
        "django-celery-results and django-celery-beat",
    ),
    ("pysqlite", "the standard library's sqlite3"),
    ("unicodecsv", "the standard library's csv"),
    ("boto", "boto3"),
    ("gdata", "google-api-python-client"),
];

/// One piece of evidence per line with a match (`matches` in increasing order of start),
/// lines counted once for the whole file.
/// Stops when `out` holds `cap` pieces.
fn push_lines(
    path: &str,
    text: &str,
    matches: impl Iterator<Item = usize>,
    out: &mut Vec<Evidence>,
    cap: usize,
) -> LineCounter {
    let mut lines = LineCounter::new();
    for start in matches {
        if out.len() >= cap {
            break;
        }
        let line = lines.line_of(text, start);
        // As `Evidence::new` stores it; compared before a path is copied.
        let stored = u32::try_from(line).unwrap_or(u32::MAX);
        if out
            .last()
            .is_none_or(|e| e.line != stored || e.file != path)
        {
            out.push(Evidence::new(path, line));
        }
    }
    lines
}

fn lines_matching(path: &str, text: &str, pattern: &Regex, out: &mut Vec<Evidence>, cap: usize) {
    push_lines(
        path,
        text,
        pattern.find_iter(text).map(|m| m.start()),
        out,
        cap,
    );
}

/// How many pieces of evidence a hazard shows ([`Signals::into_hazards`]).
pub(super) const EVIDENCE_SHOWN: usize = 10;

/// The starts of the matches `find_iter` gives for `(?m)^\s*(?:CORE)`, with the candidates of
/// `present`, the scan of `text`.
fn line_start_matches<'t>(
    pattern: &'t LineStart,
    text: &'t str,
    present: &'t Present<'_>,
) -> impl Iterator<Item = usize> + 't {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let (start, end) = pattern.find_at_in(text, pos, present)?;
        pos = end;
        Some(start)
    })
}

/// The starts of the matches `find_iter` gives for the whole pickle pattern: the earlier of the
/// two parts' next matches each time (they never start at the same byte: one starts at a line
/// start with `import`, `from` or whitespace, the other with a letter of `pickle`), resuming
/// after it. `present` is the scan of `text`.
fn pickle_matches<'t>(text: &'t str, present: &'t Present<'_>) -> impl Iterator<Item = usize> + 't {
    let mut pos = 0;
    let mut import: Option<Option<(usize, usize)>> = None;
    let mut usage: Option<Option<(usize, usize)>> = None;
    std::iter::from_fn(move || {
        // The cached next match of each part, searched again once `pos` has passed its start.
        if import.is_none_or(|m| m.is_some_and(|(s, _)| s < pos)) {
            import = Some(PICKLE_IMPORT.find_at_in(text, pos, present));
        }
        if usage.is_none_or(|m| m.is_some_and(|(s, _)| s < pos)) {
            usage = Some(PICKLE_USE.find_at(text, pos).map(|m| (m.start(), m.end())));
        }
        let next = match (import.flatten(), usage.flatten()) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }?;
        pos = next.1;
        Some(next.0)
    })
}

impl Signals {
    /// `present` is [`super::python::GATES`] scanned over `text`.
    ///
    /// With `in_order` (every file so far came before this one in path order), a list that has
    /// [`EVIDENCE_SHOWN`] pieces of evidence is not searched again, nor past that many: a hazard
    /// shows its first ten pieces of evidence in (file, line) order, and every later match
    /// sorts after them (issue 15).
    pub(super) fn python_file(
        &mut self,
        path: &str,
        text: &str,
        present: &Present<'_>,
        in_order: bool,
    ) {
        let cap = if in_order { EVIDENCE_SHOWN } else { usize::MAX };
        let open = |list: &Vec<Evidence>| list.len() < cap;
        // Substring gates first: the regexes run only on files that could match.
        if (open(&self.pickle) || open(&self.celery_pickle)) && present.any(gate("ickle")) {
            if open(&self.pickle) {
                push_lines(
                    path,
                    text,
                    pickle_matches(text, present),
                    &mut self.pickle,
                    cap,
                );
            }
            if open(&self.celery_pickle) && quoted_pickle(text) {
                lines_matching(path, text, &CELERY_PICKLE, &mut self.celery_pickle, cap);
            }
        }
        if open(&self.shared_cache) && may_share_cache(text, present) {
            lines_matching(path, text, &SHARED_CACHE, &mut self.shared_cache, cap);
        }
        if (open(&self.session_pickle) || open(&self.session_cache_backed))
            && present.any(gate("SESSION_"))
        {
            if open(&self.session_pickle) {
                push_lines(
                    path,
                    text,
                    serializer_pickle_starts(text).into_iter(),
                    &mut self.session_pickle,
                    cap,
                );
            }
            if open(&self.session_cache_backed) {
                lines_matching(
                    path,
                    text,
                    &SESSION_ENGINE_CACHE,
                    &mut self.session_cache_backed,
                    cap,
                );
            }
        }
        if open(&self.removed_modules) && present.any(gate("import")) {
            push_lines(
                path,
                text,
                line_start_matches(&REMOVED_MODULES, text, present),
                &mut self.removed_modules,
                cap,
            );
        }
    }

    pub(super) fn requirements(&mut self, path: &str, text: &str) {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('-') {
                continue;
            }
            let name_end = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(line.len());
            let name = line[..name_end].to_ascii_lowercase().replace('_', "-");
            let spec = &line[name_end..];
            let old_fabric = name == "fabric"
                && (spec.contains("==1") || spec.contains("<2") || spec.contains("~=1"));
            let key = if old_fabric {
                "fabric<2".to_string()
            } else {
                name
            };
            if let Some((_, replacement)) = PY2_ONLY.iter().find(|(n, _)| *n == key) {
                self.py2_packages
                    .entry(key)
                    .or_insert_with(|| (replacement, Vec::new()))
                    .1
                    .push(Evidence::new(path, i + 1));
            }
            if matches!(
                line[..name_end].to_ascii_lowercase().as_str(),
                "uwsgi" | "mod-wsgi" | "mod_wsgi"
            ) {
                self.embedded_server.push(Evidence::new(path, i + 1));
            }
        }
    }

    /// A server command seen in a Procfile, unit, supervisord program or Dockerfile.
    pub(super) fn command(&mut self, command: &str, evidence: Evidence) {
        if command
            .split_whitespace()
            .any(|w| w.rsplit('/').next().is_some_and(|b| b == "uwsgi"))
        {
            self.embedded_server.push(evidence);
        }
    }

    pub(super) fn apache_config(&mut self, path: &str, text: &str) {
        for (i, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("WSGIDaemonProcess")
                || t.starts_with("WSGIScriptAlias")
                || t.contains("LoadModule wsgi_module")
            {
                self.embedded_server.push(Evidence::new(path, i + 1));
                break;
            }
        }
    }

    /// The hazards, sorted by level then id, each with at most ten pieces of evidence.
    pub(super) fn into_hazards(mut self, shared_state_services: &[Evidence]) -> Vec<Hazard> {
        let mut hazards = Vec::new();
        let mut push = |id, level, title: String, mitigation: &str, mut evidence: Vec<Evidence>| {
            if evidence.is_empty() {
                return;
            }
            evidence.sort();
            evidence.dedup();
            evidence.truncate(EVIDENCE_SHOWN);
            hazards.push(Hazard {
                id,
                level,
                title,
                mitigation: mitigation.to_string(),
                evidence,
            });
        };
        self.shared_cache
            .extend(shared_state_services.iter().cloned());
        let shared = !self.shared_cache.is_empty();
        if !self.pickle.is_empty() {
            let (level, title) = if shared {
                (HazardLevel::Blocker, "pickle data in a cache or store both copies share: py3 writes protocol 4/5, which py2 cannot read, and py2 `str` pickles fail on py3".to_string())
            } else {
                (HazardLevel::Warning, "pickle use: py3 defaults to protocol 4/5, which py2 cannot read, if the data is ever shared".to_string())
            };
            let mut evidence = self.pickle.clone();
            if shared {
                evidence.extend(self.shared_cache.iter().take(3).cloned());
            }
            push(
                "pickle-shared-cache",
                level,
                title,
                "partition the cache per interpreter (KEY_PREFIX/VERSION, a separate Redis DB) or pin protocol=2 on py3 writers and load py2 data with encoding='latin1'",
                evidence,
            );
        }
        if shared {
            push("shared-cache", HazardLevel::Warning, "a cache both copies use: Django, django-redis, pymemcache and pylibmc pickle with the highest protocol".to_string(), "give py3 its own key prefix or cache VERSION during the canary (PICKLE_VERSION: 2 / pickleProtocol: 2 to share instead)", std::mem::take(&mut self.shared_cache));
        }
        push(
            "django-session-pickle",
            HazardLevel::Blocker,
            "Django sessions serialised with pickle: unreadable across interpreters".into(),
            "switch SESSION_SERIALIZER to JSONSerializer, and route sticky by session cookie",
            self.session_pickle,
        );
        push("django-session-cache", HazardLevel::Blocker, "cache-backed Django sessions: the cache's pickle protocol applies whatever SESSION_SERIALIZER says, and Django 1.11 and 3.1+ encode sessions differently".into(), "sticky routing by cookie (`route { sticky = cookie(\"py_version\") }`) or a separate session store for py3", self.session_cache_backed);
        push("celery-pickle", HazardLevel::Blocker, "Celery messages serialised with pickle: py2 workers cannot read py3 producers' messages".into(), "set PICKLE_PROTOCOL=2 for py3 producers and workers, or move to JSON; give py3 its own queue during the canary", self.celery_pickle);
        push("embedded-server-locale", HazardLevel::Blocker, "uWSGI or mod_wsgi: embedded Python gets no locale coercion and ignores PYTHONUTF8, so open() and print default to ASCII on py3".into(), "set LANG=C.UTF-8 and LC_ALL=C.UTF-8 for the py3 copy (canaryc does in the files it generates)", self.embedded_server);
        for (name, (replacement, evidence)) in self.py2_packages {
            push(
                "py2-only-package",
                HazardLevel::Blocker,
                format!("`{name}` does not install or import on Python 3"),
                &format!("replace it with {replacement}"),
                evidence,
            );
        }
        push("removed-stdlib-module", HazardLevel::Warning, "imports of standard-library modules removed in Python 3.12 or 3.13 (PEP 594, distutils, imp)".into(), "replace them before targeting 3.12+ (the standard-* packages on PyPI carry some of them)", self.removed_modules);
        push("python2-base-image", HazardLevel::Warning, "a python:2.7 base image: Debian buster is archived, so the py2 image cannot be rebuilt reproducibly".into(), "pin the py2 image by digest and keep a cached copy for the length of the canary", self.python2_image);
        hazards.sort_by(|a, b| (a.level, a.id, &a.evidence).cmp(&(b.level, b.id, &b.evidence)));
        hazards
    }
}

#[cfg(test)]
mod tests {
    use super::super::python::GATES;
    use super::*;

    /// The patterns as they were written: one regex each, lines counted from the start.
    const PICKLE_AS_WRITTEN: &str = r"(?m)^\s*import\s+cPickle|^\s*from\s+six\.moves\s+import\s+cPickle|\bc?[Pp]ickle\.dumps?\(|\bpickle\.HIGHEST_PROTOCOL|\bPickler\(";
    const REMOVED_AS_WRITTEN: &str = r"(?m)^\s*(?:import|from)\s+(cgi|cgitb|imghdr|pipes|telnetlib|crypt|uu|xdrlib|nntplib|mailcap|audioop|asyncore|asynchat|smtpd|imp|distutils|lib2to3)\b";

    fn as_written(pattern: &str, text: &str) -> Vec<Evidence> {
        let pattern = Regex::new(pattern).unwrap();
        let mut out: Vec<Evidence> = Vec::new();
        for m in pattern.find_iter(text) {
            let e = Evidence::new("f.py", text[..m.start()].matches('\n').count() + 1);
            if out.last() != Some(&e) {
                out.push(e);
            }
        }
        out
    }

    /// A large generated module with a match on most lines, and the corners of `(?m)^\s*`:
    /// blank lines above a match, a match split over lines, pickle calls after an import.
    fn generated(lines: usize) -> String {
        let pieces = [
            "import cPickle\n",
            "\n   \n  import cPickle as p\n",
            "x = cPickle.dumps(y); z = pickle.loads(w)\n",
            "import\n  cPickle\n",
            "from six.moves import cPickle\n",
            "    from imp import reload\n",
            "import distutils.core, cgi\n",
            "data = Pickler(f, pickle.HIGHEST_PROTOCOL)\n",
            "s = 'import cPickle'\n",
            "é import cgi\n",
        ];
        (0..lines).map(|i| pieces[i % pieces.len()]).collect()
    }

    #[test]
    fn pickle_and_removed_modules_match_as_written() {
        for text in [
            generated(200),
            "import\ncPickle.dumps(x)\n".into(),
            "\n\nimport cgi".into(),
            String::new(),
        ] {
            let present = GATES.scan(&text);
            let mut pickle = Vec::new();
            push_lines(
                "f.py",
                &text,
                pickle_matches(&text, &present),
                &mut pickle,
                usize::MAX,
            );
            assert_eq!(pickle, as_written(PICKLE_AS_WRITTEN, &text), "{text:?}");
            let mut removed = Vec::new();
            push_lines(
                "f.py",
                &text,
                line_start_matches(&REMOVED_MODULES, &text, &present),
                &mut removed,
                usize::MAX,
            );
            assert_eq!(removed, as_written(REMOVED_AS_WRITTEN, &text), "{text:?}");
        }
    }

    proptest::proptest! {
        /// The hand-written search for a quoted `pickle` is the regex's.
        #[test]
        fn quoted_pickle_as_written(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "'", "\"", "p", "P", "i", "I", "c", "C", "k", "K", "\u{212A}", "\u{2122}", "l", "L",
                "e", "E", "x", "é", "pickle", "PicKle", "pic", "le", "\u{2019}",
            ]), 0..16)
        ) {
            let text = pieces.concat();
            let written = Regex::new(r#"(?i)['\x22]pickle['\x22]"#).unwrap();
            proptest::prop_assert_eq!(quoted_pickle(&text), written.is_match(&text), "{:?}", text);
        }

        /// The shared-cache gate holds wherever the pattern matches.
        #[test]
        fn shared_cache_gate_holds_where_the_pattern_matches(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                " ", "\n", "\u{a0}", ".", "(", "x", "from", "rq", "Cache", "cache", "Memcached",
                "PyLibMC", "PyMemcache", "django_", "redis", "_cache", "Redis", "memcache",
                "Client", "pylibmc", "py", "cacheops", "flask", "_caching", "_session", "beaker",
                "session", "import",
            ]), 0..12)
        ) {
            let text = pieces.concat();
            if SHARED_CACHE.is_match(&text) {
                proptest::prop_assert!(may_share_cache(&text, &GATES.scan(&text)), "{:?}", text);
            }
        }
    }

    proptest::proptest! {
        /// The hand-written session serializer search gives the regex's matches.
        #[test]
        fn serializer_pickle_as_written(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "SESSION_SERIALIZER", " ", "\n", "\u{a0}", "=", "'", "\"", "x", ".", "é",
                "PickleSerializer", "Pickle", "Serializer", "django.contrib.sessions.serializers.",
                "SESSION_", "_", "(",
            ]), 0..14)
        ) {
            let text = pieces.concat();
            let want: Vec<usize> = SESSION_SERIALIZER_PICKLE.find_iter(&text).map(|m| m.start()).collect();
            proptest::prop_assert_eq!(serializer_pickle_starts(&text), want, "{:?}", text);
        }
    }

    #[test]
    fn shared_cache_gate_holds_for_every_alternative() {
        for text in [
            "MemcachedCache",
            "PyLibMCCache",
            "PyMemcacheCache",
            "django_redis",
            "redis_cache",
            "RedisCache",
            "memcache.Client(",
            "pylibmc.Client(",
            "pymemcache",
            "cacheops",
            "flask_caching",
            "flask_session",
            "beaker.session",
            "from rq",
            "x = 1\nfrom\u{a0}\n rq import Queue",
        ] {
            assert!(SHARED_CACHE.is_match(text), "{text:?}");
            assert!(may_share_cache(text, &GATES.scan(text)), "{text:?}");
        }
        assert!(!may_share_cache(
            "from django.core.cache import cache",
            &GATES.scan("")
        ));
    }

    /// Never quadratic in lines: on a 100,000-line file with a match on most lines, the line
    /// numbers cost one pass over the text (counted bytes, not time).
    #[test]
    fn line_numbers_cost_one_pass() {
        let text = generated(100_000);
        let present = GATES.scan(&text);
        let mut out = Vec::new();
        let counter = push_lines(
            "f.py",
            &text,
            pickle_matches(&text, &present),
            &mut out,
            usize::MAX,
        );
        assert!(out.len() > 50_000);
        assert!(
            counter.scanned <= text.len(),
            "{} > {}",
            counter.scanned,
            text.len()
        );
        let counter = push_lines(
            "f.py",
            &text,
            line_start_matches(&REMOVED_MODULES, &text, &present),
            &mut Vec::new(),
            usize::MAX,
        );
        assert!(counter.scanned <= text.len());
    }
}
