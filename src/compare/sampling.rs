//! Which share of the mirrorable requests is compared (`compare { sample = 10% }`, or
//! `--sample`). Deterministic, no random numbers and no lock: request n (counting from 0) is
//! compared when `floor((n + 1) * p) > floor(n * p)`, with p the share in hundredths of a
//! percent, so every run compares the same requests and 10% is exactly 1 in 10.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hundredths of a percent: 100% is 10,000.
const WHOLE: u64 = 10_000;

#[derive(Debug)]
pub struct Sampler {
    share: u64,
    seen: AtomicU64,
}

impl Sampler {
    /// `percent` is clamped to 0..=100 and rounded to a hundredth of a percent.
    pub fn new(percent: f64) -> Sampler {
        let share = if percent.is_nan() {
            WHOLE
        } else {
            (percent.clamp(0.0, 100.0) * 100.0).round() as u64
        };
        Sampler {
            share,
            seen: AtomicU64::new(0),
        }
    }

    /// Whether the next mirrorable request is compared.
    pub fn take(&self) -> bool {
        if self.share >= WHOLE {
            return true;
        }
        if self.share == 0 {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed) % WHOLE;
        (n + 1) * self.share / WHOLE > n * self.share / WHOLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(percent: f64, n: usize) -> usize {
        let s = Sampler::new(percent);
        (0..n).filter(|_| s.take()).count()
    }

    #[test]
    fn the_share_taken_is_the_share_asked() {
        assert_eq!(count(100.0, 1000), 1000);
        assert_eq!(count(0.0, 1000), 0);
        assert_eq!(count(10.0, 1000), 100);
        assert_eq!(count(25.0, 1000), 250);
        assert_eq!(count(0.5, 10_000), 50);
        assert_eq!(count(33.33, 10_000), 3333);
        // Spread out, not bunched: 10% takes one of every ten.
        let s = Sampler::new(10.0);
        let taken: Vec<bool> = (0..20).map(|_| s.take()).collect();
        assert_eq!(taken.iter().filter(|t| **t).count(), 2);
        assert!(taken[..10].iter().any(|t| *t) && taken[10..].iter().any(|t| *t));
    }
}
