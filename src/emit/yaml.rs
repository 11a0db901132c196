//! YAML output: serde_yaml over JSON values, so every emitter builds documents the same way
//! and key order is deterministic (sorted).

use serde_json::Value;

pub fn to_string(value: &Value) -> String {
    serde_yaml::to_string(value).unwrap_or_default()
}

/// Several documents separated by `---`.
pub fn documents(values: &[Value]) -> String {
    values
        .iter()
        .map(to_string)
        .collect::<Vec<_>>()
        .join("---\n")
}
