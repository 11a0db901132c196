//! Command lines: what a container, unit or Procfile line really runs, and what that says.
//!
//! Wrappers are peeled off first (`dumb-init`, `tini`, `gosu USER`, `exec`, `env A=B`,
//! `sh -c "..."`, `newrelic-admin run-program` ...), then the program is recognised: a WSGI
//! server (gunicorn, uWSGI, waitress, paster, runserver ...), a worker (Celery, RQ, cron, queue
//! consumers), another language's program (node, java, ruby, a database), or plain Python. The
//! server's flags give the port and the WSGI entrypoint.

use super::facts::Fact;

/// Programs that run the next words as the real command.
const WRAPPERS: &[&str] = &[
    "exec",
    "dumb-init",
    "tini",
    "tini-static",
    "nice",
    "ionice",
    "nohup",
    "chpst",
    "setuidgid",
    "wrap-job",
    "catchsegv",
    "stdbuf",
    "timeout",
];

/// Wrappers that instrument the program they run (APM agents), with the words that belong to
/// them: detection looks through them to find the server, but a unit generated from the command
/// keeps them ([`unwrap_keeping_agents`]), or the team's APM would see neither copy.
const AGENTS: &[(&str, &[&str])] = &[("newrelic-admin", &["run-program"]), ("ddtrace-run", &[])];

/// How many leading words of a command are an APM agent that runs the rest (`newrelic-admin
/// run-program`, `ddtrace-run -d`): the program itself is the word after them. 0 without one.
pub fn agent_len<S: AsRef<str>>(words: &[S]) -> usize {
    let Some(first) = words.first() else {
        return 0;
    };
    let base = basename(first.as_ref());
    let Some((_, verbs)) = AGENTS.iter().find(|(name, _)| *name == base) else {
        return 0;
    };
    let mut len = 1;
    for verb in *verbs {
        if words.get(len).map(AsRef::as_ref) != Some(*verb) {
            return 0;
        }
        len += 1;
    }
    // `ddtrace-run --debug gunicorn ...`: the agent's own flags.
    while words.get(len).is_some_and(|w| w.as_ref().starts_with('-')) {
        len += 1;
    }
    if len < words.len() { len } else { 0 }
}

/// Wrappers that take one argument (a user, a value) before the command.
const WRAPPERS_WITH_ARG: &[&str] = &["gosu", "su-exec", "sudo", "runuser"];

/// What a command is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// An HTTP (or gRPC) server.
    Web {
        server: String,
        dev: bool,
    },
    /// Takes work from a queue or a clock.
    Worker {
        what: String,
    },
    /// A program in another language, or a shared service.
    Other {
        what: String,
    },
    /// Python, but nothing says whether it serves.
    Python,
    Unknown,
}

/// Words joined back into one command line that splits into the same words again
/// (`check::strings::split_words`): a word with a space, a quote or `$` is single-quoted.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| crate::emit::escape::shell::posix_word(w.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a command, wrappers and shell plumbing removed: `dumb-init /app/run.sh server`
/// is `/app/run.sh server`; `sh -c "migrate && exec gunicorn app:app"` is `gunicorn app:app`.
pub fn unwrap(command: &str) -> Vec<String> {
    peel(command, false)
}

/// The command as a host unit should run it: [`unwrap`], but an APM agent wrapper stays in
/// front (`newrelic-admin run-program gunicorn app:app`), so the copies keep the team's APM.
pub fn unwrap_keeping_agents(command: &str) -> Vec<String> {
    peel(command, true)
}

fn peel(command: &str, keep_agents: bool) -> Vec<String> {
    let mut agents: Vec<String> = Vec::new();
    let mut words = split(command);
    let words = loop {
        let Some(first) = words.first() else {
            break words;
        };
        let base = basename(first).to_string();
        if WRAPPERS.contains(&base.as_str()) {
            words.remove(0);
            // `tini --`, `timeout 30`
            while words.first().is_some_and(|w| {
                w == "--" || (w.starts_with('-') && base != "exec") || w.parse::<u32>().is_ok()
            }) {
                words.remove(0);
            }
            continue;
        }
        if WRAPPERS_WITH_ARG.contains(&base.as_str()) {
            words.remove(0);
            while words.first().is_some_and(|w| w.starts_with('-')) {
                words.remove(0);
            }
            if !words.is_empty() {
                words.remove(0);
            }
            continue;
        }
        if base == "env" || (first.contains('=') && !first.starts_with('-')) {
            if base == "env" {
                words.remove(0);
            }
            while words
                .first()
                .is_some_and(|w| w.contains('=') && !w.starts_with('-') || w == "-i")
            {
                words.remove(0);
            }
            continue;
        }
        let agent = agent_len(&words);
        if agent > 0 {
            let taken: Vec<String> = words.drain(..agent).collect();
            if keep_agents {
                agents.extend(taken);
            }
            continue;
        }
        if matches!(base.as_str(), "sh" | "bash" | "dash" | "ash" | "/bin/sh")
            && words
                .get(1)
                .is_some_and(|w| w.starts_with('-') && w.contains('c'))
        {
            let inner = words.get(2).cloned().unwrap_or_default();
            // The long-running part is the last of `a && b && c`.
            let last = inner
                .rsplit(['&', ';', '\n'])
                .map(str::trim)
                .find(|s| !s.is_empty())
                .unwrap_or("")
                .to_string();
            words = split(&last);
            continue;
        }
        break words;
    };
    if agents.is_empty() {
        words
    } else {
        agents.extend(words);
        agents
    }
}

/// Shell-like splitting: the words a POSIX shell reads (quotes and backslashes, as
/// `check::strings::split_words`, so a line `join` wrote splits back into its words); a line
/// whose quotes do not close is split leniently, quotes grouping.
pub fn split(command: &str) -> Vec<String> {
    crate::check::strings::split_words(command).unwrap_or_else(|_| split_lenient(command))
}

fn split_lenient(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if !current.is_empty() || any {
                    words.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            None => current.push(c),
        }
    }
    if !current.is_empty() || any {
        words.push(current);
    }
    words
}

pub fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

fn is_manage(word: &str) -> bool {
    matches!(
        basename(word),
        "manage.py" | "django-admin" | "django-admin.py"
    )
}

/// What the unwrapped command is.
pub fn role(words: &[String]) -> Role {
    let Some(first) = words.first() else {
        return Role::Unknown;
    };
    let program = basename(first).to_ascii_lowercase();
    let rest: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    // `python manage.py x`, `python -m gunicorn`: the real program follows the interpreter.
    if program.starts_with("python") || program == "pypy" {
        let mut i = 0;
        while i < rest.len() && rest[i].starts_with('-') && rest[i] != "-m" {
            i += 1;
        }
        return match rest.get(i) {
            Some(&"-m") => match rest.get(i + 1) {
                Some(module) => {
                    let mut inner = vec![module.to_string()];
                    inner.extend(rest[i + 2..].iter().map(|s| s.to_string()));
                    match role(&inner) {
                        Role::Unknown => Role::Python,
                        r => r,
                    }
                }
                None => Role::Python,
            },
            Some(script) => {
                let inner: Vec<String> = rest[i..].iter().map(|s| s.to_string()).collect();
                match role(&inner) {
                    Role::Unknown if script.ends_with(".py") => Role::Python,
                    Role::Unknown => Role::Python,
                    r => r,
                }
            }
            None => Role::Python,
        };
    }
    let sub = rest
        .iter()
        .find(|w| !w.starts_with('-'))
        .copied()
        .unwrap_or("");
    let words_lower: Vec<String> = rest.iter().map(|w| w.to_ascii_lowercase()).collect();
    let has = |w: &str| words_lower.iter().any(|x| x == w);
    let web = |server: &str, dev: bool| Role::Web {
        server: server.to_string(),
        dev,
    };
    match program.as_str() {
        "gunicorn" | "gunicorn_django" | "gunicorn_paster" => {
            return web("gunicorn", has("--reload"));
        }
        "uwsgi" => return web("uwsgi", false),
        "waitress-serve" => return web("waitress", false),
        "uvicorn" | "hypercorn" | "daphne" => return web(&program, has("--reload")),
        "mod_wsgi-express" => return web("mod_wsgi", false),
        "pserve" => return web("paste", has("--reload")),
        "celery" | "celeryd" | "celerybeat" => {
            if has("flower") {
                return web("celery flower", false);
            }
            let what = if has("beat") || program == "celerybeat" {
                "Celery beat (schedules tasks)"
            } else {
                "Celery worker"
            };
            return Role::Worker { what: what.into() };
        }
        "rq" | "rqworker" | "rqscheduler" => {
            return Role::Worker {
                what: "RQ worker".into(),
            };
        }
        "huey_consumer" | "huey_consumer.py" | "dramatiq" | "kombu" => {
            return Role::Worker {
                what: format!("{program} consumer"),
            };
        }
        "cron" | "crond" | "supercronic" | "crontab" | "go-cron" => {
            return Role::Worker {
                what: "cron".into(),
            };
        }
        "flask" if sub == "run" => return web("flask run (development server)", true),
        _ => {}
    }
    if program == "paster" || program.ends_with("-paster") {
        return match sub {
            "serve" => web("paste", has("--reload")),
            _ if has("worker") || has("jobs") => Role::Worker {
                what: "paster jobs worker".into(),
            },
            _ => Role::Worker {
                what: format!("paster {sub} (a script, not a server)"),
            },
        };
    }
    if is_manage(first) {
        let sub = rest.first().copied().unwrap_or("");
        return match sub {
            "runserver" | "runserver_plus" => web("django runserver (development server)", true),
            "run_gunicorn" => web("gunicorn", false),
            "runfcgi" => web("django fastcgi", false),
            "celery" | "celeryd" | "celerybeat" | "celery_worker" => Role::Worker {
                what: "Celery worker".into(),
            },
            "rqworker" | "rqscheduler" => Role::Worker {
                what: "RQ worker".into(),
            },
            "" => Role::Python,
            other => Role::Worker {
                what: format!("manage.py {other} (a management command, not a server)"),
            },
        };
    }
    if let Some(what) = other_program(&program) {
        return Role::Other { what: what.into() };
    }
    // A project's own console script (`sentry run web`, `monkey run_api_server`): the
    // subcommand says which it is.
    let subcommands: Vec<&str> = rest
        .iter()
        .take_while(|w| !w.starts_with('-'))
        .copied()
        .take(2)
        .collect();
    let says = |words: &[&str]| {
        subcommands
            .iter()
            .any(|s| words.iter().any(|w| s.contains(w)))
    };
    if says(&[
        "worker",
        "beat",
        "cron",
        "consumer",
        "scheduler",
        "queue",
        "jobs",
        "forwarder",
        "cleanup",
    ]) {
        return Role::Worker {
            what: format!("`{first} {}`", subcommands.join(" ")),
        };
    }
    if says(&["web", "server", "serve", "api", "http", "wsgi"]) {
        let dev = says(&["dev_server", "devserver", "runserver"]) || has("--reload");
        return web(&format!("{first} {}", subcommands.join(" ")), dev);
    }
    Role::Unknown
}

/// Programs that are not Python, and what they are.
fn other_program(program: &str) -> Option<&'static str> {
    Some(match program {
        "node" | "nodejs" | "nodemon" | "npm" | "yarn" | "pm2" | "pm2-runtime" => {
            "a Node.js program"
        }
        "java" | "catalina.sh" | "mvn" | "gradle" => "a Java program",
        "dotnet" => "a .NET program",
        "ruby" | "bundle" | "rails" | "rackup" | "puma" | "unicorn" | "thin" | "sidekiq" => {
            "a Ruby program"
        }
        "php" | "php-fpm" | "php-fpm7" => "a PHP program",
        "nginx" => "nginx (a proxy)",
        "haproxy" => "HAProxy (a load balancer)",
        "traefik" | "envoy" | "caddy" => "a proxy",
        "redis-server" => "Redis",
        "memcached" => "Memcached",
        "postgres" | "postgresql" | "pg_ctl" => "PostgreSQL",
        "mysqld" | "mysqld_safe" => "MySQL",
        "mongod" => "MongoDB",
        "rabbitmq-server" => "RabbitMQ",
        "elasticsearch" => "Elasticsearch",
        "solr" | "solr-foreground" => "Solr",
        "exim" | "postfix" => "a mail server",
        _ => return None,
    })
}

/// Whether the unwrapped command runs a Python program we recognise.
pub fn runs_python(words: &[String]) -> bool {
    !matches!(role(words), Role::Other { .. } | Role::Unknown)
        || words
            .first()
            .is_some_and(|w| w.ends_with(".py") || basename(w).starts_with("python"))
}

/// Server facts from a command: the port it binds and the WSGI entrypoint it loads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Served {
    pub port: Option<String>,
    pub entrypoint: Option<String>,
    /// A config file the server reads: gunicorn `--config`, uWSGI `--ini`, paste's ini.
    pub config: Option<String>,
    /// Whether the bind is a unix socket or uWSGI's own protocol (behind nginx), not HTTP.
    pub not_http: bool,
}

/// Reads bind addresses, configs and entrypoints from a server's flags.
pub fn served(words: &[String]) -> Served {
    let mut s = Served::default();
    let program = words
        .first()
        .map(|w| basename(w).to_ascii_lowercase())
        .unwrap_or_default();
    let mut i = 1;
    let paster = program == "paster" || program.ends_with("-paster") || program == "pserve";
    while i < words.len() {
        let word = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v)),
            _ => (word, None),
        };
        let value = || inline.or(next);
        let consumed = usize::from(inline.is_none());
        match flag {
            "-b" | "--bind" | "--http" | "--http-socket" | "--listen" | "--port" | "-p"
            | "--https" => {
                if flag == "-p" && program != "flask" && program != "waitress-serve" {
                    i += 1;
                    continue;
                }
                if let Some(v) = value() {
                    if v.starts_with("unix:") || v.contains(".sock") {
                        s.not_http = true;
                    } else {
                        s.port = Some(v.rsplit(':').next().unwrap_or(v).to_string());
                    }
                }
                i += 1 + consumed;
                continue;
            }
            "--socket" | "-s" | "--uwsgi-socket" if program == "uwsgi" => {
                s.not_http = true;
                i += 1 + consumed;
                continue;
            }
            "-c" | "--config" | "--ini" | "--paste" | "--yaml" | "--xml" => {
                if flag == "-c" && program != "gunicorn" {
                    i += 1 + consumed;
                    continue;
                }
                if let Some(v) = value() {
                    s.config = Some(v.to_string());
                    if flag == "--paste" {
                        s.entrypoint = Some(format!("paste {v}"));
                    }
                }
                i += 1 + consumed;
                continue;
            }
            "--module" | "-w" | "--wsgi-file" | "--wsgi" | "--app" => {
                if flag == "-w" && program == "gunicorn" {
                    // gunicorn -w is the worker count
                    i += 1 + consumed;
                    continue;
                }
                if let Some(v) = value() {
                    s.entrypoint = Some(v.to_string());
                }
                i += 1 + consumed;
                continue;
            }
            _ => {}
        }
        if flag.starts_with('-') {
            // An unknown flag: assume it takes a value when the next word is not a flag and
            // does not look like an entrypoint.
            if inline.is_none()
                && next.is_some_and(|n| !n.starts_with('-') && !looks_like_entrypoint(n))
                && takes_value(flag)
            {
                i += 2;
            } else {
                i += 1;
            }
            continue;
        }
        if paster {
            if word.ends_with(".ini") || word.contains(".ini") || word.starts_with('$') {
                s.config = Some(word.to_string());
            }
        } else if s.entrypoint.is_none() && looks_like_entrypoint(word) && program != "celery" {
            s.entrypoint = Some(word.to_string());
        } else if program.contains("runserver")
            || word.contains(':')
                && word
                    .rsplit(':')
                    .next()
                    .is_some_and(|p| p.parse::<u16>().is_ok())
        {
            s.port = word.rsplit(':').next().map(str::to_string);
        }
        i += 1;
    }
    if words
        .iter()
        .any(|w| w == "runserver" || w == "runserver_plus")
    {
        s.port = words
            .iter()
            .skip_while(|w| *w != "runserver" && *w != "runserver_plus")
            .skip(1)
            .find(|w| !w.starts_with('-'))
            .map(|w| w.rsplit(':').next().unwrap_or(w).to_string())
            .or_else(|| Some("8000".into()));
    }
    s
}

/// Flags of the servers we read that take a value (so the value is not an entrypoint).
fn takes_value(flag: &str) -> bool {
    matches!(
        flag,
        "-w" | "--workers"
            | "-k"
            | "--worker-class"
            | "--threads"
            | "-t"
            | "--timeout"
            | "--log-file"
            | "--access-logfile"
            | "--error-logfile"
            | "--log-level"
            | "--access-logformat"
            | "--name"
            | "-n"
            | "--keep-alive"
            | "--max-requests"
            | "--chdir"
            | "--pythonpath"
            | "--user"
            | "--group"
            | "-u"
            | "-g"
            | "--processes"
            | "--master-fifo"
            | "--callable"
            | "--forwarded-allow-ips"
            | "--proctitle"
            | "--plugin"
            | "--log-config"
            | "--pid"
            | "--graceful-timeout"
            | "--backlog"
            | "--worker-connections"
            | "-e"
            | "--env"
    )
}

/// `ledger.wsgi:application`, `app:app`, `wsgi.app`: a module path, maybe with a callable.
pub fn looks_like_entrypoint(word: &str) -> bool {
    let (module, callable) = word.split_once(':').unwrap_or((word, ""));
    !module.is_empty()
        && !word.contains('/')
        && !word.starts_with('$')
        && module.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && module
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && callable
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '(' || c == ')')
        && (word.contains(':') || word.contains('.'))
        && ![
            ".py", ".ini", ".conf", ".js", ".rb", ".jar", ".sh", ".dll", ".json", ".yml", ".yaml",
            ".cfg", ".txt", ".log", ".pid", ".sock",
        ]
        .iter()
        .any(|ext| module.ends_with(ext))
}

/// A reason the command is a development server, if it is one.
pub fn dev_reason(words: &[String]) -> Option<String> {
    let joined = words.join(" ");
    if let Role::Web { server, dev: true } = role(words) {
        return Some(format!("runs {server}"));
    }
    if words
        .iter()
        .any(|w| w == "--reload" || w == "--debug" || w == "--debugger")
    {
        return Some(format!(
            "runs `{}` with auto-reload or the debugger",
            crate::detect::validate::shown(&joined)
        ));
    }
    None
}

/// Fact helper: a value from a command read at `at`.
pub fn fact<T>(value: T, at: &Fact<String>) -> Fact<T> {
    Fact::at(value, &at.evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        unwrap(s)
    }

    #[test]
    fn wrappers_are_peeled() {
        assert_eq!(
            w("/usr/bin/dumb-init /app/docker-entrypoint.sh server"),
            ["/app/docker-entrypoint.sh", "server"]
        );
        assert_eq!(w("gosu app exec gunicorn app:app"), ["gunicorn", "app:app"]);
        assert_eq!(w("env A=1 B=2 gunicorn app:app"), ["gunicorn", "app:app"]);
        assert_eq!(
            w("/bin/sh -c \"python manage.py migrate && exec gunicorn ledger.wsgi -b :8000\""),
            ["gunicorn", "ledger.wsgi", "-b", ":8000"]
        );
        assert_eq!(
            w("newrelic-admin run-program uwsgi --ini x.ini"),
            ["uwsgi", "--ini", "x.ini"]
        );
        assert_eq!(
            w("tini -- celery -A app worker"),
            ["celery", "-A", "app", "worker"]
        );
        assert_eq!(
            w("ddtrace-run -d gunicorn app:app"),
            ["gunicorn", "app:app"]
        );
    }

    #[test]
    fn agents_are_kept_for_units_and_skipped_for_the_program() {
        let kept = unwrap_keeping_agents;
        assert_eq!(
            kept("exec newrelic-admin run-program gunicorn app:app --timeout 29"),
            [
                "newrelic-admin",
                "run-program",
                "gunicorn",
                "app:app",
                "--timeout",
                "29"
            ]
        );
        assert_eq!(
            kept("/usr/bin/dumb-init ddtrace-run --debug uwsgi --ini x.ini"),
            ["ddtrace-run", "--debug", "uwsgi", "--ini", "x.ini"]
        );
        assert_eq!(kept("wrap-job gunicorn app:app"), ["gunicorn", "app:app"]);
        assert_eq!(agent_len(&["newrelic-admin", "run-program", "gunicorn"]), 2);
        assert_eq!(agent_len(&["/venv/bin/ddtrace-run", "-d", "gunicorn"]), 2);
        // Not an agent running a program: another verb, or nothing after it.
        assert_eq!(
            agent_len(&["newrelic-admin", "validate-config", "x.ini"]),
            0
        );
        assert_eq!(agent_len(&["newrelic-admin", "run-program"]), 0);
        assert_eq!(agent_len(&["gunicorn", "app:app"]), 0);
    }

    #[test]
    fn roles() {
        assert!(matches!(
            role(&w("celery -A proj beat")),
            Role::Worker { .. }
        ));
        assert!(matches!(
            role(&w(
                "/usr/lib/ckan/default/bin/paster --plugin=ckan jobs worker --config=/etc/ckan/production.ini"
            )),
            Role::Worker { .. }
        ));
        assert!(matches!(
            role(&w("paster serve --reload $REDDIT_INI")),
            Role::Web { dev: true, .. }
        ));
        assert!(matches!(
            role(&w("ckan-paster serve /etc/ckan/production.ini")),
            Role::Web { dev: false, .. }
        ));
        assert!(matches!(
            role(&w("python manage.py runserver 0.0.0.0:8000")),
            Role::Web { dev: true, .. }
        ));
        assert!(matches!(role(&w("nodemon server.js")), Role::Other { .. }));
        assert!(matches!(role(&w("sentry run web")), Role::Web { .. }));
        assert!(matches!(role(&w("sentry run cron")), Role::Worker { .. }));
        assert!(matches!(
            role(&w("monkey run_api_server -b 0.0.0.0:5000")),
            Role::Web { .. }
        ));
        assert!(matches!(role(&w("python app.py")), Role::Python));
        assert!(matches!(
            role(&w("python -m gunicorn app:app")),
            Role::Web { .. }
        ));
    }

    #[test]
    fn served_flags() {
        let s = served(&w(
            "gunicorn --workers 4 -b 0.0.0.0:8000 ledger.wsgi:application",
        ));
        assert_eq!(s.port.as_deref(), Some("8000"));
        assert_eq!(s.entrypoint.as_deref(), Some("ledger.wsgi:application"));
        let s = served(&w(
            "gunicorn wsgi.app --access-logformat x --config wsgi/config.py",
        ));
        assert_eq!(s.entrypoint.as_deref(), Some("wsgi.app"));
        assert_eq!(s.config.as_deref(), Some("wsgi/config.py"));
        let s = served(&w(
            "gunicorn app:app -b 0.0.0.0:80 --log-file - --workers 4",
        ));
        assert_eq!(s.port.as_deref(), Some("80"));
        let s = served(&w("uwsgi --socket :3031 --module app:app"));
        assert!(s.not_http);
        let s = served(&w("gunicorn --bind=127.0.0.1:9000 x:y"));
        assert_eq!(s.port.as_deref(), Some("9000"));
        let s = served(&w("python manage.py runserver 0.0.0.0:8001"));
        assert_eq!(s.port.as_deref(), Some("8001"));
        let s = served(&w("paster serve --reload /srv/app/production.ini"));
        assert_eq!(s.config.as_deref(), Some("/srv/app/production.ini"));
    }
}
