//! The checker of a scenario: after the load stops and the system settles, everything the run
//! did is checked against the source of truth, and the result is one structured verdict that the
//! test asserts on and the result file keeps.

use std::time::Duration;

use alloy::providers::Provider;
use harness::checker::{self, Verdict};
use harness::nemesis::schedule::FaultRecord;
use serde::Serialize;

use harness::mve::Mve;
use harness::mve::load::{PAYMENT_PLAYERS, Reads, Record};

#[derive(Debug, Serialize)]
pub struct ScenarioVerdict {
    pub valid: bool,
    /// Why not, one line per finding.
    pub findings: Vec<String>,
    /// The indexer against the chain at the final head: full state, raw events, latest reads.
    pub indexer: Verdict,
    /// Rows above the cursor or of blocks the chain does not have.
    pub orphans: Vec<String>,
    pub ledger: LedgerCheck,
    pub indexer_reads: Reads,
    pub payments_reads: Reads,
    /// Indexer answers recorded during the run and checked against the chain at their block.
    pub answers_checked: usize,
    pub faults: Vec<FaultRecord>,
    pub recovery_seconds: Vec<Option<f64>>,
    pub load: serde_json::Value,
    /// Per fault, its alert: detection and resolution times (issue 27).
    pub alerts: Vec<crate::faults::AlertRecord>,
    /// Every alert that fired during the scenario.
    pub alerts_fired: Vec<String>,
}

impl ScenarioVerdict {
    /// Monitoring's part of the verdict: every fault's alert fired and resolved, and nothing fired
    /// that no fault of the plan explains.
    pub fn judge_alerts(&mut self, alerts: Vec<crate::faults::AlertRecord>, fired: std::collections::BTreeSet<String>, expected: impl Iterator<Item = crate::faults::ExpectedAlerts>) {
        let mut explained = std::collections::BTreeSet::new();
        for e in expected {
            explained.insert(e.alert);
            explained.extend(e.allowed.iter().copied());
        }
        for a in &alerts {
            if let Some(error) = &a.error {
                self.findings.push(format!("monitoring: {} {:?} for {}: {error}", a.alert, a.labels, a.fault));
            }
        }
        for name in &fired {
            if !explained.contains(name.as_str()) {
                self.findings.push(format!("monitoring: {name} fired, which no fault of this scenario explains (a false alarm)"));
            }
        }
        self.alerts = alerts;
        self.alerts_fired = fired.into_iter().collect();
        self.valid = self.findings.is_empty();
    }
}

#[derive(Debug, Default, Serialize)]
pub struct LedgerCheck {
    pub events_delivered: usize,
    pub events_accepted: usize,
    /// Per player: what the accepted events are worth, and what the ledger holds.
    pub balances: Vec<(String, i64, i64)>,
    pub problems: Vec<String>,
}

/// Settles the system and checks everything the run did.
/// The indexer's answers, checked against the chain while the scenario runs: the chain node keeps
/// only recent states, and a scenario of many faults outlives them (`harness::checker::answers`).
#[derive(Debug, Default)]
pub struct Answers {
    pub checked: usize,
    pub differences: Vec<harness::checker::Difference>,
}

impl Answers {
    /// Checks the answers recorded since the last call, and forgets them.
    pub async fn drain(&mut self, mve: &Mve, record: &Record) -> anyhow::Result<()> {
        let taken = record.take_indexer_answers();
        self.checked += taken.len();
        self.differences.extend(harness::checker::answers(&mve.chain.provider, &mve.d, taken).await?);
        Ok(())
    }
}

pub async fn check(mve: &Mve, record: &Record, mut answers: Answers) -> anyhow::Result<ScenarioVerdict> {
    let mut findings = Vec::new();
    let api = mve.indexer_api().await?;
    let (head, hash) = {
        let n = mve.chain.provider.get_block_number().await?;
        let b = mve.chain.provider.get_block_by_number(n.into()).await?.ok_or_else(|| anyhow::anyhow!("no block {n}"))?;
        (n, b.header.hash)
    };
    if let Err(e) = api.wait_for_hash(head, hash, Duration::from_secs(120)).await {
        findings.push(format!("the indexer never settled at the head: {e}"));
    }
    let mut accounts = mve.players.clone();
    accounts.push(mve.admin);
    let p = &mve.chain.provider;
    let indexer = checker::full(p, &mve.d, &api, head, &accounts).await?.and(checker::events(p, &mve.d, &api, 0, head).await?).and(checker::latest(p, &mve.d, &api, &accounts).await?);
    if !indexer.valid {
        findings.push(indexer.summary());
    }
    let (indexer_pool, payments_pool) = mve.pools().await?;
    let orphans = checker::orphans(&indexer_pool, p).await?;
    findings.extend(orphans.iter().map(|o| format!("orphan: {o}")));

    // Every answer a reader got, against the chain at the block it claimed: those of the run's
    // end here, the others as the scenario went (`Answers::drain`).
    answers.drain(mve, record).await?;
    if let Some(d) = answers.differences.first() {
        findings.push(format!("{} wrong answers during the run; first: {} {}: chain {} vs indexer {} at block {}", answers.differences.len(), d.entity, d.field, d.chain, d.indexer, d.block));
    }

    let ledger = check_ledger(&payments_pool, record).await?;
    findings.extend(ledger.problems.iter().cloned());
    let indexer_reads = record.indexer_reads.lock().expect("reads").clone();
    let payments_reads = record.payments_reads.lock().expect("reads").clone();
    for (what, reads) in [("indexer", &indexer_reads), ("payments", &payments_reads)] {
        for (when, t) in [("during faults", &reads.during_faults), ("outside faults", &reads.outside_faults)] {
            if t.wrong > 0 {
                findings.push(format!("{} wrong {what} answers {when}; first: {}", t.wrong, t.first_wrong.clone().unwrap_or_default()));
            }
        }
    }
    findings.extend(record.wrong_writes.lock().expect("wrong writes").iter().map(|w| format!("a valid write refused: {w}")));
    let faults = mve.journal.records();
    for f in &faults {
        if f.recovered_ms.is_none() {
            findings.push(format!("{} {} never recovered", f.action, f.target));
        }
    }
    Ok(ScenarioVerdict {
        valid: findings.is_empty(),
        findings,
        indexer,
        orphans,
        ledger,
        indexer_reads,
        payments_reads,
        answers_checked: answers.checked,
        recovery_seconds: faults.iter().map(|f| f.recovery().map(|d| d.as_secs_f64())).collect(),
        faults,
        load: serde_json::json!({
            "chain_ops": record.chain_ops.load(std::sync::atomic::Ordering::Relaxed),
            "purchases_answered": record.purchases_answered.load(std::sync::atomic::Ordering::Relaxed),
            "purchase_errors": record.purchase_errors.load(std::sync::atomic::Ordering::Relaxed),
            "deliveries": record.deliveries.lock().expect("deliveries").iter().map(|d| d.attempts).sum::<u32>(),
        }),
        alerts: Vec::new(),
        alerts_fired: Vec::new(),
    })
}

/// The ledger against the deliveries Stripe made: every accepted event recorded exactly once and
/// finished, every balance the sum of its lines and of the accepted events' worth (read from the
/// tables, not the service).
async fn check_ledger(pool: &sqlx::MySqlPool, record: &Record) -> anyhow::Result<LedgerCheck> {
    let mut out = LedgerCheck::default();
    let players: Vec<String> = PAYMENT_PLAYERS.iter().map(|p| p.to_string()).collect();
    if let Err(e) = harness::ledger::check_tables(pool, &players).await {
        out.problems.push(format!("ledger tables: {e:#}"));
    }
    let deliveries = record.deliveries.lock().expect("deliveries").clone();
    out.events_delivered = deliveries.len();
    out.events_accepted = deliveries.iter().filter(|d| d.outcome.is_some()).count();
    for d in &deliveries {
        let rows: Vec<String> = sqlx::query_scalar("SELECT outcome FROM webhook_events WHERE event_id = ?").bind(&d.event_id).fetch_all(pool).await?;
        if rows.len() != 1 || rows[0] != "applied" {
            out.problems.push(format!("event {} (accepted as {:?} after {} deliveries) is recorded as {rows:?}", d.event_id, d.outcome, d.attempts));
        }
    }
    for (player, want) in record.expected_balances() {
        let have = harness::ledger::table_balance(pool, &player).await?.balance;
        if have != want {
            out.problems.push(format!("{player}: the accepted events are worth {want} credits, the ledger holds {have}"));
        }
        out.balances.push((player, want, have));
    }
    Ok(out)
}
