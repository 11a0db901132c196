//! Prometheus's `increase()` on a counter, sample by sample, as Prometheus 2.x computes it
//! (`extrapolatedRate` in promql/functions.go; 2.42 is what Debian ships and what CI's promtool
//! runs): the samples in the closed range `[t - w, t]`, the difference between the last and the
//! first plus any counter resets, extrapolated towards the range's edges (by at most half an
//! average sample interval where the series starts or ends inside it, and never below zero).
//!
//! The simulator and the reference evaluator use this, so the evidence they compute is the
//! evidence the generated rules compute, fractional counts included.

/// The samples of one counter inside one range: what `increase()` needs of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeStats {
    pub first_ms: i64,
    pub first: f64,
    pub last_ms: i64,
    pub last: f64,
    pub count: usize,
    /// Sum of the values just before each counter reset inside the range.
    pub resets: f64,
}

/// `increase(x[range_end - range_start])` evaluated at `range_end`, or `None` (no result) with
/// fewer than two samples in the range.
pub fn increase(r: &RangeStats, range_start_ms: i64, range_end_ms: i64) -> Option<f64> {
    if r.count < 2 {
        return None;
    }
    let result = r.last - r.first + r.resets;
    let mut to_start = (r.first_ms - range_start_ms) as f64 / 1000.0;
    let to_end = (range_end_ms - r.last_ms) as f64 / 1000.0;
    let sampled = (r.last_ms - r.first_ms) as f64 / 1000.0;
    let average = sampled / (r.count - 1) as f64;
    if result > 0.0 && r.first >= 0.0 {
        // A counter cannot have been below zero: do not extrapolate past where it was zero.
        let to_zero = sampled * (r.first / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average / 2.0
    };
    Some(result * (interval / sampled))
}

/// A counter Prometheus has scraped: something that can say which of its samples fall in a
/// range.
pub trait Counter {
    fn range(&self, start_ms: i64, end_ms: i64) -> Option<RangeStats>;

    fn increase(&self, start_ms: i64, end_ms: i64) -> Option<f64> {
        self.range(start_ms, end_ms)
            .and_then(|r| increase(&r, start_ms, end_ms))
    }
}

/// Samples at arbitrary times, resets allowed: random test paths, promtool inputs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sampled {
    pub times_ms: Vec<i64>,
    pub values: Vec<f64>,
    /// `resets_before[i]`: sum of the values before each reset among samples `..=i`.
    resets_before: Vec<f64>,
}

impl Sampled {
    pub fn new(times_ms: Vec<i64>, values: Vec<f64>) -> Self {
        let mut resets_before = Vec::with_capacity(values.len());
        let mut sum = 0.0;
        for i in 0..values.len() {
            if i > 0 && values[i] < values[i - 1] {
                sum += values[i - 1];
            }
            resets_before.push(sum);
        }
        Sampled {
            times_ms,
            values,
            resets_before,
        }
    }
}

impl Counter for Sampled {
    fn range(&self, start_ms: i64, end_ms: i64) -> Option<RangeStats> {
        let first = self.times_ms.partition_point(|&t| t < start_ms);
        let end = self.times_ms.partition_point(|&t| t <= end_ms);
        if end <= first {
            return None;
        }
        let last = end - 1;
        Some(RangeStats {
            first_ms: self.times_ms[first],
            first: self.values[first],
            last_ms: self.times_ms[last],
            last: self.values[last],
            count: end - first,
            resets: self.resets_before[last] - self.resets_before[first],
        })
    }
}

/// Samples every `step_ms` from `start_ms`, never reset: the simulator's scrapes of a counter
/// that exists from `start_ms`. Found by arithmetic rather than search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Regular {
    pub start_ms: i64,
    pub step_ms: i64,
    pub values: Vec<f64>,
}

impl Counter for Regular {
    fn range(&self, start_ms: i64, end_ms: i64) -> Option<RangeStats> {
        let len = self.values.len() as i64;
        if len == 0 || end_ms < self.start_ms {
            return None;
        }
        let first = if start_ms <= self.start_ms {
            0
        } else {
            (start_ms - self.start_ms + self.step_ms - 1) / self.step_ms
        };
        let last = ((end_ms - self.start_ms) / self.step_ms).min(len - 1);
        if last < first {
            return None;
        }
        Some(RangeStats {
            first_ms: self.start_ms + first * self.step_ms,
            first: self.values[first as usize],
            last_ms: self.start_ms + last * self.step_ms,
            last: self.values[last as usize],
            count: (last - first + 1) as usize,
            resets: 0.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64], step_ms: i64) -> Sampled {
        let times = (0..values.len() as i64).map(|i| i * step_ms).collect();
        Sampled::new(times, values.to_vec())
    }

    #[test]
    fn a_steady_counter_extrapolates_to_the_window() {
        // 10 per 15s, window 60s ending on a sample: 5 samples over 60s, no extrapolation.
        let s = series(&[100.0, 110.0, 120.0, 130.0, 140.0, 150.0], 15_000);
        assert_eq!(s.increase(15_000, 75_000), Some(40.0));
        // Window 30s..80s: samples at 30..75 (4 of them, 45s apart in all), extended by the 5s
        // to the end of the range.
        let v = s.increase(30_000, 80_000).unwrap();
        assert!((v - 30.0 * 50.0 / 45.0).abs() < 1e-9);
    }

    #[test]
    fn one_sample_is_no_result() {
        let s = series(&[1.0, 2.0], 15_000);
        assert_eq!(s.increase(1, 20_000), None);
    }

    #[test]
    fn resets_are_added_back_and_zero_bounds_extrapolation() {
        let s = series(&[5.0, 8.0, 2.0, 4.0], 10_000);
        // 8 before the reset: 4 - 5 + 8 = 7 over 30s of samples, the range is exactly those.
        assert_eq!(s.increase(0, 30_000), Some(7.0));
        // A counter born at 1 cannot be extrapolated further back than where it was 0.
        let young = series(&[1.0, 11.0, 21.0], 10_000);
        let v = young.increase(-8_000, 20_000).unwrap();
        assert!((v - 21.0).abs() < 1e-9);
    }

    #[test]
    fn regular_and_sampled_agree() {
        let values: Vec<f64> = (0..50).map(|i| f64::from(i * i)).collect();
        let sampled = series(&values, 15_000);
        let regular = Regular {
            start_ms: 0,
            step_ms: 15_000,
            values: values.clone(),
        };
        for (a, b) in [
            (0, 60_000),
            (7_000, 95_000),
            (100_000, 400_000),
            (700_000, 800_000),
        ] {
            assert_eq!(sampled.range(a, b), regular.range(a, b), "{a}..{b}");
        }
    }
}
