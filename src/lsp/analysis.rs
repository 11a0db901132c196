//! What the language server knows about a document, computed without I/O: diagnostics, hover,
//! completion, definitions and code actions. The server (`mod.rs`) adds the transport, the open
//! documents and the codebase detection.

use lsp_types::{
    CompletionItem, CompletionItemKind, DiagnosticRelatedInformation, DiagnosticSeverity,
    InsertTextFormat, Location, NumberOrString, Uri,
};

use super::position::Lines;
use crate::check::schema::{self, BlockSpec};
use crate::check::{Options, check};
use crate::diag::{Code, Diagnostic, Severity};
use crate::source::{FileId, SourceMap};
use crate::stdlib;
use crate::syntax::ast::{Block, Entry, File, Item};

/// Checks a document. Syntax errors come alone, as with `canaryc check`.
pub fn diagnostics(name: &str, text: &str, options: &Options) -> (SourceMap, Vec<Diagnostic>) {
    let mut sources = SourceMap::new();
    let root = sources.add(name, text);
    let analysis = check(&mut sources, root, options);
    (sources, analysis.diagnostics)
}

/// Our diagnostics in the LSP's form, for the document with file id 0 at `uri`. Labels in other
/// files (the stdlib, the codebase) become related information at `uri_of(file name)`, or are
/// left out when that file has no URI.
pub fn to_lsp(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    uri: &Uri,
    uri_of: &mut dyn FnMut(&str) -> Option<Uri>,
) -> Vec<lsp_types::Diagnostic> {
    let doc = FileId(0);
    let lines = Lines::new(&sources.get(doc).text);
    diagnostics
        .iter()
        .filter(|d| d.primary.span.file == doc)
        .map(|d| {
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .secondary
                .iter()
                .filter_map(|l| {
                    let file = sources.get(l.span.file);
                    let uri = if l.span.file == doc {
                        uri.clone()
                    } else {
                        uri_of(&file.name)?
                    };
                    let range = if l.span.file == doc {
                        lines.range(l.span.start as usize, l.span.end as usize)
                    } else {
                        Lines::new(&file.text).range(l.span.start as usize, l.span.end as usize)
                    };
                    Some(DiagnosticRelatedInformation {
                        location: Location { uri, range },
                        message: if l.message.is_empty() {
                            "here".to_string()
                        } else {
                            l.message.clone()
                        },
                    })
                })
                .collect();
            lsp_types::Diagnostic {
                range: lines.range(d.primary.span.start as usize, d.primary.span.end as usize),
                severity: Some(if d.severity == Severity::Error {
                    DiagnosticSeverity::ERROR
                } else {
                    DiagnosticSeverity::WARNING
                }),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("canaryc".to_string()),
                message,
                related_information: Some(related),
                ..lsp_types::Diagnostic::default()
            }
        })
        .collect()
}

/// `offset` clamped to the text and moved back to a character boundary: every function here
/// takes any offset without panicking.
fn boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The word under the cursor (identifier characters, `-`, `.`, `%`), with its byte range.
fn word_at(text: &str, offset: usize) -> Option<(usize, usize, &str)> {
    let is_word = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '%');
    let offset = boundary(text, offset);
    // After the character that ends the previous word, which may be wider than a byte (`→`).
    let start = text[..offset]
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_word(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = text[offset..]
        .find(|c: char| !is_word(c))
        .map_or(text.len(), |i| offset + i);
    (start < end).then(|| (start, end, &text[start..end]))
}

/// The keyword of the innermost block open at `offset`, found by matching braces backwards
/// (works on broken text too): `("stage", "canary-1pct")`, or `("schedule=", "standard")` for
/// the override block of `schedule = standard { ... }`.
fn enclosing(text: &str, offset: usize) -> Option<(String, String)> {
    let mut depth = 0i32;
    let bytes = text.as_bytes();
    let mut i = offset.min(text.len());
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'}' => depth += 1,
            b'{' if depth > 0 => depth -= 1,
            b'{' => {
                let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
                let header = text[line_start..i].trim();
                // The header may itself follow a `{` on the same line: take the last segment.
                let header = header.rsplit(['{', ';']).next().unwrap_or(header).trim();
                let words: Vec<&str> = header.split_whitespace().collect();
                return match words.as_slice() {
                    [key, "=", name, ..] => Some((format!("{key}="), (*name).to_string())),
                    [keyword, rest @ ..] => Some((
                        (*keyword).to_string(),
                        rest.first().copied().unwrap_or("").to_string(),
                    )),
                    [] => None,
                };
            }
            _ => {}
        }
    }
    None
}

fn spec(keyword: &str) -> Option<&'static BlockSpec> {
    [
        &schema::PLAN,
        &schema::SERVICE,
        &schema::RESOURCES,
        &schema::ENV,
        &schema::ROUTE,
        &schema::MONITOR,
        &schema::SCHEDULE,
        &schema::STAGE,
        &schema::SUCCESS,
        &schema::ROLLBACK,
    ]
    .into_iter()
    .find(|s| s.keyword == keyword)
}

/// Stdlib definitions: (module, kind keyword, name, block text with its doc comment).
fn stdlib_definitions() -> Vec<(&'static str, &'static str, String, String, usize)> {
    let mut out = Vec::new();
    for module in stdlib::MODULES {
        let (ast, _) = crate::syntax::parse(FileId(0), module.text);
        for item in &ast.items {
            let Item::Block(b) = item else { continue };
            let Some(label) = &b.label else { continue };
            let start = b.span.start as usize;
            // The comment lines right above the definition document it.
            let mut doc_start = start;
            for line in module.text[..start]
                .lines()
                .rev()
                .skip_while(|l| l.trim().is_empty())
            {
                if line.trim_start().starts_with('#') {
                    doc_start -= line.len() + 1;
                } else {
                    break;
                }
            }
            let doc: Vec<&str> = module.text[doc_start.min(start)..start]
                .lines()
                .map(|l| l.trim_start().trim_start_matches('#').trim())
                .filter(|l| !l.is_empty())
                .collect();
            let keyword = if b.keyword.value == "schedule" {
                "schedule"
            } else {
                "rollback"
            };
            out.push((
                module.path,
                keyword,
                label.value.clone(),
                doc.join(" "),
                start,
            ));
        }
    }
    out
}

fn stage_names(schedule: &str) -> Vec<(String, &'static str, usize)> {
    let mut out = Vec::new();
    for module in stdlib::MODULES {
        let (ast, _) = crate::syntax::parse(FileId(0), module.text);
        for item in &ast.items {
            let Item::Block(b) = item else { continue };
            if b.keyword.value != "schedule" || b.label.as_ref().is_none_or(|l| l.value != schedule)
            {
                continue;
            }
            for entry in &b.body.entries {
                if let Entry::Block(stage) = entry {
                    if let Some(l) = &stage.label {
                        out.push((l.value.clone(), module.file_name, l.span.start as usize));
                    }
                }
            }
        }
    }
    out
}

fn describe_schedule(name: &str) -> String {
    let (ast, _) = crate::syntax::parse(
        FileId(0),
        stdlib::module("std.schedules").map_or("", |m| m.text),
    );
    let mut rows = Vec::new();
    for item in &ast.items {
        let Item::Block(b) = item else { continue };
        if b.label.as_ref().is_none_or(|l| l.value != name) {
            continue;
        }
        let text = stdlib::module("std.schedules").map_or("", |m| m.text);
        for entry in &b.body.entries {
            if let Entry::Block(stage) = entry {
                let mut traffic = String::new();
                let mut hold = String::new();
                for e in &stage.body.entries {
                    if let Entry::Attribute(a) = e {
                        let v = text.get(a.value.span.range()).unwrap_or("");
                        match a.key.value.as_str() {
                            "traffic" => traffic = v.to_string(),
                            "hold" => hold = v.to_string(),
                            _ => {}
                        }
                    }
                }
                rows.push(format!(
                    "| {} | {traffic} | {hold} |",
                    stage.label.as_ref().map_or("", |l| l.value.as_str())
                ));
            }
        }
    }
    if rows.is_empty() {
        String::new()
    } else {
        format!(
            "\n\n| stage | traffic | hold |\n|---|---|---|\n{}",
            rows.join("\n")
        )
    }
}

const UNITS: &[(&str, &str)] = &[
    (
        "%",
        "A percentage: a share of traffic, of errors, of a resource limit.",
    ),
    ("ms", "A duration in milliseconds."),
    ("s", "A duration in seconds."),
    ("m", "A duration in minutes."),
    ("h", "A duration in hours."),
    ("d", "A duration in days."),
    ("w", "A duration in weeks."),
    (
        "x",
        "A ratio: a multiple of py2's value of the same metric (`2x py2`).",
    ),
    ("Mi", "A size in mebibytes (2^20 bytes)."),
    ("Gi", "A size in gibibytes (2^30 bytes)."),
];

/// Markdown for the word at `offset`, if it means something.
pub fn hover(text: &str, offset: usize) -> Option<(usize, usize, String)> {
    let offset = boundary(text, offset);
    let (start, end, word) = word_at(text, offset)?;
    let context = enclosing(text, start).map(|(k, _)| k);
    // In a module path, the segment under the cursor: `standard` in `std.schedules.standard`.
    let (start, end, word) = match word.starts_with("std.") {
        true => {
            let seg_start = text[start..offset.max(start)]
                .rfind('.')
                .map_or(start, |i| start + i + 1);
            let seg_end = text[offset.min(end)..end]
                .find('.')
                .map_or(end, |i| offset + i);
            let segment = &text[seg_start..seg_end];
            if stdlib_definitions().iter().any(|d| d.2 == segment) {
                (seg_start, seg_end, segment)
            } else {
                (start, end, word)
            }
        }
        false => (start, end, word),
    };
    if word.starts_with("std.") {
        let module = stdlib::MODULES.iter().find(|x| word.starts_with(x.path))?;
        let defs: Vec<String> = stdlib_definitions()
            .into_iter()
            .filter(|d| d.0 == module.path)
            .map(|d| format!("- `{}`: {}", d.2, d.3))
            .collect();
        return Some((
            start,
            end,
            format!(
                "**{}** (standard library)\n\n{}",
                module.path,
                defs.join("\n")
            ),
        ));
    }
    if let Some(def) = stdlib_definitions().into_iter().find(|d| d.2 == word) {
        let table = if def.1 == "schedule" {
            describe_schedule(word)
        } else {
            String::new()
        };
        return Some((
            start,
            end,
            format!("**{} {}** ({})\n\n{}{table}", def.1, def.2, def.0, def.3),
        ));
    }
    if let Some(m) = schema::metric(word) {
        return Some((
            start,
            end,
            format!(
                "**{}** (metric)\n\n{}\n\nCompared with {}.",
                m.name, m.doc, m.accepts
            ),
        ));
    }
    if let Some(block) = spec(word) {
        return Some((
            start,
            end,
            format!("**{}** (block)\n\n{}", block.keyword, block.doc),
        ));
    }
    // A field: the enclosing block's first, then any block's.
    let field = context
        .as_deref()
        .and_then(spec)
        .and_then(|s| s.field(word))
        .or_else(|| {
            [
                &schema::PLAN,
                &schema::SERVICE,
                &schema::RESOURCES,
                &schema::ROUTE,
                &schema::MONITOR,
                &schema::STAGE,
            ]
            .into_iter()
            .find_map(|s| s.field(word))
        });
    if let Some(f) = field {
        return Some((
            start,
            end,
            format!(
                "**{}** ({})\n\n{}\n\n```plan\n{}\n```",
                f.name,
                f.ty.describe(),
                f.doc,
                f.example
            ),
        ));
    }
    let keyword_doc = match word {
        "use" => Some("Imports standard-library definitions: `use std.schedules.standard`."),
        "const" => Some(
            "Names a literal: `const long_hold = 96h`, then write `long_hold` where the value goes.",
        ),
        "when" => Some(
            "Readability word for blocks of conditions: `rollback when { ... }`, `success when { ... }`.",
        ),
        "for" => Some(
            "The window a rollback trigger must hold for before rolling back: `error_rate > 1% for 5m`.",
        ),
        "approval" => Some("A manual gate: the stage completes only when someone signs off."),
        "py2" | "baseline" => {
            Some("The py2 copy: ratios such as `2x py2` are multiples of its value.")
        }
        _ => None,
    };
    if let Some(doc) = keyword_doc {
        return Some((start, end, format!("**{word}**\n\n{doc}")));
    }
    let unit = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    if word.starts_with(|c: char| c.is_ascii_digit()) && !unit.is_empty() {
        if let Some((_, doc)) = UNITS.iter().find(|(u, _)| *u == unit) {
            return Some((start, end, format!("**{word}**\n\n{doc}")));
        }
    }
    None
}

fn item(
    label: &str,
    kind: CompletionItemKind,
    detail: &str,
    insert: Option<&str>,
) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: Some(detail.to_string()),
        insert_text: insert.map(str::to_string),
        insert_text_format: insert.map(|_| InsertTextFormat::SNIPPET),
        ..CompletionItem::default()
    }
}

/// Completion items for the cursor at `offset`.
pub fn completion(text: &str, offset: usize) -> Vec<CompletionItem> {
    const FIELD: CompletionItemKind = CompletionItemKind::FIELD;
    const MODULE: CompletionItemKind = CompletionItemKind::MODULE;
    const KEYWORD: CompletionItemKind = CompletionItemKind::KEYWORD;
    const VALUE: CompletionItemKind = CompletionItemKind::VALUE;
    let offset = boundary(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = text[line_start..offset].trim_start();
    if before.starts_with("use ") {
        let mut items: Vec<CompletionItem> = stdlib::MODULES
            .iter()
            .map(|m| item(m.path, MODULE, "module", None))
            .collect();
        for d in stdlib_definitions() {
            items.push(item(&format!("{}.{}", d.0, d.2), MODULE, &d.3, None));
        }
        return items;
    }
    let assignment = before.rsplit_once('=').map(|(k, _)| k.trim());
    let locals = |kind: &str| -> Vec<String> {
        let (ast, _) = crate::syntax::parse(FileId(0), text);
        top_blocks(&ast)
            .filter(|b| b.keyword.value == kind)
            .filter_map(|b| b.label.as_ref().map(|l| l.value.clone()))
            .collect()
    };
    match assignment {
        Some("schedule") | Some("rollback") => {
            let kind = assignment.unwrap_or_default();
            let mut names: Vec<(String, String)> = stdlib_definitions()
                .into_iter()
                .filter(|d| d.1 == kind)
                .map(|d| (d.2.clone(), format!("import with `use {}.{}`", d.0, d.2)))
                .collect();
            names.extend(
                locals(kind)
                    .into_iter()
                    .map(|n| (n, "defined in this file".to_string())),
            );
            return names
                .into_iter()
                .map(|(n, d)| item(&n, VALUE, &d, None))
                .collect();
        }
        Some("infra") => {
            return crate::model::InfraKind::NAMES
                .iter()
                .map(|k| {
                    let insert = format!("{k}(router: $1)");
                    item(
                        k,
                        VALUE,
                        "infrastructure",
                        (*k != "auto").then_some(insert.as_str()),
                    )
                })
                .collect();
        }
        Some("source") => {
            return crate::model::MetricsSource::NAMES
                .iter()
                .map(|k| item(k, VALUE, "metrics source", None))
                .collect();
        }
        Some("sticky") => {
            return vec![
                item(
                    "cookie",
                    VALUE,
                    "sticky by cookie",
                    Some("cookie(\"${1:py_version}\")"),
                ),
                item(
                    "header",
                    VALUE,
                    "sticky by header",
                    Some("header(\"${1:X-User-Id}\")"),
                ),
                item("none", VALUE, "split each request afresh", None),
            ];
        }
        _ => {}
    }
    if before.ends_with("router:") || before.contains("(router:") {
        return crate::model::Router::NAMES
            .iter()
            .map(|r| item(r, VALUE, "router", None))
            .collect();
    }
    let Some((keyword, label)) = enclosing(text, offset) else {
        return ["plan", "schedule", "rollback"]
            .iter()
            .map(|k| {
                item(
                    k,
                    KEYWORD,
                    "top-level block",
                    Some(&format!("{k} ${{1:name}} {{\n\t$0\n}}")),
                )
            })
            .chain([
                item("use", KEYWORD, "import from the stdlib", None),
                item("const", KEYWORD, "name a literal", None),
            ])
            .collect();
    };
    if keyword == "schedule=" {
        // An override: stages of the named schedule.
        return stage_names(&label)
            .into_iter()
            .map(|(n, _, _)| {
                item(
                    &n,
                    FIELD,
                    &format!("stage of {label}"),
                    Some(&format!("stage {n} {{ $0 }}")),
                )
            })
            .collect();
    }
    if keyword == "rollback=" || keyword == "success" || keyword == "rollback" {
        let mut items: Vec<CompletionItem> = schema::METRICS
            .iter()
            .map(|m| {
                let insert = if keyword == "success" {
                    format!("{} < $0", m.name)
                } else {
                    format!("{} > $1 for $0", m.name)
                };
                item(m.name, FIELD, m.doc, Some(&insert))
            })
            .collect();
        if keyword == "success" {
            items.push(item(
                "all metrics within",
                KEYWORD,
                "every metric within a share of py2's",
                Some("all metrics within ${1:10%} of baseline"),
            ));
            items.push(item(
                "approval",
                KEYWORD,
                "a manual gate",
                Some("approval \"$0\""),
            ));
        }
        return items;
    }
    let Some(block) = spec(&keyword) else {
        return Vec::new();
    };
    block
        .fields
        .iter()
        .map(|f| {
            let insert = if f.qualifiers.is_empty() {
                format!("{} = $0", f.name)
            } else {
                format!("{} ${{1|py2,py3|}} = $0", f.name)
            };
            item(f.name, FIELD, f.doc, Some(&insert))
        })
        .chain(block.blocks.iter().map(|b| {
            let doc = spec(b).map_or("", |s| s.doc);
            let insert = match *b {
                "rollback" | "success" => format!("{b} when {{\n\t$0\n}}"),
                "stage" => "stage ${1:name} {\n\ttraffic = $2\n\thold = $3\n}".to_string(),
                _ => format!("{b} {{\n\t$0\n}}"),
            };
            item(b, KEYWORD, doc, Some(&insert))
        }))
        .collect()
}

fn top_blocks(file: &File) -> impl Iterator<Item = &Block> {
    file.items.iter().filter_map(|i| match i {
        Item::Block(b) => Some(b),
        _ => None,
    })
}

/// Where the word at `offset` is defined: `(file name, byte offset)` with the file name a stdlib
/// module's (`<std>/schedules.plan`) or `""` for this document.
pub fn definition(text: &str, offset: usize) -> Option<(String, usize)> {
    let (start, _, word) = word_at(text, offset)?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    // A stage named in an override: the stage in the overridden schedule.
    if before.trim_end().ends_with("stage") {
        if let Some((keyword, schedule)) = enclosing(text, start) {
            if keyword == "schedule=" {
                return stage_names(&schedule)
                    .into_iter()
                    .find(|(n, _, _)| n == word)
                    .map(|(_, f, o)| (f.to_string(), o));
            }
        }
    }
    let name = word.rsplit('.').next().unwrap_or(word);
    let (ast, _) = crate::syntax::parse(FileId(0), text);
    if let Some(b) = top_blocks(&ast)
        .find(|b| b.label.as_ref().is_some_and(|l| l.value == name) && b.keyword.value != "plan")
    {
        return Some((String::new(), b.span.start as usize));
    }
    stdlib_definitions()
        .into_iter()
        .find(|d| d.2 == name)
        .and_then(|d| stdlib::module(d.0).map(|m| (m.file_name.to_string(), d.4)))
}

/// A text edit: replace bytes `start..end` with the text.
pub type Edit = (usize, usize, String);

/// Code actions for the diagnostics over `range` (byte offsets): a "did you mean" replacement,
/// and a final 100% stage for CNR302. Each is a title and its edits.
pub fn code_actions(
    text: &str,
    diagnostics: &[Diagnostic],
    from: usize,
    to: usize,
) -> Vec<(String, Vec<Edit>)> {
    let mut actions = Vec::new();
    for d in diagnostics
        .iter()
        .filter(|d| d.primary.span.file == FileId(0))
    {
        let (start, end) = (d.primary.span.start as usize, d.primary.span.end as usize);
        if end < from || start > to {
            continue;
        }
        if let Some(suggestion) = d
            .help
            .as_deref()
            .and_then(|h| h.strip_prefix("did you mean `"))
            .and_then(|h| h.strip_suffix("`?"))
        {
            actions.push((
                format!("Replace with `{suggestion}`"),
                vec![(start, end, suggestion.to_string())],
            ));
        }
        if d.code == Code::FinalStageNotFull {
            if let Some(edit) = full_cutover_stage(text, start) {
                actions.push(("Add a final stage at 100%".to_string(), vec![edit]));
            }
        }
    }
    actions
}

/// Inserts `stage full-cutover { traffic = 100% ... }` after the stage holding `offset`.
fn full_cutover_stage(text: &str, offset: usize) -> Option<Edit> {
    let (ast, _) = crate::syntax::parse(FileId(0), text);
    let mut stack: Vec<&Block> = top_blocks(&ast).collect();
    while let Some(b) = stack.pop() {
        let inside = b.span.start as usize <= offset && offset <= b.span.end as usize;
        if !inside {
            continue;
        }
        let stages: Vec<&Block> = b
            .body
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Block(s) if s.keyword.value == "stage" => Some(s),
                _ => None,
            })
            .collect();
        if let Some(last) = stages
            .last()
            .filter(|s| s.span.start as usize <= offset && offset <= s.span.end as usize)
        {
            let end = last.span.end as usize;
            let line_start = text[..last.span.start as usize]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let indent = &text[line_start..last.span.start as usize];
            let new = format!(
                "\n{indent}stage full-cutover {{\n{indent}  traffic = 100%\n{indent}  hold    = 168h\n{indent}}}"
            );
            return Some((end, end, new));
        }
        // Overrides change existing stages and never need a new final one: only nested blocks.
        for e in &b.body.entries {
            if let Entry::Block(inner) = e {
                stack.push(inner);
            }
        }
    }
    None
}
