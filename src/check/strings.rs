//! Strings a plan hands to the outputs: what each field may hold, checked where it enters.
//!
//! Every string of a plan ends up in generated files that operators deploy with their rights
//! (ARCHITECTURE.md, "Threat model"). The emitters escape every value for its output language
//! (`src/emit/escape.rs`); this module rejects, at the plan's span, what no target can carry or
//! what would mean something else once carried: a newline in an environment value (a unit file
//! cannot hold it on one line, a table cell cannot hold it at all), a NUL (no environment or
//! file name can), an image reference a registry would refuse, a command line whose quotes do
//! not close, a variable name systemd ignores, a header name nginx drops. Literal credentials
//! get a warning: the workload needs them, the documents never show them.

use std::sync::LazyLock;

use regex::Regex;

use super::Checker;
use crate::diag::{Code, Diagnostic};
use crate::source::Spanned;

/// A value as a diagnostic shows it: controls escaped, so the message stays on its line.
pub fn shown(s: &str) -> String {
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() > 60 {
        format!("{}...", escaped.chars().take(57).collect::<String>())
    } else {
        escaped
    }
}

/// The first character no one-line field may hold: C0/C1 controls (newline, tab, NUL, DEL)
/// and the Unicode line and paragraph separators; with `multiline`, newline and tab are fine.
pub fn forbidden_char(s: &str, multiline: bool) -> Option<char> {
    s.chars().find(|&c| {
        (c.is_control() && !(multiline && (c == '\n' || c == '\t')))
            || c == '\u{2028}'
            || c == '\u{2029}'
    })
}

/// Why a command line cannot be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordsError {
    UnclosedSingleQuote,
    UnclosedDoubleQuote,
    TrailingBackslash,
}

impl WordsError {
    pub fn describe(self) -> &'static str {
        match self {
            WordsError::UnclosedSingleQuote => "a `'` quote is not closed",
            WordsError::UnclosedDoubleQuote => "a `\"` quote is not closed",
            WordsError::TrailingBackslash => "it ends with a backslash",
        }
    }
}

/// A command line split into words the way a POSIX shell splits a simple command (quotes and
/// backslashes, no expansion). canaryc writes each word escaped for the target: systemd's
/// `ExecStart=`, a runbook's shell line. Commands without quotes split on spaces, as before.
pub fn split_words(line: &str) -> Result<Vec<String>, WordsError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err(WordsError::UnclosedSingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => current.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                current.push('\\');
                                current.push(c);
                            }
                            None => return Err(WordsError::UnclosedDoubleQuote),
                        },
                        Some(c) => current.push(c),
                        None => return Err(WordsError::UnclosedDoubleQuote),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => {
                    in_word = true;
                    current.push(c);
                }
                None => return Err(WordsError::TrailingBackslash),
            },
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// A container image reference as registries and runtimes accept it
/// (distribution/reference: `[host[:port]/]path[:tag][@digest]`, lowercase path components).
static IMAGE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let path_component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    Regex::new(&format!(
        r"^(?:{d}(?:\.{d})*(?::[0-9]+)?/)?{p}(?:/{p})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}})?$",
        d = domain_component,
        p = path_component
    ))
    .expect("a valid regex")
});

pub fn is_image_reference(s: &str) -> bool {
    s.len() <= 512 && IMAGE_REFERENCE.is_match(s)
}

/// An environment variable name every target reads: POSIX's `[A-Za-z_][A-Za-z0-9_]*` (systemd
/// ignores `Environment="MY-VAR=1"`, and no shell can read it).
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A header name HAProxy's `req.hdr()` and nginx's `$http_` variables both read: letters,
/// digits and `-` (nginx drops other header names by default, `ignore_invalid_headers`, and
/// `_` unless `underscores_in_headers` is on).
pub fn is_portable_header_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The first character of a health path that is not a URL path or query character (RFC 3986:
/// unreserved, sub-delims, `:`, `@`, `/`, `?`, and `%` starting an escape). A `#` starts a
/// fragment, which is never sent.
pub fn health_path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some("must start with `/`".into());
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ok = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/?".contains(&b)
            || (b == b'%'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit));
        if !ok {
            let c = path[i..].chars().next().unwrap_or('?');
            return Some(match c {
                ' ' => "has a space".to_string(),
                '#' => "has a `#`: a fragment is never sent to the server".to_string(),
                '%' => "has a `%` that does not start a %XX escape".to_string(),
                c if c.is_control() => {
                    format!("has a control character ({})", shown(&c.to_string()))
                }
                c if !c.is_ascii() => format!("has `{c}`, which is not ASCII: percent-encode it"),
                c => format!("has `{c}`, which a URL path cannot hold unescaped"),
            });
        }
    }
    None
}

/// The words of variable names that hold credentials by convention.
const CREDENTIAL_WORDS: [&str; 18] = [
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "SIGNING_KEY",
    "SECRET_KEY",
    "CLIENT_SECRET",
    "DSN",
];

/// Whether `name` holds one of [`CREDENTIAL_WORDS`] from its start or a `_` to its end or a
/// `_`, in any case: what `(?i)(?:^|_)(?:PASSWORD|...)(?:$|_)` matches, without compiling that
/// regex in every process (its case-insensitive alternation took 0.6 ms, a third of checking
/// a small plan; issue 15). The test holds the two equal.
fn is_credential_name(name: &str) -> bool {
    std::iter::once(0)
        .chain(name.match_indices('_').map(|(i, _)| i + 1))
        .any(|start| {
            CREDENTIAL_WORDS.iter().any(|word| {
                strip_word(&name[start..], word)
                    .is_some_and(|after| after.is_empty() || after.starts_with('_'))
            })
        })
}

/// `s` after `word` (upper-case ASCII letters and `_`), matched as `(?i)` does: Unicode simple
/// case folding, under which `ſ` is an `s` and the Kelvin sign a `k` (no other character
/// outside ASCII folds to an ASCII letter).
fn strip_word<'s>(s: &'s str, word: &str) -> Option<&'s str> {
    let mut chars = s.chars();
    for w in word.chars() {
        let c = chars.next()?;
        let same = c == w
            || c == w.to_ascii_lowercase()
            || (w == 'S' && c == '\u{17F}')
            || (w == 'K' && c == '\u{212A}');
        if !same {
            return None;
        }
    }
    Some(chars.as_str())
}

/// Values shaped like credentials whatever their name: URL user:password, private keys,
/// well-known token prefixes, password hashes.
static CREDENTIAL_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",
        r"|-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"|\bAKIA[0-9A-Z]{16}\b",
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}",
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        r"|\bsk_(?:live|test)_[A-Za-z0-9]{16,}",
        r"|\$2[aby]?\$[0-9]{2}\$[./A-Za-z0-9]{20,}",
        r"|--requirepass[ =]\S+",
    ))
    .expect("a valid regex")
});

/// Why `value` (of the variable `name`, when it is one) looks like a credential, or `None`.
/// Values that are empty, references (`${...}`, `$(...)`) or obviously not secret (booleans,
/// numbers) are not flagged by name alone.
pub fn credential_reason(name: Option<&str>, value: &str) -> Option<&'static str> {
    if CREDENTIAL_SHAPE.is_match(value) {
        return Some("it is shaped like a credential");
    }
    // `DB_PASSWORD_FILE=/run/secrets/db` names where the secret is, not the secret.
    let by_name = name
        .is_some_and(|n| is_credential_name(n) && !n.ends_with("_FILE") && !n.ends_with("_PATH"));
    let trivial = value.len() < 4
        || value.starts_with("${")
        || value.starts_with("$(")
        || matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "none" | "null" | "disabled" | "changeme"
        )
        || value.parse::<f64>().is_ok();
    (by_name && !trivial).then_some("its name says it holds a credential")
}

impl Checker<'_> {
    /// CNR207: a control character in a string that becomes part of a line of an output.
    pub(crate) fn one_line(&mut self, s: &Spanned<String>, what: &str, multiline: bool) -> bool {
        let Some(c) = forbidden_char(&s.value, multiline) else {
            return true;
        };
        self.report(
            Diagnostic::new(
                Code::ControlCharacter,
                s.span,
                format!("{what} holds a control character ({})", shown(&c.to_string())),
            )
            .label("no output can carry this on one line")
            .help(format!(
                "{what} is written into unit files, load-balancer configs, scripts and runbooks, where a {} would start a new line or end the value: remove it",
                match c {
                    '\n' => "newline",
                    '\0' => "NUL",
                    '\t' => "tab",
                    '\r' => "carriage return",
                    _ => "control character",
                }
            )),
        );
        false
    }

    /// CNR208: an image reference registries accept.
    pub(crate) fn valid_image(&mut self, image: &Spanned<String>) -> bool {
        if is_image_reference(&image.value) {
            return true;
        }
        self.report(
            Diagnostic::new(
                Code::InvalidImage,
                image.span,
                format!("`{}` is not a container image reference", shown(&image.value)),
            )
            .label("expected [registry/]name[:tag][@sha256:...]")
            .help("name the image as `docker pull` takes it, e.g. `registry.internal/ledger:3.13-41`: lowercase path, a tag of letters, digits, `_`, `.` and `-`"),
        );
        false
    }

    /// CNR209: a command line that splits into words.
    pub(crate) fn valid_command(&mut self, command: &Spanned<String>) -> bool {
        match split_words(&command.value) {
            Ok(words) => {
                // The program is a path on the host, run as it is: nothing expands `$VAR`,
                // `%` or `~` in it, so a path that holds them most likely means something else.
                let odd = words.first().and_then(|program| {
                    program
                        .chars()
                        .find(|c| !(c.is_ascii_alphanumeric() || "_@+=:,./-".contains(*c)))
                });
                let Some(c) = odd else { return true };
                self.report(
                    Diagnostic::new(
                        Code::InvalidCommand,
                        command.span,
                        format!(
                            "the program `{}` holds `{}`",
                            shown(words.first().map_or("", String::as_str)),
                            shown(&c.to_string())
                        ),
                    )
                    .label("not a plain path")
                    .help("the program runs without a shell: nothing expands `$VAR`, `~` or `%` in it, and canaryc does not either; write the path as it is on the host (letters, digits, `/`, `.`, `_`, `-`)"),
                );
                false
            }
            Err(error) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidCommand,
                        command.span,
                        format!("the command cannot be split into words: {}", error.describe()),
                    )
                    .label("unbalanced command line")
                    .help("canaryc splits commands like a shell (quotes and backslashes, no `$` or `;`) and writes each word escaped for systemd and the runbooks: close the quote"),
                );
                false
            }
        }
    }

    /// CNR210: an environment variable name every target reads.
    pub(crate) fn valid_env_name(&mut self, name: &Spanned<String>) -> bool {
        if is_env_name(&name.value) {
            return true;
        }
        self.report(
            Diagnostic::new(
                Code::InvalidEnvName,
                name.span,
                format!(
                    "`{}` cannot name an environment variable",
                    shown(&name.value)
                ),
            )
            .label("not [A-Za-z_][A-Za-z0-9_]*")
            .help(format!(
                "systemd ignores such an assignment and no shell can read it: use `{}`",
                name.value
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            )),
        );
        false
    }

    /// CNR212 (warning): a literal that looks like a credential.
    pub(crate) fn literal_credential(&mut self, name: Option<&str>, value: &Spanned<String>) {
        let Some(reason) = credential_reason(name, &value.value) else {
            return;
        };
        let what = name.map_or_else(|| "this value".to_string(), |n| format!("`{n}`"));
        self.report(
            Diagnostic::new(
                Code::LiteralCredential,
                value.span,
                format!("{what} looks like a credential written into the plan"),
            )
            .label(format!("literal credential: {reason}"))
            .help("keep secrets out of the plan: a Kubernetes Secret (`secretKeyRef`, kept when canaryc clones your Deployment), a Compose `env_file`, or a systemd `EnvironmentFile=`")
            .note("canaryc writes it only where the workload reads it (the Deployment, the Compose service, the unit) and never into canary-plan.md or canary-plan.json, which show it as redacted"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regex `is_credential_name` replaces.
    static CREDENTIAL_NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)(?:^|_)(?:PASSWORD|PASSWD|PASS|PWD|SECRET|SECRETS|TOKEN|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?|AUTH|SIGNING_KEY|SECRET_KEY|CLIENT_SECRET|DSN)(?:$|_)")
            .expect("a valid regex")
    });

    #[test]
    fn credential_names_are_what_the_regex_matched() {
        // Which characters `(?i)` folds to an ASCII letter: the letters, `ſ` and the Kelvin sign.
        let letter = Regex::new("(?i)^[A-Z]$").unwrap();
        for c in (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| !c.is_ascii())
        {
            let folds = letter.is_match(c.encode_utf8(&mut [0; 4]));
            assert_eq!(folds, c == '\u{17F}' || c == '\u{212A}', "{c:?}");
        }
        assert!(Regex::new("(?i)^s$").unwrap().is_match("\u{17F}"));
        assert!(Regex::new("(?i)^k$").unwrap().is_match("\u{212A}"));
        // Names made of the words, their pieces and their neighbours, in every case.
        let pieces = [
            "PASS",
            "pass",
            "Word",
            "WD",
            "_",
            "__",
            "SECRET",
            "s",
            "\u{17F}",
            "\u{212A}",
            "KEY",
            "key",
            "API",
            "Api",
            "ACCESS",
            "PRIVATE",
            "CREDENTIAL",
            "S",
            "AUTH",
            "auth",
            "SIGNING",
            "CLIENT",
            "DSN",
            "TOKEN",
            "tok",
            "en",
            "APIKEY",
            "_FILE",
            "X",
            "1",
            "é",
            "-",
            "PWD",
            "passwd",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let n = next() % 6;
            let name: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            assert_eq!(
                is_credential_name(&name),
                CREDENTIAL_NAME.is_match(&name),
                "{name:?}"
            );
        }
        for word in CREDENTIAL_WORDS {
            assert!(is_credential_name(word));
            assert!(is_credential_name(&format!("db_{}_x", word.to_lowercase())));
            let glued = format!("X{word}");
            assert_eq!(is_credential_name(&glued), CREDENTIAL_NAME.is_match(&glued));
        }
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words("/bin/gunicorn --bind 0.0.0.0:8000  app.wsgi").unwrap(),
            ["/bin/gunicorn", "--bind", "0.0.0.0:8000", "app.wsgi"]
        );
        assert_eq!(
            split_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(split_words("a 'b"), Err(WordsError::UnclosedSingleQuote));
        assert_eq!(split_words("a\\"), Err(WordsError::TrailingBackslash));
    }

    #[test]
    fn image_references() {
        for ok in [
            "registry.internal/ledger:3.13-41",
            "python:2.7",
            "localhost:5000/a/b_c:v1",
            "nginx@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_image_reference(ok), "{ok}");
        }
        for bad in ["App:1", "a b", "a:$(id)", "a\nb", "", "a:b:c", "-a"] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn health_paths() {
        assert_eq!(health_path_problem("/healthz?full=1"), None);
        assert!(health_path_problem("/h#x").is_some());
        assert!(health_path_problem("/h\nx").is_some());
        assert!(health_path_problem("/h%zz").is_some());
        assert_eq!(
            health_path_problem("/h'+x+'"),
            None,
            "quotes are URL characters"
        );
    }

    #[test]
    fn credentials_by_name_and_shape() {
        assert!(credential_reason(Some("DB_PASSWORD"), "hunter2-plain").is_some());
        assert!(credential_reason(Some("DATABASE_URL"), "postgres://u:p4ss@db/x").is_some());
        assert!(credential_reason(None, "$2b$12$abcdefghijklmnopqrstuv").is_some());
        assert!(credential_reason(Some("LANG"), "C.UTF-8").is_none());
        assert!(credential_reason(Some("AUTH_ENABLED"), "true").is_none());
        assert!(credential_reason(Some("PASSWORD_FILE"), "${PW}").is_none());
    }
}
