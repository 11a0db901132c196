//! `canaryc plan <codebase>`: the seed's one-command planner. Flags, defaults, bad input.

use std::path::{Path, PathBuf};

use crate::common::{assert_success, canaryc, repo, stderr, stdout};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-plan-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The written plan with runs of whitespace collapsed (the layout is the formatter's business).
fn plan_text(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("canary.plan")).unwrap();
    assert_eq!(
        canaryc::fmt::format(&text).unwrap(),
        text,
        "the written plan is formatted"
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_seed_command_line_works_verbatim() {
    for example in ["ledger-k8s-istio", "shop-compose", "billing-bare-metal"] {
        let dir = scratch(&format!("seed-{example}"));
        let codebase = repo().join("examples").join(example);
        let out = canaryc(
            &codebase,
            &[
                "plan",
                ".",
                "--target-version",
                "3.11",
                "--infra-type",
                "auto",
                "--output",
                &format!("{}/canary-deployment/", dir.display()),
                "--rollback-threshold",
                "1.0",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stderr(&out));
        let summary = stdout(&out);
        for part in [
            "Detected in .",
            "Ramp-up:",
            "total: ",
            "Wrote ",
            "Estimated cutover if it starts today (2026-11-27)",
        ] {
            assert!(
                summary.contains(part),
                "{example}: summary lacks {part:?}:\n{summary}"
            );
        }
        let written = dir.join("canary-deployment");
        assert!(written.join("canary.plan").is_file());
        assert!(written.join("canary-plan.md").is_file());
        // The written plan builds to the same files again.
        let rebuilt = canaryc(
            &written,
            &["build", "--check", "canary.plan", "--output", "."],
        );
        assert_eq!(
            rebuilt.status.code(),
            Some(0),
            "{example}: {}{}",
            stdout(&rebuilt),
            stderr(&rebuilt)
        );
    }
}

#[test]
fn defaults_are_the_seeds() {
    let dir = scratch("defaults");
    let out = canaryc(&dir, &["plan", &fixture("k8s-istio")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = plan_text(&dir);
    assert!(plan.contains("python = 2.7 -> 3.11"), "{plan}");
    assert!(plan.contains("infra = auto"));
    assert!(plan.contains("error_rate > 1% }"));
    assert!(plan.contains("schedule = standard"));
    assert!(
        plan.contains("plan ledger {"),
        "named after the team's Deployment"
    );
    assert!(
        stderr(&out).contains("Python 3.11 reaches end-of-life in October 2027"),
        "EOL warnings reach the user"
    );
    assert!(stdout(&out).contains("total: 27 days (648 hours)"));
    assert!(
        stdout(&out).contains("warning[CNR502]: Python 3.11 reaches end-of-life in October 2027"),
        "the summary names the end-of-life warning"
    );
}

#[test]
fn every_flag_changes_the_plan() {
    let dir = scratch("flags");
    let out = canaryc(
        &dir,
        &[
            "plan",
            &fixture("k8s-istio"),
            "--target-version",
            "3.13",
            "--infra-type",
            "bare-metal",
            "--output",
            "out",
            "--rollback-threshold",
            "0.5",
            "--schedule",
            "cautious",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = plan_text(&dir.join("out"));
    assert!(plan.contains("2.7 -> 3.13"));
    assert!(plan.contains("infra = bare-metal"));
    assert!(plan.contains("error_rate > 0.5% }"));
    assert!(plan.contains("use std.schedules.cautious") && plan.contains("schedule = cautious"));
    assert!(
        dir.join("out/systemd-py3.service").is_file(),
        "bare metal gets units"
    );
    assert!(stdout(&out).contains("total: 43 days"));
    assert!(!stderr(&out).contains("end-of-life"), "3.13 is supported");
}

#[test]
fn force_is_needed_to_write_among_other_files() {
    let dir = scratch("force");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let refused = canaryc(&dir, &["plan", &fixture("compose")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("--force"));
    assert!(!dir.join("canary.plan").exists(), "nothing written");
    let forced = canaryc(&dir, &["plan", &fixture("compose"), "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(dir.join("canary.plan").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // Planning again over its own output needs no --force.
    let rerun = canaryc(&dir, &["plan", &fixture("compose"), "--output", "second"]);
    assert_eq!(rerun.status.code(), Some(0));
    let rerun = canaryc(&dir, &["plan", &fixture("compose"), "--output", "second"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
}

#[test]
fn bad_input_is_a_usage_error_and_writes_nothing() {
    let dir = scratch("bad");
    std::fs::write(dir.join("a-file"), "x").unwrap();
    let k8s = fixture("k8s-istio");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["plan", "no-such-dir", "--output", "out"],
            "is not a directory",
        ),
        (vec!["plan", &k8s, "--output", "a-file"], "is a file"),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "2.7"],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "4.0"],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "3"],
            "not a Python 3 release",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--target-version",
                "banana",
            ],
            "not a Python 3 release",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--target-version", "3.5"],
            "older than any Python",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--rollback-threshold", "0"],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "100.5",
            ],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "-1",
            ],
            "outside (0, 100]",
        ),
        (
            vec![
                "plan",
                &k8s,
                "--output",
                "out",
                "--rollback-threshold",
                "lots",
            ],
            "not a number",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--infra-type", "mainframe"],
            "invalid value 'mainframe'",
        ),
        (
            vec!["plan", &k8s, "--output", "out", "--schedule", "yearly"],
            "invalid value 'yearly'",
        ),
        (vec!["plan"], "required"),
    ];
    for (args, message) in cases {
        let out = canaryc(&dir, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(!dir.join("out").exists(), "{args:?} wrote something");
        assert_eq!(std::fs::read_to_string(dir.join("a-file")).unwrap(), "x");
    }
}

#[test]
fn a_codebase_with_nothing_to_run_gets_a_draft_and_exit_1() {
    let dir = scratch("empty");
    let out = canaryc(&dir, &["plan", &fixture("empty"), "--output", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(summary.contains("built nothing"), "{summary}");
    // It says which lines to fill, by number.
    let draft = std::fs::read_to_string(dir.join("out/canary.plan")).unwrap();
    for field in ["port", "command py2"] {
        let line = draft
            .lines()
            .position(|l| l.contains(&format!("FILL IN (empty): {field}")))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("no FILL IN line for {field}:\n{draft}"));
        assert!(
            summary.contains(&format!("canary.plan:{line}: `{field}`")),
            "{field} at line {line}:\n{summary}"
        );
    }
    let written: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != ".canaryc")
        .collect();
    assert_eq!(written, vec!["canary.plan"], "a draft builds nothing");
    // Filling the marked lines is all `canaryc build` needs.
    let filled = draft
        .replace("# port = 8000   # FILL IN", "port = 8000   # FILL IN")
        .replace(
            "# command py2 = \"...\"   # FILL IN",
            "command py2 = \"/srv/empty/venv/bin/gunicorn --bind 127.0.0.1:8000 app:app\"   # FILL IN",
        );
    std::fs::write(dir.join("out/canary.plan"), filled).unwrap();
    let built = canaryc(&dir.join("out"), &["build", "canary.plan", "--output", "."]);
    assert_success(&built);
    assert!(dir.join("out/systemd-py2.service").is_file());
}

/// What the SRE of each fixture codebase would plan: the infrastructure, the services
/// canaried (and nothing else), the exit code. The plan text and summary are snapshots.
#[test]
fn fixtures_plan_as_their_sre_would() {
    let cases: &[(&str, i32, &str, &[&str])] = &[
        // name, exit code, planned infrastructure, `service` block headers
        ("phantoms", 0, "kubernetes", &["service {"]),
        ("compose-anchors", 0, "docker-compose", &["service {"]),
        ("bookshop-mesh", 0, "kubernetes", &["service {"]),
        ("worker-first", 0, "bare-metal", &["service {"]),
        ("upstart-paste", 0, "bare-metal", &["service {"]),
        ("ansible-mod-wsgi", 0, "bare-metal", &["service {"]),
        ("multistage", 0, "docker-compose", &["service {"]),
        ("dev-vs-prod", 0, "kubernetes", &["service {"]),
        ("helm-chart", 0, "kubernetes", &["service {"]),
        ("two-targets", 0, "docker-compose", &["service {"]),
        (
            "monorepo",
            0,
            "docker-compose",
            &["service api {", "service web {"],
        ),
    ];
    for (name, code, infra, services) in cases {
        // A copy next to the output, so the plan's relative `codebase` is the same everywhere.
        let dir = scratch(&format!("sre-{name}"));
        copy_tree(&repo().join("tests/fixtures").join(name), &dir.join(name));
        let out = canaryc(
            &dir,
            &[
                "plan",
                name,
                "--target-version",
                "3.12",
                "--infra-type",
                "auto",
                "--output",
                "out",
                "--rollback-threshold",
                "1.0",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let plan = std::fs::read_to_string(dir.join("out/canary.plan")).unwrap();
        assert!(
            plan.contains(&format!("# planned for {infra}:")),
            "{name}: not planned for {infra}:\n{plan}"
        );
        let blocks: Vec<&str> = plan
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("service"))
            .collect();
        assert_eq!(&blocks, services, "{name}: {plan}");
        let summary = stdout(&out);
        let summary: String = summary
            .lines()
            .take_while(|l| !l.starts_with("Estimated cutover"))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(format!("plan-{name}"), format!("{plan}\n---\n{summary}"));
    }
}

/// Root cause 1: phantom services. Only the Django Deployment is canaried: not the Flask
/// blueprint named setup.py, the click CLI named manage.py, the nginx image, the Node service
/// or MySQL.
#[test]
fn phantoms_are_not_services() {
    let dir = scratch("phantoms");
    let out = canaryc(&dir, &["plan", &fixture("phantoms"), "--output", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = plan_text(&dir.join("out"));
    assert!(plan.contains("plan orders {"), "{plan}");
    assert!(
        plan.contains("image py2 = \"registry.internal/orders:2.7-12\""),
        "{plan}"
    );
    for other in ["notify", "mysql", "edge"] {
        assert!(
            !plan.contains(&format!("service {other}")),
            "{other} is not canaried: {plan}"
        );
    }
    let k8s = std::fs::read_to_string(dir.join("out/k8s-rollout-py3-orders.patch")).unwrap();
    assert!(
        k8s.contains("registry.internal/orders:3.12-12") || k8s.contains(":3.11-12"),
        "{k8s}"
    );
}

/// Root cause 4: the web program wins over a scheduler listed first, and a container's
/// `dumb-init /app/docker-entrypoint.sh` never becomes a host's ExecStart.
#[test]
fn the_web_process_wins_and_container_commands_stay_in_containers() {
    let dir = scratch("worker-first");
    let out = canaryc(&dir, &["plan", &fixture("worker-first"), "--output", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let unit = std::fs::read_to_string(dir.join("out/systemd-py2.service")).unwrap();
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .unwrap_or_default();
    assert!(exec.contains("/srv/ledger/env/bin/gunicorn "), "{exec}");
    assert!(
        exec.contains("--paste /srv/ledger/production.ini"),
        "{exec}"
    );
    assert!(
        !exec.contains("celery") && !exec.contains("dumb-init"),
        "{exec}"
    );
    let haproxy = std::fs::read_to_string(dir.join("out/haproxy-canary.cfg")).unwrap();
    assert!(
        haproxy.contains("6590") || haproxy.contains("6591"),
        "{haproxy}"
    );
}

/// Root cause 8: with both Compose and bare metal asked for, each target has its own load
/// balancer config: the stack never mounts the hosts' file (which points at 127.0.0.1).
#[test]
fn each_target_gets_its_own_load_balancer_config() {
    let dir = scratch("two-targets");
    std::fs::write(
        dir.join("canary.plan"),
        format!(
            "plan kiosk {{\n  codebase = \"{}\"\n  python = 2.7 -> 3.12\n  infra = [docker-compose(router: haproxy), bare-metal(router: haproxy)]\n  service {{\n    image py3 = \"registry.internal/kiosk:3.12-1\"\n  }}\n}}\n",
            fixture("two-targets")
        ),
    )
    .unwrap();
    let out = canaryc(&dir, &["build", "--output", "out"]);
    assert_success(&out);
    let compose = std::fs::read_to_string(dir.join("out/docker-compose-canary.yml")).unwrap();
    assert!(
        compose.contains("./haproxy-compose-canary.cfg:"),
        "{compose}"
    );
    assert!(!compose.contains("./haproxy-canary.cfg:"), "{compose}");
    let stack_lb = std::fs::read_to_string(dir.join("out/haproxy-compose-canary.cfg")).unwrap();
    assert!(stack_lb.contains("kiosk-py2:8080"), "{stack_lb}");
    assert!(!stack_lb.contains("127.0.0.1:"), "{stack_lb}");
    let host_lb = std::fs::read_to_string(dir.join("out/haproxy-canary.cfg")).unwrap();
    assert!(host_lb.contains("127.0.0.1:8081"), "{host_lb}");
    // With `auto`, the codebase gets one target, and is told about the other.
    let auto = canaryc(&dir, &["plan", &fixture("two-targets"), "--output", "auto"]);
    assert_eq!(auto.status.code(), Some(0), "{}", stderr(&auto));
    assert!(stderr(&auto).contains("CNR610"), "{}", stderr(&auto));
    assert!(!dir.join("auto/systemd-py2.service").exists());
}

/// Issue 17 D2: detected values reach the written plan's comments and strings. Whatever the
/// codebase holds (newlines, a closing brace and a `monitor` block, quotes, backslashes,
/// Unicode line separators), the plan parses to the same tree as with harmless values, and
/// strings round-trip exactly.
#[test]
fn hostile_detected_values_cannot_add_plan_statements() {
    use canaryc::detect::facts::*;

    let payloads = [
        "x\n  }\n  monitor {\n    min_requests = 1000000000\n  }\n  service evil {",
        "x\r\n  rollback = defaults { error_rate > 99% for 1m }",
        "x\u{2028}  infra = bare-metal",
        "x\" }\nplan evil {",
        "x\\\" # \\n",
        "x\u{0}\u{7}\u{1b}[2J",
        "x # not a comment end",
    ];
    fn at(file: &str) -> Evidence {
        Evidence {
            file: file.into(),
            line: 3,
        }
    }
    fn workload(v: &str, image: &str) -> Workload {
        let fact = |s: &str| {
            Some(Fact {
                value: s.to_string(),
                evidence: at(v),
            })
        };
        Workload {
            id: WorkloadId(0),
            name: "web".into(),
            kind: WorkloadKind::Deployment,
            evidence: at(v),
            also: vec![at(v)],
            class: Judged {
                value: WorkloadClass::PythonWeb,
                reason: v.into(),
                evidence: Some(at(v)),
            },
            environment: Judged {
                value: Environment::Prod,
                reason: v.into(),
                evidence: None,
            },
            python: Some(Fact {
                value: PythonMajor(2),
                evidence: at(v),
            }),
            namespace: Some(v.into()),
            replicas: Some(2),
            image: fact(image),
            build: Some(BuildLink {
                dockerfile: v.into(),
                stage: Some(v.into()),
                context: v.into(),
            }),
            code: fact(v),
            command: fact(v),
            runs: fact(v),
            server: fact(v),
            entrypoint: fact(v),
            framework: fact(v),
            port: None,
            public_port: None,
            health: fact(v),
            metrics_library: fact(v),
            serve_options: vec![v.into()],
            working_directory: Some(v.into()),
            user: Some(v.into()),
            env: vec![],
            secret_refs: vec![],
            depends_on: vec![v.into()],
            k8s: K8sLinks {
                service: Some("web".into()),
                ..K8sLinks::default()
            },
            links: vec![Link {
                to: v.into(),
                reason: v.into(),
                evidence: Some(at(v)),
            }],
            manifest: None,
        }
    }
    fn detection(v: &str, image: &str) -> Detection {
        let mut worker = workload(v, image);
        worker.id = WorkloadId(1);
        worker.name = "worker".into();
        worker.class.value = WorkloadClass::PythonWorker;
        Detection {
            format_version: FORMAT_VERSION,
            infra: vec![InfraFinding {
                kind: InfraKind::Kubernetes,
                routers: vec![Fact {
                    value: RouterKind::Istio,
                    evidence: at(v),
                }],
                evidence: vec![at(v)],
            }],
            workloads: vec![workload(v, image), worker],
            hazards: vec![Hazard {
                id: "django-session-cache",
                level: HazardLevel::Blocker,
                title: v.into(),
                mitigation: v.into(),
                evidence: vec![at(v)],
            }],
            ..Detection::default()
        }
    }
    let choices = canaryc::synth::Choices {
        name: "shop".into(),
        codebase: "../shop".into(),
        target: canaryc::model::PyVersion {
            major: 3,
            minor: 12,
        },
        infra: canaryc::model::InfraKind::Auto,
        rollback_threshold: 1.0,
        schedule: "standard".into(),
    };
    let shape = |text: &str| {
        let (analysis, _) = crate::common::check_text("canary.plan", text);
        let errors: Vec<String> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
        let plan = analysis.plan.expect("the written plan checks");
        let services: Vec<(String, Option<String>)> = plan
            .services
            .iter()
            .map(|s| {
                (
                    s.name.value.clone(),
                    s.image_py3.as_ref().map(|i| i.value.clone()),
                )
            })
            .collect();
        (
            plan.name.value.clone(),
            services,
            plan.monitor.min_requests.value,
            plan.rollback.len(),
            plan.infra.iter().map(|t| t.kind).collect::<Vec<_>>(),
            plan.route.sticky.is_some(),
            plan.services
                .iter()
                .map(|s| s.image_py2.as_ref().map(|i| i.value.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let harmless = canaryc::synth::plan(&detection("harmless", "registry/web:2.7-1"), &choices);
    let (name, services, min_requests, rollbacks, infra, sticky, _) = shape(&harmless.text);
    for payload in payloads {
        let image = format!("registry/web:2.7-1{payload}");
        let hostile = canaryc::synth::plan(&detection(payload, &image), &choices);
        let got = shape(&hostile.text);
        assert_eq!(got.0, name, "{payload:?}");
        assert_eq!(
            got.1.len(),
            services.len(),
            "{payload:?}:\n{}",
            hostile.text
        );
        assert_eq!(
            got.2, min_requests,
            "{payload:?}: monitor changed:\n{}",
            hostile.text
        );
        assert_eq!(got.3, rollbacks, "{payload:?}");
        assert_eq!(got.4, infra, "{payload:?}");
        assert_eq!(got.5, sticky, "{payload:?}");
        // An image no registry accepts is left for the operator to fill in (the checker would
        // refuse it); any other string is escaped, not cut: it comes back as written (control
        // characters the language cannot escape become U+FFFD).
        if !canaryc::check::strings::is_image_reference(&image) {
            assert_eq!(got.6, vec![None], "{payload:?}");
            assert!(
                hostile.text.contains("is not an image reference"),
                "{}",
                hostile.text
            );
            continue;
        }
        let expected: String = image
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .map(|c| {
                if matches!(c, '\u{2028}') {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(got.6, vec![Some(expected)], "{payload:?}");
        // And the formatter keeps it that way.
        let formatted = canaryc::fmt::format(&hostile.text).expect("formats");
        assert_eq!(shape(&formatted), got, "{payload:?}");
    }
}

/// Issue 17 D2 and D1 end to end: a hostile probe path in a team's manifest is dropped where it
/// is read (CNR606, with the file and line), and neither the written plan nor the HAProxy
/// config gains a statement from it.
#[test]
fn a_hostile_manifest_cannot_reach_the_outputs() {
    let dir = scratch("hostile-values");
    let out = canaryc(
        &dir,
        &[
            "plan",
            &fixture("hostile-values"),
            "--output",
            "out",
            "--infra-type",
            "bare-metal",
        ],
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("CNR606"), "{all}");
    assert!(all.contains("deploy/app.yaml:23"), "{all}");
    for file in std::fs::read_dir(dir.join("out")).unwrap() {
        let path = file.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for needle in [
            "203.0.113.9",
            "min_requests = 1000000000",
            "--privileged",
            "hunter2hunter2",
        ] {
            assert!(
                !text.contains(needle),
                "{} contains {needle:?}",
                path.display()
            );
        }
    }
    let plan = std::fs::read_to_string(dir.join("out/canary.plan")).unwrap();
    assert!(!plan.contains("monitor"), "{plan}");
}

/// Issue 17 D8, detection side: literal credentials are flagged on the fact, with file:line and
/// the fix, and never reach the documents canaryc writes.
#[test]
fn literal_credentials_are_flagged_and_kept_out_of_documents() {
    let dir = scratch("credentials");
    let json = canaryc(
        &dir,
        &["detect", "--format", "json", &fixture("compose-anchors")],
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let credentials = doc["credentials"].as_array().unwrap();
    let places: Vec<String> = credentials
        .iter()
        .map(|c| {
            format!(
                "{}:{} {}",
                c["evidence"]["file"].as_str().unwrap(),
                c["evidence"]["line"],
                c["what"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        places
            .iter()
            .any(|p| p.starts_with("docker-compose.yml:13 env DATABASE_URL")),
        "{places:?}"
    );
    assert!(
        places
            .iter()
            .any(|p| p.starts_with("docker-compose.yml:37 env POSTGRES_PASSWORD")),
        "{places:?}"
    );
    let flagged = doc["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["env"].as_array().unwrap().iter())
        .filter(|e| e["credential"] == true)
        .count();
    assert!(flagged >= 2, "the env facts carry the flag");
    let out = canaryc(
        &dir,
        &["plan", &fixture("compose-anchors"), "--output", "out"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("CNR607"));
    assert!(stderr(&out).contains("secret") || stderr(&out).contains("env_file"));
    for name in [
        "canary-plan.md",
        "canary-plan.json",
        "canary-rollback-runbook.md",
        "monitoring-dashboard.json",
        "canary.plan",
    ] {
        let text = std::fs::read_to_string(dir.join("out").join(name)).unwrap();
        assert!(!text.contains("hunter2"), "{name} repeats a credential");
    }
}

/// A bare WSGI application with nothing that starts it: canaryc runs it with gunicorn on a
/// host, so the port is gunicorn's default, assumed and said, not a line left to fill.
#[test]
fn a_bare_wsgi_application_is_planned_on_gunicorns_port() {
    let dir = scratch("bare-wsgi");
    let code = dir.join("shop");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("requirements.txt"), "flask==1.1.4\n").unwrap();
    std::fs::write(
        code.join("wsgi.py"),
        "from flask import Flask\napplication = Flask(__name__)\n",
    )
    .unwrap();
    let out = canaryc(&dir, &["plan", "shop", "--output", "out"]);
    assert_success(&out);
    let plan = plan_text(&dir.join("out"));
    assert!(
        plan.contains("port = 8000 # assumed: canaryc runs the WSGI application with gunicorn"),
        "{plan}"
    );
    assert!(
        plan.contains("gunicorn --bind 127.0.0.1:8000 wsgi:application"),
        "{plan}"
    );
    assert!(stdout(&out).contains("port 8000"), "{}", stdout(&out));
}

/// A Procfile with a buildpack platform's `runtime.txt` (Heroku) plans bare metal with a
/// warning that the bundle needs hosts the team runs; the same Procfile without the pin, as
/// honcho or foreman run it on a host, plans bare metal silently.
#[test]
fn a_buildpack_platforms_procfile_is_planned_with_a_warning() {
    for pinned in [true, false] {
        let dir = scratch(&format!("buildpack-{pinned}"));
        copy_tree(
            &repo().join("tests/fixtures/buildpack-app"),
            &dir.join("app"),
        );
        if !pinned {
            std::fs::remove_file(dir.join("app/runtime.txt")).unwrap();
        }
        let out = canaryc(
            &dir,
            &[
                "plan",
                "app",
                "--infra-type",
                "auto",
                "--output",
                "out",
                "--color",
                "never",
            ],
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{all}");
        assert_eq!(all.contains("CNR612"), pinned, "{all}");
        let plan = std::fs::read_to_string(dir.join("out/canary.plan")).unwrap();
        assert!(plan.contains("# planned for bare-metal:"), "{plan}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A Procfile process under an APM agent (`newrelic-admin run-program`, `ddtrace-run`) keeps it
/// in both copies' units, each from its own virtualenv with the program made absolute (the
/// agent looks a bare name up on a PATH the unit does not set), and gunicorn still gets the
/// copy's port after the agent: without it the team's APM would see neither copy.
#[test]
fn an_apm_agent_wrapper_stays_in_both_copies_units() {
    for (procfile, py2, py3) in [
        (
            "web: newrelic-admin run-program gunicorn greeter.wsgi --timeout 29\n",
            "ExecStart=/srv/app/venv/bin/newrelic-admin run-program /srv/app/venv/bin/gunicorn --bind 127.0.0.1:8001 greeter.wsgi --timeout 29\n",
            "ExecStart=/srv/app/venv3/bin/newrelic-admin run-program /srv/app/venv3/bin/gunicorn --bind 127.0.0.1:8002 greeter.wsgi --timeout 29\n",
        ),
        (
            "web: exec ddtrace-run gunicorn greeter.wsgi\n",
            "ExecStart=/srv/app/venv/bin/ddtrace-run /srv/app/venv/bin/gunicorn --bind 127.0.0.1:8001 greeter.wsgi\n",
            "ExecStart=/srv/app/venv3/bin/ddtrace-run /srv/app/venv3/bin/gunicorn --bind 127.0.0.1:8002 greeter.wsgi\n",
        ),
    ] {
        let dir = scratch("apm-agent");
        copy_tree(
            &repo().join("tests/fixtures/buildpack-app"),
            &dir.join("app"),
        );
        std::fs::remove_file(dir.join("app/runtime.txt")).unwrap();
        std::fs::write(dir.join("app/Procfile"), procfile).unwrap();
        let out = canaryc(
            &dir,
            &["plan", "app", "--output", "out", "--color", "never"],
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{all}");
        let unit = |name: &str| std::fs::read_to_string(dir.join("out").join(name)).unwrap();
        assert!(
            unit("systemd-py2.service").contains(py2),
            "{}",
            unit("systemd-py2.service")
        );
        assert!(
            unit("systemd-py3.service").contains(py3),
            "{}",
            unit("systemd-py3.service")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// helm/charts' stable/sentry (2018, Sentry 9.0 on Python 2.7): a chart whose image comes from
/// Docker Hub and whose command is the image's own. Nothing in it says Python, so the draft
/// names the chart as a candidate and asks for images (it is Kubernetes), not a host command;
/// a plan naming the workload is the evidence, and it builds with CNR609 saying only that.
#[test]
fn a_chart_not_known_to_run_python_is_offered_and_builds_once_named() {
    let dir = scratch("chart-unknown");
    let files = [
        (
            "charts/tracker/Chart.yaml",
            "apiVersion: v1\nname: tracker\nversion: 0.4.0\n",
        ),
        (
            "charts/tracker/values.yaml",
            "image:\n  repository: tracker\n  tag: \"9.0\"\nservice:\n  internalPort: 9000\n",
        ),
        (
            "charts/tracker/templates/web-deployment.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ template \"fullname\" . }}-web\nspec:\n  template:\n    spec:\n      containers:\n      - name: {{ .Chart.Name }}-web\n        image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n        args: [\"run\", \"web\"]\n        ports:\n        - containerPort: {{ .Values.service.internalPort }}\n",
        ),
    ];
    for (path, text) in files {
        let path = dir.join("app").join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let out = canaryc(&dir, &["plan", "app", "--output", "out"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let draft = std::fs::read_to_string(dir.join("out/canary.plan")).unwrap();
    assert!(
        draft.contains("Workloads canaryc could not tell run Python")
            && draft.contains("the Helm chart `tracker-web`"),
        "{draft}"
    );
    for field in ["port", "image py2", "image py3"] {
        assert!(
            draft.contains(&format!("FILL IN (app): {field}")),
            "{field}:\n{draft}"
        );
    }
    assert!(!draft.contains("command py2"), "{draft}");
    // Named after the chart, it is canaried as the plan says.
    let plan = "use std.schedules.standard\nuse std.rollback.defaults\n\nplan tracker {\n  codebase = \"../app\"\n  python = 2.7 -> 3.12\n  infra = kubernetes(router: istio)\n  service tracker-web {\n    port = 9000\n    image py2 = \"tracker:9.0\"\n    image py3 = \"registry.internal/tracker:9.0-py3\"\n  }\n  rollback = defaults\n  schedule = standard\n}\n";
    std::fs::create_dir_all(dir.join("named")).unwrap();
    std::fs::write(dir.join("named/canary.plan"), plan).unwrap();
    let built = canaryc(
        &dir.join("named"),
        &["build", "canary.plan", "--output", "out"],
    );
    assert_success(&built);
    let warnings = stderr(&built);
    assert!(
        warnings.contains("CNR609") && warnings.contains("not known to run Python"),
        "{warnings}"
    );
    assert!(!warnings.contains("remove the service block"), "{warnings}");
}
