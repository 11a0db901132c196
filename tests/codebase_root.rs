//! A plan whose `codebase` is the file system's root is refused with CNR010 (exit 1) instead of
//! walking every mounted file system in the foreground.

use crate::common::{canaryc, stderr, stdout};

fn check_with_codebase(name: &str, codebase: &str) -> std::process::Output {
    let dir = tempfile::Builder::new()
        .prefix(&format!("canaryc-root-{name}-"))
        .tempdir()
        .unwrap();
    let plan =
        format!("plan ledger {{\n  codebase = \"{codebase}\"\n  python   = 2.7 -> 3.13\n}}\n");
    std::fs::write(dir.path().join("canary.plan"), plan).unwrap();
    canaryc(dir.path(), &["check", "--format", "json"])
}

fn codes(out: &std::process::Output) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap_or_else(|e| {
        panic!("{e}: {}{}", stdout(out), stderr(out));
    });
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_root_as_codebase_is_refused_not_walked() {
    // Written as `/`, and as enough `..` to climb there from a temporary directory.
    let climb = "../".repeat(64);
    for (name, codebase) in [("slash", "/"), ("climb", climb.as_str())] {
        let out = check_with_codebase(name, codebase);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let codes = codes(&out);
        assert!(codes.iter().any(|c| c == "CNR010"), "{name}: {codes:?}");
    }
}

#[test]
fn a_codebase_below_the_root_is_not_refused() {
    let out = check_with_codebase("dot", ".");
    assert!(!codes(&out).iter().any(|c| c == "CNR010"));
}
