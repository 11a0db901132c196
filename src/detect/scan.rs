//! Scanning source text in one linear pass, with the results of the regexes detection was
//! written with (issue 15: `(?m)^\s*` patterns have no literal prefix, so the regex engine ran
//! its automaton over every byte of every Python file, several times; and the line of each
//! match was counted from the start of the file, quadratic in matches).
//!
//! A Python file is searched once, by [`WordSet::scan`]: one multi-literal search (the
//! `aho-corasick` crate's, which runs its packed SIMD searcher, Teddy, over the text) for the
//! words detection gates its regexes on and for the keywords `import` and `from`. What the
//! later searches need comes from that pass: which words the file contains ([`Present::has`]),
//! and where the keywords start (the candidates of the `(?m)^\s*import ...`
//! and `(?m)^\s*from ...` patterns, [`LineStart::find_at_in`]), so those are not searched for
//! again, once per pattern, over the whole file (that search, for the removed modules, was 40%
//! of detecting a Python tree).
//!
//! A pattern `(?m)^\s*CORE`, where every match of CORE starts with one of a few keywords
//! followed by whitespace (`import`, `from`, `print`, ...), is searched here by those keywords
//! (a literal search, memchr-like, skipping the text between them, or the scan's list); a
//! keyword at `p` is a candidate of the pattern when the text before `p`, back to a line start,
//! is whitespace, and the words that must come next do; only then is CORE tried, anchored at
//! `p`. The pattern's match starts at the earliest line start of that run of whitespace
//! (leftmost-first: `\s` matches `\n` too, so a match may begin on a blank line above) and ends
//! where CORE's does. [`LineStart::find_at`] gives the same match as the full pattern's
//! `find_at`, so the evidence lines are unchanged (the tests compare them, on any text).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, Input, MatchKind, Span, packed};
use regex::Regex;

/// A keyword every match of CORE starts with, then at least one whitespace character, then
/// (unless the list is empty) one of the words.
pub(super) type Key = (&'static str, &'static [&'static str]);

/// The keywords [`WordSet::scan`] lists the starts of: a [`LineStart`] whose keys are all among
/// them takes its candidates from that list ([`LineStart::find_at_in`]).
pub(super) const LINE_KEYWORDS: [&str; 2] = ["import", "from"];

/// CORE at a candidate, as a hand-written matcher of it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Core {
    /// CORE matches the text from the candidate, to this many bytes on.
    Match(usize),
    NoMatch,
    /// The matcher met a character it does not decide (one that is not ASCII, where CORE's
    /// Unicode classes would need it): the regex decides.
    Unsure,
}

/// `(?m)^\s*(?:CORE)`, searched by CORE's keywords.
#[derive(Debug)]
pub(super) struct LineStart {
    /// `^(?:CORE)`, tried at a candidate: compiled at the first candidate a matcher does not
    /// decide (issue 15: with Unicode `\s`, `\w` and `\b`, compiling every pattern was about a
    /// tenth of detection on a Python tree, and most patterns never meet a candidate).
    anchored: OnceLock<Regex>,
    core: String,
    /// Any of the keywords: a literal search (memchr, or the packed multi-literal searcher),
    /// compiled at the first search by it (never, for a pattern that takes its candidates from
    /// [`WordSet::scan`]).
    any_key: OnceLock<Regex>,
    keys: &'static [Key],
    /// Every key is one of [`LINE_KEYWORDS`].
    indexed: bool,
    /// CORE at the start of the given bytes, as the anchored regex has it, where it can tell.
    matcher: Option<fn(&[u8]) -> Core>,
    /// For each key, the bytes its words start with (all, for a key without words): most
    /// keywords are followed by no word of their key, seen from its first byte.
    firsts: Vec<[bool; 256]>,
    /// For a CORE `(?:KEYWORD|...)\s+(?:NAME|...)\b` (the keys' keywords, these names in
    /// this order): decided by [`import_of_at`], not the regex.
    names: Option<&'static [&'static str]>,
}

impl LineStart {
    /// Every match of `core` must start with one of `keys`, as each key says.
    pub(super) fn new(core: &str, keys: &'static [Key]) -> Self {
        assert!(!keys.is_empty());
        LineStart {
            anchored: OnceLock::new(),
            core: format!("^(?:{core})"),
            any_key: OnceLock::new(),
            keys,
            indexed: keys.iter().all(|(k, _)| LINE_KEYWORDS.contains(k)),
            matcher: None,
            firsts: keys
                .iter()
                .map(|(_, words)| {
                    let mut firsts = [words.is_empty(); 256];
                    for w in *words {
                        firsts[usize::from(w.as_bytes()[0])] = true;
                    }
                    firsts
                })
                .collect(),
            names: None,
        }
    }

    /// A CORE that is `(?:KEY|...)\s+(?:NAME|...)\b` with every key followed by `names`: the
    /// Python import of one of them, decided by hand (with Unicode `\s` and `\b`, compiling
    /// the anchored regex of the removed modules cost 1.0M instructions, issue 15).
    pub(super) fn import_of(
        core: &str,
        keys: &'static [Key],
        names: &'static [&'static str],
    ) -> Self {
        debug_assert!(keys.iter().all(|(_, words)| *words == names));
        LineStart {
            names: Some(names),
            ..LineStart::new(core, keys)
        }
    }

    /// As [`LineStart::new`], with `matcher` deciding CORE at a candidate where it can (it
    /// must give the anchored regex's match, or [`Core::Unsure`]).
    pub(super) fn with_matcher(
        core: &str,
        keys: &'static [Key],
        matcher: fn(&[u8]) -> Core,
    ) -> Self {
        LineStart {
            matcher: Some(matcher),
            ..LineStart::new(core, keys)
        }
    }

    /// The leftmost match of `(?m)^\s*(?:CORE)` starting at or after `from`, as
    /// `Regex::find_at` gives it: `(start, end)` in bytes.
    pub(super) fn find_at(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let any_key = self.any_key.get_or_init(|| {
            let alternation: Vec<String> =
                self.keys.iter().map(|(k, _)| regex::escape(k)).collect();
            Regex::new(&alternation.join("|")).expect("valid regex")
        });
        let mut pos = from;
        loop {
            let p = any_key.find_at(text, pos)?.start();
            // Keywords are ASCII: the next byte is a character boundary.
            pos = p + 1;
            if let Some(m) = self.at(text, from, p) {
                return Some(m);
            }
        }
    }

    /// [`LineStart::find_at`], with the candidates `present` (the scan of `text`) lists when
    /// every key is one of [`LINE_KEYWORDS`]: no search of the text.
    pub(super) fn find_at_in(
        &self,
        text: &str,
        from: usize,
        present: &Present<'_>,
    ) -> Option<(usize, usize)> {
        if !self.indexed {
            return self.find_at(text, from);
        }
        let keys = &present.keys;
        let first = keys.partition_point(|&p| p < from);
        keys[first..].iter().find_map(|&p| self.at(text, from, p))
    }

    #[cfg(test)]
    pub(super) fn find(&self, text: &str) -> Option<(usize, usize)> {
        self.find_at(text, 0)
    }

    pub(super) fn find_in(&self, text: &str, present: &Present<'_>) -> Option<(usize, usize)> {
        self.find_at_in(text, 0, present)
    }

    /// The match starting with a keyword at `p`, searching from `from`, if there is one.
    fn at(&self, text: &str, from: usize, p: usize) -> Option<(usize, usize)> {
        let bytes = text.as_bytes();
        if let Some(names) = self.names {
            // The matcher decides CORE where it can; the regex matches only where the
            // candidate test below would pass, so it is not needed first.
            let decided = import_of_at(&bytes[p..], self.keys, names, &self.firsts[0]);
            if decided == Core::NoMatch {
                return None;
            }
            let start = line_start_before(text, from, p)?;
            let end = match decided {
                Core::Match(end) => end,
                _ => self.anchored_end(text, p)?,
            };
            return Some((start, p + end));
        }
        // Every keyword that starts at `p` is tried (one may be a prefix of another).
        let candidate = self
            .keys
            .iter()
            .zip(&self.firsts)
            .any(|(&(key, words), firsts)| {
                if !starts_with(&bytes[p..], key.as_bytes()) {
                    return false;
                }
                // Keywords are ASCII: the byte after one is a character boundary.
                let after = skip_whitespace(text, p + key.len());
                after > p + key.len()
                    && (words.is_empty()
                        || bytes.get(after).is_some_and(|&b| firsts[usize::from(b)])
                            && words
                                .iter()
                                .any(|w| starts_with(&bytes[after..], w.as_bytes())))
            });
        if !candidate {
            return None;
        }
        let start = line_start_before(text, from, p)?;
        let decided = self.matcher.map_or(Core::Unsure, |m| m(&bytes[p..]));
        let end = match decided {
            Core::Match(end) => end,
            Core::NoMatch => return None,
            Core::Unsure => self.anchored_end(text, p)?,
        };
        Some((start, p + end))
    }

    /// The end of CORE's match at `p`, relative to `p`, as the anchored regex has it.
    fn anchored_end(&self, text: &str, p: usize) -> Option<usize> {
        let anchored = self
            .anchored
            .get_or_init(|| Regex::new(&self.core).expect("valid regex"));
        Some(anchored.find(&text[p..])?.end())
    }
}

/// Why a hand-written matcher stopped without a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    NoMatch,
    /// At a byte that is not ASCII: [`Core::Unsure`].
    Unsure,
}

/// A cursor for hand-written matchers of regexes whose parts are each a run of one class then a
/// character outside it (so the greedy runs the regex takes are the longest ones, and a match
/// is decided left to right), over ASCII: a byte that is not ASCII stops it with
/// [`Stop::Unsure`] wherever a class is asked of it.
#[derive(Debug)]
pub(super) struct Ascii<'a> {
    pub(super) s: &'a [u8],
    pub(super) i: usize,
}

impl Ascii<'_> {
    /// At least `min` bytes of `class`, as many as there are.
    pub(super) fn run(&mut self, class: fn(u8) -> bool, min: usize) -> Result<(), Stop> {
        let start = self.i;
        while let Some(&b) = self.s.get(self.i) {
            if !b.is_ascii() {
                return Err(Stop::Unsure);
            }
            if !class(b) {
                break;
            }
            self.i += 1;
        }
        if self.i - start < min {
            return Err(Stop::NoMatch);
        }
        Ok(())
    }

    /// One byte of `class`.
    pub(super) fn one(&mut self, class: fn(u8) -> bool) -> Result<(), Stop> {
        match self.s.get(self.i) {
            Some(b) if !b.is_ascii() => Err(Stop::Unsure),
            Some(&b) if class(b) => {
                self.i += 1;
                Ok(())
            }
            _ => Err(Stop::NoMatch),
        }
    }

    /// The match so far as a [`Core`].
    pub(super) fn core(&self, result: Result<(), Stop>) -> Core {
        match result {
            Ok(()) => Core::Match(self.i),
            Err(Stop::NoMatch) => Core::NoMatch,
            Err(Stop::Unsure) => Core::Unsure,
        }
    }
}

/// Regex `\s` on ASCII (Unicode White_Space: tab, newline, vertical tab, form feed, carriage
/// return, space).
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
}

/// Regex `\w` on ASCII.
pub(super) fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The first position at or after `i` (a character boundary) that is not whitespace (Unicode
/// `White_Space`, as `char::is_whitespace` and the regex `\s`): ASCII a byte at a time.
fn skip_whitespace(text: &str, mut i: usize) -> usize {
    let bytes = text.as_bytes();
    while let Some(&b) = bytes.get(i) {
        if is_space(b) {
            i += 1;
        } else if b.is_ascii() {
            return i;
        } else {
            let rest = &text[i..];
            return i + (rest.len() - rest.trim_start_matches(char::is_whitespace).len());
        }
    }
    i
}

/// `(?:KEY|...)\s+(?:NAME|...)\b` at the start of `s`, the keys' keywords and `names` in the
/// pattern's order (leftmost-first: the first name followed by a word boundary), over ASCII.
/// `firsts` has the bytes the names start with.
fn import_of_at(s: &[u8], keys: &[Key], names: &[&str], firsts: &[bool; 256]) -> Core {
    let Some(key) = keys.iter().find(|(k, _)| starts_with(s, k.as_bytes())) else {
        return Core::NoMatch;
    };
    let mut c = Ascii { s, i: key.0.len() };
    if let Err(stop) = c.run(is_space, 1) {
        return c.core(Err(stop));
    }
    let rest = &s[c.i..];
    // Most imports are of none of the names, and most differ in the first byte.
    if !rest.first().is_some_and(|&b| firsts[usize::from(b)]) {
        return Core::NoMatch;
    }
    for name in names {
        if name.as_bytes()[0] != rest[0] || !starts_with(rest, name.as_bytes()) {
            continue;
        }
        let end = c.i + name.len();
        // `\b` after a word character: the end of the text or a character that is not one.
        match s.get(end) {
            None => return Core::Match(end),
            Some(b) if !b.is_ascii() => return Core::Unsure,
            Some(&b) if !is_word(b) => return Core::Match(end),
            Some(_) => {}
        }
    }
    Core::NoMatch
}

/// The earliest position `s` in `from..=p` where `(?m)^` matches and `text[s..p]` is all
/// whitespace, if there is one.
fn line_start_before(text: &str, from: usize, p: usize) -> Option<usize> {
    let before = &text[from..p];
    let run: usize = before
        .chars()
        .rev()
        .take_while(|c| c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    let ws = p - run;
    if ws == 0 || text.as_bytes()[ws - 1] == b'\n' {
        return Some(ws);
    }
    text[ws..p].find('\n').map(|i| ws + i + 1)
}

/// Which of a fixed list of words a text contains, and where the [`LINE_KEYWORDS`] start, found
/// in one pass: the gates detection puts before its regexes were a
/// `str::contains` each, a full scan of the file for every word it did not contain.
///
/// Each word is given with a fragment of it to search for (one whose first bytes are rare in
/// code: the packed searcher screens candidates by them, and a common trigram such as `sta` or
/// `re` sends it to verify at every other byte). The search visits every position where a
/// fragment or keyword starts (it resumes one byte on, not after the match, and tests every
/// literal starting there, so one hidden in or behind another is still seen); where a fragment
/// starts, each word containing it is compared with the text around it. So a word is found
/// exactly where `contains` finds it, with no second search.
#[derive(Debug)]
pub(super) struct WordSet {
    words: &'static [(&'static str, &'static str)],
    /// The indices of the words of each length: a lookup compares a word with one or two
    /// (the tests' [`Present::has`]; detection tests bits, [`Present::any`]).
    #[cfg_attr(not(test), allow(dead_code))]
    by_len: Vec<Vec<usize>>,
    /// What is searched for: the distinct fragments, then the keywords that are none of them.
    literals: Vec<&'static str>,
    /// For each literal, the words it is the fragment of, with its offset in each.
    words_of: Vec<Vec<(usize, usize)>>,
    /// For each literal, whether it is one of [`LINE_KEYWORDS`].
    keyword: Vec<bool>,
    /// For each byte, the literals that start with it.
    by_first: Vec<Vec<usize>>,
    finder: Finder,
}

/// The multi-literal searcher: the packed one (Teddy) used directly, without the automaton
/// around it (its set-up per call showed on trees of small files), or, where the CPU has no
/// vector instructions for it, the automaton.
#[derive(Debug)]
enum Finder {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Finder {
    fn find_start(&self, bytes: &[u8], pos: usize) -> Option<usize> {
        match self {
            Finder::Packed(p) => p.find_in(bytes, Span::from(pos..bytes.len())),
            Finder::Automaton(a) => a.find(Input::new(bytes).span(pos..bytes.len())),
        }
        .map(|m| m.start())
    }
}

/// The words of a [`WordSet`] one text contains, and where its keywords start.
#[derive(Debug, Clone)]
pub(super) struct Present<'w> {
    #[cfg_attr(not(test), allow(dead_code))]
    set: &'w WordSet,
    /// One bit per word found.
    bits: u64,
    /// Where the [`LINE_KEYWORDS`] start in the text, in increasing order.
    keys: Vec<usize>,
}

impl WordSet {
    /// `(word, fragment of it)`; at most 64 words, each once, no fragment empty.
    pub(super) fn new(words: &'static [(&'static str, &'static str)]) -> Self {
        assert!(words.len() <= 64);
        let mut literals: Vec<&'static str> = Vec::new();
        let mut words_of: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut by_len: Vec<Vec<usize>> = Vec::new();
        for (i, &(word, fragment)) in words.iter().enumerate() {
            assert!(!fragment.is_empty() && words[..i].iter().all(|(w, _)| *w != word));
            let offset = word
                .find(fragment)
                .expect("the fragment is part of the word");
            let literal = literals
                .iter()
                .position(|l| *l == fragment)
                .unwrap_or_else(|| {
                    literals.push(fragment);
                    words_of.push(Vec::new());
                    literals.len() - 1
                });
            words_of[literal].push((i, offset));
            if by_len.len() <= word.len() {
                by_len.resize(word.len() + 1, Vec::new());
            }
            by_len[word.len()].push(i);
        }
        for keyword in LINE_KEYWORDS {
            if !literals.contains(&keyword) {
                literals.push(keyword);
                words_of.push(Vec::new());
            }
        }
        let keyword = literals.iter().map(|l| LINE_KEYWORDS.contains(l)).collect();
        let mut by_first = vec![Vec::new(); 256];
        for (i, literal) in literals.iter().enumerate() {
            by_first[usize::from(literal.as_bytes()[0])].push(i);
        }
        let finder = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(&literals)
            .build()
            .map_or_else(
                || {
                    Finder::Automaton(
                        AhoCorasick::builder()
                            .match_kind(MatchKind::LeftmostFirst)
                            .build(&literals)
                            .expect("a few short literals"),
                    )
                },
                Finder::Packed,
            );
        WordSet {
            words,
            by_len,
            literals,
            words_of,
            keyword,
            by_first,
            finder,
        }
    }

    pub(super) fn scan(&self, text: &str) -> Present<'_> {
        let bytes = text.as_bytes();
        let mut bits = 0u64;
        let mut keys = Vec::new();
        let mut pos = 0;
        while let Some(s) = self.finder.find_start(bytes, pos) {
            let rest = &bytes[s..];
            for &literal in &self.by_first[usize::from(rest[0])] {
                if !starts_with(rest, self.literals[literal].as_bytes()) {
                    continue;
                }
                for &(word, offset) in &self.words_of[literal] {
                    if s >= offset
                        && starts_with(&bytes[s - offset..], self.words[word].0.as_bytes())
                    {
                        bits |= 1 << word;
                    }
                }
                if self.keyword[literal] {
                    keys.push(s);
                }
            }
            pos = s + 1;
        }
        Present {
            set: self,
            bits,
            keys,
        }
    }
}

/// `text.starts_with(prefix)` byte by byte: the literals are a few bytes long, and a `memcmp`
/// call each showed in profiles.
fn starts_with(text: &[u8], prefix: &[u8]) -> bool {
    text.len() >= prefix.len() && text.iter().zip(prefix).all(|(a, b)| a == b)
}

impl Present<'_> {
    /// Whether the text contains any of the words whose bits (`1 << i`, `i` the word's index in
    /// the set's list) are in `mask`: a test of bits, where [`Present::has`] looks the word up.
    pub(super) fn any(&self, mask: u64) -> bool {
        self.bits & mask != 0
    }

    /// Whether some keyword of [`LINE_KEYWORDS`] in the text is followed by whitespace then
    /// one of `words`: what `(from|import)\s+(WORD|...)` needs to match.
    pub(super) fn key_then_any(&self, text: &str, words: &[&str]) -> bool {
        let bytes = text.as_bytes();
        self.keys.iter().any(|&p| {
            let Some(keyword) = LINE_KEYWORDS
                .iter()
                .find(|k| starts_with(&bytes[p..], k.as_bytes()))
            else {
                return false;
            };
            let after = skip_whitespace(text, p + keyword.len());
            after > p + keyword.len()
                && bytes.get(after).is_some_and(|&b| {
                    words
                        .iter()
                        .any(|w| w.as_bytes()[0] == b && starts_with(&bytes[after..], w.as_bytes()))
                })
        })
    }

    /// Whether some `keyword` (one of [`LINE_KEYWORDS`]) in the text is followed by whitespace
    /// then `word`: what `keyword\s+word` needs to match.
    pub(super) fn keyword_then(&self, text: &str, keyword: &str, word: &str) -> bool {
        debug_assert!(LINE_KEYWORDS.contains(&keyword));
        self.keys.iter().any(|&p| {
            text[p..].strip_prefix(keyword).is_some_and(|rest| {
                let after = rest.trim_start_matches(char::is_whitespace);
                after.len() < rest.len() && after.starts_with(word)
            })
        })
    }

    /// `text.contains(word)`, for the text scanned; a word not in the set is searched for.
    #[cfg(test)]
    pub(super) fn has(&self, text: &str, word: &str) -> bool {
        let set = self.set;
        // Compared byte by byte: the words are a few bytes long, and `has` is asked a few dozen
        // times of every file (a `memcmp` call each showed on 100,000-file trees).
        let same =
            |w: &str| w.len() == word.len() && w.bytes().zip(word.bytes()).all(|(a, b)| a == b);
        let found = set
            .by_len
            .get(word.len())
            .and_then(|same_len| same_len.iter().find(|&&i| same(set.words[i].0)));
        match found {
            Some(&i) => self.bits & (1 << i) != 0,
            None => text.contains(word),
        }
    }
}

/// The stack buffer [`ascii_lowercase`] writes a file name to: most names fit, and it is set
/// up for every file a walk sees (a larger one cost a `memset` each).
pub(super) const NAME_BUF: usize = 64;

/// `name` in ASCII lowercase, in `buf` when it fits (no allocation), else in `owned`.
pub(super) fn ascii_lowercase<'b>(
    name: &str,
    buf: &'b mut [u8; NAME_BUF],
    owned: &'b mut String,
) -> &'b str {
    if let Some(buf) = buf.get_mut(..name.len()) {
        buf.copy_from_slice(name.as_bytes());
        buf.make_ascii_lowercase();
        // ASCII lowercasing keeps UTF-8 valid.
        if let Ok(lower) = std::str::from_utf8(buf) {
            return lower;
        }
    }
    *owned = name.to_ascii_lowercase();
    owned.as_str()
}

/// Line numbers (1-based) of byte offsets given in increasing order, counting each newline
/// once: linear in the text, however many offsets.
#[derive(Debug)]
pub(super) struct LineCounter {
    pos: usize,
    line: usize,
    /// Newlines counted by the last calls (the work done, for the tests).
    #[cfg(test)]
    pub(super) scanned: usize,
}

impl LineCounter {
    pub(super) fn new() -> Self {
        LineCounter {
            pos: 0,
            line: 1,
            #[cfg(test)]
            scanned: 0,
        }
    }

    /// The line of `offset`; `offset` must not be before the previous call's.
    pub(super) fn line_of(&mut self, text: &str, offset: usize) -> usize {
        let offset = offset.min(text.len());
        if offset > self.pos {
            let slice = &text.as_bytes()[self.pos..offset];
            #[cfg(test)]
            {
                self.scanned += slice.len();
            }
            self.line += slice.iter().filter(|&&b| b == b'\n').count();
            self.pos = offset;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["cgi", "imp"];
    const PATTERNS: [(&str, &[Key]); 4] = [
        (
            r"import\s+cPickle|from\s+six\.moves\s+import\s+cPickle",
            &[("import", &["cPickle"]), ("from", &["six"])],
        ),
        (
            r#"print\s+["'\w%]|except\s+[\w.]+\s*,\s*\w+\s*:|raise\s+\w+\s*,\s*["']"#,
            &[("print", &[]), ("except", &[]), ("raise", &[])],
        ),
        (
            r"(?:import|from)\s+(cgi|imp)\b",
            &[("import", NAMES), ("from", NAMES)],
        ),
        (r"import\s+\w+", &[("import", &[])]),
    ];

    /// Words that overlap each other and the keywords, for the scan's list of keywords.
    const OVERLAPPING: &[(&str, &str)] = &[("imports", "ports"), ("from", "from"), ("mi", "mi")];

    /// Every match `find_at` (and `find_at_in`, with the candidates of a scan) gives, from every
    /// start, is the full pattern's.
    fn same_as_regex(core: &str, keys: &'static [Key], text: &str) {
        same_as_regex_of(core, LineStart::new(core, keys), text);
        // The import of names, decided by hand.
        if core == PATTERNS[2].0 {
            same_as_regex_of(core, LineStart::import_of(core, keys, NAMES), text);
        }
    }

    fn same_as_regex_of(core: &str, ours: LineStart, text: &str) {
        let full = Regex::new(&format!(r"(?m)^\s*(?:{core})")).unwrap();
        let sets = [WordSet::new(&[]), WordSet::new(OVERLAPPING)];
        let scans: Vec<Present<'_>> = sets.iter().map(|set| set.scan(text)).collect();
        let mut from = 0;
        while from <= text.len() {
            if text.is_char_boundary(from) {
                let want = full.find_at(text, from).map(|m| (m.start(), m.end()));
                assert_eq!(
                    ours.find_at(text, from),
                    want,
                    "{core:?} in {text:?} from {from}"
                );
                for present in &scans {
                    assert_eq!(
                        ours.find_at_in(text, from, present),
                        want,
                        "{core:?} in {text:?} from {from}, scanned"
                    );
                }
            }
            from += 1;
        }
    }

    #[test]
    fn matches_the_full_pattern() {
        let texts = [
            "import cPickle\n",
            "x = 1\n\n  \n   import cPickle\n",
            "  import  \n cPickle",
            "a import cPickle\nimport cPickle",
            "x = print\nprint y\n",
            "print\nfoo = 1\n",
            "\u{a0}\u{2003}import cPickle\n\u{85}import cPickle",
            "except ValueError, e:\n    except IOError ,\n e :\n",
            "\r\n\t import x\r\nfrom six.moves import cPickle",
            "",
            "import",
            "\n\n\n",
            "é import cPickle\néimport cPickle\n import cPickle",
        ];
        for (core, keys) in PATTERNS {
            for text in texts {
                same_as_regex(core, keys, text);
            }
        }
    }

    proptest::proptest! {
        /// Texts made of the pieces the patterns care about, in any order.
        #[test]
        fn matches_the_full_pattern_on_any_text(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                " ", "\t", "\n", "\r\n", "\u{a0}", "\u{2028}", "x", "é", ",", ":", "'", "e",
                "import", "cPickle", "print", "except", "ValueError", "from", "six.moves",
                "cgi", "imp", "raise", "\"", "\u{b}", "\u{c}", "\u{85}", "\u{3000}", "ximport",
                "fromfrom", "importimport", "cgix", "imp_", "impé", "cgi.", "\u{2003}",
            ]), 0..24)
        ) {
            let text = pieces.concat();
            for (core, keys) in PATTERNS {
                same_as_regex(core, keys, &text);
            }
        }
    }

    /// Words hidden in, behind and across each other and the keywords.
    const WORDS: &[(&str, &str)] = &[
        ("live", "live"),
        ("alive", "live"),
        ("cache", "cache"),
        ("memcache", "cache"),
        ("Cache", "Cache"),
        ("rq", "rq"),
        ("é", "é"),
        ("import", "import"),
        ("reimport", "import"),
        ("importer", "port"),
        ("eré", "ré"),
    ];

    #[test]
    fn word_set_is_contains() {
        let set = WordSet::new(WORDS);
        let texts = [
            "",
            "alive",
            "xalivex",
            "memcached Cache",
            "rrq",
            "aéb",
            "liv",
            "cache",
            "memcach",
            "reimporter",
            "memcachememcache Cachecache",
            "reimpor import",
            "alivalive",
        ];
        for text in texts {
            let present = set.scan(text);
            for w in WORDS.iter().map(|(w, _)| w).chain(&["other", "li"]) {
                assert_eq!(present.has(text, w), text.contains(w), "{w:?} in {text:?}");
            }
        }
    }

    proptest::proptest! {
        /// Words hidden in, behind and across each other: `has` is `contains`.
        #[test]
        fn word_set_is_contains_on_any_text(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "a", "li", "ve", "live", "alive", "mem", "cache", "Cache", "im", "port", "import",
                "er", "re", "é", " ", "\n", "from", "q", "rq",
            ]), 0..16)
        ) {
            let set = WordSet::new(WORDS);
            let text = pieces.concat();
            let present = set.scan(&text);
            for (w, _) in WORDS {
                proptest::prop_assert_eq!(present.has(&text, w), text.contains(w), "{:?} in {:?}", w, text);
            }
        }
    }

    #[test]
    fn lines_are_counted_once() {
        let text = "a\n".repeat(10_000);
        let mut lines = LineCounter::new();
        for (i, offset) in (0..text.len()).step_by(2).enumerate() {
            assert_eq!(lines.line_of(&text, offset), i + 1);
        }
        assert!(lines.scanned <= text.len());
    }
}
