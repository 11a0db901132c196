//! The by-hand runbook's commands, run for real against the load balancer configs they edit:
//! every stage's split, the manual rollback, and a stage again after it, on nginx (host and
//! Compose) and on the Compose stack's HAProxy, each result checked by `nginx -t` or
//! `haproxy -c`. tests/e2e/compose.py runs the same commands against live containers.
//!
//! What this guards: nginx refuses a `split_clients` share of `0%`, so a rollback that wrote one
//! failed `nginx -t` and was never loaded (py3 kept its share); an edit that replaces the file
//! (`sed -i`) leaves the Compose stack's single-file bind mount on the old config.
//!
//! Needs GNU sed, nginx and haproxy (Debian's packages); without nginx or haproxy the tests say
//! so and pass, except under CI=true.

use std::path::Path;
use std::process::Command;

use crate::common::{assert_success, canaryc, code_blocks};

const STAGES: &[(&str, u32)] = &[
    ("canary-1pct", 1),
    ("canary-5pct", 5),
    ("canary-25pct", 25),
    ("canary-50pct", 50),
    ("full-cutover", 100),
];

fn plan(infra: &str) -> String {
    let bare = infra.starts_with("bare-metal");
    let service = |name: &str, port: u16| {
        let commands = if bare {
            format!(
                "    command py2 = \"/srv/{name}/py2/bin/gunicorn -b 127.0.0.1:{} app:app\"\n    command py3 = \"/srv/{name}/py3/bin/gunicorn -b 127.0.0.1:{} app:app\"\n",
                port + 1,
                port + 2
            )
        } else {
            format!("    image py2 = \"shop/{name}:2.7\"\n    image py3 = \"shop/{name}:3.12\"\n")
        };
        format!(
            "  service {name} {{\n    port = {port}\n    health = \"/health\"\n{commands}  }}\n"
        )
    };
    format!(
        "use std.schedules.standard\nuse std.rollback.defaults\n\nplan shop {{\n  python = 2.7 -> 3.12\n  infra = {infra}\n\n{}{}\n  route {{\n    bind = \"127.0.0.1\"\n    sticky = cookie(\"py_version\")\n  }}\n\n  rollback = defaults\n  schedule = standard\n}}\n",
        service("web", 8000),
        service("api", 8100)
    )
}

fn tool(name: &str) -> bool {
    let present = Command::new(name).arg("-v").output().is_ok();
    assert!(
        present || std::env::var("CI").as_deref() != Ok("true"),
        "{name} is required under CI"
    );
    if !present {
        eprintln!("skipped: no {name}");
    }
    present
}

/// The bundle of `plan(infra)`, built into a new directory.
fn bundle(infra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("canary.plan"), plan(infra)).unwrap();
    assert_success(&canaryc(
        dir.path(),
        &["build", "canary.plan", "--output", "out"],
    ));
    dir
}

/// The one command of the first `sh` block after `heading` in `markdown`.
fn command_after(markdown: &str, heading: &str) -> String {
    let at = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("{heading:?} in\n{markdown}"));
    let block = code_blocks(&markdown[at..], "sh")
        .into_iter()
        .next()
        .expect("a command block");
    let lines: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one command: {block}");
    lines[0].trim().to_string()
}

/// The part of a runbook command that edits the config, run in the bundle's directory; what
/// follows (the check and reload on the host or in canary-lb) is checked here by `nginx -t` or
/// `haproxy -c`. The host's nginx config is edited in the bundle's copy.
fn edit(out: &Path, command: &str) {
    let edit = command
        .split(" && sudo nginx -t")
        .next()
        .unwrap()
        .split(" && docker compose")
        .next()
        .unwrap()
        .replace("/etc/nginx/conf.d/nginx-canary.conf", "nginx-canary.conf");
    let edit = edit.strip_prefix("sudo ").unwrap_or(&edit);
    assert!(
        !command.contains(" -i ") || command.starts_with("sudo "),
        "the Compose stack's config is edited in place, never replaced: {command}"
    );
    succeeds(
        Command::new("bash").args(["-c", edit]).current_dir(out),
        edit,
    );
}

/// Runs `command`, failing with its stderr and `context` unless it exits 0.
#[track_caller]
fn succeeds(command: &mut Command, context: &str) {
    let done = command.output().unwrap();
    assert!(
        done.status.success(),
        "{context}: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

fn nginx_valid(out: &Path) {
    std::fs::write(
        out.join("wrapper.conf"),
        "pid nginx.pid;\nevents {}\nhttp {\n    access_log off;\n    include nginx-canary.conf;\n}\n",
    )
    .unwrap();
    succeeds(
        Command::new("nginx")
            .args(["-t", "-q", "-e", "stderr", "-p"])
            .arg(out)
            .arg("-c")
            .arg(out.join("wrapper.conf")),
        &format!(
            "nginx -t of\n{}",
            std::fs::read_to_string(out.join("nginx-canary.conf")).unwrap()
        ),
    );
}

fn split_lines(config: &str) -> Vec<&str> {
    config
        .lines()
        .filter(|l| l.starts_with("    ") && l.contains("% py"))
        .collect()
}

fn nginx_runbook(infra: &str, rollback_heading: &str) {
    if !tool("nginx") {
        return;
    }
    let dir = bundle(infra);
    let out = dir.path().join("out");
    let runbook = std::fs::read_to_string(out.join("canary-plan.md")).unwrap();
    let rollback = std::fs::read_to_string(out.join("canary-rollback-runbook.md")).unwrap();
    let rollback = &rollback[rollback.find("## Manual rollback").unwrap()..];
    let read = || std::fs::read_to_string(out.join("nginx-canary.conf")).unwrap();
    let stage = |name: &str| command_after(&runbook, &format!("Stage `{name}`"));
    for (name, share) in STAGES {
        edit(&out, &stage(name));
        nginx_valid(&out);
        let config = read();
        assert_eq!(
            split_lines(&config),
            vec![format!("    {share}% py3;"); 2],
            "{name}: {config}"
        );
    }
    for (before, share) in [("canary-50pct", 50), ("canary-1pct", 1)] {
        edit(&out, &stage(before));
        edit(&out, &command_after(rollback, rollback_heading));
        nginx_valid(&out);
        let config = read();
        assert_eq!(
            split_lines(&config),
            vec![format!("    {share}% py2;"); 2],
            "rolled back from {before}: py3's share goes to py2\n{config}"
        );
        assert!(
            config.contains("    py3 py2;") && !config.contains("    py3 py3;"),
            "users pinned to py3 go to py2: {config}"
        );
    }
    // Brought back: the next stage gives py3 its share and its pinned users again.
    edit(&out, &stage("canary-5pct"));
    nginx_valid(&out);
    let config = read();
    assert_eq!(split_lines(&config), vec!["    5% py3;"; 2], "{config}");
    assert!(config.contains("    py3 py3;"), "{config}");
}

#[test]
fn compose_nginx_runbook_commands_move_the_split_and_roll_back() {
    nginx_runbook("docker-compose(router: nginx)", "### Docker Compose");
}

#[test]
fn host_nginx_runbook_commands_move_the_split_and_roll_back() {
    nginx_runbook("bare-metal(router: nginx, engine: none)", "```sh");
}

#[test]
fn compose_haproxy_runbook_commands_move_the_weights_and_roll_back() {
    if !tool("haproxy") {
        return;
    }
    let dir = bundle("docker-compose(router: haproxy, engine: none)");
    let out = dir.path().join("out");
    let runbook = std::fs::read_to_string(out.join("canary-plan.md")).unwrap();
    let rollback = std::fs::read_to_string(out.join("canary-rollback-runbook.md")).unwrap();
    let rollback = &rollback[rollback.find("## Manual rollback").unwrap()..];
    let stage = |name: &str| command_after(&runbook, &format!("Stage `{name}`"));
    let servers = || -> Vec<String> {
        let config = std::fs::read_to_string(out.join("haproxy-canary.cfg")).unwrap();
        succeeds(
            Command::new("haproxy")
                .args(["-c", "-q", "-f"])
                .arg(out.join("haproxy-canary.cfg")),
            &format!("haproxy -c of\n{config}"),
        );
        config
            .lines()
            .filter(|l| l.starts_with("    server "))
            .map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let weight = words[words.iter().position(|w| *w == "weight").unwrap() + 1];
                let disabled = if l.ends_with(" disabled") {
                    " disabled"
                } else {
                    ""
                };
                format!("{} {weight}{disabled}", words[1])
            })
            .collect()
    };
    // HAProxy's weights out of 256, as the shop example's runbook sets them.
    for (name, (py2, py3)) in
        STAGES
            .iter()
            .map(|(n, _)| n)
            .zip([(253, 3), (243, 13), (192, 64), (128, 128), (0, 256)])
    {
        edit(&out, &stage(name));
        let expected: Vec<String> = (0..2)
            .flat_map(|_| [format!("py2 {py2}"), format!("py3 {py3}")])
            .collect();
        assert_eq!(servers(), expected, "{name}");
    }
    edit(&out, &stage("canary-50pct"));
    edit(&out, &command_after(rollback, "### Docker Compose"));
    assert_eq!(
        servers(),
        ["py2 256", "py3 0 disabled", "py2 256", "py3 0 disabled"],
        "rolled back: py3 in maintenance (pinned users too), py2 at full weight"
    );
    edit(&out, &stage("canary-5pct"));
    assert_eq!(servers(), ["py2 243", "py3 13", "py2 243", "py3 13"]);
}
