//! Upstart jobs (`/etc/init/*.conf`, an `upstart/` directory): `exec COMMAND`, or the last
//! command of a `script ... end script` block; `setuid` and `chdir`.

use super::facts::{Detection, Evidence, ProcessFacts, ProcessSource};
use super::validate;

/// Whether a `.conf` file is an Upstart job: `start on`/`respawn` with `exec` or `script`.
pub(super) fn looks_like(path: &str, text: &str) -> bool {
    let in_init_dir = path.contains("upstart/") || path.contains("init/");
    let stanza = |w: &str| text.lines().any(|l| l.trim_start().starts_with(w));
    (stanza("start on") || stanza("respawn") || (in_init_dir && stanza("description")))
        && (stanza("exec ") || stanza("script"))
}

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    let mut command: Option<(String, usize)> = None;
    let mut in_script = false;
    let mut user = None;
    let mut chdir = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if in_script {
            if line == "end script" {
                in_script = false;
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            let builtin = matches!(
                first,
                "." | "source"
                    | "export"
                    | "cd"
                    | "echo"
                    | "if"
                    | "fi"
                    | "then"
                    | "else"
                    | "set"
                    | "test"
                    | "["
                    | "sleep"
                    | "mkdir"
                    | "chown"
            ) || first.contains('=');
            if !builtin {
                let line = line.strip_prefix("exec ").unwrap_or(line);
                command = Some((line.to_string(), i + 1));
            }
            continue;
        }
        if line == "script" {
            in_script = true;
        } else if let Some(c) = line.strip_prefix("exec ") {
            command = Some((c.trim().to_string(), i + 1));
        } else if let Some(u) = line.strip_prefix("setuid ") {
            user = Some(u.trim().to_string());
        } else if let Some(d) = line.strip_prefix("chdir ") {
            chdir = Some(d.trim().to_string());
        }
    }
    let Some((command, line)) = command else {
        return;
    };
    let evidence = Evidence::new(path, line);
    let name = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".j2")
        .trim_end_matches(".conf")
        .to_string();
    let Some(name) = validate::checked(
        &name,
        &evidence,
        "job name",
        validate::name,
        &mut out.warnings,
    ) else {
        return;
    };
    let Some(command) = validate::checked(
        &command,
        &evidence,
        "Upstart command",
        validate::command,
        &mut out.warnings,
    ) else {
        return;
    };
    out.processes.push(ProcessFacts {
        source: ProcessSource::Upstart,
        name,
        command,
        user,
        working_directory: chdir,
        environment: Vec::new(),
        evidence,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_blocks_and_exec() {
        let text = "description \"the app under paster\"\n\nstart on app-start\nrespawn\n\nscript\n    . /etc/default/app\n    wrap-job paster serve --reload $APP_INI\nend script\n";
        assert!(looks_like("upstart/app-paster.conf", text));
        let mut out = Detection::default();
        analyze("upstart/app-paster.conf", text, &mut out);
        let p = &out.processes[0];
        assert_eq!(p.name, "app-paster");
        assert_eq!(p.command, "wrap-job paster serve --reload $APP_INI");
        assert_eq!(p.evidence.line, 8);
        assert!(!looks_like(
            "nginx/site.conf",
            "server {\n  listen 80;\n}\n"
        ));
    }
}
