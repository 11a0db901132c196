//! What a threshold means: from py2's observed rate `p0`, the rate a healthy py3 has (the null)
//! and the smallest rate that must be caught (the alternative). See docs/language.md,
//! "Relative and absolute thresholds".

use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Effect {
    /// `error_rate > 1%`: py3 at least this much (a fraction) above py2's rate. Healthy is
    /// py2's rate.
    Above(f64),
    /// `error_rate > 2x py2`: py3 at least this many times py2's rate.
    Times(f64),
    /// `error_rate > absolute(1%)`, `latency p99 > 800ms`: py3 at or above this rate whatever
    /// py2 does. Healthy is py2's rate, or half the bound where py2 itself is above that.
    AtLeast(f64),
    /// `latency p99 > 2x py2`, as a share of slow requests: at least this share of py3's
    /// requests slower than the tested bucket, against py2's share there (or py2's share
    /// itself, should that be higher: then py3 is only caught being slower than py2).
    ShareAbove(f64),
}

impl Effect {
    /// The failure rate of a healthy py3.
    pub fn null(self, p0: f64) -> f64 {
        match self {
            Effect::AtLeast(bound) => p0.min(bound / 2.0),
            Effect::Above(_) | Effect::Times(_) | Effect::ShareAbove(_) => p0,
        }
    }

    /// The smallest failure rate that must be caught.
    pub fn alternative(self, p0: f64) -> f64 {
        match self {
            Effect::Above(delta) => p0 + delta,
            Effect::Times(factor) => p0 * factor,
            Effect::AtLeast(bound) => bound,
            Effect::ShareAbove(share) => share.max(p0),
        }
    }

    /// Whether a bound is needed from py2 at all: an absolute bound still works without one.
    pub fn needs_baseline(self) -> bool {
        !matches!(self, Effect::AtLeast(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_absolute_and_ratio_thresholds() {
        let p0 = 0.001;
        assert!((Effect::Above(0.01).alternative(p0) - 0.011).abs() < 1e-15);
        assert_eq!(Effect::Above(0.01).null(p0), p0);
        assert!((Effect::Times(2.0).alternative(p0) - 0.002).abs() < 1e-15);
        assert_eq!(Effect::AtLeast(0.01).alternative(p0), 0.01);
        assert_eq!(Effect::AtLeast(0.01).null(0.008), 0.005);
        assert_eq!(Effect::ShareAbove(0.01).alternative(0.02), 0.02);
    }
}
