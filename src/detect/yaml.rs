//! Loading YAML safely: multi-document files with each document's line, alias bombs refused
//! before parsing, and parse errors turned into warnings with file:line.

use std::sync::LazyLock;

use regex::Regex;

use super::facts::Warning;

/// More aliases than this in one document is treated as an alias bomb and not parsed. Real
/// manifests and compose files use a handful (`<<: *defaults`).
const MAX_ALIASES: usize = 100;

/// One YAML document of a file, as a JSON value (tags dropped, keys stringified).
#[derive(Debug, Clone)]
pub struct Doc<'t> {
    pub value: serde_json::Value,
    /// 1-based line of the document's first line in the file.
    pub line: usize,
    pub text: &'t str,
}

impl Doc<'_> {
    /// The file line of the first line in this document containing `needle`, or the
    /// document's first line.
    pub fn line_of(&self, needle: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map_or(self.line, |i| self.line + i)
    }
}

static ALIAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)(?:^|[\s\[{,:-])\*[A-Za-z0-9_.-]+").expect("valid regex"));

/// Parses every document of a YAML file. Documents that fail are reported and skipped.
pub fn documents<'t>(path: &str, text: &'t str) -> (Vec<Doc<'t>>, Vec<Warning>) {
    let mut docs = Vec::new();
    let mut warnings = Vec::new();
    for (line, chunk) in split_documents(text) {
        if chunk.trim().is_empty()
            || chunk
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        let aliases = ALIAS.find_iter(chunk).count();
        if aliases > MAX_ALIASES {
            warnings.push(Warning {
                file: path.to_string(),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                message: format!(
                    "{aliases} YAML aliases in one document: refused without expanding (a YAML alias bomb?)"
                ),
            });
            continue;
        }
        match serde_yaml::from_str::<serde_yaml::Value>(chunk) {
            Ok(value) => docs.push(Doc {
                value: to_json(value),
                line,
                text: chunk,
            }),
            Err(err) => {
                // libyaml reports an unclosed bracket where the input ends, which may be past
                // the last line: point at the last line that has text instead.
                let last = line + chunk.trim_end().lines().count().saturating_sub(1);
                let at = err
                    .location()
                    .map_or(line, |l| line + l.line().saturating_sub(1))
                    .min(last);
                let message = err.to_string();
                let message = message.split(" at line").next().unwrap_or(&message);
                warnings.push(Warning {
                    file: path.to_string(),
                    line: u32::try_from(at).unwrap_or(u32::MAX),
                    message: format!("not valid YAML: {message}"),
                });
            }
        }
    }
    (docs, warnings)
}

/// Splits on `---` document markers, keeping each document's 1-based starting line.
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "..." {
            out.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    out.push((start_line, &text[start_byte..]));
    out
}

/// YAML to JSON: non-string keys become strings, tags are dropped.
fn to_json(value: serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    use serde_yaml::Value as Y;
    match value {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(J::Null, J::Number)
            }
        }
        Y::String(s) => J::String(s),
        Y::Sequence(items) => J::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => J::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => serde_yaml::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

/// `value[a][b]...` as a string, if it is one.
pub fn str_at<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v str> {
    get(value, path)?.as_str()
}

pub fn get<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// Scalars as text: `8000` and `"8000"` alike.
pub fn scalar(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines() {
        let text = "a: 1\n---\nb: 2\n\n---\n# only a comment\n---\nc: [\n";
        let (docs, warnings) = documents("x.yaml", text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 3);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, 8, "{warnings:?}");
    }

    #[test]
    fn alias_bombs_are_refused_unexpanded() {
        let mut text = String::from("a: &a [\"lol\",\"lol\"]\n");
        let mut prev = "a".to_string();
        for i in 0..120 {
            let name = format!("n{i}");
            text.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev}]\n"));
            prev = name;
        }
        let (docs, warnings) = documents("bomb.yaml", &text);
        assert!(docs.is_empty());
        assert!(warnings[0].message.contains("alias bomb"));
    }
}
