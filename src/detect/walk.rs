//! Walking a codebase: the only part of detection that reads the file system.
//!
//! Hostile trees are normal trees. The walk respects `.gitignore` (with or without a `.git`
//! directory), skips VCS, dependency and virtualenv directories, never follows a symlink (and
//! says where each one pointed: out of the root, around a loop, nowhere), reads only files whose
//! names a detector cares about, skips files over a size limit and binaries, and decodes
//! non-UTF-8 text lossily. Everything else is decided by the pure analysers over what it returns.
//!
//! Python files, the bulk of a codebase, are not read by the walk: the analysis reads each
//! when it comes to it, in path order, into one buffer ([`Reader`]), and keeps its facts, not
//! its text (issue 15: holding every text cost a heap grow, an `mprotect`, per file and a page
//! fault per 4 KiB of it). The read limit is counted there, in path order: which files are read
//! does not depend on the order threads found them in.

use std::path::{Path, PathBuf};
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

/// A file the walk found that a detector wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Relative to the root, with `/` (names that are not UTF-8 decoded lossily).
    pub path: String,
    pub read: Read,
}

/// What the walk read of a [`Found`] file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Its text, decoded with replacement characters when `lossy` (not UTF-8).
    Text { text: String, lossy: bool },
    /// A file of this many bytes with a NUL byte in its first 8 KiB.
    Binary(u64),
    /// Left for the analysis to read with [`Reader::read`], when it comes to it: Python files
    /// but `setup.py`, and every file found once the walk holds `max_total_bytes` of text (so
    /// the walk holds a bounded amount, whatever the tree). `raw` is its path relative to the
    /// root when `path` does not name it (a name that is not UTF-8).
    Later { raw: Option<PathBuf> },
}

impl Found {
    pub fn text(path: String, text: String) -> Found {
        Found {
            path,
            read: Read::Text { text, lossy: false },
        }
    }
}

#[derive(Debug, Default)]
pub struct Walked {
    /// Sorted by path.
    pub files: Vec<Found>,
    pub skipped: Vec<Skipped>,
    pub files_seen: usize,
}

/// Whether the walk leaves a file to the analysis to read (see [`Read::Later`]): Python files
/// (read once each, into one buffer), but `setup.py`, which the first pass reads (a code
/// directory's marker).
fn read_later(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 3 && b[b.len() - 3..].eq_ignore_ascii_case(b".py") && name != "setup.py"
}

/// A file [`Reader::read`] read.
#[derive(Debug)]
pub enum Text<'a> {
    /// Its text, `lossy` when it was not UTF-8 (decoded with replacement characters).
    Text { text: &'a str, lossy: bool },
    /// A file of this many bytes with a NUL byte in its first 8 KiB.
    Binary(u64),
    /// Not read: why (`could not be read`, `larger than ...`).
    Skipped(String),
}

impl Text<'_> {
    /// The bytes this read counts toward the read limit (a file not read counts none).
    pub fn counted(&self) -> u64 {
        match self {
            Text::Text { text, .. } => text.len() as u64,
            Text::Binary(len) => *len,
            Text::Skipped(_) => 0,
        }
    }
}

/// Reads the files the walk left for later ([`Read::Later`]), one at a time, into one buffer
/// that each read reuses: the text of the last read is valid until the next.
#[derive(Debug)]
pub struct Reader {
    /// The codebase root, canonical; none for a reader of nothing.
    root: Option<PathBuf>,
    /// The root, open: files are opened beneath it.
    #[cfg(target_os = "linux")]
    dir: Option<rustix::fd::OwnedFd>,
    /// The directory of the last file opened (its path beneath the root) and its descriptor:
    /// files come in path order, so most are opened relative to it by their name alone
    /// (issue 15: resolving each file's whole path beneath the root, `openat2`, was a quarter
    /// of detecting a 100,000-file tree, in the kernel).
    #[cfg(target_os = "linux")]
    last_dir: Option<(PathBuf, rustix::fd::OwnedFd)>,
    max_file_bytes: u64,
    /// Sized one byte past the file limit once a file is read (zeroed by the allocator's fresh
    /// pages, touched only as far as the largest file read).
    buf: Vec<u8>,
    /// The text of the last file that was not UTF-8, decoded with replacement characters.
    lossy: String,
}

impl Reader {
    fn new(root: &Path, limits: &Limits) -> Reader {
        #[cfg(target_os = "linux")]
        let dir = rustix::fs::open(
            root,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok();
        Reader {
            root: Some(root.to_path_buf()),
            #[cfg(target_os = "linux")]
            dir,
            #[cfg(target_os = "linux")]
            last_dir: None,
            max_file_bytes: limits.max_file_bytes,
            buf: Vec::new(),
            lossy: String::new(),
        }
    }

    /// A reader of nothing (every file it is asked for could not be read): for files that
    /// were all read already.
    pub fn none() -> Reader {
        Reader {
            root: None,
            #[cfg(target_os = "linux")]
            dir: None,
            #[cfg(target_os = "linux")]
            last_dir: None,
            max_file_bytes: 0,
            buf: Vec::new(),
            lossy: String::new(),
        }
    }

    /// Opens `rel` beneath the root, never through a symlink (the walk followed none).
    fn open(&mut self, rel: &Path) -> std::io::Result<std::fs::File> {
        #[cfg(target_os = "linux")]
        if let Some(dir) = &self.dir {
            use rustix::fs::{Mode, OFlags};
            // O_NONBLOCK: a file replaced by a FIFO since the walk is not waited on.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            // Split at the last `/` by its bytes (`Path::parent` and `file_name` parse every
            // component: half of the reader's own work on a tree of small files).
            use std::os::unix::ffi::OsStrExt as _;
            let bytes = rel.as_os_str().as_bytes();
            let (parent, name) = match bytes.iter().rposition(|&b| b == b'/') {
                Some(i) => (&bytes[..i], &bytes[i + 1..]),
                None => (&b""[..], bytes),
            };
            if matches!(name, b"" | b"." | b"..")
                || parent.ends_with(b"/")
                || bytes.starts_with(b"/")
            {
                // No plain name to open in a directory.
                return beneath(dir, rel, flags)
                    .map(std::fs::File::from)
                    .map_err(std::io::Error::from);
            }
            let (parent, name) = (
                Path::new(std::ffi::OsStr::from_bytes(parent)),
                std::ffi::OsStr::from_bytes(name),
            );
            let opened = if parent.as_os_str().is_empty() {
                // At the root.
                rustix::fs::openat(dir, name, flags, Mode::empty())
            } else {
                // Compared as bytes (the walk's paths are written one way; a miss reopens).
                let cached = self
                    .last_dir
                    .as_ref()
                    .is_some_and(|(p, _)| p.as_os_str() == parent.as_os_str());
                if !cached {
                    let dir_flags =
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    self.last_dir = beneath(dir, parent, dir_flags)
                        .ok()
                        .map(|fd| (parent.to_path_buf(), fd));
                }
                match &self.last_dir {
                    // The name alone, not followed if it is a symlink (O_NOFOLLOW), in a
                    // directory reached through none.
                    Some((_, fd)) => rustix::fs::openat(fd, name, flags, Mode::empty()),
                    None => Err(rustix::io::Errno::NOENT),
                }
            };
            return opened
                .map(std::fs::File::from)
                .map_err(std::io::Error::from);
        }
        match &self.root {
            Some(root) => std::fs::File::open(root.join(rel)),
            None => Err(std::io::ErrorKind::NotFound.into()),
        }
    }

    /// Reads `file` (one the walk left for later; any other is read as its path names it).
    pub fn read(&mut self, file: &Found) -> Text<'_> {
        let rel = match &file.read {
            Read::Later { raw: Some(raw) } => raw.as_path(),
            _ => Path::new(&file.path),
        };
        let Ok(mut opened) = self.open(rel) else {
            return Text::Skipped("could not be read".into());
        };
        let limit = self.max_file_bytes;
        let want = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
        if self.buf.len() < want {
            self.buf = vec![0u8; want];
        }
        let filled = match read_full(&mut opened, &mut self.buf[..want]) {
            Ok(n) => n,
            Err(_) => return Text::Skipped("could not be read".into()),
        };
        if filled as u64 > limit {
            let size = opened.metadata().map_or(0, |m| m.len());
            return Text::Skipped(too_large(limit, size));
        }
        let bytes = &self.buf[..filled];
        if has_nul(bytes) {
            return Text::Binary(filled as u64);
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Text::Text { text, lossy: false },
            Err(_) => {
                self.lossy = String::from_utf8_lossy(bytes).into_owned();
                Text::Text {
                    text: &self.lossy,
                    lossy: true,
                }
            }
        }
    }
}

/// `rel` opened beneath `dir`, through no symlink and never out of it.
#[cfg(target_os = "linux")]
fn beneath(
    dir: &rustix::fd::OwnedFd,
    rel: &Path,
    flags: rustix::fs::OFlags,
) -> rustix::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, ResolveFlags};
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
    match rustix::fs::openat2(dir, rel, flags, Mode::empty(), resolve) {
        // Before Linux 5.6: each component as the walk opened it.
        Err(rustix::io::Errno::NOSYS) => open_components(dir, rel, flags),
        other => other,
    }
}

/// `rel` opened component by component from `dir`, none through a symlink.
#[cfg(target_os = "linux")]
fn open_components(
    dir: &rustix::fd::OwnedFd,
    rel: &Path,
    flags: rustix::fs::OFlags,
) -> rustix::io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    let mut parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
    let last = parts.pop().ok_or(rustix::io::Errno::INVAL)?;
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut held: Option<rustix::fd::OwnedFd> = None;
    for part in parts {
        if part == ".." {
            return Err(rustix::io::Errno::XDEV);
        }
        let at = held.as_ref().unwrap_or(dir);
        held = Some(rustix::fs::openat(at, part, dir_flags, Mode::empty())?);
    }
    if last == ".." {
        return Err(rustix::io::Errno::XDEV);
    }
    rustix::fs::openat(held.as_ref().unwrap_or(dir), last, flags, Mode::empty())
}

/// One read into `buf`: a regular file reads short only at its end (the walk reads nothing
/// else), so a file that fits is read with one system call and no second one to see the end.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Whether a file is binary: a NUL byte in its first 8 KiB. With the memchr crate's SIMD search
/// (std's `contains` goes a word at a time: about 7% of detecting a Python tree, issue 15).
fn has_nul(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(8192)]).is_some()
}

fn too_large(limit: u64, size: u64) -> String {
    format!("larger than {} KiB ({} KiB)", limit / 1024, size / 1024)
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

/// The extensions (lowercase) of the files a detector wants.
const CANDIDATE_EXTS: &[&[u8]] = &[
    b"py",
    b"yaml",
    b"yml",
    b"tf",
    b"service",
    b"cfg",
    b"conf",
    b"ini",
    b"toml",
    b"sh",
    b"j2",
    b"jinja2",
    b"tmpl",
    b"tpl",
    b"ini_tmpl",
    b"vhost",
];

/// Whether a detector wants to read a file with this name, in ASCII case-insensitively. Asked
/// of every file a walk sees: byte comparisons, no lowercased copy, searcher or allocation
/// (issue 15: the lowercasing, `rsplit_once` and `contains` were 7% of detecting a
/// 100,000-file tree).
pub fn is_candidate(name: &str) -> bool {
    let b = name.as_bytes();
    let is = |s: &[u8]| b.eq_ignore_ascii_case(s);
    let starts = |s: &[u8]| b.len() >= s.len() && b[..s.len()].eq_ignore_ascii_case(s);
    let ends = |s: &[u8]| b.len() >= s.len() && b[b.len() - s.len()..].eq_ignore_ascii_case(s);
    let ext = b.iter().rposition(|&c| c == b'.').map(|i| &b[i + 1..]);
    ext.is_some_and(|e| CANDIDATE_EXTS.iter().any(|x| e.eq_ignore_ascii_case(x)))
        || starts(b"dockerfile")
        || ends(b".dockerfile")
        || is(b"procfile")
        || starts(b"procfile.")
        || is(b"pipfile")
        || is(b".env")
        || b.windows(10)
            .any(|w| (w[0] | 0x20) == b'e' && w.eq_ignore_ascii_case(b"entrypoint"))
        || starts(b"run-")
        || (starts(b"requirements") && ends(b".txt"))
        || is(b"constraints.txt")
        || is(b"runtime.txt")
}

/// Walks `root`: the files found, sorted by path, and the reader of those left for later.
pub fn walk(root: &Path, limits: &Limits) -> std::io::Result<(Walked, Reader)> {
    let root = root.canonicalize()?;
    let reader = Reader::new(&root, limits);
    // A file named as the root is read by the walk (there is no directory to read it beneath).
    let defer = root.is_dir();
    #[cfg(target_os = "linux")]
    if defer {
        return Ok((finish(fast::walk(&root, limits)), reader));
    }
    Ok((finish(walk_with_ignore(&root, limits, defer)), reader))
}

/// Sorts what the walk found: the output must not depend on the order threads read files in.
fn finish(mut walked: Walked) -> Walked {
    // Paths are unique: an unstable sort gives the same order, with fewer moves.
    walked.files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    walked.skipped.sort();
    walked
}

/// The portable walk: `ignore`'s parallel walker, opening every file by its full path. On
/// Linux the walk in [`fast`] visits the same entries with the same rules.
fn walk_with_ignore(root: &Path, limits: &Limits, defer: bool) -> Walked {
    let state = Mutex::new(Walked::default());
    let held = AtomicU64::new(0);
    let seen = AtomicUsize::new(0);
    let mut builder = walker(root);
    builder.threads(limits.threads);
    builder.build_parallel().run(|| {
        let state = &state;
        let held = &held;
        let seen = &seen;
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                return WalkState::Continue;
            };
            let read = Reading {
                limits,
                held,
                defer,
            };
            visit(root, &entry, &read, state, seen);
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
    read: &Reading<'_>,
    state: &Mutex<Walked>,
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
        let name = entry.file_name().to_string_lossy();
        if !is_candidate(&name) {
            return;
        }
        // The path beneath the root, when the (lossily decoded) relative path does not name it.
        let raw = |rel: &str| {
            let raw = path.strip_prefix(root).ok()?;
            (raw.to_str() != Some(rel)).then(|| raw.to_path_buf())
        };
        read.candidate(&mut local, &name, || std::fs::File::open(path), rel, raw);
    } else {
        return;
    }
    if let Ok(mut s) = state.lock() {
        s.files.append(&mut local.files);
        s.skipped.append(&mut local.skipped);
    }
}

/// How the walk reads the files detectors want.
struct Reading<'a> {
    limits: &'a Limits,
    /// The bytes of text every thread holds so far.
    held: &'a AtomicU64,
    /// Whether files are left for later ([`Read::Later`]); not when the root is a file.
    defer: bool,
}

impl Reading<'_> {
    /// Reads a file a detector wants (opening it with `open`) into `out`, leaves it for later,
    /// or lists why it was not read. `raw` is its path beneath the root when `rel` does not
    /// name it.
    fn candidate(
        &self,
        out: &mut Walked,
        name: &str,
        open: impl FnOnce() -> std::io::Result<std::fs::File>,
        rel: impl FnOnce() -> String,
        raw: impl FnOnce(&str) -> Option<PathBuf>,
    ) {
        let limits = self.limits;
        let later = |out: &mut Walked, rel: String| {
            let raw = raw(&rel);
            out.files.push(Found {
                path: rel,
                read: Read::Later { raw },
            });
        };
        if self.defer
            && (read_later(name) || self.held.load(Ordering::Relaxed) >= limits.max_total_bytes)
        {
            later(out, rel());
            return;
        }
        let mut skip = |rel: String, reason: String| {
            out.skipped.push(Skipped { path: rel, reason });
        };
        // Read without a stat first: open, read up to the limit, close. A file over the limit
        // is stat-ed only to say how large it is.
        let Ok(mut file) = open() else {
            skip(rel(), "could not be read".into());
            return;
        };
        let bytes = match read_bounded(&mut file, limits.max_file_bytes) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                let size = file.metadata().map_or(0, |m| m.len());
                skip(rel(), too_large(limits.max_file_bytes, size));
                return;
            }
            Err(_) => {
                skip(rel(), "could not be read".into());
                return;
            }
        };
        let len = bytes.len() as u64;
        if has_nul(&bytes) {
            out.files.push(Found {
                path: rel(),
                read: Read::Binary(len),
            });
            return;
        }
        // Past what the walk may hold, the text is dropped and read again if the analysis
        // comes to it within the read limit (counted there, in path order).
        if self.defer && self.held.fetch_add(len, Ordering::Relaxed) + len > limits.max_total_bytes
        {
            later(out, rel());
            return;
        }
        let (text, lossy) = match String::from_utf8(bytes) {
            Ok(text) => (text, false),
            Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), true),
        };
        out.files.push(Found {
            path: rel(),
            read: Read::Text { text, lossy },
        });
    }
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

    use super::{Limits, Reading, SKIP_MARKERS, Skipped, Walked, is_candidate, skip_name};

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
        /// Whether `rel` names the directory exactly (every name in it is UTF-8).
        exact: bool,
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
        /// The bytes of text every thread holds so far.
        held: AtomicU64,
        queue: Queue,
    }

    pub(super) fn walk(root: &Path, limits: &Limits) -> Walked {
        let shared = Shared {
            root,
            limits,
            held: AtomicU64::new(0),
            queue: Queue {
                state: Mutex::new((
                    vec![Job {
                        at: None,
                        path: root.to_path_buf(),
                        rel: String::new(),
                        exact: true,
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
                        exact: job.exact && matches!(name, std::borrow::Cow::Borrowed(_)),
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
                    let open = || {
                        rustix::fs::openat(
                            &*fd,
                            name_of(e),
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map(std::fs::File::from)
                        .map_err(std::io::Error::from)
                    };
                    // The path beneath the root, when `rel` does not name the file exactly.
                    let exact = job.exact && matches!(name, std::borrow::Cow::Borrowed(_));
                    let raw = |_: &str| {
                        (!exact).then(|| {
                            let mut path = job.path.clone();
                            path.push(OsStr::from_bytes(name_bytes));
                            path.strip_prefix(shared.root)
                                .map_or_else(|_| path.clone(), Path::to_path_buf)
                        })
                    };
                    let reading = Reading {
                        limits: shared.limits,
                        held: &shared.held,
                        defer: true,
                    };
                    reading.candidate(found, &name, open, rel, raw);
                }
                _ => {}
            }
        }
        children
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` padded with a comment to exactly `len` bytes.
    fn sized(text: &str, len: usize) -> String {
        let mut s = text.to_string();
        s.push('#');
        while s.len() < len - 1 {
            s.push('x');
        }
        s.push('\n');
        s
    }

    /// A tree of files of 100 and 250 bytes: Python modules (left for later by the walk),
    /// Dockerfiles and requirements (read by it), a binary file, and a code directory whose
    /// `setup.py` (read by the first passes) comes after its modules in path order.
    fn tree() -> (tempfile::TempDir, Vec<(String, Vec<u8>)>) {
        let dir = tempfile::tempdir().unwrap();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let flask = "print 'hello'\nfrom flask import Flask\napp = Flask(__name__)\n";
        for d in 0..6 {
            for m in 0..5 {
                let (text, len) = if m % 2 == 0 {
                    (flask, 250)
                } else {
                    ("import cPickle\nx = 1\n", 100)
                };
                files.push((format!("d{d}/m{m}.py"), sized(text, len).into_bytes()));
            }
            let docker = format!("FROM python:2.7\nCMD gunicorn -b :{} app:app\n", 8000 + d);
            files.push((format!("d{d}/Dockerfile"), sized(&docker, 100).into_bytes()));
            files.push((
                format!("d{d}/requirements.txt"),
                sized("flask==0.12\n", 100).into_bytes(),
            ));
        }
        let mut binary = vec![b'x'; 100];
        binary[10] = 0;
        files.push(("d2/blob.py".into(), binary));
        files.push(("z/app/views.py".into(), sized(flask, 100).into_bytes()));
        files.push((
            "z/setup.py".into(),
            sized("setup(name='z')\n", 100).into_bytes(),
        ));
        files.sort();
        for (path, bytes) in &files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        (dir, files)
    }

    /// With the read limit reached, the files read are the first ones in path order that fit
    /// it (none after the first that does not, however small), however many threads walk the
    /// tree, and the detection is that of exactly those files (the first passes do not see the
    /// ones after: `z/setup.py` would make `z` the code directory of `z/app/views.py`).
    #[test]
    fn the_read_limit_is_counted_in_path_order() {
        let (dir, files) = tree();
        let root_name = dir
            .path()
            .canonicalize()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let sizes: Vec<u64> = files.iter().map(|(_, b)| b.len() as u64).collect();
        let all: u64 = sizes.iter().sum();
        for max_total_bytes in [
            0,
            99,
            100,
            349,
            350,
            1000,
            2345,
            5000,
            all - 100,
            all - 1,
            all,
        ] {
            let fit = (0..=files.len())
                .take_while(|&n| sizes[..n].iter().sum::<u64>() <= max_total_bytes)
                .last()
                .unwrap();
            // The files that fit, as text (the binary one counts its bytes, and is listed).
            let prefix: Vec<SourceText> = files[..fit]
                .iter()
                .filter(|(_, b)| !b.contains(&0))
                .map(|(p, b)| SourceText {
                    path: p.clone(),
                    text: String::from_utf8(b.clone()).unwrap(),
                })
                .collect();
            let mut want = super::super::analyze(&prefix, &root_name);
            let mut first = None;
            for threads in [1, 2, 8, 8, 8] {
                let limits = Limits {
                    max_total_bytes,
                    threads,
                    ..Limits::default()
                };
                let got = super::super::detect(dir.path(), &limits).unwrap();
                assert_eq!(
                    got.stats.files_read,
                    prefix.len(),
                    "{max_total_bytes} bytes"
                );
                let limited: Vec<&str> = got
                    .skipped
                    .iter()
                    .filter(|s| s.reason.starts_with("read limit"))
                    .map(|s| s.path.as_str())
                    .collect();
                let after: Vec<&str> = files[fit..].iter().map(|(p, _)| p.as_str()).collect();
                assert_eq!(limited, after, "{max_total_bytes} bytes");
                let first = first.get_or_insert_with(|| got.clone());
                assert_eq!(&got, first, "{max_total_bytes} bytes, {threads} threads");
                want.skipped.clone_from(&got.skipped);
                want.stats = got.stats;
                assert_eq!(got, want, "{max_total_bytes} bytes");
            }
        }
    }

    /// The candidate test as it was written, over the lowercased name.
    fn is_candidate_as_written(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
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

    proptest::proptest! {
        /// Names made of the pieces the test looks at, in any case.
        #[test]
        fn is_candidate_as_written_on_any_name(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                ".", "py", "PY", "Py", "yaml", "YML", "tf", "service", "cfg", "conf", "ini",
                "toml", "sh", "j2", "jinja2", "tmpl", "tpl", "_tmpl", "vhost", "dockerfile",
                "Dockerfile", "procfile", "Procfile", "pipfile", ".env", "entrypoint",
                "ENTRYPOINT", "entry", "point", "run-", "Run-", "requirements", "txt", ".txt",
                "constraints", "runtime", "x", "é", "-", "İ", "K",
            ]), 0..6)
        ) {
            let name = pieces.concat();
            proptest::prop_assert_eq!(is_candidate(&name), is_candidate_as_written(&name), "{:?}", name);
        }
    }

    /// A file the walk left for later is read by the reader as the walk would have read it.
    #[test]
    fn later_files_read_as_the_walk_reads() {
        let (dir, _) = tree();
        std::fs::write(dir.path().join("d0/latin1.py"), b"x = '\xe9'\n").unwrap();
        std::fs::write(dir.path().join("d0/big.py"), vec![b'#'; 2048]).unwrap();
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let (walked, mut reader) = walk(dir.path(), &limits).unwrap();
        let later = |path: &str| {
            walked
                .files
                .iter()
                .find(|f| f.path == path)
                .filter(|f| matches!(f.read, Read::Later { .. }))
                .unwrap_or_else(|| panic!("{path} left for later"))
        };
        assert!(matches!(
            reader.read(later("d0/m1.py")),
            Text::Text { text, lossy: false } if text.starts_with("import cPickle\n")
        ));
        assert!(matches!(
            reader.read(later("d0/latin1.py")),
            Text::Text {
                text: "x = '\u{fffd}'\n",
                lossy: true
            }
        ));
        assert!(matches!(
            reader.read(later("d2/blob.py")),
            Text::Binary(100)
        ));
        assert!(matches!(
            reader.read(later("d0/big.py")),
            Text::Skipped(reason) if reason == "larger than 1 KiB (2 KiB)"
        ));
        // `setup.py` is read by the walk: the first passes need it.
        assert!(
            walked
                .files
                .iter()
                .any(|f| f.path == "z/setup.py" && matches!(f.read, Read::Text { .. }))
        );
    }
}
