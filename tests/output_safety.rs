//! Output safety (issues 16 and 17): the build killed at every step of writing leaves the old
//! output or the new one, never a mix or nothing; a planted `.canaryc` manifest deletes nothing;
//! output directories that must not be replaced are refused; plans that are not UTF-8, carry a
//! byte-order mark, or are not regular files.
//!
//! The kill test runs the real binary under strace, which delivers SIGKILL on entry to the n-th
//! call of one file-system-changing system call, for every such call a build makes. strace is
//! required when CANARYC_REQUIRE_STRACE is set (CI sets it after installing strace); elsewhere
//! the test says it is skipped. The mount-point test needs `unshare -m` (root); same variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{TODAY, assert_success, canaryc, repo, stderr, stdout};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canaryc-safety-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PLAN_A: &str = "plan ledger {\n  python = 2.7 -> 3.13\n  infra = bare-metal(router: haproxy)\n  service {\n    port = 8000\n    health = \"/healthz\"\n    command py2 = \"/srv/ledger/venv/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n    command py3 = \"/srv/ledger/venv3/bin/gunicorn --bind 0.0.0.0:8000 ledger.wsgi\"\n  }\n}\n";

/// Another router and port: some files change, some are new, some are no longer built.
fn plan_b() -> String {
    PLAN_A
        .replace("router: haproxy", "router: nginx")
        .replace("8000", "8100")
}

/// A plan that fails to compile: its build writes nothing, but still recovers first.
fn plan_broken() -> String {
    PLAN_A.replace("3.13\n", "3.13\n  schedule = nonexistent\n")
}

/// Every entry of a directory tree: path -> (mode, contents); directories end in `/`.
type Tree = BTreeMap<String, (u32, Vec<u8>)>;

fn tree(dir: &Path) -> Option<Tree> {
    use std::os::unix::fs::PermissionsExt as _;
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_dir() {
                out.insert(format!("{rel}/"), (mode, Vec::new()));
                walk(root, &path, out);
            } else {
                out.insert(rel, (mode, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    if !dir.is_dir() {
        return None;
    }
    let mut out = Tree::new();
    walk(dir, dir, &mut out);
    Some(out)
}

/// `to` replaced by a copy of `from`.
fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    crate::common::copy_tree(from, to);
}

/// Names in `dir` that canaryc's transactions (or its older versions) leave.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for d in [dir.to_path_buf(), dir.join("out")] {
        if let Ok(read) = std::fs::read_dir(&d) {
            for e in read {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if name.contains(".canaryc-") {
                    found.push(format!("{}/{name}", d.display()));
                }
            }
        }
    }
    found
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("CANARYC_TODAY", TODAY)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn tool_available(program: &str, probe: &[&str], what: &str) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CANARYC_REQUIRE_STRACE").is_none(),
            "{program} is required ({what}) but cannot run here"
        );
        eprintln!("{program} cannot run here: skipping {what}");
    }
    ok
}

/// The system calls that change what a directory holds: a kill on entry to each of them, for
/// every call a build makes, reaches every state the file system can be left in.
const STEPS: [&str; 10] = [
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "mkdir",
    "mkdirat",
    "rmdir",
];

/// What strace does on entry to the n-th call of one system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// SIGKILL: the build dies there.
    Kill,
    /// That one call fails (EIO): the build must undo what it did and say so.
    FailOnce,
    /// That call and every later one of its kind fail: undoing fails too, and the previous
    /// files must survive for the next run.
    FailFromThenOn,
}

impl Fault {
    fn inject(self, call: &str, n: usize) -> String {
        match self {
            Fault::Kill => format!("inject={call}:signal=KILL:when={n}"),
            Fault::FailOnce => format!("inject={call}:error=EIO:when={n}"),
            Fault::FailFromThenOn => format!("inject={call}:error=EIO:when={n}+"),
        }
    }

    /// The calls it is injected at. A failed fsync or syncfs must stop a build that has not committed;
    /// a kill at one is the same as a kill after the call before it.
    fn at(self, call: &str) -> bool {
        STEPS.contains(&call) || (self != Fault::Kill && (call == "fsync" || call == "syncfs"))
    }
}

struct Scenario {
    name: &'static str,
    /// Writes the plans and the old output into the scenario's directory.
    setup: fn(&Path),
    /// Where the commands run, relative to the scenario's directory.
    cwd: &'static str,
    /// The faulted command's arguments.
    args: &'static [&'static str],
    /// The next run's arguments: a plan that fails to compile (so that run only recovers), or
    /// the same command again when `next_builds`.
    next: &'static [&'static str],
    /// The output directory, relative to the scenario's directory.
    output: &'static str,
    /// Whether the output is swapped whole (then even before recovery it is old or new).
    swapped: bool,
    /// The file system has no atomic exchange: strace makes every `renameat2` fail with
    /// EINVAL, as some network file systems do.
    no_exchange: bool,
    /// The next run is the faulted command again, and must succeed the first time.
    next_builds: bool,
}

fn setup_common(dir: &Path) {
    std::fs::write(dir.join("a.plan"), PLAN_A).unwrap();
    std::fs::write(dir.join("b.plan"), plan_b()).unwrap();
    std::fs::write(dir.join("broken.plan"), plan_broken()).unwrap();
}

fn build_a(dir: &Path, plan: &str, output: &str) {
    let out = canaryc(dir, &["build", plan, "--output", output]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "swap-replace",
        setup: |d| {
            setup_common(d);
            build_a(d, "a.plan", "out");
        },
        cwd: ".",
        args: &["build", "b.plan", "--output", "out"],
        next: &["build", "broken.plan", "--output", "out"],
        output: "out",
        swapped: true,
        no_exchange: false,
        next_builds: false,
    },
    Scenario {
        name: "swap-new",
        setup: setup_common,
        cwd: ".",
        args: &["build", "b.plan", "--output", "out"],
        next: &["build", "broken.plan", "--output", "out"],
        output: "out",
        swapped: true,
        no_exchange: false,
        next_builds: false,
    },
    Scenario {
        // Issue 16's case: --force into a directory with someone else's file.
        name: "in-place-force-foreign",
        setup: |d| {
            setup_common(d);
            build_a(d, "a.plan", "out");
            std::fs::write(d.join("out/notes.txt"), "the team's notes\n").unwrap();
        },
        cwd: ".",
        args: &["build", "b.plan", "--output", "out", "--force"],
        next: &["build", "broken.plan", "--output", "out"],
        output: "out",
        swapped: false,
        no_exchange: false,
        next_builds: false,
    },
    Scenario {
        // The plan's own directory, and the current one: written in place, and the files no
        // longer built are kept there. The user has edited the plan since the last build.
        name: "in-place-plan-dir",
        setup: |d| {
            setup_common(d);
            std::fs::create_dir_all(d.join("out")).unwrap();
            std::fs::write(d.join("out/canary.plan"), PLAN_A).unwrap();
            build_a(&d.join("out"), "canary.plan", ".");
            std::fs::write(d.join("out/canary.plan"), plan_b()).unwrap();
        },
        cwd: "out",
        args: &["build", "canary.plan", "--output", "."],
        next: &["build", "../broken.plan", "--output", "."],
        output: "out",
        swapped: false,
        no_exchange: false,
        next_builds: false,
    },
    Scenario {
        // A directory canaryc's alone, on a file system with no atomic exchange: written in
        // place (no name is ever missing), and `plan`, which writes without recovering
        // first, works the first time after a crash.
        name: "no-exchange-plan",
        setup: |d| {
            setup_common(d);
            build_a(d, "a.plan", "out");
            crate::common::copy_tree(&repo().join("tests/fixtures/compose"), &d.join("codebase"));
        },
        cwd: ".",
        args: &["plan", "codebase", "--output", "out"],
        next: &["plan", "codebase", "--output", "out"],
        output: "out",
        swapped: false,
        no_exchange: true,
        next_builds: true,
    },
];

/// strace's options common to every run of a scenario.
fn strace_base(s: &Scenario) -> Vec<&'static str> {
    let mut args = vec!["-f", "-qq"];
    if s.no_exchange {
        args.extend(["-e", "inject=renameat2:error=EINVAL"]);
    }
    args
}

/// A tree without canaryc's transaction directories: what the team sees of the output.
fn visible(tree: Option<Tree>) -> Option<Tree> {
    tree.map(|mut t| {
        t.retain(|k, _| !k.starts_with(".canaryc-txn-"));
        t
    })
}

/// The last line of a run's stderr: its error.
fn last_line(output: &Output) -> String {
    stderr(output).lines().last().unwrap_or("").to_string()
}

/// What a build that failed says when it could not undo what it did.
const KEPT: &str = "the next canaryc run puts them back";

#[derive(Default)]
struct Tally {
    points: usize,
    /// Runs that did not exit 0 (killed, or failed).
    stopped: usize,
    /// Failed runs that could not undo, and kept the previous files for the next run.
    kept: usize,
    mixed_before_recovery: usize,
    missing_before_recovery: usize,
    bad: Vec<String>,
}

fn run_scenario(root: &Path, s: &Scenario, fault: Fault) -> Tally {
    let bin = env!("CARGO_BIN_EXE_canaryc");
    let template = root.join(format!("{}-template", s.name));
    std::fs::create_dir_all(&template).unwrap();
    (s.setup)(&template);
    let cwd = |d: &Path| d.join(s.cwd);
    let old = tree(&template.join(s.output));

    // The new output, from a build nobody disturbs; its system calls, counted.
    let reference = root.join(format!("{}-reference", s.name));
    copy_tree(&template, &reference);
    let trace = root.join(format!("{}.trace", s.name));
    let calls = format!("trace={},fsync,syncfs,openat", STEPS.join(","));
    let mut args = strace_base(s);
    args.extend(["-o", trace.to_str().unwrap(), "-e", &calls, bin]);
    args.extend(s.args);
    let out = run_in(&cwd(&reference), "strace", &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = tree(&reference.join(s.output));
    assert_ne!(old, new, "{}: the build changes the output", s.name);
    let trace = std::fs::read_to_string(&trace).unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in trace.lines() {
        let call = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.split('(').next())
            .unwrap_or("");
        // In a scenario without exchange every renameat2 fails, changing nothing.
        if fault.at(call) && !(s.no_exchange && call == "renameat2") {
            *counts.entry(call.to_string()).or_default() += 1;
        }
        // No file is ever created where the team would see it: only inside a transaction.
        if call == "openat" && line.contains("O_CREAT") {
            assert!(
                line.contains(".canaryc-txn-"),
                "{}: a file created outside a transaction: {line}",
                s.name
            );
        }
    }
    if s.swapped && old.is_some() {
        assert!(
            trace.contains("RENAME_EXCHANGE"),
            "{}: swapped in one exchange",
            s.name
        );
    }

    let mut tally = Tally::default();
    for (call, count) in &counts {
        for n in 1..=*count {
            tally.points += 1;
            let point = format!("{fault:?} at {call} #{n}");
            let trial = root.join(format!("{}-trial", s.name));
            copy_tree(&template, &trial);
            if old.is_none() {
                let _ = std::fs::remove_dir_all(trial.join(s.output));
            }
            let inject = fault.inject(call, n);
            // strace injects only into the calls it traces.
            let trace_one = if s.no_exchange {
                format!("trace={call},renameat2")
            } else {
                format!("trace={call}")
            };
            let mut args = strace_base(s);
            args.extend(["-o", "/dev/null", "-e", &trace_one, "-e", &inject, bin]);
            args.extend(s.args);
            let faulted = run_in(&cwd(&trial), "strace", &args);
            let succeeded = faulted.status.code() == Some(0);
            if !succeeded {
                tally.stopped += 1;
            }
            let kept = !succeeded && stderr(&faulted).contains(KEPT);
            tally.kept += usize::from(kept);
            let now = visible(tree(&trial.join(s.output)));
            if fault != Fault::Kill {
                // A build that says it succeeded wrote the new output; one that failed left
                // the old one, or kept it for the next run and said so.
                if succeeded && now != new {
                    tally
                        .bad
                        .push(format!("{point}: exit 0 but not the new output"));
                }
                if !succeeded && now != old && !kept {
                    tally.bad.push(format!(
                        "{point}: failed, not the old output, and did not say so: {}",
                        last_line(&faulted)
                    ));
                }
            }
            if now != old && now != new {
                tally.mixed_before_recovery += 1;
                // Never missing: every name both builds write exists, as one or the other.
                let (before, after) = (old.clone().unwrap_or_default(), new.clone().unwrap());
                let now = now.clone().unwrap_or_default();
                if before
                    .keys()
                    .any(|k| after.contains_key(k) && !now.contains_key(k))
                {
                    tally.missing_before_recovery += 1;
                }
                if s.swapped {
                    tally
                        .bad
                        .push(format!("{point}: a swapped output was neither old nor new"));
                }
            }
            // The next run puts it right: the output the faulted run said it left.
            let next = run_in(&cwd(&trial), bin, s.next);
            let expected_exit = if s.next_builds { 0 } else { 1 };
            if next.status.code() != Some(expected_exit) {
                tally.bad.push(format!(
                    "{point}: the next run exited {:?}: {}",
                    next.status.code(),
                    last_line(&next)
                ));
            }
            let after = tree(&trial.join(s.output));
            let expected: Vec<&Option<Tree>> = match (s.next_builds, fault, succeeded) {
                (true, _, _) => vec![&new],
                (false, Fault::Kill, _) => vec![&old, &new],
                (false, _, true) => vec![&new],
                (false, _, false) => vec![&old],
            };
            let left = leftovers(&trial);
            if !expected.contains(&&after) || !left.is_empty() {
                let state = if after == old {
                    "old"
                } else if after == new {
                    "new"
                } else {
                    "MIXED"
                };
                tally
                    .bad
                    .push(format!("{point}: after the next run: {state} {left:?}"));
            }
        }
    }
    eprintln!(
        "{fault:?} test {}: {} points ({}), {} stopped, {} kept the previous files for the next run; before the next run: {} mixed, {} with a file missing; after it: {} wrong",
        s.name,
        tally.points,
        counts
            .iter()
            .map(|(c, n)| format!("{c} x{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        tally.stopped,
        tally.kept,
        tally.mixed_before_recovery,
        tally.missing_before_recovery,
        tally.bad.len()
    );
    tally
}

fn fault_test(fault: Fault) {
    if !tool_available(
        "strace",
        &["-qq", "-o", "/dev/null", "true"],
        "the fault tests",
    ) {
        return;
    }
    let root = scratch(&format!("{fault:?}"));
    let (mut total, mut failures) = (0, Vec::new());
    for s in SCENARIOS {
        let tally = run_scenario(&root, s, fault);
        let mut fails = |ok: bool, what: &str| {
            if !ok {
                failures.push(format!("{}: {what}", s.name));
            }
        };
        fails(tally.points >= 5, "fewer than 5 points");
        fails(
            fault != Fault::Kill || tally.stopped == tally.points,
            "a kill point was not reached",
        );
        fails(
            fault == Fault::Kill || tally.stopped > 0,
            "no failure stopped a build",
        );
        fails(
            s.swapped || tally.missing_before_recovery == 0,
            "a name went missing (hard links keep every name present)",
        );
        fails(
            fault != Fault::FailFromThenOn || s.swapped || tally.kept > 0,
            "no failure made undoing fail too",
        );
        failures.extend(tally.bad.iter().map(|b| format!("{}: {b}", s.name)));
        total += tally.points;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!("{fault:?} test: {total} points in all, 0 mixed or missing after the next run");
    let _ = std::fs::remove_dir_all(&root);
}

/// Issue 16: kill -9 at every rename, link, unlink and mkdir of a build; the next run finds the
/// old output or the new one, never a mix or nothing.
#[test]
fn a_build_killed_at_any_step_leaves_the_old_or_the_new_output() {
    fault_test(Fault::Kill);
}

/// A step that fails (a full disk, EIO) is undone at once: the build fails with the old output
/// in place.
#[test]
fn a_build_whose_step_fails_leaves_the_old_output() {
    fault_test(Fault::FailOnce);
}

/// Review item 10: when undoing fails too, the previous files are never deleted: the build
/// keeps them, says so, and the next run puts them back.
#[test]
fn a_build_that_cannot_undo_keeps_the_previous_files_for_the_next_run() {
    fault_test(Fault::FailFromThenOn);
}

// ---------------------------------------------------------------------------------------------
// Issue 17 D3: a planted manifest.

/// Every file under `dir` outside canaryc's outputs, with contents.
fn protected(dir: &Path) -> Tree {
    let mut t = tree(dir).unwrap();
    t.retain(|k, _| {
        k.starts_with(".git/") || k.starts_with("src/") || k == "Procfile" || k == "Dockerfile"
    });
    t
}

fn hostile_codebase(dir: &Path) {
    copy_tree(&repo().join("tests/fixtures/compose"), dir);
    std::fs::create_dir_all(dir.join(".git/refs")).unwrap();
    std::fs::write(dir.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/app.py"), "print('the team's code')\n").unwrap();
    std::fs::write(dir.join("Procfile"), "web: gunicorn shop:app\n").unwrap();
    plant_manifest(dir);
}

/// A marker listing the team's files, with the right hashes where there are files to hash.
fn plant_manifest(dir: &Path) {
    let procfile_hash = sha256(&std::fs::read(dir.join("Procfile")).unwrap());
    let dockerfile_hash = sha256(&std::fs::read(dir.join("Dockerfile")).unwrap());
    std::fs::write(
        dir.join(".canaryc"),
        format!(
            "# Files written by canaryc\n.git\nsrc\n{procfile_hash}  Procfile\n{dockerfile_hash}  Dockerfile\n{procfile_hash}  ../outside.txt\n{procfile_hash}  src/app.py\n"
        ),
    )
    .unwrap();
}

fn sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn a_planted_manifest_deletes_nothing() {
    let root = scratch("d3");
    std::fs::write(root.join("outside.txt"), "web: gunicorn shop:app\n").unwrap();
    let dir = root.join("shop");
    hostile_codebase(&dir);
    let before = protected(&dir);
    assert_eq!(before.len(), 7, "{:?}", before.keys());
    let outside = || std::fs::read_to_string(root.join("outside.txt")).unwrap();

    // `canaryc plan .` writes into the codebase: refused, and it says exactly what it would do.
    let refused = canaryc(&dir, &["plan", "."]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("it is the plan's codebase"), "{message}");
    assert!(
        message.contains("would replace (their contents would be lost): .canaryc"),
        "{message}"
    );
    assert!(
        message.contains("keep, untouched: .git/, Dockerfile, Procfile"),
        "{message}"
    );
    assert_eq!(protected(&dir), before);
    assert!(!dir.join("canary.plan").exists(), "nothing written");

    // With --force: written among them, and still nothing of the team's deleted.
    let forced = canaryc(&dir, &["plan", ".", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(dir.join("canary.plan").is_file());
    assert_eq!(protected(&dir), before);
    // Planting the manifest again over canaryc's own one changes nothing.
    plant_manifest(&dir);
    let again = canaryc(&dir, &["plan", ".", "--force"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(protected(&dir), before);

    // `canaryc build` (the plan names `codebase = "."`): its own directory, then the codebase.
    let built = canaryc(&dir, &["build"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    plant_manifest(&dir);
    let into_codebase = canaryc(&dir, &["build", "--output", "."]);
    assert_eq!(into_codebase.status.code(), Some(2));
    assert!(stderr(&into_codebase).contains("Procfile"));
    let forced = canaryc(&dir, &["build", "--output", ".", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert_eq!(protected(&dir), before);

    // A manifest planted in the output directory itself, naming files outside it.
    let out = dir.join("canary-deployment");
    std::fs::write(
        out.join(".canaryc"),
        format!(
            "{h}  ../Procfile\n{h}  ../src\n/etc/hostname\n{h}  ../../outside.txt\n",
            h = sha256(b"web: gunicorn shop:app\n")
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink("../Procfile", out.join("Procfile")).unwrap();
    let refused = canaryc(&dir, &["build"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("keep, untouched: Procfile"),
        "{}",
        stderr(&refused)
    );
    let forced = canaryc(&dir, &["build", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(
        std::fs::symlink_metadata(out.join("Procfile"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(protected(&dir), before);
    assert_eq!(outside(), "web: gunicorn shop:app\n");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_manifest_vouches_only_for_unchanged_files() {
    let dir = scratch("manifest");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    assert_eq!(canaryc(&dir, &["build"]).status.code(), Some(0));
    let out = dir.join("canary-deployment");
    let manifest = std::fs::read_to_string(out.join(".canaryc")).unwrap();
    let check = Command::new("sha256sum")
        .args(["-c", "--quiet", ".canaryc"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "sha256sum -c reads the manifest");
    assert_eq!(manifest.lines().filter(|l| !l.starts_with('#')).count(), 17); // with canary-promote.json and its systemd timer

    // A file someone edited is theirs now: replacing it needs --force, and says so.
    std::fs::write(out.join("haproxy-canary.cfg"), "# tuned by hand\n").unwrap();
    std::fs::write(dir.join("canary.plan"), PLAN_A.replace("/healthz", "/ping")).unwrap();
    let refused = canaryc(&dir, &["build"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused)
            .contains("would replace (their contents would be lost): haproxy-canary.cfg\n"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("haproxy-canary.cfg")).unwrap(),
        "# tuned by hand\n"
    );
    let forced = canaryc(&dir, &["build", "--force"]);
    assert_eq!(forced.status.code(), Some(0), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("replaced files canaryc had not written: haproxy-canary.cfg"));

    // Files canaryc wrote and no longer builds go; an edited one stays and blocks.
    std::fs::write(dir.join("canary.plan"), plan_b()).unwrap();
    let switched = canaryc(&dir, &["build"]);
    assert_eq!(switched.status.code(), Some(0), "{}", stderr(&switched));
    assert!(
        !out.join("haproxy-canary.cfg").exists(),
        "no longer built, deleted"
    );
    assert!(out.join("nginx-canary.conf").is_file());
    std::fs::write(out.join("nginx-canary.conf"), "# mine\n").unwrap();
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    let refused = canaryc(&dir, &["build"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("keep, untouched: nginx-canary.conf"));
    let forced = canaryc(&dir, &["build", "--force"]);
    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(out.join("nginx-canary.conf")).unwrap(),
        "# mine\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Review item 11: directories beside the output named like an older canaryc's leftovers
/// (`.NAME.canaryc-old-PID`, with a manifest listing every file in them) are a codebase's
/// files like any other: no build, failing or not, renames them into the output or deletes them.
#[test]
fn directories_named_like_old_leftovers_are_never_moved_into_the_output() {
    let dir = scratch("legacy");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    std::fs::write(dir.join("broken.plan"), plan_broken()).unwrap();
    for planted in [
        ".canary-deployment.canaryc-old-1",
        ".canary-deployment.canaryc-new-1",
    ] {
        std::fs::create_dir(dir.join(planted)).unwrap();
        std::fs::write(dir.join(planted).join(".canaryc"), "k8s-rollout.yaml\n").unwrap();
        std::fs::write(dir.join(planted).join("k8s-rollout.yaml"), "kind: evil\n").unwrap();
    }
    let before = tree(&dir).unwrap();

    let failed = canaryc(&dir, &["build", "broken.plan"]);
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        !dir.join("canary-deployment").exists(),
        "{}",
        stderr(&failed)
    );
    assert!(
        tree(&dir).unwrap() == before,
        "a failing build changes nothing"
    );

    let built = canaryc(&dir, &["build"]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let mut after = tree(&dir).unwrap();
    after.retain(|k, _| !k.starts_with("canary-deployment/"));
    assert!(after == before, "the planted directories are untouched");
    let rollout = std::fs::read_to_string(dir.join("canary-deployment/k8s-rollout.yaml"));
    assert!(
        rollout.is_err(),
        "a bare-metal plan builds no k8s-rollout.yaml"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn leftovers_named_like_canarycs_but_not_created_by_it_are_left_alone() {
    let dir = scratch("leftovers");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    assert_eq!(
        canaryc(&dir, &["build", "--output", "out"]).status.code(),
        Some(0)
    );
    // Named like canaryc's but not created by it (copied, planted): left alone, and said so.
    let fake = dir.join(".out.canaryc-txn-abc123");
    std::fs::create_dir_all(fake.join("old")).unwrap();
    std::fs::write(fake.join("owner"), "canaryc transaction dev=1 ino=2\n").unwrap();
    let inside = dir.join("out/.canaryc-txn-xyz789");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(
        inside.join("journal"),
        "{\"version\":1,\"steps\":[{\"op\":\"remove\",\"name\":\"canary-plan.md\"}]}",
    )
    .unwrap();
    let next = canaryc(&dir, &["build", "--output", "out", "--force"]);
    assert_eq!(next.status.code(), Some(0), "{}", stderr(&next));
    assert!(stderr(&next).contains("left") && stderr(&next).contains("canaryc did not create it"));
    assert!(fake.join("owner").is_file() && inside.join("journal").is_file());
    assert!(dir.join("out/canary-plan.md").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Review item 12: in the plan's own directory, files an earlier build wrote and this one no
/// longer builds are kept, and stay canaryc's: the second and third builds succeed and leave
/// the same directory, byte for byte, saying the same.
#[test]
fn rebuilding_in_the_plans_own_directory_is_the_same_every_time() {
    let dir = scratch("plan-dir-rebuild");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    let first = canaryc(&dir, &["build", "canary.plan", "--output", "."]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(dir.join("haproxy-canary.cfg").is_file());

    // The router changes: haproxy-canary.cfg is no longer built, and is kept.
    std::fs::write(dir.join("canary.plan"), plan_b()).unwrap();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let out = canaryc(&dir, &["build", "canary.plan", "--output", "."]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        runs.push((tree(&dir).unwrap(), stdout(&out), stderr(&out)));
    }
    assert!(
        runs[0].2.contains("no longer built") && runs[0].2.contains("haproxy-canary.cfg"),
        "{}",
        runs[0].2
    );
    assert!(runs[0].0.contains_key("haproxy-canary.cfg"));
    assert!(runs[0].0.contains_key("nginx-canary.conf"));
    assert!(
        runs[1] == runs[0] && runs[2] == runs[0],
        "every rebuild is the same"
    );

    // The kept file is canaryc's while nobody edits it: switching back replaces it freely.
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    let back = canaryc(&dir, &["build", "canary.plan", "--output", "."]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    // Once edited it is the team's: a build that no longer writes it needs --force.
    std::fs::write(dir.join("canary.plan"), plan_b()).unwrap();
    assert_eq!(
        canaryc(&dir, &["build", "canary.plan", "--output", "."])
            .status
            .code(),
        Some(0)
    );
    std::fs::write(dir.join("haproxy-canary.cfg"), "# tuned by hand\n").unwrap();
    let refused = canaryc(&dir, &["build", "canary.plan", "--output", "."]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("keep, untouched: haproxy-canary.cfg"),
        "{}",
        stderr(&refused)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Written in place, an old file is linked into the transaction's `old/`, and that link made
/// durable, before anything is renamed over it: a power cut cannot leave a replaced file whose
/// backup the journal names but the disk never got.
#[test]
fn backups_are_durable_before_anything_is_replaced() {
    if !tool_available(
        "strace",
        &["-qq", "-o", "/dev/null", "true"],
        "the durability test",
    ) {
        return;
    }
    let dir = scratch("durable");
    setup_common(&dir);
    build_a(&dir, "a.plan", "out");
    std::fs::write(dir.join("out/notes.txt"), "the team's notes\n").unwrap();
    let trace = dir.join("trace");
    let out = run_in(
        &dir,
        "strace",
        &[
            "-f",
            "-qq",
            "-y",
            "-o",
            trace.to_str().unwrap(),
            "-e",
            "trace=fsync,link,linkat,rename,renameat,renameat2",
            env!("CARGO_BIN_EXE_canaryc"),
            "build",
            "b.plan",
            "--output",
            "out",
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let trace = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = trace.lines().collect();
    let position = |what: &dyn Fn(&str) -> bool| lines.iter().position(|l| what(l));
    let last_link = lines
        .iter()
        .rposition(|l| l.contains("link") && l.contains("/old/"))
        .expect("old files are linked into old/");
    let first_replace = position(&|l: &str| l.contains("rename") && l.contains("/new/"))
        .expect("new files are renamed in");
    let synced = lines.iter().enumerate().any(|(i, l)| {
        i > last_link && i < first_replace && l.contains("fsync(") && l.contains("/old>")
    });
    assert!(
        last_link < first_replace && synced,
        "every backup linked, then old/ synced, then replaced:\n{trace}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Issue 17: output directories users can predict.

#[test]
fn symlinked_and_read_only_outputs_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("outputs");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    std::fs::create_dir(dir.join("real")).unwrap();
    std::fs::write(dir.join("real/keep.txt"), "kept").unwrap();
    std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
    let codebase = repo().join("tests/fixtures/compose");
    let codebase = codebase.to_str().unwrap();
    for command in [
        vec!["build", "--output", "link"],
        vec!["plan", codebase, "--output", "link"],
    ] {
        let out = canaryc(&dir, &command);
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(
            stderr(&out).contains("link is a symbolic link (to real)"),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        std::fs::symlink_metadata(dir.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        tree(&dir.join("real")).unwrap().len(),
        1,
        "the target is untouched"
    );

    std::fs::create_dir(dir.join("ro")).unwrap();
    std::fs::write(dir.join("ro/old.txt"), "old").unwrap();
    std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = canaryc(&dir, &["build", "--output", "ro"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ro is read-only (mode 0555)"),
        "{}",
        stderr(&out)
    );
    let mode = std::fs::metadata(dir.join("ro"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o555, "not replaced by a writable directory");
    assert_eq!(tree(&dir.join("ro")).unwrap().len(), 1);
    std::fs::set_permissions(dir.join("ro"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mount point cannot be renamed (EBUSY): canaryc writes inside it instead, twice over.
#[test]
fn a_mount_point_is_built_by_writing_inside_it() {
    if !tool_available("unshare", &["-m", "true"], "the mount-point test") {
        return;
    }
    let dir = scratch("mount");
    std::fs::write(dir.join("canary.plan"), PLAN_A).unwrap();
    std::fs::write(dir.join("b.plan"), plan_b()).unwrap();
    std::fs::create_dir(dir.join("mnt")).unwrap();
    let bin = env!("CARGO_BIN_EXE_canaryc");
    let script = format!(
        "set -e; mount -t tmpfs canaryc-test mnt; grep -q ' {mnt} ' /proc/self/mountinfo; \
         {bin} build canary.plan --output mnt > /dev/null; ls -A mnt > first.txt; \
         {bin} build b.plan --output mnt > /dev/null; ls -A mnt > second.txt",
        mnt = dir.join("mnt").display()
    );
    let out = run_in(&dir, "unshare", &["-m", "sh", "-c", &script]);
    assert_success(&out);
    let first = std::fs::read_to_string(dir.join("first.txt")).unwrap();
    let second = std::fs::read_to_string(dir.join("second.txt")).unwrap();
    assert!(
        first.contains("haproxy-canary.cfg\n") && first.contains(".canaryc\n"),
        "{first}"
    );
    assert!(second.contains("nginx-canary.conf\n"), "{second}");
    assert!(
        !second.contains("haproxy-canary.cfg"),
        "no longer built: deleted"
    );
    assert!(!second.contains("canaryc-txn"), "{second}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plan_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = scratch("fifo");
    let fifo = dir.join("fifo.plan");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::create_dir(dir.join("dir.plan")).unwrap();
    for (plan, kind) in [
        ("fifo.plan", "a FIFO"),
        ("/dev/null", "a device"),
        ("dir.plan", "a directory"),
    ] {
        for command in ["check", "build", "fmt"] {
            // Spawned, so that a regression hangs one child (killed below) rather than the test.
            let mut child = Command::new(env!("CARGO_BIN_EXE_canaryc"))
                .args([command, plan])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut waited = 0;
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break Some(status);
                }
                if waited > 600 {
                    let _ = child.kill();
                    break None;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
                waited += 1;
            };
            let output = child.wait_with_output().unwrap();
            assert_eq!(
                status.and_then(|s| s.code()),
                Some(2),
                "{command} {plan} must exit 2 at once"
            );
            assert!(
                stderr(&output).contains(&format!("{plan} is {kind}")),
                "{command} {plan}: {}",
                stderr(&output)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Issue 16 and 17: encodings.

const CLEAN: &str = "plan ledger {\n  python = 2.7 -> 3.13\n}\n";
const BROKEN: &str = "plan ledger {\n  python = 2.7 -> 3.13\n  schedule { stage a { traffic = 5% hold = 24h } }\n}\n";

#[test]
fn a_file_that_is_not_utf8_reports_itself_and_hides_nothing() {
    let dir = scratch("utf8");
    std::fs::write(dir.join("a.plan"), CLEAN).unwrap();
    std::fs::write(dir.join("b.plan"), BROKEN).unwrap();
    // Latin-1 "José" on line 2.
    std::fs::write(
        dir.join("latin1.plan"),
        b"plan ledger {\n  # Jos\xe9\n  python = 2.7 -> 3.13\n}\n",
    )
    .unwrap();
    let out = canaryc(
        &dir,
        &[
            "check",
            "--format",
            "json",
            "a.plan",
            "latin1.plan",
            "b.plan",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "bad content, not usage");
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let diags = doc["diagnostics"].as_array().unwrap();
    let codes: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d["file"].as_str().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [("latin1.plan", "CNR003"), ("b.plan", "CNR302")]);
    let bad = &diags[0];
    assert_eq!(
        bad["message"],
        "latin1.plan is not UTF-8: byte 0xE9 at line 2, column 8"
    );
    assert_eq!(bad["start"]["line"], 2);
    assert_eq!(bad["start"]["column"], 8);
    assert_eq!(bad["start"]["byte"], 21);
    assert_eq!(doc["error_count"], 2);

    // Human and short formats too; a missing file among them is exit 2, the rest still shown.
    let human = canaryc(&dir, &["check", "latin1.plan", "missing.plan", "b.plan"]);
    assert_eq!(human.status.code(), Some(2));
    let text = stderr(&human);
    assert!(text.contains("error: cannot read missing.plan"), "{text}");
    assert!(text.contains("CNR003") && text.contains("CNR302"), "{text}");
    assert!(
        text.contains("check failed: 3 files (1 could not be read), 2 errors"),
        "{text}"
    );
    let json = canaryc(
        &dir,
        &["check", "--format", "json", "missing.plan", "b.plan"],
    );
    assert_eq!(json.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(doc["error_count"], 1, "the whole report is printed");

    // build and fmt say the same, with the same exit codes as for other bad content.
    let build = canaryc(&dir, &["build", "latin1.plan"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(stderr(&build).contains("CNR003"));
    assert!(!dir.join("canary-deployment").exists());
    let fmt = canaryc(&dir, &["fmt", "--check", "latin1.plan"]);
    assert!(stderr(&fmt).contains("latin1.plan is not UTF-8: byte 0xE9 at line 2, column 8"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_byte_order_mark_is_accepted_and_offsets_stay_the_files() {
    let dir = scratch("bom");
    let with_bom = |text: &str| {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(text.as_bytes());
        bytes
    };
    std::fs::write(dir.join("clean.plan"), with_bom(CLEAN)).unwrap();
    std::fs::write(dir.join("broken.plan"), with_bom(BROKEN)).unwrap();
    std::fs::write(dir.join("plain.plan"), BROKEN).unwrap();
    let clean = canaryc(&dir, &["check", "clean.plan"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert_eq!(stderr(&clean), "check ok: 1 file, 0 errors, 0 warnings\n");

    let json = |plan: &str| -> serde_json::Value {
        serde_json::from_str(&stdout(&canaryc(
            &dir,
            &["check", "--format", "json", plan],
        )))
        .unwrap()
    };
    let (marked, plain) = (json("broken.plan"), json("plain.plan"));
    let (m, p) = (&marked["diagnostics"][0], &plain["diagnostics"][0]);
    assert_eq!(m["code"], "CNR302");
    assert_eq!(
        (&m["start"]["line"], &m["start"]["column"]),
        (&p["start"]["line"], &p["start"]["column"])
    );
    assert_eq!(
        m["start"]["byte"].as_u64().unwrap(),
        p["start"]["byte"].as_u64().unwrap() + 3,
        "the file's own offsets"
    );
    let bytes = with_bom(BROKEN);
    let start = usize::try_from(m["start"]["byte"].as_u64().unwrap()).unwrap();
    assert_eq!(&bytes[start..start + 2], b"5%");
    // On line 1 the mark takes no column.
    let first = with_bom("plan ledger {\n  python = 2.7 -> 3.13\n  bogus = 1\n}\n");
    std::fs::write(dir.join("first.plan"), first).unwrap();
    let short = canaryc(&dir, &["check", "--format", "short", "first.plan"]);
    assert!(
        stdout(&short).starts_with("first.plan:3:3: error[CNR101]"),
        "{}",
        stdout(&short)
    );

    // A plan kept in its own output directory keeps its mark, byte for byte; fmt accepts it.
    let own = dir.join("own");
    std::fs::create_dir(&own).unwrap();
    let plan = with_bom(&canaryc::fmt::format(PLAN_A).unwrap());
    std::fs::write(own.join("canary.plan"), &plan).unwrap();
    let built = canaryc(&own, &["build", "canary.plan", "--output", "."]);
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    assert_eq!(std::fs::read(own.join("canary.plan")).unwrap(), plan);
    let fmt = canaryc(&own, &["fmt", "--check", "canary.plan"]);
    assert_success(&fmt);
    let _ = std::fs::remove_dir_all(&dir);
}
