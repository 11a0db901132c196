//! A hand-written recursive-descent parser for `grammar/canary.pest`: the fast path of parsing
//! (issue 15: pest was 71% of `canaryc check` of a 5,000-line plan).
//!
//! It accepts only what pest accepts and builds the same tree: it drives the same [`Builder`]
//! with the events pest's token queue would give (a node's start and end, each token), so the
//! tree is identical element for element. On any input it does not accept it bails (`None`),
//! and pest parses as before, so every syntax error, its message and the recovery are pest's.
//!
//! Why it is exact: a PEG picks the first alternative that matches. Each choice here looks
//! ahead only at the tokens that decide whether the earlier alternatives can match (an entry
//! is an attribute iff `ident qualifier? =` starts it, a block iff `ident label? when? {`, else
//! conditions); having picked one, it follows that rule to the end, and a failure anywhere is
//! a bail, never a different parse. Optional parts are decided exactly (their first tokens).
//! The only freedom taken: pest lets a node swallow the whitespace and comments before an
//! optional part that is missing; the builder hands them back to the parent, so here they are
//! left to the parent in the first place (same tree).
//!
//! Linear: every token is looked at a bounded number of times (lookahead reads at most three
//! tokens ahead and never into brackets); recursion is one level per bracket, bounded by
//! [`MAX_NESTING`]. Never panics: every byte is read through `get`.

use super::parser::MAX_NESTING;
use super::tree::{Builder, Element, SyntaxKind as K};

/// Bail: the input is not one this parser accepts; pest decides.
struct Bail;

type Parsed = Result<(), Bail>;

/// The tree of a whole file (`Rule::file`), or `None` where pest must parse it.
pub(super) fn file(builder: &mut Builder<'_>, text: &str) -> Option<()> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        offset: 0,
        depth: 0,
        b: builder,
    };
    p.file().ok()
}

/// The elements of one block that is exactly `text[start..end]` (`Rule::block` for the
/// incremental reparse), or `None` where pest must parse it.
pub(super) fn block(text: &str, start: usize, end: usize) -> Option<Vec<Element>> {
    let source = text.get(start..end)?;
    let mut builder = Builder::fragment(text, start);
    let mut p = Parser {
        s: source.as_bytes(),
        pos: 0,
        offset: start,
        depth: 0,
        b: &mut builder,
    };
    ident_end(p.s, 0)?;
    p.block().ok()?;
    (p.pos == source.len()).then(|| builder.finish_fragment())
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn at(s: &[u8], p: usize) -> u8 {
    s.get(p).copied().unwrap_or(0)
}

fn digits(s: &[u8], p: usize) -> usize {
    p + s
        .get(p..)
        .map_or(0, |r| r.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// `ident`: a letter or `_`, then letters, digits, `-` and `_`.
fn ident_end(s: &[u8], p: usize) -> Option<usize> {
    let c = at(s, p);
    if !(c.is_ascii_alphabetic() || c == b'_') {
        return None;
    }
    Some(
        p + 1
            + s.get(p + 1..)
                .map_or(0, |r| r.iter().take_while(|&&c| is_ident_char(c)).count()),
    )
}

/// `word ~ !ident_char`: a keyword.
fn keyword(s: &[u8], p: usize, word: &[u8]) -> Option<usize> {
    let end = p + word.len();
    (s.get(p..end) == Some(word) && !is_ident_char(at(s, end))).then_some(end)
}

fn not_ident_char(s: &[u8], p: usize) -> Option<usize> {
    (!is_ident_char(at(s, p))).then_some(p)
}

/// `decimal`: digits, then optionally `.` and digits.
fn decimal(s: &[u8], p: usize) -> Option<usize> {
    let e = digits(s, p);
    if e == p {
        return None;
    }
    if at(s, e) == b'.' {
        let f = digits(s, e + 1);
        if f > e + 1 {
            return Some(f);
        }
    }
    Some(e)
}

fn date(s: &[u8], p: usize) -> Option<usize> {
    let d = |i: usize| at(s, p + i).is_ascii_digit();
    let shape = d(0) && d(1) && d(2) && d(3) && at(s, p + 4) == b'-' && d(5) && d(6);
    (shape && at(s, p + 7) == b'-' && d(8) && d(9))
        .then_some(p + 10)
        .and_then(|e| not_ident_char(s, e))
}

fn duration(s: &[u8], p: usize) -> Option<usize> {
    let mut e = p;
    loop {
        let d = digits(s, e);
        if d == e {
            break;
        }
        let unit = match (at(s, d), at(s, d + 1)) {
            (b'm', b's') => 2,
            (b's' | b'm' | b'h' | b'd' | b'w', _) => 1,
            _ => break,
        };
        e = d + unit;
    }
    if e == p {
        return None;
    }
    not_ident_char(s, e)
}

fn size(s: &[u8], p: usize) -> Option<usize> {
    let d = digits(s, p);
    if d == p {
        return None;
    }
    let unit = match (at(s, d), at(s, d + 1)) {
        (b'K' | b'M' | b'G' | b'T', b'i') => 2,
        (b'K' | b'M' | b'G' | b'T', _) => 1,
        _ => return None,
    };
    not_ident_char(s, d + unit)
}

fn percent(s: &[u8], p: usize) -> Option<usize> {
    let q = if at(s, p) == b'-' { p + 1 } else { p };
    let e = decimal(s, q)?;
    (at(s, e) == b'%').then_some(e + 1)
}

fn rate(s: &[u8], p: usize) -> Option<usize> {
    let e = decimal(s, p)?;
    (at(s, e) == b'/' && matches!(at(s, e + 1), b's' | b'm' | b'h'))
        .then_some(e + 2)
        .and_then(|e| not_ident_char(s, e))
}

fn ratio_factor(s: &[u8], p: usize) -> Option<usize> {
    let e = decimal(s, p)?;
    (at(s, e) == b'x')
        .then_some(e + 1)
        .and_then(|e| not_ident_char(s, e))
}

fn ratio_base(s: &[u8], p: usize) -> Option<usize> {
    keyword(s, p, b"py2").or_else(|| keyword(s, p, b"baseline"))
}

/// `"-"? ~ digits ~ ("." ~ digits)* ~ !(alphanumeric | "_" | ("-" ~ !">"))`.
fn number(s: &[u8], p: usize) -> Option<usize> {
    let q = if at(s, p) == b'-' { p + 1 } else { p };
    let mut e = digits(s, q);
    if e == q {
        return None;
    }
    while at(s, e) == b'.' {
        let f = digits(s, e + 1);
        if f == e + 1 {
            break;
        }
        e = f;
    }
    let c = at(s, e);
    let refused = c.is_ascii_alphanumeric() || c == b'_' || (c == b'-' && at(s, e + 1) != b'>');
    (!refused).then_some(e)
}

fn quantile(s: &[u8], p: usize) -> Option<usize> {
    if at(s, p) != b'p' {
        return None;
    }
    let mut e = digits(s, p + 1);
    if e == p + 1 {
        return None;
    }
    if at(s, e) == b'.' {
        let f = digits(s, e + 1);
        if f > e + 1 {
            e = f;
        }
    }
    not_ident_char(s, e)
}

fn cmp_op(s: &[u8], p: usize) -> Option<usize> {
    match (at(s, p), at(s, p + 1)) {
        (b'<' | b'>', b'=') => Some(p + 2),
        (b'<' | b'>', _) => Some(p + 1),
        _ => None,
    }
}

/// The end of the whitespace and comments from `p` (pest's implicit `skip`).
fn trivia_end(s: &[u8], mut p: usize) -> usize {
    loop {
        match at(s, p) {
            b' ' | b'\t' | b'\n' | b'\r' => p += 1,
            b'#' => p = comment_end(s, p),
            _ => return p,
        }
    }
}

fn comment_end(s: &[u8], p: usize) -> usize {
    s.get(p..)
        .and_then(|r| r.iter().position(|&c| c == b'\n'))
        .map_or(s.len(), |n| p + n)
}

struct Parser<'s, 'b, 't> {
    s: &'s [u8],
    pos: usize,
    /// Where `s` starts in the builder's text.
    offset: usize,
    /// Brackets open: one level of recursion each.
    depth: usize,
    b: &'b mut Builder<'t>,
}

impl Parser<'_, '_, '_> {
    fn peek(&self) -> u8 {
        at(self.s, self.pos)
    }

    fn start(&mut self, kind: K) {
        self.b.start_node(kind, self.offset + self.pos);
    }

    fn end(&mut self) {
        self.b.end_node(self.offset + self.pos);
    }

    /// The token from `pos` to `end`; `pos` moves to its end.
    fn token(&mut self, kind: K, end: usize) {
        self.b
            .token(kind, self.offset + self.pos, self.offset + end);
        self.pos = end;
    }

    /// Whitespace and comments: the comments are tokens, the whitespace the builder's gaps.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' => {
                    let end = comment_end(self.s, self.pos);
                    self.token(K::Comment, end);
                }
                _ => return,
            }
        }
    }

    /// Past the punctuation `c`, or a bail.
    fn punct(&mut self, c: u8) -> Parsed {
        if self.peek() != c {
            return Err(Bail);
        }
        self.pos += 1;
        Ok(())
    }

    fn open_bracket(&mut self) -> Parsed {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Bail);
        }
        Ok(())
    }

    // file = { SOI ~ "\u{FEFF}"? ~ item* ~ EOI }
    fn file(&mut self) -> Parsed {
        self.skip();
        let bom = crate::source::BOM.as_bytes();
        if self.s.get(self.pos..self.pos + bom.len()) == Some(bom) {
            self.pos += crate::source::BOM.len();
        }
        loop {
            self.skip();
            if self.pos >= self.s.len() {
                return Ok(());
            }
            self.item()?;
        }
    }

    // item = _{ use_decl | const_decl | block }
    fn item(&mut self) -> Parsed {
        let s = self.s;
        let p = self.pos;
        if let Some(k) = keyword(s, p, b"use") {
            let q = trivia_end(s, k);
            if ident_end(s, q).is_some() {
                return self.use_decl(k);
            }
        }
        if let Some(k) = keyword(s, p, b"const") {
            let q = trivia_end(s, k);
            if let Some(e) = ident_end(s, q) {
                if at(s, trivia_end(s, e)) == b'=' {
                    return self.const_decl(k);
                }
            }
        }
        if ident_end(s, p).is_none() {
            return Err(Bail);
        }
        self.block()
    }

    // use_decl = { kw_use ~ module_path }; module_path = ${ ident ~ ("." ~ ident)* }
    fn use_decl(&mut self, keyword_end: usize) -> Parsed {
        self.start(K::UseDecl);
        self.token(K::Keyword, keyword_end);
        self.skip();
        self.start(K::ModulePath);
        let e = ident_end(self.s, self.pos).ok_or(Bail)?;
        self.token(K::Ident, e);
        while self.peek() == b'.' {
            let Some(e) = ident_end(self.s, self.pos + 1) else {
                break;
            };
            self.pos += 1;
            self.token(K::Ident, e);
        }
        self.end();
        self.end();
        Ok(())
    }

    // const_decl = { kw_const ~ ident ~ "=" ~ value }
    fn const_decl(&mut self, keyword_end: usize) -> Parsed {
        self.start(K::ConstDecl);
        self.token(K::Keyword, keyword_end);
        self.skip();
        let e = ident_end(self.s, self.pos).ok_or(Bail)?;
        self.token(K::Ident, e);
        self.skip();
        self.punct(b'=')?;
        self.skip();
        self.value()?;
        self.end();
        Ok(())
    }

    // block = { ident ~ block_label? ~ kw_when? ~ body }; block_label = { !kw_when ~ ident }
    // (the caller has seen the ident)
    fn block(&mut self) -> Parsed {
        let s = self.s;
        self.start(K::Block);
        let e = ident_end(s, self.pos).ok_or(Bail)?;
        self.token(K::Ident, e);
        self.skip();
        if keyword(s, self.pos, b"when").is_none() {
            if let Some(e) = ident_end(s, self.pos) {
                self.start(K::BlockLabel);
                self.token(K::Ident, e);
                self.end();
                self.skip();
            }
        }
        if let Some(e) = keyword(s, self.pos, b"when") {
            self.token(K::Keyword, e);
            self.skip();
        }
        self.body()?;
        self.end();
        Ok(())
    }

    // body = { "{" ~ entry* ~ "}" }
    fn body(&mut self) -> Parsed {
        self.open_bracket()?;
        self.start(K::Body);
        self.punct(b'{')?;
        loop {
            self.skip();
            if self.peek() == b'}' {
                break;
            }
            self.entry()?;
        }
        self.pos += 1;
        self.end();
        self.depth -= 1;
        Ok(())
    }

    // entry = _{ attribute | block | conditions }
    fn entry(&mut self) -> Parsed {
        let s = self.s;
        let first = ident_end(s, self.pos).ok_or(Bail)?;
        let q = trivia_end(s, first);
        // attribute = { ident ~ qualifier? ~ "=" ~ ... }: with a qualifier, `=` must follow it.
        let second = ident_end(s, q);
        let equals = match second {
            Some(e) => at(s, trivia_end(s, e)) == b'=',
            None => at(s, q) == b'=',
        };
        if equals {
            return self.attribute(first);
        }
        // block = { ident ~ (!kw_when ~ ident)? ~ kw_when? ~ "{" ... }
        let mut r = q;
        if keyword(s, r, b"when").is_none() {
            if let Some(e) = second {
                r = trivia_end(s, e);
            }
        }
        if let Some(e) = keyword(s, r, b"when") {
            r = trivia_end(s, e);
        }
        if at(s, r) == b'{' {
            return self.block();
        }
        self.conditions()
    }

    // attribute = { ident ~ qualifier? ~ "=" ~ value ~ body? }; qualifier = { ident }
    fn attribute(&mut self, ident: usize) -> Parsed {
        self.start(K::Attribute);
        self.token(K::Ident, ident);
        self.skip();
        if let Some(e) = ident_end(self.s, self.pos) {
            self.start(K::Qualifier);
            self.token(K::Ident, e);
            self.end();
            self.skip();
        }
        self.punct(b'=')?;
        self.skip();
        self.value()?;
        if at(self.s, trivia_end(self.s, self.pos)) == b'{' {
            self.skip();
            self.body()?;
        }
        self.end();
        Ok(())
    }

    // conditions = { condition ~ (kw_and ~ condition)* }
    fn conditions(&mut self) -> Parsed {
        self.start(K::Conditions);
        self.condition()?;
        loop {
            let q = trivia_end(self.s, self.pos);
            let Some(e) = keyword(self.s, q, b"and") else {
                break;
            };
            self.skip();
            self.token(K::Keyword, e);
            self.skip();
            self.condition()?;
        }
        self.end();
        Ok(())
    }

    // condition = { (within | approval | comparison) ~ window? }; window = { kw_for ~ value }
    fn condition(&mut self) -> Parsed {
        let s = self.s;
        let p = self.pos;
        self.start(K::Condition);
        // within starts `all metrics`; where it does not, only a comparison can follow `all`.
        let all =
            keyword(s, p, b"all").filter(|&e| keyword(s, trivia_end(s, e), b"metrics").is_some());
        let approval = keyword(s, p, b"approval").filter(|&e| at(s, trivia_end(s, e)) == b'"');
        if let Some(e) = all {
            self.within(e)?;
        } else if let Some(e) = approval {
            self.start(K::Approval);
            self.token(K::Keyword, e);
            self.skip();
            self.string()?;
            self.end();
        } else {
            self.comparison()?;
        }
        let q = trivia_end(s, self.pos);
        if let Some(e) = keyword(s, q, b"for") {
            self.skip();
            self.start(K::Window);
            self.token(K::Keyword, e);
            self.skip();
            self.value()?;
            self.end();
        }
        self.end();
        Ok(())
    }

    // within = { kw_all ~ kw_metrics ~ kw_within ~ value ~ kw_of ~ ratio_base }
    fn within(&mut self, all: usize) -> Parsed {
        let s = self.s;
        self.start(K::Within);
        self.token(K::Keyword, all);
        for word in [&b"metrics"[..], b"within"] {
            self.skip();
            let e = keyword(s, self.pos, word).ok_or(Bail)?;
            self.token(K::Keyword, e);
        }
        self.skip();
        self.value()?;
        self.skip();
        let e = keyword(s, self.pos, b"of").ok_or(Bail)?;
        self.token(K::Keyword, e);
        self.skip();
        let e = ratio_base(s, self.pos).ok_or(Bail)?;
        self.token(K::RatioBase, e);
        self.end();
        Ok(())
    }

    // comparison = { metric ~ cmp_op ~ value }; metric = { ident ~ quantile? }
    fn comparison(&mut self) -> Parsed {
        let s = self.s;
        self.start(K::Comparison);
        self.start(K::Metric);
        let e = ident_end(s, self.pos).ok_or(Bail)?;
        self.token(K::Ident, e);
        let q = trivia_end(s, self.pos);
        if let Some(e) = quantile(s, q) {
            self.skip();
            self.token(K::Quantile, e);
        }
        self.end();
        self.skip();
        let e = cmp_op(s, self.pos).ok_or(Bail)?;
        self.token(K::CmpOp, e);
        self.skip();
        self.value()?;
        self.end();
        Ok(())
    }

    // value = { single ~ ("->" ~ single)? }
    fn value(&mut self) -> Parsed {
        self.start(K::Value);
        self.single()?;
        let q = trivia_end(self.s, self.pos);
        if self.s.get(q..q + 2) == Some(b"->") {
            self.skip();
            self.pos += 2;
            self.skip();
            self.single()?;
        }
        self.end();
        Ok(())
    }

    // single = _{ date | duration | size | percent | rate | ratio | number | string | call
    //            | list | ident }
    fn single(&mut self) -> Parsed {
        let s = self.s;
        let p = self.pos;
        if let Some(e) = date(s, p) {
            self.token(K::Date, e);
        } else if let Some(e) = duration(s, p) {
            self.token(K::Duration, e);
        } else if let Some(e) = size(s, p) {
            self.token(K::Size, e);
        } else if let Some(e) = percent(s, p) {
            self.token(K::Percent, e);
        } else if let Some(e) = rate(s, p) {
            self.token(K::Rate, e);
        } else if let Some(e) = ratio_factor(s, p) {
            // ratio = { ratio_factor ~ ratio_base? }
            self.start(K::Ratio);
            self.token(K::RatioFactor, e);
            if let Some(e) = ratio_base(s, trivia_end(s, e)) {
                self.skip();
                self.token(K::RatioBase, e);
            }
            self.end();
        } else if let Some(e) = number(s, p) {
            self.token(K::Number, e);
        } else if at(s, p) == b'"' {
            self.string()?;
        } else if let Some(e) = ident_end(s, p) {
            // call is tried first; it fails without `(` after the ident, and list needs `[`.
            if at(s, trivia_end(s, e)) == b'(' {
                self.call(e)?;
            } else {
                self.token(K::Ident, e);
            }
        } else if at(s, p) == b'[' {
            self.list()?;
        } else {
            return Err(Bail);
        }
        Ok(())
    }

    // string = ${ "\"" ~ string_inner ~ "\"" }
    fn string(&mut self) -> Parsed {
        self.start(K::String);
        self.punct(b'"')?;
        let mut e = self.pos;
        loop {
            match at(self.s, e) {
                b'"' if e < self.s.len() => break,
                b'\\' if e + 1 < self.s.len() => e += 2,
                b'\n' | b'\\' => return Err(Bail),
                0 if e >= self.s.len() => return Err(Bail),
                _ => e += 1,
            }
        }
        self.token(K::StringText, e);
        self.pos += 1;
        self.end();
        Ok(())
    }

    // call = { ident ~ "(" ~ (argument ~ ("," ~ argument)* ~ ","?)? ~ ")" }
    fn call(&mut self, ident: usize) -> Parsed {
        self.open_bracket()?;
        self.start(K::Call);
        self.token(K::Ident, ident);
        self.skip();
        self.punct(b'(')?;
        self.separated(b')', Self::argument)?;
        self.end();
        self.depth -= 1;
        Ok(())
    }

    // `(item ~ ("," ~ item)* ~ ","?)? ~ close`: the comma-separated items of a call or a list,
    // after its opening bracket, up to and including `close`.
    fn separated(&mut self, close: u8, item: fn(&mut Self) -> Parsed) -> Parsed {
        self.skip();
        if self.peek() != close {
            item(self)?;
            loop {
                self.skip();
                if self.peek() != b',' {
                    break;
                }
                self.pos += 1;
                self.skip();
                if self.peek() == close {
                    break;
                }
                item(self)?;
            }
        }
        self.punct(close)
    }

    // argument = { (ident ~ ":")? ~ value }
    fn argument(&mut self) -> Parsed {
        self.start(K::Argument);
        if let Some(e) = ident_end(self.s, self.pos) {
            if at(self.s, trivia_end(self.s, e)) == b':' {
                self.token(K::Ident, e);
                self.skip();
                self.pos += 1;
                self.skip();
            }
        }
        self.value()?;
        self.end();
        Ok(())
    }

    // list = { "[" ~ (value ~ ("," ~ value)* ~ ","?)? ~ "]" }
    fn list(&mut self) -> Parsed {
        self.open_bracket()?;
        self.start(K::List);
        self.punct(b'[')?;
        self.separated(b']', Self::value)?;
        self.end();
        self.depth -= 1;
        Ok(())
    }
}
