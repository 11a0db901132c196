//! What the language server knows about a document, computed without I/O: diagnostics, hover,
//! completion, definitions and code actions. The server (`mod.rs`) adds the transport, the open
//! documents and the codebase detection.
//!
//! Everything here reads the document's lossless syntax tree: the word under the cursor is a
//! token, the block it is in is a node (or, in text that does not parse, the `{` its tokens
//! leave open), and a definition's documentation is the comment tokens above it.

use lsp_types::{
    CompletionItem, CompletionItemKind, DiagnosticRelatedInformation, DiagnosticSeverity,
    InsertTextFormat, Location, NumberOrString, Uri,
};

use super::position::Lines;
use crate::check::schema::{self, BlockSpec};
use crate::check::{Analysis, Options};
use crate::diag::{Code, Diagnostic, Severity};
use crate::source::{FileId, SourceFile, SourceMap};
use crate::stdlib;
use crate::syntax::Parse;
use crate::syntax::ast::{Block, Entry, File, Item};
use crate::syntax::tree::{SyntaxKind as K, SyntaxNode, SyntaxTree};

/// Checks a parsed document (file id 0 of the returned sources). Syntax errors come alone, as
/// with `canaryc check`.
pub fn check(name: &str, parse: &Parse, options: &Options) -> (SourceMap, Analysis) {
    let mut sources = SourceMap::new();
    let root = sources.add_file(SourceFile::new(name, parse.tree.text()));
    let analysis = crate::check::check_parsed(&mut sources, root, parse, options);
    (sources, analysis)
}

/// Parses and checks a document's text.
pub fn diagnostics(name: &str, text: &str, options: &Options) -> (SourceMap, Vec<Diagnostic>) {
    let parse = crate::syntax::parse_file(FileId(0), text);
    let (sources, analysis) = check(name, &parse, options);
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

/// Tokens a cursor can be on for hover and definition: names, keywords and literals.
fn is_word(kind: K) -> bool {
    matches!(
        kind,
        K::Ident
            | K::Keyword
            | K::Quantile
            | K::Date
            | K::Duration
            | K::Size
            | K::Percent
            | K::Rate
            | K::RatioFactor
            | K::RatioBase
            | K::Number
            | K::Unknown
    )
}

/// The word under the cursor, or just before it, with its byte range: a token, or a whole
/// module path (`std.schedules.standard`).
fn word_at(tree: &SyntaxTree, offset: usize) -> Option<(usize, usize, &str)> {
    let offset = boundary(tree.text(), offset);
    let token = tree
        .token_at(offset)
        .filter(|t| is_word(t.kind()))
        .or_else(|| {
            tree.token_at(offset.checked_sub(1)?)
                .filter(|t| is_word(t.kind()) && t.end() == offset)
        })?;
    let path = tree
        .ancestors_at(token.start())
        .into_iter()
        .rev()
        .find(|n| n.kind() == K::ModulePath && n.start() <= token.start());
    let word = path.filter(|p| p.end() >= token.end()).unwrap_or(token);
    Some((word.start(), word.end(), word.text()))
}

/// The block open at `offset`: `("stage", "canary-1pct")`, `("rollback", "when")`, or
/// `("schedule=", "standard")` for the override block of `schedule = standard { ... }`.
fn enclosing(tree: &SyntaxTree, offset: usize) -> Option<(String, String)> {
    let path = tree.ancestors_at(offset);
    for (depth, node) in path.iter().enumerate().rev() {
        match node.kind() {
            K::Body if node.start() < offset && offset < node.end() => {}
            K::Error => return enclosing_in_error(*node, offset),
            _ => continue,
        }
        // A body's parent is the block it belongs to, or the attribute it overrides.
        let owner = *path.get(depth.checked_sub(1)?)?;
        return Some(match owner.kind() {
            K::Attribute => (
                format!("{}=", text_of(owner, K::Ident)),
                text_of(owner, K::Value).to_string(),
            ),
            _ => {
                let label = match owner.child(K::BlockLabel) {
                    Some(label) => text_of(label, K::Ident),
                    None if owner.child(K::Keyword).is_some() => "when",
                    None => "",
                };
                (text_of(owner, K::Ident).to_string(), label.to_string())
            }
        });
    }
    None
}

/// In text that does not parse: the `{` before `offset` that its tokens leave open, and the
/// words of its line before it.
fn enclosing_in_error(error: SyntaxNode<'_>, offset: usize) -> Option<(String, String)> {
    let tokens: Vec<SyntaxNode<'_>> = error.tokens().filter(|t| t.end() <= offset).collect();
    let mut depth = 0usize;
    let open = tokens.iter().rposition(|t| {
        if t.is_punct("}") {
            depth += 1;
        } else if t.is_punct("{") {
            if depth == 0 {
                return true;
            }
            depth -= 1;
        }
        false
    })?;
    let header: Vec<&str> = tokens[..open]
        .iter()
        .rev()
        .take_while(|t| {
            !(t.is_punct("{") || t.is_punct("}") || t.is_trivia() && t.text().contains('\n'))
        })
        .filter(|t| !t.is_trivia())
        .map(|t| t.text())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    match header.as_slice() {
        [key, "=", name, ..] => Some((format!("{key}="), (*name).to_string())),
        [keyword, rest @ ..] => Some((
            (*keyword).to_string(),
            rest.first().copied().unwrap_or("").to_string(),
        )),
        [] => None,
    }
}

fn text_of<'t>(node: SyntaxNode<'t>, kind: K) -> &'t str {
    node.child(kind).map_or("", |c| c.text())
}

/// The tokens of the cursor's line before it, trivia left out.
fn line_before(tree: &SyntaxTree, offset: usize) -> Vec<SyntaxNode<'_>> {
    let line_start = tree.text()[..offset].rfind('\n').map_or(0, |i| i + 1);
    let mut tokens = Vec::new();
    let mut token = tree.token_at(line_start);
    while let Some(t) = token.filter(|t| t.end() <= offset) {
        if !t.is_trivia() && t.start() >= line_start {
            tokens.push(t);
        }
        token = tree
            .token_at(t.end())
            .filter(|next| next.start() == t.end());
    }
    tokens
}

fn spec(keyword: &str) -> Option<&'static BlockSpec> {
    [
        &schema::PLAN,
        &schema::SERVICE,
        &schema::RESOURCES,
        &schema::ENV,
        &schema::ROUTE,
        &schema::MONITOR,
        &schema::COMPARE,
        &schema::COMPARE_ENDPOINT,
        &schema::SCHEDULE,
        &schema::STAGE,
        &schema::SUCCESS,
        &schema::ROLLBACK,
    ]
    .into_iter()
    .find(|s| s.keyword == keyword)
}

/// A standard-library module, parsed once per process.
struct StdModule {
    module: &'static stdlib::Module,
    parse: Parse,
}

fn std_modules() -> &'static [StdModule] {
    static MODULES: std::sync::OnceLock<Vec<StdModule>> = std::sync::OnceLock::new();
    MODULES.get_or_init(|| {
        stdlib::MODULES
            .iter()
            .map(|module| StdModule {
                module,
                parse: crate::syntax::parse_file(FileId(0), module.text),
            })
            .collect()
    })
}

/// A schedule or rollback set of the standard library.
struct StdDefinition {
    /// `std.schedules`.
    module: &'static str,
    /// `schedule` or `rollback`.
    kind: &'static str,
    name: &'static str,
    /// The comment lines right above the definition, joined.
    doc: String,
    /// Where the definition starts in its module's text.
    start: usize,
}

fn stdlib_definitions() -> Vec<StdDefinition> {
    let mut out = Vec::new();
    for std in std_modules() {
        let root = std.parse.tree.root();
        let items: Vec<SyntaxNode<'static>> = root.children().collect();
        for (i, block) in items.iter().enumerate() {
            if block.kind() != K::Block {
                continue;
            }
            let Some(label) = block.child(K::BlockLabel) else {
                continue;
            };
            let kind = if text_of(*block, K::Ident) == "schedule" {
                "schedule"
            } else {
                "rollback"
            };
            out.push(StdDefinition {
                module: std.module.path,
                kind,
                name: text_of(label, K::Ident),
                doc: doc_comment(&items[..i]).join(" "),
                start: block.start(),
            });
        }
    }
    out
}

/// The comments on the lines right above the node after `before` (blank lines between them
/// and the node allowed, none between two of them), without their `#`.
fn doc_comment<'t>(before: &[SyntaxNode<'t>]) -> Vec<&'t str> {
    let mut lines = Vec::new();
    let mut rest = before;
    // The whitespace right above the node may hold blank lines.
    if let [init @ .., last] = rest {
        if last.kind() == K::Whitespace {
            rest = init;
        }
    }
    while let [init @ .., comment] = rest {
        // A comment on its own line: after a line break, or first in the file.
        let own_line = match init.last() {
            None => true,
            Some(ws) => ws.kind() == K::Whitespace && ws.text().contains('\n'),
        };
        if comment.kind() != K::Comment || !own_line {
            break;
        }
        lines.push(comment.text().trim_start_matches('#').trim());
        match init {
            [more @ .., ws] if ws.text().matches('\n').count() == 1 => rest = more,
            _ => break,
        }
    }
    lines.retain(|l| !l.is_empty());
    lines.reverse();
    lines
}

/// The stages of a stdlib schedule: name, module file name, offset in the module.
fn stage_names(schedule: &str) -> Vec<(String, &'static str, usize)> {
    let mut out = Vec::new();
    for std in std_modules() {
        for b in top_blocks(&std.parse.ast) {
            if b.keyword.value != "schedule" || b.label.as_ref().is_none_or(|l| l.value != schedule)
            {
                continue;
            }
            for entry in &b.body.entries {
                if let Entry::Block(stage) = entry {
                    if let Some(l) = &stage.label {
                        out.push((l.value.clone(), std.module.file_name, l.span.start as usize));
                    }
                }
            }
        }
    }
    out
}

fn describe_schedule(name: &str) -> String {
    let Some(std) = std_modules()
        .iter()
        .find(|m| m.module.path == "std.schedules")
    else {
        return String::new();
    };
    let text = std.module.text;
    let mut rows = Vec::new();
    for b in top_blocks(&std.parse.ast) {
        if b.label.as_ref().is_none_or(|l| l.value != name) {
            continue;
        }
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
pub fn hover(parse: &Parse, offset: usize) -> Option<(usize, usize, String)> {
    let tree = &parse.tree;
    let text = tree.text();
    let offset = boundary(text, offset);
    let (start, end, word) = word_at(tree, offset)?;
    let context = enclosing(tree, start).map(|(k, _)| k);
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
            if stdlib_definitions().iter().any(|d| d.name == segment) {
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
            .filter(|d| d.module == module.path)
            .map(|d| format!("- `{}`: {}", d.name, d.doc))
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
    if let Some(def) = stdlib_definitions().into_iter().find(|d| d.name == word) {
        let table = if def.kind == "schedule" {
            describe_schedule(word)
        } else {
            String::new()
        };
        return Some((
            start,
            end,
            format!(
                "**{} {}** ({})\n\n{}{table}",
                def.kind, def.name, def.module, def.doc
            ),
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
                &schema::COMPARE,
                &schema::COMPARE_ENDPOINT,
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
            "The window a threshold trigger must hold for before rolling back: `memory > 90% for 10m`. Error-rate and latency triggers are sequential tests and take no `for` (CNR454).",
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
pub fn completion(parse: &Parse, offset: usize) -> Vec<CompletionItem> {
    const FIELD: CompletionItemKind = CompletionItemKind::FIELD;
    const MODULE: CompletionItemKind = CompletionItemKind::MODULE;
    const KEYWORD: CompletionItemKind = CompletionItemKind::KEYWORD;
    const VALUE: CompletionItemKind = CompletionItemKind::VALUE;
    let tree = &parse.tree;
    let offset = boundary(tree.text(), offset);
    let before = line_before(tree, offset);
    let words: Vec<&str> = before.iter().map(|t| t.text()).collect();
    if words.first() == Some(&"use") && before[0].end() < offset {
        let mut items: Vec<CompletionItem> = stdlib::MODULES
            .iter()
            .map(|m| item(m.path, MODULE, "module", None))
            .collect();
        for d in stdlib_definitions() {
            items.push(item(
                &format!("{}.{}", d.module, d.name),
                MODULE,
                &d.doc,
                None,
            ));
        }
        return items;
    }
    // `router:` and at most the word being typed after it, in a call's arguments.
    let colon = words.iter().rposition(|w| *w == ":");
    if colon.is_some_and(|c| c > 0 && words[c - 1] == "router" && words.len() - c <= 2) {
        return crate::model::Router::NAMES
            .iter()
            .map(|r| item(r, VALUE, "router", None))
            .collect();
    }
    // The key of the `key =` the cursor follows on its line.
    let assignment = words
        .iter()
        .rposition(|w| *w == "=")
        .map(|eq| words[..eq].join(" "));
    let assignment = assignment.as_deref();
    let locals = |kind: &str| -> Vec<String> {
        top_blocks(&parse.ast)
            .filter(|b| b.keyword.value == kind)
            .filter_map(|b| b.label.as_ref().map(|l| l.value.clone()))
            .collect()
    };
    match assignment {
        Some("schedule") | Some("rollback") => {
            let kind = assignment.unwrap_or_default();
            let mut names: Vec<(String, String)> = stdlib_definitions()
                .into_iter()
                .filter(|d| d.kind == kind)
                .map(|d| {
                    let how = format!("import with `use {}.{}`", d.module, d.name);
                    (d.name.to_string(), how)
                })
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
    let Some((keyword, label)) = enclosing(tree, offset) else {
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
pub fn definition(parse: &Parse, offset: usize) -> Option<(String, usize)> {
    let tree = &parse.tree;
    let (start, _, word) = word_at(tree, offset)?;
    // A stage named in an override: the stage in the overridden schedule.
    if line_before(tree, start)
        .last()
        .is_some_and(|t| t.text() == "stage")
    {
        if let Some((keyword, schedule)) = enclosing(tree, start) {
            if keyword == "schedule=" {
                return stage_names(&schedule)
                    .into_iter()
                    .find(|(n, _, _)| n == word)
                    .map(|(_, f, o)| (f.to_string(), o));
            }
        }
    }
    let name = word.rsplit('.').next().unwrap_or(word);
    if let Some(b) = top_blocks(&parse.ast)
        .find(|b| b.label.as_ref().is_some_and(|l| l.value == name) && b.keyword.value != "plan")
    {
        return Some((String::new(), b.span.start as usize));
    }
    stdlib_definitions()
        .into_iter()
        .find(|d| d.name == name)
        .and_then(|d| stdlib::module(d.module).map(|m| (m.file_name.to_string(), d.start)))
}

/// A text edit: replace bytes `start..end` with the text.
pub type Edit = (usize, usize, String);

/// Code actions for the diagnostics over `range` (byte offsets): a "did you mean" replacement,
/// and a final 100% stage for CNR302. Each is a title and its edits.
pub fn code_actions(
    parse: &Parse,
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
            if let Some(edit) = full_cutover_stage(parse, start) {
                actions.push(("Add a final stage at 100%".to_string(), vec![edit]));
            }
        }
    }
    actions
}

/// Inserts `stage full-cutover { traffic = 100% ... }` after the stage holding `offset`.
fn full_cutover_stage(parse: &Parse, offset: usize) -> Option<Edit> {
    let text = parse.tree.text();
    let mut stack: Vec<&Block> = top_blocks(&parse.ast).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Parse {
        crate::syntax::parse_file(FileId(0), text)
    }

    fn labels(text: &str, at: &str) -> Vec<String> {
        let offset = text.find(at).unwrap() + at.len();
        completion(&parse(text), offset)
            .into_iter()
            .map(|i| i.label)
            .collect()
    }

    const COMPARE: &str = "plan x {\n  compare {\n    queue = 10\n    \n    endpoint orders {\n      path = \"/orders/{id}\"\n      \n    }\n  }\n}\n";

    #[test]
    fn compare_and_its_endpoints_have_hover_and_completion() {
        let inside_compare = labels(COMPARE, "queue = 10\n    ");
        assert!(
            inside_compare.iter().any(|l| l == "concurrency"),
            "{inside_compare:?}"
        );
        assert!(
            inside_compare.iter().any(|l| l == "endpoint"),
            "{inside_compare:?}"
        );
        let inside_endpoint = labels(COMPARE, "{id}\"\n      ");
        assert!(
            inside_endpoint.iter().any(|l| l == "path"),
            "{inside_endpoint:?}"
        );
        let p = parse(COMPARE);
        let at = COMPARE.find("queue").unwrap() + 2;
        let (_, _, markdown) = hover(&p, at).expect("a hover for `queue`");
        assert!(
            markdown.contains("Comparisons waiting for a worker"),
            "{markdown}"
        );
        let at = COMPARE.find("path").unwrap() + 1;
        let (_, _, markdown) = hover(&p, at).expect("a hover for `path`");
        assert!(markdown.contains("literal segments"), "{markdown}");
        let at = COMPARE.find("compare").unwrap() + 1;
        assert!(hover(&p, at).unwrap().2.contains("(block)"));
    }

    /// Braces in strings and comments are not brackets, even in text that does not parse.
    #[test]
    fn the_enclosing_block_ignores_braces_in_strings_and_comments() {
        let text = "plan x {\n  service a {\n    health = \"/{\" # }\n    \n  oops = \n}\n";
        let p = parse(text);
        assert!(
            p.diagnostics.iter().any(Diagnostic::is_error),
            "it does not parse"
        );
        let offset = text.find("# }\n    ").unwrap() + 8;
        assert_eq!(
            enclosing(&p.tree, offset),
            Some(("service".to_string(), "a".to_string()))
        );
        let names = labels(text, "# }\n    ");
        assert!(names.iter().any(|l| l == "port"), "{names:?}");
    }

    #[test]
    fn routers_complete_after_router_colon() {
        let text = "plan x {\n  infra = kubernetes(router: )\n}\n";
        let names = labels(text, "router: ");
        assert!(names.iter().any(|l| l == "istio"), "{names:?}");
    }

    /// An editor may send the byte-order mark the file starts with; the CLI drops it on reading.
    #[test]
    fn a_byte_order_mark_is_no_syntax_error() {
        let text = "\u{feff}plan x {\n  python = 2.7 -> 3.13\n}\n";
        let options = Options {
            today: crate::date::Date::parse("2026-11-27").unwrap(),
        };
        let (_, diagnostics) = diagnostics("plan", text, &options);
        assert!(
            diagnostics.iter().all(|d| d.code != Code::Syntax),
            "{diagnostics:?}"
        );
        assert_eq!(crate::fmt::format(text).unwrap(), text);
    }

    #[test]
    fn documentation_of_stdlib_definitions_is_their_comments() {
        let defs = stdlib_definitions();
        let standard = defs.iter().find(|d| d.name == "standard").unwrap();
        assert_eq!(standard.kind, "schedule");
        assert!(
            !standard.doc.is_empty() && !standard.doc.contains('#'),
            "{}",
            standard.doc
        );
    }
}
