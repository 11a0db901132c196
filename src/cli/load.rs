//! Reading a plan file and compiling it (`crate::compile`), its codebase read from disk by
//! [`Disk`]: what every command that takes a plan shares.

use std::path::{Path, PathBuf};

use super::{Env, Error};
use crate::compile::{self, Codebase, Detected, Diagnostics, Emit, Outputs, Sources};
use crate::detect::Detection;
use crate::detect::walk::Limits;
use crate::diag::{Code, Diagnostic};
use crate::model::Plan;
use crate::source::{FileId, InvalidUtf8, SourceFile, SourceMap, Span, Spanned};

/// A plan compiled, or the diagnostics that stop it.
pub(crate) type Compiled = Result<Outputs, Diagnostics>;

/// Reads `path` and compiles it, its codebase read through `codebase`. Err is a usage error:
/// the plan cannot be read. A plan that is not UTF-8 is read, and reported as CNR003: bad
/// content, like any other error in it.
pub(crate) fn compile(
    path: &Path,
    env: &Env,
    sources: &mut SourceMap,
    codebase: &mut Disk<'_>,
    emit: Option<Emit>,
) -> Result<Compiled, Error> {
    let bytes = read_plan_bytes(path)?;
    let (file, invalid) = SourceFile::from_bytes(path.display().to_string(), bytes);
    let root = sources.add_file(file);
    if let Some(invalid) = invalid {
        return Ok(Err(Diagnostics {
            diagnostics: vec![not_utf8(sources.get(root), root, &invalid)],
            plan: None,
        }));
    }
    Ok(compile_root(root, env, sources, codebase, emit))
}

/// What `canaryc compare` reads of a plan (its `compare` section): the checked plan, or none.
pub(crate) struct Loaded {
    pub plan: Option<Plan>,
    pub diagnostics: Vec<Diagnostic>,
}

/// [`compile`] as `cli/compare.rs` calls it (another helper's file, left as it is in this
/// change): Err is the message of a plan that cannot be read.
pub(crate) fn load(
    path: &Path,
    env: &Env,
    sources: &mut SourceMap,
    detect: bool,
) -> Result<Loaded, String> {
    let mut codebase = Disk::new(plan_dir(path), detect);
    let compiled = compile(path, env, sources, &mut codebase, None).map_err(|e| e.message())?;
    Ok(match compiled {
        Ok(outputs) => Loaded {
            plan: Some(outputs.plan),
            diagnostics: outputs.diagnostics,
        },
        Err(failed) => Loaded {
            plan: None,
            diagnostics: failed.diagnostics,
        },
    })
}

/// As [`compile`], for a plan that is not (yet) a file (`canaryc plan`'s draft).
pub(crate) fn load_text(
    name: &str,
    text: String,
    env: &Env,
    sources: &mut SourceMap,
    codebase: &mut Disk<'_>,
    emit: Option<Emit>,
) -> Compiled {
    let root = sources.add(name, text);
    compile_root(root, env, sources, codebase, emit)
}

fn compile_root(
    root: FileId,
    env: &Env,
    sources: &mut SourceMap,
    codebase: &mut Disk<'_>,
    emit: Option<Emit>,
) -> Compiled {
    let options = compile::Options {
        check: crate::check::Options { today: env.today },
        emit,
    };
    let sources = Sources {
        map: sources,
        root,
        parsed: None,
    };
    compile::compile(sources, codebase, &options)
}

/// The codebase on disk, for [`compile::compile`]: the directory a plan's `codebase` names, relative to
/// the plan's directory, walked once.
pub(crate) struct Disk<'a> {
    /// The plan's directory: `codebase` is relative to it.
    base: PathBuf,
    /// The output directory, when building: the outputs name the codebase relative to it.
    output: Option<PathBuf>,
    detect: bool,
    /// Walked already (by `canaryc plan`, to write the plan that names it).
    walked: Option<&'a Detection>,
    /// The directory detected, and its detection when walked here.
    dir: PathBuf,
    detection: Option<Detection>,
}

impl<'a> Disk<'a> {
    /// `detect` false: the codebase is not read (`check --no-detect`).
    pub(crate) fn new(base: &Path, detect: bool) -> Disk<'a> {
        Disk {
            base: base.to_path_buf(),
            output: None,
            detect,
            walked: None,
            dir: PathBuf::new(),
            detection: None,
        }
    }

    /// For a build into `output`.
    pub(crate) fn building(mut self, output: &Path) -> Disk<'a> {
        self.output = Some(output.to_path_buf());
        self
    }

    /// With the codebase walked already: the plan names the directory that was walked.
    pub(crate) fn walked(mut self, detection: &'a Detection) -> Disk<'a> {
        self.walked = Some(detection);
        self
    }
}

impl Codebase for Disk<'_> {
    fn locate(&self, codebase: &str) -> String {
        let output = self.output.as_deref().unwrap_or(Path::new("."));
        super::build::relative_to(&self.base.join(codebase), output)
    }

    fn detect(
        &mut self,
        codebase: &Spanned<String>,
    ) -> Result<Option<Detected<'_>>, Box<Diagnostic>> {
        if !self.detect {
            return Ok(None);
        }
        let dir = codebase_dir(&self.base, &codebase.value);
        // `/` (or `../..` up to it) would walk every mounted file system in the foreground.
        if dir.canonicalize().is_ok_and(|d| d.parent().is_none()) {
            return Err(Box::new(codebase_is_root(codebase.span, &dir)));
        }
        if !dir.is_dir() {
            return Err(Box::new(codebase_missing(codebase.span, &dir)));
        }
        let detection: &Detection = match self.walked {
            Some(walked) => walked,
            None => {
                self.detection
                    .insert(
                        crate::detect::detect(&dir, &Limits::default()).map_err(|err| {
                            Box::new(codebase_missing(codebase.span, &dir).note(err.to_string()))
                        })?,
                    )
            }
        };
        self.dir = dir;
        let dir = &self.dir;
        Ok(Some(Detected {
            detection,
            name: dir
                .display()
                .to_string()
                .trim_start_matches("./")
                .to_string(),
            read: Box::new(move |rel: &str| std::fs::read_to_string(dir.join(rel)).ok()),
        }))
    }
}

/// A plan's bytes. Only a regular file is read: a FIFO, a socket or a device is refused at once
/// (opened without blocking, then inspected), so `canaryc check some-fifo` never hangs.
pub(crate) fn read_plan_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Error::Read(format!("cannot read {}: {e}", path.display()));
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
        return Err(Error::Read(format!(
            "{} is {}, not a plan file; canaryc reads plans from regular files",
            path.display(),
            file_kind(&metadata)
        )));
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
pub(crate) fn read_plan(path: &Path) -> Result<String, Error> {
    let (file, invalid) =
        SourceFile::from_bytes(path.display().to_string(), read_plan_bytes(path)?);
    match invalid {
        None => Ok(file.text),
        Some(invalid) => Err(Error::Read(not_utf8_message(&file, &invalid))),
    }
}

/// The plan's text exactly as it is on disk, byte-order mark included: the copy of a plan kept in
/// its own output directory must not differ from it.
pub(crate) fn read_plan_exact(path: &Path) -> Result<String, Error> {
    String::from_utf8(read_plan_bytes(path)?)
        .map_err(|_| Error::Read(format!("{} is not UTF-8 text", path.display())))
}

/// The directory a plan file is in: its `codebase` is relative to it.
pub(crate) fn plan_dir(plan: &Path) -> &Path {
    plan.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codebase(value: &str) -> Spanned<String> {
        Spanned::new(value.to_string(), Span::default())
    }

    /// `canaryc plan` walks its codebase once: the plan it wrote is compiled with that walk.
    #[test]
    fn a_codebase_walked_already_is_not_walked_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.py"), "print 'hi'\n").unwrap();
        // A walk of this directory would see one file; the planted count shows it was reused.
        let walked = Detection {
            stats: crate::detect::facts::Stats {
                files_seen: 12_345,
                files_read: 0,
            },
            ..Detection::default()
        };
        let mut disk = Disk::new(dir.path(), true).walked(&walked);
        let found = disk.detect(&codebase(".")).ok().flatten().unwrap();
        assert_eq!(found.detection.stats.files_seen, 12_345);
        // Without a walk to reuse, the directory is walked.
        let mut disk = Disk::new(dir.path(), true);
        let found = disk.detect(&codebase(".")).ok().flatten().unwrap();
        assert_eq!(found.detection.stats.files_seen, 1);
        assert_eq!((found.read)("app.py").as_deref(), Some("print 'hi'\n"));
    }

    #[test]
    fn a_root_a_missing_directory_and_no_detect_are_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Disk::new(dir.path(), true);
        let root = disk.detect(&codebase("/")).err().unwrap();
        assert_eq!(root.code, Code::CodebaseIsRoot);
        let missing = disk.detect(&codebase("nowhere")).err().unwrap();
        assert_eq!(missing.code, Code::CodebaseMissing);
        let mut off = Disk::new(dir.path(), false);
        assert!(off.detect(&codebase(".")).unwrap().is_none());
    }
}
