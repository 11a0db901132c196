//! Grammar glue: runs the pest parser and lowers its concrete tree into the span-carrying AST.
//!
//! Invariant: [`parse`] never panics and does no I/O. It returns whatever it could build plus
//! every diagnostic it found: syntax errors (one per top-level item, thanks to a simple
//! recovery), and literals that parse but mean nothing (`2026-02-30`, `"\q"`).

use pest::Parser as _;
use pest::iterators::Pair;

use super::ast::*;
use super::error;
use crate::date::Date;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/canary.pest"]
pub(crate) struct PlanParser;

/// Deeper nesting than this is refused before pest sees it: no real plan comes close, and it
/// keeps every recursive pass (pest's, ours, the checker's) far from the stack's end.
const MAX_NESTING: usize = 64;

/// Parses one file. On a syntax error the returned AST holds the items that did parse.
pub fn parse(file: FileId, text: &str) -> (File, Vec<Diagnostic>) {
    let mut lowerer = Lowerer {
        file,
        offset: 0,
        diagnostics: Vec::new(),
    };
    if let Some(diagnostic) = check_nesting(file, text) {
        return (File::default(), vec![diagnostic]);
    }
    match PlanParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let items = pairs.next().map(|f| lowerer.file(f)).unwrap_or_default();
            (File { items }, lowerer.diagnostics)
        }
        Err(err) => {
            let first = error::convert(file, text, 0, &err);
            let resume_from = first.primary.span.start as usize;
            lowerer.diagnostics.push(first);
            let items = lowerer.recover(text, resume_from);
            (File { items }, lowerer.diagnostics)
        }
    }
}

fn check_nesting(file: FileId, text: &str) -> Option<Diagnostic> {
    let (mut depth, mut in_string, mut in_comment, mut escaped) = (0usize, false, false, false);
    for (i, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"' | '\n') => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_string = true,
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_NESTING {
                return Some(
                    Diagnostic::new(Code::Syntax, Span::new(file, i, i + 1), "nesting too deep")
                        .label(format!("more than {MAX_NESTING} levels of brackets"))
                        .help("a plan needs only a few levels: plan > service > env; check for unclosed brackets"),
                );
            }
        }
    }
    None
}

struct Lowerer {
    file: FileId,
    /// Byte offset of the text being parsed within the file (non-zero during recovery).
    offset: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Lowerer {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start() + self.offset, s.end() + self.offset)
    }

    /// The span from a node's start to the end of its last child. pest lets a rule that ends
    /// in an optional part (`window?`) swallow the whitespace before it; labels should not.
    fn node_span(&self, pair: &Pair<'_, Rule>) -> Span {
        let mut span = self.span(pair);
        if let Some(last) = pair.clone().into_inner().last() {
            span.end = self.span(&last).end;
        }
        span
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Spanned::new(pair.as_str().to_string(), self.span(&pair))
    }

    /// After a syntax error, parses each later top-level item on its own, so one typo does not
    /// hide the syntax errors further down. An item starts at a line beginning in column 0 with
    /// a letter; everything between the error and the next such line is skipped.
    fn recover(&mut self, text: &str, error_at: usize) -> Vec<Item> {
        let starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .filter(|&i| text[i..].starts_with(|c: char| c.is_ascii_alphabetic()))
            .collect();
        let mut items = Vec::new();
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(text.len());
            // Chunks wholly before the error parsed fine as part of the whole file; re-parse
            // them to keep their items. The chunk holding the error is skipped.
            if start <= error_at && error_at < end {
                continue;
            }
            let chunk = &text[start..end];
            self.offset = start;
            match PlanParser::parse(Rule::file, chunk) {
                Ok(mut pairs) => {
                    if let Some(f) = pairs.next() {
                        items.extend(self.file(f));
                    }
                }
                Err(err) if start > error_at => {
                    self.diagnostics
                        .push(error::convert(self.file, chunk, start, &err));
                }
                Err(_) => {}
            }
        }
        self.offset = 0;
        items
    }

    fn file(&mut self, pair: Pair<'_, Rule>) -> Vec<Item> {
        let mut items = Vec::new();
        for item in pair.into_inner() {
            match item.as_rule() {
                Rule::use_decl => {
                    let path = item
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::module_path)
                        .map(|p| {
                            let span = self.span(&p);
                            let segments = p.into_inner().map(|s| self.ident(s)).collect();
                            Spanned::new(segments, span)
                        });
                    items.extend(path.map(Item::Use));
                }
                Rule::const_decl => {
                    let mut inner = item.into_inner().skip(1);
                    if let (Some(name), Some(value)) = (inner.next(), inner.next()) {
                        let name = self.ident(name);
                        let value = self.value(value);
                        items.push(Item::Const { name, value });
                    }
                }
                Rule::block => items.push(Item::Block(self.block(item))),
                _ => {}
            }
        }
        items
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Block {
        let span = self.span(&pair);
        let mut keyword = None;
        let mut label = None;
        let mut when = false;
        let mut body = Body::default();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => keyword = Some(self.ident(part)),
                Rule::block_label => label = part.into_inner().next().map(|p| self.ident(p)),
                Rule::kw_when => when = true,
                Rule::body => body = self.body(part),
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

    fn body(&mut self, pair: Pair<'_, Rule>) -> Body {
        let span = self.span(&pair);
        let mut entries = Vec::new();
        for entry in pair.into_inner() {
            match entry.as_rule() {
                Rule::attribute => entries.push(Entry::Attribute(self.attribute(entry))),
                Rule::block => entries.push(Entry::Block(self.block(entry))),
                Rule::conditions => {
                    for (n, c) in entry
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::condition)
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
            span: SpanIgnored(span),
        }
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) -> Attribute {
        let span = self.node_span(&pair);
        let mut key = None;
        let mut qualifier = None;
        let mut value = None;
        let mut overrides = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => key = Some(self.ident(part)),
                Rule::qualifier => qualifier = part.into_inner().next().map(|p| self.ident(p)),
                Rule::value => value = Some(self.value(part)),
                Rule::body => overrides = Some(self.body(part)),
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

    fn condition(&mut self, pair: Pair<'_, Rule>, joined: bool) -> Condition {
        let span = self.node_span(&pair);
        let mut kind = None;
        let mut window = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::comparison => kind = Some(self.comparison(part)),
                Rule::within => {
                    let mut tolerance = None;
                    let mut base = None;
                    for p in part.into_inner() {
                        match p.as_rule() {
                            Rule::value => tolerance = Some(self.value(p)),
                            Rule::ratio_base => base = Some(self.ratio_base(&p)),
                            _ => {}
                        }
                    }
                    if let (Some(tolerance), Some(base)) = (tolerance, base) {
                        kind = Some(ConditionKind::Within { tolerance, base });
                    }
                }
                Rule::approval => {
                    if let Some(s) = part.into_inner().find(|p| p.as_rule() == Rule::string) {
                        let text = self.string(s);
                        kind = Some(ConditionKind::Approval { text });
                    }
                }
                Rule::window => window = part.into_inner().nth(1).map(|v| self.value(v)),
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

    fn comparison(&mut self, pair: Pair<'_, Rule>) -> ConditionKind {
        let span = self.span(&pair);
        let mut metric = Spanned::new(String::new(), span);
        let mut quantile = None;
        let mut op = Spanned::new(CmpOp::Lt, span);
        let mut value = Spanned::new(ValueKind::List(Vec::new()), span);
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::metric => {
                    for p in part.into_inner() {
                        match p.as_rule() {
                            Rule::ident => metric = self.ident(p),
                            Rule::quantile => quantile = self.quantile(&p),
                            _ => {}
                        }
                    }
                }
                Rule::cmp_op => {
                    let o = match part.as_str() {
                        "<" => CmpOp::Lt,
                        "<=" => CmpOp::Le,
                        ">" => CmpOp::Gt,
                        _ => CmpOp::Ge,
                    };
                    op = Spanned::new(o, self.span(&part));
                }
                Rule::value => value = self.value(part),
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
    fn quantile(&mut self, pair: &Pair<'_, Rule>) -> Option<Spanned<Quantile>> {
        let span = self.span(pair);
        let text = &pair.as_str()[1..];
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
                        format!("`{}` is not a quantile", pair.as_str()),
                    )
                    .label("expected p1 to p99.9")
                    .help("write the percentile with at most one decimal, e.g. `p50`, `p99` or `p99.9`"),
                );
                None
            }
        }
    }

    fn ratio_base(&self, pair: &Pair<'_, Rule>) -> Spanned<RatioBase> {
        let base = if pair.as_str() == "py2" {
            RatioBase::Py2
        } else {
            RatioBase::Baseline
        };
        Spanned::new(base, self.span(pair))
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span = self.span(&pair);
        // `value` wraps exactly one `arrow` or literal.
        let Some(inner) = pair.into_inner().next() else {
            return Spanned::new(ValueKind::List(Vec::new()), span);
        };
        self.literal(inner)
    }

    fn literal(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span = if pair.as_rule() == Rule::ratio {
            self.node_span(&pair)
        } else {
            self.span(&pair)
        };
        let text = pair.as_str();
        let kind = match pair.as_rule() {
            Rule::arrow => {
                let mut sides = pair.into_inner().map(|p| self.literal(p));
                let (Some(from), Some(to)) = (sides.next(), sides.next()) else {
                    return Spanned::new(ValueKind::List(Vec::new()), span);
                };
                ValueKind::Arrow(Box::new(from), Box::new(to))
            }
            Rule::date => match Date::parse(text) {
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
            Rule::duration => match parse_duration(text) {
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
            Rule::size => match parse_size(text) {
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
            Rule::percent => ValueKind::Percent(parse_f64(&text[..text.len() - 1])),
            Rule::rate => {
                let (number, unit) = text.split_once('/').unwrap_or((text, "s"));
                let per = match unit {
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => 1.0,
                };
                ValueKind::Rate(parse_f64(number) / per)
            }
            Rule::ratio => {
                let mut factor = 0.0;
                let mut base = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::ratio_factor => {
                            factor = parse_f64(&p.as_str()[..p.as_str().len() - 1])
                        }
                        Rule::ratio_base => base = Some(self.ratio_base(&p)),
                        _ => {}
                    }
                }
                ValueKind::Ratio { factor, base }
            }
            Rule::number => ValueKind::Number {
                text: text.to_string(),
                value: parse_f64(text),
            },
            Rule::string => ValueKind::String(self.string(pair).value),
            Rule::ident => ValueKind::Ident(text.to_string()),
            Rule::call => {
                let mut parts = pair.into_inner();
                let name = parts.next().map(|p| self.ident(p));
                let args = parts.map(|a| self.argument(a)).collect();
                ValueKind::Call {
                    name: name.unwrap_or_else(|| Spanned::new(String::new(), span)),
                    args,
                }
            }
            Rule::list => ValueKind::List(pair.into_inner().map(|v| self.value(v)).collect()),
            _ => ValueKind::List(Vec::new()),
        };
        Spanned::new(kind, span)
    }

    fn argument(&mut self, pair: Pair<'_, Rule>) -> Argument {
        let mut name = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                Rule::value => value = Some(self.value(p)),
                _ => {}
            }
        }
        let span = name.as_ref().map(|n| n.span).unwrap_or_default();
        Argument {
            name,
            value: value.unwrap_or_else(|| Spanned::new(ValueKind::List(Vec::new()), span)),
        }
    }

    /// Decodes a string literal's escapes: `\"`, `\\`, `\n`, `\t`. Anything else is reported.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Spanned<String> {
        let span = self.span(&pair);
        let raw = pair.as_str();
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
