//! The formatter: one canonical layout for `.plan` files, comments kept.
//!
//! Layout: two-space indentation; one entry per line; the `=` of consecutive attributes aligned;
//! a block whose body is one attribute, or conditions joined by `and`, stays on one line when it
//! fits in 100 columns; at most one blank line where the source had blank lines, and one between
//! top-level blocks. Literals are printed as written (`60m` stays `60m`): the formatter changes
//! layout, never meaning. `parse(format(x)) == parse(x)` and `format(format(x)) == format(x)`,
//! both checked by tests.
//!
//! The formatter walks the lossless syntax tree. Comments are tokens of that tree; each is
//! re-attached by position, either on its own line before the next node or at the end of the
//! line of the node it follows.

use crate::diag::Diagnostic;
use crate::source::FileId;
use crate::syntax::tree::{SyntaxKind as K, SyntaxNode, SyntaxTree};

const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Formats `text`, or returns its syntax errors.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let parse = crate::syntax::parse_file(FileId(0), text);
    if parse.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(parse.diagnostics);
    }
    let mut f = Formatter {
        text,
        comments: comments(&parse.tree),
        next_comment: 0,
        out: String::new(),
    };
    f.file(parse.tree.root());
    if text.starts_with(crate::source::BOM) {
        // An editor's byte-order mark stays where it was.
        f.out.insert_str(0, crate::source::BOM);
    }
    Ok(f.out)
}

#[derive(Debug, Clone, Copy)]
struct Comment {
    start: usize,
    end: usize,
    /// Code precedes it on its line.
    trailing: bool,
}

/// The tree's comments, in order.
fn comments(tree: &SyntaxTree) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut line_has_code = false;
    for token in tree.tokens() {
        match token.kind() {
            K::Whitespace if token.text().contains('\n') => line_has_code = false,
            K::Whitespace => {}
            K::Comment => out.push(Comment {
                start: token.start(),
                end: token.end(),
                trailing: line_has_code,
            }),
            _ => line_has_code = true,
        }
    }
    out
}

/// An entry of a block's body. Conditions joined by `and` are one entry.
#[derive(Clone, Copy)]
enum Entry<'t> {
    Attribute(SyntaxNode<'t>),
    Block(SyntaxNode<'t>),
    Conditions(SyntaxNode<'t>),
}

impl<'t> Entry<'t> {
    fn node(self) -> SyntaxNode<'t> {
        match self {
            Entry::Attribute(n) | Entry::Block(n) | Entry::Conditions(n) => n,
        }
    }

    fn start(self) -> usize {
        self.node().start()
    }

    fn end(self) -> usize {
        self.node().end()
    }

    /// An attribute without an override block: these align their `=`.
    fn is_single_attribute(self) -> bool {
        matches!(self, Entry::Attribute(a) if a.child(K::Body).is_none())
    }
}

fn entries(body: SyntaxNode<'_>) -> Vec<Entry<'_>> {
    body.parts()
        .filter_map(|n| match n.kind() {
            K::Attribute => Some(Entry::Attribute(n)),
            K::Block => Some(Entry::Block(n)),
            K::Conditions => Some(Entry::Conditions(n)),
            _ => None,
        })
        .collect()
}

/// The text of the first child of a kind, or "".
fn text_of<'t>(node: SyntaxNode<'t>, kind: K) -> &'t str {
    node.child(kind).map_or("", |c| c.text())
}

struct Formatter<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: String,
}

impl Formatter<'_> {
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

    fn file(&mut self, root: SyntaxNode<'_>) {
        let items: Vec<SyntaxNode<'_>> = root.parts().collect();
        let const_width = self.const_alignment(&items);
        let mut prev: Option<(usize, bool)> = None; // (end, was a block)
        for (n, &item) in items.iter().enumerate() {
            let (start, end) = (item.start(), item.end());
            let is_block = item.kind() == K::Block;
            if let Some((prev_end, prev_block)) = prev {
                let blank = self.blank_between(prev_end, self.first_comment_or(start, prev_end));
                if (blank || is_block || prev_block) && !self.out.ends_with("\n\n") {
                    self.out.push('\n');
                }
            }
            self.comments_before_node(start, 0);
            match item.kind() {
                K::UseDecl => {
                    let text = format!("use {}", text_of(item, K::ModulePath));
                    self.line(0, &text, end);
                }
                K::ConstDecl => {
                    let text = format!(
                        "const {} = {}",
                        pad(text_of(item, K::Ident), const_width[n]),
                        item.child(K::Value).map(value).unwrap_or_default()
                    );
                    self.line(0, &text, end);
                }
                _ => self.block(item, 0),
            }
            prev = Some((end, is_block));
        }
        self.comments_before(self.text.len() + 1, 0);
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
    }

    /// Consecutive constants align their `=`, like attributes.
    fn const_alignment(&self, items: &[SyntaxNode<'_>]) -> Vec<usize> {
        let mut widths = vec![0; items.len()];
        let mut run: Vec<usize> = Vec::new();
        let mut flush = |run: &mut Vec<usize>| {
            let width = run
                .iter()
                .map(|&j| text_of(items[j], K::Ident).len())
                .max()
                .unwrap_or(0);
            for &j in run.iter() {
                widths[j] = width;
            }
            run.clear();
        };
        let (mut prev_start, mut prev_end) = (0, 0);
        for (j, item) in items.iter().enumerate() {
            if item.kind() != K::ConstDecl {
                flush(&mut run);
                continue;
            }
            let start = item.start();
            let gap = &self.text[prev_start.min(start)..start];
            if run.is_empty() || self.blank_between(prev_end, start) || gap.contains('#') {
                flush(&mut run);
            }
            run.push(j);
            prev_start = start;
            prev_end = item.end();
        }
        flush(&mut run);
        widths
    }

    fn first_comment_or(&self, start: usize, after: usize) -> usize {
        self.comments[self.next_comment..]
            .iter()
            .find(|c| c.start >= after && c.start < start && !c.trailing)
            .map_or(start, |c| c.start)
    }

    fn block(&mut self, b: SyntaxNode<'_>, indent: usize) {
        let mut header = text_of(b, K::Ident).to_string();
        if let Some(label) = b.child(K::BlockLabel) {
            header.push(' ');
            header.push_str(text_of(label, K::Ident));
        }
        if b.child(K::Keyword).is_some() {
            header.push_str(" when");
        }
        let end = b.end();
        let Some(body) = b.child(K::Body) else {
            return;
        };
        // Top-level blocks are always laid out over lines.
        let one = if indent == 0 {
            None
        } else {
            self.one_line(body, indent, header.len())
        };
        if let Some(one) = one {
            let text = format!("{header} {one}");
            self.line(indent, &text, end);
            return;
        }
        let text = format!("{header} {{");
        self.line(indent, &text, body.start() + 1);
        self.body(body, indent + 1);
        self.comments_before(body.end() - 1, indent + 1);
        self.line(indent, "}", end);
    }

    /// `{ entry }` when the body is one attribute or a chain of joined conditions, has no
    /// comments, and fits.
    fn one_line(&self, body: SyntaxNode<'_>, indent: usize, used: usize) -> Option<String> {
        if self.has_comment_in(body.start(), body.end()) {
            return None;
        }
        let inner = match entries(body).as_slice() {
            [] => return Some("{ }".into()),
            [Entry::Attribute(a)] if a.child(K::Body).is_none() => attribute_text(*a, 0),
            [Entry::Conditions(c)] => conditions_text(*c),
            _ => return None,
        };
        let text = format!("{{ {inner} }}");
        (INDENT.len() * indent + used + 1 + text.len() <= WIDTH).then_some(text)
    }

    fn body(&mut self, body: SyntaxNode<'_>, indent: usize) {
        let entries = entries(body);
        // Runs of consecutive single-line attributes align their `=`.
        let widths = self.alignment(&entries);
        let mut prev_end: Option<usize> = None;
        for (i, &entry) in entries.iter().enumerate() {
            let start = entry.start();
            if let Some(p) = prev_end {
                if self.blank_between(p, self.first_comment_or(start, p))
                    && !self.out.ends_with("\n\n")
                {
                    self.out.push('\n');
                }
            }
            self.comments_before_node(start, indent);
            match entry {
                Entry::Attribute(a) => match a.child(K::Body) {
                    Some(overrides) => {
                        let head = format!(
                            "{} = {}",
                            key(a, widths[i]),
                            a.child(K::Value).map(value).unwrap_or_default()
                        );
                        if let Some(one) = self.one_line(overrides, indent, head.len()) {
                            let text = format!("{head} {one}");
                            self.line(indent, &text, a.end());
                        } else {
                            let text = format!("{head} {{");
                            self.line(indent, &text, overrides.start() + 1);
                            self.body(overrides, indent + 1);
                            self.comments_before(overrides.end() - 1, indent + 1);
                            self.line(indent, "}", a.end());
                        }
                    }
                    None => {
                        let text = attribute_text(a, widths[i]);
                        self.line(indent, &text, a.end());
                    }
                },
                Entry::Block(b) => self.block(b, indent),
                // A chain joined by `and` in the source stays on one line.
                Entry::Conditions(c) => {
                    let text = conditions_text(c);
                    self.line(indent, &text, c.end());
                }
            }
            prev_end = Some(entry.end());
        }
    }

    /// For each entry, the key width its `=` aligns to (0 when it is not in a run).
    fn alignment(&self, entries: &[Entry<'_>]) -> Vec<usize> {
        let mut widths = vec![0; entries.len()];
        let mut run: Vec<usize> = Vec::new();
        let flush = |run: &mut Vec<usize>, widths: &mut Vec<usize>| {
            let width = run.iter().map(|&j| key_len(entries[j])).max().unwrap_or(0);
            for &j in run.iter() {
                widths[j] = width;
            }
            run.clear();
        };
        for (j, &entry) in entries.iter().enumerate() {
            let single = entry.is_single_attribute();
            // A comment anywhere from the previous entry on (inside it too: it is printed after
            // it) separates the two, as a blank line does.
            let contiguous = run.last().is_none_or(|&p| {
                let prev = entries[p];
                let (from, to) = (prev.end(), entry.start());
                !self.blank_between(from, to) && !self.text[prev.start()..to].contains('#')
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
}

/// `key` or `key qualifier`, padded to `width`.
fn key(a: SyntaxNode<'_>, width: usize) -> String {
    let key = match a.child(K::Qualifier) {
        Some(q) => format!("{} {}", text_of(a, K::Ident), text_of(q, K::Ident)),
        None => text_of(a, K::Ident).to_string(),
    };
    pad(&key, width)
}

fn key_len(entry: Entry<'_>) -> usize {
    match entry {
        Entry::Attribute(a) => {
            text_of(a, K::Ident).len()
                + a.child(K::Qualifier)
                    .map_or(0, |q| text_of(q, K::Ident).len() + 1)
        }
        _ => 0,
    }
}

fn attribute_text(a: SyntaxNode<'_>, width: usize) -> String {
    format!(
        "{} = {}",
        key(a, width),
        a.child(K::Value).map(value).unwrap_or_default()
    )
}

fn conditions_text(conditions: SyntaxNode<'_>) -> String {
    conditions
        .parts()
        .filter(|c| c.kind() == K::Condition)
        .map(condition)
        .collect::<Vec<_>>()
        .join(" and ")
}

fn condition(c: SyntaxNode<'_>) -> String {
    let mut text = String::new();
    for part in c.parts() {
        match part.kind() {
            K::Comparison => {
                let metric = part.child(K::Metric);
                text.push_str(metric.map_or("", |m| text_of(m, K::Ident)));
                if let Some(q) = metric.and_then(|m| m.child(K::Quantile)) {
                    text.push(' ');
                    text.push_str(q.text());
                }
                text.push(' ');
                text.push_str(text_of(part, K::CmpOp));
                text.push(' ');
                text.push_str(&part.child(K::Value).map(value).unwrap_or_default());
            }
            K::Within => {
                text.push_str("all metrics within ");
                text.push_str(&part.child(K::Value).map(value).unwrap_or_default());
                text.push_str(" of ");
                text.push_str(text_of(part, K::RatioBase));
            }
            K::Approval => {
                text.push_str("approval ");
                text.push_str(text_of(part, K::String));
            }
            K::Window => {
                text.push_str(" for ");
                text.push_str(&part.child(K::Value).map(value).unwrap_or_default());
            }
            _ => {}
        }
    }
    text
}

/// A value in canonical spacing; literals as written.
fn value(v: SyntaxNode<'_>) -> String {
    let sides: Vec<String> = v.parts().map(literal).collect();
    sides.join(" -> ")
}

fn literal(node: SyntaxNode<'_>) -> String {
    match node.kind() {
        K::Call => {
            let mut parts = node.parts();
            let name = parts.next().map_or("", |n| n.text());
            let args: Vec<String> = parts
                .map(|a| {
                    let value = a.child(K::Value).map(value).unwrap_or_default();
                    match a.child(K::Ident) {
                        Some(n) => format!("{}: {value}", n.text()),
                        None => value,
                    }
                })
                .collect();
            format!("{name}({})", args.join(", "))
        }
        K::List => {
            let items: Vec<String> = node.parts().map(value).collect();
            format!("[{}]", items.join(", "))
        }
        K::Ratio => {
            let factor = text_of(node, K::RatioFactor);
            match node.child(K::RatioBase) {
                Some(b) => format!("{factor} {}", b.text()),
                None => factor.to_string(),
            }
        }
        _ => node.text().to_string(),
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
