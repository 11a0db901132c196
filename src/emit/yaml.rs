//! YAML output: the one YAML writer, over JSON values, so every emitter builds documents the
//! same way and key order is deterministic (the order of the JSON map: sorted). No emitter
//! writes a YAML scalar by hand: a value holding a newline, a quote, `: `, `#` or `&` is quoted
//! here.
//!
//! The bytes are exactly what serde_yaml (libyaml's emitter, with serde_yaml's choice of
//! scalar style) wrote before this writer replaced it (issue 15: that path re-parsed every
//! string and built a second tree, most of a build's time). The emitter below is a port of the
//! part of libyaml's `emitter.c` these documents use (block mappings and sequences, `{}` and
//! `[]` for empty ones, plain, single-quoted, double-quoted and literal scalars, unlimited line
//! width, two-space indent), state for state, so that every corner (indentless sequences under
//! a key, `? ` for keys longer than 128 bytes or multi-line, `|-`, `|+`, `\L` for U+2028) comes out the same; a property test holds
//! it byte-equal to serde_yaml on random values with hostile strings.
//!
//! serde_yaml quotes what YAML 1.2 would read as something other than a string, but the tools
//! that read these files resolve plain scalars the YAML 1.1 way: kubectl (go-yaml v2 through
//! sigs.k8s.io/yaml) reads `no`, `on`, `y` as booleans and `2024-01-01` as a timestamp,
//! `1_000` as a number; Compose and Prometheus treat `<<` as a merge key. So strings YAML 1.1
//! would resolve are single-quoted too. (The writer this replaced let serde_yaml write a plain
//! placeholder in their place and swapped it for the quoted string; the placeholder's length
//! is what decided whether such a key was written as a `? ` key, and it still is.)

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Plain scalars a YAML 1.1 resolver reads as a bool, null, int, float, merge key, value key
/// or timestamp (yaml.org/type/*.html, the types of YAML 1.1).
static YAML11_NOT_A_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE",
        r"|on|On|ON|off|Off|OFF|~|null|Null|NULL|<<|=",
        r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
        r"|[-+]?(?:[0-9][0-9_]*)?\.[0-9.]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?",
        r")$"
    ))
    .expect("a valid regex")
});

/// Whether a YAML 1.1 reader resolves the plain scalar `s` to something other than a string.
pub fn is_yaml11_non_string(s: &str) -> bool {
    // Every alternative of the pattern starts with one of these bytes: most strings (names,
    // images, paths) are decided without running it.
    s.as_bytes()
        .first()
        .is_some_and(|b| b"yYnNtTfFoO~<=+-.0123456789".contains(b))
        && YAML11_NOT_A_STRING.is_match(s)
}

/// One YAML document.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(&mut out, value);
    out
}

/// Several documents separated by `---`.
pub fn documents(values: &[Value]) -> String {
    let mut out = String::with_capacity(256 * values.len());
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        write(&mut out, value);
    }
    out
}

/// A file of YAML documents written one at a time, so a fleet's objects never exist as trees
/// all at once: the same text as [`documents`] after `prefix`.
pub struct Documents {
    text: String,
    start: usize,
}

impl Documents {
    pub fn new(prefix: String) -> Documents {
        let start = prefix.len();
        Documents {
            text: prefix,
            start,
        }
    }

    pub fn push(&mut self, value: &Value) {
        if self.text.len() > self.start {
            self.text.push_str("---\n");
        }
        write(&mut self.text, value);
    }

    pub fn extend<'v>(&mut self, values: impl IntoIterator<Item = &'v Value>) {
        for value in values {
            self.push(value);
        }
    }

    /// Appends the documents of `part` (a [`Documents`] begun with no prefix), as if each had
    /// been pushed here.
    pub fn append(&mut self, part: Documents) {
        if part.text.is_empty() {
            return;
        }
        if self.text.len() > self.start {
            self.text.push_str("---\n");
        }
        self.text.push_str(&part.text[part.start..]);
    }

    pub fn finish(self) -> String {
        self.text
    }
}

/// Appends one YAML document to `out`.
pub fn write(out: &mut String, value: &Value) {
    let mut emitter = Emitter {
        out,
        root: value,
        indent: -1,
        indents: Vec::new(),
        column: 0,
        whitespace: true,
        indention: true,
        mapping_context: false,
        simple_key_context: false,
        quoted: 0,
        prefix_len: None,
    };
    emitter.node(value, false, false);
    // DOCUMENT-END (implicit). serde_yaml never sent STREAM-END (`to_string` drops its
    // serializer without it), so a kept final line break is not followed by `...`.
    emitter.write_indent();
}

/// The style serde_yaml asked libyaml for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Requested {
    /// Numbers, booleans, null.
    Plain,
    /// Strings serde_yaml found nothing special in.
    Any,
    /// Strings YAML 1.2 would read as another type.
    SingleQuoted,
    /// Strings with a line feed.
    Literal,
}

/// The style libyaml chose.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// libyaml's `yaml_emitter_analyze_scalar`, less what only flow context needs.
#[derive(Debug, PartialEq, Eq)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

struct Emitter<'a> {
    out: &'a mut String,
    root: &'a Value,
    indent: i32,
    indents: Vec<i32>,
    /// In characters, as libyaml counts.
    column: usize,
    whitespace: bool,
    indention: bool,
    mapping_context: bool,
    simple_key_context: bool,
    /// Strings single-quoted for YAML 1.1 so far (they numbered the placeholders).
    quoted: usize,
    /// The length of the placeholder prefix, found when first needed.
    prefix_len: Option<usize>,
}

const BEST_INDENT: i32 = 2;

impl Emitter<'_> {
    // --- Nodes (yaml_emitter_emit_node and the states it leads to). ---

    fn node(&mut self, value: &Value, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match value {
            Value::Null => self.scalar_plain("null"),
            Value::Bool(true) => self.scalar_plain("true"),
            Value::Bool(false) => self.scalar_plain("false"),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    self.scalar_plain(itoa::Buffer::new().format(u));
                } else if let Some(i) = n.as_i64() {
                    self.scalar_plain(itoa::Buffer::new().format(i));
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    let mut buffer = ryu::Buffer::new();
                    let text = if f.is_nan() {
                        ".nan"
                    } else if f.is_infinite() {
                        if f > 0.0 { ".inf" } else { "-.inf" }
                    } else {
                        buffer.format_finite(f)
                    };
                    self.scalar_plain(text);
                }
            }
            Value::String(s) => self.scalar_string(s),
            Value::Array(items) if items.is_empty() => self.flow_empty("[", "]"),
            Value::Object(map) if map.is_empty() => self.flow_empty("{", "}"),
            Value::Array(items) => {
                let indentless = self.mapping_context && !self.indention;
                self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, false, false);
                }
                self.indent = self.indents.pop().unwrap_or(-1);
            }
            Value::Object(map) => {
                self.increase_indent(false, false);
                for (key, value) in map {
                    self.write_indent();
                    let key_scalar = self.string_scalar(key);
                    if self.simple_key(&key_scalar) {
                        self.node_key(key, key_scalar, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node_key(key, key_scalar, false);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(value, true, false);
                }
                self.indent = self.indents.pop().unwrap_or(-1);
            }
        }
    }

    fn node_key(&mut self, key: &str, scalar: StringScalar, simple_key: bool) {
        self.mapping_context = true;
        self.simple_key_context = simple_key;
        self.emit_string(key, scalar);
    }

    fn flow_empty(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    /// libyaml's `yaml_emitter_check_simple_key` for a key scalar.
    fn simple_key(&mut self, key: &StringScalar) -> bool {
        match key {
            StringScalar::Yaml11 => self.placeholder_len() <= 128,
            StringScalar::Analysed { analysis, len, .. } => !analysis.multiline && *len <= 128,
        }
    }

    // --- Scalars. ---

    fn scalar_plain(&mut self, text: &str) {
        let analysis = analyze(text);
        let style = self.select(Requested::Plain, &analysis, text.is_empty());
        self.emit_scalar(text, style);
    }

    fn scalar_string(&mut self, s: &str) {
        let scalar = self.string_scalar(s);
        self.emit_string(s, scalar);
    }

    /// What serde_yaml (and, for YAML 1.1 non-strings, the placeholder) made of a string.
    fn string_scalar(&self, s: &str) -> StringScalar {
        if is_yaml11_non_string(s) {
            return StringScalar::Yaml11;
        }
        let plain = is_plain_word(s.as_bytes());
        let requested = if !plain && s.contains('\n') {
            Requested::Literal
        } else if yaml12_non_string(s) {
            Requested::SingleQuoted
        } else {
            Requested::Any
        };
        StringScalar::Analysed {
            requested,
            analysis: if plain { PLAIN_WORD } else { analyze(s) },
            len: s.len(),
        }
    }

    fn emit_string(&mut self, s: &str, scalar: StringScalar) {
        match scalar {
            StringScalar::Yaml11 => {
                // The placeholder was a plain scalar; the quoted string took its place.
                self.quoted += 1;
                self.increase_indent(true, false);
                if !self.whitespace {
                    self.put(' ');
                }
                self.out.push('\'');
                let mut rest = s;
                while let Some(at) = rest.find('\'') {
                    self.out.push_str(&rest[..=at]);
                    self.out.push('\'');
                    rest = &rest[at + 1..];
                }
                self.out.push_str(rest);
                self.out.push('\'');
                self.column += 1;
                self.whitespace = false;
                self.indention = false;
                self.indent = self.indents.pop().unwrap_or(-1);
            }
            StringScalar::Analysed {
                requested,
                analysis,
                ..
            } => {
                let style = self.select(requested, &analysis, s.is_empty());
                self.emit_scalar(s, style);
            }
        }
    }

    /// libyaml's `yaml_emitter_select_scalar_style` (block context, no tags).
    fn select(&self, requested: Requested, analysis: &Analysis, empty: bool) -> Style {
        let mut style = match requested {
            Requested::Plain | Requested::Any => Style::Plain,
            Requested::SingleQuoted => Style::SingleQuoted,
            Requested::Literal => Style::Literal,
        };
        if self.simple_key_context && analysis.multiline {
            style = Style::DoubleQuoted;
        }
        if style == Style::Plain
            && (!analysis.block_plain_allowed || (empty && self.simple_key_context))
        {
            style = Style::SingleQuoted;
        }
        if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
            style = Style::DoubleQuoted;
        }
        if style == Style::Literal && (!analysis.block_allowed || self.simple_key_context) {
            style = Style::DoubleQuoted;
        }
        style
    }

    /// libyaml's `yaml_emitter_emit_scalar` once the style is chosen.
    fn emit_scalar(&mut self, s: &str, style: Style) {
        self.increase_indent(true, false);
        match style {
            Style::Plain => self.write_plain(s),
            Style::SingleQuoted => self.write_single_quoted(s),
            Style::DoubleQuoted => self.write_double_quoted(s),
            Style::Literal => self.write_literal(s),
        }
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn placeholder_len(&mut self) -> usize {
        let prefix = *self.prefix_len.get_or_insert_with(|| {
            let mut prefix = String::from("canaryc1q7x");
            while contains(self.root, &prefix) {
                prefix.push('q');
            }
            prefix.len()
        });
        prefix + decimal_digits(self.quoted) + 1
    }

    // --- Writing (libyaml's yaml_emitter_write_*), with an unlimited line width. ---

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self) {
        let indent = usize::try_from(self.indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(indicator);
        self.column += indicator.chars().count();
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// A line break of the value: `\n` as the emitter's break, others copied.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_plain(&mut self, s: &str) {
        // Plain scalars never hold a line break (the analysis forbids it), and with no width
        // limit a space never becomes one.
        if !self.whitespace && !s.is_empty() {
            self.put(' ');
        }
        self.out.push_str(s);
        self.column += chars(s);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, s: &str) {
        let mut breaks = false;
        self.write_indicator("'", true, false, false);
        for c in s.chars() {
            if c == ' ' {
                self.out.push(' ');
                self.column += 1;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.out.push(c);
                self.column += 1;
                self.indention = false;
                breaks = false;
            }
        }
        if breaks {
            self.write_indent();
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double_quoted(&mut self, s: &str) {
        self.write_indicator("\"", true, false, false);
        for c in s.chars() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                if let Some(e) = short {
                    self.put(e);
                } else {
                    let v = u32::from(c);
                    let (letter, width) = match v {
                        0..=0xFF => ('x', 2),
                        0x100..=0xFFFF => ('u', 4),
                        _ => ('U', 8),
                    };
                    self.put(letter);
                    let _ = write!(self.out, "{v:0width$X}");
                    self.column += width;
                }
            } else {
                self.out.push(c);
                self.column += 1;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, s: &str) {
        self.write_indicator("|", true, false, false);
        self.write_block_scalar_hints(s);
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.out.push(c);
                self.column += 1;
                self.indention = false;
                breaks = false;
            }
        }
    }

    fn write_block_scalar_hints(&mut self, s: &str) {
        let mut chars_back = s.chars().rev();
        if s.starts_with(' ') || s.chars().next().is_some_and(is_break) {
            let hint = char::from(b'0' + BEST_INDENT as u8);
            self.write_indicator(hint.encode_utf8(&mut [0; 4]), false, false, false);
        }
        let chomp = match chars_back.next() {
            None => Some("-"),
            Some(last) if !is_break(last) => Some("-"),
            Some(_) => match chars_back.next() {
                None => Some("+"),
                Some(before) if is_break(before) => Some("+"),
                Some(_) => None,
            },
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
    }
}

/// A string as it is about to be written.
enum StringScalar {
    /// Single-quoted for YAML 1.1 readers, in place of a plain placeholder.
    Yaml11,
    Analysed {
        requested: Requested,
        analysis: Analysis,
        /// In bytes.
        len: usize,
    },
}

fn chars(s: &str) -> usize {
    s.bytes().filter(|b| b & 0xC0 != 0x80).count()
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

fn contains(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains(v, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains(needle) || contains(v, needle)),
        _ => false,
    }
}

/// libyaml's `IS_BREAK`.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `IS_BLANKZ` of the character at byte `i` (a NUL past the end).
fn is_blankz_at(b: &[u8], i: usize) -> bool {
    let at = |k: usize| b.get(i + k).copied().unwrap_or(0);
    matches!(at(0), b' ' | b'\t' | b'\r' | b'\n' | 0)
        || (at(0) == 0xC2 && at(1) == 0x85)
        || (at(0) == 0xE2 && at(1) == 0x80 && matches!(at(2), 0xA8 | 0xA9))
}

/// libyaml's `IS_PRINTABLE`.
fn is_printable(c: char) -> bool {
    matches!(u32::from(c),
        0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

fn utf8_width(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Bytes of a [`is_plain_word`]: printable ASCII but the space and `:`.
static WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x21;
    while b < 0x7F {
        table[b] = b != b':' as usize;
        b += 1;
    }
    table
};

/// What [`analyze`] finds in a [`is_plain_word`]: nothing at all.
const PLAIN_WORD: Analysis = Analysis {
    multiline: false,
    block_plain_allowed: true,
    single_quoted_allowed: true,
    block_allowed: true,
};

/// A non-empty string of printable ASCII without spaces or `:`, not starting with an
/// indicator (`-` and `.` included, for `---` and `...`): most names, labels, images and paths.
/// Such a string has no break, no whitespace, no special character and no block indicator
/// (`#` is one only after whitespace), so its analysis is [`PLAIN_WORD`] without reading it
/// byte by byte (issue 15: the analysis was a tenth of a fleet's build).
fn is_plain_word(b: &[u8]) -> bool {
    let Some(first) = b.first() else {
        return false;
    };
    !b"#,[]{}&*!|>'\"%@`?:-.".contains(first) && b.iter().all(|&c| WORD_BYTE[usize::from(c)])
}

/// libyaml's `yaml_emitter_analyze_scalar` (with `unicode` on).
fn analyze(s: &str) -> Analysis {
    let b = s.as_bytes();
    if b.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    if b.is_ascii() {
        return analyze_ascii(b);
    }
    analyze_unicode(s)
}

/// [`analyze`] of a non-empty ASCII string: the same flags, byte by byte (issue 15: nearly
/// every scalar canaryc writes is ASCII, and decoding characters was most of the analysis).
/// Every character is one byte here, so `utf8_width` is 1, `is_blankz_at` is a space, tab,
/// `\r`, `\n` or the end, `is_break` a `\r` or `\n`, and `is_printable` a `\n` or 0x20..=0x7E.
fn analyze_ascii(b: &[u8]) -> Analysis {
    let blankz = |i: usize| {
        b.get(i)
            .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0))
    };
    let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = blankz(1);
    for (i, &c) in b.iter().enumerate() {
        if i == 0 {
            match c {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => block_indicators = true,
                b'?' | b':' | b'-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                b':' if followed_by_whitespace => block_indicators = true,
                b'#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !(c == b'\n' || (0x20..=0x7E).contains(&c)) {
            special_characters = true;
        }
        if c == b' ' {
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if c == b'\r' || c == b'\n' {
            line_breaks = true;
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = blankz(i);
        if i + 1 < b.len() {
            followed_by_whitespace = blankz(i + 2);
        }
    }
    let first = b[0];
    let last = b[b.len() - 1];
    let leading_space = first == b' ';
    let leading_break = first == b'\r' || first == b'\n';
    let trailing_space = last == b' ';
    let trailing_break = last == b'\r' || last == b'\n';
    flags(
        line_breaks,
        block_indicators,
        special_characters,
        leading_space || leading_break || trailing_space || trailing_break,
        trailing_space,
        break_space,
        space_break,
    )
}

/// The analysis from libyaml's findings (the end of `yaml_emitter_analyze_scalar`).
fn flags(
    line_breaks: bool,
    block_indicators: bool,
    special_characters: bool,
    leading_or_trailing: bool,
    trailing_space: bool,
    break_space: bool,
    space_break: bool,
) -> Analysis {
    let mut analysis = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_or_trailing {
        analysis.block_plain_allowed = false;
    }
    if trailing_space {
        analysis.block_allowed = false;
    }
    if break_space {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
        analysis.block_allowed = false;
    }
    if line_breaks || block_indicators {
        analysis.block_plain_allowed = false;
    }
    analysis
}

/// [`analyze`] of a non-empty string, character by character.
fn analyze_unicode(s: &str) -> Analysis {
    let b = s.as_bytes();
    let mut block_indicators = b.starts_with(b"---") || b.starts_with(b"...");
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = is_blankz_at(b, utf8_width(b[0]));
    for (i, c) in s.char_indices() {
        let width = c.len_utf8();
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        let last = i + width == b.len();
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz_at(b, i);
        let next = i + width;
        if next < b.len() {
            followed_by_whitespace = is_blankz_at(b, next + utf8_width(b[next]));
        }
    }
    flags(
        line_breaks,
        block_indicators,
        special_characters,
        leading_space || leading_break || trailing_space || trailing_break,
        trailing_space,
        break_space,
        space_break,
    )
}

/// Whether serde_yaml single-quotes `s` because YAML 1.2 (its reader) would take the plain
/// scalar for something else: null, a bool, an integer, a float, or digits with a leading zero
/// (serde_yaml's `visit_untagged_scalar` through its `InferScalarStyle`).
fn yaml12_non_string(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return true;
    };
    // null, ~, bools, numbers (with a sign, a digit or a dot first): nothing else parses.
    if !b"nN~tTfF+-.0123456789iI".contains(&first) {
        return false;
    }
    // A letter first is a word or nothing: no integer starts with one, and the floats that
    // do (`inf`, `nan`) are not finite (issue 15: most keys and names start with these letters).
    if first.is_ascii_alphabetic() {
        return yaml12_word(s);
    }
    yaml12_non_string_parsed(s)
}

/// The null and bool words YAML 1.2 reads.
fn yaml12_word(s: &str) -> bool {
    matches!(s, "null" | "Null" | "NULL" | "~")
        || matches!(s, "true" | "True" | "TRUE" | "false" | "False" | "FALSE")
}

/// [`yaml12_non_string`] of a non-empty string, by trying every parse.
fn yaml12_non_string_parsed(s: &str) -> bool {
    yaml12_word(s)
        || parse_unsigned_int(s, |t, r| u64::from_str_radix(t, r).is_ok())
        || parse_negative_int(s, |t, r| i64::from_str_radix(t, r).is_ok())
        || parse_unsigned_int(s, |t, r| u128::from_str_radix(t, r).is_ok())
        || parse_negative_int(s, |t, r| i128::from_str_radix(t, r).is_ok())
        || (!digits_but_not_number(s) && parses_as_f64(s))
        || digits_but_not_number(s)
}

fn parse_unsigned_int(scalar: &str, parses: fn(&str, u32) -> bool) -> bool {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return false;
            }
            if parses(rest, radix) {
                return true;
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return false;
    }
    parses(unpositive, 10)
}

fn parse_negative_int(scalar: &str, parses: fn(&str, u32) -> bool) -> bool {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if parses(&format!("-{rest}"), radix) {
                return true;
            }
        }
    }
    if digits_but_not_number(scalar) {
        return false;
    }
    parses(scalar, 10)
}

fn parses_as_f64(scalar: &str) -> bool {
    let unpositive = match scalar.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return false,
        Some(rest) => rest,
        None => scalar,
    };
    matches!(unpositive, ".inf" | ".Inf" | ".INF")
        || matches!(
            scalar,
            "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN"
        )
        || unpositive.parse::<f64>().is_ok_and(f64::is_finite)
}

fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The writer this one replaced: serde_yaml over a converted tree, YAML 1.1 non-strings
    /// swapped in for plain placeholders. The property test holds `to_string` to its bytes.
    fn reference(value: &Value) -> String {
        use serde_yaml::Value as Yaml;
        fn string(s: &str, prefix: &str, quoted: &mut Vec<String>) -> Yaml {
            if YAML11_NOT_A_STRING.is_match(s) {
                quoted.push(s.to_string());
                Yaml::String(format!("{prefix}{}z", quoted.len() - 1))
            } else {
                Yaml::String(s.to_string())
            }
        }
        fn convert(value: &Value, prefix: &str, quoted: &mut Vec<String>) -> Yaml {
            match value {
                Value::Null => Yaml::Null,
                Value::Bool(b) => Yaml::Bool(*b),
                Value::Number(n) => serde_yaml::to_value(n).unwrap_or(Yaml::Null),
                Value::String(s) => string(s, prefix, quoted),
                Value::Array(items) => {
                    Yaml::Sequence(items.iter().map(|v| convert(v, prefix, quoted)).collect())
                }
                Value::Object(map) => {
                    let mut out = serde_yaml::Mapping::new();
                    for (k, v) in map {
                        let key = string(k, prefix, quoted);
                        out.insert(key, convert(v, prefix, quoted));
                    }
                    Yaml::Mapping(out)
                }
            }
        }
        let mut prefix = String::from("canaryc1q7x");
        while contains(value, &prefix) {
            prefix.push('q');
        }
        let mut quoted = Vec::new();
        let converted = convert(value, &prefix, &mut quoted);
        let mut text = serde_yaml::to_string(&converted).unwrap_or_default();
        for (i, original) in quoted.iter().enumerate().rev() {
            let placeholder = format!("{prefix}{i}z");
            text = text.replace(&placeholder, &format!("'{}'", original.replace('\'', "''")));
        }
        text
    }

    #[test]
    fn yaml_11_specials_are_quoted_and_read_back_as_strings() {
        for special in [
            "no",
            "on",
            "Off",
            "y",
            "<<",
            "=",
            "2024-01-01",
            "1_000",
            "1:20",
            "0777",
            "~",
        ] {
            let doc = json!({ "env": [ { "name": "A", "value": special } ], special: "k" });
            let text = to_string(&doc);
            assert!(
                text.contains(&format!("value: '{special}'")),
                "{special}: {text}"
            );
            assert!(
                text.contains(&format!("'{special}': k")),
                "{special}: {text}"
            );
            let back: Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(back, doc);
        }
    }

    #[test]
    fn ordinary_strings_are_left_plain() {
        let text = to_string(&json!({ "image": "registry/app:3.13-1", "path": "/healthz" }));
        assert_eq!(text, "image: registry/app:3.13-1\npath: /healthz\n");
    }

    #[test]
    fn documents_appended_in_parts_are_the_documents_pushed_one_by_one() {
        let values: Vec<Value> = (0..5).map(|i| json!({ "n": i, "s": "a: b" })).collect();
        let mut whole = Documents::new("# head\n".into());
        whole.extend(&values);
        for split in 0..=values.len() {
            let mut joined = Documents::new("# head\n".into());
            for part in [&values[..split], &values[split..]] {
                let mut docs = Documents::new(String::new());
                docs.extend(part);
                joined.append(docs);
            }
            assert_eq!(joined.finish(), whole.text, "split at {split}");
        }
        assert_eq!(whole.finish(), format!("# head\n{}", documents(&values)));
    }

    #[test]
    fn a_value_that_looks_like_the_placeholder_is_kept() {
        let doc = json!({ "a": "canaryc1q7x0z", "b": "no" });
        let back: Value = serde_yaml::from_str(&to_string(&doc)).unwrap();
        assert_eq!(back, doc);
    }

    /// Corners of libyaml's emitter, each against the reference.
    #[test]
    fn corners_match_serde_yaml() {
        let long = "k".repeat(129);
        let placeholder_long = format!("canaryc1q7x{}", "q".repeat(120));
        let cases = [
            json!(null),
            json!("no"),
            json!(""),
            json!("plain"),
            json!("a\n"),
            json!("a\n\n"),
            json!("\n"),
            json!(" lead\ntext"),
            json!("trailing \nspace"),
            json!("line\u{2028}sep"),
            json!("tab\there"),
            json!("\u{feff}bom"),
            json!([]),
            json!({}),
            json!([[], {}, [[1, 2], {"a": []}], "x\ny"]),
            json!({ "a": { "b": [ { "c": "d\ne\n" }, "f" ] }, "": "", "-": "- x" }),
            json!({ long.clone(): 1, "two\nlines": "v", "a\u{2028}b": [1] }),
            json!({ "no": 1, "yes": { "on": [ "off" ] } }),
            json!({ "x": placeholder_long, "no": "k", "0777": { "y": 1 } }),
            json!([1.5, -2, 18446744073709551615_u64, 1e20, 1e-7, 0.1, -0.0]),
            json!({ "keep": "a\n\n", "after": "b" }),
            json!(["a\n\n", ["b\n\n"]]),
            json!({ "k": "it's: #no", "q": "'quoted'", "d": "\"x\"", "h": "a #b", "c": "a: b" }),
            json!({ "x": "0x1", "o": "0o17", "e": "1e5", "i": ".inf", "n": "-.nan", "z": "+0" }),
        ];
        for case in cases {
            assert_eq!(to_string(&case), reference(&case), "{case}");
        }
    }

    fn hostile_string() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a",
            "b",
            "x",
            "0",
            "1",
            "9",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\r",
            "\t",
            "'",
            "\"",
            ": ",
            ":",
            "#",
            " #",
            "-",
            "- ",
            "?",
            "? ",
            ",",
            "[",
            "]",
            "{",
            "}",
            "&",
            "*",
            "!",
            "|",
            ">",
            "%",
            "@",
            "`",
            "\\",
            ".",
            "...",
            "---",
            "~",
            "<<",
            "=",
            "no",
            "yes",
            "On",
            "y",
            "null",
            "true",
            "0x1",
            "0o7",
            "0777",
            "1_000",
            "1:20",
            "1e5",
            ".inf",
            "2024-01-01",
            "2024-01-01 10:00:00",
            "é",
            "日本",
            "😀",
            "\u{85}",
            "\u{a0}",
            "\u{2028}",
            "\u{2029}",
            "\u{feff}",
            "\u{fffe}",
            "\u{7f}",
            "\u{0}",
            "\u{1b}",
            "\u{80}",
            "canaryc1q7x",
            "canaryc1q7x0z",
        ]);
        prop_oneof![
            prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat()),
            "\\PC{0,12}",
            prop::collection::vec(prop::sample::select(vec!["k", " ", "\u{e9}"]), 120..140)
                .prop_map(|p| p.concat()),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            hostile_string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((hostile_string(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The byte-wise analysis of ASCII strings is the character-wise one.
        #[test]
        fn ascii_analysis_is_the_general_one(s in hostile_string()) {
            if s.is_ascii() && !s.is_empty() {
                prop_assert_eq!(analyze_ascii(s.as_bytes()), analyze_unicode(&s));
            }
        }

        /// The same on any ASCII, control characters included.
        #[test]
        fn ascii_analysis_is_the_general_one_on_any_ascii(s in "[\\x00-\\x7f]{1,12}") {
            prop_assert_eq!(analyze_ascii(s.as_bytes()), analyze_unicode(&s));
        }

        /// A plain word's analysis is the byte-wise one, which finds nothing in it.
        #[test]
        fn a_plain_word_is_analysed_as_plain(s in "[\\x00-\\x7f]{1,2}[!-~]{0,12}") {
            if is_plain_word(s.as_bytes()) {
                prop_assert_eq!(analyze_ascii(s.as_bytes()), PLAIN_WORD);
                prop_assert!(!s.contains('\n'));
            }
        }

        /// Deciding a string that starts with a letter by its words is trying every parse.
        #[test]
        fn a_letter_first_is_decided_by_the_words(s in "[a-zA-Z][-+.0-9a-zA-Z_xob]{0,10}") {
            prop_assert_eq!(yaml12_non_string(&s), yaml12_non_string_parsed(&s));
        }

        /// Byte for byte what serde_yaml wrote, and read back (by serde_yaml) as the value.
        #[test]
        fn equals_serde_yaml_on_hostile_values(value in json_value()) {
            let text = to_string(&value);
            prop_assert_eq!(&text, &reference(&value));
            let back: Value = serde_yaml::from_str(&text).unwrap();
            prop_assert_eq!(back, value);
        }
    }
}
