//! Codebase detection for the language server: off the request thread, cancellable, bounded.
//!
//! One worker thread takes the jobs in order. Before detecting, it walks the codebase the way
//! detection will (the same `.gitignore` rules, hidden files and skipped directories) only to
//! count entries, checking the job's cancel flag at each one, and gives up past
//! [`MAX_ENTRIES`] or [`MAX_WALK`]: a plan naming `codebase = "/"` costs the editor a bounded
//! walk on this thread, and every request is answered meanwhile. Detection itself then reads at
//! most that many entries and `Limits::default()`'s bytes. A job whose document changed its
//! codebase, was detected again or was closed is cancelled: skipped if still queued, stopped
//! during the count, its result dropped after.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use crate::detect::Detection;
use crate::detect::walk::Limits;

/// More entries than this and the editor does not detect the codebase (`canaryc check` does).
pub(super) const MAX_ENTRIES: usize = 200_000;
/// Nor when counting them takes longer than this (a network file system, say).
pub(super) const MAX_WALK: Duration = Duration::from_secs(20);

/// What became of a job.
#[derive(Debug)]
pub(super) enum Outcome {
    Detected(PathBuf, Box<Detection>),
    /// Not a directory, or unreadable.
    Unreadable(PathBuf, String),
    TooLarge(PathBuf),
    TooSlow(PathBuf),
    Cancelled,
}

/// A finished job, for the document it was started for.
#[derive(Debug)]
pub(super) struct Finished {
    pub uri: String,
    pub generation: u64,
    pub outcome: Outcome,
}

/// A started job: its generation (to match its result) and its cancel flag.
#[derive(Debug, Clone)]
pub(super) struct Ticket {
    pub generation: u64,
    cancel: Arc<AtomicBool>,
}

impl Ticket {
    pub(super) fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

struct Job {
    uri: String,
    root: PathBuf,
    ticket: Ticket,
}

pub(super) struct Detector {
    jobs: Option<Sender<Job>>,
    report: Arc<dyn Fn(Finished) + Send + Sync>,
    next_generation: u64,
}

impl Detector {
    /// `report` is called on the worker thread with each finished job.
    pub(super) fn new(report: impl Fn(Finished) + Send + Sync + 'static) -> Self {
        Detector {
            jobs: None,
            report: Arc::new(report),
            next_generation: 0,
        }
    }

    /// Queues the detection of `root` for the document `uri`.
    pub(super) fn start(&mut self, uri: &str, root: PathBuf) -> Ticket {
        self.next_generation += 1;
        let ticket = Ticket {
            generation: self.next_generation,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        let job = Job {
            uri: uri.to_string(),
            root,
            ticket: ticket.clone(),
        };
        // The worker starts with the first job, and again should it ever have stopped.
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return ticket,
                Err(returned) => returned.0,
            },
            None => job,
        };
        let (tx, rx) = channel::<Job>();
        let report = Arc::clone(&self.report);
        let spawned = std::thread::Builder::new()
            .name("canaryc-detect".into())
            .spawn(move || {
                for job in rx {
                    let outcome = run(&job);
                    report(Finished {
                        uri: job.uri,
                        generation: job.ticket.generation,
                        outcome,
                    });
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                self.jobs = Some(tx);
            }
            // Not reported through `report`, which may block until this thread reads.
            Err(err) => eprintln!(
                "canaryc lsp: cannot detect {}: no thread: {err}",
                job.root.display()
            ),
        }
        ticket
    }
}

fn run(job: &Job) -> Outcome {
    let cancelled = || job.ticket.cancel.load(Ordering::Relaxed);
    if cancelled() {
        return Outcome::Cancelled;
    }
    let root = &job.root;
    if !root.is_dir() {
        return Outcome::Unreadable(root.clone(), "not a directory".into());
    }
    match count_entries(root, MAX_ENTRIES, &cancelled) {
        Count::Within => {}
        Count::Cancelled => return Outcome::Cancelled,
        Count::TooMany => return Outcome::TooLarge(root.clone()),
        Count::TooSlow => return Outcome::TooSlow(root.clone()),
    }
    let limits = Limits {
        threads: 1,
        ..Limits::default()
    };
    let detection = crate::detect::detect(root, &limits);
    if cancelled() {
        return Outcome::Cancelled;
    }
    match detection {
        Ok(d) => Outcome::Detected(root.clone(), Box::new(d)),
        Err(err) => Outcome::Unreadable(root.clone(), err.to_string()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Count {
    Within,
    TooMany,
    TooSlow,
    Cancelled,
}

/// Walks as detection does (`detect::walk::walker`), counting, until done or a bound is hit.
fn count_entries(root: &std::path::Path, max: usize, cancelled: &dyn Fn() -> bool) -> Count {
    let started = Instant::now();
    let walk = crate::detect::walk::walker(root).build();
    for (n, _) in walk.enumerate() {
        if cancelled() {
            return Count::Cancelled;
        }
        if n >= max {
            return Count::TooMany;
        }
        if n % 256 == 0 && started.elapsed() > MAX_WALK {
            return Count::TooSlow;
        }
    }
    Count::Within
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..files {
            std::fs::write(dir.path().join(format!("f{i}.py")), "").unwrap();
        }
        // Skipped by detection, so not counted either.
        std::fs::create_dir(dir.path().join("node_modules")).unwrap();
        for i in 0..files {
            std::fs::write(dir.path().join(format!("node_modules/m{i}.js")), "").unwrap();
        }
        dir
    }

    #[test]
    fn the_count_stops_at_its_bound_and_when_cancelled() {
        let dir = tree(30);
        assert_eq!(count_entries(dir.path(), 40, &|| false), Count::Within);
        assert_eq!(count_entries(dir.path(), 20, &|| false), Count::TooMany);
        assert_eq!(count_entries(dir.path(), 40, &|| true), Count::Cancelled);
    }

    #[test]
    fn a_cancelled_job_reports_nothing_but_its_cancellation() {
        // The cancelled job waits in the queue behind one that walks 2,000 files, so it is
        // cancelled before the worker reaches it however fast the machine is.
        let busy = tree(2_000);
        let dir = tree(3);
        let (tx, rx) = std::sync::mpsc::channel();
        let mut detector = Detector::new(move |f| tx.send(f).unwrap());
        let ahead = detector.start("busy", busy.path().to_path_buf());
        let cancelled = detector.start("a", dir.path().to_path_buf());
        cancelled.cancel();
        let second = detector.start("a", dir.path().to_path_buf());
        let results: Vec<Finished> = rx.iter().take(3).collect();
        assert_eq!(results[0].generation, ahead.generation);
        assert_eq!(results[1].generation, cancelled.generation);
        assert!(
            matches!(results[1].outcome, Outcome::Cancelled),
            "{results:?}"
        );
        assert_eq!(results[2].generation, second.generation);
        assert!(
            matches!(results[2].outcome, Outcome::Detected(..)),
            "{results:?}"
        );
    }
}
