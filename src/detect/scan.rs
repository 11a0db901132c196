//! Scanning source text in one linear pass, with the results of the regexes detection was
//! written with (issue 15: `(?m)^\s*` patterns have no literal prefix, so the regex engine ran
//! its automaton over every byte of every Python file, several times; and the line of each
//! match was counted from the start of the file, quadratic in matches).
//!
//! A pattern `(?m)^\s*CORE`, where every match of CORE starts with one of a few keywords
//! followed by whitespace (`import`, `from`, `print`, ...), is searched here by those keywords
//! (a literal search, memchr-like, skipping the text between them); a keyword at `p` is a candidate of the
//! pattern when the text before `p`, back to a line start, is whitespace, and the words that
//! must come next do; only then is CORE tried, anchored at `p`. The pattern's match starts at
//! the earliest line start of that run of whitespace (leftmost-first: `\s` matches `\n` too,
//! so a match may begin on a blank line above) and ends where CORE's does.
//! [`LineStart::find_at`] gives the same match as the full pattern's `find_at`, so the evidence
//! lines are unchanged (the tests compare them, on any text).

use std::sync::OnceLock;

use regex::Regex;

/// A keyword every match of CORE starts with, then at least one whitespace character, then
/// (unless the list is empty) one of the words.
pub(super) type Key = (&'static str, &'static [&'static str]);

/// `(?m)^\s*(?:CORE)`, searched by CORE's keywords.
#[derive(Debug)]
pub(super) struct LineStart {
    /// `^(?:CORE)`, tried at a candidate: compiled at the first candidate (issue 15: with
    /// Unicode `\s`, `\w` and `\b`, compiling every pattern was about a tenth of detection on
    /// a Python tree, and most patterns never meet a candidate).
    anchored: OnceLock<Regex>,
    core: String,
    /// Any of the keywords: a literal search (memchr, or the packed multi-literal searcher).
    any_key: Regex,
    keys: &'static [Key],
}

impl LineStart {
    /// Every match of `core` must start with one of `keys`, as each key says.
    pub(super) fn new(core: &str, keys: &'static [Key]) -> Self {
        assert!(!keys.is_empty());
        let alternation: Vec<String> = keys.iter().map(|(k, _)| regex::escape(k)).collect();
        LineStart {
            anchored: OnceLock::new(),
            core: format!("^(?:{core})"),
            any_key: Regex::new(&alternation.join("|")).expect("valid regex"),
            keys,
        }
    }

    /// The leftmost match of `(?m)^\s*(?:CORE)` starting at or after `from`, as
    /// `Regex::find_at` gives it: `(start, end)` in bytes.
    pub(super) fn find_at(&self, text: &str, from: usize) -> Option<(usize, usize)> {
        let mut pos = from;
        loop {
            let p = self.any_key.find_at(text, pos)?.start();
            // Keywords are ASCII: the next byte is a character boundary. Every keyword that
            // starts at `p` is tried (one may be a prefix of another).
            pos = p + 1;
            let candidate = self.keys.iter().any(|&(key, words)| {
                let Some(rest) = text[p..].strip_prefix(key) else {
                    return false;
                };
                let after = rest.trim_start_matches(char::is_whitespace);
                after.len() < rest.len()
                    && (words.is_empty() || words.iter().any(|w| after.starts_with(w)))
            });
            if !candidate {
                continue;
            }
            let Some(start) = line_start_before(text, from, p) else {
                continue;
            };
            let anchored = self
                .anchored
                .get_or_init(|| Regex::new(&self.core).expect("valid regex"));
            if let Some(m) = anchored.find(&text[p..]) {
                return Some((start, p + m.end()));
            }
        }
    }

    pub(super) fn find(&self, text: &str) -> Option<(usize, usize)> {
        self.find_at(text, 0)
    }
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

/// Which of a fixed list of words a text contains, found in one pass: the gates detection
/// puts before its regexes were a `str::contains` each, a full scan of the file for every word
/// it did not contain.
///
/// Each word is given with a fragment of it to search for (one whose first three bytes are rare
/// in code: the multi-literal searcher screens candidates by them, and a common trigram such as
/// `sta` or `re` sends it to verify at every other byte). A text without the fragment does not
/// contain the word; one with it is asked `contains` for the word itself.
#[derive(Debug)]
pub(super) struct WordSet {
    words: &'static [(&'static str, &'static str)],
    /// The index in `fragments` of each word's fragment.
    fragment_of: Vec<usize>,
    /// The indices of the words of each length: a lookup compares a word with one or two.
    by_len: Vec<Vec<usize>>,
    fragments: Vec<&'static str>,
    any: Regex,
}

/// The words of a [`WordSet`] one text contains.
#[derive(Debug, Clone, Copy)]
pub(super) struct Present<'w> {
    set: &'w WordSet,
    /// One bit per fragment found.
    bits: u64,
}

impl WordSet {
    /// `(word, fragment of it)`; at most 64 distinct fragments, none empty.
    pub(super) fn new(words: &'static [(&'static str, &'static str)]) -> Self {
        let mut fragments: Vec<&'static str> = Vec::new();
        let mut fragment_of = Vec::new();
        let mut by_len: Vec<Vec<usize>> = Vec::new();
        for (i, &(word, fragment)) in words.iter().enumerate() {
            assert!(!fragment.is_empty() && word.contains(fragment));
            if !fragments.contains(&fragment) {
                fragments.push(fragment);
            }
            fragment_of.push(fragments.iter().position(|f| *f == fragment).unwrap_or(0));
            if by_len.len() <= word.len() {
                by_len.resize(word.len() + 1, Vec::new());
            }
            by_len[word.len()].push(i);
        }
        assert!(fragments.len() <= 64);
        let alternation: Vec<String> = fragments.iter().map(|w| regex::escape(w)).collect();
        WordSet {
            words,
            fragment_of,
            by_len,
            fragments,
            any: Regex::new(&alternation.join("|")).expect("valid regex"),
        }
    }

    pub(super) fn scan(&self, text: &str) -> Present<'_> {
        let all = if self.fragments.len() == 64 {
            u64::MAX
        } else {
            (1u64 << self.fragments.len()) - 1
        };
        let mut bits = 0u64;
        let mut pos = 0;
        // Every position where some fragment starts is visited (the search resumes one
        // character on, not after the match, and every fragment starting there is tested), so
        // one hidden in or behind another is still seen.
        while bits != all {
            let Some(m) = self.any.find_at(text, pos) else {
                break;
            };
            let rest = &text.as_bytes()[m.start()..];
            for (i, w) in self.fragments.iter().enumerate() {
                if rest.starts_with(w.as_bytes()) {
                    bits |= 1 << i;
                }
            }
            pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        Present { set: self, bits }
    }
}

impl Present<'_> {
    /// `text.contains(word)`, for the text scanned; a word not in the set is searched for.
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
        let Some(&i) = found else {
            return text.contains(word);
        };
        let fragment = set.fragment_of[i];
        self.bits & (1 << fragment) != 0 && (set.fragments[fragment] == word || text.contains(word))
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

    /// Every match `find_at` gives, from every start, is the full pattern's.
    fn same_as_regex(core: &str, keys: &'static [Key], text: &str) {
        let full = Regex::new(&format!(r"(?m)^\s*(?:{core})")).unwrap();
        let ours = LineStart::new(core, keys);
        let mut from = 0;
        while from <= text.len() {
            if text.is_char_boundary(from) {
                let want = full.find_at(text, from).map(|m| (m.start(), m.end()));
                assert_eq!(
                    ours.find_at(text, from),
                    want,
                    "{core:?} in {text:?} from {from}"
                );
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
                "cgi", "imp", "raise", "\"",
            ]), 0..24)
        ) {
            let text = pieces.concat();
            for (core, keys) in PATTERNS {
                same_as_regex(core, keys, &text);
            }
        }
    }

    #[test]
    fn word_set_is_contains() {
        const WORDS: &[(&str, &str)] = &[
            ("live", "live"),
            ("alive", "live"),
            ("cache", "cache"),
            ("memcache", "cache"),
            ("Cache", "Cache"),
            ("rq", "rq"),
            ("é", "é"),
        ];
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
        ];
        for text in texts {
            let present = set.scan(text);
            for w in WORDS.iter().map(|(w, _)| w).chain(&["other", "li"]) {
                assert_eq!(present.has(text, w), text.contains(w), "{w:?} in {text:?}");
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
