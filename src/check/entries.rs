//! Validates the entries of a block body against its [`BlockSpec`]: unknown fields (with "did
//! you mean"), duplicates, qualifiers, misplaced conditions. What passes is handed to the
//! block's own lowering code, which then only deals with known, unique fields.

use std::collections::HashMap;

use super::Checker;
use super::schema::{BlockSpec, Field, Ty};
use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::syntax::ast::{Attribute, Block, Body, Condition, Entry};

#[derive(Default)]
pub(crate) struct Entries<'a> {
    pub(crate) attributes: Vec<(&'static Field, &'a Attribute)>,
    pub(crate) blocks: Vec<&'a Block>,
    pub(crate) conditions: Vec<&'a Condition>,
    /// Each attribute by field name and qualifier once there are more than [`SCANNED`], so
    /// that duplicates and lookups take no scan of the attributes before (a body of 100,000
    /// entries took each one's time squared). Empty while a scan is cheaper than hashing.
    by_key: HashMap<(&'static str, Option<&'a str>), &'a Attribute>,
}

/// Up to this many attributes, a lookup scans them: most bodies hold a handful, and hashing
/// each key costs more than comparing a few names.
const SCANNED: usize = 8;

fn qualifier_of(attribute: &Attribute) -> Option<&str> {
    attribute.qualifier.as_ref().map(|q| q.value.as_str())
}

impl<'a> Entries<'a> {
    /// The attribute `name` (without qualifier), if written.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Attribute> {
        self.lookup(name, None)
    }

    /// The attribute `name qualifier`, e.g. `image py3`.
    pub(crate) fn qualified(&self, name: &str, qualifier: &str) -> Option<&'a Attribute> {
        self.lookup(name, Some(qualifier))
    }

    /// The attribute with field `name` and `qualifier` (there is at most one: [`Checker::entries`]
    /// adds no duplicate).
    fn lookup(&self, name: &str, qualifier: Option<&str>) -> Option<&'a Attribute> {
        if self.attributes.len() <= SCANNED {
            self.attributes
                .iter()
                .find(|(field, a)| field.name == name && qualifier_of(a) == qualifier)
                .map(|&(_, a)| a)
        } else {
            self.by_key.get(&(name, qualifier)).copied()
        }
    }

    fn add(&mut self, field: &'static Field, attribute: &'a Attribute) {
        self.attributes.push((field, attribute));
        if self.attributes.len() > SCANNED {
            if self.by_key.is_empty() {
                for &(field, attribute) in &self.attributes {
                    self.by_key
                        .insert((field.name, qualifier_of(attribute)), attribute);
                }
            } else {
                self.by_key
                    .insert((field.name, qualifier_of(attribute)), attribute);
            }
        }
    }

    pub(crate) fn blocks<'s>(&'s self, keyword: &'s str) -> impl Iterator<Item = &'a Block> + 's {
        self.blocks
            .iter()
            .copied()
            .filter(move |b| b.keyword.value == keyword)
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn entries(&mut self, body: &'a Body, spec: &BlockSpec) -> Entries<'a> {
        let mut out = Entries::default();
        for entry in &body.entries {
            match entry {
                Entry::Attribute(attribute) => {
                    if let Some(field) = self.check_attribute(attribute, spec, &out) {
                        out.add(field, attribute);
                    }
                }
                Entry::Block(block) => {
                    if spec.blocks.contains(&block.keyword.as_str()) {
                        out.blocks.push(block);
                    } else {
                        self.unknown_entry(&block.keyword, spec);
                    }
                }
                Entry::Condition(condition) => {
                    if spec.conditions {
                        out.conditions.push(condition);
                    } else {
                        self.report(
                            Diagnostic::new(
                                Code::UnknownField,
                                condition.span.0,
                                format!("a condition cannot appear directly in a `{}` block", spec.keyword),
                            )
                            .label("condition here")
                            .help("conditions go in `success when { ... }` inside a stage, or in `rollback when { ... }`"),
                        );
                    }
                }
            }
        }
        out
    }

    fn check_attribute(
        &mut self,
        attribute: &'a Attribute,
        spec: &BlockSpec,
        seen: &Entries<'a>,
    ) -> Option<&'static Field> {
        let key = &attribute.key;
        let Some(field) = spec.field(key) else {
            self.unknown_entry(key, spec);
            return None;
        };
        match (&attribute.qualifier, field.qualifiers) {
            (None, []) => {}
            (Some(q), []) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        q.span,
                        format!("`{}` takes no qualifier", field.name),
                    )
                    .label("unexpected qualifier")
                    .help(format!("write `{}`", field.example)),
                );
                return None;
            }
            (None, allowed) => {
                self.report(
                    Diagnostic::new(
                        Code::MissingField,
                        key.span,
                        format!("`{}` needs to say which copy it is for", field.name),
                    )
                    .label(format!(
                        "expected `{} {}` or similar",
                        field.name,
                        allowed.join("`/`")
                    ))
                    .help(format!("for example: `{}`", field.example)),
                );
                return None;
            }
            (Some(q), allowed) if !allowed.contains(&q.as_str()) => {
                self.report(
                    Diagnostic::new(
                        Code::UnknownVariant,
                        q.span,
                        format!("`{}` is not one of {}", q.value, allowed.join(", ")),
                    )
                    .label("unknown copy")
                    .help(format!("for example: `{}`", field.example)),
                );
                return None;
            }
            (Some(_), _) => {}
        }
        let qualifier = attribute.qualifier.as_ref().map(|q| q.as_str());
        if let Some(first) = seen.lookup(field.name, qualifier) {
            self.report(
                Diagnostic::new(
                    Code::DuplicateField,
                    key.span,
                    format!("`{}` is set twice", full_key(attribute)),
                )
                .label("set again here")
                .secondary(first.key.span, "first set here")
                .help("keep one of them"),
            );
            return None;
        }
        if let Some(overrides) = &attribute.overrides {
            if !matches!(field.ty, Ty::ScheduleRef | Ty::RollbackRef) {
                self.report(
                    Diagnostic::new(
                        Code::UnknownField,
                        overrides.span.0,
                        format!("`{}` takes no override block", field.name),
                    )
                    .label("unexpected block")
                    .help("only `schedule = NAME { ... }` and `rollback = NAME { ... }` take overrides"),
                );
            }
        }
        Some(field)
    }

    fn unknown_entry(&mut self, key: &crate::syntax::ast::Ident, spec: &BlockSpec) {
        let what = if spec.conditions {
            format!(
                "`{}` is not allowed in a `{}` block",
                key.value, spec.keyword
            )
        } else {
            format!(
                "unknown field `{}` in a `{}` block",
                key.value, spec.keyword
            )
        };
        let names: Vec<&str> = spec.names().collect();
        let help = did_you_mean(key, names.iter().copied()).unwrap_or_else(|| {
            if names.is_empty() {
                format!(
                    "a `{}` block holds conditions such as `error_rate > 1%` or `memory > 90% for 10m`",
                    spec.keyword
                )
            } else {
                format!("a `{}` block takes {}", spec.keyword, quote_list(&names))
            }
        });
        self.report(
            Diagnostic::new(Code::UnknownField, key.span, what)
                .label("unknown here")
                .help(help),
        );
    }
}

fn full_key(attribute: &Attribute) -> String {
    match &attribute.qualifier {
        Some(q) => format!("{} {}", attribute.key.value, q.value),
        None => attribute.key.value.clone(),
    }
}

/// "`a`, `b` and `c`"
pub(crate) fn quote_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
