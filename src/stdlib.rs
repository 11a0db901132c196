//! The standard library: `.plan` files embedded in the binary, importable with `use std.NAME`.

/// One stdlib module: its `use` path, the file name shown in diagnostics, and its text.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    pub path: &'static str,
    pub file_name: &'static str,
    pub text: &'static str,
}

pub const MODULES: &[Module] = &[
    Module {
        path: "std.rollback",
        file_name: "<std>/rollback.plan",
        text: include_str!("../stdlib/rollback.plan"),
    },
    Module {
        path: "std.schedules",
        file_name: "<std>/schedules.plan",
        text: include_str!("../stdlib/schedules.plan"),
    },
];

pub fn module(path: &str) -> Option<&'static Module> {
    MODULES.iter().find(|m| m.path == path)
}

/// The schedule a plan gets when it names none (the seed's five stages over 27 days).
pub const DEFAULT_SCHEDULE: (&str, &str) = ("std.schedules", "standard");
/// The triggers a plan gets when it has no `rollback`.
pub const DEFAULT_ROLLBACK: (&str, &str) = ("std.rollback", "defaults");
