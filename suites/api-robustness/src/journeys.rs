//! What the load's users do (their journeys), what they saw, and the checks of what they saw.
//!
//! - a **reader** reads robots, items, an owner's items and balance, events and the status from the
//!   indexer; every robot, item and balance answer names its block and is checked against the chain
//!   at that block afterwards ([`Observed::check_against_chain`]);
//! - a **buyer** is one payments player: buys credits, has Stripe mark the payment succeeded, gets
//!   the signed `payment_intent.succeeded` delivered (sometimes twice), reads the purchase, its
//!   balance and history, and spends. A buyer alone acts on its player, so it knows what every
//!   answer must be and checks it at once; the ledger's tables are checked at the end.
//!
//! A 5xx or a lost answer is recorded per endpoint and fails the test; a wrong answer is recorded
//! here and fails it too. Latencies are recorded only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use harness::indexer_api::{ItemView, RobotView};
use harness::mve::system::{Mve, WEBHOOK_SECRET};
use harness::users::{Endpoints, Outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Answers kept for the check against the chain, at most (sampled evenly beyond).
const KEEP: usize = 1_500;

/// A user's pause between two requests (a player reading a screen): uniform in `min..max`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub min: Duration,
    pub max: Duration,
}

impl Pace {
    fn pause(&self, rng: &mut StdRng) -> Duration {
        if self.max <= self.min { self.min } else { rng.random_range(self.min..self.max) }
    }
}

/// The services' addresses and what exists on the chain when the load starts.
pub struct World {
    pub mve: Arc<Mve>,
    pub indexer: String,
    pub payments: String,
    pub robots: Vec<u64>,
    pub items: Vec<u64>,
    pub owners: Vec<Address>,
    pub http: reqwest::Client,
    pub endpoints: Endpoints,
    pub observed: Observed,
    pub pace: Pace,
    pub seed: u64,
}

/// What the users saw that is checked later, and the wrong answers seen at once.
#[derive(Debug, Default)]
pub struct Observed {
    pub robots: Mutex<Vec<(u64, RobotView)>>,
    pub items: Mutex<Vec<(u64, ItemView)>>,
    pub balances: Mutex<Vec<(u64, Address, U256)>>,
    seen: AtomicU64,
    pub wrong: Mutex<Vec<String>>,
    /// Each buyer's player and the balance it must have.
    pub buyers: Mutex<Vec<(String, i64)>>,
    pub purchases: AtomicU64,
    pub deliveries: AtomicU64,
    pub spends: AtomicU64,
}

impl Observed {
    fn wrong(&self, what: String) {
        self.wrong.lock().expect("wrong").push(what);
    }

    /// Keeps every answer until [`KEEP`], then a shrinking share (reservoir sampling, seeded by the count).
    fn keep<T>(&self, into: &Mutex<Vec<T>>, value: T) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as usize;
        let mut v = into.lock().expect("kept");
        if v.len() < KEEP / 3 {
            v.push(value);
        } else {
            let slot = n.wrapping_mul(2_654_435_761) % (n + 1);
            if slot < v.len() {
                v[slot] = value;
            }
        }
    }

    /// Every kept answer against the chain at its block ([`harness::checker::Reread`] confirms a
    /// difference before it counts). Returns (answers checked, differences).
    pub async fn check_against_chain(&self, mve: &Mve) -> anyhow::Result<(usize, Vec<String>)> {
        let reread = harness::checker::Reread::default();
        let p = &mve.chain.provider;
        let mut differences = Vec::new();
        let robots = std::mem::take(&mut *self.robots.lock().expect("robots"));
        let items = std::mem::take(&mut *self.items.lock().expect("items"));
        let balances = std::mem::take(&mut *self.balances.lock().expect("balances"));
        let checked = robots.len() + items.len() + balances.len();
        for (at, r) in &robots {
            differences.extend(reread.robot(p, &mve.d, r, *at).await?.into_iter().map(|d| format!("{d:?}")));
        }
        for (at, i) in &items {
            differences.extend(reread.item(p, &mve.d, i, *at).await?.into_iter().map(|d| format!("{d:?}")));
        }
        for (at, owner, b) in &balances {
            differences.extend(reread.balance(p, &mve.d, *owner, *b, *at).await?.map(|d| format!("{d:?}")));
        }
        Ok((checked, differences))
    }
}

/// One request, recorded under `endpoint`: the status and the JSON body (`Value::Null` if none).
async fn call(world: &World, endpoint: &str, request: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let started = Instant::now();
    let answer = match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(b) => Ok((status, serde_json::from_slice(&b).unwrap_or(Value::Null), String::from_utf8_lossy(&b[..b.len().min(200)]).to_string())),
                Err(e) => Err(format!("{e}")),
            }
        }
        Err(e) => Err(format!("{e}")),
    };
    match answer {
        Ok((status, body, text)) => {
            world.endpoints.record(endpoint, started.elapsed(), &Outcome::Status(status), || text);
            Some((status, body))
        }
        Err(e) => {
            world.endpoints.record(endpoint, started.elapsed(), &Outcome::Lost(e), String::new);
            None
        }
    }
}

/// A reader until `until`.
pub async fn reader(world: Arc<World>, user: usize, until: Instant) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(world.seed ^ (user as u64).wrapping_mul(0x9e37_79b9));
    let base = &world.indexer;
    while Instant::now() < until {
        let pick = rng.random_range(0..100);
        if pick < 30 && !world.robots.is_empty() {
            let id = world.robots[rng.random_range(0..world.robots.len())];
            if let Some((200, body)) = call(&world, "GET /robots/{id}", world.http.get(format!("{base}/robots/{id}"))).await {
                match (body["block"].as_u64(), serde_json::from_value::<RobotView>(body["robot"].clone())) {
                    (Some(at), Ok(r)) if r.id == id => world.observed.keep(&world.observed.robots, (at, r)),
                    _ => world.observed.wrong(format!("GET /robots/{id}: {body}")),
                }
            }
        } else if pick < 50 && !world.items.is_empty() {
            let id = world.items[rng.random_range(0..world.items.len())];
            if let Some((200, body)) = call(&world, "GET /items/{id}", world.http.get(format!("{base}/items/{id}"))).await {
                match (body["block"].as_u64(), serde_json::from_value::<ItemView>(body["item"].clone())) {
                    (Some(at), Ok(i)) if i.id == id => world.observed.keep(&world.observed.items, (at, i)),
                    _ => world.observed.wrong(format!("GET /items/{id}: {body}")),
                }
            }
        } else if pick < 75 {
            let owner = world.owners[rng.random_range(0..world.owners.len())];
            if let Some((status, body)) = call(&world, "GET /owners/{address}/balance", world.http.get(format!("{base}/owners/{owner:#x}/balance"))).await {
                let parsed = body["balance"].as_str().and_then(|b| b.parse::<U256>().ok());
                match (status, body["block"].as_u64(), parsed) {
                    (200, Some(at), Some(b)) => world.observed.keep(&world.observed.balances, (at, owner, b)),
                    (s, ..) if s >= 500 => {}
                    _ => world.observed.wrong(format!("GET /owners/{owner:#x}/balance: {status} {body}")),
                }
            }
        } else if pick < 85 {
            let owner = world.owners[rng.random_range(0..world.owners.len())];
            if let Some((status, body)) = call(&world, "GET /owners/{address}/items", world.http.get(format!("{base}/owners/{owner:#x}/items"))).await {
                let items: Option<Vec<ItemView>> = serde_json::from_value(body["items"].clone()).ok();
                match (status, items) {
                    (200, Some(items)) if items.iter().all(|i| i.owner == owner) => {}
                    (s, _) if s >= 500 => {}
                    _ => world.observed.wrong(format!("GET /owners/{owner:#x}/items: {status} {body}")),
                }
            }
        } else if pick < 95 {
            let from = rng.random_range(0..20u64);
            let to = from + rng.random_range(0..20u64);
            if let Some((status, body)) = call(&world, "GET /events", world.http.get(format!("{base}/events?from={from}&to={to}"))).await {
                let ok = body["events"].as_array().is_some_and(|es| es.iter().all(|e| e["block_number"].as_u64().is_some_and(|b| (from..=to).contains(&b))));
                if status == 200 && !ok || (400..500).contains(&status) {
                    world.observed.wrong(format!("GET /events?from={from}&to={to}: {status} {body}"));
                }
            }
        } else if let Some((status, body)) = call(&world, "GET /status", world.http.get(format!("{base}/status"))).await
            && (status == 200 && body["current_block"].as_u64().is_none() || (400..500).contains(&status))
        {
            world.observed.wrong(format!("GET /status: {status} {body}"));
        }
        pause(&world, &mut rng).await;
    }
    Ok(())
}

/// A buyer until `until`, as player `buyer_<seed>_<user>`.
pub async fn buyer(world: Arc<World>, user: usize, until: Instant) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(world.seed ^ 0xb0b ^ (user as u64).wrapping_mul(0x9e37_79b9));
    let player = format!("buyer_{}_{user}", world.seed);
    let base = &world.payments;
    let mut expected: i64 = 0;
    let o = &world.observed;
    let result = async {
        while Instant::now() < until {
            let credits = rng.random_range(1..=20) * 100;
            let Some((status, body)) = call(&world, "POST /purchases", world.http.post(format!("{base}/purchases")).json(&json!({ "player_id": player, "credits": credits }))).await else {
                pause(&world, &mut rng).await;
                continue;
            };
            if status != 201 {
                if status < 500 {
                    o.wrong(format!("{player}: POST /purchases {credits}: {status} {body}"));
                }
                pause(&world, &mut rng).await;
                continue;
            }
            o.purchases.fetch_add(1, Ordering::Relaxed);
            let purchase = body["purchase_id"].as_str().unwrap_or_default().to_string();
            let pi = world.mve.stripe.succeed(body["payment_intent"].as_str().unwrap_or_default())?;
            let event = world.mve.events.succeeded(&pi);
            // Stripe redelivers until it gets a 2xx; every delivery counts in the figures.
            let deliveries = if rng.random_bool(0.25) { 2 } else { 1 };
            let mut accepted = 0;
            // After a delivery without a 2xx the event may have been applied all the same (the
            // service's deadline ran out after its commit): then the next one is a duplicate.
            let mut unanswered = false;
            for attempt in 0..10 {
                if accepted == deliveries {
                    break;
                }
                let signature = harness::stripe::header(WEBHOOK_SECRET, harness::stripe::now(), &event.payload);
                let request = world.http.post(format!("{base}/webhooks/stripe")).header("content-type", "application/json").header("Stripe-Signature", signature).body(event.payload.clone());
                match call(&world, "POST /webhooks/stripe", request).await {
                    Some((200..=299, b)) => {
                        let want = if accepted == 0 { "applied" } else { "duplicate" };
                        if b["outcome"] != want && !(unanswered && accepted == 0 && b["outcome"] == "duplicate") {
                            o.wrong(format!("{player}: delivery {} of {}: outcome {} (want {want})", accepted + 1, event.id, b["outcome"]));
                        }
                        accepted += 1;
                        o.deliveries.fetch_add(1, Ordering::Relaxed);
                    }
                    Some((s @ 400..=499, b)) => {
                        o.wrong(format!("{player}: a genuine delivery of {} refused: {s} {b}", event.id));
                        break;
                    }
                    _ if attempt < 9 => {
                        unanswered = true;
                        pause(&world, &mut rng).await
                    }
                    _ => anyhow::bail!("{}: not accepted after 10 deliveries", event.id),
                }
            }
            if accepted > 0 {
                expected += credits;
            }
            pause(&world, &mut rng).await;
            if let Some((status, b)) = call(&world, "GET /purchases/{id}", world.http.get(format!("{base}/purchases/{purchase}"))).await
                && status < 500
                && (status != 200 || b["status"] != "SUCCEEDED" || b["credits"] != credits)
            {
                o.wrong(format!("{player}: GET /purchases/{purchase}: {status} {b}"));
            }
            pause(&world, &mut rng).await;
            if let Some((status, b)) = call(&world, "GET /players/{id}/balance", world.http.get(format!("{base}/players/{player}/balance"))).await
                && status < 500
                && (status != 200 || b["balance"] != expected || b["ledger_sum"] != expected)
            {
                o.wrong(format!("{player}: GET balance: {status} {b}, want {expected}"));
            }
            if rng.random_bool(0.3) && expected > 0 {
                let spend = rng.random_range(1..=expected);
                pause(&world, &mut rng).await;
                if let Some((status, b)) = call(&world, "POST /players/{id}/spend", world.http.post(format!("{base}/players/{player}/spend")).json(&json!({ "credits": spend }))).await {
                    match status {
                        200 if b["balance"] == expected - spend => {
                            expected -= spend;
                            o.spends.fetch_add(1, Ordering::Relaxed);
                        }
                        s if s >= 500 => anyhow::bail!("{player}: spend answered {s}: its outcome is unknown, the buyer cannot go on"),
                        _ => o.wrong(format!("{player}: spend {spend} of {expected}: {status} {b}")),
                    }
                }
            }
            if rng.random_bool(0.2) {
                pause(&world, &mut rng).await;
                if let Some((status, b)) = call(&world, "GET /players/{id}/history", world.http.get(format!("{base}/players/{player}/history"))).await {
                    let sum: Option<i64> = b["lines"].as_array().map(|ls| ls.iter().filter_map(|l| l["amount"].as_i64()).sum());
                    if status < 500 && (status != 200 || sum != Some(expected)) {
                        o.wrong(format!("{player}: GET history: {status}, lines sum to {sum:?}, want {expected}"));
                    }
                }
            }
            pause(&world, &mut rng).await;
        }
        Ok(())
    }
    .await;
    o.buyers.lock().expect("buyers").push((player, expected));
    result
}

async fn pause(world: &World, rng: &mut StdRng) {
    tokio::time::sleep(world.pace.pause(rng)).await; // a player's pace, not a synchronisation
}
