//! The figures this run measured, side by side with their baselines.
//!
//! criterion reports each benchmark on its own. After it finishes, a bench
//! reads back the estimates criterion saved *in this run* (older files are
//! ignored, so a ratio never mixes two runs) and prints each measurement
//! against its baseline: the ratio, the time added, and the target.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

/// Reads criterion's estimates written since the bench process started.
pub struct Report {
    started: SystemTime,
    dir: Option<PathBuf>,
    out: String,
    measured: bool,
}

/// A measurement and its baseline, in nanoseconds per iteration.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// The baseline's typical time.
    pub baseline: f64,
    /// The measurement's typical time.
    pub measured: f64,
}

impl Pair {
    /// measured / baseline.
    pub fn ratio(&self) -> f64 {
        self.measured / self.baseline
    }

    /// What the measurement adds to its baseline, in nanoseconds.
    pub fn added(&self) -> f64 {
        self.measured - self.baseline
    }
}

impl Report {
    /// Starts the clock that tells this run's estimates from older ones.
    /// Call it first in `main`, before criterion runs.
    pub fn start(title: &str) -> Self {
        Self {
            started: SystemTime::now(),
            dir: criterion_dir(),
            out: format!("\n== {title}: this run's criterion estimates ==\n"),
            measured: false,
        }
    }

    /// Criterion's typical time for benchmark `id` (`group/function/value`)
    /// in nanoseconds per iteration: the slope of its linear fit, else its
    /// mean (what criterion prints as `time`); `None` when `id` was not
    /// measured in this run.
    pub fn nanos(&self, id: &str) -> Option<f64> {
        let path = self.dir.as_ref()?.join(id).join("new/estimates.json");
        let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
        if modified < self.started {
            return None;
        }
        let estimates: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        ["slope", "mean"]
            .iter()
            .find_map(|kind| estimates[kind]["point_estimate"].as_f64())
    }

    /// Adds a line comparing `measured` against `baseline`, with the time
    /// added per unit when one iteration is `per.0` units named `per.1`.
    /// Returns both times when both were measured in this run.
    pub fn compare(
        &mut self,
        label: &str,
        baseline: &str,
        measured: &str,
        per: Option<(f64, &str)>,
    ) -> Option<Pair> {
        let (Some(base), Some(meas)) = (self.nanos(baseline), self.nanos(measured)) else {
            let _ = writeln!(self.out, "{label}: not measured in this run");
            return None;
        };
        self.measured = true;
        let pair = Pair {
            baseline: base,
            measured: meas,
        };
        let _ = write!(
            self.out,
            "{label}: baseline {} | measured {} | ratio {:.3} ({:+.1}%) | added {}",
            human(base),
            human(meas),
            pair.ratio(),
            (pair.ratio() - 1.0) * 100.0,
            human(pair.added()),
        );
        if let Some((units, unit)) = per {
            let _ = write!(self.out, " = {}/{unit}", human(pair.added() / units));
        }
        self.out.push('\n');
        Some(pair)
    }

    /// Adds a line reporting a rate: `per_iter` units per iteration of `id`.
    /// Returns the rate per second when `id` was measured in this run.
    pub fn rate(&mut self, label: &str, id: &str, per_iter: f64, unit: &str) -> Option<f64> {
        let Some(ns) = self.nanos(id) else {
            let _ = writeln!(self.out, "{label}: not measured in this run");
            return None;
        };
        self.measured = true;
        let per_second = per_iter / (ns * 1e-9);
        let _ = writeln!(self.out, "{label}: {}{unit}/s", si(per_second));
        Some(per_second)
    }

    /// Adds a target line: what was aimed at, and whether this run met it.
    pub fn target(&mut self, aim: &str, met: bool) {
        let verdict = if met { "met" } else { "MISSED" };
        let _ = writeln!(self.out, "  target {aim}: {verdict}");
    }

    /// Adds a free-form line.
    pub fn note(&mut self, line: &str) {
        self.out.push_str(line);
        self.out.push('\n');
    }

    /// Prints the report, unless nothing was measured (`--test` or `--list`
    /// runs, or a filter that matched none of these benchmarks).
    pub fn print(self) {
        if self.measured {
            print!("{}", self.out);
        }
    }
}

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`,
/// else `criterion/` in the target directory this bench binary was built in
/// (`<target>/release/deps/<bench>`), which is what criterion finds through
/// `cargo metadata`.
fn criterion_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Some(PathBuf::from(home));
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Some(PathBuf::from(target).join("criterion"));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}

/// A duration in nanoseconds, with the unit that reads best.
pub fn human(ns: f64) -> String {
    let abs = ns.abs();
    if abs >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if abs >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if abs >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// A rate with an SI prefix and a trailing space before the unit.
pub fn si(value: f64) -> String {
    if value >= 1e9 {
        format!("{:.3} G", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.3} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.3} k", value / 1e3)
    } else {
        format!("{value:.1} ")
    }
}
