//! Every diagnostic code has a long explanation whose example really triggers it.

use canaryc::diag::Code;

use crate::common::{canaryc, check_text, code_blocks, repo, stdout};

#[test]
fn every_code_has_an_explanation_with_a_failing_example() {
    for code in Code::ALL {
        let text = code.explanation();
        assert!(
            text.starts_with(&format!("# {}: ", code.as_str())),
            "docs/errors/{}.md must start with its code and title",
            code.as_str()
        );
        assert!(text.contains("## How to fix it"), "{code}: no fix section");
        let examples = code_blocks(text, "plan");
        let example = examples
            .first()
            .unwrap_or_else(|| panic!("docs/errors/{code}.md has no ```plan example"));
        let codebase = text
            .split("<!-- codebase: ")
            .nth(1)
            .and_then(|r| r.split(" -->").next());
        let codes: Vec<String> = if text.contains("<!-- command: build -->") {
            // Lowering codes about the codebase's manifests: built next to a fixture.
            let example = match codebase {
                Some(fixture) => example.replace(
                    "codebase = \".\"",
                    &format!("codebase = \"{}\"", repo().join(fixture).display()),
                ),
                None => example.to_string(),
            };
            codes_from_build(code.as_str(), &example)
        } else if text.contains("<!-- encoding: latin1 -->") {
            codes_from_latin1(code.as_str(), example)
        } else {
            match codebase {
                // Detection codes need a codebase: run the binary on the plan next to a fixture.
                Some(fixture) => codes_with_codebase(code.as_str(), example, fixture),
                None => {
                    let (analysis, _) = check_text("example.plan", example);
                    analysis
                        .diagnostics
                        .iter()
                        .map(|d| d.code.as_str().to_string())
                        .collect()
                }
            }
        };
        assert!(
            codes.iter().any(|c| c == code.as_str()),
            "the example in docs/errors/{code}.md reports {codes:?}, not {code}"
        );
    }
}

/// Build-time codes: run `canaryc build` on the example and read the codes it prints.
fn codes_from_build(code: &str, example: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "canaryc-explain-build-{}-{code}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary.plan"), example).unwrap();
    let out = canaryc(&dir, &["build", "--output", "out"]);
    let text = crate::common::stderr(&out);
    let _ = std::fs::remove_dir_all(&dir);
    canaryc::diag::Code::ALL
        .iter()
        .filter(|c| text.contains(c.as_str()))
        .map(|c| c.as_str().to_string())
        .collect()
}

/// Encoding codes: the example is saved as Latin-1 (one byte per character) and checked.
fn codes_from_latin1(code: &str, example: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!(
        "canaryc-explain-latin1-{}-{code}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bytes: Vec<u8> = example
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("the example is Latin-1"))
        .collect();
    std::fs::write(dir.join("canary.plan"), bytes).unwrap();
    codes_from_check_json(&dir)
}

/// The codes `canaryc check --format json` reports in `dir` (which it then deletes).
fn codes_from_check_json(dir: &std::path::Path) -> Vec<String> {
    let out = canaryc(dir, &["check", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

fn codes_with_codebase(code: &str, example: &str, fixture: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("canaryc-explain-{}-{code}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let plan = if fixture == "none" {
        example.to_string()
    } else {
        let path = repo().join(fixture);
        example.replace(
            "codebase = \".\"",
            &format!("codebase = \"{}\"", path.display()),
        )
    };
    std::fs::write(dir.join("canary.plan"), plan).unwrap();
    codes_from_check_json(&dir)
}

#[test]
fn every_explanation_file_belongs_to_a_code() {
    for entry in std::fs::read_dir(repo().join("docs/errors")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let code = name.trim_end_matches(".md");
        assert!(
            Code::parse(code).is_some(),
            "docs/errors/{name} documents no code"
        );
    }
}

#[test]
fn explain_prints_the_page_and_accepts_names() {
    let out = canaryc(&repo(), &["explain", "cnr301"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("# CNR301: traffic not increasing"));
    let by_name = canaryc(&repo(), &["explain", "traffic-not-increasing"]);
    assert_eq!(stdout(&by_name), stdout(&out));
}

#[test]
fn explain_rejects_unknown_codes_with_exit_2() {
    let out = canaryc(&repo(), &["explain", "traffic-not-increasin"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(crate::common::stderr(&out).contains("did you mean `traffic-not-increasing`?"));
}

#[test]
fn explain_list_names_every_code() {
    let out = canaryc(&repo(), &["explain", "--list"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out).lines().count(), Code::ALL.len());
}
