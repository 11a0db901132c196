//! supervisord programs: `[program:NAME]` with command, user, directory, environment.

use super::facts::{Detection, Evidence, ProcessFacts};
use super::ini;

/// Any INI-like file with a `[program:...]` section is a supervisord config.
pub fn looks_like(text: &str) -> bool {
    text.contains("[program:")
}

pub fn analyze(path: &str, text: &str, out: &mut Detection) {
    for section in ini::sections(text) {
        let Some(name) = section.name.strip_prefix("program:") else {
            continue;
        };
        let Some(command) = section.get("command") else {
            continue;
        };
        out.processes.push(ProcessFacts {
            source: "supervisord".into(),
            name: name.trim().to_string(),
            command: command.to_string(),
            user: section.get("user").map(str::to_string),
            working_directory: section.get("directory").map(str::to_string),
            environment: section
                .get("environment")
                .map(|e| {
                    e.split(',')
                        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            evidence: Evidence::new(path, section.line_of("command")),
        });
    }
}
