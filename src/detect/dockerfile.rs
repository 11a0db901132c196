//! Dockerfiles: base image (a `python:2.7*` base is the py2 copy), EXPOSE, CMD/ENTRYPOINT,
//! WORKDIR and ENV.

use super::facts::{Detection, Dockerfile, Evidence, Fact};

pub fn is_dockerfile(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile" || lower.starts_with("dockerfile.") || lower.ends_with(".dockerfile")
}

pub fn analyze(path: &str, text: &str, out: &mut Detection) {
    let mut base: Option<Fact<String>> = None;
    let mut expose = Vec::new();
    let mut cmd: Option<Fact<String>> = None;
    let mut entrypoint: Option<Fact<String>> = None;
    let mut workdir = None;
    let mut env = Vec::new();
    for (i, line) in logical_lines(text) {
        let (instruction, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let rest = rest.trim();
        match instruction.to_ascii_uppercase().as_str() {
            "FROM" => {
                // A new stage starts: only the last stage's settings describe the image.
                let image = rest
                    .split_whitespace()
                    .find(|w| !w.starts_with("--"))
                    .unwrap_or("")
                    .to_string();
                base = Some(Fact::new(image, path, i));
                expose.clear();
                cmd = None;
                entrypoint = None;
                env.clear();
            }
            "EXPOSE" => {
                for port in rest.split_whitespace() {
                    if let Ok(p) = port.split('/').next().unwrap_or("").parse::<u16>() {
                        expose.push(Fact::new(p, path, i));
                    }
                }
            }
            "CMD" => cmd = Some(Fact::new(shell_form(rest), path, i)),
            "ENTRYPOINT" => entrypoint = Some(Fact::new(shell_form(rest), path, i)),
            "WORKDIR" => workdir = Some(rest.to_string()),
            "ENV" => {
                let first = rest.split_whitespace().next().unwrap_or("");
                if rest.contains('=') {
                    env.extend(
                        rest.split_whitespace()
                            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string())),
                    );
                } else if !first.is_empty() {
                    env.push(first.to_string());
                }
            }
            _ => {}
        }
    }
    let Some(base_image) = base else { return };
    let command = match (entrypoint, cmd) {
        (Some(e), Some(c)) => Some(Fact {
            value: format!("{} {}", e.value, c.value),
            evidence: e.evidence,
        }),
        (e, c) => e.or(c),
    };
    let image = base_image.value.to_ascii_lowercase();
    let python2 =
        image.starts_with("python:2") || image.contains("/python:2") || image.contains("python2");
    out.dockerfiles.push(Dockerfile {
        evidence: Evidence::new(path, 1),
        python2,
        base_image,
        expose,
        command,
        workdir,
        env,
    });
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
        }
        if let Some(stripped) = trimmed.strip_suffix('\\') {
            current.push_str(stripped);
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
fn shell_form(rest: &str) -> String {
    match serde_json::from_str::<Vec<String>>(rest) {
        // Each word quoted, so the line splits back into the same words (a word with a space
        // or a quote stays one word; see check::strings::split_words).
        Ok(words) => words
            .iter()
            .map(|w| crate::emit::escape::shell::posix_word(w).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => rest.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_stage() {
        let text = "FROM node:20 AS assets\nEXPOSE 3000\nFROM python:2.7-slim\nWORKDIR /app\nENV LANG=C.UTF-8 PYTHONIOENCODING=UTF-8\nEXPOSE 8000\nCMD [\"gunicorn\", \"-b\", \":8000\", \\\n  \"ledger.wsgi\"]\n";
        let mut out = Detection::default();
        analyze("Dockerfile", text, &mut out);
        let d = &out.dockerfiles[0];
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
    }
}
