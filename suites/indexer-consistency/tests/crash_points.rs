//! Crash points, not crash times: the indexer is aborted at each of its named crash points
//! (`mve_indexer::failpoints::POINTS`) — the third time it gets there, so that state exists on both
//! sides of the crash — then a fresh indexer on the same database and Redis carries on. The run
//! follows 150 operations (in batches of up to 8 blocks) and lives through three reorgs, so every
//! batch and every rollback point is reached; afterwards the full check, the raw events and the orphan
//! check must find nothing.

mod common;

use alloy::providers::ext::AnvilApi;
use common::{Env, Indexer, assert_consistent, orphans, seed};
use harness::generator::Workload;

/// Crashes at `point`, then proves the indexer recovered from it.
async fn crash_at(point: &str, test: &str, fixed_seed: u64) -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let s = seed(fixed_seed);
    let mut generator = env.generator(s);
    let mut config = env.indexer_env(&env.chain.network_url.clone().expect("container chain"));
    config.push(("INDEXER_MAX_BATCH_BLOCKS", "8".into()));
    let clean = config.clone();
    config.push(("FAILPOINTS", format!("{point}=2*off->return")));
    // Started before the workload, so that it is ready before it can reach the point three times.
    let mut run = Run { indexer: Some(env.start_indexer_with(config).await?), crashed: None, clean };
    env.run(&mut generator, &Workload::new(s, 150)).await?;
    run.settle(&env).await?;
    for round in 0..3u64 {
        let fork = env.p().anvil_snapshot().await?;
        let mut doomed = env.generator(s + 10 + round);
        doomed.model = generator.model.clone();
        env.run(&mut doomed, &Workload::new(s + 10 + round, 6)).await?;
        run.settle(&env).await?;
        assert!(env.p().anvil_revert(fork).await?);
        env.run(&mut generator, &Workload::new(s + 20 + round, 8)).await?;
        run.settle(&env).await?;
    }
    let Some(log) = run.crashed.clone() else {
        anyhow::bail!("the indexer never reached {point} three times: the scenario no longer covers it");
    };
    assert!(log.contains(&format!("failpoint {point}: crashing")), "the indexer ended otherwise than at {point}:\n{log}");
    let indexer = run.indexer.as_ref().expect("a running indexer");
    let block = env.settle(indexer).await?;
    // Latest reads too: they go through Redis, where a crash between a commit and the cache bump
    // could leave answers of an older block.
    let mut accounts = env.players.clone();
    accounts.push(env.admin);
    let latest = harness::checker::latest(env.p(), &env.d, &indexer.api, &accounts).await?;
    let verdict = env.check(indexer, block).await?.and(latest);
    assert_consistent(test, &verdict, serde_json::json!({ "seed": s, "point": point }));
    let orphans = orphans(&env).await?;
    assert!(orphans.is_empty(), "rows outside the cursor after a crash at {point}: {orphans:#?}");
    Ok(())
}

/// The indexer under test, replaced once by a clean one when the armed one crashes (as an
/// orchestrator would restart it, minus the failpoint).
struct Run {
    indexer: Option<Indexer>,
    crashed: Option<String>,
    clean: Vec<(&'static str, String)>,
}

impl Run {
    /// Waits until the indexer stands at the head; if it crashed on the way, starts the clean one
    /// (once: a second crash fails the test) and waits for that one.
    async fn settle(&mut self, env: &Env) -> anyhow::Result<()> {
        let (n, hash) = env.head().await?;
        let want = format!("{hash:#x}");
        loop {
            let indexer = self.indexer.as_ref().expect("an indexer");
            // Some(true): at the head; Some(false): the container has exited.
            let settled = harness::wait::until(&format!("indexer at block {n} or exited"), common::SETTLE, || async {
                if indexer.handle.exit_code().await?.is_some() {
                    return Ok::<_, harness::Error>(Some(false));
                }
                let s = indexer.api.status().await?;
                Ok((s.current_block == Some(n) && s.current_hash.as_deref() == Some(want.as_str())).then_some(true))
            })
            .await;
            match settled {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    anyhow::ensure!(self.crashed.is_none(), "the clean indexer died too:\n{}", indexer.log_tail().await);
                    self.crashed = Some(indexer.handle.logs().await?);
                    self.indexer = None; // the crashed container goes
                    self.indexer = Some(env.start_indexer_with(self.clean.clone()).await?);
                }
                Err(e) => anyhow::bail!("{e}\n{}", indexer.log_tail().await),
            }
        }
    }
}

/// One test per crash point (they run in parallel); this list must be the service's.
const TESTED: [&str; 5] =
    ["indexer::sync::batch_read", "indexer::sync::batch_before_commit", "indexer::sync::batch_after_commit", "indexer::store::rollback_before_commit", "indexer::store::rollback_after_commit"];

#[test]
fn every_crash_point_of_the_indexer_has_a_test_here() {
    let listed: Vec<&str> = mve_indexer::failpoints::crash_points().map(|p| p.name).collect();
    assert_eq!(listed, TESTED, "a crash point without a test (or a test of a point that is gone)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_reading_a_batch_loses_nothing() -> anyhow::Result<()> {
    crash_at(TESTED[0], "crash_point_batch_read", 4_301).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_a_batch_commits_loses_nothing() -> anyhow::Result<()> {
    crash_at(TESTED[1], "crash_point_batch_before_commit", 4_302).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_a_batch_commit_and_the_cache_bump_serves_nothing_stale() -> anyhow::Result<()> {
    crash_at(TESTED[2], "crash_point_batch_after_commit", 4_303).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_a_rollback_commits_loses_nothing() -> anyhow::Result<()> {
    crash_at(TESTED[3], "crash_point_rollback_before_commit", 4_304).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_a_rollback_commit_and_the_cache_bump_serves_nothing_stale() -> anyhow::Result<()> {
    crash_at(TESTED[4], "crash_point_rollback_after_commit", 4_305).await
}
