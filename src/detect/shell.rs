//! Shell scripts that start things: `docker-entrypoint.sh`, `bin/run-prod.sh`. What each
//! `case "$1"` arm (or the script itself) finally runs, following shell functions, with
//! `${VAR:-default}` defaults applied; whether it ends in `exec "$@"` (a wrapper that runs its
//! arguments); and `docker build -t IMAGE DIR` lines, which link an image to a build context.
//!
//! This is a reader of the common shapes, not a shell: a command it cannot follow is left out.

use std::collections::BTreeMap;

use super::facts::{Detection, Evidence, Fact, ImageBuild, Script, ScriptCommand};
use super::{command, dir_of, dockerfile, join_path, validate};

/// Whether a file name is a script worth reading.
pub(super) fn is_script(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".sh") || lower.contains("entrypoint") || lower.starts_with("run-")
}

/// The word that ends a heredoc: `<<EOF`, `<<-'EOF'`, `<< "EOF"`.
fn heredoc_word(after: &str) -> &str {
    after
        .trim_start_matches('-')
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(['\'', '"'])
}

/// A heredoc a script writes to a file (`cat > /etc/haproxy/haproxy.cfg <<EOF`): the config it
/// installs, kept at the script's line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Heredoc {
    /// The file name written (`haproxy.cfg`), from the redirection.
    pub target: String,
    /// The script's text with every line outside the heredoc's body blanked, so a config
    /// reader reports the script's own line numbers.
    pub text: String,
}

/// The heredocs of a script that are written to files.
pub(super) fn heredocs(text: &str) -> Vec<Heredoc> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let Some(pos) = line.find("<<") else {
            i += 1;
            continue;
        };
        let word = heredoc_word(&line[pos + 2..]);
        let target = line
            .split('>')
            .nth(1)
            .filter(|_| line.contains('>'))
            .and_then(|r| r.trim_start_matches('>').split_whitespace().next())
            .map(|t| {
                t.trim_matches(['\'', '"'])
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_string()
            });
        let end = (i + 1..lines.len()).find(|j| lines[*j].trim() == word);
        if let (Some(target), Some(end), false) = (target, end, word.is_empty()) {
            if !target.is_empty() && !target.starts_with('<') {
                let mut body = String::new();
                for (j, l) in lines.iter().enumerate() {
                    if j > i && j < end {
                        body.push_str(l);
                    }
                    body.push('\n');
                }
                out.push(Heredoc { target, text: body });
            }
        }
        i = end.map_or(i + 1, |e| e + 1);
    }
    out
}

/// Logical lines (continuations joined), comments and heredoc bodies dropped.
fn lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    let mut heredoc: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        if let Some(end) = &heredoc {
            if raw.trim() == end {
                heredoc = None;
            }
            continue;
        }
        let line = raw.trim();
        if current.is_empty() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            start = i + 1;
        }
        if let Some(pos) = line.find("<<") {
            let word = heredoc_word(&line[pos + 2..]);
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                heredoc = Some(word.to_string());
            }
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            current.push_str(stripped.trim_end());
            current.push(' ');
        } else {
            current.push_str(line);
            out.push((start, std::mem::take(&mut current)));
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// A command line worth keeping: not a builtin, a test or an assignment.
fn is_command(line: &str) -> bool {
    let first = line.split_whitespace().next().unwrap_or("");
    let assignment = first.contains('=') && !first.starts_with('-');
    let builtin = matches!(
        first,
        "if" | "then"
            | "else"
            | "elif"
            | "fi"
            | "for"
            | "while"
            | "do"
            | "done"
            | "case"
            | "esac"
            | "echo"
            | "printf"
            | "set"
            | "export"
            | "cd"
            | "pushd"
            | "popd"
            | "local"
            | "shift"
            | "source"
            | "."
            | "["
            | "[["
            | "test"
            | "return"
            | "exit"
            | "trap"
            | "wait"
            | "sleep"
            | "true"
            | "false"
            | ";;"
            | "{"
            | "}"
            | "mkdir"
            | "chown"
            | "chmod"
            | "cp"
            | "mv"
            | "rm"
            | "ln"
            | "touch"
            | "cat"
            | "sed"
            | "until"
            | "readonly"
            | "declare"
            | "unset"
            | "umask"
            | "ulimit"
            | "eval"
    );
    !assignment && !builtin && !first.ends_with(')')
}

fn defaults(text: &str) -> String {
    dockerfile::substitute(text, &|_| None)
}

pub(super) fn analyze(path: &str, text: &str, out: &mut Detection) {
    let lines = lines(text);
    // Shell functions: `name() {` ... `}` and their last command.
    let mut functions: BTreeMap<String, Fact<String>> = BTreeMap::new();
    let mut in_function: Option<String> = None;
    let mut depth = 0usize;
    for (n, line) in &lines {
        if in_function.is_none() {
            if let Some(name) = line
                .strip_suffix('{')
                .map(str::trim)
                .and_then(|l| l.strip_suffix("()"))
                .map(|l| l.trim().trim_start_matches("function ").to_string())
            {
                in_function = Some(name);
                depth = 1;
                continue;
            }
            continue;
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
        if depth == 0 {
            in_function = None;
            continue;
        }
        let body = line.trim_end_matches(';').trim();
        if is_command(body) {
            if let Some(f) = &in_function {
                let exec = body.starts_with("exec ");
                let entry = functions.entry(f.clone());
                match entry {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(Fact::new(defaults(body), path, *n));
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        if exec || !o.get().value.starts_with("exec ") {
                            o.insert(Fact::new(defaults(body), path, *n));
                        }
                    }
                }
            }
        }
    }

    let mut commands: Vec<ScriptCommand> = Vec::new();
    let mut runs_arguments = false;
    let mut arm: Option<String> = None;
    let mut in_case = 0usize;
    let mut in_function = false;
    let mut fdepth = 0usize;
    let mut arm_command: Option<Fact<String>> = None;
    let mut top: Option<Fact<String>> = None;
    let flush = |arm: &mut Option<String>,
                 c: &mut Option<Fact<String>>,
                 commands: &mut Vec<ScriptCommand>| {
        if let (Some(a), Some(cmd)) = (arm.take(), c.take()) {
            commands.push(ScriptCommand {
                arm: Some(a),
                command: cmd,
            });
        }
    };
    let mut pushd: Vec<String> = Vec::new();
    for (n, line) in &lines {
        if line.ends_with('{') && line.contains("()") {
            in_function = true;
            fdepth = 1;
            continue;
        }
        if in_function {
            fdepth += line.matches('{').count();
            fdepth = fdepth.saturating_sub(line.matches('}').count());
            if fdepth == 0 {
                in_function = false;
            }
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if first == "case" {
            in_case += 1;
            continue;
        }
        if first == "esac" {
            flush(&mut arm, &mut arm_command, &mut commands);
            in_case = in_case.saturating_sub(1);
            continue;
        }
        if matches!(first, "pushd" | "cd") {
            if let Some(dir) = line.split_whitespace().nth(1) {
                pushd.push(dir.trim_matches('"').to_string());
            }
            continue;
        }
        if first == "popd" {
            pushd.pop();
            continue;
        }
        if in_case > 0 {
            // `server)` or `server|web)`, maybe with a command after it on the same line.
            if let Some((pattern, rest)) = line.split_once(')') {
                let p = pattern.trim().trim_start_matches('(');
                if !p.contains(' ') || p.starts_with('"') {
                    flush(&mut arm, &mut arm_command, &mut commands);
                    arm = Some(p.trim_matches('"').to_string());
                    let rest = rest.trim().trim_end_matches(";;").trim();
                    if !rest.is_empty() && is_command(rest) {
                        arm_command = Some(Fact::new(defaults(rest), path, *n));
                    }
                    continue;
                }
            }
            if line.trim_end_matches(';').trim().is_empty() || line.starts_with(";;") {
                continue;
            }
            let body = line.trim_end_matches(";;").trim();
            if arm.is_some() && is_command(body) {
                let body = defaults(body);
                // A function called from the arm: its command.
                let called = functions.get(body.split_whitespace().next().unwrap_or(""));
                let cmd = match called {
                    Some(f) if body.split_whitespace().count() == 1 => f.clone(),
                    _ => Fact::new(body, path, *n),
                };
                let replace = arm_command.as_ref().is_none_or(|c| {
                    !c.value.starts_with("exec ") || cmd.value.starts_with("exec ")
                });
                if replace {
                    arm_command = Some(cmd);
                }
            }
            continue;
        }
        let body = line.trim_end_matches(';').trim();
        if body == "exec \"$@\"" || body == "exec $@" || body == "exec \"${@}\"" || body == "\"$@\""
        {
            runs_arguments = true;
            continue;
        }
        if first == "docker" && line.split_whitespace().nth(1) == Some("build") {
            docker_build(path, *n, line, &pushd, out);
            continue;
        }
        if is_command(body) {
            let fact = Fact::new(defaults(body), path, *n);
            let replace = top
                .as_ref()
                .is_none_or(|t| !t.value.starts_with("exec ") || fact.value.starts_with("exec "));
            if replace {
                top = Some(fact);
            }
        }
    }
    flush(&mut arm, &mut arm_command, &mut commands);
    // A wrapper (`exec "$@"`) runs its arguments: what it runs before are setup steps.
    if let Some(t) =
        top.filter(|t| t.value.starts_with("exec ") || (commands.is_empty() && !runs_arguments))
    {
        commands.push(ScriptCommand {
            arm: None,
            command: t,
        });
    }
    let commands: Vec<ScriptCommand> = commands
        .into_iter()
        .filter_map(|c| {
            let value = validate::checked(
                &c.command.value,
                &c.command.evidence,
                "script command",
                validate::command,
                &mut out.warnings,
            )?;
            Some(ScriptCommand {
                arm: c.arm,
                command: Fact::at(value, &c.command.evidence),
            })
        })
        .collect();
    if commands.is_empty() && !runs_arguments {
        return;
    }
    out.scripts.push(Script {
        path: path.to_string(),
        commands,
        runs_arguments,
    });
}

/// `docker build -t IMAGE [-f FILE] DIR`, inside `pushd DIR` or `cd DIR`.
fn docker_build(path: &str, line: usize, text: &str, pushd: &[String], out: &mut Detection) {
    let words = command::split(text);
    let mut tags = Vec::new();
    let mut file = None;
    let mut context = None;
    let mut i = 2;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            "-t" | "--tag" => {
                if let Some(t) = words.get(i + 1) {
                    tags.push(t.clone());
                }
                i += 2;
            }
            "-f" | "--file" => {
                file = words.get(i + 1).cloned();
                i += 2;
            }
            "--build-arg" | "--target" | "--label" | "--network" | "--platform" => i += 2,
            _ if w.starts_with('-') => i += 1,
            _ => {
                context = Some(w.to_string());
                i += 1;
            }
        }
    }
    let script_dir = dir_of(path);
    let mut base = script_dir.to_string();
    for d in pushd {
        // `$SCRIPTDIR/productpage`, `"$(dirname $0)/app"`: relative to the script.
        let d = d
            .rsplit_once(['}', ')'])
            .map_or(d.as_str(), |(_, rest)| rest)
            .trim_start_matches(['$', '/'])
            .trim_start_matches(|c: char| c.is_ascii_uppercase() || c == '_')
            .trim_start_matches('/');
        if d.is_empty() || d.contains('$') {
            continue;
        }
        base = join_path(&base, d);
    }
    let Some(context) = context.filter(|c| !c.contains('$')) else {
        return;
    };
    let context = join_path(&base, &context);
    for tag in tags {
        let tag = defaults(&tag);
        // `image:${VERSION}` names the repository; the tag varies by release.
        let image = tag.split(':').next().unwrap_or(&tag).to_string();
        if validate::image(&image).is_err() {
            continue;
        }
        out.builds.push(ImageBuild {
            image,
            context: context.clone(),
            dockerfile: file.as_ref().map(|f| join_path(&context, f)),
            target: None,
            via: "script".into(),
            evidence: Evidence::new(path, line),
        });
    }
}

impl Script {
    /// The command the script runs for its first argument (`server`), or its own.
    pub fn command_for(&self, arg: Option<&str>) -> Option<&Fact<String>> {
        let by_arm = arg.and_then(|a| {
            self.commands.iter().find(|c| {
                c.arm
                    .as_deref()
                    .is_some_and(|p| p.split('|').any(|alt| alt.trim() == a))
            })
        });
        by_arm
            .or_else(|| self.commands.iter().find(|c| c.arm.is_none()))
            .or_else(|| {
                // No argument: the default arm, if there is exactly one real arm.
                let real: Vec<&ScriptCommand> = self
                    .commands
                    .iter()
                    .filter(|c| c.arm.as_deref() != Some("*"))
                    .collect();
                (arg.is_none() && real.len() == 1).then(|| real[0])
            })
            .map(|c| &c.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(text: &str) -> Script {
        let mut out = Detection::default();
        analyze("docker-entrypoint.sh", text, &mut out);
        out.scripts.remove(0)
    }

    #[test]
    fn case_arms_and_functions() {
        let s = script(
            "#!/bin/sh\nserver() {\n  exec /usr/local/bin/gunicorn -b 0.0.0.0:5000 --name redash -w${WORKERS:-4} redash.wsgi:app\n}\nworker() {\n  exec celery worker --app=redash.worker\n}\ncase \"$1\" in\n  worker)\n    shift\n    worker\n    ;;\n  server)\n    shift\n    server\n    ;;\n  dev_server)\n    exec /app/manage.py runserver --debugger --reload -h 0.0.0.0\n    ;;\n  *)\n    exec \"$@\"\n    ;;\nesac\n",
        );
        assert_eq!(
            s.command_for(Some("server")).unwrap().value,
            "exec /usr/local/bin/gunicorn -b 0.0.0.0:5000 --name redash -w4 redash.wsgi:app"
        );
        assert!(
            s.command_for(Some("worker"))
                .unwrap()
                .value
                .contains("celery")
        );
        assert!(
            s.command_for(Some("dev_server"))
                .unwrap()
                .value
                .contains("runserver")
        );
    }

    #[test]
    fn exec_with_defaults_and_wrappers() {
        let s = script(
            "#!/bin/sh\ncd $(dirname $0)\ncase \"$1\" in\n    server)\n        export X=1\n        exec gunicorn \\\n            --bind ${HOST-0.0.0.0}:${PORT-5000} \\\n            syncserver.wsgi_app\n        ;;\n    test)\n        flake8 x\n        ;;\nesac\n",
        );
        let c = s.command_for(Some("server")).unwrap();
        assert_eq!(
            c.value,
            "exec gunicorn --bind 0.0.0.0:5000 syncserver.wsgi_app"
        );
        assert_eq!(c.evidence.line, 6);
        let s = script("#!/bin/bash\nset -e\nckan-paster db init\nexec \"$@\"\n");
        assert!(s.runs_arguments);
        let s = script("#!/bin/sh\necho hi\nexec gunicorn wsgi.app --config wsgi/config.py\n");
        assert_eq!(
            s.command_for(None).unwrap().value,
            "exec gunicorn wsgi.app --config wsgi/config.py"
        );
    }

    #[test]
    fn heredocs_keep_their_lines() {
        let docs = heredocs(
            "echo hi\ncat > /etc/haproxy/haproxy.cfg <<HAPROXY\nbackend app\n    server a localhost:8001\nHAPROXY\n",
        );
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].target, "haproxy.cfg");
        assert_eq!(
            docs[0].text.lines().nth(3),
            Some("    server a localhost:8001")
        );
        assert_eq!(docs[0].text.lines().next(), Some(""));
    }

    #[test]
    fn heredocs_are_not_commands_and_builds_are_links() {
        let mut out = Detection::default();
        analyze(
            "src/build-services.sh",
            "cat > /etc/x.conf <<EOF\nserver evil\nEOF\npushd \"$SCRIPTDIR/productpage\"\n  docker build -t \"istio/examples-bookinfo-productpage-v1:${VERSION}\" .\npopd\n",
            &mut out,
        );
        assert!(out.scripts.is_empty());
        assert_eq!(
            out.builds[0].image,
            "istio/examples-bookinfo-productpage-v1"
        );
        assert_eq!(out.builds[0].context, "src/productpage");
    }
}
