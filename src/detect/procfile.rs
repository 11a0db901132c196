//! Procfiles: `name: command` per process type.

use super::facts::{Detection, Evidence, ProcessFacts};

pub fn analyze(path: &str, text: &str, out: &mut Detection) {
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
        out.processes.push(ProcessFacts {
            source: "procfile".into(),
            name: name.to_string(),
            command: command.trim().to_string(),
            user: None,
            working_directory: None,
            environment: Vec::new(),
            evidence: Evidence::new(path, i + 1),
        });
    }
}
