//! Lowers the syntax tree into the span-carrying AST, decoding literals (durations to
//! milliseconds, `p99.9` to per-mille, string escapes) and reporting literals that parse but
//! mean nothing (CNR002: `2026-02-30`, `"\q"`). Error nodes lower to nothing.

use super::ast::*;
use super::tree::{SyntaxKind as K, SyntaxNode};
use crate::date::Date;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span, Spanned};

/// The AST of a tree's items, and the CNR002 diagnostics of its literals.
pub(super) fn lower(file: FileId, root: SyntaxNode<'_>) -> (File, Vec<Diagnostic>) {
    let mut lowerer = Lowerer {
        file,
        diagnostics: Vec::new(),
    };
    let items = lowerer.items(root);
    (File { items }, lowerer.diagnostics)
}

struct Lowerer {
    file: FileId,
    diagnostics: Vec<Diagnostic>,
}

impl Lowerer {
    fn span(&self, node: &SyntaxNode<'_>) -> Span {
        Span::new(self.file, node.start(), node.end())
    }

    fn ident(&self, node: SyntaxNode<'_>) -> Ident {
        Spanned::new(node.text().to_string(), self.span(&node))
    }

    fn items(&mut self, root: SyntaxNode<'_>) -> Vec<Item> {
        let mut items = Vec::new();
        for item in root.parts() {
            match item.kind() {
                K::UseDecl => {
                    if let Some(path) = item.child(K::ModulePath) {
                        let segments = path
                            .parts()
                            .filter(|s| s.kind() == K::Ident)
                            .map(|s| self.ident(s))
                            .collect();
                        items.push(Item::Use(Spanned::new(segments, self.span(&path))));
                    }
                }
                K::ConstDecl => {
                    if let (Some(name), Some(value)) = (item.child(K::Ident), item.child(K::Value))
                    {
                        let name = self.ident(name);
                        let value = self.value(value);
                        items.push(Item::Const { name, value });
                    }
                }
                K::Block => items.push(Item::Block(self.block(item))),
                _ => {}
            }
        }
        items
    }

    fn block(&mut self, node: SyntaxNode<'_>) -> Block {
        let span = self.span(&node);
        let mut keyword = None;
        let mut label = None;
        let mut when = false;
        let mut body = Body::default();
        for part in node.parts() {
            match part.kind() {
                K::Ident => keyword = Some(self.ident(part)),
                K::BlockLabel => label = part.child(K::Ident).map(|p| self.ident(p)),
                K::Keyword => when = true,
                K::Body => body = self.body(part),
                _ => {}
            }
        }
        Block {
            keyword: keyword.unwrap_or_else(|| Spanned::new(String::new(), span)),
            label,
            when,
            body,
            span: SpanIgnored(span),
        }
    }

    fn body(&mut self, node: SyntaxNode<'_>) -> Body {
        let mut entries = Vec::new();
        for entry in node.parts() {
            match entry.kind() {
                K::Attribute => entries.push(Entry::Attribute(self.attribute(entry))),
                K::Block => entries.push(Entry::Block(self.block(entry))),
                K::Conditions => {
                    for (n, c) in entry
                        .parts()
                        .filter(|p| p.kind() == K::Condition)
                        .enumerate()
                    {
                        entries.push(Entry::Condition(self.condition(c, n > 0)));
                    }
                }
                _ => {}
            }
        }
        Body {
            entries,
            span: SpanIgnored(self.span(&node)),
        }
    }

    fn attribute(&mut self, node: SyntaxNode<'_>) -> Attribute {
        let span = self.span(&node);
        let mut key = None;
        let mut qualifier = None;
        let mut value = None;
        let mut overrides = None;
        for part in node.parts() {
            match part.kind() {
                K::Ident => key = Some(self.ident(part)),
                K::Qualifier => qualifier = part.child(K::Ident).map(|p| self.ident(p)),
                K::Value => value = Some(self.value(part)),
                K::Body => overrides = Some(self.body(part)),
                _ => {}
            }
        }
        Attribute {
            key: key.unwrap_or_else(|| Spanned::new(String::new(), span)),
            qualifier,
            value: value.unwrap_or_else(|| Spanned::new(ValueKind::List(Vec::new()), span)),
            overrides,
            span: SpanIgnored(span),
        }
    }

    fn condition(&mut self, node: SyntaxNode<'_>, joined: bool) -> Condition {
        let span = self.span(&node);
        let mut kind = None;
        let mut window = None;
        for part in node.parts() {
            match part.kind() {
                K::Comparison => kind = Some(self.comparison(part)),
                K::Within => {
                    let tolerance = part.child(K::Value).map(|v| self.value(v));
                    let base = part.child(K::RatioBase).map(|b| self.ratio_base(&b));
                    if let (Some(tolerance), Some(base)) = (tolerance, base) {
                        kind = Some(ConditionKind::Within { tolerance, base });
                    }
                }
                K::Approval => {
                    if let Some(s) = part.child(K::String) {
                        let text = self.string(s);
                        kind = Some(ConditionKind::Approval { text });
                    }
                }
                K::Window => window = part.child(K::Value).map(|v| self.value(v)),
                _ => {}
            }
        }
        Condition {
            kind: kind.unwrap_or(ConditionKind::Approval {
                text: Spanned::new(String::new(), span),
            }),
            window,
            span: SpanIgnored(span),
            joined,
        }
    }

    fn comparison(&mut self, node: SyntaxNode<'_>) -> ConditionKind {
        let span = self.span(&node);
        let mut metric = Spanned::new(String::new(), span);
        let mut quantile = None;
        let mut op = Spanned::new(CmpOp::Lt, span);
        let mut value = Spanned::new(ValueKind::List(Vec::new()), span);
        for part in node.parts() {
            match part.kind() {
                K::Metric => {
                    for p in part.parts() {
                        match p.kind() {
                            K::Ident => metric = self.ident(p),
                            K::Quantile => quantile = self.quantile(&p),
                            _ => {}
                        }
                    }
                }
                K::CmpOp => {
                    let o = match part.text() {
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        _ => CmpOp::Ge,
                    };
                    op = Spanned::new(o, self.span(&part));
                }
                K::Value => value = self.value(part),
                _ => {}
            }
        }
        ConditionKind::Compare {
            metric,
            quantile,
            op,
            value,
        }
    }

    /// `p99` is 990 per mille, `p99.9` is 999; a quantile must lie strictly between 0 and 100.
    fn quantile(&mut self, node: &SyntaxNode<'_>) -> Option<Spanned<Quantile>> {
        let span = self.span(node);
        let text = node.text().get(1..).unwrap_or("");
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let per_mille = whole
            .parse::<u32>()
            .ok()
            .filter(|_| frac.len() <= 1)
            .and_then(|w| w.checked_mul(10))
            .and_then(|w| w.checked_add(frac.parse::<u32>().unwrap_or(0)));
        match per_mille {
            Some(q) if q > 0 && q < 1000 => Some(Spanned::new(Quantile(q), span)),
            _ => {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        span,
                        format!("`{}` is not a quantile", node.text()),
                    )
                    .label("expected p1 to p99.9")
                    .help("write the percentile with at most one decimal, e.g. `p50`, `p99` or `p99.9`"),
                );
                None
            }
        }
    }

    fn ratio_base(&self, node: &SyntaxNode<'_>) -> Spanned<RatioBase> {
        let base = if node.text() == "py2" {
            RatioBase::Py2
        } else {
            RatioBase::Baseline
        };
        Spanned::new(base, self.span(node))
    }

    /// A literal, or two joined by `->` (`2.7 -> 3.13`).
    fn value(&mut self, node: SyntaxNode<'_>) -> Value {
        let span = self.span(&node);
        let mut sides = node.parts();
        let Some(first) = sides.next() else {
            return Spanned::new(ValueKind::List(Vec::new()), span);
        };
        let from = self.literal(first);
        match sides.next() {
            Some(second) => {
                let to = self.literal(second);
                let span = from.span.to(to.span);
                Spanned::new(ValueKind::Arrow(Box::new(from), Box::new(to)), span)
            }
            None => from,
        }
    }

    fn literal(&mut self, node: SyntaxNode<'_>) -> Value {
        let span = self.span(&node);
        let text = node.text();
        let kind = match node.kind() {
            K::Date => match Date::parse(text) {
                Some(date) => ValueKind::Date(date),
                None => {
                    self.invalid(
                        span,
                        format!("`{text}` is not a calendar date"),
                        "write a real date as YYYY-MM-DD, e.g. 2027-01-15",
                    );
                    ValueKind::String(text.to_string())
                }
            },
            K::Duration => match parse_duration(text) {
                Some(ms) => ValueKind::Duration(ms),
                None => {
                    self.invalid(
                        span,
                        format!("duration `{text}` is too long"),
                        "a duration must be shorter than a million years",
                    );
                    ValueKind::Duration(0)
                }
            },
            K::Size => match parse_size(text) {
                Some(bytes) => ValueKind::Size(bytes),
                None => {
                    self.invalid(
                        span,
                        format!("size `{text}` is too large"),
                        "sizes are limited to 16 EiB",
                    );
                    ValueKind::Size(0)
                }
            },
            K::Percent => ValueKind::Percent(parse_f64(&text[..text.len() - 1])),
            K::Rate => {
                let (number, unit) = text.split_once('/').unwrap_or((text, "s"));
                let per = match unit {
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => 1.0,
                };
                ValueKind::Rate(parse_f64(number) / per)
            }
            K::Ratio => {
                let mut factor = 0.0;
                let mut base = None;
                for p in node.parts() {
                    match p.kind() {
                        K::RatioFactor => factor = parse_f64(&p.text()[..p.text().len() - 1]),
                        K::RatioBase => base = Some(self.ratio_base(&p)),
                        _ => {}
                    }
                }
                ValueKind::Ratio { factor, base }
            }
            K::Number => ValueKind::Number {
                text: text.to_string(),
                value: parse_f64(text),
            },
            K::String => ValueKind::String(self.string(node).value),
            K::Ident => ValueKind::Ident(text.to_string()),
            K::Call => {
                let mut parts = node.parts();
                let name = parts.next().map(|p| self.ident(p));
                let args = parts.map(|a| self.argument(a)).collect();
                ValueKind::Call {
                    name: name.unwrap_or_else(|| Spanned::new(String::new(), span)),
                    args,
                }
            }
            K::List => ValueKind::List(node.parts().map(|v| self.value(v)).collect()),
            _ => ValueKind::List(Vec::new()),
        };
        Spanned::new(kind, span)
    }

    fn argument(&mut self, node: SyntaxNode<'_>) -> Argument {
        let name = node.child(K::Ident).map(|n| self.ident(n));
        let value = node.child(K::Value).map(|v| self.value(v));
        let span = name.as_ref().map(|n| n.span).unwrap_or_default();
        Argument {
            name,
            value: value.unwrap_or_else(|| Spanned::new(ValueKind::List(Vec::new()), span)),
        }
    }

    /// Decodes a string literal's escapes: `\"`, `\\`, `\n`, `\t`. Anything else is reported.
    fn string(&mut self, node: SyntaxNode<'_>) -> Spanned<String> {
        let span = self.span(&node);
        let raw = node.text();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((j, other)) => {
                    let start = span.start as usize + 1 + i;
                    let escape_span =
                        Span::new(self.file, start, start + (j - i) + other.len_utf8());
                    self.invalid(
                        escape_span,
                        format!("unknown escape `\\{other}` in a string"),
                        "the escapes are \\\" \\\\ \\n and \\t; write \\\\ for a backslash",
                    );
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        Spanned::new(out, span)
    }

    fn invalid(&mut self, span: Span, message: String, help: &str) {
        self.diagnostics
            .push(Diagnostic::new(Code::InvalidLiteral, span, message).help(help));
    }
}

/// `1h30m` to milliseconds; `None` on overflow.
fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit_ms, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let ms = match rest.as_bytes()[0] {
                b's' => 1_000,
                b'm' => 60_000,
                b'h' => 3_600_000,
                b'd' => 86_400_000,
                b'w' => 604_800_000,
                _ => return None,
            };
            (ms, 1)
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
    }
    // About a million years: keeps later arithmetic on durations well inside u64.
    (total < 31_557_600_000_000_000).then_some(total)
}

fn parse_size(text: &str) -> Option<u64> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..digits].parse().ok()?;
    let factor: u64 = match &text[digits..] {
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => 1_000_000_000_000,
    };
    n.checked_mul(factor)
}

/// The grammar only lets well-formed decimals through; a huge one parses to infinity, which the
/// range checks then reject. A version such as `3.11.7` is not a decimal at all: it gets infinity
/// too (never NaN, which is unequal to itself and would make two identical trees differ).
fn parse_f64(text: &str) -> f64 {
    text.parse().unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_add_up_their_parts() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("250ms"), Some(250));
        assert_eq!(parse_duration("7d"), Some(604_800_000));
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn sizes_know_binary_and_decimal_units() {
        assert_eq!(parse_size("512Mi"), Some(512 << 20));
        assert_eq!(parse_size("1G"), Some(1_000_000_000));
    }
}
