//! Property tests that reproduce: a fixed seed per test (printed, overridable) and failures kept in
//! the suite's `proptest-regressions/`, replayed first on every later run. Without both, the gate
//! samples different cases on every pull request and a failure found once is gone with its run.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// `MVE_PROPTEST_CASES` if set (a longer run), else the test's own number.
pub fn cases(default: u32) -> u32 {
    std::env::var("MVE_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

/// The seed of the property `name`: `MVE_PROPTEST_SEED` if set, else one derived from the name, so
/// that a gate test and its `nightly_` twin explore different cases, each the same on every run.
pub fn seed(name: &str) -> u64 {
    if let Some(s) = std::env::var("MVE_PROPTEST_SEED").ok().and_then(|s| s.parse().ok()) {
        return s;
    }
    // FNV-1a: stable across Rust versions, unlike the standard library's hasher.
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The configuration of the property `name` with `cases` cases (see [`cases`]), persisting failures
/// to `regressions` (a path under the suite, e.g.
/// `concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/ordering.txt")`). Prints the seed.
pub fn config(name: &str, cases: u32, regressions: &'static str) -> Config {
    let seed = seed(name);
    eprintln!("property {name}: seed {seed} (MVE_PROPTEST_SEED={seed} reproduces it), {cases} cases, failures kept in {regressions}");
    Config { cases, rng_seed: RngSeed::Fixed(seed), failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))), ..Config::default() }
}
