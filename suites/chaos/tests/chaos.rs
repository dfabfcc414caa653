//! One scenario per fault, and a seeded schedule of all of them, against the whole MVE under a
//! mixed load (see the crate docs). The `chaos` profile runs them: `cargo nextest run --profile chaos`.

use std::time::Duration;

use chaos::faults::Fault;
use chaos::{Plan, run, seed};
use harness::nemesis::schedule::Schedule;

const HOLD: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_mariadb_killed_mid_write_and_restarted() -> anyhow::Result<()> {
    run("mariadb_killed", seed(5_001), Plan::one(Fault::MariaDbKilled, HOLD), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_redis_killed_and_restarted_empty() -> anyhow::Result<()> {
    run("redis_killed", seed(5_002), Plan::one(Fault::RedisKilled, HOLD), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_indexer_killed_three_times() -> anyhow::Result<()> {
    let plan = Plan { faults: vec![(Fault::IndexerKilled, Duration::from_secs(2)); 3], quiet: Duration::from_secs(2) };
    run("indexer_killed", seed(5_003), plan, None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_anvil_frozen_and_thawed() -> anyhow::Result<()> {
    run("anvil_frozen", seed(5_004), Plan::one(Fault::AnvilFrozen, HOLD), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_indexer_cut_from_the_chain() -> anyhow::Result<()> {
    run("indexer_cut_from_chain", seed(5_005), Plan::one(Fault::IndexerCutFromChain, HOLD), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_payments_cut_from_mariadb() -> anyhow::Result<()> {
    run("payments_cut_from_mariadb", seed(5_006), Plan::one(Fault::PaymentsCutFromMariaDb, HOLD), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_slow_and_lossy_link_between_indexer_and_mariadb() -> anyhow::Result<()> {
    run("indexer_mariadb_slow_and_lossy", seed(5_007), Plan::one(Fault::IndexerMariaDbSlowAndLossy, Duration::from_secs(15)), None).await.map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_a_seeded_schedule_of_every_fault() -> anyhow::Result<()> {
    let s = seed(5_008);
    let menu: Vec<(&str, &str)> = Fault::ALL.iter().map(|f| f.names()).collect();
    let schedule = Schedule::random(s, &menu, 8, 2_000..=8_000, 1_000..=3_000);
    eprintln!("schedule: {}", serde_json::to_string(&schedule)?);
    run("seeded_schedule", s, Plan::from_schedule(&schedule)?, Some(&schedule)).await.map(drop)
}
