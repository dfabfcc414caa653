//! The mixed workload that runs through a whole scenario (Jepsen's generator), and the record of
//! everything it saw.
//!
//! - chain: the harness's seeded generator, a few operations at a time (held while anvil itself is
//!   frozen: a transaction sent into a frozen node has no outcome to model);
//! - payments: purchases, Stripe marking each paid, the `payment_intent.succeeded` delivery (and a
//!   refund for every fourth) redelivered like Stripe's until accepted;
//! - readers: latest reads of robots and balances from the indexer (each answer kept with the
//!   block it claims, and checked against the chain afterwards), and balances from payments (each
//!   answer checked at once: the balance is the ledger's sum and never negative).
//!
//! Errors are allowed while a fault lasts; wrong answers never are. Every read is tallied as
//! during or outside a fault by the run's journal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::generator::{Generator, Workload};
use crate::indexer_api::RobotView;
use crate::stripe::Event;
use alloy::primitives::{Address, U256};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;

use super::system::{Mve, WEBHOOK_SECRET};

/// The payments players of a run.
pub const PAYMENT_PLAYERS: [&str; 3] = ["chaos_player_0", "chaos_player_1", "chaos_player_2"];
/// Between two steps of one load task: a steady pace, not a synchronisation.
const PACE: Duration = Duration::from_millis(40);
const REFUND: i64 = 50;

/// Answers of one kind of read.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub ok: u64,
    pub errors: u64,
    pub wrong: u64,
    pub first_error: Option<String>,
    pub first_wrong: Option<String>,
}

impl Tally {
    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }
    fn wrong(&mut self, w: String) {
        self.wrong += 1;
        self.first_wrong.get_or_insert(w);
    }
}

/// Reads, split by whether a fault was on at the time.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Reads {
    pub during_faults: Tally,
    pub outside_faults: Tally,
}

/// An indexer answer kept for the check against the chain.
#[derive(Debug, Clone)]
pub enum IndexerAnswer {
    Robot { id: u64, at: u64, robot: RobotView },
    Balance { owner: Address, at: u64, balance: U256 },
}

/// A Stripe event the load delivered, and what it is worth to its player once accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Delivered {
    pub event_id: String,
    /// The exact bytes: a redelivery sends the same body, as Stripe does.
    #[serde(skip)]
    pub event: Event,
    pub player: String,
    pub credits: i64,
    pub outcome: Option<String>,
    pub attempts: u32,
    /// The PaymentIntent the event is about.
    pub intent: String,
}

/// Everything the load did and saw.
#[derive(Debug, Default)]
pub struct Record {
    pub chain_ops: AtomicU64,
    pub purchases_answered: AtomicU64,
    pub purchase_errors: AtomicU64,
    pub deliveries: Mutex<Vec<Delivered>>,
    pub indexer_reads: Mutex<Reads>,
    pub payments_reads: Mutex<Reads>,
    pub indexer_answers: Mutex<Vec<IndexerAnswer>>,
    /// Writes the system answered wrongly (a valid request refused with a 4xx).
    pub wrong_writes: Mutex<Vec<String>>,
    /// Each read's time from request to whole answer, in ms, until taken ([`Record::take_latencies`]).
    pub indexer_latency_ms: Mutex<Vec<f64>>,
    pub payments_latency_ms: Mutex<Vec<f64>>,
    /// A task's fatal error: the load itself broke (not the system under test).
    pub broken: Mutex<Option<String>>,
    /// With [`LoadOptions::fold_accepted`]: accepted deliveries leave `deliveries` and only their
    /// worth per player and their count stay (a 48-hour soak would otherwise keep millions).
    pub fold_accepted: std::sync::atomic::AtomicBool,
    pub accepted_worth: Mutex<BTreeMap<String, i64>>,
    pub accepted_count: AtomicU64,
}

/// How the load runs. The default is the chaos suite's: the chain as fast as anvil mines, every
/// delivery kept for the verdict's per-event check.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// A pause after each round of five chain transactions: a steady rate instead of anvil's
    /// fastest (which mines 20-50 one-transaction blocks a second).
    pub chain_pace: Option<Duration>,
    /// Keep only unaccepted deliveries, folding accepted ones into per-player totals.
    pub fold_accepted: bool,
    /// Every [`FORGET_STRIPE_EVERY`] purchases, between two (when neither the service nor the load
    /// has a Stripe request in flight), drop the Stripe simulator's copies of the requests it
    /// matched ([`crate::stripe::FakeStripe::drop_matched_requests`]): a long run's memory.
    pub forget_stripe_requests: bool,
    /// The chain's five operations of a round mined in one block instead of one block each
    /// (`Generator::run_blocks`): a fifth of the blocks for the same work.
    pub one_block_a_round: bool,
    /// No more mints once robots and items number this many ([`Generator::with_entity_cap`]).
    pub entity_cap: Option<usize>,
}

/// Purchases between two [`LoadOptions::forget_stripe_requests`] resets.
pub const FORGET_STRIPE_EVERY: u64 = 50;

impl Record {
    /// Deliveries not accepted yet.
    pub fn backlog(&self) -> usize {
        self.deliveries.lock().expect("deliveries").iter().filter(|d| d.outcome.is_none()).count()
    }

    /// The read latencies since the last call: (indexer, payments).
    pub fn take_latencies(&self) -> (Vec<f64>, Vec<f64>) {
        (std::mem::take(&mut *self.indexer_latency_ms.lock().expect("latencies")), std::mem::take(&mut *self.payments_latency_ms.lock().expect("latencies")))
    }

    /// The indexer answers kept so far, for a check now (a long run checks and drops them as it
    /// goes instead of keeping every answer to the end).
    pub fn take_indexer_answers(&self) -> Vec<IndexerAnswer> {
        std::mem::take(&mut *self.indexer_answers.lock().expect("answers"))
    }

    /// What each payments player's balance must be: every accepted event applied once.
    pub fn expected_balances(&self) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> = PAYMENT_PLAYERS.iter().map(|p| (p.to_string(), 0)).collect();
        for d in self.deliveries.lock().expect("deliveries").iter().filter(|d| matches!(d.outcome.as_deref(), Some("applied" | "duplicate"))) {
            *out.entry(d.player.clone()).or_default() += d.credits;
        }
        for (player, worth) in self.accepted_worth.lock().expect("accepted").iter() {
            *out.entry(player.clone()).or_default() += worth;
        }
        out
    }

    /// Deliveries accepted so far (with an outcome), folded or not.
    pub fn accepted(&self) -> u64 {
        self.accepted_count.load(Ordering::Relaxed) + self.deliveries.lock().expect("deliveries").iter().filter(|d| d.outcome.is_some()).count() as u64
    }
}

/// The running load; [`Load::stop`] ends it and hands back the record.
pub struct Load {
    pub record: Arc<Record>,
    stop: Arc<AtomicBool>,
    /// Held by the chain task for each round of transactions; [`Load::hold_chain`] takes it (so it
    /// waits for the round in flight) and keeps it until [`Load::release_chain`].
    chain_gate: Arc<tokio::sync::Mutex<()>>,
    chain_held: Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(mve: Arc<Mve>, seed: u64) -> Load {
        Load::start_with(mve, seed, LoadOptions::default())
    }

    pub fn start_with(mve: Arc<Mve>, seed: u64, options: LoadOptions) -> Load {
        let record = Arc::new(Record::default());
        record.fold_accepted.store(options.fold_accepted, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let chain_gate = Arc::new(tokio::sync::Mutex::new(()));
        let mut tasks = Vec::new();
        let broken = |record: &Arc<Record>, what: &str, e: anyhow::Error| {
            record.broken.lock().expect("broken").get_or_insert(format!("{what}: {e:#}"));
        };
        {
            let (mve, record, stop, gate) = (mve.clone(), record.clone(), stop.clone(), chain_gate.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = chain(&mve, &record, &stop, &gate, seed, options).await {
                    broken(&record, "chain load", e);
                }
            }));
        }
        {
            let (mve, record, stop) = (mve.clone(), record.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = payments(&mve, &record, &stop, options.forget_stripe_requests).await {
                    broken(&record, "payments load", e);
                }
            }));
        }
        {
            let (mve, record, stop) = (mve.clone(), record.clone(), stop.clone());
            tasks.push(tokio::spawn(async move { read_indexer(&mve, &record, &stop, seed).await }));
        }
        {
            let (mve, record, stop) = (mve, record.clone(), stop.clone());
            tasks.push(tokio::spawn(async move { read_payments(&mve, &record, &stop).await }));
        }
        Load { record, stop, chain_gate, chain_held: Mutex::new(None), tasks }
    }

    /// Waits until the load has done some of everything (a warm system before the first fault).
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        let r = &self.record;
        crate::wait::until("the load warming up", Duration::from_secs(120), || async {
            if let Some(b) = r.broken.lock().expect("broken").clone() {
                return Err(b);
            }
            let delivered = r.accepted();
            Ok((r.chain_ops.load(Ordering::Relaxed) >= 20 && delivered >= 3).then_some(()))
        })
        .await?;
        Ok(())
    }

    /// Stops sending transactions, and returns once none is in flight (before anvil is frozen).
    pub async fn hold_chain(&self) -> anyhow::Result<()> {
        let round_done = tokio::time::timeout(Duration::from_secs(60), self.chain_gate.clone().lock_owned()).await;
        let guard = round_done.map_err(|_| anyhow::anyhow!("the chain load's round did not end within 60 s"))?;
        *self.chain_held.lock().expect("chain hold") = Some(guard);
        Ok(())
    }

    pub fn release_chain(&self) {
        self.chain_held.lock().expect("chain hold").take();
    }

    /// Ends every task at once, without waiting for deliveries: for a run that failed. The tasks
    /// hold the `Mve`; ended here, it is dropped by its owner, not during the runtime's shutdown.
    pub async fn abort(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }

    /// Ends every task, then redelivers what is still unaccepted until Stripe would have given up
    /// (here: a deadline), and returns the record.
    pub async fn stop(self, mve: &Mve) -> anyhow::Result<Arc<Record>> {
        self.stop.store(true, Ordering::SeqCst);
        self.release_chain();
        for t in self.tasks {
            t.await?;
        }
        if let Some(b) = self.record.broken.lock().expect("broken").clone() {
            anyhow::bail!("the load broke (not the system under test): {b}");
        }
        let record = self.record.clone();
        crate::wait::until("every delivery accepted", Duration::from_secs(120), || async {
            deliver_backlog(mve, &record).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((record.backlog() == 0).then_some(()))
        })
        .await?;
        Ok(self.record)
    }
}

async fn chain(mve: &Mve, record: &Record, stop: &AtomicBool, gate: &tokio::sync::Mutex<()>, seed: u64, options: LoadOptions) -> anyhow::Result<()> {
    let mut generator = Generator::new(seed, mve.admin, mve.players.clone(), 0.05);
    if let Some(cap) = options.entity_cap {
        generator = generator.with_entity_cap(cap);
    }
    let pace = options.chain_pace;
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        // Waits here while the chain is held (anvil frozen); never mid-round.
        let _round = gate.lock().await;
        round += 1;
        let workload = Workload::new(seed + round, 5);
        let report =
            if options.one_block_a_round { generator.run_blocks(&mve.chain.provider, &mve.d, &workload, workload.ops).await? } else { generator.run(&mve.chain.provider, &mve.d, &workload).await? };
        anyhow::ensure!(report.unexpected_reverts == 0 && report.unexpected_successes == 0, "the chain and the model disagree: {report:?}");
        record.chain_ops.fetch_add(report.sent as u64, Ordering::Relaxed);
        drop(_round);
        if let Some(pace) = pace {
            // The steady rate a soak asks for (a pace, not a synchronisation).
            tokio::time::sleep(pace).await;
        }
    }
    Ok(())
}

async fn payments(mve: &Mve, record: &Record, stop: &AtomicBool, forget_stripe: bool) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let player = PAYMENT_PLAYERS[(n % 3) as usize];
        let credits = 100 + (n % 10) as i64 * 50;
        let url = format!("{}/purchases", mve.payments_url().await?);
        match http.post(&url).json(&json!({ "player_id": player, "credits": credits })).send().await {
            Ok(r) if r.status().as_u16() == 201 => {
                record.purchases_answered.fetch_add(1, Ordering::Relaxed);
                let body: serde_json::Value = r.json().await?;
                let pi = mve.stripe.succeed(body["payment_intent"].as_str().unwrap_or_default())?;
                let mut events = vec![(mve.events.succeeded(&pi), credits)];
                if n.is_multiple_of(4) {
                    events.push((mve.events.charge_refunded(&pi, REFUND), -REFUND));
                }
                let mut deliveries = record.deliveries.lock().expect("deliveries");
                for (e, worth) in events {
                    deliveries.push(Delivered { event_id: e.id.clone(), event: e, player: player.into(), credits: worth, outcome: None, attempts: 0, intent: pi.id.clone() });
                }
            }
            Ok(r) if r.status().is_server_error() => {
                record.purchase_errors.fetch_add(1, Ordering::Relaxed);
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                record.wrong_writes.lock().expect("wrong writes").push(format!("POST /purchases: {status} {body}"));
            }
            Err(_) => {
                record.purchase_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        deliver_backlog(mve, record).await?;
        // This task makes every request that reaches Stripe (the service calls it only while
        // answering a purchase or a delivery): here none is in flight.
        if forget_stripe && n.is_multiple_of(FORGET_STRIPE_EVERY) {
            mve.stripe.drop_matched_requests().await;
        }
        tokio::time::sleep(PACE).await;
    }
    Ok(())
}

/// One delivery attempt of every unaccepted event, in order: 2xx accepts it; a 5xx or no answer
/// leaves it for the next round (Stripe's retry); a 4xx is a wrong answer to a valid event.
async fn deliver_backlog(mve: &Mve, record: &Record) -> anyhow::Result<()> {
    let pending: Vec<Event> = record.deliveries.lock().expect("deliveries").iter().filter(|d| d.outcome.is_none()).map(|d| d.event.clone()).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let deliverer = mve.deliverer().await?;
    for event in pending {
        let id = event.id.clone();
        let answer = deliverer.send(&event, WEBHOOK_SECRET).await;
        let mut deliveries = record.deliveries.lock().expect("deliveries");
        let d = deliveries.iter_mut().find(|d| d.event_id == id).expect("a pending delivery");
        d.attempts += 1;
        match answer {
            Ok(a) if (200..300).contains(&a.status) => d.outcome = Some(a.outcome().to_string()),
            Ok(a) if (400..500).contains(&a.status) => {
                // A wrong answer of the system (a valid, signed event refused), not of the load.
                d.outcome = Some(format!("refused {}", a.status));
                record.wrong_writes.lock().expect("wrong writes").push(format!("{id}: {} {}", a.status, a.body));
            }
            _ => break, // the service is down or busy: Stripe retries later
        }
        if record.fold_accepted.load(Ordering::Relaxed) && d.outcome.is_some() {
            let (player, credits, applied) = (d.player.clone(), d.credits, matches!(d.outcome.as_deref(), Some("applied" | "duplicate")));
            let intent = d.intent.clone();
            deliveries.retain(|d| d.event_id != id);
            // Once none of its events waits, Stripe's copy of the intent is no longer read: the
            // simulator forgets it (its store would hold every intent of the run).
            if !deliveries.iter().any(|d| d.intent == intent) {
                mve.stripe.forget(&intent);
            }
            if applied {
                *record.accepted_worth.lock().expect("accepted").entry(player).or_default() += credits;
            }
            record.accepted_count.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

async fn read_indexer(mve: &Mve, record: &Record, stop: &AtomicBool, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut api = None;
    while !stop.load(Ordering::SeqCst) {
        if api.is_none() {
            api = mve.indexer_api().await.ok();
        }
        let during = mve.journal.during_fault(mve.journal.now_ms());
        let started = std::time::Instant::now();
        let answer = match &api {
            None => Err("no published port".to_string()),
            Some(api) => {
                if rng.random_bool(0.5) {
                    let id = rng.random_range(1..=12);
                    api.robot(id, None).await.map(|r| r.map(|(at, robot)| IndexerAnswer::Robot { id, at, robot })).map_err(|e| e.to_string())
                } else {
                    let owner = mve.players[rng.random_range(0..mve.players.len())];
                    api.balance(owner, None).await.map(|(at, balance)| Some(IndexerAnswer::Balance { owner, at, balance })).map_err(|e| e.to_string())
                }
            }
        };
        record.indexer_latency_ms.lock().expect("latencies").push(started.elapsed().as_secs_f64() * 1e3);
        {
            let mut reads = record.indexer_reads.lock().expect("reads");
            let tally = if during { &mut reads.during_faults } else { &mut reads.outside_faults };
            match answer {
                Ok(a) => {
                    tally.ok += 1;
                    if let Some(a) = a {
                        record.indexer_answers.lock().expect("answers").push(a);
                    }
                }
                Err(e) => {
                    tally.error(e);
                    api = None; // the port may have changed: ask again
                }
            }
        }
        tokio::time::sleep(PACE).await;
    }
}

async fn read_payments(mve: &Mve, record: &Record, stop: &AtomicBool) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let player = PAYMENT_PLAYERS[n % 3];
        let during = mve.journal.during_fault(mve.journal.now_ms());
        let started = std::time::Instant::now();
        let answer = match mve.payments_url().await {
            Ok(base) => http.get(format!("{base}/players/{player}/balance")).send().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let verdict = match answer {
            Ok(r) if r.status().as_u16() == 200 => match r.json::<serde_json::Value>().await {
                Ok(b) if b["balance"] == b["ledger_sum"] && b["balance"].as_i64().is_some_and(|v| v >= 0) => Ok(()),
                Ok(b) => Err(Some(format!("{player}: {b}"))),
                Err(e) => Err(Some(format!("{player}: unreadable answer: {e}"))),
            },
            Ok(r) if r.status().is_server_error() => Err(None),
            Ok(r) => Err(Some(format!("{player}: {} {}", r.status(), r.text().await.unwrap_or_default()))),
            Err(_) => Err(None),
        };
        record.payments_latency_ms.lock().expect("latencies").push(started.elapsed().as_secs_f64() * 1e3);
        {
            let mut reads = record.payments_reads.lock().expect("reads");
            let tally = if during { &mut reads.during_faults } else { &mut reads.outside_faults };
            match verdict {
                Ok(()) => tally.ok += 1,
                Err(None) => tally.error("unavailable".into()),
                Err(Some(w)) => tally.wrong(w),
            }
        }
        tokio::time::sleep(PACE).await;
    }
}
