//! Procfiles: `name: command` per process type.

use super::facts::{Detection, Evidence, ProcessFacts, ProcessSource};
use super::validate;

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            continue;
        }
        let evidence = Evidence::new(path, i + 1);
        let Some(command) = validate::checked(
            command.trim(),
            &evidence,
            "Procfile command",
            validate::command,
            &mut out.warnings,
        ) else {
            continue;
        };
        out.processes.push(ProcessFacts {
            source: ProcessSource::Procfile,
            name: name.to_string(),
            command,
            user: None,
            working_directory: None,
            environment: Vec::new(),
            evidence,
        });
    }
}
