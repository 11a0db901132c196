//! Data-driven checker cases: `tests/cases/check/{invalid,valid}/*.plan`.
//!
//! An invalid case is named after the code it demonstrates (`CNR301-...plan`); the test asserts
//! that code is reported and snapshots the human and JSON diagnostics exactly as the binary
//! prints them. A valid case must check with no diagnostics at all.

use crate::common::{canaryc, repo, stderr, stdout};

#[test]
fn invalid_plans_report_their_code() {
    let dir = repo().join("tests/cases/check/invalid");
    let mut count = 0;
    insta::glob!("cases/check/invalid/*.plan", |path| {
        count += 1;
        let name = path.file_name().unwrap().to_str().unwrap();
        let code = name.split('-').next().unwrap();
        let human = canaryc(&dir, &["check", name]);
        let json = canaryc(&dir, &["check", "--format", "json", name]);
        let json_text = stdout(&json);
        let parsed: serde_json::Value = serde_json::from_str(&json_text).expect("valid JSON");
        let codes: Vec<&str> = parsed["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&code),
            "{name} should report {code}, reported {codes:?}"
        );
        let has_errors = parsed["error_count"].as_u64().unwrap() > 0;
        assert_eq!(
            human.status.code(),
            Some(if has_errors { 1 } else { 0 }),
            "{name}: exit code"
        );
        insta::assert_snapshot!(format!(
            "{}\n---- exit {} ----\n{}",
            stderr(&human),
            human.status.code().unwrap(),
            json_text
        ));
    });
    assert!(count >= 30, "only {count} invalid cases");
}

#[test]
fn valid_plans_have_no_diagnostics() {
    let dir = repo().join("tests/cases/check/valid");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "plan") {
            count += 1;
            let name = path.file_name().unwrap().to_str().unwrap();
            let out = canaryc(
                &dir,
                &["check", "--format", "short", "--deny-warnings", name],
            );
            assert_eq!(stdout(&out), "", "{name} should be clean");
            assert_eq!(out.status.code(), Some(0), "{name}");
        }
    }
    assert!(count > 0);
}
