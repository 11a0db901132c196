//! Python release lifecycles and the end-of-life warnings built on them.
//!
//! The table is shared/reference/py2-py3-runtime.md §4 (from python/devguide
//! `release-cycle.json`; 3.9's EOL from peps PR #4694). Where the devguide gives only a month,
//! the first of that month is used, so the warning comes early rather than late. End of life is
//! a warning, not an error: some vendors support an interpreter past upstream EOL (RHEL 9 ships
//! 3.9 with support into the 2030s).

use super::Checker;
use crate::date::Date;
use crate::diag::{Code, Diagnostic};
use crate::model::{PyVersion, PythonPair};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub version: PyVersion,
    pub end_of_life: Date,
    /// Whether the devguide gives the exact day (otherwise only the month is known).
    pub exact_day: bool,
}

impl Lifecycle {
    /// "2025-10-31" or "October 2027".
    pub fn end_of_life_text(&self) -> String {
        if self.exact_day {
            self.end_of_life.to_string()
        } else {
            const MONTHS: [&str; 12] = [
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ];
            format!(
                "{} {}",
                MONTHS[usize::from(self.end_of_life.month) - 1],
                self.end_of_life.year
            )
        }
    }
}

const fn entry(minor: u32, year: i32, month: u8, day: u8, exact_day: bool) -> Lifecycle {
    Lifecycle {
        version: PyVersion { major: 3, minor },
        end_of_life: Date { year, month, day },
        exact_day,
    }
}

const TABLE: &[Lifecycle] = &[
    entry(6, 2021, 12, 23, true),
    entry(7, 2023, 6, 27, true),
    entry(8, 2024, 10, 7, true),
    entry(9, 2025, 10, 31, true),
    entry(10, 2026, 10, 1, false),
    entry(11, 2027, 10, 1, false),
    entry(12, 2028, 10, 1, false),
    entry(13, 2029, 10, 1, false),
    entry(14, 2030, 10, 1, false),
    entry(15, 2031, 10, 1, false),
];

/// The lifecycle of a Python 3 release, if we know it.
pub fn lifecycle(version: PyVersion) -> Option<Lifecycle> {
    TABLE.iter().copied().find(|l| l.version == version)
}

/// The oldest Python 3 canaryc plans a move to: older ones cannot run any maintained framework.
pub const OLDEST_TARGET: PyVersion = PyVersion { major: 3, minor: 6 };

impl Checker<'_> {
    pub(crate) fn check_lifecycle(
        &mut self,
        python: &PythonPair,
        start: Option<crate::source::Spanned<Date>>,
    ) {
        let target = python.target;
        let (on, when) = match start {
            Some(d) => (d.value, format!("the rollout's start ({})", d.value)),
            None => (self.today, format!("today ({})", self.today)),
        };
        let Some(life) = lifecycle(target.value) else {
            if target.value > TABLE[TABLE.len() - 1].version {
                self.report(
                    Diagnostic::new(
                        Code::UnknownLifecycle,
                        target.span,
                        format!("no lifecycle known for Python {}", target.value),
                    )
                    .label("newer than canaryc's release table")
                    .help("check the version exists; end-of-life warnings are off for it"),
                );
            }
            return;
        };
        let recommend = "target Python 3.13 or 3.14, supported into 2029 and 2030";
        let mut diagnostic = if life.end_of_life <= on {
            Diagnostic::new(
                Code::PythonEndOfLife,
                target.span,
                format!(
                    "Python {} reached end-of-life on {}, before {when}",
                    target.value,
                    life.end_of_life_text()
                ),
            )
            .label("end-of-life target")
            .help(recommend)
        } else if life.end_of_life <= on.add_months(12) {
            Diagnostic::new(
                Code::PythonEndOfLifeSoon,
                target.span,
                format!(
                    "Python {} reaches end-of-life in {}, within 12 months of {when}",
                    target.value,
                    life.end_of_life_text()
                ),
            )
            .label("end-of-life within a year")
            .help(recommend)
        } else {
            return;
        };
        diagnostic = diagnostic.note(
            "upstream gets no security fixes after end-of-life; some vendors support an interpreter longer (RHEL 9's 3.9), so this is a warning",
        );
        self.report(diagnostic);
    }
}
