//! The pipeline, once: check -> detect (through the front end) -> merge -> lower -> emit.
//!
//! Every front end (`cli::check`, `cli::build`, `cli::plan`, the language server) calls
//! [`compile`] instead of assembling the stages itself, so an editor, the CI gate and a build
//! see the same diagnostics for the same plan. `compile` does no I/O: the codebase reaches it
//! through a [`Codebase`] the front end implements (the CLI walks the disk, the language server
//! hands over what its detection thread found, `canaryc plan` what it walked to write the plan).

use crate::check::{self, Analysis};
use crate::detect::Detection;
use crate::detect::merge::Merger;
use crate::diag::Diagnostic;
use crate::emit::OutputFile;
use crate::ir::Ir;
use crate::model::Plan;
use crate::source::{FileId, SourceMap, Spanned};
use crate::syntax::Parse;

/// The plan to compile: a file of `map` (its stdlib imports and the codebase files diagnostics
/// quote are added to `map`), parsed here or, for the language server, already parsed.
pub struct Sources<'a> {
    pub map: &'a mut SourceMap,
    pub root: FileId,
    /// The root file's parse, when the caller keeps one (the language server's, edit by edit).
    pub parsed: Option<&'a Parse>,
}

/// What compile asks of the front end about the codebase a plan names (`codebase = "..."`):
/// the only way it reaches the disk.
pub trait Codebase {
    /// The codebase directory as the outputs name it (the Compose build context), relative to
    /// the output directory. Only asked when emitting.
    fn locate(&self, codebase: &str) -> String;

    /// The detection of the directory the checked plan names. `Ok(None)`: not read (`check
    /// --no-detect`, a document that is not a file); `Err`: why not, as a diagnostic (CNR010 a
    /// root, CNR605 not a directory), and the plan is compiled with only what it says.
    fn detect(
        &mut self,
        codebase: &Spanned<String>,
    ) -> Result<Option<Detected<'_>>, Box<Diagnostic>>;
}

/// A codebase as detected by the front end.
pub struct Detected<'a> {
    pub detection: &'a Detection,
    /// How diagnostics name the codebase's files: this, `/`, the file's path in it.
    pub name: String,
    /// A codebase file's text by its path in the codebase, for diagnostics' excerpts.
    pub read: ReadFile<'a>,
}

/// Reads a codebase file by its path in the codebase (the front end's I/O, handed in).
pub type ReadFile<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// How far to go, and what the stages need from outside.
#[derive(Debug, Clone)]
pub struct Options {
    pub check: check::Options,
    /// Lower and emit the files too (`build`, `plan`); `None` stops after the merge (`check`,
    /// the language server).
    pub emit: Option<Emit>,
}

#[derive(Debug, Clone)]
pub struct Emit {
    /// The plan file as the outputs name it, relative to the output directory.
    pub plan_file: String,
    /// Lower only, leaving [`Built::files`] empty: the front end emits the files itself
    /// (`crate::emit::emit_each`), each written out as it is rendered (issue 15).
    pub deferred: bool,
}

/// A plan that compiled without errors.
#[derive(Debug)]
pub struct Outputs {
    /// The checked plan, with what was detected in its codebase merged in.
    pub plan: Plan,
    /// With [`Options::emit`]: the IR and the files.
    pub built: Option<Built>,
    /// The warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

#[derive(Debug)]
pub struct Built {
    pub ir: Ir,
    pub files: Vec<OutputFile>,
}

/// A plan that did not compile: at least one error among the diagnostics (sorted by file and
/// position).
#[derive(Debug)]
pub struct Diagnostics {
    pub diagnostics: Vec<Diagnostic>,
    /// The checked plan when only a later stage failed (a codebase that is `/`): `check`
    /// still shows its time-to-detect preview.
    pub plan: Option<Box<Plan>>,
}

impl Diagnostics {
    fn of(diagnostics: Vec<Diagnostic>, plan: Option<Plan>) -> Diagnostics {
        Diagnostics {
            diagnostics,
            plan: plan.map(Box::new),
        }
    }
}

/// Compiles the plan `sources.root`: checks it, merges what `codebase` detects in the codebase
/// it names, and with `options.emit` lowers it and emits the files. Pure.
pub fn compile(
    sources: Sources<'_>,
    codebase: &mut dyn Codebase,
    options: &Options,
) -> Result<Outputs, Diagnostics> {
    let Sources { map, root, parsed } = sources;
    let Analysis {
        plan,
        mut diagnostics,
    } = match parsed {
        Some(parse) => check::check_parsed(map, root, parse, &options.check),
        None => check::check(map, root, &options.check),
    };
    let Some(plan) = plan else {
        return Err(Diagnostics::of(diagnostics, None));
    };
    // Asked before detecting: the detection borrows `codebase` until lowering is done.
    let build_context = options
        .emit
        .as_ref()
        .and(plan.codebase.as_ref())
        .map(|c| codebase.locate(&c.value));
    let detected = match plan.codebase.as_ref().map(|c| codebase.detect(c)) {
        None | Some(Ok(None)) => None,
        Some(Err(why)) => {
            diagnostics.push(*why);
            crate::diag::sort(&mut diagnostics);
            None
        }
        Some(Ok(Some(detected))) => Some(detected),
    };
    let plan = match &detected {
        None => plan,
        Some(detected) => {
            let mut merger = Merger::new(map, &*detected.read, &detected.name);
            let merged = merger.merge(&plan, detected.detection);
            diagnostics.append(&mut merger.diagnostics);
            crate::diag::sort(&mut diagnostics);
            merged
        }
    };
    // With the codebase's ports merged in: what every listener of the bundle takes (the
    // checker has done it for a plan without a codebase).
    let collisions = match plan.codebase {
        Some(_) => check::port_collisions(&plan),
        None => Vec::new(),
    };
    if !collisions.is_empty() {
        diagnostics.extend(collisions);
        crate::diag::sort(&mut diagnostics);
    }
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics::of(diagnostics, Some(plan)));
    }
    let Some(emit) = &options.emit else {
        return Ok(Outputs {
            plan,
            built: None,
            diagnostics,
        });
    };
    let detection = detected.as_ref().map(|d| d.detection);
    let (mut ir, mut lowering) = crate::ir::lower(&plan, detection, build_context.as_deref());
    ir.plan_file = Some(emit.plan_file.clone());
    diagnostics.append(&mut lowering);
    crate::diag::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics::of(diagnostics, Some(plan)));
    }
    let files = if emit.deferred {
        Vec::new()
    } else {
        crate::emit::emit(&ir)
    };
    Ok(Outputs {
        plan,
        built: Some(Built { ir, files }),
        diagnostics,
    })
}
