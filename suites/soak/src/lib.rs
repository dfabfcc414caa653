//! The `soak` suite: the whole MVE (`harness::mve`) under its steady mixed load, plus NAR
//! generations the way the game client makes them, for `MVE_SOAK_DURATION`; see README.md.
//!
//! - [`sampler`]: every service's resident memory, open descriptors and restarts (from the
//!   container runtime), the readers' error rates and latency percentiles, the NAR client's memory
//!   and generations — one line per sample appended to `target/mve-results/soak/series.jsonl`, so
//!   an interrupted soak still leaves its series;
//! - [`drift`]: after warm-up, the growth of each series against its stated bound;
//! - [`nar`]: the C client running round after round (init → generate → free → shutdown).

pub mod drift;
pub mod nar;
pub mod sampler;

use std::time::Duration;

/// `MVE_SOAK_DURATION` (`90s`, `10m`, `48h`; plain seconds too), else 3 minutes.
pub fn duration() -> anyhow::Result<Duration> {
    match std::env::var("MVE_SOAK_DURATION") {
        Err(_) => Ok(Duration::from_secs(180)),
        Ok(v) => parse_duration(&v).ok_or_else(|| anyhow::anyhow!("MVE_SOAK_DURATION={v:?}: expected e.g. 90s, 10m, 48h")),
    }
}

pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (number, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        _ => return None,
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_parse_in_seconds_minutes_and_hours() {
        use super::parse_duration as p;
        use std::time::Duration as D;
        assert_eq!(p("90"), Some(D::from_secs(90)));
        assert_eq!(p("90s"), Some(D::from_secs(90)));
        assert_eq!(p("10m"), Some(D::from_secs(600)));
        assert_eq!(p("48h"), Some(D::from_secs(172_800)));
        assert_eq!(p("0s"), None);
        assert_eq!(p("ten"), None);
        assert_eq!(p("5d"), None);
    }
}
