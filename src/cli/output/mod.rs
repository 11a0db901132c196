//! Writing an output directory: what canaryc may replace or delete there, and how it gets the
//! new files in without ever leaving half a build. `build` and `plan` both write through here.
//!
//! The rules, in the order they are applied:
//!
//! 1. The output path must be a directory, or not exist. A symbolic link is refused (canaryc
//!    would otherwise replace the link, or write where it points), and so is a read-only
//!    directory (mode without `u+w`, or not writable by this user): both are usage errors.
//! 2. Interrupted earlier writes are finished or undone first (`txn.rs`); only then is what
//!    the output holds looked at.
//! 3. Each entry already in the directory is one of: a file identical to the one about to be
//!    written; a file canaryc wrote and nobody changed since (its name and SHA-256 are in the
//!    `.canaryc` manifest and still match); or something canaryc did not write. Directories,
//!    symlinks and other non-files are never canaryc's.
//! 4. The manifest is not trusted at all when the output is, or contains, the plan's codebase,
//!    or contains the plan's directory: a manifest planted in a codebase must not make canaryc
//!    delete the codebase. When the output is the plan's own directory, the manifest is trusted
//!    to replace canaryc's files but not to delete any: files no longer built are left there,
//!    named, and stay in the manifest while unchanged, so the next build is the same.
//! 5. Replacing a file canaryc did not write, or writing among such files at all, needs
//!    `--force`; without it the error lists exactly which files would be replaced and which
//!    would be kept. With it, other files are kept and only canaryc's names are replaced.
//!    Nothing canaryc did not write is ever deleted, with or without `--force`.
//! 6. A directory that is canaryc's alone (or new) is swapped in whole; anything else (other
//!    files kept, the plan's own directory, the current directory, a mount point, which cannot
//!    be renamed, or a file system with no atomic exchange) is written in place under a
//!    journal, leaving files that are already exactly what would be written untouched. See
//!    `txn.rs` for what each guarantees when the process is killed or a step fails: the swap is
//!    atomic at every instant; in place, a failure is undone at once, and the next run undoes
//!    an interrupted write (or one whose undoing failed) before anything else (a weaker
//!    guarantee, and the only one possible for a directory whose other contents must stay).

mod manifest;
mod txn;

use std::io::Read as _;
use std::path::{Path, PathBuf};

pub(crate) use manifest::MARKER;

use super::print_stderr;
use crate::emit::OutputFile;

/// canaryc writes small text files; anything larger in an output directory is not one of them
/// and is never read to be hashed.
const MAX_FILE_BYTES: u64 = 64 << 20;

pub(crate) enum WriteError {
    /// The output cannot be used as given (exit 2): nothing was changed.
    Usage(String),
    /// Writing failed (exit 1). The message says what became of the previous outputs: they are
    /// unchanged, or kept for the next run to put back.
    Io(String),
}

impl WriteError {
    /// A failure that changed nothing anyone sees.
    fn unchanged(what: String) -> WriteError {
        WriteError::Io(format!("{what}; the previous outputs are unchanged"))
    }
}

/// What to write, and what the directory must be protected from.
pub(crate) struct Request<'a> {
    pub output: &'a Path,
    pub files: &'a [OutputFile],
    pub force: bool,
    /// The codebase the plan describes: an output that is or contains it trusts no manifest.
    pub codebase: Option<&'a Path>,
    /// The directory of the plan being built, when the plan is the user's (not written by this
    /// run): an output containing it trusts no manifest, and in it nothing is deleted.
    pub plan_dir: Option<&'a Path>,
}

/// The output directory, resolved.
struct Target {
    /// Absolute: the canonical parent joined with `name`.
    path: PathBuf,
    parent: Option<PathBuf>,
    name: String,
    exists: bool,
    /// The output is on another file system than its parent: it cannot be renamed.
    mount_point: bool,
}

/// Resolves and vets `output`; creates its parent directories when `create` is set.
fn resolve(output: &Path, create: bool) -> Result<Target, WriteError> {
    let shown = output.display();
    match std::fs::symlink_metadata(output) {
        Ok(m) if m.file_type().is_symlink() => {
            let to = std::fs::read_link(output)
                .map(|t| format!(" (to {})", t.display()))
                .unwrap_or_default();
            Err(WriteError::Usage(format!(
                "{shown} is a symbolic link{to}; canaryc neither replaces a link nor writes \
                 through one: give the directory itself as --output"
            )))
        }
        Ok(m) if !m.is_dir() => Err(WriteError::Usage(format!(
            "{shown} exists and is not a directory"
        ))),
        Ok(m) => {
            if let Some(why) = read_only(output, &m) {
                return Err(WriteError::Usage(format!(
                    "{shown} is {why}; canaryc does not replace it with a writable copy: make it \
                     writable (chmod u+w {shown}) or pick another --output"
                )));
            }
            let path = output
                .canonicalize()
                .map_err(|e| WriteError::unchanged(format!("cannot resolve {shown}: {e}")))?;
            let parent = path.parent().map(Path::to_path_buf);
            let mount_point = parent.as_deref().is_none_or(|p| other_device(p, &m));
            let name = file_name(&path);
            Ok(Target {
                path,
                parent,
                name,
                exists: true,
                mount_point,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let absolute = super::normalize(output);
            let parent = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
            if create {
                std::fs::create_dir_all(&parent).map_err(|e| {
                    WriteError::unchanged(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            let parent = parent.canonicalize().unwrap_or(parent);
            let name = file_name(&absolute);
            Ok(Target {
                path: parent.join(&name),
                parent: Some(parent),
                name,
                exists: false,
                mount_point: false,
            })
        }
        Err(e) => Err(WriteError::unchanged(format!("cannot read {shown}: {e}"))),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Why a directory cannot be written, if it cannot: no owner write bit (which even root, who may
/// write anyway, takes as the owner's wish), or no write access for this user.
fn read_only(dir: &Path, metadata: &std::fs::Metadata) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o200 == 0 {
            return Some(format!("read-only (mode {mode:04o})"));
        }
        if let Err(e) = rustix::fs::access(dir, rustix::fs::Access::WRITE_OK) {
            return Some(format!("not writable ({})", std::io::Error::from(e)));
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        metadata
            .permissions()
            .readonly()
            .then(|| "read-only".to_string())
    }
}

#[cfg(unix)]
fn other_device(parent: &Path, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != metadata.dev())
}

#[cfg(not(unix))]
fn other_device(_: &Path, _: &std::fs::Metadata) -> bool {
    false
}

/// Reads a regular file (never through a symlink, never a FIFO), up to `limit` bytes; `None`
/// for anything else or anything larger.
fn read_regular(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    if !metadata.is_file() || metadata.len() > limit {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

/// A file in an output directory as `build --check` compares it: `None` unless it is a regular
/// file of a size canaryc writes.
pub(crate) fn read_existing(path: &Path) -> Option<String> {
    read_regular(path, MAX_FILE_BYTES).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Locks the directory where `target`'s transactions live (its parent, or itself when it has
/// none), saying so if another canaryc holds it.
fn lock(target: &Target) -> Result<txn::Lock, WriteError> {
    let wait = |dir: &Path| {
        print_stderr(&format!(
            "waiting for another canaryc writing in {}\n",
            dir.display()
        ));
    };
    let dir = target.parent.as_deref().unwrap_or(&target.path);
    match txn::lock(dir, || wait(dir)) {
        Ok(lock) => Ok(lock),
        // A parent this user cannot open (a mount point's, say): the output itself will do,
        // since such an output is written in place.
        Err(_) if target.exists => txn::lock(&target.path, || wait(&target.path)).map_err(|e| {
            WriteError::unchanged(format!("cannot lock {}: {e}", target.path.display()))
        }),
        Err(e) => Err(WriteError::unchanged(format!(
            "cannot lock {}: {e}",
            dir.display()
        ))),
    }
}

/// Finishes or undoes what an interrupted earlier write into `output` left, and checks that
/// `output` can be written at all. `build` calls it before compiling, so even a build that then
/// fails leaves a consistent directory; [`write`] does it again under its lock.
pub(crate) fn recover(output: &Path) -> Result<(), WriteError> {
    let target = resolve(output, false)?;
    if target.parent.as_deref().is_some_and(|p| !p.is_dir()) {
        return Ok(());
    }
    let _lock = lock(&target)?;
    recover_locked(&target)
}

fn recover_locked(target: &Target) -> Result<(), WriteError> {
    let failed = |e: std::io::Error| {
        WriteError::Io(format!(
            "cannot recover the interrupted write of {}: {e}; it is left as it was for the next \
             run to try again",
            target.path.display()
        ))
    };
    let mut notes = Vec::new();
    if let Some(parent) = &target.parent {
        let prefix = txn::swap_prefix(&target.name);
        notes.extend(txn::recover(parent, &prefix, &target.path).map_err(failed)?);
    }
    if std::fs::symlink_metadata(&target.path).is_ok_and(|m| m.is_dir()) {
        notes.extend(
            txn::recover(&target.path, txn::IN_PLACE_PREFIX, &target.path).map_err(failed)?,
        );
    }
    print_notes(&notes);
    Ok(())
}

fn print_notes(notes: &[String]) {
    for note in notes {
        print_stderr(&format!("note: {note}\n"));
    }
}

/// How far the manifest of a directory is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trust {
    /// canaryc's own directory: listed files whose hash matches may be replaced and deleted.
    Full,
    /// The plan's directory: such files may be replaced, never deleted.
    ReplaceOnly,
    /// The codebase, or a directory around the plan: the manifest is ignored.
    Nothing,
}

/// What writing would do to each entry already in the directory.
#[derive(Default)]
struct Effects {
    /// canaryc's names over files it did not write (or that changed): need `--force`.
    replaced_foreign: Vec<String>,
    /// canaryc's names where a directory is: always refused.
    in_the_way: Vec<String>,
    /// Files canaryc wrote and no longer builds, deleted.
    stale: Vec<String>,
    /// Files canaryc wrote and no longer builds, kept (the plan's directory): they stay in
    /// the manifest, with the hash they still have.
    stale_kept: Vec<manifest::Entry>,
    /// Entries canaryc did not write, kept: writing among them needs `--force`.
    others: Vec<String>,
    /// canaryc's names whose file is already exactly what would be written (mode included):
    /// written in place, they are left untouched (the plan in its own directory, say).
    unchanged: Vec<String>,
}

impl Effects {
    /// Whether writing touches or sits among files canaryc did not write.
    fn foreign(&self) -> bool {
        !self.replaced_foreign.is_empty() || !self.others.is_empty()
    }
}

fn trust(target: &Target, request: &Request<'_>) -> (Trust, Option<String>) {
    let canonical = |p: &Path| p.canonicalize().ok();
    let out = &target.path;
    if let Some(codebase) = request.codebase.and_then(canonical) {
        if codebase.starts_with(out) {
            let why = if &codebase == out {
                "it is the plan's codebase"
            } else {
                "it contains the plan's codebase"
            };
            return (Trust::Nothing, Some(why.into()));
        }
    }
    if let Some(plan_dir) = request.plan_dir.and_then(canonical) {
        if &plan_dir == out {
            return (Trust::ReplaceOnly, None);
        }
        if plan_dir.starts_with(out) {
            return (
                Trust::Nothing,
                Some("it contains the plan's directory".into()),
            );
        }
    }
    (Trust::Full, None)
}

fn inspect(target: &Target, files: &[OutputFile], trust: Trust) -> Result<Effects, WriteError> {
    let mut effects = Effects::default();
    if !target.exists {
        return Ok(effects);
    }
    let listed = match trust {
        Trust::Nothing => Vec::new(),
        _ => manifest::read(&target.path).unwrap_or_default(),
    };
    let failed = |e: std::io::Error| {
        WriteError::unchanged(format!("cannot read {}: {e}", target.path.display()))
    };
    let mut names: Vec<(String, std::fs::FileType)> = Vec::new();
    for entry in std::fs::read_dir(&target.path).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let kind = entry.file_type().map_err(failed)?;
        names.push((entry.file_name().to_string_lossy().into_owned(), kind));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, kind) in names {
        let path = target.path.join(&name);
        let shown = if kind.is_dir() {
            format!("{name}/")
        } else {
            name.clone()
        };
        let new = files.iter().find(|f| f.name == name);
        // The manifest is canaryc's bookkeeping, rewritten by every build; where it is not
        // trusted, it is not canaryc's either, and replacing it is said like any other file.
        if name == MARKER {
            if kind.is_dir() {
                effects.in_the_way.push(name);
            } else if trust == Trust::Nothing || !kind.is_file() {
                effects.replaced_foreign.push(shown);
            }
            continue;
        }
        let bytes = || {
            kind.is_file()
                .then(|| read_regular(&path, MAX_FILE_BYTES))
                .flatten()
        };
        // The manifest's entry for this name, if the file is still what it says.
        let vouched = || {
            listed
                .iter()
                .find(|e| e.name == name)
                .filter(|e| bytes().is_some_and(|b| manifest::sha256_hex(&b) == e.sha256))
        };
        match new {
            Some(_) if kind.is_dir() => effects.in_the_way.push(name),
            Some(f) if bytes().is_some_and(|b| b == f.contents.as_bytes()) => {
                if executable(&path) == f.name.ends_with(".sh") {
                    effects.unchanged.push(name);
                }
            }
            Some(_) if vouched().is_some() => {}
            Some(_) => effects.replaced_foreign.push(shown),
            None => match vouched() {
                Some(_) if trust == Trust::Full => effects.stale.push(name),
                Some(entry) => effects.stale_kept.push(entry.clone()),
                None => effects.others.push(shown),
            },
        }
    }
    Ok(effects)
}

#[cfg(unix)]
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn executable(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "sh")
}

fn list(names: &[String], cap: usize) -> String {
    let mut text = names
        .iter()
        .take(cap)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > cap {
        text.push_str(&format!(" and {} more", names.len() - cap));
    }
    text
}

/// Writes `request.files` into the output directory, all or nothing (see the module docs).
pub(crate) fn write(request: &Request<'_>) -> Result<(), WriteError> {
    if let Some(f) = request
        .files
        .iter()
        .find(|f| !manifest::is_plain_name(&f.name))
    {
        return Err(WriteError::unchanged(format!(
            "refusing to write {:?}: output files are plain names",
            f.name
        )));
    }
    let target = resolve(request.output, true)?;
    let _lock = lock(&target)?;
    recover_locked(&target)?;
    // Only now is what the output holds final.
    let target = resolve(request.output, false)?;
    let (trust, distrust) = trust(&target, request);
    let effects = inspect(&target, request.files, trust)?;
    refuse(request, distrust.as_deref(), &effects)?;

    let mut entries: Vec<manifest::Entry> = request
        .files
        .iter()
        .map(|f| manifest::Entry::of(&f.name, f.contents.as_bytes()))
        .collect();
    entries.extend(effects.stale_kept.iter().cloned());
    let manifest_text = manifest::format(&entries);
    let mut staged: Vec<txn::Staged<'_>> = request
        .files
        .iter()
        .map(|f| txn::Staged {
            name: &f.name,
            contents: f.contents.as_bytes(),
            executable: f.name.ends_with(".sh"),
        })
        .collect();
    staged.push(txn::Staged {
        name: MARKER,
        contents: manifest_text.as_bytes(),
        executable: false,
    });
    let notes = install(&target, request, trust, &effects, staged)?;

    print_notes(&notes);
    let shown = request.output.display();
    if !effects.replaced_foreign.is_empty() {
        print_stderr(&format!(
            "note: --force: replaced files canaryc had not written: {}\n",
            list(&effects.replaced_foreign, usize::MAX)
        ));
    }
    if !effects.stale_kept.is_empty() {
        let names: Vec<String> = effects.stale_kept.iter().map(|e| e.name.clone()).collect();
        print_stderr(&format!(
            "note: left in {shown}, since it holds the plan: {} (written by an earlier build, \
             no longer built; delete them if nothing uses them)\n",
            list(&names, usize::MAX)
        ));
    }
    Ok(())
}

/// A write of an output directory that does not exist yet, file by file as they are rendered
/// (issue 15: a fleet's bundle no longer waits in memory whole): the swap of rule 6 with the
/// lock held throughout, its files staged as they come and the directory renamed into place
/// by [`Stream::finish`]. Nothing is visible at the output until then, and a failure, or a
/// stream dropped unfinished, leaves no output at all, as [`write`] would.
pub(crate) struct Stream {
    _lock: txn::Lock,
    staging: txn::Staging,
    shown: String,
    entries: Vec<manifest::Entry>,
    /// The first failure: later files are not written, and `finish` reports it.
    failed: Option<WriteError>,
}

/// Begins a [`Stream`] into `output` if it does not exist (once interrupted earlier writes
/// are recovered, under the lock); `None` when it exists: it holds files to compare with,
/// keep or replace, so [`write`] it with every file at hand.
pub(crate) fn stream(output: &Path) -> Result<Option<Stream>, WriteError> {
    let target = resolve(output, true)?;
    let lock = lock(&target)?;
    recover_locked(&target)?;
    let target = resolve(output, false)?;
    let Some(parent) = target.parent.as_deref().filter(|_| !target.exists) else {
        return Ok(None);
    };
    let shown = output.display().to_string();
    let staging = txn::Staging::begin(parent, &target.name)
        .map_err(|e| WriteError::unchanged(format!("cannot write {shown}: {e}")))?;
    Ok(Some(Stream {
        _lock: lock,
        staging,
        shown,
        entries: Vec::new(),
        failed: None,
    }))
}

impl Stream {
    /// Writes one file (after a failure, nothing more).
    pub(crate) fn file(&mut self, f: &OutputFile) {
        if self.failed.is_some() {
            return;
        }
        if !manifest::is_plain_name(&f.name) {
            self.failed = Some(WriteError::unchanged(format!(
                "refusing to write {:?}: output files are plain names",
                f.name
            )));
            return;
        }
        let staged = txn::Staged {
            name: &f.name,
            contents: f.contents.as_bytes(),
            executable: f.name.ends_with(".sh"),
        };
        match self.staging.add(&staged) {
            Ok(()) => self
                .entries
                .push(manifest::Entry::of(&f.name, f.contents.as_bytes())),
            Err(e) => {
                self.failed = Some(WriteError::unchanged(format!(
                    "cannot write {}: {e}",
                    self.shown
                )));
            }
        }
    }

    /// Writes the manifest and swaps the directory in.
    pub(crate) fn finish(mut self) -> Result<(), WriteError> {
        if let Some(failed) = self.failed.take() {
            return Err(failed);
        }
        let failed = |e: std::io::Error, shown: &str| {
            WriteError::unchanged(format!("cannot write {shown}: {e}"))
        };
        // In the order of a bundle's files (a name written twice failed to be created).
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
        let manifest_text = manifest::format(&self.entries);
        let marker = txn::Staged {
            name: MARKER,
            contents: manifest_text.as_bytes(),
            executable: false,
        };
        self.staging
            .add(&marker)
            .map_err(|e| failed(e, &self.shown))?;
        let notes = self.staging.commit().map_err(|e| failed(e, &self.shown))?;
        print_notes(&notes);
        Ok(())
    }
}

/// The usage errors of rule 5 (and of directories in the way), saying exactly what writing
/// would do.
fn refuse(
    request: &Request<'_>,
    distrust: Option<&str>,
    effects: &Effects,
) -> Result<(), WriteError> {
    let shown = request.output.display();
    if !effects.in_the_way.is_empty() {
        return Err(WriteError::Usage(format!(
            "{shown} has directories where canaryc writes files: {}; move them away or pick \
             another --output",
            list(&effects.in_the_way, usize::MAX)
        )));
    }
    if !effects.foreign() || request.force {
        return Ok(());
    }
    let mut message = format!("{shown} holds files canaryc did not write");
    if let Some(why) = distrust {
        message.push_str(&format!(
            " ({why}, so its {MARKER} manifest is not trusted)"
        ));
    }
    message.push_str(".\n");
    if !effects.replaced_foreign.is_empty() {
        message.push_str(&format!(
            "  writing here would replace (their contents would be lost): {}\n",
            list(&effects.replaced_foreign, usize::MAX)
        ));
    }
    if !effects.others.is_empty() {
        message.push_str(&format!(
            "  and would keep, untouched: {}\n",
            list(&effects.others, 12)
        ));
    }
    message.push_str(
        "use --force to write into it anyway (only the files listed to replace are changed, \
         nothing else is deleted), or pick another --output",
    );
    Err(WriteError::Usage(message))
}

/// Swaps the new directory in, or writes in place (rule 6); returns notes for the user.
fn install(
    target: &Target,
    request: &Request<'_>,
    trust: Trust,
    effects: &Effects,
    mut staged: Vec<txn::Staged<'_>>,
) -> Result<Vec<String>, WriteError> {
    let shown = request.output.display();
    let failed = |e: std::io::Error| WriteError::unchanged(format!("cannot write {shown}: {e}"));
    let holds_cwd = std::env::current_dir()
        .ok()
        .and_then(|d| d.canonicalize().ok())
        .is_some_and(|d| d.starts_with(&target.path));
    // The plan's own directory is written in place too: the plan there is the user's file, and
    // an edit saved while canaryc builds must not vanish with the old directory.
    let in_place = target.exists
        && (effects.foreign() || trust == Trust::ReplaceOnly || holds_cwd || target.mount_point);
    if let Some(parent) = target.parent.as_deref().filter(|_| !in_place) {
        match txn::swap(parent, &target.name, &staged, target.exists) {
            Ok(notes) => return Ok(notes),
            // A mount point on the same device (a bind mount), a file system without an atomic
            // exchange: write inside it.
            Err(txn::SwapError::CannotRename) => {}
            Err(txn::SwapError::Io(e)) => return Err(failed(e)),
        }
    }
    staged.retain(|f| !effects.unchanged.iter().any(|u| u == f.name));
    txn::in_place(&target.path, &staged, &effects.stale).map_err(|failure| match failure {
        txn::Failure::Undone(e) => failed(e),
        txn::Failure::Kept { error, undo, txn } => WriteError::Io(format!(
            "cannot write {shown}: {error}, and undoing it failed too ({undo}): the previous \
             files are kept in {} and the next canaryc run puts them back",
            txn.display()
        )),
    })
}
