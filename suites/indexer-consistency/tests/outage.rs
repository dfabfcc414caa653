//! Outage and re-sync: the indexer's link to the chain is cut (its own Docker network to anvil is
//! disconnected; MySQL and Redis stay reachable) while the workload goes on; after the link comes
//! back the indexer catches up. Correctness is asserted; the speed is recorded, not asserted.

mod common;

use std::time::{Duration, Instant};

use common::{Env, assert_consistent, seed};
use harness::generator::Workload;

/// The PR gate's outage: 150 operations mined while the indexer cannot see the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_chain_outage_the_indexer_catches_up_and_agrees() -> anyhow::Result<()> {
    outage_then_catch_up("outage_resync", 150).await
}

/// The nightly profile's long outage: 600 operations behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_after_a_long_chain_outage_the_indexer_catches_up_and_agrees() -> anyhow::Result<()> {
    outage_then_catch_up("nightly_outage_resync", 600).await
}

async fn outage_then_catch_up(test: &str, operations_during: usize) -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let anvil = env.chain.handle().expect("a container chain");
    let link = env.stack.link_to(anvil).await?;
    let indexer = env.start_indexer_with(env.indexer_env(link.url())).await?;
    link.attach(&indexer.handle).await?;

    let s = seed(4_301);
    let mut generator = env.generator(s);
    env.run(&mut generator, &Workload::new(s, 100)).await?;
    let before = env.settle(&indexer).await?;
    let events_before = indexer.api.status().await?.events_indexed;

    link.cut().await?;
    let cut_at = Instant::now();
    let during = env.run(&mut generator, &Workload::new(s + 1, operations_during)).await?;
    // The indexer noticed: it says the chain is unreachable and stands where it was.
    let status = harness::wait::until("indexer reporting the chain unreachable", Duration::from_secs(30), || async {
        let s = indexer.api.status().await?;
        Ok::<_, harness::Error>((!s.chain_reachable).then_some(s))
    })
    .await?;
    assert_eq!(status.current_block, Some(before), "no progress without the chain");
    assert!(status.last_error.as_deref().is_some_and(|e| e.starts_with("chain")), "status names the chain: {status:?}");
    let outage = cut_at.elapsed();

    link.restore().await?;
    let restored_at = Instant::now();
    let head = env.settle(&indexer).await?;
    let resync = restored_at.elapsed();
    let after = indexer.api.status().await?;
    assert!(after.chain_reachable && after.last_error.is_none(), "status recovered: {after:?}");

    let verdict = env.check(&indexer, head).await?;
    let blocks = head - before;
    let events = after.events_indexed - events_before;
    let result = serde_json::json!({
        "seed": s,
        "outage_seconds": outage.as_secs_f64(),
        "blocks_behind_at_restore": blocks,
        "events_behind_at_restore": events,
        "resync_seconds": resync.as_secs_f64(),
        "blocks_per_second": blocks as f64 / resync.as_secs_f64(),
        "events_per_second": events as f64 / resync.as_secs_f64(),
        "workload_during_outage": during,
    });
    eprintln!("re-sync: {blocks} blocks, {events} events in {:.2} s", resync.as_secs_f64());
    assert_consistent(test, &verdict, result);
    Ok(())
}
