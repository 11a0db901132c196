//! The formatter: one canonical layout for `.plan` files, comments kept.
//!
//! Layout: two-space indentation; one entry per line; the `=` of consecutive attributes aligned;
//! a block whose body is one attribute, or conditions joined by `and`, stays on one line when it
//! fits in 100 columns; at most one blank line where the source had blank lines, and one between
//! top-level blocks. Literals are printed as written (`60m` stays `60m`): the formatter changes
//! layout, never meaning. `parse(format(x)) == parse(x)` and `format(format(x)) == format(x)`,
//! both checked by tests.
//!
//! Comments are not in the AST: they are collected from the text and re-attached by position,
//! each either on its own line before the next node or at the end of the line of the node it
//! follows.

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::ast::*;

const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Formats `text`, or returns its syntax errors.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diagnostics) = crate::syntax::parse(FileId(0), text);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let mut f = Formatter {
        text,
        comments: comments(text),
        next_comment: 0,
        out: String::new(),
    };
    f.file(&file);
    Ok(f.out)
}

#[derive(Debug, Clone, Copy)]
struct Comment {
    start: usize,
    end: usize,
    /// Code precedes it on its line.
    trailing: bool,
}

/// Every `#` comment outside strings.
fn comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let (mut i, mut in_string, mut line_has_code) = (0, false, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => {
                    in_string = true;
                    line_has_code = true;
                }
                b'#' => {
                    let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                    out.push(Comment {
                        start: i,
                        end,
                        trailing: line_has_code,
                    });
                    i = end;
                    continue;
                }
                b'\n' => line_has_code = false,
                b' ' | b'\t' | b'\r' => {}
                _ => line_has_code = true,
            }
        }
        i += 1;
    }
    out
}

struct Formatter<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
}

impl Formatter<'_> {
    fn slice(&self, span: Span) -> &str {
        self.text.get(span.range()).unwrap_or("")
    }

    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: usize, to: usize) -> bool {
        let gap = self.text.get(from.min(to)..to).unwrap_or("");
        let segments: Vec<&str> = gap.split('\n').collect();
        segments.len() > 2
            && segments[1..segments.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    fn has_comment_in(&self, from: usize, to: usize) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .any(|c| c.start >= from && c.start < to)
    }

    /// Writes the comments that start before `pos` on their own lines; keeps a blank line
    /// between the last of them and the node at `pos` when the source had one.
    fn comments_before_node(&mut self, pos: usize, indent: usize) {
        let before = self.next_comment;
        self.comments_before(pos, indent);
        if self.next_comment > before {
            let last = self.comments[self.next_comment - 1];
            if !last.trailing && self.blank_between(last.end, pos) {
                self.out.push('\n');
            }
        }
    }

    /// Writes the comments that start before `pos` on their own lines.
    fn comments_before(&mut self, pos: usize, indent: usize) {
        while let Some(c) = self.comments.get(self.next_comment).copied() {
            if c.start >= pos {
                break;
            }
            self.next_comment += 1;
            let text = self.text[c.start..c.end].trim_end().to_string();
            if c.trailing && !self.out.ends_with('\n') && !self.out.is_empty() {
                self.out.push_str("  ");
                self.out.push_str(&text);
                self.out.push('\n');
                continue;
            }
            if !self.out.ends_with('\n') && !self.out.is_empty() {
                self.out.push('\n');
            }
            // Keep one blank line above a comment that had one.
            let prev_end = self.text[..c.start].trim_end().len();
            let after_open =
                self.out.ends_with("{\n") || self.out.ends_with("\n\n") || self.out.is_empty();
            if !after_open && self.blank_between(prev_end, c.start) {
                self.out.push('\n');
            }
            self.out.push_str(&INDENT.repeat(indent));
            self.out.push_str(&text);
            self.out.push('\n');
        }
    }

    /// A comment at the end of the line where `end` is, written after the code just printed.
    fn trailing_comment(&mut self, end: usize) {
        let line_end = self.text[end..]
            .find('\n')
            .map_or(self.text.len(), |n| end + n);
        if let Some(c) = self.comments.get(self.next_comment).copied() {
            if c.trailing && c.start >= end && c.start < line_end {
                self.next_comment += 1;
                self.out.push_str("  ");
                self.out.push_str(self.text[c.start..c.end].trim_end());
            }
        }
    }

    fn line(&mut self, indent: usize, text: &str, end: usize) {
        self.out.push_str(&INDENT.repeat(indent));
        self.out.push_str(text);
        self.trailing_comment(end);
        self.out.push('\n');
    }

    fn file(&mut self, file: &File) {
        let const_width = self.const_alignment(file);
        let mut prev: Option<(usize, bool)> = None; // (end, was a block)
        for (n, item) in file.items.iter().enumerate() {
            let (start, end, is_block) = match item {
                Item::Use(path) => (path.span.start as usize, path.span.end as usize, false),
                Item::Const { name, value } => (
                    self.item_start(name.span.start as usize, "const"),
                    value.span.end as usize,
                    false,
                ),
                Item::Block(b) => (b.span.start as usize, b.span.end as usize, true),
            };
            let start = match item {
                Item::Use(_) => self.item_start(start, "use"),
                _ => start,
            };
            if let Some((prev_end, prev_block)) = prev {
                let blank = self.blank_between(prev_end, self.first_comment_or(start, prev_end));
                if (blank || is_block || prev_block) && !self.out.ends_with("\n\n") {
                    self.out.push('\n');
                }
            }
            self.comments_before_node(start, 0);
            match item {
                Item::Use(path) => {
                    let text = format!("use {}", self.slice(path.span));
                    self.line(0, &text, end);
                }
                Item::Const { name, value } => {
                    let width = const_width[n];
                    let text = format!("const {} = {}", pad(&name.value, width), self.value(value));
                    self.line(0, &text, end);
                }
                Item::Block(b) => self.block(b, 0),
            }
            prev = Some((end, is_block));
        }
        self.comments_before(self.text.len() + 1, 0);
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
    }

    /// Consecutive constants align their `=`, like attributes.
    fn const_alignment(&self, file: &File) -> Vec<usize> {
        let mut widths = vec![0; file.items.len()];
        let mut run: Vec<usize> = Vec::new();
        let mut flush = |run: &mut Vec<usize>| {
            let width = run
                .iter()
                .filter_map(|&j| match &file.items[j] {
                    Item::Const { name, .. } => Some(name.value.len()),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            for &j in run.iter() {
                widths[j] = width;
            }
            run.clear();
        };
        let (mut prev_start, mut prev_end) = (0, 0);
        for (j, item) in file.items.iter().enumerate() {
            match item {
                Item::Const { name, value } => {
                    let start = self.item_start(name.span.start as usize, "const");
                    let gap = &self.text[prev_start.min(start)..start];
                    if run.is_empty() || self.blank_between(prev_end, start) || gap.contains('#') {
                        flush(&mut run);
                    }
                    run.push(j);
                    prev_start = start;
                    prev_end = value.span.end as usize;
                }
                _ => flush(&mut run),
            }
        }
        flush(&mut run);
        widths
    }

    /// Where a keyword-led item starts (the AST spans start at the name).
    fn item_start(&self, name_start: usize, keyword: &str) -> usize {
        self.text[..name_start].rfind(keyword).unwrap_or(name_start)
    }

    fn first_comment_or(&self, start: usize, after: usize) -> usize {
        self.comments[self.next_comment..]
            .iter()
            .find(|c| c.start >= after && c.start < start && !c.trailing)
            .map_or(start, |c| c.start)
    }

    fn header(&self, b: &Block) -> String {
        let mut h = b.keyword.value.clone();
        if let Some(l) = &b.label {
            h.push(' ');
            h.push_str(&l.value);
        }
        if b.when {
            h.push_str(" when");
        }
        h
    }

    fn block(&mut self, b: &Block, indent: usize) {
        let header = self.header(b);
        let end = b.span.end as usize;
        // Top-level blocks are always laid out over lines.
        let one = if indent == 0 {
            None
        } else {
            self.one_line(&b.body, indent, header.len())
        };
        if let Some(one) = one {
            let text = format!("{header} {one}");
            self.line(indent, &text, end);
            return;
        }
        let open = b.body.span.start as usize + 1;
        let text = format!("{header} {{");
        self.line(indent, &text, open);
        self.body(&b.body, indent + 1);
        self.comments_before(b.body.span.end as usize - 1, indent + 1);
        self.line(indent, "}", end);
    }

    /// `{ entry }` when the body is one attribute or a chain of joined conditions, has no
    /// comments, and fits.
    fn one_line(&self, body: &Body, indent: usize, used: usize) -> Option<String> {
        if self.has_comment_in(body.span.start as usize, body.span.end as usize) {
            return None;
        }
        let inner = match body.entries.as_slice() {
            [] => return Some("{ }".into()),
            [Entry::Attribute(a)] if a.overrides.is_none() => self.attribute_text(a, 0),
            entries if entries.iter().all(|e| matches!(e, Entry::Condition(_))) => {
                let conditions: Vec<&Condition> = entries
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Condition(c) => Some(c),
                        _ => None,
                    })
                    .collect();
                if conditions.iter().skip(1).any(|c| !c.joined) {
                    return None;
                }
                conditions
                    .iter()
                    .map(|c| self.condition(c))
                    .collect::<Vec<_>>()
                    .join(" and ")
            }
            _ => return None,
        };
        let text = format!("{{ {inner} }}");
        (INDENT.len() * indent + used + 1 + text.len() <= WIDTH).then_some(text)
    }

    fn body(&mut self, body: &Body, indent: usize) {
        // Runs of consecutive single-line attributes align their `=`.
        let widths = self.alignment(body);
        let mut prev_end: Option<usize> = None;
        let mut i = 0;
        while i < body.entries.len() {
            let entry = &body.entries[i];
            let start = entry_start(entry, self.text);
            if let Some(p) = prev_end {
                if self.blank_between(p, self.first_comment_or(start, p))
                    && !self.out.ends_with("\n\n")
                {
                    self.out.push('\n');
                }
            }
            self.comments_before_node(start, indent);
            match entry {
                Entry::Attribute(a) => {
                    let key_width = widths[i];
                    match &a.overrides {
                        Some(overrides) => {
                            let head =
                                format!("{} = {}", self.key(a, key_width), self.value(&a.value));
                            if let Some(one) = self.one_line(overrides, indent, head.len()) {
                                let text = format!("{head} {one}");
                                self.line(indent, &text, a.span.end as usize);
                            } else {
                                let text = format!("{head} {{");
                                self.line(indent, &text, overrides.span.start as usize + 1);
                                self.body(overrides, indent + 1);
                                self.comments_before(overrides.span.end as usize - 1, indent + 1);
                                self.line(indent, "}", a.span.end as usize);
                            }
                        }
                        None => {
                            let text = self.attribute_text(a, key_width);
                            self.line(indent, &text, a.span.end as usize);
                        }
                    }
                }
                Entry::Block(b) => self.block(b, indent),
                Entry::Condition(c) => {
                    // A chain joined by `and` in the source stays on one line.
                    let mut chain = vec![self.condition(c)];
                    let mut end = c.span.end as usize;
                    while let Some(Entry::Condition(next)) = body.entries.get(i + 1) {
                        if !next.joined {
                            break;
                        }
                        chain.push(self.condition(next));
                        end = next.span.end as usize;
                        i += 1;
                    }
                    let text = chain.join(" and ");
                    self.line(indent, &text, end);
                }
            }
            prev_end = Some(entry_end(&body.entries[i]));
            i += 1;
        }
    }

    /// For each entry, the key width its `=` aligns to (0 when it is not in a run).
    fn alignment(&self, body: &Body) -> Vec<usize> {
        let mut widths = vec![0; body.entries.len()];
        let mut run: Vec<usize> = Vec::new();
        let flush = |run: &mut Vec<usize>, widths: &mut Vec<usize>| {
            let width = run
                .iter()
                .map(|&j| key_len(&body.entries[j]))
                .max()
                .unwrap_or(0);
            for &j in run.iter() {
                widths[j] = width;
            }
            run.clear();
        };
        for (j, entry) in body.entries.iter().enumerate() {
            let single = matches!(entry, Entry::Attribute(a) if a.overrides.is_none());
            // A comment anywhere from the previous entry on (inside it too: it is printed after
            // it) separates the two, as a blank line does.
            let contiguous = run.last().is_none_or(|&p| {
                let prev = &body.entries[p];
                let (from, to) = (entry_end(prev), entry_start(entry, self.text));
                !self.blank_between(from, to)
                    && !self.text[entry_start(prev, self.text)..to].contains('#')
            });
            if !single || !contiguous {
                flush(&mut run, &mut widths);
            }
            if single {
                run.push(j);
            }
        }
        flush(&mut run, &mut widths);
        widths
    }

    fn key(&self, a: &Attribute, width: usize) -> String {
        let key = match &a.qualifier {
            Some(q) => format!("{} {}", a.key.value, q.value),
            None => a.key.value.clone(),
        };
        pad(&key, width)
    }

    fn attribute_text(&self, a: &Attribute, width: usize) -> String {
        format!("{} = {}", self.key(a, width), self.value(&a.value))
    }

    fn condition(&self, c: &Condition) -> String {
        let mut text = match &c.kind {
            ConditionKind::Compare {
                metric,
                quantile,
                op,
                value,
            } => {
                let q = quantile
                    .as_ref()
                    .map(|q| format!(" {}", self.slice(q.span)))
                    .unwrap_or_default();
                format!(
                    "{}{q} {} {}",
                    metric.value,
                    op.value.as_str(),
                    self.value(value)
                )
            }
            ConditionKind::Within { tolerance, base } => {
                format!(
                    "all metrics within {} of {}",
                    self.value(tolerance),
                    self.slice(base.span)
                )
            }
            ConditionKind::Approval { text } => format!("approval {}", self.slice(text.span)),
        };
        if let Some(w) = &c.window {
            text.push_str(" for ");
            text.push_str(&self.value(w));
        }
        text
    }

    fn value(&self, v: &Value) -> String {
        match &v.value {
            ValueKind::Arrow(a, b) => format!("{} -> {}", self.value(a), self.value(b)),
            ValueKind::Call { name, args } => {
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match &a.name {
                        Some(n) => format!("{}: {}", n.value, self.value(&a.value)),
                        None => self.value(&a.value),
                    })
                    .collect();
                format!("{}({})", name.value, args.join(", "))
            }
            ValueKind::List(items) => {
                let items: Vec<String> = items.iter().map(|i| self.value(i)).collect();
                format!("[{}]", items.join(", "))
            }
            ValueKind::Ratio { base, .. } => {
                let text = self.slice(v.span);
                let factor = text.split_whitespace().next().unwrap_or(text);
                match base {
                    Some(b) => format!("{factor} {}", self.slice(b.span)),
                    None => factor.to_string(),
                }
            }
            _ => self.slice(v.span).to_string(),
        }
    }
}

/// `text` followed by spaces up to `width` characters. Not `format!("{text:<width$}")`: a
/// format width above 65,535 panics, and a key can be that long.
fn pad(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(width.max(text.len()));
    out.push_str(text);
    out.extend(std::iter::repeat_n(
        ' ',
        width.saturating_sub(text.chars().count()),
    ));
    out
}

fn key_len(entry: &Entry) -> usize {
    match entry {
        Entry::Attribute(a) => {
            a.key.value.len() + a.qualifier.as_ref().map_or(0, |q| q.value.len() + 1)
        }
        _ => 0,
    }
}

fn entry_start(entry: &Entry, _text: &str) -> usize {
    match entry {
        Entry::Attribute(a) => a.span.start as usize,
        Entry::Block(b) => b.span.start as usize,
        Entry::Condition(c) => c.span.start as usize,
    }
}

fn entry_end(entry: &Entry) -> usize {
    match entry {
        Entry::Attribute(a) => a.span.end as usize,
        Entry::Block(b) => b.span.end as usize,
        Entry::Condition(c) => c.span.end as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        format(text).expect("parses")
    }

    #[test]
    fn lays_out_blocks_and_aligns_attributes() {
        let input = "plan x{python=2.7->3.13\ninfra=kubernetes( router:istio )\nservice{port=8000 health=\"/h\"}\nroute{sticky=cookie( \"c\" )}}";
        let expected = "plan x {\n  python = 2.7 -> 3.13\n  infra  = kubernetes(router: istio)\n  service {\n    port   = 8000\n    health = \"/h\"\n  }\n  route { sticky = cookie(\"c\") }\n}\n";
        assert_eq!(fmt(input), expected);
        assert_eq!(fmt(expected), expected);
    }

    #[test]
    fn keeps_comments_where_they_were() {
        let input = "# top\nuse std.schedules.standard  # why\n\n# the plan\nplan x {\n  # inside\n  python = 2.7 -> 3.13 # trailing\n\n  schedule = standard\n  # last\n}\n";
        let out = fmt(input);
        assert_eq!(out, input.replace(" # trailing", "  # trailing"));
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn joined_conditions_stay_joined() {
        let input = "schedule s {\n  stage a {\n    traffic = 5%\n    hold = 1h\n    success when { error_rate < 1% and latency p99 < 2x py2 }\n  }\n}\n";
        let out = fmt(input);
        assert!(
            out.contains("success when { error_rate < 1% and latency p99 < 2x py2 }"),
            "{out}"
        );
        assert!(
            out.contains("    traffic = 5%\n    hold    = 1h\n"),
            "{out}"
        );
    }

    /// A format width above 65,535 panics; keys and constants can be longer than that.
    #[test]
    fn aligns_keys_longer_than_a_format_width() {
        let long = "k".repeat(70_000);
        let input =
            format!("const {long} = 1\nconst b = 2\nplan x {{\n  {long} = 1\n  b = 2\n}}\n");
        let out = fmt(&input);
        assert!(out.contains(&format!("  {long} = 1\n  b{} = 2\n", " ".repeat(69_999))));
        assert!(out.contains(&format!("const b{} = 2\n", " ".repeat(69_999))));
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn refuses_broken_files() {
        assert!(format("plan {").is_err());
    }
}
