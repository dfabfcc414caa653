//! Crash safety: SIGKILL the indexer's container at random points of a large catch-up, start it
//! again each time, and check that the result has no gap, no duplicate and no difference.

mod common;

use std::time::Duration;

use common::{Env, assert_consistent, orphans, seed};
use harness::generator::Workload;
use rand::{Rng, SeedableRng};

/// The PR gate's catch-ups: 300 operations, 4 kills each; the `nightly_` twins: 700 and 8.
const GATE: Size = Size { operations: 300, kills: 4 };
const NIGHTLY: Size = Size { operations: 700, kills: 8 };

struct Size {
    operations: usize,
    kills: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_of_a_catch_up_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    sigkills_during_catch_up("crash_safety", 4_201, None, GATE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_sigkill_at_random_points_of_a_catch_up_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    sigkills_during_catch_up("nightly_crash_safety", 4_201, None, NIGHTLY).await
}

/// The same over blocks of 12 transactions each: a kill inside a batch cuts through blocks that
/// hold several changes of one entity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_catch_up_of_filled_blocks_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    sigkills_during_catch_up("crash_safety_filled_blocks", 4_202, Some(12), GATE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_sigkill_during_a_catch_up_of_filled_blocks_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    sigkills_during_catch_up("nightly_crash_safety_filled_blocks", 4_202, Some(12), NIGHTLY).await
}

async fn sigkills_during_catch_up(test: &str, fixed_seed: u64, per_block: Option<usize>, size: Size) -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let s = seed(fixed_seed);
    let mut generator = env.generator(s);
    let report = match per_block {
        None => env.run(&mut generator, &Workload::new(s, size.operations)).await?,
        Some(n) => env.run_blocks(&mut generator, &Workload::new(s, size.operations), n).await?,
    };

    // Small batches: many commits, so the kills land between and inside them.
    let mut config = env.indexer_env(&env.chain.network_url.clone().expect("container chain"));
    config.push(("INDEXER_MAX_BATCH_BLOCKS", if per_block.is_some() { "2" } else { "8" }.into()));
    let mut indexer = env.start_indexer_with(config).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(s);
    let head = report.last_block.expect("the workload mined blocks");
    let mut targets: Vec<u64> = (0..size.kills).map(|_| rng.random_range(1..head)).collect();
    targets.sort();
    let mut kills = Vec::new();
    for target in targets {
        // Kill once the cursor passes `target`, plus a few ms so that some kills land mid-batch.
        let seen = cursor_reaching(&indexer.api, target).await?;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..15))).await;
        indexer.handle.kill().await?;
        indexer.handle.start().await?;
        indexer.handle.wait_ready(Duration::from_secs(60)).await?;
        indexer.reconnect().await?;
        let restarted_at = indexer.api.status().await?.current_block;
        kills.push(serde_json::json!({ "target": target, "seen": seen, "cursor_after_restart": restarted_at }));
    }
    let block = env.settle(&indexer).await?;
    let verdict = env.check(&indexer, block).await?;
    assert_consistent(test, &verdict, serde_json::json!({ "seed": s, "report": report, "kills": kills }));
    let orphans = orphans(&env).await?;
    assert!(orphans.is_empty(), "rows outside the cursor after the crashes: {orphans:#?}");
    Ok(())
}

/// Polls the cursor tightly (the kill should land near `target`) until it reaches `target`.
async fn cursor_reaching(api: &harness::indexer_api::IndexerApi, target: u64) -> anyhow::Result<u64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(c) = api.status().await?.current_block
            && c >= target
        {
            return Ok(c);
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "indexer never reached block {target}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
