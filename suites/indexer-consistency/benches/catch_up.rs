//! Benchmark (not a test): cold catch-up speed and API read latency.
//!
//! 1. Fills a chain with `BENCH_EVENTS` events (default 100,000: robot mints of 4 events each,
//!    many transactions per block), then starts an indexer on an empty database and measures how
//!    long it takes to reach the head: events and blocks per second.
//! 2. Runs `BENCH_READERS` concurrent readers (default 16) for `BENCH_READ_SECONDS` (default 10)
//!    against the latest-state endpoints and reports latency percentiles.
//!
//! `cargo bench -p indexer-consistency --bench catch_up`; the indexer runs as a release build.
//! Results: target/mve-results/indexer-consistency/bench_catch_up.json.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use futures::StreamExt;
use harness::indexer_api::IndexerApi;
use harness::{Service, Stack};
use mve_contracts::{BunkerguardRobot, Deployment};
use rand::{Rng, SeedableRng};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    if std::env::var_os("MVE_PLATFORM_PROFILE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("MVE_PLATFORM_PROFILE", "release") };
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let target_events = env_or("BENCH_EVENTS", 100_000);
    let readers = env_or("BENCH_READERS", 16) as usize;
    let read_seconds = env_or("BENCH_READ_SECONDS", 10);

    let stack = Stack::builder().mariadb().redis().anvil().private().await?;
    let chain = stack.fresh_chain().await?;
    let db = stack.fresh_database().await?;
    let redis = stack.fresh_redis().await?;
    let p = &chain.provider;
    let accounts = p.get_accounts().await?;
    let admin = accounts[0];
    let d = Deployment::deploy(p, admin).await?;

    // Fill: blocks of 200 mints each, sent concurrently, mined by hand.
    let fill_started = Instant::now();
    p.anvil_set_auto_mine(false).await?;
    p.anvil_set_block_gas_limit(2_000_000_000).await?;
    let per_block = 200u64;
    let mints = target_events.div_ceil(4);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4_900);
    let mut sent = 0u64;
    // Nonces set here: concurrent sends would otherwise race for the same one.
    let mut nonce = p.get_transaction_count(admin).await?;
    while sent < mints {
        let n = per_block.min(mints - sent);
        let txs: Vec<TransactionRequest> = (0..n)
            .map(|_| {
                nonce += 1;
                let to = accounts[rng.random_range(1..accounts.len())];
                let base: [u16; 12] = std::array::from_fn(|_| rng.random_range(10..200));
                TransactionRequest::default().with_from(admin).with_nonce(nonce - 1).with_to(d.robot).with_gas_limit(500_000).with_input(BunkerguardRobot::mintCall { to, base }.abi_encode())
            })
            .collect();
        let hashes: Vec<anyhow::Result<B256>> = futures::stream::iter(txs).map(|tx| async move { Ok(p.client().request("eth_sendTransaction", (tx,)).await?) }).buffered(16).collect().await;
        for h in hashes {
            h?;
        }
        // Mine until every transaction sent so far is in a block.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            p.anvil_mine(Some(1), None).await?;
            if p.get_transaction_count(admin).await? >= nonce {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "transactions stayed pending");
        }
        sent += n;
    }
    p.anvil_set_auto_mine(true).await?;
    let head = p.get_block_number().await?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    eprintln!("filled: {mints} mints up to block {head} in {fill_seconds:.1} s");

    // Cold catch-up.
    let env = vec![
        ("INDEXER_RPC_URL", chain.network_url.clone().expect("container chain")),
        ("INDEXER_DATABASE_URL", db.network_url.clone().expect("container database")),
        ("INDEXER_REDIS_URL", redis.network_url.clone().expect("container redis")),
        ("INDEXER_ROBOT_ADDRESS", format!("{:#x}", d.robot)),
        ("INDEXER_ITEM_ADDRESS", format!("{:#x}", d.item)),
        ("INDEXER_NTC_ADDRESS", format!("{:#x}", d.ntc)),
        ("INDEXER_POLL_MS", "20".into()),
    ];
    let indexer = stack.start_platform(Service::Indexer, &env).await?;
    let started = Instant::now();
    let api = IndexerApi::new(&indexer.url().await?);
    let status = api.wait_for_block(head, Duration::from_secs(3_600)).await?;
    let catch_up = started.elapsed().as_secs_f64();
    let events = status.events_indexed;
    eprintln!("catch-up: {events} events, {head} blocks in {catch_up:.1} s = {:.0} events/s", events as f64 / catch_up);

    let logs = p.get_logs(&alloy::rpc::types::Filter::new().address(vec![d.robot, d.item, d.ntc]).from_block(0).to_block(head)).await?.len() as u64;
    anyhow::ensure!(events == logs, "the indexer stored {events} events, the chain has {logs}");

    // Reads under load.
    let robots = d.robot(p).nextRobotId().call().await?.to::<u64>() - 1;
    let players: Vec<Address> = accounts[1..].to_vec();
    let deadline = Instant::now() + Duration::from_secs(read_seconds);
    let tasks: Vec<_> = (0..readers)
        .map(|i| {
            let api = api.clone();
            let players = players.clone();
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut not_found = 0u64;
                while Instant::now() < deadline {
                    let path = match rng.random_range(0..3) {
                        0 => format!("/robots/{}", rng.random_range(1..=robots)),
                        1 => format!("/owners/{:#x}/balance", players[rng.random_range(0..players.len())]),
                        _ => format!("/robots/{}?at={}", rng.random_range(1..=robots), rng.random_range(head / 2..=head)),
                    };
                    let t = Instant::now();
                    match api.get(&path).await {
                        Ok(a) if a.status == 200 => latencies.push(t.elapsed().as_secs_f64() * 1e3),
                        // A robot asked for at a block before its mint: a right answer, counted apart.
                        Ok(a) if a.status == 404 => not_found += 1,
                        _ => errors += 1,
                    }
                }
                (latencies, errors, not_found)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut not_found = 0;
    for t in tasks {
        let (l, e, n) = t.await?;
        latencies.extend(l);
        errors += e;
        not_found += n;
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    let result = serde_json::json!({
        "events": events,
        "blocks": head,
        "fill_seconds": fill_seconds,
        "catch_up_seconds": catch_up,
        "catch_up_events_per_second": events as f64 / catch_up,
        "catch_up_blocks_per_second": head as f64 / catch_up,
        "reads": { "readers": readers, "seconds": read_seconds, "requests": latencies.len(), "errors": errors, "not_found": not_found,
                   "requests_per_second": latencies.len() as f64 / read_seconds as f64,
                   "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": pct(1.0) },
        "indexer_build": std::env::var("MVE_PLATFORM_PROFILE").unwrap_or_default(),
    });
    let path = harness::results::write_json("indexer-consistency", "bench_catch_up", &result)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    eprintln!("result: {}", path.display());
    Ok(())
}
