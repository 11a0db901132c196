//! Turns a pest error into our diagnostic.
//!
//! pest's own miette adapter shows only the offending line, with the wrong line number; we
//! use the error's byte position and describe the expected rules in words.

use pest::error::{ErrorVariant, InputLocation};

use super::grammar::Rule;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// `offset` is where `text` starts within the file (non-zero when re-parsing one item).
pub(crate) fn convert(
    file: FileId,
    text: &str,
    offset: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let at = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let found = found_token(text, at);
    let span = Span::new(file, offset + at, offset + at + found.len());
    let found_words = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let (expected, count) = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => expected_words(positives),
        ErrorVariant::CustomError { message } => (message.clone(), 1),
    };
    let (label, help) = hint(text, at, found, &expected);
    // A long list of alternatives reads worse than no list: then the help line carries it.
    let message = if count <= 2 {
        format!("expected {expected}, found {found_words}")
    } else {
        format!("unexpected {found_words}")
    };
    Diagnostic::new(Code::Syntax, span, message)
        .label(label)
        .help(help)
}

/// The token at `at`: a word, a number with its unit, or one punctuation character.
fn found_token(text: &str, at: usize) -> &str {
    let rest = &text[at..];
    let Some(first) = rest.chars().next() else {
        return "";
    };
    let len = if first.is_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '%')))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    &rest[..len]
}

fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "the end of the file",
        Rule::item | Rule::use_decl | Rule::const_decl | Rule::kw_use | Rule::kw_const => {
            "`use`, `const` or a block such as `plan name { ... }`"
        }
        Rule::block | Rule::attribute | Rule::conditions | Rule::condition | Rule::entry => {
            "a field, block or condition"
        }
        Rule::block_label | Rule::qualifier | Rule::ident => "a name",
        Rule::body => "`{`",
        Rule::kw_when => "`when`",
        Rule::kw_and => "`and`",
        Rule::kw_for => "`for` and a window",
        Rule::window => "`for` and a window",
        Rule::kw_of => "`of`",
        Rule::kw_all | Rule::kw_metrics | Rule::kw_within | Rule::within => {
            "`all metrics within ... of baseline`"
        }
        Rule::kw_approval | Rule::approval => "`approval \"...\"`",
        Rule::metric | Rule::comparison => "a metric",
        Rule::quantile => "a quantile such as `p99`",
        Rule::cmp_op => "a comparison (`<`, `<=`, `>`, `>=`)",
        Rule::module_path => "a module path such as `std.schedules`",
        Rule::ratio_base => "`py2` or `baseline`",
        Rule::string | Rule::string_inner => "a string",
        Rule::value
        | Rule::date
        | Rule::duration
        | Rule::size
        | Rule::percent
        | Rule::rate
        | Rule::ratio
        | Rule::ratio_factor
        | Rule::number
        | Rule::call
        | Rule::list
        | Rule::argument => "a value",
        _ => return None,
    })
}

fn expected_words(rules: &[Rule]) -> (String, usize) {
    let mut words: Vec<&str> = Vec::new();
    for rule in rules {
        if let Some(w) = describe(*rule) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
    }
    let text = match words.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    (text, words.len())
}

/// A label and a help line for the most common slips.
fn hint(text: &str, at: usize, found: &str, expected: &str) -> (String, String) {
    let before = text[..at].trim_end();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_before = &text[line_start..at];
    if found == ":" {
        return (
            "fields are set with `=`".into(),
            "write `name = value`, e.g. `port = 8000`".into(),
        );
    }
    if line_before.contains(" = ") && before.ends_with(" for") {
        return (
            "`for` follows a condition".into(),
            "conditions compare with `<`, `<=`, `>` or `>=`, e.g. `error_rate > 1% for 5m`; `=` sets a field".into(),
        );
    }
    let unit_like = ["%", "x", "s", "m", "h", "d", "w", "ms", "Mi", "Gi"];
    if unit_like.contains(&found)
        && text[..at].ends_with(' ')
        && before.ends_with(|c: char| c.is_ascii_digit())
    {
        return (
            "a unit goes right after its number".into(),
            format!(
                "write `{}{found}` without the space",
                before
                    .rsplit(|c: char| !c.is_ascii_digit() && c != '.')
                    .next()
                    .unwrap_or("")
            ),
        );
    }
    if let Some(unit) = bad_unit(found) {
        return (
            format!("`{unit}` is not a unit"),
            "durations take ms, s, m, h, d or w (`90s`, `24h`); percentages end in `%`; ratios in `x`; sizes take Ki, Mi, Gi".into(),
        );
    }
    if found.is_empty() {
        return (
            "the file ends here".into(),
            "a block is still open: add the missing `}`".into(),
        );
    }
    if found == "}" && before.ends_with('=') {
        return (
            "a value is missing".into(),
            "give the field a value after `=`".into(),
        );
    }
    if found == "=" && expected.contains("value") {
        return (
            "unexpected `=`".into(),
            "comparisons are `<`, `<=`, `>` or `>=`; `=` sets a field".into(),
        );
    }
    ("unexpected here".into(), format!("expected {expected}"))
}

/// For `10min` or `5pct`, the part that is not a known unit.
fn bad_unit(found: &str) -> Option<&str> {
    let digits = found.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let unit = &found[digits..];
    const UNITS: &[&str] = &[
        "ms", "s", "m", "h", "d", "w", "%", "x", "Ki", "Mi", "Gi", "Ti", "K", "M", "G", "T",
    ];
    (digits > 0 && !UNITS.contains(&unit)).then_some(unit)
}
