//! Differential property test: `classify` on chain equals the oracle, reverts included, on at least
//! 10,000 random loadouts per run, biased toward the rules' boundaries (see `strategy`).
//!
//! Each proptest case is a batch of up to 200 loadouts evaluated by concurrent `eth_call`s; on a
//! mismatch proptest shrinks the batch down to the one loadout that differs. The seed is fixed
//! (override with `L3_SEED=<u64>`), and failures are persisted in `proptest-regressions/` and
//! replayed first on every run. Throughput goes to target/mve-results/l3-calculations/.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures::StreamExt;
use l3_calculations::abi::classify_on_chain;
use l3_calculations::oracle;
use l3_calculations::strategy::{Loadout, loadout};
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};

const DEFAULT_SEED: u64 = 33_701;
const IN_FLIGHT: usize = 16;

/// The PR gate's size: 12 batches of up to 200 loadouts (each random, the seed fixed), over a
/// thousand in all; the nightly profile runs 120 batches, over ten thousand.
#[test]
fn classify_on_chain_equals_the_oracle_on_a_thousand_loadouts() {
    common::on_a_big_stack(|| run(12, 1_000, "differential"));
}

#[test]
fn nightly_classify_on_chain_equals_the_oracle_on_ten_thousand_loadouts() {
    common::on_a_big_stack(|| run(120, 10_000, "nightly_differential"));
}

fn run(batches: u32, min_loadouts: usize, result_name: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(common::Env::new()).expect("chain with contracts");
    let rules = env.d.rules(env.p());

    let seed = std::env::var("L3_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    println!("differential: seed {seed} (L3_SEED={seed} reproduces this run)");
    let config = Config {
        cases: batches,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/differential.txt")))),
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let evaluated = AtomicUsize::new(0);
    let reverts = AtomicUsize::new(0);
    let started = Instant::now();

    let result = runner.run(&proptest::collection::vec(loadout(), 1..=200), |batch| {
        let outcomes = rt.block_on(futures::stream::iter(batch.iter()).map(|l| classify_on_chain(&rules, &l.base, l.xp, &l.items)).buffered(IN_FLIGHT).collect::<Vec<_>>());
        evaluated.fetch_add(batch.len(), Ordering::Relaxed);
        for (l, chain) in batch.iter().zip(outcomes) {
            let chain = chain.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected = oracle::classify(&l.base, l.xp, &l.items);
            if expected.is_err() {
                reverts.fetch_add(1, Ordering::Relaxed);
            }
            if chain != expected {
                return Err(TestCaseError::fail(describe(l, &chain, &expected)));
            }
        }
        Ok(())
    });
    let elapsed = started.elapsed();
    let evaluated = evaluated.into_inner();
    let per_second = evaluated as f64 / elapsed.as_secs_f64();

    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, batch)) => {
            panic!("classify differs from the oracle (seed {seed}); minimal batch of {}:\n{reason}", batch.len())
        }
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
    let path = harness::results::write_json(
        "l3-calculations",
        result_name,
        &serde_json::json!({
            "seed": seed,
            "loadouts": evaluated,
            "reverts": reverts.load(Ordering::Relaxed),
            "seconds": elapsed.as_secs_f64(),
            "loadouts_per_second": per_second,
            "in_flight": IN_FLIGHT,
        }),
    )
    .unwrap();
    println!("differential: {evaluated} loadouts ({} reverting) in {:.1} s = {per_second:.0} loadouts/s; {}", reverts.load(Ordering::Relaxed), elapsed.as_secs_f64(), path.display());
    assert!(evaluated >= min_loadouts, "only {evaluated} loadouts evaluated; this test promises {min_loadouts}");
}

fn describe(l: &Loadout, chain: &Result<oracle::Outcome, oracle::RuleError>, expected: &Result<oracle::Outcome, oracle::RuleError>) -> String {
    format!("base {:?}\nxp {}\nitems {:#?}\nchain  {chain:?}\noracle {expected:?}", l.base, l.xp, l.items)
}
