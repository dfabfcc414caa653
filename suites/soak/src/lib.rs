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

/// How much history the soak's anvil keeps: `MVE_SOAK_ANVIL=STATES[,BLOCKS]` (states in memory,
/// blocks whose transactions are kept), else the defaults below (README: why these).
pub fn anvil_history() -> anyhow::Result<(usize, Option<usize>)> {
    let Ok(v) = std::env::var("MVE_SOAK_ANVIL") else { return Ok((ANVIL_STATES, Some(ANVIL_BLOCKS))) };
    let mut it = v.split(',').map(|n| n.trim().parse::<usize>());
    match (it.next(), it.next()) {
        (Some(Ok(states)), None) => Ok((states, None)),
        (Some(Ok(states)), Some(Ok(blocks))) => Ok((states, Some(blocks))),
        _ => anyhow::bail!("MVE_SOAK_ANVIL={v:?}: expected STATES or STATES,BLOCKS"),
    }
}

/// The states anvil keeps: readers' answers are checked at their block within seconds (the
/// chain mines about one block a second, so 64 s of them). Few, because anvil 1.7.1's memory grows
/// with the chain by ~190 B a block per kept state ([`drift::anvil_kib_per_1000_blocks`]): 128
/// states grew ~25-50 KiB a block, 64 keep it near half that and the check loop a minute's slack.
pub const ANVIL_STATES: usize = 64;
/// The blocks whose logs anvil keeps: the events are checked once a minute, about 60 blocks.
pub const ANVIL_BLOCKS: usize = 300;
/// After each round of five chain transactions (mined together in one block).
pub const CHAIN_PACE: Duration = Duration::from_secs(1);
/// Robots and items the chain load mints at most: after that the chain's state stays the same
/// size, and so do the node's copies of its recent states (README: the chain node's memory).
/// About one operation in five mints, five a block: reached before the node's window of
/// [`ANVIL_BLOCKS`] is full, which is where the drift verdict's warm-up ends at the earliest.
pub const ENTITY_CAP: usize = 250;

/// Fails (loudly, as [`harness::Error::PrunedState`]) when `from` lies outside the last `blocks`
/// blocks, whose logs the soak's anvil keeps: a check there would compare with logs the node
/// dropped and see them missing.
pub async fn ensure_retained(p: &alloy::providers::DynProvider, from: u64, blocks: u64) -> anyhow::Result<()> {
    use alloy::providers::Provider;
    let head = p.get_block_number().await?;
    if head.saturating_sub(from) >= blocks {
        return Err(harness::Error::PrunedState { what: format!("the events from block {from}"), block: from, head }.into());
    }
    Ok(())
}

/// The soak's verdict on `samples`, here: the drift rules with the soak's chain settings, and the
/// 48-hour footprint against this machine (the soak and `soak_judge` both judge through this).
pub fn verdict(samples: &[sampler::Sample]) -> anyhow::Result<drift::Drift> {
    let mut verdict = drift::judge_settled(samples, ANVIL_BLOCKS as u64, anvil_history()?.0);
    verdict.judge_footprint(drift::Machine::here()?);
    Ok(verdict)
}

/// The default soak: long enough that the system settles (the node's log window filled and the
/// mints done, about 6 minutes here) and about as long again is judged after it.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(15 * 60);

/// `MVE_SOAK_DURATION` (`90s`, `10m`, `48h`; plain seconds too), else [`DEFAULT_DURATION`].
pub fn duration() -> anyhow::Result<Duration> {
    match std::env::var("MVE_SOAK_DURATION") {
        Err(_) => Ok(DEFAULT_DURATION),
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
