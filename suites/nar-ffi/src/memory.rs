//! Resident memory of this process, and the leak verdict over a series of samples.

use serde::Serialize;

/// Resident set size in bytes, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("statm resident field");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc_page_size() };
    pages * page
}

unsafe fn libc_page_size() -> u64 {
    unsafe extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_PAGESIZE: i32 = 30;
    // SAFETY: a plain libc query.
    (unsafe { sysconf(SC_PAGESIZE) }).max(4096) as u64
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Iteration (generation or init/shutdown cycle) after which the sample was taken.
    pub iteration: u64,
    /// Tokens generated so far.
    pub tokens: u64,
    pub rss_bytes: u64,
}

/// Jepsen-style verdict of a leak check: valid or not, with the figures that decided it.
#[derive(Debug, Clone, Serialize)]
pub struct LeakVerdict {
    pub valid: bool,
    pub what: String,
    pub warmup_iterations: u64,
    /// RSS at the end of warm-up and at the end.
    pub rss_after_warmup: u64,
    pub rss_end: u64,
    pub rss_peak: u64,
    /// Least-squares slope of RSS after warm-up, per token and per iteration.
    pub growth_bytes_per_token: f64,
    pub growth_bytes_per_1000_tokens: f64,
    pub growth_bytes_per_iteration: f64,
    pub bound: String,
    pub samples: Vec<Sample>,
}

impl LeakVerdict {
    pub fn summary(&self) -> String {
        format!(
            "{}: {} ({:.2} bytes/token = {:.0} bytes per 1,000 tokens, {:.0} bytes/iteration after {} warm-up iterations; RSS {} -> {} bytes, peak {}; bound {})",
            self.what,
            if self.valid { "no leak" } else { "LEAK" },
            self.growth_bytes_per_token,
            self.growth_bytes_per_1000_tokens,
            self.growth_bytes_per_iteration,
            self.warmup_iterations,
            self.rss_after_warmup,
            self.rss_end,
            self.rss_peak,
            self.bound
        )
    }
}

/// Slope of y over x by least squares.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx) * (x - mx)));
    if den == 0.0 { 0.0 } else { num / den }
}

/// Judges `samples` after `warmup` iterations: per token when tokens were generated, else per
/// iteration; valid when the growth is at most the bound.
pub fn judge(what: &str, samples: Vec<Sample>, warmup: u64, max_bytes_per_token: Option<f64>, max_bytes_per_iteration: f64) -> LeakVerdict {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.iteration >= warmup).collect();
    let per_token = slope(&after.iter().map(|s| (s.tokens as f64, s.rss_bytes as f64)).collect::<Vec<_>>());
    let per_iteration = slope(&after.iter().map(|s| (s.iteration as f64, s.rss_bytes as f64)).collect::<Vec<_>>());
    let valid = match max_bytes_per_token {
        Some(bound) => per_token <= bound,
        None => per_iteration <= max_bytes_per_iteration,
    };
    LeakVerdict {
        valid,
        what: what.to_string(),
        warmup_iterations: warmup,
        rss_after_warmup: after.first().map_or(0, |s| s.rss_bytes),
        rss_end: samples.last().map_or(0, |s| s.rss_bytes),
        rss_peak: samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        growth_bytes_per_token: per_token,
        growth_bytes_per_1000_tokens: per_token * 1000.0,
        growth_bytes_per_iteration: per_iteration,
        bound: match max_bytes_per_token {
            Some(b) => format!("{b} bytes/token"),
            None => format!("{max_bytes_per_iteration} bytes/iteration"),
        },
        samples,
    }
}

/// Writes the verdict to `target/mve-results/nar-ffi/<name>.json` and its plot next to it as
/// `<name>.svg`; returns the SVG's path.
pub fn record(name: &str, v: &LeakVerdict) -> std::path::PathBuf {
    let json = harness::results::write_json("nar-ffi", name, &serde_json::to_value(v).expect("verdict serialises")).expect("write result");
    let svg = json.with_extension("svg");
    std::fs::write(&svg, crate::plot::svg(v)).expect("write plot");
    eprintln!("{}\nseries: {}\nplot:   {}", v.summary(), json.display(), svg.display());
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_series_is_valid_and_a_growing_one_is_not() {
        let flat: Vec<Sample> = (0..50).map(|i| Sample { iteration: i, tokens: i * 10, rss_bytes: 100_000_000 + (i % 3) * 4096 }).collect();
        assert!(judge("flat", flat, 10, Some(64.0), 0.0).valid);
        let growing: Vec<Sample> = (0..50).map(|i| Sample { iteration: i, tokens: i * 10, rss_bytes: 100_000_000 + i * 16_000 }).collect();
        let v = judge("growing", growing, 10, Some(64.0), 0.0);
        assert!(!v.valid && (v.growth_bytes_per_token - 1600.0).abs() < 1.0, "{}", v.summary());
    }
}
