//! Walking a codebase: the only part of detection that reads the file system.
//!
//! Hostile trees are normal trees. The walk respects `.gitignore` (with or without a `.git`
//! directory), skips VCS, dependency and virtualenv directories, never follows a symlink (and
//! says where each one pointed: out of the root, around a loop, nowhere), reads only files whose
//! names a detector cares about, skips files over a size limit and binaries, and decodes
//! non-UTF-8 text lossily. Everything else is decided by the pure analysers over what it returns.

use std::path::Path;
use std::sync::Mutex;

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

/// Whether a detector wants to read a file with this name.
pub fn is_candidate(name: &str) -> bool {
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
}

pub fn walk(root: &Path, limits: &Limits) -> std::io::Result<Walked> {
    let root = root.canonicalize()?;
    let state = Mutex::new(Walked::default());
    let total = std::sync::atomic::AtomicU64::new(0);
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let mut builder = walker(&root);
    builder.threads(limits.threads);
    builder.build_parallel().run(|| {
        let root = &root;
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
    walked.files.sort_by(|a, b| a.path.cmp(&b.path));
    walked.skipped.sort();
    walked.lossy.sort();
    Ok(walked)
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
    if !is_dir {
        // Hidden files are not read, except `.env`, whose values compose interpolates (they
        // are used for image names, ports and build settings only, never copied).
        return name.starts_with('.') && name != ".env";
    }
    if name.starts_with('.') {
        return true;
    }
    // A virtualenv under any name has a pyvenv.cfg; canaryc's own output directories have a
    // `.canaryc` marker and must never be read back as the team's infrastructure.
    SKIP_DIRS.contains(&name.as_ref())
        || entry.path().join("pyvenv.cfg").is_file()
        || entry.path().join(".canaryc").is_file()
}

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
    total: &std::sync::atomic::AtomicU64,
    seen: &std::sync::atomic::AtomicUsize,
) {
    let path = entry.path();
    // The relative path is made only for what is kept or listed, not for every file seen.
    let rel = || relative(root, path);
    let skip = |reason: String| {
        if let Ok(mut s) = state.lock() {
            s.skipped.push(Skipped {
                path: rel(),
                reason,
            });
        }
    };
    if entry.path_is_symlink() {
        skip(symlink_reason(root, path));
        return;
    }
    if !entry.file_type().is_some_and(|t| t.is_file()) {
        return;
    }
    seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = entry.file_name().to_string_lossy();
    if !is_candidate(&name) {
        return;
    }
    // Read without a stat first: open, read up to the limit, close. A file over the limit
    // is stat-ed only to say how large it is.
    let Ok(mut file) = std::fs::File::open(path) else {
        skip("could not be read".into());
        return;
    };
    let bytes = match read_bounded(&mut file, limits.max_file_bytes) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let size = file.metadata().map_or(0, |m| m.len());
            skip(format!(
                "larger than {} KiB ({} KiB)",
                limits.max_file_bytes / 1024,
                size / 1024
            ));
            return;
        }
        Err(_) => {
            skip("could not be read".into());
            return;
        }
    };
    let len = bytes.len() as u64;
    let so_far = total.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
    if so_far + len > limits.max_total_bytes {
        skip(format!(
            "read limit of {} MiB reached",
            limits.max_total_bytes >> 20
        ));
        return;
    }
    if bytes[..bytes.len().min(8192)].contains(&0) {
        skip("binary (contains NUL bytes)".into());
        return;
    }
    let (text, lossy) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(err) => (String::from_utf8_lossy(err.as_bytes()).into_owned(), true),
    };
    let rel = rel();
    if let Ok(mut s) = state.lock() {
        if lossy {
            s.lossy.push(rel.clone());
        }
        s.files.push(SourceText { path: rel, text });
    }
}

/// The whole file, or `None` when it is longer than `limit`. Two reads for a small file: the
/// data, then the end.
fn read_bounded(file: &mut std::fs::File, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    // Most files fit the stack buffer: one exact allocation, no heap churn (a 16 KiB heap
    // buffer per file makes a walker thread's arena grow and shrink, an mprotect each time).
    let mut first = [0u8; 16 * 1024];
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
    let mut bytes = first.to_vec();
    bytes.resize(first.len() * 2, 0);
    let mut len = first.len();
    loop {
        if len == bytes.len() {
            if len as u64 > limit {
                return Ok(None);
            }
            bytes.resize(len * 2, 0);
        }
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if len as u64 > limit {
        return Ok(None);
    }
    bytes.truncate(len);
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
