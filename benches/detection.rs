//! The detection simulator: the generated error-rate rules (through `stats::evaluate`, the
//! reference evaluator the promtool cross-check holds to the real rules) over simulated
//! Poisson traffic, for every traffic level and stage of the standard schedule.
//!
//! ```text
//! cargo bench --bench detection -- table [RUNS [HEALTHY [2x]]]
//!                                   median/p90 time to detect, false rollbacks (for
//!                                   `error_rate > 1%`, or `> 2x py2`)
//! cargo bench --bench detection -- issue [RUNS]        issue 13's five traffic cells, against
//!                                   the statistical limits the issue quotes
//! cargo bench --bench detection -- healthy TOTAL SHARE RUNS [1pt|2x|p99 [P0]]
//!                                   false rollbacks of one cell, with a 95% upper bound (p99:
//!                                   the latency test, `P0` py2's share above the bucket)
//! cargo bench --bench detection -- cell TOTAL SHARE BROKEN RUNS [2x]
//!                                   one cell of `table` with more runs: median, p90, preview
//! cargo bench --bench detection -- calibrate [RUNS [2x|1pt [HOURS]]]
//!                                   the constant in the rungs' thresholds, per stage hold
//! cargo bench --bench detection -- short [RUNS [HOURS [C,C,... [2x]]]]
//!                                   the short rungs' constant: false rollbacks per candidate
//! cargo bench --bench detection -- preview             `table`'s preview column, no simulation
//! cargo bench --bench detection -- crosscheck [PATHS]  the evaluator against promtool test rules
//! cargo bench --bench detection -- floor [RUNS]        the fastest any rule firing on the k-th
//!                                   failure can be, and what such a rule costs a healthy py3
//! ```
//!
//! Everything is seeded: the same command prints the same numbers. `CANARYC_SCRAPE` (seconds,
//! default 15) sets the scrape interval, and with it the ladder's rungs (multiples of it);
//! `CANARYC_EVAL` the rules' evaluation interval (default: the scrape interval). The limits,
//! targets and `floor` move with both: the median delay is half of each, the floor one of each.
//! `CANARYC_SEED` replaces the base seed of `healthy` (5000) and of `calibrate` and `short`
//! (17000), each plus the stage's index, so a validation can run on stages no earlier run
//! simulated (run `i` of base `b` has seed `b * 1_000_003 + i`: bases apart by one are a
//! million runs apart).

use std::fmt::Write as _;
use std::time::Instant;

use canaryc::stats::effect::Effect;
use canaryc::stats::ladder::{self, Ladder};
use canaryc::stats::simulate::{self, Scenario};

/// The standard schedule's stages (stdlib/schedules.plan): py3's share and the hold, hours.
const STAGES: &[(f64, u64)] = &[(0.01, 24), (0.05, 48), (0.25, 72), (0.50, 168), (1.0, 336)];
const TOTALS: &[f64] = &[1.0, 10.0, 100.0, 1000.0];
const BROKEN: &[f64] = &[0.005, 0.02, 0.10, 1.0];
const P0: f64 = 0.001;
const LONGEST_HOLD: u64 = 336 * 3600;

/// The standard schedule's ladder: every stage's thresholds, told apart by py3's share.
/// `CANARYC_CONSTANTS="7.5,8,8,8.5,8.75"` (one per stage) replaces the calibrated constants,
/// `CANARYC_SHORT` (the same form) the short rungs'.
fn standard() -> Ladder {
    let stages: Vec<(f64, u64)> = STAGES.iter().map(|(s, h)| (*s, h * 3600)).collect();
    let list = |name: &str| -> Option<Vec<f64>> {
        std::env::var(name)
            .ok()
            .map(|l| l.split(',').filter_map(|c| c.parse().ok()).collect())
    };
    let (long, short) = (list("CANARYC_CONSTANTS"), list("CANARYC_SHORT"));
    let pick = |given: &Option<Vec<f64>>, hold: u64, default: f64| {
        STAGES
            .iter()
            .position(|s| s.1 * 3600 == hold)
            .and_then(|i| given.as_ref().and_then(|c| c.get(i).copied()))
            .unwrap_or(default)
    };
    Ladder::with_constants(scrape_secs(), &stages, |hold| {
        let (c, s) = ladder::constants(hold, scrape_secs());
        (pick(&long, hold, c), pick(&short, hold, s))
    })
}

fn scenario(
    total: f64,
    stage: usize,
    broken: Option<f64>,
    effect: Effect,
    ladder: &Ladder,
) -> Scenario {
    let (share, hold) = STAGES[stage];
    Scenario {
        total_rate: total,
        share,
        previous_share: if share >= 1.0 {
            STAGES[stage - 1].0
        } else {
            share
        },
        p0: P0,
        broken,
        scrape_secs: scrape_secs(),
        eval_secs: eval_secs(),
        hold_secs: hold * 3600,
        effect,
        ladder: ladder.clone(),
        whole_hold: broken.is_none(),
    }
}

/// The scrape interval: `CANARYC_SCRAPE` seconds, 15 (Prometheus's default) unless set. The
/// ladder's rungs are multiples of it (`stats::ladder::windows`).
fn scrape_secs() -> u64 {
    std::env::var("CANARYC_SCRAPE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(15)
}

/// The rules' evaluation interval: `CANARYC_EVAL` seconds, the scrape interval by default.
fn eval_secs() -> u64 {
    std::env::var("CANARYC_EVAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(scrape_secs)
}

/// The median delay of any rule on Prometheus: a failure waits half a scrape interval to be
/// scraped and half an evaluation interval to be evaluated.
fn median_delay() -> f64 {
    (scrape_secs() + eval_secs()) as f64 / 2.0
}

/// The floor of every target: one scrape plus one evaluation.
fn floor_secs() -> f64 {
    (scrape_secs() + eval_secs()) as f64
}

/// The base seed of a mode: `CANARYC_SEED` if set, else the mode's own `default`.
fn seed_base(default: u64) -> u64 {
    std::env::var("CANARYC_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `s.runs(runs, seed)` on two threads (the machine has two cores).
fn par_runs(s: &Scenario, runs: u64, seed: u64) -> Vec<simulate::Outcome> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2u64)
            .map(|half| {
                scope.spawn(move || {
                    let (from, to) = (half * runs / 2, (half + 1) * runs / 2);
                    (from..to)
                        .map(|i| s.run(seed.wrapping_mul(1_000_003).wrapping_add(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}

fn main() {
    let args = args();
    let mode = args.first().map_or("table", String::as_str);
    let count = |default: u64| args.get(1).and_then(|a| a.parse().ok()).unwrap_or(default);
    match mode {
        "calibrate" => {
            let effect = match args.get(2).map(String::as_str) {
                Some("1pt") => Effect::Above(0.01),
                _ => Effect::Times(2.0),
            };
            calibrate(count(300), effect, args.get(3).and_then(|a| a.parse().ok()));
        }
        "table" => {
            let healthy = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(400);
            let effect = match args.get(3).map(String::as_str) {
                Some("2x") => Effect::Times(2.0),
                _ => Effect::Above(0.01),
            };
            table(effect, count(200), healthy);
        }
        "crosscheck" => crosscheck(count(40)),
        "preview" => preview_only(),
        "short" => {
            let hours = args.get(2).and_then(|a| a.parse().ok());
            let candidates: Vec<f64> = args
                .get(3)
                .map(|l| l.split(',').filter_map(|c| c.parse().ok()).collect())
                .unwrap_or_else(|| vec![4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0]);
            let effect = match args.get(4).map(String::as_str) {
                Some("2x") => Effect::Times(2.0),
                _ => Effect::Above(0.01),
            };
            short(count(1000), hours, &candidates, effect);
        }
        "floor" => floor(count(20_000)),
        "issue" => issue(count(200)),
        "healthy" => {
            let num = |i: usize| args.get(i).and_then(|a| a.parse::<f64>().ok());
            let (Some(total), Some(share), Some(runs)) = (num(1), num(2), num(3)) else {
                eprintln!("usage: healthy TOTAL SHARE RUNS [1pt|2x|p99 [P0]]");
                std::process::exit(2);
            };
            let Some(stage) = STAGES.iter().position(|s| (s.0 - share).abs() < 1e-9) else {
                eprintln!("SHARE must be one of the standard stages' (0.01 0.05 0.25 0.5 1)");
                std::process::exit(2);
            };
            let effect = match args.get(4).map(String::as_str) {
                Some("2x") => Effect::Times(2.0),
                // `latency p99 > 2x py2`: py3's share of requests above the bucket, against
                // py2's share there, with 1% (py3's p99 at the bucket) as the alternative.
                Some("p99") => Effect::ShareAbove(0.01),
                _ => Effect::Above(0.01),
            };
            healthy(total, stage, runs as u64, effect, num(5).unwrap_or(P0));
        }
        "cell" => {
            let num = |i: usize| args.get(i).and_then(|a| a.parse::<f64>().ok());
            let (Some(total), Some(share), Some(broken), Some(runs)) =
                (num(1), num(2), num(3), num(4))
            else {
                eprintln!("usage: cell TOTAL SHARE BROKEN RUNS [2x]");
                std::process::exit(2);
            };
            let Some(stage) = STAGES.iter().position(|s| (s.0 - share).abs() < 1e-9) else {
                eprintln!("SHARE must be one of the standard stages' (0.01 0.05 0.25 0.5 1)");
                std::process::exit(2);
            };
            let effect = match args.get(5).map(String::as_str) {
                Some("2x") => Effect::Times(2.0),
                _ => Effect::Above(0.01),
            };
            cell(total, stage, broken, runs as u64, effect);
        }
        other => {
            eprintln!("unknown mode {other}: table, issue, cell, healthy, calibrate or crosscheck");
            std::process::exit(2);
        }
    }
}

/// For each cell, the smallest constant that keeps 99% of healthy stages quiet, for the
/// smallest threshold the calibration covers (`error_rate > 2x py2`: with py2 at 0.1%, the same
/// as `error_rate > 0.1%`; larger thresholds need less). Each run records the largest margin of
/// a whole healthy stage with the constant at 0: the constant that would have kept it quiet.
fn calibrate(runs: u64, effect: Effect, only_hold: Option<u64>) {
    println!(
        "| py3 traffic (total x share) | hold | C for 1% | C for 0.5% | windows of the top 1% | rolled back at C in use | seconds |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut needed = vec![f64::NEG_INFINITY; STAGES.len()];
    for (stage, &(share, hold)) in STAGES.iter().enumerate() {
        if only_hold.is_some_and(|h| h != hold) {
            continue;
        }
        // Each stage alone, with the constant at 0: its largest margin is the constant it needs.
        let zero = Ladder::single(scrape_secs(), LONGEST_HOLD, hold * 3600, 0.0);
        for &total in TOTALS {
            let started = Instant::now();
            let s = scenario(total, stage, None, effect, &zero);
            let mut largest: Vec<(f64, usize)> =
                par_runs(&s, runs, seed_base(17_000) + stage as u64)
                    .iter()
                    .map(|o| (o.largest_margin, o.largest_rung))
                    .collect();
            largest.sort_by(|a, b| a.0.total_cmp(&b.0));
            let n = largest.len() as f64;
            let at = |q: f64| largest[((q * n).ceil() as usize).clamp(1, largest.len()) - 1].0;
            let (c, c2) = (at(0.99), at(0.995));
            needed[stage] = needed[stage].max(c);
            let in_use = ladder::constant(hold * 3600, scrape_secs());
            let over = largest.iter().filter(|m| m.0 > in_use).count();
            let top = (largest.len() / 100).max(1);
            let mut top_windows: Vec<u64> = largest[largest.len() - top..]
                .iter()
                .map(|(_, r)| zero.rungs[*r].window_secs)
                .collect();
            top_windows.sort_unstable();
            println!(
                "| {} req/s ({} x {}%) | {}h | {:.2} | {:.2} | {} to {} s (median {}) | {} of {} | {:.0} |",
                fmt_rate(total * share),
                total,
                share * 100.0,
                hold,
                c,
                c2,
                top_windows[0],
                top_windows[top_windows.len() - 1],
                top_windows[top_windows.len() / 2],
                over,
                largest.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("\n| hold | C needed (the worst cell's 99th percentile) | in use |\n|---|---|---|");
    for (stage, &(_, hold)) in STAGES.iter().enumerate() {
        if only_hold.is_some_and(|h| h != hold) {
            continue;
        }
        println!(
            "| {hold}h | {:.2} | {} |",
            needed[stage],
            ladder::constant(hold * 3600, scrape_secs())
        );
    }
}

/// The short rungs' constant (`stats::ladder::SHORT_CALIBRATION`): healthy stages of each hold
/// and traffic, every rung at constant 0, the largest margin of the short rungs and of the
/// others recorded. For each candidate short constant, the stages the short rungs alone roll
/// back, and those the whole ladder does with the long rungs at the calibrated `C(T)` (at the
/// scrape interval in use: `stats::ladder::constant`). Same seeds as `calibrate`.
/// `CANARYC_LONG="7,8.1"` puts the long rungs at each of those constants instead (one row
/// each, from the same simulated stages); `CANARYC_TOTALS="1,10"` runs only those totals.
fn short(runs: u64, only_hold: Option<u64>, candidates: &[f64], effect: Effect) {
    let list = |name: &str| -> Option<Vec<f64>> {
        std::env::var(name)
            .ok()
            .map(|l| l.split(',').filter_map(|c| c.parse().ok()).collect())
    };
    let (long_given, totals) = (list("CANARYC_LONG"), list("CANARYC_TOTALS"));
    print!("| py3 traffic (total x share) | hold | long rungs at C |");
    for c in candidates {
        print!(" short at {c}: short alone / all |");
    }
    println!(" seconds |");
    println!("|---|---|---|{}---|", "---|".repeat(candidates.len()));
    for (stage, &(share, hold)) in STAGES.iter().enumerate() {
        if only_hold.is_some_and(|h| h != hold) {
            continue;
        }
        let zero = Ladder::single(scrape_secs(), LONGEST_HOLD, hold * 3600, 0.0);
        let longs = long_given
            .clone()
            .unwrap_or_else(|| vec![ladder::constant(hold * 3600, scrape_secs())]);
        for &total in TOTALS {
            if totals.as_ref().is_some_and(|t| !t.contains(&total)) {
                continue;
            }
            let started = Instant::now();
            let s = scenario(total, stage, None, effect, &zero);
            let outcomes = par_runs(&s, runs, seed_base(17_000) + stage as u64);
            let n = outcomes.len();
            let seconds = started.elapsed().as_secs_f64();
            for &c in &longs {
                let long = outcomes.iter().filter(|o| o.largest_long > c).count();
                print!(
                    "| {} req/s ({} x {}%) | {}h | {} of {n} at {c:.2} |",
                    fmt_rate(total * share),
                    total,
                    share * 100.0,
                    hold,
                    long
                );
                for &cs in candidates {
                    let alone = outcomes.iter().filter(|o| o.largest_short > cs).count();
                    let all = outcomes
                        .iter()
                        .filter(|o| o.largest_short > cs || o.largest_long > c)
                        .count();
                    print!(
                        " {alone} / {all} ({:.2}%) |",
                        100.0 * upper_95(all as u64, n as u64)
                    );
                }
                println!(" {seconds:.0} |");
            }
        }
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 1.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

fn fmt_count(n: f64) -> String {
    if n < 10.0 {
        format!("{n:.1}")
    } else {
        format!("{n:.0}")
    }
}

fn fmt_secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn table(effect: Effect, runs: u64, healthy_runs: u64) {
    let ladder = standard();
    let floor = floor_secs();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| py3 traffic (total x share) | hold | broken | limit | median | p90 | median / limit | target met | preview | preview / median | failed (sim / preview) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    let mut misses = 0;
    for &total in TOTALS {
        for stage in 0..STAGES.len() {
            let (share, hold) = STAGES[stage];
            for &broken in BROKEN {
                let s = scenario(total, stage, Some(broken), effect, &ladder);
                let outcomes = par_runs(&s, runs, 1000 + stage as u64);
                let median = simulate::quantile(&outcomes, 0.5);
                let p90 = simulate::quantile(&outcomes, 0.9);
                // The evidence's own time, plus the median delay of any rule on Prometheus: a
                // failure waits half a scrape interval to be scraped and half an evaluation
                // interval to be evaluated (one interval, in all, at the median).
                let limit = ladder
                    .at_share(share)
                    .limit_secs(effect, total * share, broken, P0)
                    .map(|l| l + median_delay());
                let fits = limit.is_some_and(|l| l <= (hold * 3600) as f64);
                let target = limit.map(|l| (1.25 * l).max(floor));
                let met = match (fits, median, target) {
                    (false, _, _) => "-",
                    (true, Some(m), Some(t)) if m <= t => "yes",
                    _ => "NO",
                };
                if met == "NO" || (broken >= 1.0 && median.is_none()) {
                    misses += 1;
                }
                let previous = if share >= 1.0 {
                    STAGES[stage - 1].0
                } else {
                    share
                };
                let baseline = total * (1.0 - previous) * 86_400.0;
                let preview = canaryc::stats::preview::detect(
                    &ladder.at_share(share),
                    effect,
                    P0,
                    broken,
                    total * share,
                    baseline,
                );
                let failed = simulate::median_failed(&outcomes);
                let _ = writeln!(
                    out,
                    "| {} req/s ({} x {}%) | {}h | {}% | {} | {} | {} | {} | {} | {} | {} | {} |",
                    fmt_rate(total * share),
                    total,
                    share * 100.0,
                    hold,
                    broken * 100.0,
                    limit.map_or("none".into(), fmt_secs),
                    median.map_or("not caught".into(), fmt_secs),
                    p90.map_or("not caught".into(), fmt_secs),
                    match (median, limit) {
                        (Some(m), Some(l)) => format!("{:.2}", m / l.max(1e-9)),
                        _ => "-".into(),
                    },
                    met,
                    preview.map_or("none".into(), |p| fmt_secs(p.secs)),
                    match (preview, median) {
                        (Some(p), Some(m)) => format!("{:.2}", p.secs / m),
                        _ => "-".into(),
                    },
                    match preview {
                        Some(p) if median.is_some() =>
                            format!("{} / {}", fmt_count(failed), fmt_count(p.failed)),
                        _ => "-".into(),
                    }
                );
            }
            println!("{out}");
            out.clear();
        }
    }
    if healthy_runs == 0 {
        println!("\ncells missing a target: {misses}");
        return;
    }
    println!("\n| py3 traffic | stage | false rollbacks per stage (healthy py3 at 0.1%) |");
    println!("|---|---|---|");
    for &total in TOTALS {
        for (stage, &(share, hold)) in STAGES.iter().enumerate() {
            let s = scenario(total, stage, None, effect, &ladder);
            let outcomes = par_runs(&s, healthy_runs, 5000 + stage as u64);
            let fired = outcomes
                .iter()
                .filter(|o| o.fired_after_secs.is_some())
                .count();
            println!(
                "| {} req/s ({} x {}%) | {}h | {} of {} ({:.2}%) |",
                fmt_rate(total * share),
                total,
                share * 100.0,
                hold,
                fired,
                outcomes.len(),
                100.0 * fired as f64 / outcomes.len() as f64
            );
        }
    }
    println!("\ncells missing a target: {misses}");
}

/// One row of issue 13's table.
struct IssueCell {
    /// Requests per second to the service.
    total: f64,
    /// Index in [`STAGES`].
    stage: usize,
    /// The statistical limit the issue quotes at 2% and at 100% broken, seconds (`None`:
    /// "< 0.1 min").
    limits: [Option<f64>; 2],
    /// The old fixed-threshold rule's median time to detect at 0.5, 2, 10 and 100%.
    old_rule: [&'static str; 4],
}

const ISSUE_CELLS: &[IssueCell] = &[
    IssueCell {
        total: 1.0,
        stage: 0,
        limits: [Some(7.7 * 3600.0), Some(2.7 * 60.0)],
        old_rule: ["never"; 4],
    },
    IssueCell {
        total: 1.0,
        stage: 2,
        limits: [Some(24.0 * 60.0), Some(0.1 * 60.0)],
        old_rule: ["never"; 4],
    },
    IssueCell {
        total: 10.0,
        stage: 0,
        limits: [Some(55.0 * 60.0), Some(0.3 * 60.0)],
        old_rule: ["never"; 4],
    },
    IssueCell {
        total: 10.0,
        stage: 2,
        limits: [Some(2.7 * 60.0), None],
        old_rule: ["37 h", "7.6 min", "5.7 min", "5.4 min"],
    },
    IssueCell {
        total: 1000.0,
        stage: 1,
        limits: [Some(0.2 * 60.0), None],
        old_rule: ["never", "7.5 min", "5.6 min", "5.4 min"],
    },
];

/// Issue 13's table again, with the sequential rules: the median and p90 time to detect
/// against the limit the issue quotes (at 2% and 100%) and against this bench's own limit (every
/// rate), and the target the issue sets: at most 1.25 times the quoted limit, or one scrape plus
/// one evaluation (30 s) where that is longer. Same seeds as `table`: the rows are its rows.
fn issue(runs: u64) {
    let ladder = standard();
    let effect = Effect::Above(0.01);
    let floor = floor_secs();
    println!(
        "| py3 traffic (total x share) | broken | old rule (issue) | median | p90 | limit (issue) | median / issue's limit | target (issue) met | limit (bench) | median / bench's limit | preview |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut misses = 0;
    for cell in ISSUE_CELLS {
        let (total, stage, quoted, old) = (cell.total, cell.stage, cell.limits, cell.old_rule);
        let share = STAGES[stage].0;
        for (b, &broken) in BROKEN.iter().enumerate() {
            let s = scenario(total, stage, Some(broken), effect, &ladder);
            let outcomes = par_runs(&s, runs, 1000 + stage as u64);
            let median = simulate::quantile(&outcomes, 0.5);
            let p90 = simulate::quantile(&outcomes, 0.9);
            // The issue quotes limits for 2% (index 1) and 100% (index 3) only.
            let issue_limit = match b {
                1 => Some(quoted[0]),
                3 => Some(quoted[1]),
                _ => None,
            };
            let target = issue_limit.map(|l| l.map_or(floor, |l| (1.25 * l).max(floor)));
            let met = match (target, median) {
                (None, _) => "-",
                (Some(t), Some(m)) if m <= t => "yes",
                _ => "NO",
            };
            misses += usize::from(met == "NO");
            let own = ladder
                .at_share(share)
                .limit_secs(effect, total * share, broken, P0)
                .map(|l| l + median_delay());
            let preview = preview_of(&ladder, effect, total, stage, broken);
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => format!("{:.2}", a / b.max(1e-9)),
                _ => "-".into(),
            };
            println!(
                "| {} req/s ({} x {}%) | {}% | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_rate(total * share),
                total,
                share * 100.0,
                broken * 100.0,
                old[b],
                median.map_or("not caught".into(), fmt_secs),
                p90.map_or("not caught".into(), fmt_secs),
                match issue_limit {
                    Some(Some(l)) => fmt_secs(l),
                    Some(None) => "< 6 s".into(),
                    None => "-".into(),
                },
                ratio(median, issue_limit.flatten()),
                met,
                own.map_or("none".into(), fmt_secs),
                ratio(median, own),
                preview.map_or("none".into(), |p| fmt_secs(p.secs)),
            );
        }
    }
    println!("\ncells missing the issue's target: {misses}");
}

/// The preview of one cell, as `check` computes it: the stage's own thresholds, py2's last day
/// (at the previous stage's share, for the 100% stage) as the baseline.
fn preview_of(
    ladder: &Ladder,
    effect: Effect,
    total: f64,
    stage: usize,
    broken: f64,
) -> Option<canaryc::stats::preview::Detection> {
    let share = STAGES[stage].0;
    let previous = if share >= 1.0 {
        STAGES[stage - 1].0
    } else {
        share
    };
    canaryc::stats::preview::detect(
        &ladder.at_share(share),
        effect,
        P0,
        broken,
        total * share,
        total * (1.0 - previous) * 86_400.0,
    )
}

/// `table`'s preview column alone (no simulation): what `check` would print for every cell.
fn preview_only() {
    let ladder = standard();
    let effect = Effect::Above(0.01);
    println!(
        "| py3 traffic (total x share) | hold | broken | preview | failed |\n|---|---|---|---|---|"
    );
    for &total in TOTALS {
        for (stage, &(share, hold)) in STAGES.iter().enumerate() {
            for &broken in BROKEN {
                let p = preview_of(&ladder, effect, total, stage, broken);
                println!(
                    "| {} req/s ({} x {}%) | {}h | {}% | {} | {} |",
                    fmt_rate(total * share),
                    total,
                    share * 100.0,
                    hold,
                    broken * 100.0,
                    p.map_or("none".into(), |p| fmt_secs(p.secs)),
                    p.map_or("-".into(), |p| fmt_count(p.failed)),
                );
            }
        }
    }
}

/// One cell of `table` (same seeds: its first runs are that table's), with the median's
/// sampling error: the order statistics that bracket it with about 95% confidence.
fn cell(total: f64, stage: usize, broken: f64, runs: u64, effect: Effect) {
    let ladder = standard();
    let (share, hold) = STAGES[stage];
    let started = Instant::now();
    let s = scenario(total, stage, Some(broken), effect, &ladder);
    let outcomes = par_runs(&s, runs, 1000 + stage as u64);
    let mut times: Vec<f64> = outcomes.iter().filter_map(|o| o.fired_after_secs).collect();
    times.sort_by(f64::total_cmp);
    let n = outcomes.len() as f64;
    // Caught runs are a prefix of all runs sorted by time (the rest never fire).
    let at = |rank: f64| times.get(rank.max(0.0) as usize).copied();
    let half = 0.98 * n.sqrt();
    let (lo, hi) = (at((n / 2.0 - half).floor()), at((n / 2.0 + half).ceil()));
    let median = simulate::quantile(&outcomes, 0.5);
    let preview = preview_of(&ladder, effect, total, stage, broken);
    let show = |v: Option<f64>| v.map_or("not caught".into(), fmt_secs);
    println!(
        "| {} req/s ({} x {}%) | {}h | {}% | {} runs | median {} (95%: {} to {}) | p90 {} | preview {} | preview / median {} | {:.0} s |",
        fmt_rate(total * share),
        total,
        share * 100.0,
        hold,
        broken * 100.0,
        outcomes.len(),
        show(median),
        show(lo),
        show(hi),
        show(simulate::quantile(&outcomes, 0.9)),
        preview.map_or("none".into(), |p| fmt_secs(p.secs)),
        match (preview, median) {
            (Some(p), Some(m)) => format!("{:.2}", p.secs / m),
            _ => "-".into(),
        },
        started.elapsed().as_secs_f64()
    );
}

/// False rollbacks of one cell over `runs` healthy stages (py2 and py3 failing at `p0`), with the one-sided 95% upper
/// confidence bound on the rate (Clopper-Pearson): the claim "at most 1% per stage" needs the
/// bound, not only the estimate, under 1%. Same seeds as `table`'s healthy runs (a superset),
/// unless `CANARYC_SEED` says otherwise. Every stage is evaluated over its whole hold, so the
/// largest margin of each is known too: the stages that would roll back with every threshold
/// higher by 0.25 to 2 nats (from the same simulated stages: reading a constant off them is
/// not a validation of it).
fn healthy(total: f64, stage: usize, runs: u64, effect: Effect, p0: f64) {
    let ladder = standard();
    let (share, hold) = STAGES[stage];
    let started = Instant::now();
    let s = Scenario {
        p0,
        whole_hold: true,
        ..scenario(total, stage, None, effect, &ladder)
    };
    let outcomes = par_runs(&s, runs, seed_base(5000) + stage as u64);
    let fired = outcomes
        .iter()
        .filter(|o| o.fired_after_secs.is_some())
        .count();
    let n = outcomes.len();
    println!(
        "| {} req/s ({} x {}%) | {}h | {} of {} ({:.2}%) | {:.2}% | {:.0} s |",
        fmt_rate(total * share),
        total,
        share * 100.0,
        hold,
        fired,
        n,
        100.0 * fired as f64 / n as f64,
        100.0 * upper_95(fired as u64, n as u64),
        started.elapsed().as_secs_f64()
    );
    let higher: Vec<String> = [0.25, 0.5, 1.0, 1.5, 2.0]
        .iter()
        .map(|d| {
            let k = outcomes.iter().filter(|o| o.largest_margin > *d).count();
            format!("+{d}: {k} ({:.2}%)", 100.0 * upper_95(k as u64, n as u64))
        })
        .collect();
    println!(
        "  thresholds higher by (rolled back, bound): {}",
        higher.join(", ")
    );
    // When each rolled-back stage first fired, and the rung of its largest margin.
    for (i, o) in outcomes.iter().enumerate() {
        if let Some(t) = o.fired_after_secs {
            println!(
                "  stage {i}: fired after {:.2} h, largest margin {:.2} on rung {} s",
                t / 3600.0,
                o.largest_margin,
                ladder.rungs[o.largest_rung].window_secs
            );
        }
    }
}

/// The one-sided 95% Clopper-Pearson upper bound on a rate seen `k` times in `n` trials: the
/// `p` at which `k` or fewer would be seen only 5% of the time.
fn upper_95(k: u64, n: u64) -> f64 {
    if k >= n {
        return 1.0;
    }
    let ln_choose = |i: u64| -> f64 {
        (0..i)
            .map(|j| ((n - j) as f64).ln() - ((j + 1) as f64).ln())
            .sum()
    };
    let cdf = |p: f64| -> f64 {
        (0..=k)
            .map(|i| (ln_choose(i) + i as f64 * p.ln() + (n - i) as f64 * (-p).ln_1p()).exp())
            .sum()
    };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Random counter paths through the real generated rules (promtool) and through the reference
/// evaluator: at every checked evaluation, does `margin > 0` agree? Paths vary traffic, py2's
/// rate, when and how badly py3 breaks, a failure series that only appears with the first
/// failure, and a py3 restart that resets its counters.
fn crosscheck(paths: u64) {
    use canaryc::stats::evaluate::{ErrorRule, LadderTest, Requests};
    use canaryc::stats::increase::Sampled;
    use canaryc::stats::random::Rng;

    let plan = r#"plan crosscheck {
  python = 2.7 -> 3.12
  infra  = bare-metal(router: nginx)
  monitor { source = app }
  service { command py2 = "/srv/x/venv/bin/x" command py3 = "/srv/x/venv3/bin/x" port = 8000 }
  rollback when { error_rate > 1% }
  schedule {
    stage canary-5pct { traffic = 5%   hold = 2h }
    stage half        { traffic = 50%  hold = 24h }
    stage full        { traffic = 100% hold = 48h }
  }
}
"#;
    let mut sources = canaryc::source::SourceMap::new();
    let root = sources.add("crosscheck.plan", plan.to_string());
    let today = canaryc::date::Date::parse("2026-01-01").expect("a date");
    let analysis = canaryc::check::check(&mut sources, root, &canaryc::check::Options { today });
    let Some(checked) = analysis.plan else {
        eprintln!("crosscheck plan does not check: {:?}", analysis.diagnostics);
        std::process::exit(1);
    };
    let (ir, _) = canaryc::ir::lower(&checked, None, None);
    let files = canaryc::emit::emit(&ir);
    let rules = files
        .iter()
        .find(|f| f.name == "prometheus-alerts.yaml")
        .map(|f| f.contents.clone())
        .unwrap_or_default();
    let trigger = ir
        .triggers
        .iter()
        .find(|t| t.effect.is_some())
        .expect("an error-rate trigger");
    let dir = std::env::temp_dir().join(format!("canaryc-crosscheck-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("prometheus-alerts.yaml"), &rules);

    let step: i64 = 15;
    let every: u64 = 60;
    let mut tests = Vec::new();
    let mut checks = 0;
    let mut fired_checks = 0;
    let mut rng = Rng::new(20_260_101);
    for path in 0..paths {
        let intervals = 240 + (rng.uniform() * 720.0) as usize; // 1 to 4 hours
        let py2_rate = 1.0 + rng.uniform() * 60.0; // per scrape
        let p0 = 0.0005 + rng.uniform() * 0.01;
        let py3_rate = 0.05 + rng.uniform() * rng.uniform() * 20.0;
        let broken =
            [None, Some(0.005), Some(0.02), Some(0.1), Some(1.0)][(rng.uniform() * 5.0) as usize];
        let breaks_at = (rng.uniform() * intervals as f64) as usize;
        let restart_at = (rng.uniform() < 0.3).then(|| (rng.uniform() * intervals as f64) as usize);
        let counters =
            |rate: f64, fail: &dyn Fn(usize) -> f64, rng: &mut Rng, restart: Option<usize>| {
                let (mut ok, mut failed) = (0.0, 0.0);
                let (mut oks, mut fails) = (Vec::new(), Vec::new());
                for i in 0..=intervals {
                    if Some(i) == restart {
                        ok = 0.0;
                        failed = 0.0;
                    }
                    oks.push(ok);
                    fails.push(failed);
                    let p = fail(i);
                    ok += rng.poisson(rate * (1.0 - p));
                    failed += rng.poisson(rate * p);
                }
                (oks, fails)
            };
        let (ok2, failed2) = counters(py2_rate, &|_| p0, &mut rng, None);
        let fail3 = move |i: usize| match broken {
            Some(b) if i >= breaks_at => b,
            _ => p0,
        };
        let (ok3, failed3) = counters(py3_rate, &fail3, &mut rng, restart_at);
        // py3's failure series exists from its first failure on (as exporters create it).
        let born = failed3
            .iter()
            .position(|v| *v > 0.0)
            .unwrap_or(failed3.len());
        let times = |n: usize, from: usize| -> Vec<i64> {
            (from..n).map(|i| i as i64 * step * 1000).collect()
        };
        let sampled =
            |v: &[f64], from: usize| Sampled::new(times(v.len(), from), v[from..].to_vec());
        let py2 = Requests {
            ok: Some(sampled(&ok2, 0)),
            failed: Some(sampled(&failed2, 0)),
        };
        let py3 = Requests {
            ok: Some(sampled(&ok3, 0)),
            failed: (born < failed3.len()).then(|| sampled(&failed3, born)),
        };
        let mut rule = ErrorRule::new(LadderTest {
            ladder: ir.detection.ladder.clone(),
            effect: trigger.effect.expect("effect"),
        });
        let end = intervals as u64 * step as u64;
        let mut exprs = Vec::new();
        for t in (0..=end).step_by(every as usize) {
            let e = rule.eval(t as i64 * 1000, &py2, &py3);
            // Check one evaluation in four, and every one that fires.
            if t % (4 * every) != 0 && !e.margins.fires() {
                continue;
            }
            let expected = match e.margins.max() {
                Some(m) => format!(
                    "[{{labels: '{{plan=\"crosscheck\", service=\"crosscheck\"}}', value: {}}}]",
                    u8::from(m > 0.0)
                ),
                None => "[]".to_string(),
            };
            checks += 1;
            fired_checks += usize::from(e.margins.fires());
            exprs.push(format!(
                "      - expr: 'max by (plan, service) (canary:py3_error_ratio:margin{{plan=\"crosscheck\"}}) > bool 0'\n        eval_time: {t}s\n        exp_samples: {expected}\n"
            ));
        }
        let values = |v: &[f64], from: usize| -> String {
            v.iter()
                .enumerate()
                .map(|(i, x)| {
                    if i < from {
                        "_".to_string()
                    } else {
                        format!("{x}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut test = format!(
            "  - name: path {path}\n    interval: {step}s\n    input_series:\n      - series: 'http_requests_total{{version=\"py2\",service=\"crosscheck\",status=\"200\"}}'\n        values: '{}'\n      - series: 'http_requests_total{{version=\"py2\",service=\"crosscheck\",status=\"500\"}}'\n        values: '{}'\n      - series: 'http_requests_total{{version=\"py3\",service=\"crosscheck\",status=\"200\"}}'\n        values: '{}'\n",
            values(&ok2, 0),
            values(&failed2, 0),
            values(&ok3, 0)
        );
        if born < failed3.len() {
            test.push_str(&format!(
                "      - series: 'http_requests_total{{version=\"py3\",service=\"crosscheck\",status=\"500\"}}'\n        values: '{}'\n",
                values(&failed3, born)
            ));
        }
        test.push_str("    promql_expr_test:\n");
        for e in exprs {
            test.push_str(&e);
        }
        tests.push(test);
    }
    let file = format!(
        "rule_files: [prometheus-alerts.yaml]\nevaluation_interval: {every}s\ntests:\n{}",
        tests.join("")
    );
    let _ = std::fs::write(dir.join("crosscheck.test.yaml"), file);
    let out = std::process::Command::new("promtool")
        .args(["test", "rules", "crosscheck.test.yaml"])
        .current_dir(&dir)
        .output();
    let Ok(out) = out else {
        eprintln!("promtool not found");
        std::process::exit(2);
    };
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let failures = text.matches("    expr:").count();
    if failures > 0 || !out.status.success() {
        println!("{}", text.lines().take(60).collect::<Vec<_>>().join("\n"));
    }
    println!(
        "crosscheck: {paths} random counter paths, {checks} checked evaluations ({fired_checks} where the reference fires): promtool agrees on {} of {checks}",
        checks - failures.min(checks)
    );
    println!("files in {}", dir.display());
}

/// The floor under every rule at low traffic: a py3 failing every request is seen only as its
/// failures arrive, are scraped and are evaluated. For a rule that fires on the `k`-th failure
/// after the fault (an oracle: it knows when the fault was), the median time from the fault to
/// the first evaluation that has scraped it, with the simulator's timing (scrapes at a random
/// phase, evaluations every scrape interval, the fault at random in the first). And the least
/// any rule that fires on `k` failures costs a healthy py3 at py2's rate: the chance per stage
/// that some scrape interval holds `k` failures and no success (the pattern least likely
/// under health; a rule that fires on it fires on every stage that shows it).
fn floor(runs: u64) {
    use canaryc::stats::random::Rng;
    let step = scrape_secs() as f64;
    let every = eval_secs() as f64;
    println!(
        "| py3 traffic | stage | k | oracle median (fault to alert) | p90 | false rollbacks per stage of the least-false k-failure pattern |"
    );
    println!("|---|---|---|---|---|---|");
    for &(total, stage) in &[(1.0, 0usize), (10.0, 0), (1.0, 2)] {
        let (share, hold) = STAGES[stage];
        let rate = total * share;
        for k in 1..=3u32 {
            let mut rng = Rng::new(99 + u64::from(k));
            let mut times: Vec<f64> = (0..runs)
                .map(|_| {
                    let phase = rng.uniform() * step;
                    let fault = rng.uniform() * step;
                    let mut at = fault;
                    for _ in 0..k {
                        at += -(1.0 - rng.uniform()).ln() / rate;
                    }
                    // The next scrape at or after the k-th failure, then the next evaluation.
                    let scrape = phase + ((at - phase) / step).ceil() * step;
                    let eval = (scrape / every).ceil() * every;
                    eval - fault
                })
                .collect();
            times.sort_by(f64::total_cmp);
            let q = |x: f64| times[((x * times.len() as f64) as usize).min(times.len() - 1)];
            // Healthy: per interval, k failures (Poisson) and no success.
            let mean = rate * step;
            let ln_fact: f64 = (1..=k).map(|i| f64::from(i).ln()).sum();
            let per = (-(mean * P0) + f64::from(k) * (mean * P0).ln() - ln_fact).exp()
                * (-(mean * (1.0 - P0))).exp();
            let intervals = (hold * 3600) as f64 / step;
            let stage_rate = 1.0 - (-per * intervals).exp();
            println!(
                "| {} req/s ({} x {}%) | {}h | {k} | {} | {} | {:.4}% |",
                fmt_rate(rate),
                total,
                share * 100.0,
                hold,
                fmt_secs(q(0.5)),
                fmt_secs(q(0.9)),
                100.0 * stage_rate
            );
        }
    }
}
