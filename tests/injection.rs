//! Regression tests for the injection findings of issues 16 and 17, each through the binary
//! with a hostile plan or codebase. Each failed before the escapers and checks it names.
//!
//! Some run the real tool the output is for (python, bash, PyYAML, socat, docker-compose,
//! haproxy, nginx, systemd-analyze); CI installs them all (`.ci/run`), so under `CI` a missing
//! one fails the test instead of skipping it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TODAY, assert_success, stderr, stdout};
use crate::hostile::structure;

/// The binary under test; `CANARYC_REGRESSION_BIN` points these tests at another build (an
/// older one, to see them fail there).
fn canaryc(dir: &Path, args: &[&str]) -> std::process::Output {
    let bin = std::env::var_os("CANARYC_REGRESSION_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_canaryc")),
        PathBuf::from,
    );
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("CANARYC_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .output()
        .expect("the canaryc binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-injection-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether `tool` runs; under CI its absence is a failure.
fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "{tool} is not installed (CI installs it)"
    );
    ok
}

/// Builds `plan` in `dir`; the generated files by name.
fn build(dir: &Path, plan: &str) -> BTreeMap<String, String> {
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(dir, &["build", "--output", "out"]);
    assert_success(&out);
    std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The lines of an HAProxy config as HAProxy splits them.
fn haproxy_lines(cfg: &str) -> Vec<Vec<String>> {
    let atoms = structure::read("x.cfg", cfg).expect("the config reads");
    let mut lines: Vec<Vec<String>> = Vec::new();
    for atom in atoms {
        if atom == "LINE" {
            lines.push(Vec::new());
        } else if let Some(w) = atom.strip_prefix("W:") {
            lines.last_mut().unwrap().push(w.to_string());
        }
    }
    lines
}

fn haproxy_check(dir: &Path, cfg: &str) {
    if have("haproxy") {
        let path = dir.join("check.cfg");
        // The admin socket's directory may not exist here: point it at the scratch directory.
        std::fs::write(
            &path,
            cfg.replace("/run/haproxy/", &format!("{}/", dir.display())),
        )
        .unwrap();
        let out = Command::new("haproxy")
            .args(["-c", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const BARE: &str = "plan ledger {\n  codebase = \"code\"\n  python = 2.7 -> 3.13\n  infra = bare-metal(router: haproxy)\n  service {\n    port = 8000\n    command py2 = \"/srv/ledger/venv/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n    command py3 = \"/srv/ledger/venv3/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n  }\n}\n";

fn deployment_with_probe(path: &str) -> String {
    // JSON is YAML: the probe path holds exactly `path`.
    serde_json::to_string_pretty(&serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "ledger" },
        "spec": { "selector": { "matchLabels": { "app": "ledger" } },
            "template": { "metadata": { "labels": { "app": "ledger" } },
                "spec": { "containers": [ {
                    "name": "ledger", "image": "registry.internal/ledger:2.7",
                    "ports": [ { "containerPort": 8000 } ],
                    "readinessProbe": { "httpGet": { "path": path, "port": 8000 } }
                } ] } } }
    }))
    .unwrap()
}

#[test]
fn d1_a_probe_path_cannot_add_a_haproxy_server() {
    let dir = scratch("d1");
    std::fs::create_dir_all(dir.join("code/deploy")).unwrap();
    std::fs::write(
        dir.join("code/deploy/ledger.yaml"),
        deployment_with_probe("/healthz\n    server evil 203.0.113.9:80 weight 256"),
    )
    .unwrap();
    let files = build(&dir, BARE);
    let cfg = &files["haproxy-canary.cfg"];
    let lines = haproxy_lines(cfg);
    let servers: Vec<&Vec<String>> = lines.iter().filter(|l| l[0] == "server").collect();
    assert_eq!(servers.len(), 2, "{cfg}");
    assert!(
        servers.iter().all(|s| s[1] == "py2" || s[1] == "py3"),
        "{cfg}"
    );
    assert!(
        !cfg.lines()
            .any(|l| l.trim_start().starts_with("server evil")),
        "{cfg}"
    );
    haproxy_check(&dir, cfg);
}

#[test]
fn a_hash_in_a_health_path_or_a_cookie_name_does_not_cut_the_haproxy_line() {
    // From the plan: a `#` is no URL path character.
    let dir = scratch("hash");
    let plan = BARE.replace("port = 8000", "port = 8000\n    health = \"/status#x\"");
    std::fs::write(dir.join("canary.plan"), &plan).unwrap();
    let out = canaryc(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("CNR206") || stderr(&out).contains("CNR206"));

    // From the codebase, and a cookie name with `#` (an HTTP token character).
    std::fs::create_dir_all(dir.join("code/deploy")).unwrap();
    std::fs::write(
        dir.join("code/deploy/ledger.yaml"),
        deployment_with_probe("/status#frag"),
    )
    .unwrap();
    let files = build(
        &dir,
        &BARE.replace("\n}\n", "\n  route { sticky = cookie(\"py#v\") }\n}\n"),
    );
    let cfg = &files["haproxy-canary.cfg"];
    let lines = haproxy_lines(cfg);
    // The codebase's `#` is refused where detection reads it (CNR606, a URL fragment is never
    // sent), so no health check is written from it; nothing else on any line holds it.
    assert!(
        !lines
            .iter()
            .any(|l| l.len() > 1 && l[..2] == ["option", "httpchk"]),
        "{cfg}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l[0] == "cookie" || !l.iter().any(|w| w.contains('#'))),
        "{cfg}"
    );
    let cookie = lines.iter().find(|l| l[0] == "cookie").unwrap();
    assert_eq!(
        cookie,
        &[
            "cookie", "py#v", "insert", "indirect", "nocache", "httponly"
        ],
        "{cfg}"
    );
    haproxy_check(&dir, cfg);
}

#[test]
fn the_compose_health_check_runs_no_injected_python() {
    let dir = scratch("python");
    let marker = dir.join("pwned");
    let health = format!("/h'+__import__('os').mkdir('{}')+'", marker.display());
    let plan = format!(
        "plan shop {{\n  python = 2.7 -> 3.13\n  infra = docker-compose(router: haproxy)\n  service {{\n    port = 1\n    health = \"{health}\"\n    image py2 = \"registry.internal/shop:2.7\"\n    image py3 = \"registry.internal/shop:3.13\"\n  }}\n}}\n"
    );
    let files = build(&dir, &plan);
    let compose: serde_json::Value =
        serde_yaml::from_str(&files["docker-compose-canary.yml"]).unwrap();
    for copy in ["shop-py2", "shop-py3"] {
        let code = compose["services"][copy]["healthcheck"]["test"][3]
            .as_str()
            .unwrap()
            .replace("$$", "$");
        // py3's spelling runs under any Python 3; py2's would need urllib2, so run py3's and
        // check py2's the same way by reading its string literal.
        assert!(
            code.contains("%27%2B__import__") || code.contains("\\'+__import__"),
            "{code}"
        );
        if copy == "shop-py3" && have("python3") {
            let out = Command::new("python3")
                .args(["-c", &code])
                .output()
                .unwrap();
            assert!(!out.status.success(), "nothing listens on port 1");
        }
    }
    assert!(!marker.exists(), "the health check ran the path as Python");
}

#[test]
fn dollar_paren_in_a_program_or_working_directory_does_not_run_from_the_runbook() {
    let dir = scratch("runbook");
    let (m1, m2) = (dir.join("m1"), dir.join("m2"));
    // From the plan, the checker refuses a program that is not a plain path.
    let plan = BARE.replace(
        "/srv/ledger/venv3/bin/gunicorn",
        &format!("/srv/$(:>{})/venv3/bin/gunicorn", m1.display()),
    );
    std::fs::write(dir.join("canary.plan"), &plan).unwrap();
    let out = canaryc(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("CNR209"), "{}", stderr(&out));

    // From the codebase: a unit names the program and the working directory.
    std::fs::create_dir_all(dir.join("code/deploy")).unwrap();
    std::fs::write(
        dir.join("code/deploy/ledger.service"),
        format!(
            "[Service]\nUser=ledger\nWorkingDirectory=/srv/$(:>{})\nExecStart=/srv/$(:>{})/venv/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\n",
            m2.display(),
            m1.display()
        ),
    )
    .unwrap();
    let without_commands: String = BARE
        .lines()
        .filter(|l| !l.contains("command py"))
        .map(|l| format!("{l}\n"))
        .collect();
    let files = build(&dir, &without_commands);
    let pip = files["canary-plan.md"]
        .lines()
        .find(|l| l.contains("-m venv"))
        .expect("the runbook builds the py3 virtualenv")
        .trim()
        .to_string();
    assert!(pip.contains("$(:>"), "the paths are in the line: {pip}");
    // Paste the line as an operator would (with no python on PATH: only the shell runs).
    let out = Command::new("/bin/bash")
        .args(["-c", &pip])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !m1.exists() && !m2.exists(),
        "pasting ran a substitution: {pip}"
    );
}

#[test]
fn a_dollar_in_a_cookie_name_is_no_nginx_variable() {
    let dir = scratch("nginx");
    let plan = BARE
        .replace("router: haproxy", "router: nginx")
        .replace("\n}\n", "\n  route { sticky = cookie(\"py$host\") }\n}\n");
    let files = build(&dir, &plan);
    let conf = &files["nginx-canary.conf"];
    let atoms = structure::read("nginx-canary.conf", conf).unwrap();
    let set_cookie = conf.lines().find(|l| l.contains("Set-Cookie")).unwrap();
    let vars: Vec<&String> = atoms.iter().filter(|a| a.starts_with("VAR:")).collect();
    assert!(
        !vars
            .iter()
            .any(|v| *v == "VAR:host" && set_cookie.contains("py$host")),
        "{conf}"
    );
    assert!(
        set_cookie.contains("py${canary_dollar}host="),
        "{set_cookie}"
    );
    if have("nginx") {
        let root = dir.join("nginx");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("nginx.conf"),
            format!(
                "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  include {1};\n}}\n",
                root.display(),
                dir.join("out/nginx-canary.conf").display()
            ),
        )
        .unwrap();
        let out = Command::new("nginx")
            .args(["-t", "-p"])
            .arg(&root)
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nginx -t: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn header_names_with_punctuation_are_refused_for_header_stickiness() {
    let dir = scratch("headers");
    for c in "!#$%&'*+.^_`|~".chars() {
        let plan = BARE.replace("router: haproxy", "router: nginx").replace(
            "\n}\n",
            &format!("\n  route {{ sticky = header(\"X{c}Id\") }}\n}}\n"),
        );
        std::fs::write(dir.join("canary.plan"), &plan).unwrap();
        let out = canaryc(&dir, &["check", "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "X{c}Id is accepted");
        assert!(stdout(&out).contains("CNR211"), "X{c}Id: {}", stdout(&out));
    }
}

#[test]
fn quotes_in_a_command_make_a_unit_systemd_loads_and_nul_is_refused() {
    let dir = scratch("quotes");
    let plan = BARE.replace(
        "--bind 0.0.0.0:8000 ledger.wsgi\"\n    command py3",
        "--bind 0.0.0.0:8000 --access-logformat '%(h)s \\\"%(r)s\\\" $HOME' ledger.wsgi\"\n    command py3",
    );
    let files = build(&dir, &plan);
    let unit = &files["systemd-py2.service"];
    let atoms = structure::read("systemd-py2.service", unit).unwrap();
    let exec: Vec<&str> = atoms
        .iter()
        .skip_while(|a| *a != "KEY:ExecStart")
        .skip(1)
        .take_while(|a| a.starts_with("W:"))
        .map(|a| &a[2..])
        .collect();
    assert_eq!(
        exec,
        [
            "/srv/ledger/venv/bin/gunicorn",
            "--bind",
            "127.0.0.1:8001",
            "--access-logformat",
            "%(h)s \"%(r)s\" $HOME",
            "ledger.wsgi"
        ],
        "{unit}"
    );
    assert!(
        !atoms
            .iter()
            .any(|a| a.starts_with("SPECIFIER") || a == "SYSTEMD-ENV"),
        "{unit}"
    );
    if have("systemd-analyze") {
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
        let path = root.join("etc/systemd/system/ledger-py2.service");
        std::fs::write(&path, unit).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.display()))
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.contains("ExecStart") && !text.contains("specifier"),
            "systemd-analyze: {text}"
        );
    }
    let nul = BARE.replace(
        "ledger.wsgi\"\n    command py3",
        "ledger.wsgi \u{0}\"\n    command py3",
    );
    std::fs::write(dir.join("canary.plan"), nul).unwrap();
    let out = canaryc(&dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("CNR207") || stderr(&out).contains("CNR207"));
}

const SPECIALS: &[(&str, &str)] = &[
    ("FLAG", "no"),
    ("SWITCH", "on"),
    ("SINCE", "2024-01-01"),
    ("MERGE", "<<"),
    ("HASH", "$2b$12$abcdefghijklmnopqrstuv"),
    ("WHERE", "$HOME"),
];

fn env_block() -> String {
    SPECIALS
        .iter()
        .map(|(k, v)| format!("      {k} = \"{v}\"\n"))
        .collect::<String>()
}

#[test]
fn d10_d11_yaml_specials_and_dollars_stay_strings() {
    let dir = scratch("yaml");
    let plan = format!(
        "plan shop {{\n  python = 2.7 -> 3.13\n  infra = [kubernetes(router: istio), docker-compose(router: haproxy)]\n  service {{\n    port = 8000\n    image py2 = \"registry.internal/shop:2.7\"\n    image py3 = \"registry.internal/shop:3.13\"\n    env {{\n{}    }}\n  }}\n  monitor {{ source = app }}\n}}\n",
        env_block()
    );
    let files = build(&dir, &plan);
    // Argo Rollouts is the default engine: py3's pod template is the merge patch of its Rollout.
    let k8s = &files["k8s-rollout-py3-shop.patch"];
    for quoted in [
        "value: 'no'",
        "value: 'on'",
        "value: '2024-01-01'",
        "value: '<<'",
    ] {
        assert!(k8s.contains(quoted), "{quoted}: {k8s}");
    }
    if have("python3") {
        // PyYAML resolves plain scalars the YAML 1.1 way, as kubectl does.
        let script = "import sys, yaml, json\nfor doc in yaml.safe_load_all(open(sys.argv[1])):\n    if doc and 'spec' in doc:\n        for e in doc['spec']['template']['spec']['containers'][0]['env']:\n            if 'value' in e:\n                print(json.dumps([e['name'], e['value']], separators=(',', ':')))\n";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(dir.join("out/k8s-rollout-py3-shop.patch"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for (k, v) in SPECIALS {
            // Kubernetes reads `$$` as `$`: the value it passes is the plan's.
            let expected = serde_json::to_string(&[*k, &v.replace('$', "$$")]).unwrap();
            assert!(text.lines().any(|l| l == expected), "{k}: {text}");
        }
    }
    if have("docker-compose") {
        let out = Command::new("docker-compose")
            .args(["-f", "docker-compose-canary.yml", "config"])
            .current_dir(dir.join("out"))
            .env("HOME", "/home/someone")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let resolved: serde_json::Value =
            serde_yaml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
        let env = &resolved["services"]["shop-py3"]["environment"];
        // `config` prints a Compose file again, where `$$` is how a literal `$` is written;
        // had `$HOME` been interpolated it would read /home/someone.
        for (k, v) in SPECIALS {
            assert_eq!(
                env[k].as_str(),
                Some(v.replace('$', "$$").as_str()),
                "{k}: {env}"
            );
        }
        assert!(!env.to_string().contains("/home/someone"), "{env}");
    }
}

#[test]
fn d8_a_literal_credential_in_the_plan_warns_and_stays_out_of_documents() {
    let dir = scratch("credential");
    let plan = "plan vault {\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: istio)\n  service {\n    port = 8000\n    image py2 = \"registry.internal/vault:2.7\"\n    image py3 = \"registry.internal/vault:3.13\"\n    env { DB_PASSWORD = \"hunter2-in-the-plan\" }\n    env py3 { DATABASE_URL = \"postgres://app:s3cr3t-url@db/vault\" }\n  }\n}\n";
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    let out = canaryc(&dir, &["check", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let warnings: Vec<&serde_json::Value> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "CNR212")
        .collect();
    assert_eq!(warnings.len(), 2, "{doc}");
    assert!(warnings.iter().all(|w| w["severity"] == "warning"));
    assert_eq!(warnings[0]["labels"][0]["start"]["line"], 8, "{doc}");
    let files = build(&dir, plan);
    for (name, text) in &files {
        let workload = name.starts_with("k8s-deployment")
            || (name.starts_with("k8s-rollout") && name != "k8s-rollout-routing.yaml");
        for secret in ["hunter2-in-the-plan", "s3cr3t-url"] {
            assert_eq!(
                text.contains(secret),
                workload
                    && (secret == "hunter2-in-the-plan"
                        || name.ends_with("py3.yaml")
                        || name.starts_with("k8s-rollout-py3")),
                "{name} and {secret}"
            );
        }
    }
    assert!(files["canary-plan.json"].contains("\"credential\": true"));
    assert!(files["canary-plan.md"].contains("a credential: not shown"));
}

/// A fake HAProxy admin socket: records each command, answers nothing (success).
fn fake_socket(path: &Path) -> std::sync::mpsc::Receiver<String> {
    use std::io::{BufRead, BufReader};
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            if tx.send(line.trim_end().to_string()).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn d12_the_rollback_receiver_needs_the_token_and_a_known_service() {
    if !have("socat") {
        return;
    }
    let dir = scratch("d12");
    let files = build(&dir, BARE);
    let hooks: serde_json::Value = serde_yaml::from_str(&files["webhook-hooks.yaml"]).unwrap();
    let rules = hooks[0]["trigger-rule"]["and"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["match"]["parameter"]["name"] == "Authorization")
    );
    assert_eq!(
        hooks[0]["pass-arguments-to-command"][0]["name"],
        "--from-webhook"
    );
    let am: serde_json::Value = serde_yaml::from_str(&files["alertmanager.yml"]).unwrap();
    assert_eq!(
        am["receivers"][1]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"],
        "/etc/canaryc/ledger/webhook-token"
    );

    let socket = dir.join("admin.sock");
    let commands = fake_socket(&socket);
    let token_file = dir.join("token");
    std::fs::write(&token_file, "0123456789abcdef0123456789abcdef\n").unwrap();
    let script = dir.join("out/canary-rollback.sh");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new("bash");
        c.arg(&script)
            .args(args)
            .env("HAPROXY_SOCKET", &socket)
            .env("HAPROXY_STATE_FILE", dir.join("state"))
            .env("CANARY_TOKEN_FILE", &token_file)
            .env_remove("CANARY_AUTHORIZATION")
            .env_remove("CANARY_SERVICE");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let sent: Vec<String> = commands.try_iter().collect();
        (
            out.status.code(),
            sent,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let smuggled = "ledger/py3 addr 203.0.113.9 port 80; set server ledger";
    let good = "Bearer 0123456789abcdef0123456789abcdef";

    let (code, sent, _) = run(&["--from-webhook"], &[("CANARY_SERVICE", "ledger")]);
    assert_eq!((code, sent.len()), (Some(3), 0), "no token");
    let (code, sent, _) = run(
        &["--from-webhook"],
        &[
            (
                "CANARY_AUTHORIZATION",
                "Bearer 00000000000000000000000000000000",
            ),
            ("CANARY_SERVICE", "ledger"),
        ],
    );
    assert_eq!((code, sent.len()), (Some(3), 0), "wrong token");
    let (code, sent, err) = run(
        &["--from-webhook"],
        &[("CANARY_AUTHORIZATION", good), ("CANARY_SERVICE", smuggled)],
    );
    assert_eq!((code, sent.len()), (Some(2), 0), "smuggled service: {err}");
    let (code, sent, _) = run(&[smuggled], &[]);
    assert_eq!((code, sent.len()), (Some(2), 0), "smuggled by hand");
    let (code, sent, err) = run(
        &["--from-webhook"],
        &[("CANARY_AUTHORIZATION", good), ("CANARY_SERVICE", "ledger")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        sent,
        [
            "set server ledger/py2 state ready",
            "set server ledger/py2 weight 256",
            "set server ledger/py3 weight 0",
            "set server ledger/py3 state maint",
            "show servers state"
        ]
    );
}

#[test]
fn cookie_names_are_literals_in_istio_and_gateway_api_regexes() {
    let dir = scratch("regex");
    for router in ["istio", "gateway-api"] {
        let plan = format!(
            "plan shop {{\n  python = 2.7 -> 3.13\n  infra = kubernetes(router: {router}, engine: none)\n  service {{\n    port = 8000\n    image py2 = \"registry.internal/shop:2.7\"\n    image py3 = \"registry.internal/shop:3.13\"\n  }}\n  route {{ sticky = cookie(\"py.v+1\") }}\n}}\n"
        );
        let files = build(&dir, &plan);
        let name = if router == "istio" {
            "k8s-virtual-service.yaml"
        } else {
            "k8s-httproute.yaml"
        };
        let text = &files[name];
        let pattern = text
            .lines()
            .find_map(|l| {
                l.split_once("regex: ")
                    .or_else(|| l.split_once("value: ^"))
                    .map(|(_, r)| r)
            })
            .unwrap_or_else(|| panic!("no cookie regex in {name}:\n{text}"));
        let pattern = pattern.trim().trim_matches('\'');
        let pattern = if pattern.starts_with('^') {
            pattern.to_string()
        } else {
            format!("^{pattern}")
        };
        let re = regex::Regex::new(&pattern).unwrap();
        assert!(re.is_match("a=1; py.v+1=py3"), "{router}: {pattern}");
        assert!(
            !re.is_match("pyXv1=py3"),
            "{router}: `.` and `+` matched as regex: {pattern}"
        );
    }
}
