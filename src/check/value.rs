//! Typing values: a field that wants a percentage gets one, or a diagnostic that says what it
//! got instead and how to write what it wants. Constants are substituted here.

use super::Checker;
use super::schema::{Field, Ty};
use crate::date::Date;
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::source::Spanned;
use crate::syntax::ast::{Value, ValueKind};

impl<'a> Checker<'a> {
    /// The value itself, or the value of the constant it names.
    pub(crate) fn resolve<'v>(&self, value: &'v Value) -> &'v Value
    where
        'a: 'v,
    {
        match &value.value {
            ValueKind::Ident(name) => self.consts.get(name.as_str()).copied().unwrap_or(value),
            _ => value,
        }
    }

    /// Reports that `value` is not of type `expected`, with a help line tailored to the slip.
    pub(crate) fn mismatch(&mut self, value: &Value, expected: Ty, example: &str) {
        let found = self.resolve(value).value.describe();
        let help = match (&self.resolve(value).value, expected) {
            (ValueKind::Number { text, .. }, Ty::Percent) => format!("add a `%`: `{text}%`"),
            (ValueKind::Number { text, .. }, Ty::Duration) => {
                format!("add a unit: `{text}s`, `{text}m`, `{text}h` or `{text}d`")
            }
            (ValueKind::String(s), Ty::Enum(_)) => format!("write the name without quotes: `{s}`"),
            (ValueKind::Ident(s), Ty::String) => format!("put text in quotes: `\"{s}\"`"),
            _ => format!("for example: `{example}`"),
        };
        self.report(
            Diagnostic::new(
                Code::TypeMismatch,
                value.span,
                format!("expected {}, found {found}", expected.describe()),
            )
            .label(format!("this is {found}"))
            .help(help),
        );
    }

    /// A percentage between 0 and 100 inclusive.
    pub(crate) fn percent(&mut self, value: &Value, field: &Field) -> Option<Spanned<f64>> {
        match self.resolve(value).value {
            ValueKind::Percent(p) if (0.0..=100.0).contains(&p) => {
                Some(Spanned::new(p, value.span))
            }
            ValueKind::Percent(p) => {
                let why = if p < 0.0 { "below 0%" } else { "above 100%" };
                self.report(
                    Diagnostic::new(
                        Code::PercentOutOfRange,
                        value.span,
                        format!("{} of {}% is {why}", field.name, fmt_number(p)),
                    )
                    .label(format!(
                        "must be between 0% and 100%, not {}%",
                        fmt_number(p)
                    ))
                    .help(format!("for example: `{}`", field.example)),
                );
                None
            }
            _ => {
                self.mismatch(value, Ty::Percent, field.example);
                None
            }
        }
    }

    /// Milliseconds.
    pub(crate) fn duration(&mut self, value: &Value, example: &str) -> Option<Spanned<u64>> {
        match self.resolve(value).value {
            ValueKind::Duration(ms) => Some(Spanned::new(ms, value.span)),
            _ => {
                self.mismatch(value, Ty::Duration, example);
                None
            }
        }
    }

    pub(crate) fn int(
        &mut self,
        value: &Value,
        field: &Field,
        min: u64,
        max: u64,
    ) -> Option<Spanned<u64>> {
        let resolved = self.resolve(value);
        let ValueKind::Number { text, value: n } = &resolved.value else {
            self.mismatch(value, Ty::Int, field.example);
            return None;
        };
        let Ok(n_int) = text.parse::<i64>() else {
            if n.is_finite()
                && text.matches('.').count() <= 1
                && !text.starts_with('-')
                && text.contains('.')
            {
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        value.span,
                        format!("{} must be a whole number, not {text}", field.name),
                    )
                    .label("has a fraction")
                    .help(format!("for example: `{}`", field.example)),
                );
            } else {
                self.out_of_range(value, field, text, min, max);
            }
            return None;
        };
        match u64::try_from(n_int) {
            Ok(n) if (min..=max).contains(&n) => Some(Spanned::new(n, value.span)),
            _ => {
                let text = text.clone();
                self.out_of_range(value, field, &text, min, max);
                None
            }
        }
    }

    fn out_of_range(&mut self, value: &Value, field: &Field, text: &str, min: u64, max: u64) {
        self.report(
            Diagnostic::new(
                Code::ValueOutOfRange,
                value.span,
                format!("{} of {text} is out of range", field.name),
            )
            .label(format!("must be between {min} and {max}"))
            .help(format!("for example: `{}`", field.example)),
        );
    }

    pub(crate) fn number(&mut self, value: &Value, field: &Field) -> Option<Spanned<f64>> {
        match &self.resolve(value).value {
            ValueKind::Number { value: n, .. } if n.is_finite() => {
                Some(Spanned::new(*n, value.span))
            }
            ValueKind::Number { text, .. } => {
                let text = text.clone();
                self.report(
                    Diagnostic::new(
                        Code::InvalidLiteral,
                        value.span,
                        format!("`{text}` is not a number"),
                    )
                    .label("not a decimal number")
                    .help(format!("for example: `{}`", field.example)),
                );
                None
            }
            _ => {
                self.mismatch(value, Ty::Number, field.example);
                None
            }
        }
    }

    pub(crate) fn string(&mut self, value: &Value, example: &str) -> Option<Spanned<String>> {
        match &self.resolve(value).value {
            ValueKind::String(s) => Some(Spanned::new(s.clone(), value.span)),
            _ => {
                self.mismatch(value, Ty::String, example);
                None
            }
        }
    }

    pub(crate) fn date(&mut self, value: &Value, field: &Field) -> Option<Spanned<Date>> {
        match self.resolve(value).value {
            ValueKind::Date(d) => Some(Spanned::new(d, value.span)),
            _ => {
                self.mismatch(value, Ty::Date, field.example);
                None
            }
        }
    }

    pub(crate) fn size(&mut self, value: &Value, field: &Field) -> Option<Spanned<u64>> {
        match self.resolve(value).value {
            ValueKind::Size(bytes) => Some(Spanned::new(bytes, value.span)),
            _ => {
                self.mismatch(value, Ty::Size, field.example);
                None
            }
        }
    }

    /// One of `names`, given as a bare name.
    pub(crate) fn name_of(
        &mut self,
        value: &Value,
        names: &'static [&'static str],
        what: &str,
        example: &str,
    ) -> Option<Spanned<&'static str>> {
        let ValueKind::Ident(name) = &self.resolve(value).value else {
            self.mismatch(value, Ty::Enum(names), example);
            return None;
        };
        if let Some(found) = names.iter().find(|n| *n == name) {
            return Some(Spanned::new(*found, value.span));
        }
        let help = did_you_mean(name, names.iter().copied())
            .unwrap_or_else(|| format!("the {what}s are {}", super::entries::quote_list(names)));
        let message = format!("`{name}` is not a known {what}");
        self.report(
            Diagnostic::new(Code::UnknownVariant, value.span, message)
                .label(format!("unknown {what}"))
                .help(help),
        );
        None
    }
}

/// `0.5`, `1`, `2.25`: numbers as a person writes them.
pub fn fmt_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// `90s`, `10m`, `24h`, `7d`, `1h30m`: the shortest exact spelling of a duration.
pub(crate) fn fmt_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
        (1, "ms"),
    ];
    // A whole number of one unit reads best, hours before days up to a week (`168h` as the
    // stdlib writes it, `48h`), days beyond.
    if ms % 3_600_000 == 0 && ms <= 7 * 86_400_000 * 2 {
        return format!("{}h", ms / 3_600_000);
    }
    let mut rest = ms;
    let mut out = String::new();
    for (size, unit) in units {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_written() {
        assert_eq!(fmt_duration(24 * 3_600_000), "24h");
        assert_eq!(fmt_duration(336 * 3_600_000), "336h");
        assert_eq!(fmt_duration(5 * 60_000), "5m");
        assert_eq!(fmt_duration(5_400_000), "1h30m");
        assert_eq!(fmt_duration(90_000), "1m30s");
        assert_eq!(fmt_duration(30 * 86_400_000), "30d");
    }

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(fmt_number(1.0), "1");
        assert_eq!(fmt_number(0.5), "0.5");
        assert_eq!(fmt_number(0.25), "0.25");
    }
}
