//! The physical floor of `canaryc build`: writing the same bytes, as the same files, into a
//! fresh directory, and nothing else (issue 15).
//!
//! Usage: write_floor SRC DEST [--sync | --syncfs]
//!
//! SRC is a directory canaryc built (the files to write, read into memory before anything is
//! written: no rendering at all, where canaryc renders each file as it writes it). DEST must not exist: it is
//! created and every file is written into it with one `open(O_CREAT|O_EXCL)`, one `write` and
//! one `close`. With `--sync`, each file is `fsync`ed and the directory too, as canaryc's
//! transaction does (txn.rs: `sync_all` per file, then the directory), so the durable floor
//! can be quoted beside the plain one. With `--syncfs` (Linux), the files are written unsynced
//! and made durable together by one `syncfs(2)` on a descriptor of DEST opened before the
//! first write, then DEST and its parent are fsynced: the durability canaryc's swap has now
//! (txn.rs `write_files`, then `sync_dir` of the new directory and of the directory the rename
//! happens in), without its transaction bookkeeping, so the fair floor for it. Prints the write phase's own time on stderr; run it as a
//! whole process (benches/fleet.sh) to compare it with canaryc's whole process.
//!
//! Build: rustc -O --edition 2021 benches/write_floor.rs -o target/release/write_floor
use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: write_floor SRC DEST [--sync | --syncfs]");
        std::process::exit(2);
    }
    let sync = args.iter().any(|a| a == "--sync");
    let syncfs = args.iter().any(|a| a == "--syncfs");
    let mut files: Vec<(std::ffi::OsString, Vec<u8>)> = std::fs::read_dir(&args[1])
        .expect("SRC readable")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name(),
                std::fs::read(e.path()).expect("file readable"),
            )
        })
        .collect();
    files.sort();
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    let start = Instant::now();
    let dest = std::path::Path::new(&args[2]);
    std::fs::create_dir(dest).expect("DEST must not exist");
    let dir = std::fs::File::open(dest).expect("DEST readable");
    for (name, contents) in &files {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest.join(name))
            .expect("create");
        f.write_all(contents).expect("write");
        if sync {
            f.sync_all().expect("fsync");
        }
    }
    if syncfs {
        sync_fs(&dir);
    }
    if sync || syncfs {
        dir.sync_all().expect("fsync dir");
    }
    if syncfs {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => std::path::Path::new("."),
        };
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .expect("fsync parent");
    }
    eprintln!(
        "write_floor: {} files, {} bytes, {:.1} ms{}",
        files.len(),
        bytes,
        start.elapsed().as_secs_f64() * 1e3,
        if sync {
            " (fsync each)"
        } else if syncfs {
            " (one syncfs)"
        } else {
            ""
        }
    );
}

/// `syncfs(2)` on the file system holding `dir` (std links the C library; no crate needed).
/// Only in the program fleet.sh builds with rustc: cargo also compiles this file as a bench
/// test (`--test`, so `cfg(test)`), under the crate's `forbid(unsafe_code)`, and runs nothing.
#[cfg(all(target_os = "linux", not(test)))]
fn sync_fs(dir: &std::fs::File) {
    use std::os::fd::AsRawFd;
    extern "C" {
        fn syncfs(fd: i32) -> i32;
    }
    // SAFETY: `dir` is an open descriptor for the whole call; syncfs only reads it.
    if unsafe { syncfs(dir.as_raw_fd()) } != 0 {
        panic!("syncfs: {}", std::io::Error::last_os_error());
    }
}

#[cfg(any(not(target_os = "linux"), test))]
fn sync_fs(_: &std::fs::File) {
    panic!("--syncfs needs Linux, and the program fleet.sh builds");
}
