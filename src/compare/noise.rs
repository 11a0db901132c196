//! Diffy's noise rule (shared/reference/canary-systems.md §7): a field counts as a divergence
//! only when py3 differs from py2 there clearly more often than py2 differs from itself.
//!
//! For each endpoint and field: `raw` is how many compared requests had py3 (candidate) differ
//! from py2 (primary) at that field, `noise` how many had the second py2 copy (secondary)
//! differ from py2, `total` how many requests of the endpoint were compared. The field
//! diverges when all three hold:
//!
//! - `raw > noise`;
//! - `|raw - noise| / (raw + noise) * 100 > relative` (Diffy's default 20);
//! - `|raw - noise| / total * 100 > absolute` (Diffy's default 0.03).
//!
//! A per-request timestamp or id differs in both comparisons every time, so `raw == noise` and
//! it is noise; `round(2.5)` differs in the raw comparison only, so `noise == 0` and it diverges
//! from the first request on.

/// The two thresholds, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub relative: f64,
    pub absolute: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            relative: 20.0,
            absolute: 0.03,
        }
    }
}

/// The two percentages of the rule, for reports.
pub fn percentages(raw: u64, noise: u64, total: u64) -> (f64, f64) {
    let diff = raw.abs_diff(noise) as f64;
    let relative = if raw + noise == 0 {
        0.0
    } else {
        diff / (raw + noise) as f64 * 100.0
    };
    let absolute = if total == 0 {
        0.0
    } else {
        diff / total as f64 * 100.0
    };
    (relative, absolute)
}

/// Whether a field with these counts diverges.
pub fn diverges(raw: u64, noise: u64, total: u64, t: Thresholds) -> bool {
    let (relative, absolute) = percentages(raw, noise, total);
    raw > noise && relative > t.relative && absolute > t.absolute
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffy_rule() {
        let t = Thresholds::default();
        // A timestamp: different in both comparisons, every time.
        assert!(!diverges(100, 100, 100, t));
        // A real change, from the first request on.
        assert!(diverges(1, 0, 1, t));
        // Noise that py3 shows a little more often: within the relative threshold.
        assert!(!diverges(110, 100, 1000, t));
        // Clearly more often than py2 differs from itself.
        assert!(diverges(100, 10, 1000, t));
        // Rare against all of the endpoint's traffic: below the absolute threshold.
        assert!(!diverges(1, 0, 10_000, t));
        assert!(diverges(4, 0, 10_000, t));
        assert!(!diverges(0, 5, 10, t));
    }
}
