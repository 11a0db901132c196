//! The two ways files reach an output directory, each crash-safe, and the one recovery the
//! next run performs for both.
//!
//! **Swap** (a directory that is canaryc's alone, or new): the new directory is built complete
//! in a sibling transaction directory `.NAME.canaryc-txn-XXXXXX/new`, then exchanged with the
//! output in one `renameat2(RENAME_EXCHANGE)` (`renameatx_np(RENAME_SWAP)` on macOS; a new
//! output is renamed in with `RENAME_NOREPLACE`). At every instant the output path holds the
//! old directory or the new one, whole; the transaction directory beside it holds the other
//! one, and the next run deletes it. Where the kernel or file system has no exchange (other
//! systems, some network file systems: `EINVAL`), or the output cannot be renamed at all (a
//! mount point), the output is written in place instead.
//!
//! **In place** (a directory that also holds other files, the current directory, a mount
//! point): nothing can swap a directory whose other contents must stay, so each file is
//! replaced on its own, under a journal. The new files are staged in
//! `OUTPUT/.canaryc-txn-XXXXXX/new`, the journal is made durable, every old file is hard-linked
//! (copied, where the file system has no hard links) into `old/` and `old/` made durable, then
//! each new file is renamed over the old one (so no name is ever missing), files no longer
//! built are moved into `old/`, and removing the journal commits. A failure before the commit
//! is undone at once from the journal; a kill, or a failure to undo, leaves the transaction for
//! the next run, which undoes it before anything else: the outcome is the old files or the new
//! files, never a mix, and the previous files are never deleted before the commit.
//!
//! **Recovery** is the same for both: every transaction directory canaryc created, beside the
//! output or inside it, is rolled back from its journal if it has one, then deleted. A
//! transaction directory is recognised as canaryc's own only by an `owner` file holding its
//! own device and inode numbers, which a file planted in a codebase or copied from elsewhere
//! cannot know: recovery never acts on, or deletes, a directory it did not create.

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::{self, MARKER};

/// A file ready to be written: its name, bytes, and whether it is a script.
pub(super) struct Staged<'a> {
    pub name: &'a str,
    pub contents: &'a [u8],
    pub executable: bool,
}

/// The prefix of an in-place transaction directory inside the output.
pub(super) const IN_PLACE_PREFIX: &str = ".canaryc-txn-";

/// The prefix of a swap transaction directory beside the output named `name`.
pub(super) fn swap_prefix(name: &str) -> String {
    format!(".{name}.canaryc-txn-")
}

// ---------------------------------------------------------------------------------------------
// Swap.

pub(super) enum SwapError {
    /// The output cannot be swapped: it cannot be renamed (a mount point: `EBUSY`; another file
    /// system: `EXDEV`), the file system has no exchange (`EINVAL`), or its parent cannot be
    /// written. Nothing was changed; write in place instead.
    CannotRename,
    Io(io::Error),
}

/// Why an in-place write failed, and what became of the previous files.
pub(super) enum Failure {
    /// Undone: the previous files are back, as they were.
    Undone(io::Error),
    /// Undoing failed too: some previous files may exist only in the transaction `txn`, which
    /// is kept for the next run to undo.
    Kept {
        error: io::Error,
        undo: io::Error,
        txn: PathBuf,
    },
}

impl From<io::Error> for SwapError {
    fn from(e: io::Error) -> Self {
        SwapError::Io(e)
    }
}

/// Replaces (or creates) `parent/name` with a directory holding exactly `files`; returns notes
/// for the user.
pub(super) fn swap(
    parent: &Path,
    name: &str,
    files: &[Staged<'_>],
    exists: bool,
) -> Result<Vec<String>, SwapError> {
    let output = parent.join(name);
    let txn = match tempfile::Builder::new()
        .prefix(&swap_prefix(name))
        .tempdir_in(parent)
    {
        Ok(txn) => txn,
        // The parent is not ours to write (read-only, or another user's) but the output may
        // be: write inside it.
        Err(e)
            if exists
                && matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
        {
            return Err(SwapError::CannotRename);
        }
        Err(e) => return Err(e.into()),
    };
    write_owner(txn.path())?;
    let new = txn.path().join("new");
    std::fs::create_dir(&new)?;
    write_files(&new, files)?;
    if exists {
        // The new directory keeps the permissions the team gave the old one.
        if let Ok(metadata) = std::fs::metadata(&output) {
            std::fs::set_permissions(&new, metadata.permissions())?;
        }
    }
    sync_dir(&new)?;
    sync_dir(txn.path())?;
    // Until here a failure leaves the output as it was, and dropping `txn` deletes only the
    // new files. The exchange is the commit.
    let committed = if exists {
        exchange(&new, &output)
    } else {
        rename_noreplace(&new, &output)
    };
    match committed {
        Ok(()) => Ok(tidy(&output, parent, &txn.keep())),
        Err(e) if exists && (cannot_rename(&e) || no_exchange(&e)) => Err(SwapError::CannotRename),
        Err(e) => Err(e.into()),
    }
}

/// A swap of a new output directory whose files arrive one at a time ([`Staging::add`]), so
/// none has to wait in memory for the others (issue 15): [`swap`] of an output that does not
/// exist, with the same steps, the same transaction and the same durability, in the same order.
pub(super) struct Staging {
    txn: tempfile::TempDir,
    new: PathBuf,
    output: PathBuf,
    parent: PathBuf,
    /// A descriptor of `new` for the one syncfs(2), where it reports errors; `None`: each file
    /// is fsynced as it is written.
    fs: Option<File>,
}

impl Staging {
    /// Begins the swap that creates `parent/name`, which does not exist.
    pub(super) fn begin(parent: &Path, name: &str) -> io::Result<Staging> {
        let txn = tempfile::Builder::new()
            .prefix(&swap_prefix(name))
            .tempdir_in(parent)?;
        write_owner(txn.path())?;
        let new = txn.path().join("new");
        std::fs::create_dir(&new)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let fs = match syncfs_reports_errors() {
            true => Some(File::open(&new)?),
            false => None,
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let fs = None;
        Ok(Staging {
            txn,
            new,
            output: parent.join(name),
            parent: parent.to_path_buf(),
            fs,
        })
    }

    /// Writes one file of the new directory (as [`write_files`] does).
    pub(super) fn add(&mut self, file: &Staged<'_>) -> io::Result<()> {
        let path = self.new.join(file.name);
        match self.fs {
            Some(_) => create_file(&path, file.contents, file.executable).map(drop),
            None => write_file(&path, file.contents, file.executable),
        }
    }

    /// Makes the files durable and renames the new directory into place: the commit. Before
    /// it, a failure (or dropping the staging) deletes only the new files.
    pub(super) fn commit(self) -> io::Result<Vec<String>> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(fs) = &self.fs {
            rustix::fs::syncfs(fs).map_err(io::Error::from)?;
        }
        sync_dir(&self.new)?;
        sync_dir(self.txn.path())?;
        rename_noreplace(&self.new, &self.output)?;
        Ok(tidy(&self.output, &self.parent, &self.txn.keep()))
    }
}

/// After the commit of a write of `output`: makes it durable (`commit_dir` is where it
/// happened) and deletes the transaction. The new files are in place whatever happens here, so
/// a failure is a note, and the next run deletes what is left.
fn tidy(output: &Path, commit_dir: &Path, txn: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    if let Err(e) = sync_dir(commit_dir) {
        notes.push(format!(
            "{} is written, but the file system did not confirm it is on disk: {e}",
            output.display()
        ));
    }
    if let Err(e) = remove_transaction(txn) {
        notes.push(format!(
            "could not delete {} ({e}); the next canaryc run does",
            txn.display()
        ));
    }
    notes
}

// ---------------------------------------------------------------------------------------------
// In place.

#[derive(Serialize, Deserialize)]
struct Journal {
    version: u32,
    steps: Vec<Step>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Step {
    /// `new/NAME` replaces `NAME`; the old one (if `existed`) is kept as `old/NAME`.
    Install {
        name: String,
        sha256: String,
        existed: bool,
    },
    /// `NAME`, a file canaryc no longer builds, moves to `old/NAME`.
    Remove { name: String },
}

impl Step {
    fn name(&self) -> &str {
        match self {
            Step::Install { name, .. } | Step::Remove { name } => name,
        }
    }
}

/// Writes `files` into `output`, replacing the same names and removing `removes`, leaving every
/// other entry alone; all or nothing, once the next run has recovered if this one could not
/// undo a failure. Returns notes for the user.
pub(super) fn in_place(
    output: &Path,
    files: &[Staged<'_>],
    removes: &[String],
) -> Result<Vec<String>, Failure> {
    let txn = tempfile::Builder::new()
        .prefix(IN_PLACE_PREFIX)
        .tempdir_in(output)
        .map_err(Failure::Undone)?
        .keep();
    let Err(error) = in_place_steps(output, &txn, files, removes) else {
        return Ok(tidy(output, &txn, &txn));
    };
    // Undo what was done, exactly as the next run would after a crash.
    match roll_back(output, &txn) {
        Ok(_) => {
            // Nothing in it is needed any more; what a failure here leaves, the next run deletes.
            let _ = remove_transaction(&txn);
            Err(Failure::Undone(error))
        }
        Err(undo) => Err(Failure::Kept { error, undo, txn }),
    }
}

/// Stages, journals and installs; removing the journal, the last step, commits.
fn in_place_steps(
    output: &Path,
    txn: &Path,
    files: &[Staged<'_>],
    removes: &[String],
) -> io::Result<()> {
    write_owner(txn)?;
    let (new, old) = (txn.join("new"), txn.join("old"));
    std::fs::create_dir(&new)?;
    std::fs::create_dir(&old)?;
    write_files(&new, files)?;
    sync_dir(&new)?;
    let mut steps: Vec<Step> = files
        .iter()
        .map(|f| Step::Install {
            name: f.name.to_string(),
            sha256: manifest::sha256_hex(f.contents),
            existed: std::fs::symlink_metadata(output.join(f.name)).is_ok(),
        })
        .collect();
    steps.extend(
        removes
            .iter()
            .map(|name| Step::Remove { name: name.clone() }),
    );
    let journal = serde_json::to_vec_pretty(&Journal { version: 1, steps })
        .map_err(|e| io::Error::other(e.to_string()))?;
    write_file(&txn.join("journal.tmp"), &journal, false)?;
    std::fs::rename(txn.join("journal.tmp"), txn.join("journal"))?;
    sync_dir(txn)?;

    // From here on the journal says how to undo every step. Every backup is on disk before
    // anything is replaced: a replaced file whose backup a power cut lost could not be undone.
    for f in files {
        let target = output.join(f.name);
        if std::fs::symlink_metadata(&target).is_ok() {
            back_up(&target, &old.join(f.name))?;
        }
    }
    sync_dir(&old)?;
    for f in files {
        std::fs::rename(new.join(f.name), output.join(f.name))?;
    }
    for name in removes {
        std::fs::rename(output.join(name), old.join(name))?;
    }
    sync_dir(output)?;
    // The commit point: without a journal there is nothing to undo.
    std::fs::remove_file(txn.join("journal"))
}

/// Keeps `target` as `backup` without ever leaving its name empty: a hard link, or on a file
/// system without them (FAT) a copy, made durable like a staged file.
fn back_up(target: &Path, backup: &Path) -> io::Result<()> {
    if std::fs::hard_link(target, backup).is_ok() {
        return Ok(());
    }
    std::fs::copy(target, backup)?;
    File::open(backup)?.sync_all()
}

/// Undoes an interrupted in-place write from its journal: every name gets its old file back,
/// and files that did not exist before are removed (only if they are still what was written).
fn roll_back(output: &Path, txn: &Path) -> io::Result<bool> {
    let Some(journal) = super::read_regular(&txn.join("journal"), 1 << 24)
        .and_then(|bytes| serde_json::from_slice::<Journal>(&bytes).ok())
    else {
        return Ok(false);
    };
    let old = txn.join("old");
    for step in journal.steps.iter().rev() {
        let name = step.name();
        if !(manifest::is_plain_name(name) || name == MARKER) {
            continue;
        }
        let (target, backup) = (output.join(name), old.join(name));
        if std::fs::symlink_metadata(&backup).is_ok() {
            std::fs::rename(&backup, &target)?;
        } else if let Step::Install {
            sha256,
            existed: false,
            ..
        } = step
        {
            let ours = super::read_regular(&target, super::MAX_FILE_BYTES)
                .is_some_and(|bytes| manifest::sha256_hex(&bytes) == *sha256);
            if ours {
                std::fs::remove_file(&target)?;
            }
        }
    }
    sync_dir(output)?;
    // Undone: the journal goes first, so a kill from here on leaves nothing to undo twice.
    std::fs::remove_file(txn.join("journal"))?;
    Ok(true)
}

/// Finishes what interrupted writes of `output` left in `dir` (beside the output, with the swap
/// prefix, or inside it, with the in-place one): undoes each uncommitted in-place write from
/// its journal, and deletes the transaction directories canaryc created. A swap transaction
/// has no journal: the output is whole on either side of its exchange, and the transaction
/// holds only the other side. Returns what it did, for the user.
pub(super) fn recover(dir: &Path, prefix: &str, output: &Path) -> io::Result<Vec<String>> {
    let mut notes = Vec::new();
    for txn in transactions(dir, prefix)? {
        if !owned(&txn) {
            notes.push(format!(
                "left {} alone: it is named like canaryc's but canaryc did not create it",
                txn.display()
            ));
            continue;
        }
        if roll_back(output, &txn)? {
            notes.push(format!(
                "{}: undid an interrupted build, the previous files are back",
                output.display()
            ));
        }
        remove_transaction(&txn)?;
    }
    Ok(notes)
}

// ---------------------------------------------------------------------------------------------
// Transaction directories.

/// Entries of `dir` whose names start with `prefix`, sorted (real directories or not: the
/// caller decides what to make of them).
fn transactions(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(read) => read
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    found.sort();
    Ok(found)
}

fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// What `owner` says in a transaction directory: its own device and inode, which nobody who
/// did not create the directory on this machine can know.
fn owner_token(txn: &Path) -> io::Result<String> {
    let metadata = std::fs::symlink_metadata(txn)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Ok(format!(
            "canaryc transaction dev={} ino={}\n",
            metadata.dev(),
            metadata.ino()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Ok("canaryc transaction\n".to_string())
    }
}

fn write_owner(txn: &Path) -> io::Result<()> {
    write_file(&txn.join("owner"), owner_token(txn)?.as_bytes(), false)?;
    sync_dir(txn)
}

/// A directory canaryc created for a transaction: its `owner` file names it, or it is empty or
/// holds nothing but the start of that file (a kill while it was being created).
fn owned(txn: &Path) -> bool {
    if !is_real_dir(txn) {
        return false;
    }
    let Ok(expected) = owner_token(txn) else {
        return false;
    };
    let owner = super::read_regular(&txn.join("owner"), 256);
    if owner.as_deref() == Some(expected.as_bytes()) {
        return true;
    }
    let entries: Vec<std::ffi::OsString> = match std::fs::read_dir(txn) {
        Ok(read) => read.filter_map(Result::ok).map(|e| e.file_name()).collect(),
        Err(_) => return false,
    };
    match (owner, entries.as_slice()) {
        (_, []) => true,
        (Some(start), [only]) => only == "owner" && expected.as_bytes().starts_with(&start),
        _ => false,
    }
}

/// Deletes a transaction directory with its `owner` file last, so a kill part-way leaves a
/// directory that is still recognisably canaryc's.
fn remove_transaction(txn: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(txn)? {
        let entry = entry?;
        if entry.file_name() == "owner" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    match std::fs::remove_file(txn.join("owner")) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::remove_dir(txn)
}

// ---------------------------------------------------------------------------------------------
// File-system primitives.

fn write_file(path: &Path, contents: &[u8], executable: bool) -> io::Result<()> {
    create_file(path, contents, executable)?.sync_all()
}

fn create_file(path: &Path, contents: &[u8], executable: bool) -> io::Result<File> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents)?;
    if executable {
        set_executable(&file)?;
    }
    Ok(file)
}

/// Writes the staged files into `dir` and makes their contents durable before returning (the
/// caller still syncs `dir` itself, which orders the rename that follows).
///
/// On Linux 5.8 and later the files are written first and made durable together by one
/// `syncfs(2)` on a descriptor of `dir` opened before the first write, instead of an `fsync`
/// per file (issue 15: on ext4 1,009 files took ~490 ms with an fsync each, ~97 ms with one
/// syncfs, against ~56 ms with no sync at all; write-floor variants, medians of 7 rounds).
/// Safe because syncfs(2) "synchronizes just the filesystem containing file referred to by
/// the open file descriptor" with sync(2)'s meaning (all pending data and metadata of that file system written), and
/// since Linux 5.8 it "will also report an error if one or more inodes failed to be written
/// back since the last syncfs() call" for that descriptor (the superblock's errseq sampled at
/// open): a lost write fails the build before the commit, as a failed fsync did. Before 5.8
/// syncfs returned 0 whatever writeback did, so there, and on other systems, each file is
/// fsynced as before. The cost: syncfs also writes other programs' dirty data on that file
/// system.
fn write_files(dir: &Path, files: &[Staged<'_>]) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if syncfs_reports_errors() {
        let fs = File::open(dir)?;
        for f in files {
            create_file(&dir.join(f.name), f.contents, f.executable)?;
        }
        return rustix::fs::syncfs(&fs).map_err(io::Error::from);
    }
    for f in files {
        write_file(&dir.join(f.name), f.contents, f.executable)?;
    }
    Ok(())
}

/// Whether the running kernel's syncfs(2) reports writeback errors: Linux 5.8 or later.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn syncfs_reports_errors() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 8),
        _ => false,
    }
}

#[cfg(unix)]
fn set_executable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &File) -> io::Result<()> {
    Ok(())
}

/// Makes a directory's entries durable (renames into it, files created in it).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) -> io::Result<()> {
    Ok(())
}

/// `EBUSY` (a mount point, or a directory in use) or `EXDEV` (another file system): the output
/// directory itself cannot be renamed.
fn cannot_rename(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ResourceBusy | io::ErrorKind::CrossesDevices
    )
}

/// The kernel or the file system has no atomic exchange.
fn no_exchange(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
    )
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn rename_noreplace(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, a, CWD, b, RenameFlags::NOREPLACE).map_err(io::Error::from) {
        Err(e) if no_exchange(&e) => std::fs::rename(a, b),
        other => other,
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn rename_noreplace(a: &Path, b: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(b).is_ok() {
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    std::fs::rename(a, b)
}

/// An exclusive advisory lock on a directory, held until dropped (or the process dies): two
/// canaryc runs never write the same output, or recover it, at once.
pub(super) struct Lock {
    #[cfg(unix)]
    _file: File,
}

#[cfg(unix)]
pub(super) fn lock(dir: &Path, on_wait: impl FnOnce()) -> io::Result<Lock> {
    use rustix::fs::{FlockOperation, flock};
    let file = File::open(dir)?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        on_wait();
        flock(&file, FlockOperation::LockExclusive)?;
    }
    Ok(Lock { _file: file })
}

#[cfg(not(unix))]
pub(super) fn lock(_: &Path, _: impl FnOnce()) -> io::Result<Lock> {
    Ok(Lock {})
}
