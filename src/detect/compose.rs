//! Docker Compose files (`docker-compose.y*ml`, `compose.y*ml`): services, images or build
//! contexts, ports, environment names, dependencies, and which services hold shared state.

use serde_json::Value;

use super::facts::{ComposeService, Detection, Evidence, Warning};
use super::yaml::{Doc, scalar, str_at};

pub fn is_compose_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.starts_with("docker-compose") || lower.starts_with("compose"))
        && (lower.ends_with(".yml") || lower.ends_with(".yaml"))
}

/// Images whose containers hold state both copies will share during the canary.
const STATEFUL: &[(&str, &str)] = &[
    ("redis", "cache"),
    ("memcached", "cache"),
    ("rabbitmq", "broker"),
    ("kafka", "broker"),
    ("postgres", "database"),
    ("mysql", "database"),
    ("mariadb", "database"),
    ("mongo", "database"),
    ("haproxy", "load balancer"),
    ("nginx", "load balancer"),
];

pub fn analyze(path: &str, docs: &[Doc<'_>], out: &mut Detection) {
    let Some(doc) = docs.first() else { return };
    let Some(services) = doc.value.get("services").and_then(Value::as_object) else {
        out.warnings.push(Warning {
            file: path.to_string(),
            line: u32::try_from(doc.line).unwrap_or(u32::MAX),
            message: "compose file without a `services` mapping".into(),
        });
        return;
    };
    let mut names: Vec<&String> = services.keys().collect();
    names.sort();
    for name in names {
        let service = &services[name];
        let image = str_at(service, &["image"]).map(str::to_string);
        let build = match service.get("build") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(b) => str_at(b, &["context"]).map(str::to_string),
            None => None,
        };
        let ports = service
            .get("ports")
            .and_then(Value::as_array)
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|p| scalar(p).or_else(|| p.get("target").and_then(scalar)))
                    .collect()
            })
            .unwrap_or_default();
        let env = match service.get("environment") {
            Some(Value::Object(map)) => map.keys().cloned().collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.split('=').next().unwrap_or(s).to_string())
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
            name: name.clone(),
            image,
            build,
            ports,
            env,
            depends_on,
            role,
            evidence: Evidence::new(path, doc.line_of(&format!("{name}:"))),
            definition: Some(service.clone()),
        });
    }
}
