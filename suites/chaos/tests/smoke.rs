//! The fast scenario of the PR gate: the whole MVE under its mixed load while the indexer is
//! killed and the payments service is cut from MariaDB, one after the other; both recover on their
//! own and the checkers find nothing lost, duplicated or wrong.

use std::time::Duration;

use chaos::faults::Fault;
use chaos::{Plan, run, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smoke_the_mve_recovers_from_an_indexer_kill_and_a_payments_database_cut() -> anyhow::Result<()> {
    let plan = Plan { faults: vec![(Fault::IndexerKilled, Duration::from_secs(2)), (Fault::PaymentsCutFromMariaDb, Duration::from_secs(3))], quiet: Duration::from_secs(1) };
    let verdict = run("smoke", seed(5_000), plan, None).await?;
    assert_eq!(verdict.faults.len(), 2);
    assert!(verdict.ledger.events_accepted >= 3 && verdict.answers_checked > 0, "the load did too little to prove anything: {:?}", verdict.load);
    Ok(())
}
