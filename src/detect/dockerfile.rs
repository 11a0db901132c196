//! Dockerfiles: every stage (base image with build args resolved, `FROM <stage>` followed to the
//! stage it names), EXPOSE, CMD/ENTRYPOINT, WORKDIR and ENV, inherited stage to stage, and what
//! the final stage runs: Python 2, Python 3, or another language.

use super::facts::{Detection, Dockerfile, Evidence, Fact, Stage};
use super::validate;

/// Asked of every file detection reads: no allocation.
pub(super) fn is_dockerfile(name: &str) -> bool {
    let b = name.as_bytes();
    let (prefix, suffix) = (b"dockerfile.", b".dockerfile");
    name.eq_ignore_ascii_case("dockerfile")
        || b.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        || b.len() >= suffix.len() && b[b.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// Base images that are Python 2 without saying `python:2` (vendor bases of the py2 era).
const PYTHON2_BASES: &[&str] = &["grpc/python:0", "grpc/python:1", "google/python"];

/// Base images of other languages and of the shared services a canary never touches.
const OTHER_BASES: &[(&str, &str)] = &[
    ("ruby", "Ruby"),
    ("node", "Node.js"),
    ("openjdk", "Java"),
    ("java", "Java"),
    ("maven", "Java"),
    ("gradle", "Java"),
    ("tomcat", "Java"),
    ("jetty", "Java"),
    ("websphere-liberty", "Java"),
    ("open-liberty", "Java"),
    ("ibmjava", "Java"),
    ("eclipse-temurin", "Java"),
    ("golang", "Go"),
    ("microsoft/dotnet", ".NET"),
    ("mcr.microsoft.com/dotnet", ".NET"),
    ("microsoft/aspnetcore", ".NET"),
    ("php", "PHP"),
    ("perl", "Perl"),
    ("rust", "Rust"),
    ("elixir", "Elixir"),
    ("mysql", "a MySQL database"),
    ("mariadb", "a MariaDB database"),
    ("postgres", "a PostgreSQL database"),
    ("postgis", "a PostGIS database"),
    ("mdillon/postgis", "a PostGIS database"),
    ("cassandra", "a Cassandra database"),
    ("clickhouse", "a ClickHouse database"),
    ("yandex/clickhouse-server", "a ClickHouse database"),
    ("zookeeper", "ZooKeeper"),
    ("kafka", "Kafka"),
    ("confluentinc/cp-kafka", "Kafka"),
    ("confluentinc/cp-zookeeper", "ZooKeeper"),
    ("nats", "NATS"),
    ("traefik", "Traefik"),
    ("envoyproxy/envoy", "Envoy"),
    ("mongo", "a MongoDB database"),
    ("redis", "Redis"),
    ("memcached", "Memcached"),
    ("rabbitmq", "RabbitMQ"),
    ("nginx", "nginx"),
    ("haproxy", "HAProxy"),
    ("httpd", "Apache httpd"),
    ("solr", "Solr"),
    ("elasticsearch", "Elasticsearch"),
    ("docker.elastic.co/elasticsearch", "Elasticsearch"),
];

/// The other language (or service) an image is, from its name without registry and tag.
pub(super) fn other_language(image: &str) -> Option<&'static str> {
    let lower = image.to_ascii_lowercase();
    let repo = lower.split(['@']).next().unwrap_or("");
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    let short = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("library/"))
        .unwrap_or(repo);
    let last = short.rsplit('/').next().unwrap_or(short);
    OTHER_BASES
        .iter()
        .find(|(prefix, _)| {
            short == *prefix
                || (prefix.contains('/') && short.starts_with(prefix))
                || last == *prefix
                || last.starts_with(&format!("{prefix}-"))
        })
        .map(|(_, lang)| *lang)
}

fn repository_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}

/// Python major version an image name says: `python:2.7-slim` is 2, `python:3.6` is 3.
pub(super) fn python_of_image(image: &str) -> Option<u8> {
    let lower = image.to_ascii_lowercase();
    if PYTHON2_BASES.iter().any(|b| lower.starts_with(b)) {
        return Some(2);
    }
    let repo_tag = lower.rsplit('/').next().unwrap_or(&lower);
    let (repo, tag) = repo_tag.split_once(':').unwrap_or((repo_tag, ""));
    let python_repo = repo == "python" || repo == "pypy" || repo.starts_with("python");
    if python_repo {
        if repo.starts_with("python2") || tag.starts_with('2') {
            return Some(2);
        }
        if repo.starts_with("python3") || tag.starts_with('3') {
            return Some(3);
        }
        if repo == "pypy" {
            return None;
        }
    }
    if lower.contains("python2") || lower.contains("py27") || lower.contains("python-2") {
        return Some(2);
    }
    // An application image tagged with its interpreter: `registry/ledger:2.7-40`.
    if tag.starts_with("2.7") || tag.contains("-py2") || tag.starts_with("py2") {
        return Some(2);
    }
    if lower.contains("python3") || lower.contains("py3") {
        return Some(3);
    }
    None
}

fn is_python_image(image: &str) -> bool {
    let lower = image.to_ascii_lowercase();
    // Vendor bases of Python frameworks: `acme/django-base:onbuild`, `team/flask-uwsgi`.
    let framework = [
        "django", "flask", "pyramid", "uwsgi", "gunicorn", "pylons", "plone",
    ]
    .iter()
    .any(|f| repository_of(&lower).contains(f));
    framework
        || python_of_image(&lower).is_some()
        || lower.rsplit('/').next().is_some_and(|l| {
            l.starts_with("python") || l.starts_with("pypy") || l.contains("-python")
        })
        || lower.starts_with("grpc/python")
}

/// Python versions a RUN line installs or uses: `apt-get install python-pip` is 2, `pip3` 3.
fn python_of_run(run: &str) -> (bool, Option<u8>) {
    let lower = run.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    let py3 = words.iter().any(|w| {
        matches!(
            *w,
            "python3" | "python3-pip" | "python3-dev" | "pip3" | "py3-pip" | "python3-venv"
        ) || w.starts_with("python3.")
    });
    let installs = words.windows(2).any(|w| {
        matches!(
            (w[0], w[1]),
            ("apt-get" | "apt" | "yum" | "dnf", "install") | ("apk", "add")
        )
    });
    let py2 = !py3
        && words.iter().any(|w| {
            matches!(*w, "python2" | "python2.7" | "pip2")
                || (installs
                    && matches!(
                        *w,
                        "python"
                            | "python-pip"
                            | "python-dev"
                            | "python-virtualenv"
                            | "py-pip"
                            | "python-setuptools"
                    ))
        });
    let python = py2
        || py3
        || words
            .iter()
            .any(|w| matches!(*w, "pip" | "virtualenv" | "setup.py" | "pipenv" | "poetry"));
    let major = if py3 {
        Some(3)
    } else if py2 {
        Some(2)
    } else {
        None
    };
    (python, major)
}

/// The interpreter a command starts: `python3 app.py` is 3, `python2` 2, `python` unknown.
pub(super) fn python_of_command(command: &str) -> Option<u8> {
    command.split_whitespace().find_map(|w| {
        let base = w.rsplit('/').next().unwrap_or(w);
        if base.starts_with("python3") || base == "pip3" {
            Some(3)
        } else if base.starts_with("python2") {
            Some(2)
        } else {
            None
        }
    })
}

/// `${NAME:-default}`, `${NAME-default}`, `${NAME}` and `$NAME` with the values in `args`; an
/// unknown variable without a default is left as written.
pub(super) fn substitute(text: &str, args: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            if let Some(end) = body.find('}') {
                let inner = &body[..end];
                let (name, default) = match inner.find([':', '-']) {
                    Some(j) => {
                        let d = inner[j..].trim_start_matches(':');
                        (&inner[..j], d.strip_prefix('-').map(str::to_string))
                    }
                    None => (inner, None),
                };
                match args(name)
                    .filter(|v| !v.is_empty() || default.is_none())
                    .or(default)
                {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push_str("${");
                        out.push_str(inner);
                        out.push('}');
                    }
                }
                rest = &body[end + 1..];
                continue;
            }
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        match args(&after[..len]) {
            Some(v) => out.push_str(&v),
            None => {
                out.push('$');
                out.push_str(&after[..len]);
            }
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

struct StageBuilder {
    stage: Stage,
    entrypoint: Option<Fact<String>>,
    cmd: Option<Fact<String>>,
    major: Option<u8>,
    args: Vec<(String, Option<String>)>,
}

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    let mut global_args: Vec<(String, Option<String>)> = Vec::new();
    let mut stages: Vec<StageBuilder> = Vec::new();
    for (i, line) in logical_lines(text) {
        let (instruction, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let rest = rest.trim();
        let instruction = instruction.to_ascii_uppercase();
        if instruction == "ARG" {
            let (name, default) = match rest.split_once('=') {
                Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('"').to_string())),
                None => (rest, None),
            };
            match stages.last_mut() {
                Some(s) => s.args.push((name.to_string(), default)),
                None => global_args.push((name.to_string(), default)),
            }
            continue;
        }
        if instruction == "FROM" {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            let raw = words.first().copied().unwrap_or("");
            let lookup = |name: &str| {
                global_args
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, d)| d.clone())
            };
            let image = substitute(raw, &lookup);
            let name = match words.as_slice() {
                [_, kw, n, ..] if kw.eq_ignore_ascii_case("as") => Some(n.to_string()),
                _ => None,
            };
            let parent = stages.iter().position(|s| {
                s.stage
                    .name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&image))
            });
            let inherited = parent.map(|p| &stages[p]);
            let stage = Stage {
                name,
                from: Fact::new(image.clone(), path, i),
                parent,
                python2: false,
                python: false,
                expose: inherited
                    .map(|p| p.stage.expose.clone())
                    .unwrap_or_default(),
                command: None,
                entrypoint: None,
                cmd: None,
                workdir: inherited.and_then(|p| p.stage.workdir.clone()),
                env: inherited.map(|p| p.stage.env.clone()).unwrap_or_default(),
            };
            let (mut python, mut major) = match inherited {
                Some(p) => (p.stage.python, p.major),
                None => (is_python_image(&image), python_of_image(&image)),
            };
            if other_language(&image).is_some() && parent.is_none() {
                python = false;
                major = None;
            }
            let builder = StageBuilder {
                entrypoint: inherited.and_then(|p| p.entrypoint.clone()),
                cmd: inherited.and_then(|p| p.cmd.clone()),
                stage: Stage { python, ..stage },
                major,
                args: Vec::new(),
            };
            stages.push(builder);
            continue;
        }
        let Some(current) = stages.last_mut() else {
            continue;
        };
        match instruction.as_str() {
            "EXPOSE" => {
                for word in rest.split_whitespace() {
                    let evidence = Evidence::new(path, i);
                    let raw = word.split('/').next().unwrap_or("");
                    let raw = substitute(raw, &|name| {
                        current
                            .args
                            .iter()
                            .chain(global_args.iter())
                            .rev()
                            .find(|(n, _)| n == name)
                            .and_then(|(_, d)| d.clone())
                    });
                    if let Some(p) = validate::checked(
                        &raw,
                        &evidence,
                        "EXPOSE port",
                        validate::port,
                        &mut out.warnings,
                    ) {
                        current.stage.expose.push(Fact::at(p, &evidence));
                    }
                }
            }
            "CMD" => current.cmd = Some(Fact::new(shell_form(rest), path, i)),
            "ENTRYPOINT" => {
                current.entrypoint = Some(Fact::new(shell_form(rest), path, i));
                // A new ENTRYPOINT resets the CMD inherited from the base.
                current.cmd = None;
            }
            "WORKDIR" => current.stage.workdir = Some(rest.to_string()),
            "ENV" => {
                let first = rest.split_whitespace().next().unwrap_or("");
                if first.contains('=') {
                    current.stage.env.extend(
                        rest.split_whitespace()
                            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string())),
                    );
                } else if !first.is_empty() {
                    current.stage.env.push(first.to_string());
                }
            }
            "RUN" => {
                let (python, major) = python_of_run(rest);
                current.stage.python |= python;
                if major.is_some() {
                    current.major = major;
                }
            }
            _ => {}
        }
    }
    if stages.is_empty() {
        return;
    }
    let mut built: Vec<Stage> = stages
        .into_iter()
        .map(|mut s| {
            let valid = |f: Option<Fact<String>>, warnings: &mut Vec<_>| {
                f.and_then(|c| {
                    validate::checked(
                        &c.value,
                        &c.evidence,
                        "command",
                        validate::command,
                        warnings,
                    )
                    .map(|v| Fact::at(v, &c.evidence))
                })
            };
            s.stage.entrypoint = valid(s.entrypoint.take(), &mut out.warnings);
            s.stage.cmd = valid(s.cmd.take(), &mut out.warnings);
            let command = join(s.stage.entrypoint.as_ref(), s.stage.cmd.as_ref());
            if let Some(c) = &command {
                if let Some(m) = python_of_command(&c.value) {
                    s.major = Some(m);
                    s.stage.python = true;
                } else if super::python::command_runs_python(&c.value) {
                    s.stage.python = true;
                }
            }
            s.stage.python2 = s.stage.python && s.major == Some(2);
            s.stage.command = command;
            s.stage
        })
        .collect();
    let last = built.len() - 1;
    // The root image of the final stage's chain: `FROM base AS final` reads base's image.
    let mut root = last;
    while let Some(p) = built[root].parent {
        if p >= root {
            break;
        }
        root = p;
    }
    let final_stage = &built[last];
    let base_image = if root == last {
        final_stage.from.clone()
    } else {
        Fact::at(built[root].from.value.clone(), &final_stage.from.evidence)
    };
    // A minimal final stage (alpine, scratch, distroless) runs what an earlier stage built:
    // `FROM golang AS builder` ... `FROM alpine` is a Go program.
    let minimal = {
        let b = base_image.value.to_ascii_lowercase();
        [
            "alpine",
            "scratch",
            "busybox",
            "debian",
            "ubuntu",
            "gcr.io/distroless",
            "centos",
        ]
        .iter()
        .any(|m| b == *m || b.starts_with(&format!("{m}:")) || b.starts_with(&format!("{m}/")))
    };
    let earlier = || {
        built.iter().rev().skip(1).find_map(|s| {
            other_language(&s.from.value)
                .map(|l| Fact::at(format!("{l}, built in an earlier stage"), &s.from.evidence))
        })
    };
    let language = if final_stage.python {
        None
    } else {
        other_language(&base_image.value)
            .map(|l| Fact::at(l.to_string(), &base_image.evidence))
            .or_else(|| if minimal { earlier() } else { None })
    };
    let d = Dockerfile {
        evidence: Evidence::new(path, 1),
        python2: final_stage.python2,
        python: final_stage.python,
        language,
        expose: final_stage.expose.clone(),
        command: final_stage.command.clone(),
        workdir: final_stage.workdir.clone(),
        env: final_stage.env.clone(),
        base_image,
        stages: std::mem::take(&mut built),
    };
    out.dockerfiles.push(d);
}

/// ENTRYPOINT and CMD as the one command line a container runs.
pub(super) fn join(
    entrypoint: Option<&Fact<String>>,
    cmd: Option<&Fact<String>>,
) -> Option<Fact<String>> {
    match (entrypoint, cmd) {
        (Some(e), Some(c)) => Some(Fact {
            value: format!("{} {}", e.value, c.value),
            evidence: e.evidence.clone(),
        }),
        (e, c) => e.or(c).cloned(),
    }
}

/// Lines with `\` continuations joined and comments dropped, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if current.is_empty() {
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            start = i + 1;
        } else if trimmed.starts_with('#') {
            continue;
        }
        if let Some(stripped) = trimmed.strip_suffix('\\') {
            current.push_str(stripped.trim_end());
            current.push(' ');
        } else {
            current.push_str(trimmed);
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// `["gunicorn", "-b", ":8000", "app:app"]` to `gunicorn -b :8000 app:app`.
pub(super) fn shell_form(rest: &str) -> String {
    match serde_json::from_str::<Vec<String>>(rest) {
        // Each word quoted, so the line splits back into the same words (a word with a space
        // or a quote stays one word; see check::strings::split_words).
        Ok(words) => super::command::join(&words),
        Err(_) => rest.to_string(),
    }
}

impl Dockerfile {
    /// The stage a build targets (by name), or the final stage.
    pub fn stage(&self, target: Option<&str>) -> Option<&Stage> {
        match target {
            Some(t) => self
                .stages
                .iter()
                .find(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t))),
            None => self.stages.last(),
        }
    }

    /// The directory the Dockerfile is in.
    pub fn dir(&self) -> &str {
        super::dir_of(&self.evidence.file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Dockerfile {
        let mut out = Detection::default();
        analyze("Dockerfile", text, &mut out);
        out.dockerfiles.remove(0)
    }

    #[test]
    fn reads_the_last_stage() {
        let d = one(
            "FROM node:20 AS assets\nEXPOSE 3000\nFROM python:2.7-slim\nWORKDIR /app\nENV LANG=C.UTF-8 PYTHONIOENCODING=UTF-8\nEXPOSE 8000\nCMD [\"gunicorn\", \"-b\", \":8000\", \\\n  \"ledger.wsgi\"]\n",
        );
        assert_eq!(d.base_image.value, "python:2.7-slim");
        assert!(d.python2);
        assert_eq!(d.expose.len(), 1);
        assert_eq!(d.expose[0].value, 8000);
        assert_eq!(d.expose[0].evidence.line, 6);
        assert_eq!(
            d.command.as_ref().unwrap().value,
            "gunicorn -b :8000 ledger.wsgi"
        );
        assert_eq!(d.env, vec!["LANG", "PYTHONIOENCODING"]);
        assert_eq!(d.stages.len(), 2);
    }

    #[test]
    fn stages_inherit_and_args_resolve() {
        let d = one(
            "ARG BASE=python:2.7-slim\nFROM ${BASE} AS base\nEXPOSE 8000\nCMD gunicorn app:app\nFROM base AS final\nUSER app\n",
        );
        assert_eq!(
            d.base_image.value, "python:2.7-slim",
            "FROM <stage> is not an image"
        );
        assert!(d.python2);
        assert_eq!(
            d.expose[0].value, 8000,
            "EXPOSE of an earlier stage is inherited"
        );
        assert_eq!(d.command.as_ref().unwrap().value, "gunicorn app:app");
        assert_eq!(d.stages[1].parent, Some(0));
    }

    #[test]
    fn vendor_bases_and_interpreters() {
        let d = one(
            "FROM grpc/python:1.0\nRUN pip install -r requirements.txt\nENTRYPOINT [\"python\", \"server.py\"]\n",
        );
        assert!(d.python2, "grpc/python:1.0 is Python 2.7");
        let d = one(
            "FROM grpc/python:1.0\nRUN apt-get install python3-pip\nENTRYPOINT [\"python3\", \"server.py\"]\n",
        );
        assert!(d.python && !d.python2, "the command runs python3");
        let d = one(
            "FROM ubuntu:xenial\nRUN apt-get install -y python-pip python-dev\nCMD [\"gunicorn\", \"app:app\"]\n",
        );
        assert!(d.python2, "Ubuntu's python-pip is Python 2");
        let d = one("FROM ruby:2.3\nCMD ruby details.rb 9080\n");
        assert!(!d.python);
        assert_eq!(d.language.unwrap().value, "Ruby");
        let d =
            one("FROM redash/base:debian\nRUN pip install -r requirements.txt\nCMD [\"server\"]\n");
        assert!(d.python, "pip install makes it Python");
    }

    #[test]
    fn substitution() {
        let args = |n: &str| (n == "TAG").then(|| "1.2".to_string());
        assert_eq!(substitute("app:${TAG}", &args), "app:1.2");
        assert_eq!(substitute("app:${OTHER:-latest}", &args), "app:latest");
        assert_eq!(substitute("app:${OTHER-x}", &args), "app:x");
        assert_eq!(substitute("app:${OTHER}", &args), "app:${OTHER}");
        assert_eq!(substitute("$TAG-$NOPE", &args), "1.2-$NOPE");
    }
}
