//! The syntax tree of a `.plan` file.
//!
//! It mirrors the generic grammar: blocks, attributes and conditions. Literals are already
//! decoded into typed values (a duration is seconds, a percentage a number) but not yet checked
//! against where they appear: that is the checker's job. Every node carries a span; equality
//! ignores spans (see [`Spanned`]), so `parse(fmt(x)) == parse(x)` is a meaningful test.

use crate::source::{Span, Spanned};

pub type Ident = Spanned<String>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `use std.schedules.standard`: the dotted path, each segment spanned.
    Use(Spanned<Vec<Ident>>),
    /// `const name = value`.
    Const { name: Ident, value: Value },
    /// `plan`, `schedule`, `rollback` ... at the top level.
    Block(Block),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub keyword: Ident,
    pub label: Option<Ident>,
    /// Written with the readability word `when` (`rollback when { ... }`).
    pub when: bool,
    pub body: Body,
    pub span: SpanIgnored,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    pub entries: Vec<Entry>,
    pub span: SpanIgnored,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Attribute(Attribute),
    Block(Block),
    Condition(Condition),
}

/// `key qualifier? = value overrides?`, e.g. `image py3 = "..."` or
/// `schedule = standard { stage canary-25pct { hold = 96h } }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: Ident,
    pub qualifier: Option<Ident>,
    pub value: Value,
    pub overrides: Option<Body>,
    pub span: SpanIgnored,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub kind: ConditionKind,
    /// `for 5m`.
    pub window: Option<Value>,
    pub span: SpanIgnored,
    /// Joined to the previous condition with `and` on the same line (kept for the formatter).
    pub joined: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConditionKind {
    /// `error_rate > 1%`, `latency p99 < 2x py2`.
    Compare {
        metric: Ident,
        quantile: Option<Spanned<Quantile>>,
        op: Spanned<CmpOp>,
        value: Value,
    },
    /// `all metrics within 10% of baseline`.
    Within {
        tolerance: Value,
        base: Spanned<RatioBase>,
    },
    /// `approval "stakeholder sign-off"`.
    Approval { text: Spanned<String> },
}

/// A latency quantile such as `p99` or `p99.9`, in per-mille so it stays an exact integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantile(pub u32);

impl Quantile {
    pub fn as_fraction(self) -> f64 {
        f64::from(self.0) / 1000.0
    }
}

impl std::fmt::Display for Quantile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 % 10 == 0 {
            write!(f, "p{}", self.0 / 10)
        } else {
            write!(f, "p{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// `<` and `<=` bound a metric from above (a success criterion); `>`/`>=` from below (a trigger).
    pub fn is_upper_bound(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Le)
    }
}

/// What a ratio is relative to: `2x py2` or `2x baseline` (the same thing: the py2 copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RatioBase {
    Py2,
    Baseline,
}

pub type Value = Spanned<ValueKind>;

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// An integer or decimal, kept with its source text because `3.10` is a version, not 3.1.
    Number {
        text: String,
        value: f64,
    },
    /// `0.5%`, stored as the number before the sign (0.5).
    Percent(f64),
    /// `40/s`, `600/m`: per second.
    Rate(f64),
    /// `90s`, `1h30m`: milliseconds.
    Duration(u64),
    /// `2x py2`.
    Ratio {
        factor: f64,
        base: Option<Spanned<RatioBase>>,
    },
    /// `512Mi`: bytes.
    Size(u64),
    Date(crate::date::Date),
    String(String),
    Ident(String),
    /// `2.7 -> 3.11`.
    Arrow(Box<Value>, Box<Value>),
    /// `kubernetes(router: istio)`, `cookie("py_version")`.
    Call {
        name: Ident,
        args: Vec<Argument>,
    },
    List(Vec<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Argument {
    pub name: Option<Ident>,
    pub value: Value,
}

impl ValueKind {
    /// How the kind of a value is named in diagnostics: "a duration", "a percentage".
    pub fn describe(&self) -> &'static str {
        match self {
            ValueKind::Number { .. } => "a number",
            ValueKind::Percent(_) => "a percentage",
            ValueKind::Rate(_) => "a rate",
            ValueKind::Duration(_) => "a duration",
            ValueKind::Ratio { .. } => "a ratio",
            ValueKind::Size(_) => "a size",
            ValueKind::Date(_) => "a date",
            ValueKind::String(_) => "a string",
            ValueKind::Ident(_) => "a name",
            ValueKind::Arrow(..) => "a version pair",
            ValueKind::Call { .. } => "a call",
            ValueKind::List(_) => "a list",
        }
    }
}

/// A span that never takes part in equality: lets node structs derive `PartialEq`.
#[derive(Clone, Copy, Default)]
pub struct SpanIgnored(pub Span);

impl PartialEq for SpanIgnored {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for SpanIgnored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::ops::Deref for SpanIgnored {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.0
    }
}
