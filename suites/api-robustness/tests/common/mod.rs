#![allow(dead_code)] // each test binary uses a part of it
//! The stack every test here starts: the whole MVE with some history on both sides.

use std::sync::Arc;
use std::time::Duration;

use harness::generator::{Generator, Workload};
use harness::mve::system::{Mve, WEBHOOK_SECRET};

/// The seed of a run: `MVE_SEED` or a fixed default, printed so a failure reproduces.
pub fn seed(default: u64) -> u64 {
    let seed = api_robustness::env_or("MVE_SEED", default);
    eprintln!("seed {seed} (MVE_SEED={seed} reproduces this run)");
    seed
}

/// The MVE with `ops` chain operations done and indexed, and three players' purchases paid.
pub async fn mve_with_history(seed: u64, ops: usize, extra_env: &[(&'static str, String)]) -> anyhow::Result<Arc<Mve>> {
    Ok(mve_and_generator(seed, ops, extra_env).await?.0)
}

/// [`mve_with_history`] and the generator that wrote the chain's history (its model knows every
/// robot and item, so it can go on).
pub async fn mve_and_generator(seed: u64, ops: usize, extra_env: &[(&'static str, String)]) -> anyhow::Result<(Arc<Mve>, Generator)> {
    let mve = Mve::start_with(seed, extra_env).await?;
    let mut generator = Generator::new(seed, mve.admin, mve.players.clone(), 0.05);
    generator.run(&mve.chain.provider, &mve.d, &Workload::new(seed, ops)).await?;
    let head = alloy::providers::Provider::get_block_number(&mve.chain.provider).await?;
    mve.indexer_api().await?.wait_for_block(head, Duration::from_secs(120)).await?;
    let http = reqwest::Client::new();
    let base = mve.payments_url().await?;
    let deliverer = mve.deliverer().await?;
    for (i, player) in ["history_a", "history_b", "history_c"].iter().enumerate() {
        let r: serde_json::Value =
            http.post(format!("{base}/purchases")).json(&serde_json::json!({ "player_id": player, "credits": 100 * (i as i64 + 1) })).send().await?.error_for_status()?.json().await?;
        let pi = mve.stripe.succeed(r["payment_intent"].as_str().unwrap_or_default())?;
        deliverer.until_accepted(&mve.events.succeeded(&pi), WEBHOOK_SECRET, 5, Duration::from_millis(200)).await?;
    }
    Ok((Arc::new(mve), generator))
}

/// `host:port` of a base URL (`http://127.0.0.1:1234` → `127.0.0.1:1234`).
pub fn addr(base: &str) -> String {
    base.trim_start_matches("http://").trim_end_matches('/').to_string()
}
