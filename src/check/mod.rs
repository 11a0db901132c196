//! The checker: from syntax tree to a typed, resolved [`Plan`], with every problem reported.
//!
//! Invariants: never panics, does no I/O (the stdlib is embedded; "today" comes in through
//! [`Options`]), and collects all diagnostics instead of stopping at the first. When the syntax
//! is broken it reports only the syntax errors: checking half a file produces noise.
//!
//! Passes, in order: parse the file and the stdlib modules it `use`s; gather definitions
//! (`plan`, `schedule`, `rollback`, `const`) into a scope; check every definition (a file of
//! schedules with no plan is a library and is checked too); lower the plan, resolving its
//! schedule and rollback references and applying overrides; cross-check the result (schedule
//! shape, criteria against triggers, router capabilities, Python lifecycle).

mod compare;
pub mod detection;
pub mod engine;
mod entries;
mod lifecycle;
mod plan;
mod ports;
mod rollback;
mod schedule;
pub mod schema;
pub mod strings;
mod value;

use std::collections::HashMap;
use std::rc::Rc;

use crate::date::Date;
use crate::diag::{self, Code, Diagnostic, did_you_mean};
use crate::model::Plan;
use crate::source::{FileId, SourceMap};
use crate::stdlib;
use crate::syntax::ast::{Block, File, Ident, Item, Value, ValueKind};

pub use lifecycle::{Lifecycle, OLDEST_TARGET, lifecycle};
pub use ports::port_collisions;

/// `latency p99`, `error_rate`: a metric as plans write it.
pub fn metric_text(
    metric: crate::model::Metric,
    quantile: Option<crate::syntax::ast::Quantile>,
) -> String {
    rollback::metric_name(metric, quantile)
}

/// `1`, `0.5`, `2.25`: a number as plans write it.
pub use value::fmt_number as number_text;

/// `5m`, `24h`, `1h30m`: a duration in milliseconds as plans write it.
pub fn duration_text(ms: u64) -> String {
    value::fmt_duration(ms)
}

/// What the checker needs from the outside world.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The date end-of-life warnings are judged against when the plan has no `start`.
    pub today: Date,
}

/// The result of checking one file.
#[derive(Debug)]
pub struct Analysis {
    /// The checked plan, when the file has one and it has no errors.
    pub plan: Option<Plan>,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks the file `root` of `sources`, adding the stdlib modules it uses to `sources`.
pub fn check(sources: &mut SourceMap, root: FileId, options: &Options) -> Analysis {
    let parse = crate::syntax::parse_file(root, &sources.get(root).text);
    check_parsed(sources, root, &parse, options)
}

/// [`check`] for a file already parsed (with file id `root`): the language server keeps each
/// document's parse and updates it edit by edit.
pub fn check_parsed(
    sources: &mut SourceMap,
    root: FileId,
    parse: &crate::syntax::Parse,
    options: &Options,
) -> Analysis {
    let root_ast = &parse.ast;
    let mut diagnostics = parse.diagnostics.clone();
    if diagnostics.iter().any(|d| d.code == Code::Syntax) {
        diag::sort(&mut diagnostics);
        return Analysis {
            plan: None,
            diagnostics,
        };
    }

    // Parse each stdlib module the file imports, once.
    let mut modules: Vec<(&'static stdlib::Module, Rc<File>)> = Vec::new();
    for item in &root_ast.items {
        let Item::Use(path) = item else { continue };
        if let Some(module) = module_of(path) {
            if modules.iter().all(|(m, _)| m.path != module.path) {
                modules.push((module, parse_module(sources, module, &mut diagnostics)));
            }
        }
    }
    // The defaults a plan falls back on are always available, imported or not.
    for (path, _) in [stdlib::DEFAULT_SCHEDULE, stdlib::DEFAULT_ROLLBACK] {
        if modules.iter().all(|(m, _)| m.path != path) {
            if let Some(module) = stdlib::module(path) {
                modules.push((module, parse_module(sources, module, &mut diagnostics)));
            }
        }
    }

    let mut checker = Checker {
        diagnostics,
        consts: HashMap::new(),
        scope: Vec::new(),
        scope_index: HashMap::new(),
        used: Vec::new(),
        today: options.today,
        root,
        rollback_cache: HashMap::new(),
        schedule_cache: HashMap::new(),
    };
    let plan = checker.run(root_ast, &modules);
    let mut diagnostics = checker.diagnostics;
    diag::sort(&mut diagnostics);
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    Analysis {
        plan: plan.filter(|_| !has_errors),
        diagnostics,
    }
}

fn module_of(path: &crate::source::Spanned<Vec<Ident>>) -> Option<&'static stdlib::Module> {
    let names: Vec<&str> = path.iter().map(|s| s.value.as_str()).collect();
    // `use std.schedules` or `use std.schedules.standard`.
    (1..=names.len())
        .rev()
        .find_map(|n| stdlib::module(&names[..n].join(".")))
}

/// A stdlib module parsed with the file id it has in a source map.
struct ParsedModule {
    path: &'static str,
    file: FileId,
    ast: Rc<File>,
    diagnostics: Vec<Diagnostic>,
}

thread_local! {
    /// The stdlib modules this thread has parsed, by module and file id (the spans carry it):
    /// the text is embedded, so the same module with the same id always parses to the same
    /// AST. The language server checks on every edit, and parsing the two default modules
    /// was a third of checking a 2,000-line plan (issue 15).
    static PARSED_MODULES: std::cell::RefCell<Vec<ParsedModule>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many parsed modules are kept (a source map gives each module one id, so a
/// front end uses only a few).
const PARSED_MODULES_KEPT: usize = 16;

fn parse_module(
    sources: &mut SourceMap,
    module: &'static stdlib::Module,
    diagnostics: &mut Vec<Diagnostic>,
) -> Rc<File> {
    let id = sources
        .find(module.file_name)
        .unwrap_or_else(|| sources.add(module.file_name, module.text));
    let cached = PARSED_MODULES.with(|cache| {
        let cache = cache.try_borrow().ok()?;
        let parsed = cache
            .iter()
            .find(|p| p.path == module.path && p.file == id)?;
        diagnostics.extend(parsed.diagnostics.iter().cloned());
        Some(parsed.ast.clone())
    });
    if let Some(ast) = cached {
        return ast;
    }
    let (ast, found) = crate::syntax::parse(id, &sources.get(id).text);
    let ast = Rc::new(ast);
    diagnostics.extend(found.iter().cloned());
    PARSED_MODULES.with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            if cache.len() >= PARSED_MODULES_KEPT {
                cache.remove(0);
            }
            cache.push(ParsedModule {
                path: module.path,
                file: id,
                ast: ast.clone(),
                diagnostics: found,
            });
        }
    });
    ast
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DefKind {
    Schedule,
    Rollback,
}

impl DefKind {
    fn describe(self) -> &'static str {
        match self {
            DefKind::Schedule => "schedule",
            DefKind::Rollback => "rollback set",
        }
    }
}

/// A schedule or rollback set visible to the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Def<'a> {
    pub kind: DefKind,
    pub name: &'a Ident,
    pub block: &'a Block,
    /// Module the definition was imported from, or `None` when local.
    pub module: Option<&'static str>,
    /// Whether the file imported it by `use` (as opposed to only being a fallback default).
    pub imported: bool,
}

pub(crate) struct Checker<'a> {
    pub diagnostics: Vec<Diagnostic>,
    pub consts: HashMap<&'a str, &'a Value>,
    /// Definitions in the order they were added; only [`Checker::add`] adds, so that
    /// `scope_index` finds each by name without a scan (a file of 64,000 schedules took
    /// 57 s when every definition searched the ones before it).
    pub scope: Vec<Def<'a>>,
    scope_index: HashMap<(DefKind, &'a str), usize>,
    /// Definitions the plan referred to, for unused-import warnings.
    pub used: Vec<(DefKind, &'a str)>,
    pub today: Date,
    /// The file being checked: diagnostics prefer to point into it rather than the stdlib.
    pub root: FileId,
    /// Lowered definitions by block address, so a definition the plan uses is checked once.
    pub rollback_cache: HashMap<usize, Vec<crate::model::Trigger>>,
    pub schedule_cache: HashMap<usize, Vec<schedule::StageDraft>>,
}

impl<'a> Checker<'a> {
    pub(crate) fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn run(
        &mut self,
        root: &'a File,
        modules: &'a [(&'static stdlib::Module, Rc<File>)],
    ) -> Option<Plan> {
        let mut plans: Vec<&'a Block> = Vec::new();
        let mut used_imports: Vec<(&'a crate::source::Spanned<Vec<Ident>>, bool)> = Vec::new();

        // Local definitions first, so an import of the same name is reported as the clash.
        for item in &root.items {
            match item {
                Item::Block(block) => {
                    match block.keyword.as_str() {
                        "plan" => {
                            if let Some(first) = plans.first() {
                                self.report(
                                Diagnostic::new(
                                    Code::DuplicateDefinition,
                                    block.keyword.span,
                                    "a file holds one plan",
                                )
                                .label("second plan")
                                .secondary(first.keyword.span, "first plan here")
                                .help("split the plans into separate files, or make them services of one plan"),
                            );
                            } else {
                                plans.push(block);
                            }
                        }
                        "schedule" => self.define(DefKind::Schedule, block, None, false),
                        "rollback" => self.define(DefKind::Rollback, block, None, false),
                        other => {
                            let mut d = Diagnostic::new(
                                Code::UnknownField,
                                block.keyword.span,
                                format!("unknown top-level block `{other}`"),
                            )
                            .label("not a top-level block");
                            d = d.help(
                            did_you_mean(other, schema::TOP_LEVEL.iter().copied()).unwrap_or_else(
                                || "a file holds `use`, `const`, `plan`, `schedule` and `rollback`".into(),
                            ),
                        );
                            self.report(d);
                        }
                    }
                }
                Item::Const { name, value } => {
                    if let Some(previous) = self.consts.get(name.as_str()) {
                        let previous_span = previous.span;
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateDefinition,
                                name.span,
                                format!("constant `{}` is defined twice", name.value),
                            )
                            .label("defined again here")
                            .secondary(previous_span, "first value here")
                            .help("remove one of the definitions or rename it"),
                        );
                    } else {
                        self.consts.insert(name.as_str(), value);
                    }
                }
                Item::Use(_) => {}
            }
        }
        self.resolve_const_chains();

        for item in &root.items {
            let Item::Use(path) = item else { continue };
            used_imports.push((path, false));
            self.import(path, modules);
        }
        // Fallback defaults are in scope for resolution but not importable by name.
        for (module_path, name) in [stdlib::DEFAULT_SCHEDULE, stdlib::DEFAULT_ROLLBACK] {
            let kind = if module_path == stdlib::DEFAULT_SCHEDULE.0 {
                DefKind::Schedule
            } else {
                DefKind::Rollback
            };
            if self.find(kind, name).is_some() {
                continue;
            }
            if let Some((module, ast)) = modules.iter().find(|(m, _)| m.path == module_path) {
                for block in ast_blocks(ast) {
                    if let Some(label) = block.label.as_ref().filter(|l| l.value == name) {
                        self.add(Def {
                            kind,
                            name: label,
                            block,
                            module: Some(module.path),
                            imported: false,
                        });
                    }
                }
            }
        }

        // Check every local definition, used or not: a file may be a library of schedules.
        let locals: Vec<Def<'a>> = self
            .scope
            .iter()
            .filter(|d| d.module.is_none())
            .copied()
            .collect();
        for def in locals {
            match def.kind {
                DefKind::Schedule => {
                    self.schedule_definition(def.block);
                }
                DefKind::Rollback => {
                    self.rollback_definition(def.block);
                }
            }
        }

        let plan = plans.first().and_then(|block| self.plan(block));

        // Imports nothing refers to.
        for (path, used) in &mut used_imports {
            *used = self.import_used(path);
            if !*used {
                self.report(
                    Diagnostic::new(
                        Code::UnusedImport,
                        path.span,
                        format!("`{}` is imported but not used", join_path(path)),
                    )
                    .label("unused import")
                    .help("remove the `use` line, or refer to what it imports"),
                );
            }
        }
        plan
    }

    /// `const b = a` means a's value: each constant that names another is pointed at the value
    /// at the end of its chain, once, so that every use resolves in one step. A cycle
    /// (`const a = b`, `const b = a`) is left as it is: its uses are names, reported as such.
    fn resolve_const_chains(&mut self) {
        let names: Vec<&'a str> = self.consts.keys().copied().collect();
        // Constants whose chain ends in a name that is no constant, or in a cycle.
        let mut unresolved: std::collections::HashSet<&'a str> = Default::default();
        for name in names {
            let mut chain = vec![name];
            let mut on_chain: std::collections::HashSet<&'a str> = [name].into();
            let mut value = self.consts[name];
            while let ValueKind::Ident(next) = &value.value {
                let next = next.as_str();
                let Some(&target) = self.consts.get(next) else {
                    break;
                };
                if unresolved.contains(next) || !on_chain.insert(next) {
                    break;
                }
                chain.push(next);
                value = target;
            }
            if matches!(value.value, ValueKind::Ident(_)) {
                unresolved.extend(chain);
                continue;
            }
            // Everything on the chain ends at `value`: later chains through them stop at once.
            for link in chain {
                self.consts.insert(link, value);
            }
        }
    }

    fn define(
        &mut self,
        kind: DefKind,
        block: &'a Block,
        module: Option<&'static str>,
        imported: bool,
    ) {
        let Some(name) = block.label.as_ref() else {
            self.report(
                Diagnostic::new(
                    Code::MissingField,
                    block.keyword.span,
                    format!("a top-level {} needs a name", kind.describe()),
                )
                .label("name missing")
                .help(format!("write `{} my-name {{ ... }}`", block.keyword.value)),
            );
            return;
        };
        if let Some(existing) = self.find(kind, name) {
            let (existing_span, from) = (existing.name.span, existing.module);
            let mut d = Diagnostic::new(
                Code::DuplicateDefinition,
                name.span,
                format!("{} `{}` is defined twice", kind.describe(), name.value),
            )
            .label("defined again here")
            .help("rename one of them");
            if let Some(module) = from.or(module) {
                d = d.note(format!("`{}` also comes from {module}", name.value));
            }
            d = d.secondary(existing_span, "first definition");
            self.report(d);
            return;
        }
        self.add(Def {
            kind,
            name,
            block,
            module,
            imported,
        });
    }

    /// Brings a definition into scope; a later one of the same kind and name never shadows it.
    fn add(&mut self, def: Def<'a>) {
        self.scope_index
            .entry((def.kind, def.name.value.as_str()))
            .or_insert(self.scope.len());
        self.scope.push(def);
    }

    fn import(
        &mut self,
        path: &'a crate::source::Spanned<Vec<Ident>>,
        modules: &'a [(&'static stdlib::Module, Rc<File>)],
    ) {
        let names: Vec<&str> = path.iter().map(|s| s.value.as_str()).collect();
        let Some((module, ast)) = modules.iter().find(|(m, _)| {
            let segments = m.path.split('.').count();
            names.len() >= segments && names[..segments].join(".") == m.path
        }) else {
            let joined = names.join(".");
            let help = did_you_mean(&joined, stdlib::MODULES.iter().map(|m| m.path))
                .unwrap_or_else(|| {
                    let all: Vec<&str> = stdlib::MODULES.iter().map(|m| m.path).collect();
                    format!("the modules are {}", all.join(", "))
                });
            self.report(
                Diagnostic::new(
                    Code::UnknownModule,
                    path.span,
                    format!("no module `{joined}`"),
                )
                .label("unknown module")
                .help(help),
            );
            return;
        };
        let segments = module.path.split('.').count();
        let wanted = path.get(segments);
        if path.len() > segments + 1 {
            let extra = &path[segments + 1];
            self.report(
                Diagnostic::new(
                    Code::UnknownModule,
                    extra.span.to(path.span),
                    format!("`{}` has no submodules", join_path(path)),
                )
                .label("unexpected path segment")
                .help(format!("import a definition: `use {}.NAME`", module.path)),
            );
            return;
        }
        let mut found = false;
        for block in ast_blocks(ast) {
            let kind = match block.keyword.as_str() {
                "schedule" => DefKind::Schedule,
                "rollback" => DefKind::Rollback,
                _ => continue,
            };
            let Some(label) = block.label.as_ref() else {
                continue;
            };
            if wanted.is_none_or(|w| w.value == label.value) {
                found = true;
                // Importing the same definition twice is harmless: keep the first.
                if self
                    .find(kind, label)
                    .is_some_and(|d| d.module == Some(module.path))
                {
                    continue;
                }
                self.define(kind, block, Some(module.path), true);
            }
        }
        if let (false, Some(wanted)) = (found, wanted) {
            let names = ast_blocks(ast).filter_map(|b| b.label.as_ref().map(|l| l.value.as_str()));
            let help = did_you_mean(&wanted.value, names).unwrap_or_else(|| {
                let all: Vec<&str> = ast_blocks(ast)
                    .filter_map(|b| b.label.as_ref().map(|l| l.value.as_str()))
                    .collect();
                format!("{} defines {}", module.path, all.join(", "))
            });
            self.report(
                Diagnostic::new(
                    Code::UnknownName,
                    wanted.span,
                    format!("{} has no `{}`", module.path, wanted.value),
                )
                .label("not defined there")
                .help(help),
            );
        }
    }

    /// Whether anything resolved through this import. Imports of unknown things were already
    /// reported and count as used so they are not reported twice.
    fn import_used(&self, path: &crate::source::Spanned<Vec<Ident>>) -> bool {
        let Some(module) = module_of(path) else {
            return true;
        };
        let segments = module.path.split('.').count();
        let wanted = path.get(segments).map(|w| w.value.as_str());
        let imported: Vec<&Def<'a>> = self
            .scope
            .iter()
            .filter(|d| d.module == Some(module.path) && d.imported)
            .filter(|d| wanted.is_none_or(|w| w == d.name.value))
            .collect();
        imported.is_empty()
            || imported
                .iter()
                .any(|d| self.used.contains(&(d.kind, d.name.value.as_str())))
    }

    pub(crate) fn find(&self, kind: DefKind, name: &str) -> Option<&Def<'a>> {
        self.scope_index.get(&(kind, name)).map(|&i| &self.scope[i])
    }
}

fn ast_blocks(file: &File) -> impl Iterator<Item = &Block> {
    file.items.iter().filter_map(|i| match i {
        Item::Block(b) => Some(b),
        _ => None,
    })
}

fn join_path(path: &crate::source::Spanned<Vec<Ident>>) -> String {
    path.iter()
        .map(|s| s.value.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<&'static str> {
        let mut sources = SourceMap::new();
        let root = sources.add("t.plan", text);
        let options = Options {
            today: Date::parse("2026-11-27").unwrap(),
        };
        check(&mut sources, root, &options)
            .diagnostics
            .iter()
            .map(|d| d.code.as_str())
            .collect()
    }

    const PLAN: &str = "plan x {\n  python = 2.7 -> 3.13\n  schedule {\n    stage a {\n      traffic = 100%\n      hold    = h\n    }\n  }\n}\n";

    #[test]
    fn a_constant_naming_a_constant_has_its_value() {
        // In any order, through a chain.
        let chain = format!("const h = g\nconst f = 24h\nconst g = f\n{PLAN}");
        assert_eq!(codes(&chain), Vec::<&str>::new());
        // A cycle, or a name that is no constant, is a name where a duration was wanted.
        let cycle = format!("const h = g\nconst g = h\n{PLAN}");
        assert_eq!(codes(&cycle), ["CNR201"]);
        let dangling = format!("const h = g\nconst g = nothing\n{PLAN}");
        assert_eq!(codes(&dangling), ["CNR201"]);
    }
}
