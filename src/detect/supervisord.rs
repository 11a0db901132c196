//! supervisord programs: `[program:NAME]` with command, user, directory, environment.

use super::facts::{Detection, EnvVar, Evidence, ProcessFacts, ProcessSource};
use super::{ini, validate};

/// Any INI-like file with a `[program:...]` section is a supervisord config.
pub(super) fn looks_like(text: &str) -> bool {
    text.contains("[program:")
}

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    for section in ini::sections(text) {
        let Some(name) = section.name.strip_prefix("program:") else {
            continue;
        };
        let Some(command) = section.get("command") else {
            continue;
        };
        let evidence = Evidence::new(path, section.line_of("command"));
        let Some(name) = validate::checked(
            name.trim(),
            &evidence,
            "supervisord program name",
            validate::name,
            &mut out.warnings,
        ) else {
            continue;
        };
        let Some(command) = validate::checked(
            command,
            &evidence,
            "supervisord command",
            validate::command,
            &mut out.warnings,
        ) else {
            continue;
        };
        let env_at = Evidence::new(path, section.line_of("environment"));
        let environment = section
            .get("environment")
            .map(|e| {
                e.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| {
                        let k = k.trim();
                        let credential = validate::env_value(
                            k,
                            Some(v.trim()),
                            &env_at,
                            validate::FIX_HOST,
                            &mut out.credentials,
                        );
                        EnvVar {
                            name: k.to_string(),
                            credential,
                            evidence: env_at.clone(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.processes.push(ProcessFacts {
            source: ProcessSource::Supervisord,
            name,
            command,
            user: section.get("user").map(str::to_string),
            working_directory: section.get("directory").map(str::to_string),
            environment,
            evidence,
        });
    }
}
