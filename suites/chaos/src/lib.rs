//! The `chaos` suite: the MVE as one system — the indexer and the payments service on one private
//! stack (MariaDB, Redis, anvil) — under a mixed workload that runs throughout, while one part at a
//! time is killed, frozen, cut off or slowed. Jepsen's split, with the harness's roles:
//!
//! - `harness::mve::Mve`: the stack and both services, wired through links a scenario can cut or
//!   degrade; `harness::mve::Load`: the workload (the generator): chain activity, purchases with
//!   Stripe-like webhook deliveries, and readers on both APIs whose every answer is recorded;
//! - [`faults`]: the faults of the scenarios (the nemesis), each recorded in the run's journal;
//! - [`verdict`]: the checker: the indexer against the chain, the ledger against the deliveries
//!   Stripe made, the readers' answers, and the recovery time of every fault.
//!
//! Tests named `chaos_*` run in the `chaos` profile; `smoke_*` ones in the default profile.

pub mod faults;
pub mod verdict;

/// The seed of a scenario: `CHAOS_SEED` if set, else its own fixed one; printed either way.
pub fn seed(fixed: u64) -> u64 {
    let seed = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(fixed);
    eprintln!("seed {seed} (reproduce with CHAOS_SEED={seed})");
    seed
}

use std::sync::Arc;
use std::time::Duration;

use faults::Fault;
use harness::nemesis::schedule::Schedule;

/// What a scenario does: faults one after another, each held for its time, with the load running
/// throughout and a quiet stretch after each recovery.
#[derive(Debug, Clone)]
pub struct Plan {
    pub faults: Vec<(Fault, Duration)>,
    pub quiet: Duration,
}

impl Plan {
    pub fn one(fault: Fault, hold: Duration) -> Plan {
        Plan { faults: vec![(fault, hold)], quiet: Duration::from_secs(3) }
    }

    /// A schedule's steps in order (its gaps become the quiet stretches' floor).
    pub fn from_schedule(schedule: &Schedule) -> anyhow::Result<Plan> {
        let faults = schedule
            .steps
            .iter()
            .map(|s| {
                Fault::from_names(&s.target, &s.action)
                    .map(|f| (f, Duration::from_millis(s.hold_ms)))
                    .ok_or_else(|| anyhow::anyhow!("the schedule names a fault this suite does not have: {} {}", s.action, s.target))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Plan { faults, quiet: Duration::from_secs(2) })
    }
}

/// Runs one scenario end to end: start the MVE, warm the load up, run the plan, stop the load,
/// check; writes `target/mve-results/chaos/<name>.json` and fails with the findings.
pub async fn run(name: &str, seed: u64, plan: Plan, schedule: Option<&Schedule>) -> anyhow::Result<verdict::ScenarioVerdict> {
    let mve = Arc::new(harness::mve::Mve::start(seed).await?);
    let monitoring = harness::monitoring::Monitoring::start(&mve).await?;
    let started = std::time::Instant::now();
    let load = harness::mve::Load::start(mve.clone(), seed);
    let mut alerts = Vec::new();
    let mut answers = verdict::Answers::default();
    let faults = async {
        load.warm_up().await?;
        for (fault, hold) in &plan.faults {
            alerts.push(fault.run(&mve, &load, *hold, &monitoring).await?.1);
            // The load runs on against the recovered system: what a fault broke shows here too.
            tokio::time::sleep(plan.quiet).await;
            answers.drain(&mve, &load.record).await?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = faults {
        load.abort().await;
        return Err(e);
    }
    let record = load.stop(&mve).await?;
    let mut verdict = verdict::check(&mve, &record, answers).await?;
    let fired = monitoring.prometheus.fired_within(started.elapsed() + std::time::Duration::from_secs(5)).await.map_err(anyhow::Error::msg)?;
    verdict.judge_alerts(alerts, fired, plan.faults.iter().map(|(f, _)| f.alerts()));
    let path = harness::results::write_json("chaos", name, &serde_json::json!({ "seed": seed, "plan": format!("{plan:?}"), "schedule": schedule, "verdict": verdict }))?;
    eprintln!(
        "{name}: {} finding(s); recovery {:?} s; alerts {:?}; indexer reads during faults {:?}, payments reads during faults {:?}\nresult: {}",
        verdict.findings.len(),
        verdict.recovery_seconds,
        verdict.alerts.iter().map(|a| format!("{} fired after {:?} s, resolved {:?} s after the heal", a.alert, a.detected_s, a.resolved_s)).collect::<Vec<_>>(),
        verdict.indexer_reads.during_faults,
        verdict.payments_reads.during_faults,
        path.display()
    );
    anyhow::ensure!(verdict.valid, "{name}:\n  {}", verdict.findings.join("\n  "));
    Ok(verdict)
}
