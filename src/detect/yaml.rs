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
pub(super) struct Doc<'t> {
    pub value: serde_json::Value,
    /// 1-based line of the document's first line in the file.
    pub line: usize,
    pub text: &'t str,
}

impl Doc<'_> {
    /// The file line of the first line in this document containing `needle`, or the
    /// document's first line.
    pub(super) fn line_of(&self, needle: &str) -> usize {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map_or(self.line, |i| self.line + i)
    }
}

impl Doc<'_> {
    /// The file line of the first line that starts (after indentation) with the key `key:`,
    /// searching from the first line containing `after` (when given); else the document's first.
    pub(super) fn line_of_key(&self, key: &str, after: Option<&str>) -> usize {
        let start = after
            .and_then(|a| self.text.lines().position(|l| l.contains(a)))
            .unwrap_or(0);
        let is_key = |l: &str| {
            let t = l.trim_start().trim_start_matches("- ");
            let t = t.trim_start_matches(['"', '\'']);
            t.strip_prefix(key).is_some_and(|rest| {
                let rest = rest.trim_start_matches(['"', '\'']);
                rest.starts_with(':')
            })
        };
        // After `after` first; a key inherited from an anchor sits before it.
        let found = self
            .text
            .lines()
            .enumerate()
            .skip(start)
            .find(|(_, l)| is_key(l))
            .or_else(|| self.text.lines().enumerate().find(|(_, l)| is_key(l)));
        if let Some((i, _)) = found {
            return self.line + i;
        }
        self.text
            .lines()
            .enumerate()
            .skip(start)
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                let t = t.trim_start_matches(['"', '\'']);
                t.strip_prefix(key).is_some_and(|rest| {
                    let rest = rest.trim_start_matches(['"', '\'']);
                    rest.starts_with(':')
                })
            })
            .map_or(self.line, |(i, _)| self.line + i)
    }
}

static ALIAS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)(?:^|[\s\[{,:-])\*[A-Za-z0-9_.-]+").expect("valid regex"));

/// Parses every document of a YAML file. Documents that fail are reported and skipped.
pub(super) fn documents<'t>(path: &str, text: &'t str) -> (Vec<Doc<'t>>, Vec<Warning>) {
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
            warnings.push(Warning::unreadable(
                path,
                line,
                format!(
                    "{aliases} YAML aliases in one document: refused without expanding (a YAML alias bomb?)"
                ),
            ));
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
                warnings.push(Warning::unreadable(
                    path,
                    at,
                    format!("not valid YAML: {message}"),
                ));
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
        Y::Mapping(map) => {
            let mut object = serde_json::Map::new();
            let mut merged = Vec::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                if key == "<<" {
                    merged.push(v);
                } else {
                    object.insert(key, to_json(v));
                }
            }
            // YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`): the mapping's own keys win,
            // then earlier merged mappings over later ones. Nested merges were resolved by the
            // recursive call, so an anchor that itself merges another one works too.
            for value in merged {
                let sources = match value {
                    Y::Sequence(items) => items,
                    other => vec![other],
                };
                for source in sources {
                    if let J::Object(from) = to_json(source) {
                        for (k, v) in from {
                            object.entry(k).or_insert(v);
                        }
                    }
                }
            }
            J::Object(object)
        }
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

/// `value[a][b]...` as a string, if it is one.
pub(super) fn str_at<'v>(value: &'v serde_json::Value, path: &[&str]) -> Option<&'v str> {
    get(value, path)?.as_str()
}

pub(super) fn get<'v>(
    value: &'v serde_json::Value,
    path: &[&str],
) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// A command as one shell line: a list (`["gunicorn", "-b", ":8000"]`) joined, each word
/// quoted where it must be (`command::join`); a string as written.
pub(super) fn command_line(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Array(items) => Some(super::command::join(
            &items.iter().filter_map(scalar).collect::<Vec<_>>(),
        )),
        other => scalar(other),
    }
}

/// Scalars as text: `8000` and `"8000"` alike.
pub(super) fn scalar(value: &serde_json::Value) -> Option<String> {
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
    fn merge_keys_are_applied_nested() {
        let text = "x-restart: &restart\n  restart: always\nx-app: &app\n  << : *restart\n  image: app:1\n  environment: {A: '1'}\nservices:\n  web:\n    <<: *app\n    ports: ['80:8000']\n  worker:\n    <<: [*app]\n    image: app:2\n";
        let (docs, warnings) = documents("docker-compose.yml", text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let web = &docs[0].value["services"]["web"];
        assert_eq!(web["image"], "app:1");
        assert_eq!(web["restart"], "always");
        assert_eq!(web["environment"]["A"], "1");
        assert!(web.get("<<").is_none());
        assert_eq!(docs[0].value["services"]["worker"]["image"], "app:2");
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
