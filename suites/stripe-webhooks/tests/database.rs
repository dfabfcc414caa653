//! The database down during a delivery: the endpoint answers 503 (so Stripe retries), and the
//! retried delivery after recovery is applied exactly once.

mod common;

use std::time::Duration;

use common::{Env, SECRET, Setup};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_during_a_delivery_is_503_then_the_retry_applies_once() -> anyhow::Result<()> {
    let env = Env::with(Setup { private: true, ..Setup::default() }).await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_200).await?;
    let event = env.events.succeeded(&pi);

    let mariadb = env.stack.mariadb()?;
    mariadb.stop().await?;
    let d = env.deliver.send(&event, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (503, "database_unavailable"), "{}", d.body);
    mariadb.start().await?;
    mariadb.wait_ready(Duration::from_secs(90)).await?;

    // Stripe retries until a 2xx; the pool reconnects on its own.
    let (d, attempts) = env.deliver.until_accepted(&event, SECRET, 60, Duration::from_millis(500)).await?;
    assert_eq!(d.outcome(), "applied", "after {attempts} deliveries: {}", d.body);
    assert_eq!(env.deliver.send(&event, SECRET).await?.outcome(), "duplicate");
    assert_eq!(env.balance(&player).await?.balance, 1_200);
    env.check_ledger().await
}
