//! Hostile values planted in small generated codebases, through detection, merging and every
//! backend.
//!
//! The harness writes files (it does not know how detectors work, so it keeps working while
//! they change): a Kubernetes Deployment with a hostile probe path, image or env value; a
//! Compose service with a hostile image, environment value or command word; a systemd unit
//! with a hostile `ExecStart` word, `WorkingDirectory=` or `User=`; a Procfile command word;
//! a Dockerfile's `WORKDIR` or `CMD` word; a hostile directory name. Each format gets the value
//! the way a person would write it there (YAML and JSON through a serialiser, quoted words in
//! command lines; a newline only where the format can carry one).
//!
//! A detector may keep a value, or drop it (or the whole file) with a warning; the property
//! is that the outputs read back to the structure of one of those: the benign codebase, the
//! codebase without the value, or the codebase without the file. And no value is ever cut in
//! two.

use std::path::{Path, PathBuf};

use canaryc::check::Options;
use canaryc::date::Date;
use canaryc::detect::merge::Merger;
use canaryc::detect::walk::Limits;
use canaryc::diag::Severity;
use canaryc::emit::escape::shell;
use canaryc::emit::{OutputFile, emit};
use canaryc::source::SourceMap;
use serde_json::json;

use super::{Rng, Structure, cases, difference, planted, structure_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plant {
    K8sProbePath,
    K8sImage,
    K8sEnvValue,
    ComposeImage,
    ComposeEnvValue,
    ComposeCommandWord,
    UnitExecWord,
    UnitWorkingDirectory,
    UnitUser,
    ProcfileWord,
    DockerfileWorkdir,
    DockerfileCmdWord,
    DirectoryName,
}

pub(crate) const PLANTS: &[Plant] = &[
    Plant::K8sProbePath,
    Plant::K8sImage,
    Plant::K8sEnvValue,
    Plant::ComposeImage,
    Plant::ComposeEnvValue,
    Plant::ComposeCommandWord,
    Plant::UnitExecWord,
    Plant::UnitWorkingDirectory,
    Plant::UnitUser,
    Plant::ProcfileWord,
    Plant::DockerfileWorkdir,
    Plant::DockerfileCmdWord,
    Plant::DirectoryName,
];

/// What the codebase holds for one case: the value, or nothing (the "dropped" variant), and
/// whether the file carrying it is there at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant<'a> {
    Value(&'a str),
    NoValue,
    NoFile,
}

/// Whether Compose reads a reference (`$NAME`, `${...}`) in `value`, as the structure reader
/// counts them (`$$` is a literal `$`).
fn compose_reference(value: &str) -> bool {
    let mut atoms = Vec::new();
    let _ = super::structure::interpolate(value, "${", &mut atoms, "reference");
    !atoms.is_empty()
}

impl Plant {
    /// A benign value that takes the same path through detection as `hostile`: an env value
    /// with `$(` is a Kubernetes expansion the team wrote into its own Deployment, which the
    /// clone keeps. (Command words are planted as `--name=VALUE`, which no detector reads as
    /// the WSGI entrypoint.)
    fn benign_like(self, hostile: &str) -> &'static str {
        match self {
            Plant::K8sEnvValue if hostile.contains("$(") => "$(b)",
            // Likewise a `$NAME` or `${` in the team's compose file is its own interpolation
            // (read as planted: a `$` at the end is followed by the closing sentinel's letter).
            Plant::ComposeEnvValue | Plant::ComposeCommandWord
                if compose_reference(&planted(hostile)) =>
            {
                "${b}"
            }
            _ => "benign",
        }
    }

    /// A value this format can hold as written: line-based formats carry no line break, and
    /// a file name no `/` or NUL.
    fn fit(self, value: &str) -> String {
        match self {
            Plant::UnitExecWord
            | Plant::UnitWorkingDirectory
            | Plant::UnitUser
            | Plant::ProcfileWord
            | Plant::DockerfileWorkdir => value
                .chars()
                .filter(|c| !matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
                .collect::<String>()
                .trim_end_matches('\\')
                .to_string(),
            // Detection refuses a command holding a control character (CNR606, unit tests in
            // detect::validate) while the copies keep the team's compose entry as written: no
            // single baseline has both, so the harness plants printable words.
            Plant::ComposeCommandWord => value.chars().filter(|c| !c.is_control()).collect(),
            Plant::DirectoryName => value.chars().filter(|c| !matches!(c, '/' | '\0')).collect(),
            _ => value.to_string(),
        }
    }

    /// The plan next to the codebase: the infrastructure this plant is read for.
    fn plan(self, codebase: &Path) -> String {
        let infra = match self {
            Plant::K8sImage | Plant::K8sEnvValue => {
                "kubernetes(router: istio)\n  service { image py3 = \"registry.internal/shop:3.13-1\" }"
            }
            Plant::ComposeImage | Plant::ComposeEnvValue | Plant::ComposeCommandWord => {
                "docker-compose(router: haproxy)\n  service { image py3 = \"registry.internal/shop:3.13-1\" }"
            }
            // D1: a probe path from a Deployment reaches the HAProxy health check.
            _ => "bare-metal(router: haproxy)\n  service { port = 8000 }",
        };
        format!(
            "plan shop {{\n  codebase = {}\n  python = 2.7 -> 3.13\n  infra = {infra}\n}}\n",
            super::plan_strings::string(&codebase.display().to_string())
        )
    }

    /// Writes the codebase for `variant` into `dir`.
    fn write(self, dir: &Path, variant: Variant<'_>) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let value = match variant {
            Variant::Value(v) => Some(v),
            _ => None,
        };
        let file = variant != Variant::NoFile;
        let write = |rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        match self {
            Plant::K8sProbePath | Plant::K8sImage | Plant::K8sEnvValue => {
                let mut container = json!({
                    "name": "shop",
                    "image": "registry.internal/shop:2.7-1",
                    "ports": [ { "containerPort": 8000 } ],
                    "env": [ { "name": "MODE", "value": "web" } ],
                    "readinessProbe": { "httpGet": { "path": "/healthz", "port": 8000 } }
                });
                match (self, value) {
                    (Plant::K8sProbePath, Some(v)) => {
                        container["readinessProbe"]["httpGet"]["path"] = json!(format!("/{v}"))
                    }
                    (Plant::K8sProbePath, None) => {
                        container.as_object_mut().unwrap().remove("readinessProbe");
                    }
                    (Plant::K8sImage, Some(v)) => {
                        container["image"] = json!(format!("registry.internal/{v}:2.7"))
                    }
                    (Plant::K8sImage, None) => {
                        container.as_object_mut().unwrap().remove("image");
                    }
                    (_, Some(v)) => container["env"][0]["value"] = json!(v),
                    (_, None) => {
                        container.as_object_mut().unwrap().remove("env");
                    }
                }
                let deployment = json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": { "name": "shop", "labels": { "app": "shop" } },
                    "spec": { "replicas": 2, "selector": { "matchLabels": { "app": "shop" } },
                        "template": { "metadata": { "labels": { "app": "shop" } },
                            "spec": { "containers": [ container ] } } }
                });
                write("requirements.txt", "flask==1.1.4\n");
                if file {
                    // JSON is YAML: the serialiser writes the value exactly.
                    write(
                        "deploy/shop.yaml",
                        &serde_json::to_string_pretty(&deployment).unwrap(),
                    );
                }
            }
            Plant::ComposeImage | Plant::ComposeEnvValue | Plant::ComposeCommandWord => {
                let mut web = json!({
                    "image": "registry.internal/shop:2.7-1",
                    "ports": ["8000:8000"],
                    "environment": { "MODE": "web" },
                    "command": "gunicorn --bind 0.0.0.0:8000 shop.wsgi"
                });
                match (self, value) {
                    (Plant::ComposeImage, Some(v)) => {
                        web["image"] = json!(format!("registry.internal/{v}:2.7"))
                    }
                    (Plant::ComposeImage, None) => {
                        web.as_object_mut().unwrap().remove("image");
                        web["build"] = json!(".");
                    }
                    (Plant::ComposeEnvValue, Some(v)) => web["environment"]["MODE"] = json!(v),
                    (Plant::ComposeEnvValue, None) => {
                        web.as_object_mut().unwrap().remove("environment");
                    }
                    // Always quoted, so the benign word and a hostile one differ only
                    // between the sentinels (the team's command is kept as it is written).
                    (_, Some(v)) => {
                        web["command"] = json!(format!(
                            "gunicorn --bind 0.0.0.0:8000 '{}' shop.wsgi",
                            format!("--name={v}").replace('\'', "'\\''")
                        ))
                    }
                    // Detection refuses a whole command it cannot carry (a line break): the
                    // same outputs as a service with no command.
                    (_, None) => {
                        web.as_object_mut().unwrap().remove("command");
                    }
                }
                write("requirements.txt", "flask==1.1.4\n");
                if file {
                    let doc = json!({ "services": { "web": web } });
                    write(
                        "docker-compose.yml",
                        &serde_json::to_string_pretty(&doc).unwrap(),
                    );
                }
            }
            Plant::UnitExecWord | Plant::UnitWorkingDirectory | Plant::UnitUser => {
                let word = match (self, value) {
                    (Plant::UnitExecWord, Some(v)) => {
                        format!(" {}", systemd_word(&format!("--name={v}")))
                    }
                    _ => String::new(),
                };
                let workdir = match (self, value) {
                    (Plant::UnitWorkingDirectory, Some(v)) => {
                        format!("WorkingDirectory=/srv/{v}\n")
                    }
                    (Plant::UnitWorkingDirectory, None) => String::new(),
                    _ => "WorkingDirectory=/srv/shop\n".into(),
                };
                let user = match (self, value) {
                    (Plant::UnitUser, Some(v)) => format!("User={v}\n"),
                    (Plant::UnitUser, None) => String::new(),
                    _ => "User=shop\n".into(),
                };
                write("requirements.txt", "flask==1.1.4\n");
                if file {
                    write(
                        "deploy/shop.service",
                        &format!(
                            "[Unit]\nDescription=shop\n\n[Service]\n{user}{workdir}ExecStart=/srv/shop/venv/bin/gunicorn --bind 0.0.0.0:8000 shop.wsgi{word}\n\n[Install]\nWantedBy=multi-user.target\n"
                        ),
                    );
                }
            }
            Plant::ProcfileWord => {
                write("requirements.txt", "flask==1.1.4\n");
                let word = value
                    .map(|v| format!(" {}", shell::posix_word(&format!("--name={v}"))))
                    .unwrap_or_default();
                if file {
                    write(
                        "Procfile",
                        &format!("web: gunicorn --bind 0.0.0.0:8000{word} shop.wsgi\n"),
                    );
                }
            }
            Plant::DockerfileWorkdir | Plant::DockerfileCmdWord => {
                write("requirements.txt", "flask==1.1.4\n");
                let workdir = match (self, value) {
                    (Plant::DockerfileWorkdir, Some(v)) => format!("/srv/{v}"),
                    _ => "/srv/shop".into(),
                };
                let named;
                let mut cmd = vec!["gunicorn", "--bind", "0.0.0.0:8000", "shop.wsgi"];
                if let (Plant::DockerfileCmdWord, Some(v)) = (self, value) {
                    named = format!("--name={v}");
                    cmd.insert(3, &named);
                }
                if file {
                    write(
                        "Dockerfile",
                        &format!(
                            "FROM python:2.7-slim\nWORKDIR {workdir}\nEXPOSE 8000\nCMD {}\n",
                            serde_json::to_string(&cmd).unwrap()
                        ),
                    );
                }
            }
            Plant::DirectoryName => {
                let name = value.unwrap_or("shop");
                if file {
                    write(&format!("{name}/requirements.txt"), "flask==1.1.4\n");
                    write(
                        &format!("{name}/Procfile"),
                        "web: gunicorn --bind 0.0.0.0:8000 shop.wsgi\n",
                    );
                    write(
                        &format!("{name}/app.py"),
                        "import flask\napp = flask.Flask(__name__)\n",
                    );
                }
            }
        }
    }
}

/// A word of a unit's command line as a person writes it: double-quoted with C escapes.
fn systemd_word(v: &str) -> String {
    canaryc::emit::escape::systemd::exec_word(v).into_owned()
}

thread_local! {
    /// Why the last build was refused, for the report.
    static REFUSAL: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// check, detect, merge, lower, emit: what `canaryc build` does, in-process.
fn build(plan_text: &str, codebase: &Path) -> Result<Vec<OutputFile>, String> {
    let mut sources = SourceMap::new();
    let root = sources.add("canary.plan", plan_text.to_string());
    let options = Options {
        today: Date::parse(crate::common::TODAY).unwrap(),
    };
    let analysis = canaryc::check::check(&mut sources, root, &options);
    let plan = analysis
        .plan
        .ok_or_else(|| format!("the plan does not check: {:?}", analysis.diagnostics))?;
    let limits = Limits {
        threads: 1,
        ..Limits::default()
    };
    let detection = canaryc::detect::detect(codebase, &limits).map_err(|e| e.to_string())?;
    let loader = |rel: &str| std::fs::read_to_string(codebase.join(rel)).ok();
    let mut merger = Merger::new(&mut sources, &loader, "codebase");
    let merged = merger.merge(&plan, &detection);
    let (ir, diagnostics) = canaryc::ir::lower(&merged, Some(&detection), Some("../codebase"));
    if let Some(d) = diagnostics.iter().find(|d| d.severity == Severity::Error) {
        // A hostile value that leaves the service without a command or image is reported, not
        // built: nothing is written.
        REFUSAL.with(|r| *r.borrow_mut() = d.message.clone());
        return Ok(Vec::new());
    }
    Ok(emit(&ir))
}

#[derive(Default)]
pub(crate) struct Tally {
    pub cases: usize,
    pub kept: usize,
    pub dropped: usize,
    pub refused: usize,
    /// Refusals by plant, for the report.
    pub refused_by: std::collections::BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "canaryc-hostile-codebase-{}-{tag}",
        std::process::id()
    ))
}

pub(crate) fn run(n: usize, seed: u64) -> Tally {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let dir = scratch("case");
    let mut baselines: std::collections::HashMap<(usize, &str), [Structure; 3]> =
        std::collections::HashMap::new();
    while tally.cases < n {
        let p = rng.below(PLANTS.len());
        let plant = PLANTS[p];
        let hostile = plant.fit(&rng.hostile());
        let benign = plant.benign_like(&hostile);
        baselines.entry((p, benign)).or_insert_with(|| {
            let mut got = Vec::new();
            for variant in [
                Variant::Value(&planted(benign)),
                Variant::NoValue,
                Variant::NoFile,
            ] {
                plant.write(&dir, variant);
                let files = build(&plant.plan(&dir), &dir).expect("benign codebase builds");
                got.push(structure_of(&files).expect("benign outputs read"));
            }
            got.try_into().expect("three baselines")
        });
        let value = planted(&hostile);
        if plant == Plant::DirectoryName && value.len() > 200 {
            continue;
        }
        tally.cases += 1;
        plant.write(&dir, Variant::Value(&value));
        let files = match build(&plant.plan(&dir), &dir) {
            Ok(f) => f,
            Err(e) => {
                tally.failures.push(format!("{plant:?} {hostile:?}: {e}"));
                continue;
            }
        };
        if files.is_empty() {
            tally.refused += 1;
            let why = REFUSAL.with(|r| r.borrow().clone());
            *tally
                .refused_by
                .entry(format!("{plant:?}: {why}"))
                .or_default() += 1;
            continue;
        }
        let [benign, no_value, no_file] = &baselines[&(p, benign)];
        match structure_of(&files) {
            Err(e) => tally.failures.push(format!("{plant:?} {hostile:?}: {e}")),
            Ok(got) => {
                if difference(benign, &got).is_none() {
                    tally.kept += 1;
                } else if difference(no_value, &got).is_none()
                    || difference(no_file, &got).is_none()
                {
                    tally.dropped += 1;
                } else {
                    tally.failures.push(format!(
                        "{plant:?} {hostile:?}: {}",
                        difference(benign, &got).unwrap_or_default()
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    tally
}

#[test]
fn hostile_codebase_values_change_no_output_structure() {
    let tally = run(cases(150), 17);
    eprintln!(
        "codebase values: {} cases ({} kept, {} dropped by detection, {} refused by lowering), {} structural changes",
        tally.cases,
        tally.kept,
        tally.dropped,
        tally.refused,
        tally.failures.len()
    );
    eprintln!("refused by lowering, by plant: {:?}", tally.refused_by);
    super::assert_none_failed(tally.cases, &tally.failures);
}
