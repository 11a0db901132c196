//! Rendering diagnostics: `human` (miette's graphical report), `short` (one grep-able line each)
//! and `json` (our own versioned schema, documented in docs/diagnostics-json.md).
//!
//! We build miette's report from our byte spans ourselves; pest's own miette adapter reports
//! the wrong line, and miette's JSON handler has no line/column and no format version.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;

use super::{Diagnostic, Severity};
use crate::source::{SourceMap, Span};

/// Bumped whenever a field of the JSON output changes meaning or disappears.
pub const JSON_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Colours and Unicode box drawing, for a terminal.
    Colour,
    /// No escape codes: for pipes, files, CI logs and `NO_COLOR`.
    Plain,
}

/// Renders diagnostics as miette reports, one after another.
pub fn human(
    diagnostics: &[Diagnostic],
    sources: &SourceMap,
    style: Style,
    width: usize,
) -> String {
    let theme = match style {
        Style::Colour => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic, sources);
        // Writing into a String cannot fail; a miette rendering error would be a bug in a
        // label span, and we would rather print the short form than nothing.
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&short_line(diagnostic, sources));
            out.push('\n');
        }
    }
    out
}

/// `file:line:col: severity[code]: message`, one line per diagnostic.
pub fn short(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    diagnostics
        .iter()
        .map(|d| short_line(d, sources) + "\n")
        .collect()
}

fn short_line(d: &Diagnostic, sources: &SourceMap) -> String {
    let pos = Position::of(d.primary.span, sources);
    format!(
        "{}:{}:{}: {}[{}]: {}",
        pos.file,
        pos.start.line,
        pos.start.column,
        d.severity.as_str(),
        d.code,
        d.message
    )
}

/// The JSON document for a set of diagnostics. Pretty-printed, with a trailing newline.
pub fn json(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let doc = JsonReport {
        format_version: JSON_FORMAT_VERSION,
        error_count: diagnostics.iter().filter(|d| d.is_error()).count(),
        warning_count: diagnostics.iter().filter(|d| !d.is_error()).count(),
        diagnostics: diagnostics
            .iter()
            .map(|d| JsonDiagnostic::new(d, sources))
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct JsonReport<'a> {
    format_version: u32,
    error_count: usize,
    warning_count: usize,
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'static str,
    severity: Severity,
    message: &'a str,
    #[serde(flatten)]
    position: Position<'a>,
    labels: Vec<JsonLabel<'a>>,
    help: Option<&'a str>,
    notes: &'a [String],
}

impl<'a> JsonDiagnostic<'a> {
    fn new(d: &'a Diagnostic, sources: &'a SourceMap) -> Self {
        let primary = std::iter::once((&d.primary, true));
        let secondary = d.secondary.iter().map(|l| (l, false));
        JsonDiagnostic {
            code: d.code.as_str(),
            severity: d.severity,
            message: &d.message,
            position: Position::of(d.primary.span, sources),
            labels: primary
                .chain(secondary)
                .map(|(label, primary)| JsonLabel {
                    message: &label.message,
                    primary,
                    position: Position::of(label.span, sources),
                })
                .collect(),
            help: d.help.as_deref(),
            notes: &d.notes,
        }
    }
}

#[derive(Serialize)]
struct JsonLabel<'a> {
    message: &'a str,
    primary: bool,
    #[serde(flatten)]
    position: Position<'a>,
}

#[derive(Serialize)]
struct Position<'a> {
    file: &'a str,
    start: Point,
    end: Point,
}

#[derive(Serialize)]
struct Point {
    line: usize,
    column: usize,
    byte: u32,
}

impl<'a> Position<'a> {
    fn of(span: Span, sources: &'a SourceMap) -> Self {
        let file = sources.get(span.file);
        let point = |byte: u32| {
            let (line, column) = file.line_col(byte as usize);
            // Offsets into the file as it is on disk (a byte-order mark is not in `text`).
            let byte = u32::try_from(file.file_offset(byte as usize)).unwrap_or(u32::MAX);
            Point { line, column, byte }
        };
        Position {
            file: &file.name,
            start: point(span.start),
            end: point(span.end),
        }
    }
}

/// Adapts one of our diagnostics to miette. Secondary labels in the primary's file become miette
/// labels; those in other files (a stdlib definition, say) become related reports of their own.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    message: String,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<Report<'a>>,
    severity: miette::Severity,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, sources: &SourceMap) -> Self {
        let file_id = diagnostic.primary.span.file;
        let file = sources.get(file_id);
        let mut labels = vec![labeled(
            &diagnostic.primary.message,
            diagnostic.primary.span,
            true,
        )];
        let mut related = Vec::new();
        for label in &diagnostic.secondary {
            if label.span.file == file_id {
                labels.push(labeled(&label.message, label.span, false));
            } else {
                let other = sources.get(label.span.file);
                related.push(Report {
                    diagnostic,
                    message: label.message.clone(),
                    source: NamedSource::new(&other.name, other.text.clone()),
                    labels: vec![labeled("", label.span, true)],
                    help: None,
                    related: Vec::new(),
                    severity: miette::Severity::Advice,
                });
            }
        }
        let mut help = diagnostic.help.clone();
        for note in &diagnostic.notes {
            let text = help.get_or_insert_with(String::new);
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str("note: ");
            text.push_str(note);
        }
        Report {
            diagnostic,
            message: diagnostic.message.clone(),
            source: NamedSource::new(&file.name, file.text.clone()),
            labels,
            help,
            related,
            severity: match diagnostic.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
        }
    }
}

fn labeled(message: &str, span: Span, primary: bool) -> LabeledSpan {
    let text = (!message.is_empty()).then(|| message.to_string());
    let (offset, len) = (span.start as usize, span.len());
    if primary {
        LabeledSpan::new_primary_with_span(text, (offset, len))
    } else {
        LabeledSpan::new_with_span(text, (offset, len))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        (self.severity != miette::Severity::Advice)
            .then(|| Box::new(self.diagnostic.code) as Box<dyn fmt::Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}
