//! Walking a codebase: the only part of detection that reads the file system.
//!
//! Hostile trees are normal trees. The walk respects `.gitignore` (with or without a `.git`
//! directory), skips VCS, dependency and virtualenv directories, never follows a symlink (and
//! says where each one pointed: out of the root, around a loop, nowhere), reads only files whose
//! names a detector cares about, skips files over a size limit and binaries, and decodes
//! non-UTF-8 text lossily. Everything else is decided by the pure analysers over what it returns.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use ignore::{DirEntry, WalkBuilder, WalkState};

use super::facts::Skipped;

/// Bounds on the work one detection does.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are skipped (and listed).
    pub max_file_bytes: u64,
    /// Stop reading after this many bytes in all (the rest is listed as skipped).
    pub max_total_bytes: u64,
    pub threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 1 << 20,
            max_total_bytes: 256 << 20,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(8)),
        }
    }
}

/// A file a detector will look at: its path relative to the root (with `/`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceText {
    pub path: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Walked {
    /// Sorted by path.
    pub files: Vec<SourceText>,
    pub skipped: Vec<Skipped>,
    /// Files whose text was not valid UTF-8 (decoded with replacement characters).
    pub lossy: Vec<String>,
    pub files_seen: usize,
}

/// Directories never worth reading: VCS, dependencies, virtualenvs, caches, build output.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "vendor",
    "bower_components",
    "__pycache__",
    ".tox",
    ".nox",
    ".venv",
    "venv",
    "virtualenv",
    ".virtualenv",
    "env",
    ".eggs",
    "site-packages",
    ".mypy_cache",
    ".pytest_cache",
    "target",
    ".terraform",
];

/// Whether a detector wants to read a file with this name. Asked of every file a walk sees: no
/// allocation for a name that fits the stack buffer.
pub fn is_candidate(name: &str) -> bool {
    let (mut buf, mut owned) = ([0u8; super::scan::NAME_BUF], String::new());
    let lower = super::scan::ascii_lowercase(name, &mut buf, &mut owned);
    let ext = lower.rsplit_once('.').map(|(_, e)| e);
    matches!(
        ext,
        Some(
            "py" | "yaml"
                | "yml"
                | "tf"
                | "service"
                | "cfg"
                | "conf"
                | "ini"
                | "toml"
                | "sh"
                | "j2"
                | "jinja2"
                | "tmpl"
                | "tpl"
                | "ini_tmpl"
                | "vhost"
        )
    ) || lower.starts_with("dockerfile")
        || lower.ends_with(".dockerfile")
        || lower == "procfile"
        || lower.starts_with("procfile.")
        || lower == "pipfile"
        || lower == ".env"
        || lower.contains("entrypoint")
        || lower.starts_with("run-")
        || (lower.starts_with("requirements") && lower.ends_with(".txt"))
        || lower == "constraints.txt"
        || lower == "runtime.txt"
}

pub fn walk(root: &Path, limits: &Limits) -> std::io::Result<Walked> {
    let root = root.canonicalize()?;
    #[cfg(target_os = "linux")]
    if root.is_dir() {
        return Ok(finish(fast::walk(&root, limits)));
    }
    Ok(finish(walk_with_ignore(&root, limits)))
}

/// Sorts what the walk found: the output must not depend on the order threads read files in.
fn finish(mut walked: Walked) -> Walked {
    // Paths are unique: an unstable sort gives the same order, with fewer moves.
    walked.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    walked.skipped.sort();
    walked.lossy.sort();
    walked
}

/// The portable walk: `ignore`'s parallel walker, opening every file by its full path. On
/// Linux the walk in [`fast`] visits the same entries with the same rules.
fn walk_with_ignore(root: &Path, limits: &Limits) -> Walked {
    let state = Mutex::new(Walked::default());
    let total = AtomicU64::new(0);
    let seen = AtomicUsize::new(0);
    let mut builder = walker(root);
    builder.threads(limits.threads);
    builder.build_parallel().run(|| {
        let state = &state;
        let total = &total;
        let seen = &seen;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            visit(root, &entry, limits, state, total, seen);
            WalkState::Continue
        })
    });
    let mut walked = state
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    walked.files_seen = seen.into_inner();
    walked
}

/// The entries detection visits: `.gitignore` rules, no hidden files but `.env`, no skipped
/// directories, no symlinks followed. The language server counts them with it before detecting.
pub(crate) fn walker(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        // Hidden entries are skipped by `skip_dir`, except `.env` (compose reads it).
        .hidden(false)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(false)
        .require_git(false)
        .ignore(true)
        .parents(false)
        .follow_links(false)
        .filter_entry(|entry| !skip_dir(entry));
    builder
}

fn skip_dir(entry: &DirEntry) -> bool {
    if entry.depth() == 0 {
        return false;
    }
    let name = entry.file_name().to_string_lossy();
    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
    // A virtualenv under any name has a pyvenv.cfg; canaryc's own output directories have a
    // `.canaryc` marker and must never be read back as the team's infrastructure.
    skip_name(&name, is_dir)
        || is_dir
            && (entry.path().join("pyvenv.cfg").is_file()
                || entry.path().join(".canaryc").is_file())
}

/// Whether an entry is skipped by its name alone: hidden files but `.env`, hidden and
/// [`SKIP_DIRS`] directories.
fn skip_name(name: &str, is_dir: bool) -> bool {
    if !is_dir {
        // Hidden files are not read, except `.env`, whose values compose interpolates (they
        // are used for image names, ports and build settings only, never copied).
        return name.starts_with('.') && name != ".env";
    }
    name.starts_with('.') || SKIP_DIRS.contains(&name)
}

/// Files whose presence in a directory makes it one detection skips (see [`skip_dir`]).
const SKIP_MARKERS: &[&str] = &["pyvenv.cfg", ".canaryc"];

fn relative(root: &Path, path: &Path) -> String {
    // The common case without iterating components: both are UTF-8, `path` is under `root`.
    if let (Some(r), Some(p)) = (root.to_str(), path.to_str()) {
        if let Some(rest) = p.strip_prefix(r) {
            let rest = rest.trim_start_matches('/');
            if std::path::MAIN_SEPARATOR == '/' && !rest.contains("//") && !rest.contains("/./") {
                return if rest.is_empty() {
                    ".".into()
                } else {
                    rest.to_string()
                };
            }
        }
    }
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn visit(
    root: &Path,
    entry: &DirEntry,
    limits: &Limits,
    state: &Mutex<Walked>,
    total: &AtomicU64,
    seen: &AtomicUsize,
) {
    let path = entry.path();
    // The relative path is made only for what is kept or listed, not for every file seen.
    let rel = || relative(root, path);
    let mut local = Walked::default();
    if entry.path_is_symlink() {
        local.skipped.push(Skipped {
            path: rel(),
            reason: symlink_reason(root, path),
        });
    } else if entry.file_type().is_some_and(|t| t.is_file()) {
        seen.fetch_add(1, Ordering::Relaxed);
        if !is_candidate(&entry.file_name().to_string_lossy()) {
            return;
        }
        read_candidate(&mut local, std::fs::File::open(path), rel, limits, total);
    } else {
        return;
    }
    if let Ok(mut s) = state.lock() {
        s.files.append(&mut local.files);
        s.skipped.append(&mut local.skipped);
        s.lossy.append(&mut local.lossy);
    }
}

/// Reads a file a detector wants (already opened, or not) into `out`, or lists why it was not
/// read. `total` counts the bytes every thread has read so far.
fn read_candidate(
    out: &mut Walked,
    file: std::io::Result<std::fs::File>,
    rel: impl FnOnce() -> String,
    limits: &Limits,
    total: &AtomicU64,
) {
    let mut skip = |rel: String, reason: String| {
        out.skipped.push(Skipped { path: rel, reason });
    };
    // Read without a stat first: open, read up to the limit, close. A file over the limit
    // is stat-ed only to say how large it is.
    let Ok(mut file) = file else {
        skip(rel(), "could not be read".into());
        return;
    };
    let bytes = match read_bounded(&mut file, limits.max_file_bytes) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let size = file.metadata().map_or(0, |m| m.len());
            skip(
                rel(),
                format!(
                    "larger than {} KiB ({} KiB)",
                    limits.max_file_bytes / 1024,
                    size / 1024
                ),
            );
            return;
        }
        Err(_) => {
            skip(rel(), "could not be read".into());
            return;
        }
    };
    let len = bytes.len() as u64;
    let so_far = total.fetch_add(len, Ordering::Relaxed);
    if so_far + len > limits.max_total_bytes {
        skip(
            rel(),
            format!("read limit of {} MiB reached", limits.max_total_bytes >> 20),
        );
        return;
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        skip(rel(), "binary (contains NUL bytes)".into());
        return;
    }
    let (text, lossy) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), true),
    };
    let rel = rel();
    if lossy {
        out.lossy.push(rel.clone());
    }
    out.files.push(SourceText { path: rel, text });
}

/// The whole file, or `None` when it is longer than `limit`. Two reads for a small file: the
/// data, then the end.
fn read_bounded(file: &mut std::fs::File, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    // Most files fit the first buffer: one exact allocation, no heap churn (a 16 KiB heap
    // buffer per file makes a walker thread's arena grow and shrink, an mprotect each time).
    // The buffer is the thread's, zeroed once, not for every file.
    thread_local! {
        static FIRST: std::cell::RefCell<Box<[u8]>> =
            std::cell::RefCell::new(vec![0u8; 16 * 1024].into_boxed_slice());
    }
    FIRST.with(|first| match first.try_borrow_mut() {
        Ok(mut first) => read_into(file, limit, &mut first),
        Err(_) => read_into(file, limit, &mut [0u8; 16 * 1024]),
    })
}

fn read_into(
    file: &mut std::fs::File,
    limit: u64,
    first: &mut [u8],
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut filled = 0;
    loop {
        match file.read(&mut first[filled..]) {
            Ok(0) => return Ok((filled as u64 <= limit).then(|| first[..filled].to_vec())),
            Ok(n) => {
                filled += n;
                if filled == first.len() {
                    break;
                }
                // A regular file reads short only at its end (the walk reads nothing else):
                // no second read to see the end.
                return Ok((filled as u64 <= limit).then(|| first[..filled].to_vec()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // A larger file: one allocation of its size (a stat, for these only), read into without
    // zeroing it first, and never more than one byte past the limit.
    let size = file.metadata().map_or(0, |m| m.len());
    let cap = size
        .min(limit.saturating_add(1))
        .max(first.len() as u64 + 1);
    let mut bytes =
        Vec::with_capacity(usize::try_from(cap).unwrap_or(usize::MAX).saturating_add(1));
    bytes.extend_from_slice(first);
    let rest = limit.saturating_add(1).saturating_sub(first.len() as u64);
    file.take(rest).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// Why a symlink was not followed.
fn symlink_reason(root: &Path, path: &Path) -> String {
    let target = std::fs::read_link(path).unwrap_or_default();
    let shown = target.to_string_lossy();
    match path.canonicalize() {
        Err(_) if std::fs::symlink_metadata(path).is_ok() => {
            if path.metadata().is_err() && is_loop(path) {
                format!("symlink to {shown} loops")
            } else {
                format!("dangling symlink to {shown}")
            }
        }
        Err(_) => format!("dangling symlink to {shown}"),
        Ok(resolved) if !resolved.starts_with(root) => {
            format!("symlink to {shown} points outside the codebase")
        }
        Ok(resolved) if path.starts_with(&resolved) || resolved == root => {
            format!("symlink to {shown} loops back to a parent directory")
        }
        Ok(_) => format!("symlink to {shown}; not followed (its target is read where it lives)"),
    }
}

fn is_loop(path: &Path) -> bool {
    // ELOOP: too many levels of symbolic links.
    matches!(std::fs::metadata(path), Err(e) if e.raw_os_error() == Some(40))
}

/// The walk on Linux: the same entries, rules and reads as [`walk_with_ignore`], with fewer
/// system calls and allocations (issue 15: the kernel's path lookups and small allocations were
/// most of detection on a large tree).
///
/// - Each directory is opened relative to its parent's descriptor and each file relative to
///   its directory's (`openat`), so the kernel resolves one name, not the whole path.
/// - A directory is listed once (`getdents64` into a buffer each thread reuses); its listing
///   says whether it has `.gitignore`, `.ignore`, `.git`, `pyvenv.cfg` or `.canaryc`, so no
///   file that is not there is probed for.
/// - The ignore rules are `ignore`'s own matchers ([`Gitignore`]), consulted as its walker
///   does with the options [`walker`] sets: for every directory from the entry's up to the
///   root, `.ignore` first, then `.gitignore`, then `.git/info/exclude` (`require_git(false)`:
///   a `.gitignore` counts without a repository, and across nested ones).
/// - Each thread keeps what it found and the lists are joined at the end: no lock per file.
#[cfg(target_os = "linux")]
mod fast {
    use std::ffi::{CStr, CString, OsStr};
    use std::mem::MaybeUninit;
    use std::os::unix::ffi::OsStrExt as _;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicU64;
    use std::sync::{Arc, Condvar, Mutex};

    use ignore::Match;
    use ignore::gitignore::{Gitignore, GitignoreBuilder};
    use rustix::fd::OwnedFd;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};

    use super::{Limits, SKIP_MARKERS, Skipped, Walked, is_candidate, read_candidate, skip_name};

    /// The ignore files of one directory, and those of the directories above it.
    struct Ignores {
        parent: Option<Arc<Ignores>>,
        ignore: Gitignore,
        git_ignore: Gitignore,
        git_exclude: Gitignore,
    }

    impl Ignores {
        /// Whether `path` (absolute) is ignored: the nearest match of each kind, `.ignore`
        /// over `.gitignore` over `.git/info/exclude`, as `ignore::Ignore::matched_ignore`.
        fn ignored(self: &Arc<Self>, path: &Path, is_dir: bool) -> bool {
            let (mut ignore, mut git, mut exclude) = (Match::None, Match::None, Match::None);
            let mut node = Some(self);
            while let Some(n) = node {
                if ignore.is_none() {
                    ignore = n.ignore.matched(path, is_dir);
                }
                if git.is_none() {
                    git = n.git_ignore.matched(path, is_dir);
                }
                if exclude.is_none() {
                    exclude = n.git_exclude.matched(path, is_dir);
                }
                node = n.parent.as_ref();
            }
            ignore.or(git).or(exclude).is_ignore()
        }
    }

    /// `dir/file` read as `ignore` reads it (an empty matcher when absent or broken).
    fn gitignore(dir: &Path, file: &str) -> Gitignore {
        let mut builder = GitignoreBuilder::new(dir);
        let path = dir.join(file);
        if path.exists() {
            let _ = builder.add(path);
        }
        builder.build().unwrap_or_else(|_| {
            GitignoreBuilder::new(dir)
                .build()
                .unwrap_or_else(|_| Gitignore::empty())
        })
    }

    /// A directory to read.
    struct Job {
        /// The parent's descriptor and this directory's name in it; `None` for the root.
        at: Option<(Arc<OwnedFd>, CString)>,
        /// Absolute, for ignore rules, symlink reasons and a fallback open.
        path: PathBuf,
        /// Relative to the root with `/`; empty for the root.
        rel: String,
        depth: usize,
        ignores: Option<Arc<Ignores>>,
    }

    struct Queue {
        /// Directories waiting, and how many threads are reading one.
        state: Mutex<(Vec<Job>, usize)>,
        changed: Condvar,
    }

    struct Shared<'a> {
        root: &'a Path,
        limits: &'a Limits,
        total: AtomicU64,
        queue: Queue,
    }

    pub(super) fn walk(root: &Path, limits: &Limits) -> Walked {
        let shared = Shared {
            root,
            limits,
            total: AtomicU64::new(0),
            queue: Queue {
                state: Mutex::new((
                    vec![Job {
                        at: None,
                        path: root.to_path_buf(),
                        rel: String::new(),
                        depth: 0,
                        ignores: None,
                    }],
                    0,
                )),
                changed: Condvar::new(),
            },
        };
        let threads = limits.threads.max(1);
        let mut walked = Walked::default();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| worker(&shared)))
                .collect();
            for w in workers {
                if let Ok(mut found) = w.join() {
                    walked.files.append(&mut found.files);
                    walked.skipped.append(&mut found.skipped);
                    walked.lossy.append(&mut found.lossy);
                    walked.files_seen += found.files_seen;
                }
            }
        });
        walked
    }

    /// Takes directories off the queue until none is left and no thread is reading one.
    fn worker(shared: &Shared<'_>) -> Walked {
        let mut found = Walked::default();
        let mut scratch = Scratch::default();
        let mut own: Option<Job> = None;
        loop {
            let job = match own.take() {
                Some(job) => job,
                None => {
                    let Ok(mut state) = shared.queue.state.lock() else {
                        return found;
                    };
                    loop {
                        if let Some(job) = state.0.pop() {
                            state.1 += 1;
                            break job;
                        }
                        if state.1 == 0 {
                            shared.queue.changed.notify_all();
                            return found;
                        }
                        state = match shared.queue.changed.wait(state) {
                            Ok(s) => s,
                            Err(_) => return found,
                        };
                    }
                }
            };
            let mut children = read_dir(shared, job, &mut scratch, &mut found);
            // Depth first on this thread; the siblings go to whoever is idle.
            own = children.pop();
            if let Ok(mut state) = shared.queue.state.lock() {
                let more = !children.is_empty();
                state.0.append(&mut children);
                if own.is_none() {
                    state.1 -= 1;
                    if state.0.is_empty() && state.1 == 0 {
                        shared.queue.changed.notify_all();
                    }
                } else if more {
                    shared.queue.changed.notify_all();
                }
            }
        }
    }

    /// What a thread reuses from one directory to the next.
    struct Scratch {
        dirents: Vec<MaybeUninit<u8>>,
        /// The names of a directory's entries, NUL-terminated, one after another.
        names: Vec<u8>,
        entries: Vec<(usize, usize, FileType)>,
        path: PathBuf,
    }

    impl Default for Scratch {
        fn default() -> Self {
            Scratch {
                dirents: vec![MaybeUninit::uninit(); 32 * 1024],
                names: Vec::new(),
                entries: Vec::new(),
                path: PathBuf::new(),
            }
        }
    }

    fn open_dir(job: &Job) -> rustix::io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match &job.at {
            Some((parent, name)) => {
                match rustix::fs::openat(parent, name.as_c_str(), flags, Mode::empty()) {
                    // Out of descriptors: the full path needs none held.
                    Err(rustix::io::Errno::MFILE | rustix::io::Errno::NFILE) => {
                        rustix::fs::open(&job.path, flags, Mode::empty())
                    }
                    other => other,
                }
            }
            None => rustix::fs::open(&job.path, flags & !OFlags::NOFOLLOW, Mode::empty()),
        }
    }

    /// Reads one directory: keeps the files detectors want in `found`, returns the directories
    /// to read next.
    fn read_dir(
        shared: &Shared<'_>,
        job: Job,
        scratch: &mut Scratch,
        found: &mut Walked,
    ) -> Vec<Job> {
        // A directory that cannot be opened or listed is left out, as `ignore` reports it as
        // an error entry that the walk skips.
        let Ok(fd) = open_dir(&job) else {
            return Vec::new();
        };
        scratch.names.clear();
        scratch.entries.clear();
        let mut listing = RawDir::new(&fd, &mut scratch.dirents);
        while let Some(entry) = listing.next() {
            let Ok(entry) = entry else {
                return Vec::new();
            };
            let name = entry.file_name().to_bytes_with_nul();
            if name == b".\0" || name == b"..\0" {
                continue;
            }
            let start = scratch.names.len();
            scratch.names.extend_from_slice(name);
            scratch
                .entries
                .push((start, scratch.names.len(), entry.file_type()));
        }
        let names = &scratch.names;
        let name_of = |&(s, e, _): &(usize, usize, FileType)| {
            CStr::from_bytes_with_nul(&names[s..e]).unwrap_or_default()
        };
        // The name without its NUL: compared and decoded without `CStr`'s search for the NUL,
        // which is made only for the entries opened.
        let bytes_of =
            |&(s, e, _): &(usize, usize, FileType)| &names[s..e.saturating_sub(1).max(s)];
        // The entries that change how the directory is read, found in one pass.
        let (mut ignore_file, mut git_ignore, mut git_dir) = (false, false, false);
        let mut markers: Vec<&(usize, usize, FileType)> = Vec::new();
        for e in &scratch.entries {
            match bytes_of(e) {
                b".ignore" => ignore_file = true,
                b".gitignore" => git_ignore = true,
                b".git" => git_dir = true,
                name if SKIP_MARKERS.iter().any(|m| m.as_bytes() == name) => markers.push(e),
                _ => {}
            }
        }
        // A virtualenv or canaryc's own output (the root is always read).
        if job.depth > 0 {
            for e in markers {
                let is_file = match e.2 {
                    FileType::RegularFile => true,
                    FileType::Directory => false,
                    // Through a link, as `Path::is_file` does.
                    _ => rustix::fs::statat(&fd, name_of(e), AtFlags::empty())
                        .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::RegularFile),
                };
                if is_file {
                    return Vec::new();
                }
            }
        }
        let read = |present: bool, file: &str| {
            if present {
                gitignore(&job.path, file)
            } else {
                Gitignore::empty()
            }
        };
        let ignores = if ignore_file || git_ignore || git_dir {
            Some(Arc::new(Ignores {
                parent: job.ignores.clone(),
                ignore: read(ignore_file, ".ignore"),
                git_ignore: read(git_ignore, ".gitignore"),
                git_exclude: read(git_dir, ".git/info/exclude"),
            }))
        } else {
            job.ignores.clone()
        };
        let fd = Arc::new(fd);
        let mut children = Vec::new();
        for e in &scratch.entries {
            let name_bytes = bytes_of(e);
            let kind = match e.2 {
                FileType::Unknown => {
                    match rustix::fs::statat(&*fd, name_of(e), AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(s) => FileType::from_raw_mode(s.st_mode),
                        Err(_) => continue,
                    }
                }
                k => k,
            };
            let is_dir = kind == FileType::Directory;
            // Most names are UTF-8: checked without `from_utf8_lossy`'s chunking.
            let name = match std::str::from_utf8(name_bytes) {
                Ok(name) => std::borrow::Cow::Borrowed(name),
                Err(_) => String::from_utf8_lossy(name_bytes),
            };
            let full = |scratch_path: &mut PathBuf| {
                scratch_path.clear();
                scratch_path.push(&job.path);
                scratch_path.push(OsStr::from_bytes(name_bytes));
            };
            if let Some(ig) = &ignores {
                full(&mut scratch.path);
                if ig.ignored(&scratch.path, is_dir) {
                    continue;
                }
            }
            if skip_name(&name, is_dir) {
                continue;
            }
            let rel = || {
                let mut rel = String::with_capacity(job.rel.len() + 1 + name.len());
                if !job.rel.is_empty() {
                    rel.push_str(&job.rel);
                    rel.push('/');
                }
                rel.push_str(&name);
                rel
            };
            match kind {
                FileType::Symlink => {
                    full(&mut scratch.path);
                    found.skipped.push(Skipped {
                        path: rel(),
                        reason: super::symlink_reason(shared.root, &scratch.path),
                    });
                }
                FileType::Directory => {
                    full(&mut scratch.path);
                    children.push(Job {
                        at: Some((Arc::clone(&fd), name_of(e).to_owned())),
                        path: scratch.path.clone(),
                        rel: rel(),
                        depth: job.depth + 1,
                        ignores: ignores.clone(),
                    });
                }
                FileType::RegularFile => {
                    // Counted per thread, summed at the end: no shared counter per file.
                    found.files_seen += 1;
                    if !is_candidate(&name) {
                        continue;
                    }
                    let file = rustix::fs::openat(
                        &*fd,
                        name_of(e),
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map(std::fs::File::from)
                    .map_err(std::io::Error::from);
                    read_candidate(found, file, rel, shared.limits, &shared.total);
                }
                _ => {}
            }
        }
        children
    }
}
