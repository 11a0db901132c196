//! Hostile strings against every output: the property tests of issues 16 and 17.
//!
//! A value under test is planted between two sentinels, `SA` + value + `SB`, so that wherever it
//! lands in an output a reader can find it. Every output is read back by a reader of its
//! language (`structure.rs`) into a flat list of atoms: directives, words, keys, commands,
//! Markdown events. The property: the outputs of a hostile value read back to the same atoms as
//! the outputs of a benign one (the text between the sentinels aside), and no sentinel is ever
//! separated from its partner. A value that adds a line, a directive, a key, a server, a
//! command, a cell or a variable reference changes the atoms; one that ends a token early
//! splits its sentinels.
//!
//! Three harnesses: `plan_strings.rs` (every string field of a plan, through the checker: each
//! hostile value is rejected at its span or builds outputs of the same structure),
//! `ir_strings.rs` (every string of the IR, straight into the emitters: they must be safe
//! whatever the checker or a detector let through), and `codebase.rs` (hostile values planted
//! in small generated codebases, through detection). `CANARYC_HOSTILE_CASES` sets the number
//! of cases of each (default small for `cargo test`); `CANARYC_HOSTILE_VALIDATE` runs a sample
//! of accepted cases through `validate-outputs` too.

pub(crate) mod codebase;
pub(crate) mod ir_strings;
pub(crate) mod plan_strings;
pub(crate) mod structure;

use std::collections::BTreeMap;

use canaryc::emit::OutputFile;

pub(crate) const SA: &str = "Qz7Ka";
pub(crate) const SB: &str = "aKz7Q";

/// Cases for one harness: `CANARYC_HOSTILE_CASES`, or `default`.
pub(crate) fn cases(default: usize) -> usize {
    std::env::var("CANARYC_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Hand-picked hostile values: each breaks some output language if written as it is.
pub(crate) const CORPUS: &[&str] = &[
    "\n",
    "\r\n",
    "\0",
    "'",
    "\"",
    "$(id)",
    "`id`",
    "${HOME}",
    "$HOME",
    "$2b$12$abcdefghijklmnopqrstuv",
    "$$",
    "%",
    "%n",
    "%%",
    "%{x}",
    "\\",
    "trailing\\",
    "\\n",
    "\\x41",
    "#",
    "a #comment",
    ";",
    " ; ",
    "&&",
    "|",
    "||",
    ">",
    "<",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "no",
    "on",
    "yes",
    "y",
    "Off",
    "2024-01-01",
    "2001-12-14 21:59:43.10 -5",
    "<<",
    "=",
    "~",
    "null",
    "1_000",
    "1:20",
    "0777",
    ".inf",
    "---",
    "...",
    "- x",
    ": x",
    "? x",
    "&anchor",
    "*alias",
    "!tag",
    "```",
    "`",
    "*",
    "_",
    "__init__",
    "<script>alert(1)</script>",
    "&amp;",
    "[link](http://203.0.113.9)",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{feff}",
    "\t",
    "\x1b[31m",
    "\x7f",
    "é",
    "💥",
    " ",
    "  leading",
    "\n    server evil 203.0.113.9:80 weight 256",
    "\n}\nserver { listen 81; }",
    "\n  }\n  monitor {\n    min_requests = 1000000000",
    "x/py3 addr 203.0.113.9 port 80; set server x",
    "'+__import__('os').system('id')+'",
    "\nExecStartPre=/bin/sh -c id",
    "\"; id; \"",
    "'; id; '",
    "\\\"",
    "\\'",
    "$'\\n'",
    "--bind",
    ":8000",
    "-",
    "@",
    "+",
    "!",
    ",",
    "/",
    "?",
    "%zz",
    "%0a",
];

/// Characters random values are drawn from, weighted toward the ones languages care about.
const ALPHABET: &[char] = &[
    'a', 'b', 'Z', '0', '9', '-', '_', '.', '/', ':', '@', ' ', '\t', '\n', '\r', '\0', '\'', '"',
    '`', '$', '(', ')', '{', '}', '[', ']', '<', '>', '|', '&', ';', '#', '%', '\\', '*', '?', '!',
    '~', '^', '=', '+', ',', '\u{7f}', '\u{85}', '\u{2028}', 'é', '💥',
];

/// A small deterministic generator (xorshift64*), so a failure names its case.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A hostile value: from the corpus, random characters, or a corpus value inside random
    /// ones.
    pub(crate) fn hostile(&mut self) -> String {
        match self.below(4) {
            0 => CORPUS[self.below(CORPUS.len())].to_string(),
            1 => {
                let a = CORPUS[self.below(CORPUS.len())];
                let b = CORPUS[self.below(CORPUS.len())];
                format!("{a}{}{b}", self.random(3))
            }
            _ => {
                let n = 1 + self.below(10);
                self.random(n)
            }
        }
    }

    fn random(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| ALPHABET[self.below(ALPHABET.len())])
            .collect()
    }
}

/// The value planted between the sentinels.
pub(crate) fn planted(value: &str) -> String {
    format!("{SA}{value}{SB}")
}

/// Every output file read back into atoms, by file name.
pub(crate) type Structure = BTreeMap<String, Vec<String>>;

/// Reads every file; an error names the file and what broke.
pub(crate) fn structure_of(files: &[OutputFile]) -> Result<Structure, String> {
    let mut out = BTreeMap::new();
    for f in files {
        let atoms =
            structure::read(&f.name, &f.contents).map_err(|e| format!("{}: {e}", f.name))?;
        out.insert(f.name.clone(), atoms);
    }
    Ok(out)
}

/// The first difference between two structures, for a failure message.
pub(crate) fn difference(expected: &Structure, got: &Structure) -> Option<String> {
    if expected.keys().ne(got.keys()) {
        return Some(format!(
            "different files: {:?} vs {:?}",
            expected.keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>()
        ));
    }
    for (name, atoms) in expected {
        let other = &got[name];
        if atoms != other {
            let at = atoms
                .iter()
                .zip(other.iter())
                .position(|(a, b)| a != b)
                .unwrap_or(atoms.len().min(other.len()));
            return Some(format!(
                "{name}: atom {at} of {}/{}: expected {:?}, got {:?}",
                atoms.len(),
                other.len(),
                atoms.get(at),
                other.get(at)
            ));
        }
    }
    None
}

/// Writes files into `dir` (for the validators).
pub(crate) fn write_files(dir: &std::path::Path, files: &[OutputFile]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for f in files {
        std::fs::write(dir.join(&f.name), &f.contents).unwrap();
    }
}

/// Runs the shared validators over `dir`: Ok, or their failing lines.
pub(crate) fn validate(dir: &std::path::Path) -> Result<(), String> {
    let tool = crate::common::repo().join("../shared/tools/validate-outputs");
    let tool = if tool.exists() {
        tool
    } else {
        std::path::PathBuf::from("/work/shared/tools/validate-outputs")
    };
    let out = std::process::Command::new(tool)
        .arg(dir)
        .arg("--quiet")
        .output()
        .map_err(|e| format!("validate-outputs: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Placeholder-looking text the validators' placeholder scan rejects by design (`{{ x }}`,
/// `TODO`): a plan may legitimately carry it, so such values are not sent to the validators.
pub(crate) fn looks_like_placeholder(value: &str) -> bool {
    let upper = value.to_ascii_uppercase();
    value.contains("{{")
        || [
            "TODO",
            "FIXME",
            "CHANGEME",
            "CHANGE_ME",
            "REPLACE",
            "XXX",
            "<YOUR",
        ]
        .iter()
        .any(|p| upper.contains(p))
}

/// Fails with the first few failures, if there are any.
pub(crate) fn assert_none_failed(cases: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
