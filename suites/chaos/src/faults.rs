//! The faults of the scenarios (the nemesis), on the running system. Each is recorded in the run's
//! journal with its start, its end, and when the system was healthy again — measured, never
//! asserted against a clock; the only time limit is the deadline of "recovers on its own".
//!
//! The test undoes a fault only as an orchestrator or the network would: it starts a killed
//! container again, thaws a frozen one, reconnects a cut link, lifts a slow one. Everything else —
//! reconnecting, catching up, redelivered webhooks — is the services' own doing.

use std::time::Duration;

use harness::nemesis::proxy::Quality;
use serde::{Deserialize, Serialize};

use harness::mve::{Load, Mve};

/// How long the system may take to be healthy again after a fault ends.
pub const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// SIGKILL while both services write to it, then started again (new published port).
    MariaDbKilled,
    /// SIGKILL, then started again empty (it keeps nothing on disk).
    RedisKilled,
    /// SIGKILL of the indexer, then started again.
    IndexerKilled,
    /// anvil's processes frozen (cgroup freezer), then thawed.
    AnvilFrozen,
    /// The indexer's link network to anvil disconnected, then reconnected.
    IndexerCutFromChain,
    /// The payments service's link network to MariaDB disconnected, then reconnected.
    PaymentsCutFromMariaDb,
    /// The indexer's connection to MariaDB slowed and made lossy (`Quality::SLOW_AND_LOSSY`).
    IndexerMariaDbSlowAndLossy,
}

impl Fault {
    pub const ALL: [Fault; 7] =
        [Fault::MariaDbKilled, Fault::RedisKilled, Fault::IndexerKilled, Fault::AnvilFrozen, Fault::IndexerCutFromChain, Fault::PaymentsCutFromMariaDb, Fault::IndexerMariaDbSlowAndLossy];

    /// (target, action): how the journal and a schedule name it.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Fault::MariaDbKilled => ("mariadb", "kill"),
            Fault::RedisKilled => ("redis", "kill"),
            Fault::IndexerKilled => ("indexer", "kill"),
            Fault::AnvilFrozen => ("anvil", "pause"),
            Fault::IndexerCutFromChain => ("indexer->anvil", "cut"),
            Fault::PaymentsCutFromMariaDb => ("payments->mariadb", "cut"),
            Fault::IndexerMariaDbSlowAndLossy => ("indexer->mariadb", "slow_and_lossy"),
        }
    }

    pub fn from_names(target: &str, action: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.names() == (target, action))
    }

    async fn inject(self, mve: &Mve, load: &Load) -> anyhow::Result<()> {
        match self {
            Fault::MariaDbKilled => mve.stack.mariadb()?.kill().await?,
            Fault::RedisKilled => mve.stack.redis()?.kill().await?,
            Fault::IndexerKilled => mve.indexer.kill().await?,
            Fault::AnvilFrozen => {
                load.hold_chain().await?;
                mve.stack.anvil()?.pause().await?
            }
            Fault::IndexerCutFromChain => mve.chain_link.cut().await?,
            Fault::PaymentsCutFromMariaDb => mve.payments_db_link.cut().await?,
            Fault::IndexerMariaDbSlowAndLossy => mve.indexer_db_proxy.set_quality(Quality::SLOW_AND_LOSSY),
        }
        Ok(())
    }

    async fn undo(self, mve: &Mve, load: &Load) -> anyhow::Result<()> {
        match self {
            Fault::MariaDbKilled => {
                let mariadb = mve.stack.mariadb()?;
                mariadb.start().await?;
                mariadb.wait_ready(Duration::from_secs(90)).await?;
                mve.follow_mariadb().await?;
            }
            Fault::RedisKilled => {
                let redis = mve.stack.redis()?;
                redis.start().await?;
                redis.wait_ready(Duration::from_secs(60)).await?;
            }
            Fault::IndexerKilled => mve.indexer.start().await?,
            Fault::AnvilFrozen => {
                mve.stack.anvil()?.unpause().await?;
                load.release_chain();
            }
            Fault::IndexerCutFromChain => mve.chain_link.restore().await?,
            Fault::PaymentsCutFromMariaDb => mve.payments_db_link.restore().await?,
            Fault::IndexerMariaDbSlowAndLossy => mve.indexer_db_proxy.restore(),
        }
        Ok(())
    }

    /// Injects the fault, holds it for `hold` while the load runs on, undoes it, and waits until
    /// the system is healthy again; returns the journal index of the fault.
    pub async fn run(self, mve: &Mve, load: &Load, hold: Duration) -> anyhow::Result<usize> {
        let (target, action) = self.names();
        eprintln!("fault: {action} {target} for {hold:?}");
        let fault = mve.journal.started(target, action);
        self.inject(mve, load).await?;
        // The fault's duration: the load keeps running against the faulted system meanwhile.
        tokio::time::sleep(hold).await;
        self.undo(mve, load).await?;
        mve.journal.ended(fault);
        healthy(mve, load).await.map_err(|e| anyhow::anyhow!("after {action} {target}, the system did not recover on its own: {e}"))?;
        mve.journal.recovered(fault);
        Ok(fault)
    }
}

/// Healthy and caught up: the indexer stands at (or past) the chain head as of now and reports
/// both dependencies reachable; the payments service answers, and has accepted every delivery
/// Stripe had queued.
pub async fn healthy(mve: &Mve, load: &Load) -> anyhow::Result<()> {
    use alloy::providers::Provider;
    let head = mve.chain.provider.get_block_number().await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    harness::wait::until("the system healthy and caught up", RECOVERY_DEADLINE, || async {
        let api = mve.indexer_api().await.map_err(|e| e.to_string())?;
        let s = api.status().await.map_err(|e| e.to_string())?;
        if !(s.current_block.is_some_and(|c| c >= head) && s.chain_reachable && s.database_reachable) {
            return Err(format!("indexer at {:?} of {head}, last error {:?}", s.current_block, s.last_error));
        }
        let base = mve.payments_url().await.map_err(|e| e.to_string())?;
        let ok = http.get(format!("{base}/players/{}/balance", harness::mve::load::PAYMENT_PLAYERS[0])).send().await.is_ok_and(|r| r.status().as_u16() == 200);
        if !ok {
            return Err("payments not answering reads".into());
        }
        let backlog = load.record.backlog();
        Ok((backlog == 0).then_some(()))
    })
    .await?;
    Ok(())
}
