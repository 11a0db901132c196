//! systemd service units: ExecStart, User, WorkingDirectory, Environment.

use super::facts::{Detection, EnvVar, Evidence, ProcessFacts, ProcessSource};
use super::{ini, validate};

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    let sections = ini::sections(text);
    let Some(service) = sections.iter().find(|s| s.name == "Service") else {
        return;
    };
    let Some(exec) = service.get("ExecStart") else {
        return;
    };
    let evidence = Evidence::new(path, service.line_of("ExecStart"));
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".service")
        .trim_end_matches(".j2")
        .trim_end_matches(".service")
        .to_string();
    let Some(name) = validate::checked(
        &name,
        &evidence,
        "unit name",
        validate::name,
        &mut out.warnings,
    ) else {
        return;
    };
    // Prefixes such as `-` or `@` change how systemd runs the command, not the command.
    let Some(command) = validate::checked(
        exec.trim_start_matches(['-', '@', ':', '+', '!']),
        &evidence,
        "ExecStart",
        validate::command,
        &mut out.warnings,
    ) else {
        return;
    };
    let env_at = Evidence::new(path, service.line_of("Environment"));
    let environment = service
        .all("Environment")
        .flat_map(|e| {
            e.split_whitespace()
                .map(|kv| kv.trim_matches('"').to_string())
                .collect::<Vec<_>>()
        })
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .map(|(k, v)| {
            let credential = validate::env_value(
                &k,
                Some(&v),
                &env_at,
                validate::FIX_HOST,
                &mut out.credentials,
            );
            EnvVar {
                name: k,
                credential,
                evidence: env_at.clone(),
            }
        })
        .collect();
    out.processes.push(ProcessFacts {
        source: ProcessSource::Systemd,
        name,
        command,
        user: service.get("User").map(str::to_string),
        working_directory: service.get("WorkingDirectory").map(str::to_string),
        environment,
        evidence,
    });
}
