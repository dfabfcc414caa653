//! The soak: the whole MVE under steady mixed load, with the NAR client generating throughout, for
//! `MVE_SOAK_DURATION` (15 minutes by default). Runs in the `soak` profile:
//! `cargo nextest run --profile soak -p soak`; `MVE_SOAK_DURATION=48h` for a release candidate.
//!
//! Every `SAMPLE_EVERY` a sample of every series goes to `target/mve-results/soak/series.jsonl`;
//! every `CHECK_EVERY` the readers' answers so far are checked against the chain and the ledger's
//! invariants against its tables; at the end the full checks run and the drift verdict is written
//! to `target/mve-results/soak/soak.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::checker;
use harness::mve::load::LoadOptions;
use harness::mve::load::{IndexerAnswer, PAYMENT_PLAYERS};
use harness::mve::{Load, Mve};
use soak::nar::NarClient;
use soak::sampler::{Series, Since, sample};

/// jemalloc (Cargo.toml: why): the soak judges its own resident memory like every service's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// How often the verdict so far is written: a soak killed at hour 30 leaves one for 30 hours.
const VERDICT_EVERY: Duration = Duration::from_secs(300);

/// How many periodic checks ran: of the events and listings, and of the ledger's invariants.
#[derive(Debug, Clone, Copy, Default)]
struct Checks {
    periodic: usize,
    ledger: usize,
}

/// The drift verdict of the series so far, from `soak_judge --json` in a process of its own:
/// judging holds every sample of the run in memory (~9 KiB each), and in the soak's process that
/// peak stayed as its resident memory, growing with the run (~5 MB/h, 2026-12-07).
fn judge(series: &std::path::Path) -> anyhow::Result<soak::drift::Drift> {
    let judge = harness::prebuilt::bin_exe("soak_judge", env!("CARGO_BIN_EXE_soak_judge"));
    let out = std::process::Command::new(&judge).arg(series).arg("--json").output()?;
    // Exit 0: valid, 1: findings, or an error (then stderr says it and stdout holds no verdict).
    serde_json::from_slice(&out.stdout).map_err(|e| anyhow::anyhow!("{} {} --json: {} ({e}): {}", judge.display(), series.display(), out.status, String::from_utf8_lossy(&out.stderr)))
}

/// Writes `soak.json`: the drift verdict over every sample written so far and the findings so far;
/// `complete` only at the end.
fn write_verdict(
    series: &Series,
    seed: u64,
    duration: Duration,
    elapsed: Duration,
    checks: Checks,
    findings: &[String],
    end: Option<serde_json::Value>,
) -> anyhow::Result<(soak::drift::Drift, std::path::PathBuf)> {
    let drift = judge(&series.path)?;
    let mut all: Vec<String> = findings.to_vec();
    all.extend(drift.findings.iter().cloned());
    let path = harness::results::write_json(
        "soak",
        "soak",
        &serde_json::json!({
            "complete": end.is_some(),
            "seed": seed,
            "duration_seconds": duration.as_secs(),
            "elapsed_seconds": elapsed.as_secs(),
            "series": series.path,
            "samples": series.count,
            "periodic_checks": checks.periodic,
            "ledger_checks": checks.ledger,
            "drift": drift,
            "end": end,
            "findings": all,
        }),
    )?;
    Ok((drift, path))
}

/// The readers' answers since the last check, against the chain at the block each claimed. Equal
/// answers about one entity at one block are checked once (the readers ask about 12 robots and
/// 10 balances, so most repeat): checking each one made a check cost grow with the answers since
/// the last, which grow with the check's cost, and the loop slowed down until its answers' blocks
/// left the node's window (measured 2026-12-03: samples 6 s apart, then 80 s after 30 minutes).
async fn check_answers(mve: &Mve, answers: Vec<IndexerAnswer>) -> anyhow::Result<Vec<String>> {
    let differences = checker::answers(&mve.chain.provider, &mve.d, answers).await?;
    Ok(differences.iter().map(|d| format!("{} {}: chain {} vs indexer {} at {}", d.entity, d.field, d.chain, d.indexer, d.block)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_the_mve_under_steady_load_and_nar_generations_holds_its_resources_and_answers() -> anyhow::Result<()> {
    let duration = soak::duration()?;
    let seed = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(6_001u64);
    eprintln!("soak for {duration:?}, seed {seed} (reproduce with SOAK_SEED={seed})");
    let (states, blocks) = soak::anvil_history()?;
    let mve = Arc::new(Mve::start_on(seed, &[], harness::Stack::builder().anvil_keeping(states, blocks), true).await?);
    // Prometheus and Alertmanager beside it, scraping the NAR client's metrics too: in steady
    // state no alert may fire over the whole run (issue 27: false alarms = 0).
    let nar_metrics = soak::nar::NarMetrics::default();
    let nar_target = {
        let m = nar_metrics.clone();
        harness::monitoring::TextTarget::serve(mve.stack.gateway_ip().await?, move || m.render()).await?
    };
    let monitoring = harness::monitoring::Monitoring::start_with(&mve, &[("nar", nar_target.address.clone())]).await?;
    let monitored_from = Instant::now();
    // A steady rate (a block of five transactions about once a second), a cap on the mints, no
    // per-delivery record kept once accepted and no copy of Stripe's requests: what keeps the
    // chain node's memory and the soak's own bounded (README).
    let load = Load::start_with(
        mve.clone(),
        seed,
        LoadOptions { chain_pace: Some(soak::CHAIN_PACE), fold_accepted: true, forget_stripe_requests: true, one_block_a_round: true, entity_cap: Some(soak::ENTITY_CAP) },
    );
    let retained = blocks.unwrap_or(usize::MAX) as u64;
    let mut events_checked_to = 0u64;
    // The players and owners' items as the chain's logs tell them, read as the soak goes: the
    // node keeps only the last `retained` blocks' logs.
    let mut history = checker::ChainHistory::default();
    let mut series = Series::create("series")?;
    let mut findings = Vec::new();
    let mut checks = Checks::default();
    let mut nar = None;
    // Sampling and the periodic checks; on an error the load is aborted first (its tasks hold the
    // Mve, whose teardown would otherwise run inside the runtime's shutdown), and the series
    // written so far stays behind.
    let run = async {
        load.warm_up().await?;
        let nar = nar.insert(NarClient::spawn(nar_metrics.clone())?);
        let mut since = Since::default();
        let started = Instant::now();
        let mut next_check = started + CHECK_EVERY;
        let mut next_ledger_check = next_check;
        let mut next_verdict = started + VERDICT_EVERY;
        while started.elapsed() < duration {
            let s = sample(&mve, &load.record, nar, started.elapsed().as_secs_f64(), &mut since).await?;
            series.push(s)?;
            if let Some(e) = nar.ended() {
                findings.push(e);
                break;
            }
            // The readers' answers at every sample, while the blocks they name are still held.
            findings.extend(check_answers(&mve, load.record.take_indexer_answers()).await?);
            if Instant::now() >= next_check {
                checks.periodic += 1;
                // The events of every block indexed since the last check: over the whole soak, all
                // of them, each while the node still holds its logs.
                let to = mve.indexer_api().await?.status().await?.current_block.unwrap_or(0);
                if to > events_checked_to {
                    let from = events_checked_to + 1;
                    soak::ensure_retained(&mve.chain.provider, from, retained).await?;
                    history.advance(&mve.chain.provider, &mve.d, to).await?;
                    // Later checks ask at `to` or after: the transfers before it need not stay.
                    history.forget_before(to);
                    let v = checker::events(&mve.chain.provider, &mve.d, &mve.indexer_api().await?, from, to).await?;
                    if !v.valid {
                        findings.push(format!("events {from}..={to}: {}", v.summary()));
                    }
                    events_checked_to = to;
                }
                // The ledger's invariants read its whole tables, so a check costs more as they
                // grow (it was 96 s at 39 minutes, 2026-12-03, until `check_tables` stopped joining
                // them whole: the readers' answers waited behind it past the node's window). It
                // runs at most a tenth of the time; the final check reads every table whole.
                if Instant::now() >= next_ledger_check {
                    let began = Instant::now();
                    let (_, payments_pool) = mve.pools().await?;
                    let players: Vec<String> = PAYMENT_PLAYERS.iter().map(|p| p.to_string()).collect();
                    if let Err(e) = harness::ledger::check_tables(&payments_pool, &players).await {
                        findings.push(format!("ledger at check {}: {e:#}", checks.periodic));
                    }
                    checks.ledger += 1;
                    next_ledger_check = Instant::now() + CHECK_EVERY.max(began.elapsed() * 10);
                }
                next_check = Instant::now() + CHECK_EVERY;
            }
            if Instant::now() >= next_verdict && series.count >= 8 {
                write_verdict(&series, seed, duration, started.elapsed(), checks, &findings, None)?;
                next_verdict += VERDICT_EVERY;
            }
            // The sampling period.
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = run {
        if let Some(nar) = nar {
            nar.stop();
        }
        load.abort().await;
        return Err(e.context(format!("the soak stopped early; its series so far: {}", series.path.display())));
    }
    let nar = nar.expect("the NAR client started");
    let generations = nar.generations();
    nar.stop();
    // The drift verdict over the whole series before the end checks: a run that fails them (the
    // load cannot deliver its backlog, say) still names what drifted.
    let (drifted, _) = write_verdict(&series, seed, duration, duration, checks, &findings, None)?;
    let record = load.stop(&mve).await.map_err(|e| {
        let drift = if drifted.findings.is_empty() { "no finding".to_string() } else { drifted.findings.join("; ") };
        e.context(format!("the soak's end; its drift verdict over the run: {drift}"))
    })?;
    findings.extend(check_answers(&mve, record.take_indexer_answers()).await?);

    // The end: the indexer at the head against the chain, the ledger against the deliveries.
    let api = mve.indexer_api().await?;
    let p = &mve.chain.provider;
    let head = {
        use alloy::providers::Provider;
        let n = p.get_block_number().await?;
        let hash = p.get_block_by_number(n.into()).await?.ok_or_else(|| anyhow::anyhow!("no block {n}"))?.header.hash;
        api.wait_for_hash(n, hash, Duration::from_secs(120)).await?;
        n
    };
    let mut accounts = mve.players.clone();
    accounts.push(mve.admin);
    // The state at the head; the events of the blocks the periodic checks have not covered.
    soak::ensure_retained(p, events_checked_to + 1, retained).await?;
    let verdict = checker::full_with_history(p, &mve.d, &api, head, &accounts, &mut history).await?.and(checker::events(p, &mve.d, &api, events_checked_to + 1, head).await?);
    if !verdict.valid {
        findings.push(verdict.summary());
    }
    let (indexer_pool, payments_pool) = mve.pools().await?;
    findings.extend(checker::orphans(&indexer_pool, p).await?);
    for (player, want) in record.expected_balances() {
        let have = harness::ledger::table_balance(&payments_pool, &player).await?.balance;
        if have != want {
            findings.push(format!("{player}: the accepted events are worth {want}, the ledger holds {have}"));
        }
    }
    let players: Vec<String> = PAYMENT_PLAYERS.iter().map(|p| p.to_string()).collect();
    if let Err(e) = harness::ledger::check_tables(&payments_pool, &players).await {
        findings.push(format!("ledger at the end: {e:#}"));
    }
    if generations == 0 {
        findings.push("the NAR client finished no generation".into());
    }
    // Monitoring over the whole run: no alert fired (a steady MVE raises none), and Prometheus
    // saw the NAR client's generations.
    let window = monitored_from.elapsed() + Duration::from_secs(5);
    let alerts_fired = monitoring.prometheus.fired_within(window).await.map_err(anyhow::Error::msg)?;
    if !alerts_fired.is_empty() {
        findings.push(format!("false alarms: {alerts_fired:?} fired in steady state"));
    }
    let scraped = monitoring.prometheus.query("max(nar_generations_total)").await.map_err(anyhow::Error::msg)?.first().map_or(0.0, |s| s.value);
    if scraped < 1.0 {
        findings.push(format!("Prometheus saw {scraped} NAR generations (the client finished {generations})"));
    }
    // Every dashboard's every panel shows something for this run (the NAR's among them).
    findings.extend(harness::monitoring::empty_panels(&monitoring.prometheus, &harness::monitoring::panel_queries()?, Duration::from_secs(30)).await);

    let end = serde_json::json!({ "alerts_fired": alerts_fired, "nar_generations_scraped": scraped, "nar_generations": generations, "chain_ops": record.chain_ops.load(std::sync::atomic::Ordering::Relaxed), "verdict": verdict });
    let (drift, path) = write_verdict(&series, seed, duration, duration, checks, &findings, Some(end))?;
    findings.extend(drift.findings.iter().cloned());
    for s in &drift.series {
        eprintln!("{s}");
    }
    if let Some(footprint) = &drift.footprint_48h {
        eprintln!("{footprint}");
    }
    eprintln!("result: {}", path.display());
    assert!(findings.is_empty(), "soak findings:\n  {}", findings.join("\n  "));
    Ok(())
}
