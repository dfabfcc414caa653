//! Benchmark (not a test): webhook throughput and latency at a steady concurrent load, and what
//! duplicate deliveries cost.
//!
//! 1. `BENCH_EVENTS` (default 2,000) distinct `payment_intent.succeeded` deliveries, `BENCH_CONCURRENCY`
//!    (default 16) in flight: throughput and p50/p90/p99 latency.
//! 2. The same events delivered again (every one a duplicate): the same figures, and the ratio.
//!
//! `cargo bench -p stripe-webhooks --bench webhooks` (the service runs as a release build).
//! Results: target/mve-results/stripe-webhooks/bench_webhooks.json.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Env, SECRET};
use futures::StreamExt;
use harness::stripe::Event;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("MVE_PLATFORM_PROFILE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("MVE_PLATFORM_PROFILE", "release") };
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

struct Phase {
    seconds: f64,
    latencies_ms: Vec<f64>,
    outcomes: std::collections::BTreeMap<String, usize>,
}

impl Phase {
    fn json(&self) -> serde_json::Value {
        let mut l = self.latencies_ms.clone();
        l.sort_by(f64::total_cmp);
        let pct = |q: f64| l.get(((l.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
        serde_json::json!({
            "deliveries": l.len(), "seconds": self.seconds, "per_second": l.len() as f64 / self.seconds,
            "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": pct(1.0), "outcomes": self.outcomes,
        })
    }
}

async fn deliver_all(env: &Env, events: &[Event], concurrency: usize) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let results: Vec<anyhow::Result<(f64, String)>> = futures::stream::iter(events)
        .map(|e| async move {
            let t = Instant::now();
            let d = env.deliver.send(e, SECRET).await?;
            anyhow::ensure!(d.status == 200, "{}: {} {}", e.id, d.status, d.body);
            Ok((t.elapsed().as_secs_f64() * 1e3, d.outcome().to_string()))
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut phase = Phase { seconds, latencies_ms: Vec::new(), outcomes: Default::default() };
    for r in results {
        let (ms, outcome) = r?;
        phase.latencies_ms.push(ms);
        *phase.outcomes.entry(outcome).or_default() += 1;
    }
    Ok(phase)
}

async fn run() -> anyhow::Result<()> {
    let n = env_or("BENCH_EVENTS", 2_000);
    let concurrency = env_or("BENCH_CONCURRENCY", 16);
    let env = Env::new().await?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let player = env.player();
        let (_, pi) = env.paid_purchase(&player, 1_000).await?;
        events.push(env.events.succeeded(&pi));
    }
    let first = deliver_all(&env, &events, concurrency).await?;
    let duplicates = deliver_all(&env, &events, concurrency).await?;
    env.check_ledger().await?;
    let (f, d) = (first.json(), duplicates.json());
    let result = serde_json::json!({
        "events": n, "concurrency": concurrency,
        "first_deliveries": f, "duplicate_deliveries": d,
        "duplicate_to_first_p50_ratio": d["p50_ms"].as_f64().unwrap_or(f64::NAN) / f["p50_ms"].as_f64().unwrap_or(f64::NAN),
        "service_build": std::env::var("MVE_PLATFORM_PROFILE").unwrap_or_default(),
    });
    let path = harness::results::write_json("stripe-webhooks", "bench_webhooks", &result)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    eprintln!("result: {}", path.display());
    Ok(())
}
