//! The `.canaryc` manifest: what canaryc wrote into an output directory, with each file's
//! SHA-256.
//!
//! Its lines are `sha256sum`'s (`HASH  NAME`), so `sha256sum -c .canaryc` checks a directory by
//! hand; `#` lines are comments. The manifest is read as untrusted input: anyone who can write
//! to the directory (or to a codebase it is part of) can write it too. So an entry only ever
//! vouches for a plain file name directly in the directory, and only while that file's hash
//! still matches; the writer decides what that trust is worth for a given directory.

use sha2::{Digest, Sha256};

/// The manifest's file name. Detection skips directories that have one (`detect/walk.rs`), so
/// outputs are never mistaken for the team's infrastructure.
pub(crate) const MARKER: &str = ".canaryc";

/// The largest manifest canaryc reads; a bigger one is not canaryc's (and is not trusted).
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// One entry: a file name and its SHA-256 in hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub sha256: String,
}

impl Entry {
    pub(crate) fn of(name: &str, contents: &[u8]) -> Entry {
        Entry {
            name: name.to_string(),
            sha256: sha256_hex(contents),
        }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    hex
}

/// The manifest listing `entries`, in the order given.
pub(crate) fn format(entries: &[Entry]) -> String {
    let mut text = String::from(
        "# Files written by canaryc, with their SHA-256 (`sha256sum -c .canaryc` checks them).\n\
         # canaryc replaces or deletes a listed file only while its hash still matches.\n",
    );
    for entry in entries {
        text.push_str(&entry.sha256);
        text.push_str("  ");
        text.push_str(&entry.name);
        text.push('\n');
    }
    text
}

/// Parses a manifest. Lines that are not a hash and a plain file name are dropped: a manifest
/// never vouches for `..`, an absolute path, a nested path, or the manifest itself.
pub(crate) fn parse(text: &str) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut twice: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((hash, name)) = line.split_once("  ") else {
            continue;
        };
        if !is_sha256_hex(hash) || !is_plain_name(name) {
            continue;
        }
        // A name listed twice vouches for nothing: which hash would count?
        if entries.iter().any(|e| e.name == name) {
            twice.push(name.to_string());
            continue;
        }
        entries.push(Entry {
            name: name.to_string(),
            sha256: hash.to_string(),
        });
    }
    entries.retain(|e| !twice.contains(&e.name));
    entries
}

/// Reads `dir/.canaryc` if it is a regular file of a sane size (never through a symlink, never a
/// FIFO); anything else is no manifest.
pub(crate) fn read(dir: &std::path::Path) -> Option<Vec<Entry>> {
    let path = dir.join(MARKER);
    let metadata = std::fs::symlink_metadata(&path).ok()?;
    if !metadata.is_file() || metadata.len() > MAX_MANIFEST_BYTES {
        return None;
    }
    let text = String::from_utf8(super::read_regular(&path, MAX_MANIFEST_BYTES)?).ok()?;
    Some(parse(&text))
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A name canaryc could have written: one path component of printable ASCII (no spaces), not
/// `.` or `..`, and not one of canaryc's own bookkeeping names (the manifest, transactions).
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.starts_with(MARKER)
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '/' && c != '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_sha256sum_reads_it() {
        let text = format(&[Entry::of("a.yaml", b"x: 1\n"), Entry::of("b.sh", b"")]);
        assert!(
            text.contains(
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  b.sh\n"
            )
        );
        let entries = parse(&text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "a.yaml");
        assert_eq!(entries[0].sha256, sha256_hex(b"x: 1\n"));
    }

    #[test]
    fn hostile_entries_vouch_for_nothing() {
        let h = sha256_hex(b"");
        let g = sha256_hex(b"g");
        let text = format!(
            "{h}  ../etc/passwd\n{h}  /etc/passwd\n{h}  src/main.py\n{h}  .canaryc\n{h}  ..\n\
             {h}  .\n{h}  a\\b\n{h}  tab\there\n{h}  .canaryc-txn-abc\n{h}  twice\n{g}  twice\n{h}  two words\n\
             {h}  ok.yaml\nProcfile\n"
        );
        let entries = parse(&text);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["ok.yaml"],
            "a bare name (Procfile) has no hash: no entry"
        );
    }
}
