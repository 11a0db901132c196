//! Docker Compose files (`docker-compose*.y*ml`, `compose*.y*ml`, `docker-stack*.y*ml`):
//! services after YAML merge keys (applied by `yaml.rs`), `extends` within the file and
//! `${VAR:-default}` interpolation (defaults, and the project's `.env` for images, ports and
//! build settings); images or build contexts (relative to the compose file), commands, ports,
//! environment names with literal credentials flagged, `env_file`, bind mounts, dependencies,
//! health checks, and which services hold shared state.

use std::collections::BTreeMap;

use serde_json::Value;

use super::facts::{ComposeService, Detection, EnvVar, Evidence, ImageBuild, Warning};
use super::yaml::{Doc, scalar, str_at};
use super::{dir_of, dockerfile, join_path, validate};

pub(super) fn is_compose_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("docker-compose")
        || lower.starts_with("compose")
        || lower.starts_with("docker-stack"))
        && (lower.ends_with(".yml") || lower.ends_with(".yaml"))
}

/// Images whose containers hold state both copies will share during the canary.
const STATEFUL: &[(&str, &str)] = &[
    ("redis", "cache"),
    ("memcached", "cache"),
    ("rabbitmq", "broker"),
    ("kafka", "broker"),
    ("zookeeper", "coordination"),
    ("postgres", "database"),
    ("postgis", "database"),
    ("mysql", "database"),
    ("mariadb", "database"),
    ("mongo", "database"),
    ("cassandra", "database"),
    ("clickhouse", "database"),
    ("elasticsearch", "search"),
    ("solr", "search"),
    ("haproxy", "load balancer"),
    ("nginx", "load balancer"),
    ("traefik", "load balancer"),
];

/// Why a compose file is a development one, from its name or its opening comment.
fn dev_file(path: &str, text: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let stem = name.trim_end_matches(".yml").trim_end_matches(".yaml");
    // Development variants, and files for one-off tasks (an init, a shell, a migration).
    for word in [
        "override", "dev", "local", "test", "ci", "debug", "e2e", "init", "shell", "tools",
        "migrate", "build",
    ] {
        if stem
            .split(['-', '.', '_'])
            .any(|part| part == word || (word == "dev" && part == "development"))
        {
            return Some(format!(
                "the file name `{name}` says `{word}`: not what production runs"
            ));
        }
    }
    let header: String = text
        .lines()
        .take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    for phrase in [
        "development",
        "local dev",
        "for dev",
        "dev setup",
        "not for production",
    ] {
        if header.contains(phrase) && !header.contains(&format!("production {phrase}")) {
            return Some(format!("its header comment says it is for {phrase}"));
        }
    }
    None
}

/// Interpolation values: the `.env` next to the compose file (read by the walk) and defaults.
pub(super) type DotEnv = BTreeMap<String, String>;

/// Reads a `.env` file: `NAME=value` lines.
pub(super) fn dotenv(text: &str) -> DotEnv {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let (k, v) = l.trim_start_matches("export ").split_once('=')?;
            Some((
                k.trim().to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            ))
        })
        .collect()
}

/// The service definition with `extends:` (same file) applied: the base's keys under its own.
fn extended(name: &str, services: &serde_json::Map<String, Value>, depth: usize) -> Value {
    let own = services.get(name).cloned().unwrap_or(Value::Null);
    if depth > 8 {
        return own;
    }
    let base = match own.get("extends") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(e) if e.get("file").is_none() => str_at(e, &["service"]).map(str::to_string),
        _ => None,
    };
    let Some(base) = base.filter(|b| b != name && services.contains_key(b)) else {
        return own;
    };
    let mut merged = extended(&base, services, depth + 1);
    if let (Some(m), Value::Object(o)) = (merged.as_object_mut(), &own) {
        for (k, v) in o {
            if k != "extends" {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    merged
}

pub(super) fn analyze(path: &str, text: &str, docs: &[Doc<'_>], env: &DotEnv, out: &mut Detection) {
    let Some(doc) = docs.first() else { return };
    let Some(services) = doc.value.get("services").and_then(Value::as_object) else {
        out.warnings.push(Warning::unreadable(
            path,
            doc.line,
            "compose file without a `services` mapping",
        ));
        return;
    };
    let dir = dir_of(path);
    let dev = dev_file(path, text);
    // Images, ports and build settings see `.env`; commands only see defaults, so a value kept
    // in `.env` (maybe a secret) never ends up in a command line canaryc writes.
    let with_env = |s: &str| dockerfile::substitute(s, &|n| env.get(n).cloned());
    let defaults_only = |s: &str| dockerfile::substitute(s, &|_| None);
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for name in names {
        let service = extended(name, services, 0);
        let line = doc.line_of_key(name, Some("services:"));
        let evidence = Evidence::new(path, line);
        let at = |key: &str| Evidence::new(path, doc.line_of_key(key, Some(&format!("{name}:"))));
        let Some(name) = validate::checked(
            name,
            &evidence,
            "compose service name",
            validate::name,
            &mut out.warnings,
        ) else {
            continue;
        };
        let image = str_at(&service, &["image"]).map(with_env).and_then(|i| {
            validate::checked(
                &i,
                &at("image"),
                "image",
                validate::image,
                &mut out.warnings,
            )
        });
        let (build, build_file, target) = match service.get("build") {
            Some(Value::String(s)) => (Some(with_env(s)), None, None),
            Some(b) => (
                str_at(b, &["context"])
                    .map(with_env)
                    .or_else(|| Some(".".into())),
                str_at(b, &["dockerfile"]).map(with_env),
                str_at(b, &["target"]).map(with_env),
            ),
            None => (None, None, None),
        };
        let build = build.map(|b| join_path(dir, &b));
        let build_args: Vec<(String, String)> = match super::yaml::get(&service, &["build", "args"])
        {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(k, v)| scalar(v).map(|v| (k.clone(), with_env(&v))))
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.split_once('=').map(|(k, v)| (k.to_string(), with_env(v))))
                .collect(),
            _ => Vec::new(),
        };
        let dockerfile = build
            .as_ref()
            .map(|ctx| join_path(ctx, build_file.as_deref().unwrap_or("Dockerfile")));
        if let (Some(ctx), Some(img)) = (&build, &image) {
            out.builds.push(ImageBuild {
                image: img.clone(),
                context: ctx.clone(),
                dockerfile: dockerfile.clone(),
                target: target.clone(),
                via: "compose".into(),
                evidence: at("build"),
            });
        }
        let command = service
            .get("command")
            .and_then(super::yaml::command_line)
            .map(|c| defaults_only(&c))
            .and_then(|c| {
                validate::checked(
                    &c,
                    &at("command"),
                    "command",
                    validate::command,
                    &mut out.warnings,
                )
            });
        let entrypoint = service
            .get("entrypoint")
            .and_then(super::yaml::command_line)
            .map(|c| defaults_only(&c))
            .and_then(|c| {
                validate::checked(
                    &c,
                    &at("entrypoint"),
                    "entrypoint",
                    validate::command,
                    &mut out.warnings,
                )
            });
        let mut ports = Vec::new();
        let mut container_ports = Vec::new();
        let mut published = Vec::new();
        for p in service
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // The host side, when it is one port: `[IP:]HOST:CONTAINER[/proto]`, or `published`.
            let (target, host) = match p {
                Value::Object(_) => (
                    p.get("target").and_then(scalar),
                    p.get("published").and_then(scalar).map(|h| with_env(&h)),
                ),
                other => match scalar(other) {
                    Some(s) => {
                        let s = with_env(&s);
                        ports.push(s.clone());
                        let no_proto = s.split('/').next().unwrap_or("");
                        let mut parts = no_proto.rsplit(':');
                        let target = parts.next().unwrap_or("").to_string();
                        (Some(target), parts.next().map(str::to_string))
                    }
                    None => (None, None),
                },
            };
            if let Some(t) = target {
                let first = t.split('-').next().unwrap_or("").to_string();
                if let Some(port) = validate::checked(
                    &first,
                    &at("ports"),
                    "compose port",
                    validate::port,
                    &mut out.warnings,
                ) {
                    container_ports.push(port);
                    // A range or an empty host side is no one port clients use.
                    if let Some(host) = host.and_then(|h| validate::port(&h).ok()) {
                        published.push((port, host));
                    }
                }
            }
        }
        for p in service
            .get("expose")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(port) = scalar(p).and_then(|s| validate::port(&s).ok()) {
                container_ports.push(port);
            }
        }
        let mut env = Vec::new();
        let env_evidence = at("environment");
        match service.get("environment") {
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    let value = scalar(v);
                    let e = Evidence::new(path, doc.line_of_key(k, Some(&format!("{name}:"))));
                    let credential = validate::env_value(
                        k,
                        value.as_deref(),
                        &e,
                        validate::FIX_COMPOSE,
                        &mut out.credentials,
                    );
                    env.push(EnvVar {
                        name: k.clone(),
                        credential,
                        evidence: e,
                    });
                }
            }
            Some(Value::Array(items)) => {
                for item in items.iter().filter_map(Value::as_str) {
                    let (k, v) = match item.split_once('=') {
                        Some((k, v)) => (k, Some(v)),
                        None => (item, None),
                    };
                    let e = Evidence::new(
                        path,
                        doc.text
                            .lines()
                            .position(|l| l.contains(item))
                            .map_or(env_evidence.line as usize, |i| doc.line + i),
                    );
                    let credential =
                        validate::env_value(k, v, &e, validate::FIX_COMPOSE, &mut out.credentials);
                    env.push(EnvVar {
                        name: k.to_string(),
                        credential,
                        evidence: e,
                    });
                }
            }
            _ => {}
        }
        let debug_env = service.get("environment").and_then(|e| {
            let pairs: Vec<(String, String)> = match e {
                Value::Object(map) => map
                    .iter()
                    .filter_map(|(k, v)| scalar(v).map(|v| (k.clone(), v)))
                    .collect(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| {
                        s.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            pairs.iter().find_map(|(k, v)| {
                let on = matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on");
                let debug = (matches!(
                    k.as_str(),
                    "DEBUG" | "FLASK_DEBUG" | "DJANGO_DEBUG" | "APP_DEBUG"
                ) && on)
                    || (matches!(
                        k.as_str(),
                        "FLASK_ENV" | "APP_ENV" | "ENVIRONMENT" | "DJANGO_ENV"
                    ) && v.eq_ignore_ascii_case("development"));
                debug.then(|| Evidence::new(path, doc.line_of_key(k, Some(&format!("{name}:")))))
            })
        });
        let env_files = match service.get("env_file") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let depends_on = match service.get("depends_on") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let bind_mounts = service
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::String(s) => {
                    let host = s.split(':').next()?;
                    (host.starts_with('.')
                        || host.starts_with('/')
                        || host.starts_with('~')
                        || host.starts_with('$'))
                    .then(|| host.to_string())
                }
                other => (str_at(other, &["type"]) == Some("bind"))
                    .then(|| str_at(other, &["source"]).map(str::to_string))
                    .flatten(),
            })
            .map(|host| {
                if host.starts_with('.') {
                    join_path(dir, &host)
                } else {
                    host
                }
            })
            .collect();
        let health = service
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .and_then(super::yaml::command_line)
            .and_then(|t| {
                t.split_whitespace()
                    .find_map(|w| w.split_once("://").map(|(_, r)| r.to_string()))
            })
            .and_then(|rest| {
                rest.find('/')
                    .map(|i| rest[i..].trim_matches(['"', '\'']).to_string())
            })
            .and_then(|p| {
                validate::checked(
                    &p,
                    &at("healthcheck"),
                    "health path",
                    validate::health_path,
                    &mut out.warnings,
                )
            });
        if let Some(c) = &command {
            if let Some(what) = validate::command_credential(c) {
                out.credentials.push(super::facts::Credential {
                    evidence: at("command"),
                    what: what.into(),
                    fix: validate::FIX_COMPOSE.into(),
                });
            }
        }
        let replicas = super::yaml::get(&service, &["deploy", "replicas"])
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok());
        let image_name = image
            .as_deref()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("");
        let role = STATEFUL
            .iter()
            .find(|(prefix, _)| image_name.starts_with(prefix) || name.as_str() == *prefix)
            .map(|(_, role)| (*role).to_string());
        out.compose.push(ComposeService {
            name,
            image,
            build,
            dockerfile,
            target,
            build_args,
            command,
            entrypoint,
            ports,
            container_ports,
            published,
            env,
            env_files,
            depends_on,
            bind_mounts,
            replicas,
            health,
            role,
            dev_file: dev.clone(),
            debug_env,
            evidence,
            definition: Some(service),
        });
    }
}

/// Compose merges the files it is given (`docker compose -f docker-compose.yml -f
/// docker-compose.ssl.yml`), and reads `docker-compose.override.yml` next to the base by
/// itself. So a service of an override, or of a variant file (`docker-compose.NAME.yml`) that
/// names neither an image nor a build and so cannot run alone, is the base service of the same
/// name with the variant's changes: it takes what it does not say (image, build, command,
/// ports, environment, mounts ...) from that base, in its own directory or the nearest one
/// above. The base alone is what production runs; an override stays marked as development.
pub(super) fn apply_overrides(services: &mut [ComposeService]) {
    let bases: Vec<ComposeService> = services
        .iter()
        .filter(|s| layer(&s.evidence.file) == Layer::Base)
        .cloned()
        .collect();
    for s in services.iter_mut() {
        let partial = s.image.is_none() && s.build.is_none();
        match layer(&s.evidence.file) {
            Layer::Override => {}
            Layer::Variant if partial => {}
            _ => continue,
        }
        let Some(base) = base_of(&bases, s) else {
            continue;
        };
        s.image = s.image.take().or_else(|| base.image.clone());
        if s.build.is_none() {
            s.build = base.build.clone();
            s.dockerfile = base.dockerfile.clone();
            s.target = base.target.clone();
            if s.build_args.is_empty() {
                s.build_args = base.build_args.clone();
            }
        }
        s.command = s.command.take().or_else(|| base.command.clone());
        s.entrypoint = s.entrypoint.take().or_else(|| base.entrypoint.clone());
        if s.container_ports.is_empty() {
            s.container_ports = base.container_ports.clone();
            s.ports = base.ports.clone();
            s.published = base.published.clone();
        }
        // Compose merges environments by name (the later file wins) and mounts and
        // dependencies by union.
        for e in &base.env {
            if !s.env.iter().any(|own| own.name == e.name) {
                s.env.push(e.clone());
            }
        }
        for (own, from) in [
            (&mut s.env_files, &base.env_files),
            (&mut s.depends_on, &base.depends_on),
            (&mut s.bind_mounts, &base.bind_mounts),
        ] {
            for v in from {
                if !own.contains(v) {
                    own.push(v.clone());
                }
            }
        }
        s.replicas = s.replicas.or(base.replicas);
        s.health = s.health.take().or_else(|| base.health.clone());
        s.role = s.role.take().or_else(|| base.role.clone());
        s.debug_env = s.debug_env.take().or_else(|| base.debug_env.clone());
        s.dev_file = s.dev_file.take().or_else(|| base.dev_file.clone());
        if let (Some(Value::Object(own)), Some(Value::Object(from))) =
            (s.definition.as_mut(), base.definition.as_ref())
        {
            for (k, v) in from {
                own.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// Whether a compose file is an override or a variant of a base file next to (or above) it.
pub(super) fn is_variant_file(path: &str) -> bool {
    matches!(layer(path), Layer::Override | Layer::Variant)
}

/// What a compose file's name makes it among the files Compose merges.
#[derive(Debug, PartialEq, Eq)]
enum Layer {
    /// `docker-compose.yml`, `compose.yaml`: what `docker compose` reads by default.
    Base,
    /// `docker-compose.override.yml`: read on top of the base by default.
    Override,
    /// `docker-compose.NAME.yml`: given on top of the base with `-f`, or on its own.
    Variant,
    Other,
}

fn layer(path: &str) -> Layer {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some(stem) = name
        .strip_suffix(".yml")
        .or_else(|| name.strip_suffix(".yaml"))
    else {
        return Layer::Other;
    };
    match stem
        .strip_prefix("docker-compose")
        .or_else(|| stem.strip_prefix("compose"))
    {
        Some("") => Layer::Base,
        Some(rest) if rest.starts_with(".override") => Layer::Override,
        Some(rest) if rest.starts_with('.') => Layer::Variant,
        _ => Layer::Other,
    }
}

/// The base service `s` extends: the one of its name in a base file in its directory or the
/// nearest directory above.
fn base_of<'a>(bases: &'a [ComposeService], s: &ComposeService) -> Option<&'a ComposeService> {
    let mut dir = dir_of(&s.evidence.file);
    loop {
        if let Some(base) = bases
            .iter()
            .find(|b| dir_of(&b.evidence.file) == dir && b.name == s.name)
        {
            return Some(base);
        }
        if dir == "." {
            return None;
        }
        dir = dir.rsplit_once('/').map_or(".", |(parent, _)| parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::yaml;

    fn services(path: &str, text: &str, env: &DotEnv) -> Detection {
        let (docs, warnings) = yaml::documents(path, text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut out = Detection::default();
        analyze(path, text, &docs, env, &mut out);
        out
    }

    #[test]
    fn merge_keys_extends_and_interpolation() {
        let text = "version: '3.4'\nx-defaults: &defaults\n  build:\n    context: ./app\n    target: prod\n  image: team/app:${TAG:-latest}\n  environment:\n    DB_PASSWORD: hunter2\n    DATABASE_URL: postgres://app:${DB_PASSWORD}@db/app\nservices:\n  web:\n    <<: *defaults\n    command: gunicorn -b 0.0.0.0:${PORT:-8000} app:app\n    ports:\n      - \"${WEB_PORT}:8000\"\n  worker:\n    extends: web\n    command: celery -A app worker\n    ports: []\n";
        let env = DotEnv::from([("WEB_PORT".to_string(), "80".to_string())]);
        let out = services("deploy/docker-compose.yml", text, &env);
        let web = out.compose.iter().find(|c| c.name == "web").unwrap();
        assert_eq!(web.image.as_deref(), Some("team/app:latest"));
        assert_eq!(
            web.build.as_deref(),
            Some("deploy/app"),
            "relative to the compose file"
        );
        assert_eq!(web.target.as_deref(), Some("prod"));
        assert_eq!(
            web.command.as_deref(),
            Some("gunicorn -b 0.0.0.0:8000 app:app")
        );
        assert_eq!(web.container_ports, vec![8000]);
        assert_eq!(web.ports, vec!["80:8000"]);
        assert!(
            web.env
                .iter()
                .any(|e| e.name == "DB_PASSWORD" && e.credential)
        );
        assert!(
            web.env
                .iter()
                .any(|e| e.name == "DATABASE_URL" && !e.credential)
        );
        let worker = out.compose.iter().find(|c| c.name == "worker").unwrap();
        assert_eq!(worker.image.as_deref(), Some("team/app:latest"), "extends");
        assert_eq!(worker.command.as_deref(), Some("celery -A app worker"));
        assert_eq!(out.builds.len(), 2);
    }

    #[test]
    fn a_partial_variant_file_extends_the_base_service_of_its_name() {
        let env = DotEnv::default();
        let mut out = services(
            "docker-compose.yml",
            "services:\n  web:\n    image: team/app:2.7\n    command: gunicorn -b 0.0.0.0:8000 app.wsgi\n    ports: [\"8000:8000\"]\n    environment:\n      - DEBUG=False\n      - SITE=http\n  db:\n    image: postgres\n",
            &env,
        );
        for (path, text) in [
            // Given with `-f` on top of the base: it changes two settings and mounts a path.
            (
                "docker-compose.ssl.yml",
                "services:\n  web:\n    environment:\n      - SITE=https\n    volumes:\n      - ./certs:/certs\n",
            ),
            // A file of its own, whole: not merged.
            (
                "docker-compose.test.yml",
                "services:\n  web:\n    image: team/app:test\n    command: pytest\n",
            ),
            // A variant in a subdirectory extends the nearest base above it.
            (
                "ci/docker-compose.ci.yml",
                "services:\n  web:\n    command: ./manage.py test\n",
            ),
        ] {
            let more = services(path, text, &env);
            out.compose.extend(more.compose);
        }
        apply_overrides(&mut out.compose);
        let get = |file: &str| {
            out.compose
                .iter()
                .find(|s| s.evidence.file == file && s.name == "web")
                .unwrap()
        };
        let ssl = get("docker-compose.ssl.yml");
        assert_eq!(ssl.image.as_deref(), Some("team/app:2.7"));
        assert_eq!(
            ssl.command.as_deref(),
            Some("gunicorn -b 0.0.0.0:8000 app.wsgi")
        );
        assert_eq!(ssl.container_ports, [8000]);
        let env_of = |s: &ComposeService| s.env.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(env_of(ssl), ["SITE", "DEBUG"]);
        assert_eq!(ssl.bind_mounts, ["certs"]);
        let test = get("docker-compose.test.yml");
        assert_eq!(test.image.as_deref(), Some("team/app:test"));
        assert!(test.container_ports.is_empty());
        let ci = get("ci/docker-compose.ci.yml");
        assert_eq!(ci.image.as_deref(), Some("team/app:2.7"));
        assert_eq!(ci.command.as_deref(), Some("./manage.py test"));
    }

    #[test]
    fn the_host_port_of_each_mapping_is_where_clients_reach_it() {
        let text = "services:\n  web:\n    image: team/app:2.7\n    ports:\n      - \"127.0.0.1:8001:8000/tcp\"\n      - \"9000-9001:9000-9001\"\n      - \"7000\"\n      - target: 5000\n        published: ${API_PORT:-5001}\n      - \"[::1]:6001:6000\"\n";
        let out = services("docker-compose.yml", text, &DotEnv::default());
        let web = &out.compose[0];
        assert_eq!(web.container_ports, [8000, 9000, 7000, 5000, 6000]);
        // A range and a port Docker picks are no one port clients use.
        assert_eq!(web.published, [(8000, 8001), (5000, 5001), (6000, 6001)]);
    }

    #[test]
    fn development_files() {
        assert!(dev_file("docker-compose.override.yml", "").is_some());
        assert!(dev_file("docker-compose.dev.yml", "").is_some());
        assert!(
            dev_file(
                "docker-compose.yml",
                "# This configuration file is for the **development** setup.\nversion: '3'\n"
            )
            .is_some()
        );
        assert!(dev_file("docker-compose.yml", "version: '3'\n").is_none());
        assert!(dev_file("docker-compose.prod.yml", "").is_none());
    }
}
