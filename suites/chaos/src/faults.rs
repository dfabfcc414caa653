//! The faults of the scenarios (the nemesis), on the running system. Each is recorded in the run's
//! journal with its start, its end, and when the system was healthy again — measured, never
//! asserted against a clock; the only time limit is the deadline of "recovers on its own".
//!
//! The test undoes a fault only as an orchestrator or the network would: it starts a killed
//! container again, thaws a frozen one, reconnects a cut link, lifts a slow one. Everything else —
//! reconnecting, catching up, redelivered webhooks — is the services' own doing.

use std::time::{Duration, Instant};

use harness::monitoring::Monitoring;
use harness::nemesis::proxy::Quality;
use serde::{Deserialize, Serialize};

use harness::mve::{Load, Mve};

/// How long the system may take to be healthy again after a fault ends.
pub const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);
/// From a fault to its alert firing (monitoring/alerts: at most a 10 s `for:`, scrapes and
/// evaluations every second): the fault is held until then, however short its plan.
pub const DETECTION_DEADLINE: Duration = Duration::from_secs(45);
/// From the system healthy again to the fault's alert gone.
pub const RESOLUTION_DEADLINE: Duration = Duration::from_secs(60);

/// What monitoring must show for a fault (issue 27): the alert that must fire while it lasts, with
/// the labels that say what broke, and the alerts its consequences may fire besides. Any other
/// alert during a scenario is a finding (a false alarm, or a rule that reads the wrong thing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedAlerts {
    pub alert: &'static str,
    pub labels: &'static [(&'static str, &'static str)],
    pub allowed: &'static [&'static str],
}

/// What a fault's alert did: seconds from the fault to firing, and from the heal to resolved
/// (`None`: not within the deadline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub fault: String,
    pub alert: String,
    pub labels: Vec<String>,
    pub detected_s: Option<f64>,
    pub resolved_s: Option<f64>,
    /// Why not, when one of the two is missing.
    pub error: Option<String>,
}

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

    /// The alert this fault must fire, and what else it may fire (see [`ExpectedAlerts`]).
    pub fn alerts(self) -> ExpectedAlerts {
        // Consequences any outage of a dependency may have: requests failing (5xx), slower
        // answers, the indexer behind, a webhook past its deadline while MariaDB is away.
        const OUTAGE: &[&str] = &["MveHigh5xxShare", "MveLatencyP99AboveSlo", "MveIndexerLagHigh", "MveWebhookDeadlineMissed"];
        match self {
            Fault::MariaDbKilled => ExpectedAlerts {
                alert: "MveMariaDbDown",
                labels: &[("service", "mariadb"), ("severity", "P0")],
                allowed: &["MveDependencyUnreachable", "MveContainerRestarted", "MveServiceNotReady", "MveHigh5xxShare", "MveLatencyP99AboveSlo", "MveIndexerLagHigh", "MveWebhookDeadlineMissed"],
            },
            Fault::RedisKilled => ExpectedAlerts { alert: "MveRedisDown", labels: &[("service", "redis"), ("severity", "P1")], allowed: &["MveDependencyUnreachable", "MveContainerRestarted"] },
            Fault::IndexerKilled => ExpectedAlerts { alert: "MveServiceDown", labels: &[("service", "indexer"), ("severity", "P0")], allowed: &["MveContainerRestarted", "MveIndexerLagHigh"] },
            Fault::AnvilFrozen => ExpectedAlerts { alert: "MveDependencyUnreachable", labels: &[("service", "indexer"), ("dependency", "chain")], allowed: OUTAGE },
            Fault::IndexerCutFromChain => ExpectedAlerts { alert: "MveDependencyUnreachable", labels: &[("service", "indexer"), ("dependency", "chain")], allowed: OUTAGE },
            Fault::PaymentsCutFromMariaDb => ExpectedAlerts { alert: "MveDependencyUnreachable", labels: &[("service", "payments"), ("dependency", "database")], allowed: OUTAGE },
            Fault::IndexerMariaDbSlowAndLossy => {
                ExpectedAlerts { alert: "MveLatencyP99AboveSlo", labels: &[("service", "indexer")], allowed: &["MveDependencyUnreachable", "MveHigh5xxShare", "MveIndexerLagHigh"] }
            }
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

    /// Injects the fault, holds it for `hold` while the load runs on, and at least until its alert
    /// fires (or [`DETECTION_DEADLINE`] passes), undoes it, waits until the system is healthy
    /// again and the alert resolved; returns the journal index of the fault and what its alert did.
    pub async fn run(self, mve: &Mve, load: &Load, hold: Duration, monitoring: &Monitoring) -> anyhow::Result<(usize, AlertRecord)> {
        let (target, action) = self.names();
        let expected = self.alerts();
        eprintln!("fault: {action} {target} for {hold:?}, until {} fires", expected.alert);
        let fault = mve.journal.started(target, action);
        self.inject(mve, load).await?;
        // The fault's planned duration (the scenario's pacing), stretched until its alert fires:
        // the load keeps running against the faulted system meanwhile.
        let (_, detected) = tokio::join!(tokio::time::sleep(hold), monitoring.prometheus.wait_firing(expected.alert, expected.labels, DETECTION_DEADLINE));
        self.undo(mve, load).await?;
        mve.journal.ended(fault);
        let healed = Instant::now();
        healthy(mve, load).await.map_err(|e| anyhow::anyhow!("after {action} {target}, the system did not recover on its own: {e}"))?;
        mve.journal.recovered(fault);
        let resolved = monitoring.prometheus.wait_resolved(expected.alert, RESOLUTION_DEADLINE).await.map(|_| healed.elapsed());
        let error = [detected.as_ref().err().map(|e| format!("not fired: {e}")), resolved.as_ref().err().map(|e| format!("not resolved: {e}"))].into_iter().flatten().collect::<Vec<_>>();
        let record = AlertRecord {
            fault: format!("{action} {target}"),
            alert: expected.alert.to_string(),
            labels: expected.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            detected_s: detected.ok().map(|d| d.as_secs_f64()),
            resolved_s: resolved.ok().map(|d| d.as_secs_f64()),
            error: (!error.is_empty()).then(|| error.join("; ")),
        };
        Ok((fault, record))
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
