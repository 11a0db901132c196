//! Reading a plan file and, when it names a codebase, detecting facts there and merging them
//! in: the front half every command that takes a plan shares.

use std::path::{Path, PathBuf};

use super::Env;
use crate::check::{Options, check};
use crate::detect::Detection;
use crate::detect::merge::Merger;
use crate::detect::walk::Limits;
use crate::diag::{Code, Diagnostic};
use crate::model::Plan;
use crate::source::{FileId, InvalidUtf8, SourceFile, SourceMap, Span};

#[allow(
    dead_code,
    reason = "the plan and detection feed `build`, which lands next"
)]
pub(crate) struct Loaded {
    /// The plan with detected facts merged in, when it checked without errors.
    pub plan: Option<Plan>,
    pub detection: Option<Detection>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and checks `path`; with `detect`, reads the plan's `codebase` (relative to the plan's
/// directory) and merges what it finds. Err is a usage error: the plan cannot be read. A plan
/// that is not UTF-8 is read, and reported as CNR003: bad content, like any other error in it.
pub(crate) fn load(
    path: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Result<Loaded, String> {
    let bytes = read_plan_bytes(path)?;
    let (file, invalid) = SourceFile::from_bytes(path.display().to_string(), bytes);
    let root = sources.add_file(file);
    if let Some(invalid) = invalid {
        return Ok(Loaded {
            plan: None,
            detection: None,
            diagnostics: vec![not_utf8(sources.get(root), root, &invalid)],
        });
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(load_root(root, base, env, sources, detect))
}

/// A plan's bytes. Only a regular file is read: a FIFO, a socket or a device is refused at once
/// (opened without blocking, then inspected), so `canaryc check some-fifo` never hangs.
pub(crate) fn read_plan_bytes(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
        // nothing for a regular file.
        #[allow(clippy::cast_possible_wrap, reason = "a small flag constant")]
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let mut file = options.open(path).map_err(cannot)?;
    let metadata = file.metadata().map_err(cannot)?;
    if !metadata.is_file() {
        return Err(format!(
            "{} is {}, not a plan file; canaryc reads plans from regular files",
            path.display(),
            file_kind(&metadata)
        ));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    Ok(bytes)
}

fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        let t = metadata.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if metadata.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// A plan's text for a command that reports no diagnostics of its own on it (`fmt`): a
/// byte-order mark is dropped; bytes that are not UTF-8 are an error saying where.
pub(crate) fn read_plan(path: &Path) -> Result<String, String> {
    let (file, invalid) =
        SourceFile::from_bytes(path.display().to_string(), read_plan_bytes(path)?);
    match invalid {
        None => Ok(file.text),
        Some(invalid) => Err(not_utf8_message(&file, &invalid)),
    }
}

/// The plan's text exactly as it is on disk, byte-order mark included: the copy of a plan kept in
/// its own output directory must not differ from it.
pub(crate) fn read_plan_exact(path: &Path) -> Result<String, String> {
    String::from_utf8(read_plan_bytes(path)?)
        .map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

/// As [`load`], for a plan that is not (yet) a file: `base` is where its `codebase` is relative to.
pub(crate) fn load_text(
    name: &str,
    text: String,
    base: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Loaded {
    let root = sources.add(name, text);
    load_root(root, base, env, sources, detect)
}

fn load_root(
    root: FileId,
    base: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Loaded {
    let analysis = check(sources, root, &Options { today: env.today });
    let mut diagnostics = analysis.diagnostics;
    let undetected = |plan, diagnostics| Loaded {
        plan,
        detection: None,
        diagnostics,
    };
    let Some(plan) = analysis.plan else {
        return undetected(None, diagnostics);
    };
    let Some(codebase) = plan.codebase.clone().filter(|_| detect) else {
        return undetected(Some(plan), diagnostics);
    };
    let dir = codebase_dir(base, &codebase.value);
    // `/` (or `../..` up to it) would walk every mounted file system in the foreground.
    if dir.canonicalize().is_ok_and(|d| d.parent().is_none()) {
        diagnostics.push(codebase_is_root(codebase.span, &dir));
        return undetected(Some(plan), diagnostics);
    }
    if !dir.is_dir() {
        diagnostics.push(codebase_missing(codebase.span, &dir));
        return undetected(Some(plan), diagnostics);
    }
    let detection = match crate::detect::detect(&dir, &Limits::default()) {
        Ok(d) => d,
        Err(err) => {
            diagnostics.push(codebase_missing(codebase.span, &dir).note(err.to_string()));
            return undetected(Some(plan), diagnostics);
        }
    };
    let loader = |rel: &str| std::fs::read_to_string(dir.join(rel)).ok();
    let prefix = dir.display().to_string();
    let mut merger = Merger::new(sources, &loader, prefix.trim_start_matches("./"));
    let merged = merger.merge(&plan, &detection);
    diagnostics.append(&mut merger.diagnostics);
    crate::diag::sort(&mut diagnostics);
    Loaded {
        plan: Some(merged),
        detection: Some(detection),
        diagnostics,
    }
}

/// The directory a plan's `codebase` names, relative to `base` (the plan's directory).
pub(crate) fn codebase_dir(base: &Path, codebase: &str) -> PathBuf {
    let joined = base.join(codebase);
    // Keep a relative path relative (diagnostics show it as the user wrote it), but resolve `..`
    // through directories that may not exist yet.
    if joined
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        super::normalize(&joined)
    } else {
        joined
    }
}

fn describe_bytes(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("0x{b:02X}")).collect();
    format!(
        "{} {}",
        if bytes.len() == 1 { "byte" } else { "bytes" },
        hex.join(" ")
    )
}

fn not_utf8_message(file: &SourceFile, invalid: &InvalidUtf8) -> String {
    let (line, column) = file.line_col(invalid.offset);
    format!(
        "{} is not UTF-8: {} at line {line}, column {column}",
        file.name,
        describe_bytes(&invalid.bytes)
    )
}

/// CNR003, pointing at the first bytes that are not UTF-8 (shown as `?` in the excerpt).
fn not_utf8(file: &SourceFile, id: FileId, invalid: &InvalidUtf8) -> Diagnostic {
    let span = Span::new(id, invalid.offset, invalid.offset + invalid.bytes.len());
    Diagnostic::new(Code::NotUtf8, span, not_utf8_message(file, invalid))
        .label(format!("{} (shown as `?`)", describe_bytes(&invalid.bytes)))
        .help(
            "save the plan as UTF-8; a file saved as Latin-1 or Windows-1252 converts with \
             `iconv -f WINDOWS-1252 -t UTF-8`",
        )
        .note("nothing else in this file was checked")
}

fn codebase_is_root(span: Span, dir: &Path) -> Diagnostic {
    Diagnostic::new(
        Code::CodebaseIsRoot,
        span,
        format!(
            "codebase {} is the root of the file system; canaryc does not read the whole disk",
            dir.display()
        ),
    )
    .label("not a codebase")
    .help("name the service's own directory, relative to the plan file (e.g. `codebase = \".\"`)")
    .note("nothing was detected; the plan was checked with only what it says")
}

fn codebase_missing(span: Span, dir: &Path) -> Diagnostic {
    Diagnostic::new(
        Code::CodebaseMissing,
        span,
        format!("codebase {} is not a directory", dir.display()),
    )
    .label("nothing to detect here")
    .help(
        "`codebase` is relative to the plan file; without it canaryc uses only what the plan says",
    )
}
