//! systemd service units: ExecStart, User, WorkingDirectory, Environment.

use super::facts::{Detection, Evidence, ProcessFacts};
use super::ini;

pub fn analyze(path: &str, text: &str, out: &mut Detection) {
    let sections = ini::sections(text);
    let Some(service) = sections.iter().find(|s| s.name == "Service") else {
        return;
    };
    let Some(exec) = service.get("ExecStart") else {
        return;
    };
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".service")
        .to_string();
    let environment = service
        .all("Environment")
        .flat_map(|e| {
            e.split_whitespace()
                .map(|kv| kv.trim_matches('"').to_string())
        })
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    out.processes.push(ProcessFacts {
        source: "systemd".into(),
        name,
        // Prefixes such as `-` or `@` change how systemd runs the command, not the command.
        command: exec
            .trim_start_matches(['-', '@', ':', '+', '!'])
            .to_string(),
        user: service.get("User").map(str::to_string),
        working_directory: service.get("WorkingDirectory").map(str::to_string),
        environment,
        evidence: Evidence::new(path, service.line_of("ExecStart")),
    });
}
