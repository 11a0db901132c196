//! YAML output: serde_yaml over JSON values, so every emitter builds documents the same way
//! and key order is deterministic (sorted). No emitter writes a YAML scalar by hand: a value
//! holding a newline, a quote, `: `, `#` or `&` is quoted by the serialiser.
//!
//! The serialiser quotes what YAML 1.2 would read as something other than a string, but the
//! tools that read these files resolve plain scalars the YAML 1.1 way: kubectl (go-yaml v2
//! through sigs.k8s.io/yaml) reads `no`, `on`, `y` as booleans and `2024-01-01` as a
//! timestamp, `1_000` as a number; Compose and Prometheus treat `<<` as a merge key. So strings
//! YAML 1.1 would resolve are single-quoted too: the serialiser writes a placeholder in their
//! place, and the placeholder, a plain scalar by construction, is swapped for the quoted
//! string.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;
use serde_yaml::Value as Yaml;

/// Plain scalars a YAML 1.1 resolver reads as a bool, null, int, float, merge key, value key
/// or timestamp (yaml.org/type/*.html, the types of YAML 1.1).
static YAML11_NOT_A_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE",
        r"|on|On|ON|off|Off|OFF|~|null|Null|NULL|<<|=",
        r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
        r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?",
        r")$"
    ))
    .expect("a valid regex")
});

/// Whether a YAML 1.1 reader resolves the plain scalar `s` to something other than a string.
pub fn is_yaml11_non_string(s: &str) -> bool {
    YAML11_NOT_A_STRING.is_match(s)
}

pub fn to_string(value: &Value) -> String {
    let mut prefix = String::from("canaryc1q7x");
    while contains(value, &prefix) {
        prefix.push('q');
    }
    let mut quoted = Vec::new();
    let converted = convert(value, &prefix, &mut quoted);
    let mut text = serde_yaml::to_string(&converted).unwrap_or_default();
    // Longest placeholders first, so `...x1z` is not replaced inside `...x11z` (they end in
    // `z`, so it cannot happen, but the order keeps that obvious).
    for (i, original) in quoted.iter().enumerate().rev() {
        let placeholder = format!("{prefix}{i}z");
        text = text.replace(&placeholder, &format!("'{}'", original.replace('\'', "''")));
    }
    text
}

/// Several documents separated by `---`.
pub fn documents(values: &[Value]) -> String {
    values
        .iter()
        .map(to_string)
        .collect::<Vec<_>>()
        .join("---\n")
}

fn contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(needle) || contains(v, needle)),
        _ => false,
    }
}

fn string(s: &str, prefix: &str, quoted: &mut Vec<String>) -> Yaml {
    if YAML11_NOT_A_STRING.is_match(s) {
        quoted.push(s.to_string());
        Yaml::String(format!("{prefix}{}z", quoted.len() - 1))
    } else {
        Yaml::String(s.to_string())
    }
}

fn convert(value: &Value, prefix: &str, quoted: &mut Vec<String>) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Number(n) => serde_yaml::to_value(n).unwrap_or(Yaml::Null),
        Value::String(s) => string(s, prefix, quoted),
        Value::Array(items) => {
            Yaml::Sequence(items.iter().map(|v| convert(v, prefix, quoted)).collect())
        }
        Value::Object(map) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in map {
                let key = string(k, prefix, quoted);
                out.insert(key, convert(v, prefix, quoted));
            }
            Yaml::Mapping(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn yaml_11_specials_are_quoted_and_read_back_as_strings() {
        for special in [
            "no",
            "on",
            "Off",
            "y",
            "<<",
            "=",
            "2024-01-01",
            "1_000",
            "1:20",
            "0777",
            "~",
        ] {
            let doc = json!({ "env": [ { "name": "A", "value": special } ], special: "k" });
            let text = to_string(&doc);
            assert!(
                text.contains(&format!("value: '{special}'")),
                "{special}: {text}"
            );
            assert!(
                text.contains(&format!("'{special}': k")),
                "{special}: {text}"
            );
            let back: Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(back, doc);
        }
    }

    #[test]
    fn ordinary_strings_are_left_plain() {
        let text = to_string(&json!({ "image": "registry/app:3.13-1", "path": "/healthz" }));
        assert_eq!(text, "image: registry/app:3.13-1\npath: /healthz\n");
    }

    #[test]
    fn a_value_that_looks_like_the_placeholder_is_kept() {
        let doc = json!({ "a": "canaryc1q7x0z", "b": "no" });
        let back: Value = serde_yaml::from_str(&to_string(&doc)).unwrap();
        assert_eq!(back, doc);
    }
}
