//! Rendering diagnostics: `human` (miette's graphical report), `short` (one grep-able line each)
//! and `json` (our own versioned schema, documented in docs/diagnostics-json.md).
//!
//! We build miette's report from our byte spans ourselves; pest's own miette adapter reports
//! the wrong line, and miette's JSON handler has no line/column and no format version.
//!
//! Rendering is linear in the number of diagnostics. miette given a whole file scans it from the
//! start for every label and we would clone it for every diagnostic (20,000 diagnostics took
//! 27 s); instead each report carries an [`Excerpt`]: only the lines around its labels, found
//! through a line index built once per file, with lines longer than [`LONG_LINE`] cut around
//! the labels (miette pads with `format!` widths, which panic past 65,535 columns).

use std::cell::OnceCell;
use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use super::{Diagnostic, Severity};
use crate::source::{FileId, SourceFile, SourceMap, Span};

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
        .with_links(false)
        .with_context_lines(CONTEXT_LINES);
    let indexes = Indexes::new(sources);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic, &indexes);
        // Writing into a String cannot fail; a miette rendering error would be a bug in a
        // label span, and we would rather print the short form than nothing.
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&short_line(diagnostic, &indexes));
            out.push('\n');
        }
    }
    out
}

/// `file:line:col: severity[code]: message`, one line per diagnostic.
pub fn short(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let indexes = Indexes::new(sources);
    diagnostics
        .iter()
        .map(|d| short_line(d, &indexes) + "\n")
        .collect()
}

fn short_line(d: &Diagnostic, indexes: &Indexes<'_>) -> String {
    let pos = Position::of(d.primary.span, indexes);
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
    let indexes = Indexes::new(sources);
    let doc = JsonReport {
        format_version: JSON_FORMAT_VERSION,
        error_count: diagnostics.iter().filter(|d| d.is_error()).count(),
        warning_count: diagnostics.iter().filter(|d| !d.is_error()).count(),
        diagnostics: diagnostics
            .iter()
            .map(|d| JsonDiagnostic::new(d, &indexes))
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
    fn new(d: &'a Diagnostic, indexes: &Indexes<'a>) -> Self {
        let primary = std::iter::once((&d.primary, true));
        let secondary = d.secondary.iter().map(|l| (l, false));
        JsonDiagnostic {
            code: d.code.as_str(),
            severity: d.severity,
            message: &d.message,
            position: Position::of(d.primary.span, indexes),
            labels: primary
                .chain(secondary)
                .map(|(label, primary)| JsonLabel {
                    message: &label.message,
                    primary,
                    position: Position::of(label.span, indexes),
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
    fn of(span: Span, indexes: &Indexes<'a>) -> Self {
        let index = indexes.get(span.file);
        let point = |byte: u32| {
            let (line, column) = index.line_col(byte as usize);
            // Offsets into the file as it is on disk (a byte-order mark is not in `text`).
            let byte = u32::try_from(index.file.file_offset(byte as usize)).unwrap_or(u32::MAX);
            Point { line, column, byte }
        };
        Position {
            file: &index.file.name,
            start: point(span.start),
            end: point(span.end),
        }
    }
}

/// Line indexes of the files diagnostics point into, each built the first time it is needed.
struct Indexes<'a> {
    sources: &'a SourceMap,
    built: Vec<OnceCell<LineIndex<'a>>>,
}

impl<'a> Indexes<'a> {
    fn new(sources: &'a SourceMap) -> Self {
        Indexes {
            sources,
            built: sources.files().map(|_| OnceCell::new()).collect(),
        }
    }

    fn get(&self, file: FileId) -> &LineIndex<'a> {
        self.built[file.0 as usize].get_or_init(|| LineIndex::new(self.sources.get(file)))
    }
}

/// Where lines start, and how many characters precede every [`CHARS_EVERY`]th byte, so that a
/// line and column cost a binary search and a short count even on a line of a megabyte.
struct LineIndex<'a> {
    file: &'a SourceFile,
    line_starts: Vec<usize>,
    chars_before: Vec<usize>,
}

const CHARS_EVERY: usize = 256;

impl<'a> LineIndex<'a> {
    fn new(file: &'a SourceFile) -> Self {
        let text = file.text.as_bytes();
        let line_starts = std::iter::once(0)
            .chain(memchr_newlines(text).map(|i| i + 1))
            .collect();
        let mut chars_before = Vec::with_capacity(text.len() / CHARS_EVERY + 1);
        let mut count = 0;
        for block in text.chunks(CHARS_EVERY) {
            chars_before.push(count);
            count += block.iter().filter(|&&b| !is_continuation(b)).count();
        }
        chars_before.push(count);
        LineIndex {
            file,
            line_starts,
            chars_before,
        }
    }

    fn text(&self) -> &'a str {
        &self.file.text
    }

    /// 0-based line of a byte offset (clamped to the text).
    fn line(&self, offset: usize) -> usize {
        let offset = offset.min(self.text().len());
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// The bytes of a 0-based line, its newline included.
    fn line_range(&self, line: usize) -> (usize, usize) {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text().len());
        (start, end)
    }

    fn last_line(&self) -> usize {
        self.line_starts.len() - 1
    }

    /// Characters in the text before a byte offset on a character boundary.
    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / CHARS_EVERY;
        let from = block * CHARS_EVERY;
        self.chars_before[block]
            + self.text().as_bytes()[from..offset]
                .iter()
                .filter(|&&b| !is_continuation(b))
                .count()
    }

    /// 1-based line and column (in characters), exactly as [`SourceFile::line_col`] counts
    /// them: offsets past the end or inside a character are clamped back.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = self.text();
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line(offset);
        let column = self.chars_before(offset) - self.chars_before(self.line_starts[line]) + 1;
        (line + 1, column)
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

fn memchr_newlines(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    text.iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'\n').then_some(i))
}

/// Adapts one of our diagnostics to miette. Secondary labels in the primary's file become miette
/// labels; those in other files (a stdlib definition, say) become related reports of their own.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    message: String,
    source: Excerpt,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<Report<'a>>,
    severity: miette::Severity,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, indexes: &Indexes<'_>) -> Self {
        let file_id = diagnostic.primary.span.file;
        let here: Vec<(&super::Label, bool)> = std::iter::once((&diagnostic.primary, true))
            .chain(
                diagnostic
                    .secondary
                    .iter()
                    .filter(|l| l.span.file == file_id)
                    .map(|l| (l, false)),
            )
            .collect();
        let (source, spans) = Excerpt::new(
            indexes.get(file_id),
            &here.iter().map(|(l, _)| l.span).collect::<Vec<_>>(),
        );
        let labels = here
            .iter()
            .zip(spans)
            .map(|((label, primary), span)| labeled(&label.message, span, *primary))
            .collect();
        let mut related = Vec::new();
        for label in &diagnostic.secondary {
            if label.span.file != file_id {
                let (source, spans) = Excerpt::new(indexes.get(label.span.file), &[label.span]);
                related.push(Report {
                    diagnostic,
                    message: label.message.clone(),
                    source,
                    labels: spans.into_iter().map(|s| labeled("", s, true)).collect(),
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
            source,
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

/// A label at a span of the excerpt (`start..end` in its text).
fn labeled(message: &str, (offset, end): (usize, usize), primary: bool) -> LabeledSpan {
    let text = (!message.is_empty()).then(|| message.to_string());
    let len = end - offset;
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

/// Lines of context miette shows above and below a label.
const CONTEXT_LINES: usize = 1;
/// Lines longer than this (in bytes) are cut around their labels.
const LONG_LINE: usize = 300;
/// Bytes kept on each side of a label's start and end on a long line.
const KEEP: usize = 60;
/// Label ends kept on one long line; any further ones point into an ellipsis.
const MAX_POINTS_PER_LINE: usize = 16;
const ELLIPSIS: &str = "…";

/// The part of one file a report shows: the lines around its labels (each label's line with
/// [`CONTEXT_LINES`] either side; overlapping or adjacent windows merged into one chunk), long
/// lines cut to the text around the labels. miette reads it through [`SourceCode`] and sees
/// the file's real line numbers and columns.
#[derive(Debug)]
struct Excerpt {
    name: String,
    /// The chunks' text, one after another.
    text: String,
    chunks: Vec<Chunk>,
    /// Where each run of copied bytes starts in `text` and in the file, in order.
    pieces: Vec<Piece>,
    /// Each label start in `text` and its 0-based column in characters, for the report's
    /// `[file:line:column]` (miette would count bytes, of the cut line).
    columns: Vec<(usize, usize)>,
}

#[derive(Debug)]
struct Chunk {
    /// `text[start..end]`: whole lines.
    start: usize,
    end: usize,
    /// 0-based line number, in the file, of the chunk's first line.
    first_line: usize,
    /// Where each of its lines starts in `text`.
    line_starts: Vec<usize>,
    /// Where each of its lines starts in the file.
    file_line_starts: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    at: usize,
    file_at: usize,
    len: usize,
}

impl Excerpt {
    /// The excerpt showing `spans` of a file, and each span's place in it.
    fn new(index: &LineIndex<'_>, spans: &[Span]) -> (Excerpt, Vec<(usize, usize)>) {
        let text = index.text();
        let spans: Vec<(usize, usize)> = spans
            .iter()
            .map(|s| {
                let start = floor_boundary(text, (s.start as usize).min(text.len()));
                (
                    start,
                    ceil_boundary(text, (s.end as usize).clamp(start, text.len())),
                )
            })
            .collect();
        // Which lines each label shows, as miette chooses them: from CONTEXT_LINES above its
        // first line to CONTEXT_LINES below the line its end falls on.
        let mut windows: Vec<(usize, usize)> = spans
            .iter()
            .map(|&(start, end)| {
                let first = index.line(start).saturating_sub(CONTEXT_LINES);
                // miette counts from the byte after the span's last one (for an empty span,
                // from the span).
                let after = end.max(1).min(text.len());
                let last = (index.line(after) + CONTEXT_LINES).min(index.last_line());
                (first, last)
            })
            .collect();
        windows.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (first, last) in windows {
            match merged.last_mut() {
                Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        let points_of_starts: Vec<usize> = spans.iter().map(|&(s, _)| s).collect();
        let mut points: Vec<usize> = spans.iter().flat_map(|&(s, e)| [s, e]).collect();
        points.sort_unstable();
        points.dedup();

        let mut excerpt = Excerpt {
            name: index.file.name.clone(),
            text: String::new(),
            chunks: Vec::new(),
            pieces: Vec::new(),
            columns: Vec::new(),
        };
        for (first, last) in merged {
            let start = excerpt.text.len();
            let mut line_starts = Vec::new();
            let mut file_line_starts = Vec::new();
            for line in first..=last {
                let (line_start, line_end) = index.line_range(line);
                line_starts.push(excerpt.text.len());
                file_line_starts.push(line_start);
                excerpt.line(text, line_start, line_end, &points);
            }
            excerpt.chunks.push(Chunk {
                start,
                end: excerpt.text.len(),
                first_line: first,
                line_starts,
                file_line_starts,
            });
        }
        let spans: Vec<(usize, usize)> = spans
            .iter()
            .map(|&(s, e)| (excerpt.to_excerpt(s), excerpt.to_excerpt(e)))
            .collect();
        excerpt.columns = spans
            .iter()
            .zip(&points_of_starts)
            .map(|(&(at, _), &file_at)| (at, index.line_col(file_at).1 - 1))
            .collect();
        excerpt.columns.sort_unstable();
        (excerpt, spans)
    }

    /// Copies one line of the file, cut around the label ends on it if it is long.
    fn line(&mut self, text: &str, start: usize, end: usize, points: &[usize]) {
        let content_end = if text[start..end].ends_with('\n') {
            end - 1
        } else {
            end
        };
        if content_end - start <= LONG_LINE {
            self.copy(text, start, end);
            return;
        }
        let first = points.partition_point(|&p| p < start);
        let on_line = points[first..]
            .iter()
            .take_while(|&&p| p <= content_end)
            .take(MAX_POINTS_PER_LINE);
        let mut keep: Vec<(usize, usize)> = Vec::new();
        for &p in on_line {
            let from = floor_boundary(text, p.saturating_sub(KEEP).max(start));
            let to = ceil_boundary(text, (p + KEEP).min(content_end));
            match keep.last_mut() {
                Some(prev) if from <= prev.1 => prev.1 = prev.1.max(to),
                _ => keep.push((from, to)),
            }
        }
        if keep.is_empty() {
            keep.push((start, ceil_boundary(text, start + 2 * KEEP)));
        }
        let mut at = start;
        for (from, to) in keep {
            if from > at {
                self.text.push_str(ELLIPSIS);
            }
            self.copy(text, from, to);
            at = to;
        }
        if at < content_end {
            self.text.push_str(ELLIPSIS);
        }
        self.copy(text, content_end, end);
    }

    fn copy(&mut self, text: &str, from: usize, to: usize) {
        if from < to {
            self.pieces.push(Piece {
                at: self.text.len(),
                file_at: from,
                len: to - from,
            });
            self.text.push_str(&text[from..to]);
        }
    }

    /// Where a file offset that the excerpt shows is in its text (a cut-out offset: at the
    /// ellipsis after the last piece before it).
    fn to_excerpt(&self, file_offset: usize) -> usize {
        let n = self.pieces.partition_point(|p| p.file_at <= file_offset);
        match n.checked_sub(1).map(|i| self.pieces[i]) {
            Some(p) => p.at + (file_offset - p.file_at).min(p.len),
            None => 0,
        }
    }

    /// Where an offset of the excerpt's text is in the file.
    fn to_file(&self, offset: usize) -> usize {
        let n = self.pieces.partition_point(|p| p.at <= offset);
        match n.checked_sub(1).map(|i| self.pieces[i]) {
            Some(p) => p.file_at + (offset - p.at).min(p.len),
            None => 0,
        }
    }
}

impl SourceCode for Excerpt {
    /// What miette's own implementation for a whole text returns (the lines from
    /// `context_lines_before` above the span to `context_lines_after` below the line its end
    /// falls on; with no context, the span itself and its column), but found by binary search
    /// within the span's chunk, and with the line count of what is returned.
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (offset, end) = (span.offset(), span.offset() + span.len());
        let chunk = self
            .chunks
            .iter()
            .rev()
            .find(|c| c.start <= offset)
            .filter(|c| end <= c.end)
            .ok_or(MietteError::OutOfBounds)?;
        let line_of = |at: usize| chunk.line_starts.partition_point(|&s| s <= at) - 1;
        let line_end = |line: usize| {
            chunk
                .line_starts
                .get(line + 1)
                .copied()
                .unwrap_or(chunk.end)
        };
        let line = line_of(offset);
        let last_byte = end.saturating_sub(1);
        let (first, start, column) = if context_lines_before == 0 {
            let column = match self.columns.binary_search_by_key(&offset, |&(at, _)| at) {
                Ok(i) => self.columns[i].1,
                Err(_) => self.to_file(offset) - chunk.file_line_starts[line],
            };
            (line, offset, column)
        } else {
            let first = line.saturating_sub(context_lines_before);
            (first, chunk.line_starts[first], 0)
        };
        let (last, stop) = if context_lines_after == 0 {
            let stop = (last_byte + 1).clamp(start, chunk.end);
            (line_of(stop.saturating_sub(1).max(start)), stop)
        } else {
            let last = (line_of((last_byte + 1).min(chunk.end)) + context_lines_after)
                .min(chunk.line_starts.len() - 1);
            (last, line_end(last))
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &self.text.as_bytes()[start..stop],
            (start, stop - start).into(),
            chunk.first_line + first,
            column,
            last.saturating_sub(first) + 1,
        )))
    }
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::diag::Code;

    fn sources(text: &str) -> SourceMap {
        let mut sources = SourceMap::new();
        sources.add("t.plan", text);
        sources
    }

    fn at(start: usize, end: usize) -> Span {
        Span::new(FileId(0), start, end)
    }

    /// The renderer before excerpts: miette reading the whole file.
    fn whole_file(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
        struct Whole<'a>(
            &'a Diagnostic,
            miette::NamedSource<String>,
            Vec<LabeledSpan>,
        );
        impl fmt::Debug for Whole<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0.message)
            }
        }
        impl fmt::Display for Whole<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0.message)
            }
        }
        impl std::error::Error for Whole<'_> {}
        impl miette::Diagnostic for Whole<'_> {
            fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
                Some(Box::new(self.0.code))
            }
            fn severity(&self) -> Option<miette::Severity> {
                Some(miette::Severity::Error)
            }
            fn source_code(&self) -> Option<&dyn SourceCode> {
                Some(&self.1)
            }
            fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
                Some(Box::new(self.2.iter().cloned()))
            }
        }
        let file = sources.get(FileId(0));
        let labels = std::iter::once((&diagnostic.primary, true))
            .chain(diagnostic.secondary.iter().map(|l| (l, false)))
            .map(|(l, primary)| {
                labeled(
                    &l.message,
                    (l.span.start as usize, l.span.end as usize),
                    primary,
                )
            })
            .collect();
        let report = Whole(
            diagnostic,
            miette::NamedSource::new(&file.name, file.text.clone()),
            labels,
        );
        let mut out = String::new();
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_links(false)
            .render_report(&mut out, &report)
            .unwrap();
        out
    }

    fn text_and_labels() -> impl Strategy<Value = (String, Vec<(usize, usize)>)> {
        let line =
            prop::collection::vec(prop::sample::select(vec!['a', ' ', '{', '=', '1']), 0..12)
                .prop_map(|c| c.into_iter().collect::<String>());
        (prop::collection::vec(line, 1..12), any::<bool>()).prop_flat_map(|(lines, newline)| {
            let mut text = lines.join("\n");
            if newline {
                text.push('\n');
            }
            let len = text.len();
            // Labels within three lines of each other: where miette's own merging of nearby
            // snippets and ours agree (far apart, it merged whatever lay in between).
            let labels = (
                0..=len,
                0..30usize,
                prop::collection::vec((0..40usize, 0..30usize), 0..3),
            )
                .prop_map(move |(start, len0, others)| {
                    let mut labels = vec![(start, (start + len0 % 8).min(len))];
                    for (delta, l) in others {
                        let s = (start + delta).min(len);
                        labels.push((s, (s + l % 6).min(len)));
                    }
                    labels
                });
            (Just(text), labels)
        })
    }

    proptest! {
        /// Excerpts change nothing miette prints about labels near each other.
        #[test]
        fn excerpts_render_like_the_whole_file((text, labels) in text_and_labels()) {
            let sources = sources(&text);
            let mut d = Diagnostic::new(Code::Syntax, at(labels[0].0, labels[0].1), "m").label("here");
            for &(s, e) in &labels[1..] {
                d = d.secondary(at(s, e), "there");
            }
            // Only when the labels' lines are within three of each other.
            let line = |o: usize| text[..o].matches('\n').count();
            let lines: Vec<usize> = labels.iter().flat_map(|&(s, e)| [line(s), line(e)]).collect();
            prop_assume!(lines.iter().max().unwrap() - lines.iter().min().unwrap() <= 3);
            let ours = human(std::slice::from_ref(&d), &sources, Style::Plain, 100);
            prop_assert_eq!(ours, whole_file(&d, &sources));
        }
    }

    /// D6: miette pads with `format!` widths, which panic past 65,535 columns.
    #[test]
    fn a_label_past_column_65535_renders_with_its_line_cut() {
        let text = format!(
            "plan x {{\n  description = \"{}\" bogus = 1\n}}\n",
            "é".repeat(40_000)
        );
        let start = text.find("bogus").unwrap();
        let d = Diagnostic::new(Code::UnknownField, at(start, start + 5), "unknown field")
            .label("unknown here")
            .secondary(at(11, 22), "the long line's start");
        let out = human(&[d], &sources(&text), Style::Plain, 100);
        assert!(out.contains("[t.plan:2:40020]"), "{out}");
        let line = out.lines().find(|l| l.contains("bogus")).unwrap();
        assert!(line.contains("\"ééé") && line.contains('…'), "{out}");
        assert!(line.ends_with("ééé\" bogus = 1"), "{out}");
        assert!(out.contains("╰── unknown here"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() < 400), "{out}");
    }

    /// Work, not time: a report reads only the lines around its labels, wherever they are in
    /// the file, so rendering n diagnostics is linear in n.
    #[test]
    fn a_report_reads_only_the_lines_around_its_labels() {
        let text = "  port = 8000\n".repeat(100_000);
        let sources = sources(&text);
        let indexes = Indexes::new(&sources);
        let start = text.len() - 10;
        let (excerpt, spans) =
            Excerpt::new(indexes.get(FileId(0)), &[at(start, start + 4), at(14, 18)]);
        assert_eq!(excerpt.text.len(), 5 * 14, "{excerpt:?}");
        assert_eq!(excerpt.chunks.len(), 2);
        assert_eq!(
            &excerpt.text[spans[0].0..spans[0].1],
            &text[start..start + 4]
        );
        let out = human(
            &[Diagnostic::new(Code::Syntax, at(start, start + 4), "m")
                .secondary(at(14, 18), "first")],
            &sources,
            Style::Plain,
            100,
        );
        assert!(
            out.contains("[t.plan:100000:5]") && out.contains(" 99999 │   port = 8000"),
            "{out}"
        );
    }

    #[test]
    fn line_index_counts_like_the_source_file() {
        let text = format!("ab\ncé d\n{}x\n", "𝄞é".repeat(300));
        let file = SourceFile::new("x", text.clone());
        let index = LineIndex::new(&file);
        for offset in 0..=text.len() + 2 {
            assert_eq!(index.line_col(offset), file.line_col(offset), "at {offset}");
        }
    }
}
