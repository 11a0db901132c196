//! The one place where values become text of an output language.
//!
//! Every value an emitter writes may come from a hostile plan or codebase (ARCHITECTURE.md,
//! "Threat model"), so none is pasted into an output as it is: each output language has one
//! escaper here, and each escaper keeps a value one token of that language, whatever it holds
//! (a newline, a quote, `$(...)`, `#`, `%`, a trailing backslash, a NUL). Values that need no
//! escaping come out unchanged, so benign outputs read as before.
//!
//! Where a language can carry every character (YAML, JSON, HAProxy, systemd's quoted strings,
//! shell), the escaping is exact: the tool reads back the value it was given. Where it cannot
//! (a systemd `User=` or `WorkingDirectory=`, which take no quotes; a nginx header variable),
//! the escaper replaces the characters it cannot carry with visible text, so the output keeps
//! its structure and the tool refuses the odd value instead of running it. The checker rejects
//! those values at the plan's span before they get here (`src/check/strings.rs`); this is the
//! second line, for values that came from somewhere else.
//!
//! YAML and JSON are never escaped by hand: documents go through serde (see `super::yaml`).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `\xNN` for a byte of a control character (or a line separator).
fn hex_escape(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// Characters no line-based format may hold raw: C0 and C1 controls, DEL, and the Unicode line
/// and paragraph separators (YAML 1.1 and some editors break lines there).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// POSIX shell (bash for scripts; the operator's shell for runbook blocks).
pub mod shell {
    use super::*;

    fn plain(c: char) -> bool {
        c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
    }

    /// One shell word: bare when it needs nothing, single-quoted otherwise, and `$'...'` when it
    /// holds control characters (so a pasted line stays one line).
    pub fn word(s: &str) -> Cow<'_, str> {
        if !s.is_empty() && s.chars().all(plain) {
            return Cow::Borrowed(s);
        }
        if s.chars().any(is_unsafe_char) {
            let mut out = String::from("$'");
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if is_unsafe_char(c) => hex_escape(&mut out, c),
                    c => out.push(c),
                }
            }
            out.push('\'');
            return Cow::Owned(out);
        }
        Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
    }

    /// One word in POSIX quoting only (`'...'`, never `$'...'`), for command lines canaryc
    /// itself splits again (`check::strings::split_words`): control characters stay inside the
    /// quotes as they are.
    pub fn posix_word(s: &str) -> Cow<'_, str> {
        if !s.is_empty() && s.chars().all(plain) {
            return Cow::Borrowed(s);
        }
        Cow::Owned(format!("'{}'", s.replace('\'', "'\\''")))
    }

    /// Words joined by spaces, each escaped.
    pub fn words<S: AsRef<str>>(words: &[S]) -> String {
        words
            .iter()
            .map(|w| word(w.as_ref()).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// systemd unit files (systemd.syntax(7), systemd.exec(5), systemd.service(5)).
pub mod systemd {
    use super::*;

    /// Inside double quotes: backslash and quote escaped, controls as C escapes, `%` doubled
    /// (specifiers are expanded in quoted values too).
    fn quoted_into(out: &mut String, s: &str, dollar: bool) {
        out.push('"');
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '%' => out.push_str("%%"),
                '$' if dollar => out.push_str("$$"),
                // systemd refuses `\x00` (no argument or variable can hold a NUL): shown as
                // the text `\x00` instead, so the unit still parses.
                '\0' => out.push_str("\\\\x00"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if is_unsafe_char(c) => hex_escape(out, c),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// One `Environment=` assignment, quoted: `"NAME=value"`. systemd does not expand `$`
    /// there, but does expand `%` specifiers and C escapes.
    pub fn assignment(name: &str, value: &str) -> String {
        let mut out = String::new();
        quoted_into(&mut out, &format!("{name}={value}"), false);
        out
    }

    /// One word of `ExecStart=`: bare unless it holds what systemd splits or unquotes on
    /// (whitespace, quotes, backslashes, controls), double-quoted otherwise. `$` and `%` are
    /// doubled in both forms (systemd substitutes `$VAR` and `%x` in command lines), and a lone
    /// `;` (which separates commands) is quoted.
    pub fn exec_word(w: &str) -> Cow<'_, str> {
        let quote = w.is_empty()
            || w == ";"
            || w.chars()
                .any(|c| c.is_whitespace() || "\"'\\".contains(c) || is_unsafe_char(c));
        if quote {
            let mut out = String::new();
            quoted_into(&mut out, w, true);
            return Cow::Owned(out);
        }
        if w.contains(['$', '%']) {
            return Cow::Owned(w.replace('$', "$$").replace('%', "%%"));
        }
        Cow::Borrowed(w)
    }

    /// A command line for `ExecStart=`. A first word starting with one of systemd's prefixes
    /// (`@-:+!`, which change how the command runs) is quoted, so it is only a path.
    pub fn exec_line<S: AsRef<str>>(words: &[S]) -> String {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let w = w.as_ref();
                if i == 0 && w.starts_with(['@', '-', ':', '+', '!']) {
                    let mut out = String::new();
                    quoted_into(&mut out, w, true);
                    out
                } else {
                    exec_word(w).into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A value of a setting that takes no quotes (`User=`, `WorkingDirectory=`,
    /// `Description=`): `%` doubled; what it cannot carry (controls, a trailing backslash that
    /// would join the next line) becomes visible `\xNN` text, which systemd then refuses.
    pub fn raw(s: &str) -> Cow<'_, str> {
        let needs = s.contains('%') || s.ends_with('\\') || s.chars().any(is_unsafe_char);
        if !needs {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '%' => out.push_str("%%"),
                c if is_unsafe_char(c) => hex_escape(&mut out, c),
                c => out.push(c),
            }
        }
        if out.ends_with('\\') {
            out.pop();
            out.push_str("\\x5c");
        }
        Cow::Owned(out)
    }
}

/// HAProxy configuration (configuration.txt §2.2, "Quoting and escaping").
pub mod haproxy {
    use super::*;

    /// One word: backslash escapes for what HAProxy would otherwise split on, start a comment
    /// or a quote with, and `\xNN` for controls. Outside quotes `$` is literal.
    pub fn word(s: &str) -> Cow<'_, str> {
        let special = |c: char| " \t#\\'\"".contains(c) || is_unsafe_char(c);
        if !s.is_empty() && !s.chars().any(special) {
            return Cow::Borrowed(s);
        }
        if s.is_empty() {
            return Cow::Borrowed("''");
        }
        let mut out = String::new();
        for c in s.chars() {
            match c {
                ' ' | '#' | '\\' | '\'' | '"' => {
                    out.push('\\');
                    out.push(c);
                }
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if is_unsafe_char(c) => hex_escape(&mut out, c),
                c => out.push(c),
            }
        }
        Cow::Owned(out)
    }

    /// The argument of a sample fetch such as `req.hdr(NAME)`: fetch arguments end at `,` or `)`
    /// and have their own quoting, so anything but a header-name character becomes `_`.
    pub fn fetch_arg(s: &str) -> String {
        let mapped: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        word(&mapped).into_owned()
    }

    /// Text for a `#` comment: stays on its line.
    pub fn comment(s: &str) -> Cow<'_, str> {
        super::comment(s)
    }
}

/// Text for a `#` comment in any line-based format: controls become visible `\xNN`.
pub fn comment(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    for c in s.chars() {
        if is_unsafe_char(c) {
            hex_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// nginx configuration (ngx_conf_file.c: quoted strings unescape `\"`, `\\`, `\n`, `\r`, `\t`;
/// `$` starts a variable in most arguments and has no escape).
pub mod nginx {
    use super::*;

    /// The variable [`string`] writes for a literal `$`; [`DOLLAR_DEFINITION`] defines it.
    pub const DOLLAR: &str = "${canary_dollar}";
    /// `geo` values are not variables, so this is the one way to spell a literal `$`.
    pub const DOLLAR_DEFINITION: &str = "geo $canary_dollar {\n    default \"$\";\n}\n\n";

    /// A double-quoted argument that nginx reads back as `s` (with `$` through [`DOLLAR`]).
    /// Controls cannot be carried without becoming real ones (a header line break): they
    /// become `_`.
    pub fn string(s: &str) -> String {
        format!("\"{}\"", string_body(s))
    }

    /// [`string`] without the quotes, for a value spliced into a quoted argument.
    pub fn string_body(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '$' => out.push_str(DOLLAR),
                c if is_unsafe_char(c) => out.push('_'),
                c => out.push(c),
            }
        }
        out
    }

    /// Whether [`string`] of `s` needs [`DOLLAR_DEFINITION`].
    pub fn needs_dollar(s: &str) -> bool {
        s.contains('$')
    }

    /// A double-quoted argument where `$` is literal (`map` source values, regexes).
    pub fn literal_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if is_unsafe_char(c) => out.push('_'),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// The part of a variable name after a prefix such as `$http_`: nginx names are
    /// `[A-Za-z0-9_]`; `-` becomes `_` as nginx does for headers, anything else `_` too.
    pub fn variable_suffix(s: &str) -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// Whether `$cookie_NAME` can read a cookie called `name`.
    pub fn is_variable_suffix(name: &str) -> bool {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Text for a `#` comment.
    pub fn comment(s: &str) -> Cow<'_, str> {
        super::comment(s)
    }
}

/// Docker Compose interpolates `$VAR`, `${VAR}` (and `$$` is a literal `$`) in every string
/// of the file, after YAML parsing: values canaryc writes (not the team's own, which were
/// written for Compose) go through this.
pub mod compose {
    use super::*;

    pub fn literal(s: &str) -> Cow<'_, str> {
        if s.contains('$') {
            Cow::Owned(s.replace('$', "$$"))
        } else {
            Cow::Borrowed(s)
        }
    }
}

/// Kubernetes expands `$(VAR)` in a container's `env` values, `command` and `args`; `$$` is a
/// literal `$` (and any other `$` is kept), so doubling every `$` carries the value exactly.
pub mod kubernetes {
    use super::*;

    pub fn literal(s: &str) -> Cow<'_, str> {
        if s.contains('$') {
            Cow::Owned(s.replace('$', "$$"))
        } else {
            Cow::Borrowed(s)
        }
    }
}

/// Regular expressions (RE2, which Envoy, Istio and Gateway API implementations use): a value
/// matched literally.
pub mod regex {
    pub fn literal(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
}

/// PromQL string literals (and Alertmanager matcher values, which share Go's quoting).
pub mod promql {
    use super::*;

    /// `"value"` with `\`, `"` and controls escaped.
    pub fn string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if is_unsafe_char(c) => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    /// A regex matcher's value (`=~"..."`) that matches `s` literally.
    pub fn regex_string(s: &str) -> String {
        string(&super::regex::literal(s))
    }
}

/// Python source: a string literal the same in Python 2 and 3.
pub mod python {
    use super::*;

    /// `'...'` with backslash, quote and anything outside printable ASCII escaped (`\xNN`
    /// means the same byte in a py2 `str` and the same code point in py3 for ASCII).
    pub fn string(s: &str) -> String {
        let mut out = String::from("'");
        for c in s.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                ' '..='~' => out.push(c),
                c if (c as u32) < 0x80 => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                // Non-ASCII: the UTF-8 bytes, percent-encoded by the caller for URLs; here
                // escaped so the literal stays ASCII.
                c => hex_escape(&mut out, c),
            }
        }
        out.push('\'');
        out
    }
}

/// URLs.
pub mod url {
    use super::*;

    /// A URL path (with query) as a client sends it: bytes outside RFC 3986's path and query
    /// characters are percent-encoded (a space, a quote, `#`, a control, non-ASCII), `%` is
    /// kept where it already starts an escape.
    pub fn path(s: &str) -> Cow<'_, str> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b);
        let bytes = s.as_bytes();
        let escape_at = |i: usize| {
            bytes[i] == b'%'
                && bytes.len() > i + 2
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit()
        };
        if (0..bytes.len()).all(|i| allowed(bytes[i]) || escape_at(i)) {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for (i, &b) in bytes.iter().enumerate() {
            if allowed(b) || escape_at(i) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        Cow::Owned(out)
    }
}

/// CommonMark with GitHub tables: values in prose, table cells, code spans and code blocks.
pub mod markdown {
    use super::*;

    /// A control character as visible text (`\n` shown as the two characters, others `\xNN`).
    fn visible(out: &mut String, c: char) {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => hex_escape(out, c),
        }
    }

    /// Inline text (a table cell, a list item, a sentence): punctuation that would start a
    /// link, an image, HTML, an entity, emphasis, a code span or a new cell is
    /// backslash-escaped; `_` only where it could start emphasis (not inside a word); controls
    /// become visible text.
    pub fn text(s: &str) -> Cow<'_, str> {
        let chars: Vec<char> = s.chars().collect();
        let intraword = |i: usize| {
            i > 0
                && i + 1 < chars.len()
                && chars[i - 1].is_alphanumeric()
                && chars[i + 1].is_alphanumeric()
        };
        let needs = |i: usize, c: char| {
            "\\`*[]<>|&~".contains(c)
                || (c == '_' && !intraword(i))
                || is_unsafe_char(c)
                || (i == 0 && "#+-=>!".contains(c))
        };
        if !chars.iter().enumerate().any(|(i, &c)| needs(i, c)) {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if is_unsafe_char(c) {
                visible(&mut out, c);
            } else if needs(i, c) {
                out.push('\\');
                out.push(c);
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// An inline code span: a backtick fence longer than any run inside, padded with a space
    /// where the content starts or ends with a backtick; `|` escaped (GitHub tables split cells
    /// on it even inside code); controls visible.
    pub fn code(s: &str) -> String {
        let mut body = String::new();
        for c in s.chars() {
            match c {
                '|' => body.push_str("\\|"),
                c if is_unsafe_char(c) => visible(&mut body, c),
                c => body.push(c),
            }
        }
        let longest = longest_run(&body, '`');
        let fence = "`".repeat(longest + 1);
        let pad = if body.starts_with('`') || body.ends_with('`') || body.is_empty() {
            " "
        } else {
            ""
        };
        format!("{fence}{pad}{body}{pad}{fence}")
    }

    fn longest_run(s: &str, c: char) -> usize {
        let (mut longest, mut run) = (0, 0);
        for x in s.chars() {
            if x == c {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
        longest
    }

    /// The fence for a code block holding `lines`: three backticks, or more than any run
    /// inside.
    pub fn fence<S: AsRef<str>>(lines: &[S]) -> String {
        let longest = lines
            .iter()
            .map(|l| longest_run(l.as_ref(), '`'))
            .max()
            .unwrap_or(0);
        "`".repeat((longest + 1).max(3))
    }

    /// A Mermaid node label inside `["..."]`: quotes and controls as entities.
    pub fn mermaid_label(s: &str) -> Cow<'_, str> {
        if !s.chars().any(|c| "\"<>&#".contains(c) || is_unsafe_char(c)) {
            return Cow::Borrowed(s);
        }
        let mut out = String::new();
        for c in s.chars() {
            if "\"<>&#".contains(c) || is_unsafe_char(c) {
                let _ = write!(out, "#{};", u32::from(c));
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_unchanged() {
        for v in [
            "/healthz",
            "ledger-py3",
            "registry.internal/ledger:3.13-41",
            "C.UTF-8",
        ] {
            assert_eq!(shell::word(v), v);
            assert_eq!(haproxy::word(v), v);
            assert_eq!(systemd::raw(v), v);
            assert_eq!(url::path(v), v);
            assert_eq!(markdown::text(v), v);
        }
        assert_eq!(
            systemd::exec_word("--bind=127.0.0.1:8001"),
            "--bind=127.0.0.1:8001"
        );
    }

    #[test]
    fn shell_words_stay_one_word() {
        assert_eq!(shell::word("$(id)"), "'$(id)'");
        assert_eq!(shell::word("it's"), "'it'\\''s'");
        assert_eq!(shell::word("a\nb"), "$'a\\nb'");
        assert_eq!(shell::word(""), "''");
    }

    #[test]
    fn systemd_escapes_specifiers_dollars_and_line_ends() {
        assert_eq!(systemd::assignment("A", "50%\"x\\"), "\"A=50%%\\\"x\\\\\"");
        assert_eq!(systemd::exec_word("$HOME"), "$$HOME");
        assert_eq!(systemd::exec_word("a b"), "\"a b\"");
        assert_eq!(systemd::exec_line(&["-x", "y"]), "\"-x\" y");
        assert_eq!(systemd::exec_word(";"), "\";\"");
        assert_eq!(systemd::raw("/srv/a\\"), "/srv/a\\x5c");
        assert_eq!(systemd::raw("a\nExecStartPre=/x"), "a\\x0aExecStartPre=/x");
    }

    #[test]
    fn haproxy_words_keep_hashes_and_spaces() {
        assert_eq!(haproxy::word("/h#x"), "/h\\#x");
        assert_eq!(haproxy::word("a b\n"), "a\\ b\\n");
        assert_eq!(haproxy::fetch_arg("X-User)"), "X-User_");
    }

    #[test]
    fn nginx_strings_spell_dollars_through_a_variable() {
        assert_eq!(nginx::string("a$b\"c"), "\"a${canary_dollar}b\\\"c\"");
        assert_eq!(nginx::variable_suffix("X-User.Id"), "X_User_Id");
    }

    #[test]
    fn python_and_urls() {
        assert_eq!(python::string("/h'+x+'"), "'/h\\'+x+\\''");
        assert_eq!(url::path("/h x#y\u{e9}"), "/h%20x%23y%C3%A9");
        assert_eq!(url::path("/a%2Fb%zz"), "/a%2Fb%25zz");
    }

    #[test]
    fn markdown_cells_and_code() {
        assert_eq!(markdown::text("a|b"), "a\\|b");
        assert_eq!(markdown::text("snake_case _em_"), "snake_case \\_em\\_");
        assert_eq!(markdown::code("a`b|c"), "``a`b\\|c``");
        assert_eq!(markdown::fence(&["x ```"]), "````");
        assert_eq!(regex::literal("a.b$"), "a\\.b\\$");
        assert_eq!(promql::string("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
