//! `canary-plan.json`: the whole plan for machines, versioned (docs/canary-plan.schema.json).

use schemars::JsonSchema;
use serde::Serialize;

use crate::ir::{Ir, PLAN_FORMAT_VERSION};

/// `canary-plan.json`.
#[derive(Serialize, JsonSchema)]
struct Document<'a> {
    format_version: u32,
    generator: &'static str,
    #[serde(flatten)]
    plan: &'a Ir,
    files: Vec<File<'a>>,
}

#[derive(Serialize, JsonSchema)]
struct File<'a> {
    name: &'a str,
    purpose: &'a str,
}

/// What canary-plan.json shows instead of a credential's value.
pub const REDACTED: &str = "[redacted]";

pub fn plan(ir: &Ir, files: &[(String, String)]) -> String {
    // Credentials stay in the workload's own config; the document says one is there. The IR
    // is copied only to redact one (issue 15: a fleet's IR is megabytes).
    let credential =
        |s: &crate::ir::ServiceIr| s.env_py2.iter().chain(&s.env_py3).any(|e| e.credential);
    let shown = if ir.services.iter().any(credential) {
        let mut shown = ir.clone();
        for s in &mut shown.services {
            for e in s.env_py2.iter_mut().chain(s.env_py3.iter_mut()) {
                if e.credential {
                    e.value = REDACTED.to_string();
                }
            }
        }
        std::borrow::Cow::Owned(shown)
    } else {
        std::borrow::Cow::Borrowed(ir)
    };
    let doc = Document {
        format_version: PLAN_FORMAT_VERSION,
        generator: concat!("canaryc ", env!("CARGO_PKG_VERSION")),
        plan: &shown,
        files: files
            .iter()
            .map(|(n, p)| File {
                name: n,
                purpose: p,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The JSON Schema of `canary-plan.json` (committed as docs/canary-plan.schema.json).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(Document<'static>);
    schema.insert("title".into(), "canary-plan.json".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
