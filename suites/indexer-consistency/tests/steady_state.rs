//! After a long mixed workload the indexer agrees with the chain on everything: every robot, item
//! and balance, and every raw event once at its (block, log index).

mod common;

use common::{Env, assert_consistent, seed};
use harness::checker;
use harness::generator::Workload;

/// The PR gate's workload: 300 operations, hundreds of events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_of_hundreds_of_events_leaves_zero_differences() -> anyhow::Result<()> {
    workload_leaves_zero_differences("steady_state", 300, 500).await
}

/// The nightly profile's: 1,200 operations, thousands of events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_a_workload_of_thousands_of_events_leaves_zero_differences() -> anyhow::Result<()> {
    workload_leaves_zero_differences("nightly_steady_state", 1_200, 2_000).await
}

async fn workload_leaves_zero_differences(test: &str, operations: usize, min_events: usize) -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let workload = Workload::new(seed(4_001), operations);
    let mut generator = env.generator(workload.seed);
    let report = env.run(&mut generator, &workload).await?;
    let block = env.settle(&indexer).await?;
    assert!(report.logs >= min_events, "the workload should make at least {min_events} events, made {}", report.logs);
    assert!(report.reverted > 0, "the workload should include failed transactions: {report:?}");

    let verdict = env.check(&indexer, block).await?;
    let status = indexer.api.status().await?;
    assert_eq!(verdict.checked.events as u64, status.events_indexed, "status counts every stored event");
    assert_consistent(test, &verdict, serde_json::json!({ "workload": workload, "report": report }));

    // The cached "latest" reads agree too, and a seeded sample at an earlier block.
    let latest = checker::latest(env.p(), &env.d, &indexer.api, &env.players).await?;
    assert!(latest.valid, "{}", latest.summary());
    let earlier = checker::sampled(env.p(), &env.d, &indexer.api, block / 2, &env.players, 20, workload.seed).await?;
    assert!(earlier.valid, "{}", earlier.summary());
    Ok(())
}
