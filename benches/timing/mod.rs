//! Timing helpers shared by the benches that print tables (`parse.rs`, `scaling.rs`).

use std::time::{Duration, Instant};

/// The shortest wall time of `f` over enough runs to fill about `budget` (at least 3, at most
/// 101): the machine is shared, and other work only ever adds time, so the minimum is the
/// steadiest estimate of what `f` costs.
pub(crate) fn fastest(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    let once = start.elapsed();
    let runs = (budget.as_nanos() / once.as_nanos().max(1)).clamp(3, 101);
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.into_iter().min().unwrap_or(once)
}

/// Milliseconds with four significant digits.
pub(crate) fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    let decimals = (3 - ms.abs().log10().floor() as i32).clamp(0, 6) as usize;
    format!("{ms:.decimals$} ms")
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not, and gets a quick run.
pub(crate) fn quick() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// A size limit from the environment.
pub(crate) fn env_max(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
