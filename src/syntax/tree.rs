//! The lossless syntax tree: every byte of a file belongs to exactly one token, comments and
//! whitespace included, so the text is recoverable byte for byte from the tree. The formatter
//! and the language server read it; the AST is lowered from it (`lower.rs`).
//!
//! Like rust-analyzer's and taplo's rowan trees, but flat: the elements (nodes and tokens) are
//! one vector in preorder, each knowing where its subtree ends, so building is one pass over
//! pest's token queue and a walk never chases a pointer.
//!
//! Where tokens come from: pest produces the node rules and the atomic rules (identifiers,
//! literals, keywords and, since `COMMENT` is not silent, comments); what lies between them is
//! the grammar's literal punctuation (`{`, `=`, `->`, ...) and whitespace, cut into tokens here.
//! Text that does not parse becomes an [`SyntaxKind::Error`] node holding the tokens of the
//! grammar's `lex` rule. Nodes are tight: a node starts at its first token and ends at its last
//! non-trivia token; the whitespace and comments pest lets a rule swallow before a missing
//! optional part are moved out to the parent.

use pest::iterators::Pairs;
use pest::{Parser as _, Token};

use super::grammar::{PlanParser, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxKind {
    // Nodes.
    File,
    UseDecl,
    ModulePath,
    ConstDecl,
    Block,
    BlockLabel,
    Body,
    Attribute,
    Qualifier,
    /// Conditions on one line joined by `and`.
    Conditions,
    Condition,
    Comparison,
    Metric,
    Within,
    Approval,
    Window,
    /// A literal, or two joined by `->`.
    Value,
    Call,
    Argument,
    List,
    Ratio,
    String,
    /// Text that does not parse (a top-level item with a syntax error): the `lex` rule's tokens.
    Error,
    // Tokens.
    Ident,
    /// `use`, `const`, `when`, `and`, `all`, `metrics`, `within`, `of`, `approval`, `for`.
    Keyword,
    Quantile,
    CmpOp,
    Date,
    Duration,
    Size,
    Percent,
    /// `40/s`: a request rate.
    Rate,
    RatioFactor,
    RatioBase,
    Number,
    /// A string's text between its quotes.
    StringText,
    /// The grammar's literal punctuation: `{ } ( ) [ ] = , : . "` and `->`.
    Punct,
    Comment,
    Whitespace,
    /// A run of characters in an error node that is no token of the language.
    Unknown,
}

impl SyntaxKind {
    pub fn is_node(self) -> bool {
        (self as u8) <= (SyntaxKind::Error as u8)
    }

    /// Whitespace and comments: what the formatter re-lays and the AST leaves out.
    pub fn is_trivia(self) -> bool {
        matches!(self, SyntaxKind::Whitespace | SyntaxKind::Comment)
    }

    fn of(rule: Rule) -> Option<SyntaxKind> {
        use SyntaxKind as K;
        Some(match rule {
            Rule::file => K::File,
            Rule::use_decl => K::UseDecl,
            Rule::module_path => K::ModulePath,
            Rule::const_decl => K::ConstDecl,
            Rule::block => K::Block,
            Rule::block_label => K::BlockLabel,
            Rule::body => K::Body,
            Rule::attribute => K::Attribute,
            Rule::qualifier => K::Qualifier,
            Rule::conditions => K::Conditions,
            Rule::condition => K::Condition,
            Rule::comparison => K::Comparison,
            Rule::metric => K::Metric,
            Rule::within => K::Within,
            Rule::approval => K::Approval,
            Rule::window => K::Window,
            Rule::value => K::Value,
            Rule::call => K::Call,
            Rule::argument => K::Argument,
            Rule::list => K::List,
            Rule::ratio => K::Ratio,
            Rule::string => K::String,
            Rule::lex => K::Error,
            Rule::ident => K::Ident,
            Rule::kw_use
            | Rule::kw_const
            | Rule::kw_when
            | Rule::kw_and
            | Rule::kw_all
            | Rule::kw_metrics
            | Rule::kw_within
            | Rule::kw_of
            | Rule::kw_approval
            | Rule::kw_for => K::Keyword,
            Rule::quantile => K::Quantile,
            Rule::cmp_op => K::CmpOp,
            Rule::date => K::Date,
            Rule::duration => K::Duration,
            Rule::size => K::Size,
            Rule::percent => K::Percent,
            Rule::rate => K::Rate,
            Rule::ratio_factor => K::RatioFactor,
            Rule::ratio_base => K::RatioBase,
            Rule::number => K::Number,
            Rule::string_inner => K::StringText,
            Rule::punct => K::Punct,
            Rule::COMMENT => K::Comment,
            Rule::lex_word | Rule::unknown => K::Unknown,
            // EOI is empty; the rest are silent and never reach the queue.
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Element {
    kind: SyntaxKind,
    start: u32,
    end: u32,
    /// The index after this element's subtree (its next sibling, or its parent's end).
    next: u32,
}

/// One file's tree. Owns the text, so a tree is all the language server keeps of a document.
/// Equal trees have the same text and the same elements (kinds, byte ranges, shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxTree {
    text: String,
    elements: Vec<Element>,
}

impl SyntaxTree {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn root(&self) -> SyntaxNode<'_> {
        SyntaxNode {
            tree: self,
            index: 0,
        }
    }

    /// Every token in order: their texts concatenated are the file.
    pub fn tokens(&self) -> impl Iterator<Item = SyntaxNode<'_>> {
        (0..self.elements.len())
            .filter(|&i| !self.elements[i].kind.is_node())
            .map(|i| SyntaxNode {
                tree: self,
                index: i as u32,
            })
    }

    /// The token holding byte `offset` (the last token when `offset` is the end of the text).
    pub fn token_at(&self, offset: usize) -> Option<SyntaxNode<'_>> {
        let offset = offset.min(self.text.len()) as u32;
        // Preorder is also text order: starts never decrease, and a node starts with its first
        // token, so the last element starting at or before `offset` is that token (or its node).
        let n = self.elements.partition_point(|e| e.start <= offset);
        let index = (0..n).rev().find(|&i| !self.elements[i].kind.is_node())?;
        Some(SyntaxNode {
            tree: self,
            index: index as u32,
        })
    }

    /// The nodes holding `offset`, outermost first: the file, then down to the innermost node.
    /// A node holds the offsets from its start to its end, both included, so a cursor just after
    /// a word is still in it.
    pub fn ancestors_at(&self, offset: usize) -> Vec<SyntaxNode<'_>> {
        let offset = offset as u32;
        let mut path = vec![self.root()];
        let mut node = self.root();
        'descend: loop {
            for child in node.children() {
                let e = child.element();
                if child.is_node() && e.start <= offset && offset <= e.end {
                    path.push(child);
                    node = child;
                    continue 'descend;
                }
            }
            return path;
        }
    }

    /// The tree with the element at `index` and its subtree replaced by `fragment` (a subtree
    /// built by [`Builder::fragment`] in `text`, the new text of the file, which differs from
    /// the old by `delta` bytes from the replaced subtree on).
    pub(super) fn splice(
        &self,
        index: usize,
        fragment: Vec<Element>,
        text: String,
        delta: i64,
    ) -> SyntaxTree {
        let old = self.elements[index];
        let removed = old.next as usize - index;
        let index_delta = fragment.len() as i64 - removed as i64;
        let shift = |n: u32, by: i64| (i64::from(n) + by) as u32;
        let mut elements = Vec::with_capacity(self.elements.len() + fragment.len() - removed);
        // Before: the ancestors end after the subtree, so they move; the rest stays.
        elements.extend(self.elements[..index].iter().map(|e| {
            let mut e = *e;
            if e.next as usize > index {
                e.next = shift(e.next, index_delta);
                e.end = shift(e.end, delta);
            }
            e
        }));
        elements.extend(fragment.into_iter().map(|mut e| {
            e.next += index as u32;
            e
        }));
        elements.extend(self.elements[old.next as usize..].iter().map(|e| Element {
            start: shift(e.start, delta),
            end: shift(e.end, delta),
            next: shift(e.next, index_delta),
            kind: e.kind,
        }));
        SyntaxTree { text, elements }
    }

    /// The index of a node, for [`SyntaxTree::splice`].
    pub(super) fn index_of(node: &SyntaxNode<'_>) -> usize {
        node.index as usize
    }

    /// The file's text from the tree alone: its tokens' texts in order.
    pub fn to_text(&self) -> String {
        self.tokens().map(|t| t.text()).collect()
    }
}

/// A node or a token of a [`SyntaxTree`]: cheap to copy, borrows the tree.
#[derive(Clone, Copy)]
pub struct SyntaxNode<'t> {
    tree: &'t SyntaxTree,
    index: u32,
}

impl std::fmt::Debug for SyntaxNode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}@{}..{}", self.kind(), self.start(), self.end())
    }
}

impl<'t> SyntaxNode<'t> {
    fn element(&self) -> Element {
        self.tree.elements[self.index as usize]
    }

    pub fn kind(&self) -> SyntaxKind {
        self.element().kind
    }

    pub fn is_node(&self) -> bool {
        self.kind().is_node()
    }

    /// Whitespace or a comment.
    pub fn is_trivia(&self) -> bool {
        self.kind().is_trivia()
    }

    pub fn start(&self) -> usize {
        self.element().start as usize
    }

    pub fn end(&self) -> usize {
        self.element().end as usize
    }

    pub fn text(&self) -> &'t str {
        let e = self.element();
        self.tree
            .text
            .get(e.start as usize..e.end as usize)
            .unwrap_or("")
    }

    /// Direct children, tokens and nodes, trivia included.
    pub fn children(&self) -> Children<'t> {
        let e = self.element();
        Children {
            tree: self.tree,
            next: if e.kind.is_node() {
                self.index + 1
            } else {
                e.next
            },
            end: e.next,
        }
    }

    /// Children that mean something: neither trivia nor punctuation.
    pub fn parts(&self) -> impl Iterator<Item = SyntaxNode<'t>> + use<'t> {
        self.children()
            .filter(|c| !c.is_trivia() && c.kind() != SyntaxKind::Punct)
    }

    /// The first child of a kind.
    pub fn child(&self, kind: SyntaxKind) -> Option<SyntaxNode<'t>> {
        self.children().find(|c| c.kind() == kind)
    }

    /// Whether this is the punctuation `text`.
    pub fn is_punct(&self, text: &str) -> bool {
        self.kind() == SyntaxKind::Punct && self.text() == text
    }

    /// Every token of the subtree, in order.
    pub fn tokens(&self) -> impl Iterator<Item = SyntaxNode<'t>> + use<'t> {
        let tree = self.tree;
        (self.index..self.element().next)
            .filter(move |&i| !tree.elements[i as usize].kind.is_node())
            .map(move |index| SyntaxNode { tree, index })
    }
}

pub struct Children<'t> {
    tree: &'t SyntaxTree,
    next: u32,
    end: u32,
}

impl<'t> Iterator for Children<'t> {
    type Item = SyntaxNode<'t>;

    fn next(&mut self) -> Option<SyntaxNode<'t>> {
        if self.next >= self.end {
            return None;
        }
        let node = SyntaxNode {
            tree: self.tree,
            index: self.next,
        };
        self.next = self.tree.elements[self.next as usize].next;
        Some(node)
    }
}

/// Builds a tree from pest's token queues: the whole file's, or one per top-level item after a
/// syntax error.
pub(super) struct Builder<'a> {
    text: &'a str,
    elements: Vec<Element>,
    /// Open nodes, innermost last.
    open: Vec<usize>,
    /// Where the last token ended: the text from here to the next pest token is a gap of
    /// punctuation and whitespace.
    cursor: usize,
}

impl<'a> Builder<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let mut b = Builder {
            text,
            elements: Vec::with_capacity(text.len() / 3),
            open: Vec::new(),
            cursor: 0,
        };
        b.open_node(SyntaxKind::File, 0);
        b
    }

    /// A builder for one subtree of `text`, whose first token starts at `start`.
    pub(super) fn fragment(text: &'a str, start: usize) -> Self {
        Builder {
            text,
            elements: Vec::new(),
            open: Vec::new(),
            cursor: start,
        }
    }

    /// Adds the tree of a successful parse of one rule (a block) at `offset`.
    pub(super) fn node(&mut self, pairs: Pairs<'_, Rule>, offset: usize) {
        self.pairs(pairs, offset, Rule::EOI);
    }

    /// The elements of a fragment, their `next` indices relative to the first.
    pub(super) fn finish_fragment(self) -> Vec<Element> {
        self.elements
    }

    /// Adds the items of a successful parse of `Rule::file` (its `file` node is the root's).
    pub(super) fn file(&mut self, pairs: Pairs<'_, Rule>, offset: usize) {
        self.pairs(pairs, offset, Rule::file);
    }

    /// Adds `text[start..end]`, which does not parse, as an error node of `lex` tokens.
    pub(super) fn error(&mut self, start: usize, end: usize) {
        let chunk = &self.text[start..end];
        if chunk.is_empty() {
            return;
        }
        match PlanParser::parse(Rule::lex, chunk) {
            Ok(pairs) => self.pairs(pairs, start, Rule::EOI),
            // `lex` accepts any text; should pest still refuse (its call limit), one token.
            Err(_) => {
                self.gap(start);
                self.open_node(SyntaxKind::Error, start);
                self.leaf(SyntaxKind::Unknown, start, end);
                self.close_node(end);
            }
        }
    }

    fn pairs(&mut self, pairs: Pairs<'_, Rule>, offset: usize, transparent: Rule) {
        let mut token_start = 0;
        for token in pairs.tokens() {
            match token {
                Token::Start { rule, pos } => {
                    let at = pos.pos() + offset;
                    let Some(kind) = SyntaxKind::of(rule).filter(|_| rule != transparent) else {
                        continue;
                    };
                    self.gap(at);
                    if kind.is_node() {
                        self.open_node(kind, at);
                    } else {
                        token_start = at;
                    }
                }
                Token::End { rule, pos } => {
                    let at = pos.pos() + offset;
                    let Some(kind) = SyntaxKind::of(rule).filter(|_| rule != transparent) else {
                        continue;
                    };
                    if kind.is_node() {
                        self.gap(at);
                        self.close_node(at);
                    } else if at > token_start {
                        self.leaf(kind, token_start, at);
                        self.cursor = at;
                    }
                }
            }
        }
    }

    /// Opens a node at `at` (the hand-written parser's events, the same as pest's tokens').
    pub(super) fn start_node(&mut self, kind: SyntaxKind, at: usize) {
        self.gap(at);
        self.open_node(kind, at);
    }

    /// Closes the innermost node at `at`.
    pub(super) fn end_node(&mut self, at: usize) {
        self.gap(at);
        self.close_node(at);
    }

    /// Adds the token `start..end` (nothing when empty, as for pest's empty tokens).
    pub(super) fn token(&mut self, kind: SyntaxKind, start: usize, end: usize) {
        self.gap(start);
        if end > start {
            self.leaf(kind, start, end);
            self.cursor = end;
        }
    }

    pub(super) fn finish(mut self) -> SyntaxTree {
        self.gap(self.text.len());
        let len = self.elements.len() as u32;
        self.elements[0].end = self.text.len() as u32;
        self.elements[0].next = len;
        SyntaxTree {
            text: self.text.to_string(),
            elements: self.elements,
        }
    }

    fn open_node(&mut self, kind: SyntaxKind, at: usize) {
        self.open.push(self.elements.len());
        self.elements.push(Element {
            kind,
            start: at as u32,
            end: at as u32,
            next: 0,
        });
    }

    /// Closes the innermost open node, leaving its trailing trivia to the parent.
    fn close_node(&mut self, at: usize) {
        let Some(index) = self.open.pop() else {
            return;
        };
        let mut last = self.elements.len();
        while last > index + 1 && self.elements[last - 1].kind.is_trivia() {
            last -= 1;
        }
        let end = if last > index + 1 {
            self.elements[last - 1].end
        } else {
            (at as u32).min(self.elements[index].start)
        };
        let node = &mut self.elements[index];
        node.end = end.max(node.start);
        node.next = last as u32;
    }

    fn leaf(&mut self, kind: SyntaxKind, start: usize, end: usize) {
        let index = self.elements.len() as u32;
        self.elements.push(Element {
            kind,
            start: start as u32,
            end: end as u32,
            next: index + 1,
        });
    }

    /// Cuts the text between the last token and `to` into punctuation and whitespace tokens.
    fn gap(&mut self, to: usize) {
        let bytes = self.text.as_bytes();
        let mut i = self.cursor;
        while i < to {
            let rest = &bytes[i..to];
            let (kind, len) = match rest[0] {
                b' ' | b'\t' | b'\r' | b'\n' => (
                    SyntaxKind::Whitespace,
                    rest.iter()
                        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                        .count(),
                ),
                b'-' if rest.starts_with(b"->") => (SyntaxKind::Punct, 2),
                // A byte-order mark (first in the file only): invisible, so whitespace.
                0xEF if i == 0 && rest.starts_with(crate::source::BOM.as_bytes()) => {
                    (SyntaxKind::Whitespace, crate::source::BOM.len())
                }
                b'{' | b'}' | b'(' | b')' | b'[' | b']' | b'=' | b',' | b':' | b'.' | b'"' => {
                    (SyntaxKind::Punct, 1)
                }
                // Nothing else lies between pest's tokens; should it, it is kept, not lost.
                _ => (
                    SyntaxKind::Unknown,
                    self.text[i..to].chars().next().map_or(1, char::len_utf8),
                ),
            };
            self.leaf(kind, i, i + len);
            i += len;
        }
        self.cursor = self.cursor.max(to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn tree(text: &str) -> SyntaxTree {
        crate::syntax::parse_file(FileId(0), text).tree
    }

    fn shape(node: SyntaxNode<'_>, out: &mut String) {
        if node.is_trivia() {
            return;
        }
        if node.is_node() {
            out.push_str(&format!("{:?}(", node.kind()));
            for child in node.children() {
                shape(child, out);
            }
            out.push(')');
        } else {
            out.push_str(&format!("{:?}:{} ", node.kind(), node.text()));
        }
    }

    #[test]
    fn every_byte_is_in_one_token() {
        for text in [
            "# top\nuse std.schedules.standard  # why\nconst a = [1, f(x: 2)] # c\nplan x {\n  python = 2.7 -> 3.13 # t\n  rollback when { error_rate > 1% for 5m and latency p99 < 2x py2 }\n}\n",
            "plan x {\n  a = \n}\nplan y { b = 1 }\n  # end",
            "  # before\nplan {\n\"unterminated\n}\u{0}é→\n",
            &format!("plan x {{ a = {} }}", "[".repeat(100)),
            "",
        ] {
            let tree = tree(text);
            assert_eq!(tree.to_text(), text);
            let mut end = 0;
            for token in tree.tokens() {
                assert_eq!(token.start(), end, "{text:?}");
                end = token.end();
            }
            assert_eq!(end, text.len());
        }
    }

    #[test]
    fn comments_are_tokens_and_nodes_are_tight() {
        let text = "plan x {\n  port = 8000   # the port\n  health = \"/h\" # why\n}\n";
        let tree = tree(text);
        let comments: Vec<&str> = tree
            .tokens()
            .filter(|t| t.kind() == SyntaxKind::Comment)
            .map(|t| t.text())
            .collect();
        assert_eq!(comments, ["# the port", "# why"]);
        // pest lets `attribute` swallow the comment after its value (it looks for an override
        // block there); the tree hands it back to the body.
        let port = tree
            .root()
            .parts()
            .next()
            .unwrap()
            .child(SyntaxKind::Body)
            .unwrap();
        let attribute = port.child(SyntaxKind::Attribute).unwrap();
        assert_eq!(attribute.text(), "port = 8000");
        let mut out = String::new();
        shape(tree.root(), &mut out);
        assert_eq!(
            out,
            "File(Block(Ident:plan BlockLabel(Ident:x )Body(Punct:{ Attribute(Ident:port Punct:= \
             Value(Number:8000 ))Attribute(Ident:health Punct:= Value(String(Punct:\" \
             StringText:/h Punct:\" )))Punct:} )))"
        );
    }

    #[test]
    fn text_that_does_not_parse_is_an_error_node_of_tokens() {
        let text = "plan x {\n  a = \"{\" # }\n  b { c\n}\nplan y {}\n";
        let tree = tree(text);
        let kinds: Vec<SyntaxKind> = tree.root().parts().map(|n| n.kind()).collect();
        assert_eq!(kinds, [SyntaxKind::Error, SyntaxKind::Block]);
        let error = tree.root().parts().next().unwrap();
        let tokens: Vec<&str> = error
            .children()
            .filter(|t| !t.is_trivia())
            .map(|t| t.text())
            .collect();
        assert_eq!(
            tokens,
            ["plan", "x", "{", "a", "=", "\"{\"", "b", "{", "c", "}"]
        );
        // The brace in the string is the string's text, not punctuation.
        let brace = tree.token_at(text.find("{\"").unwrap()).unwrap();
        assert_eq!(brace.kind(), SyntaxKind::StringText);
        let at = text.find("# }").unwrap() + 1;
        assert_eq!(tree.token_at(at).unwrap().kind(), SyntaxKind::Comment);
        assert_eq!(tree.token_at(text.len()).unwrap().text(), "\n");
    }
}
