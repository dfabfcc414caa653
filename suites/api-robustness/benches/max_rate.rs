//! Benchmark (not a test): per API, the highest request rate at which p99 latency stays under
//! 100 ms on this machine.
//!
//! Each API gets an open-loop load (requests start at a fixed rate whatever the answers do, each
//! timed from when it was due: see `harness::users::at_rate`) stepped up by doubling from
//! `BENCH_START_RATE` (default 25/s) for `BENCH_STEP_SECONDS` (default 10) each, until p99 reaches
//! the target or a request fails; then two bisection steps between the last rate that held and the
//! first that did not. The APIs:
//! - `indexer reads`: `GET /robots/{id}`, `/items/{id}`, `/owners/{address}/balance` in turn;
//! - `payments reads`: `GET /players/{id}/balance`;
//! - `payments purchases`: `POST /purchases` (each one a Stripe API call, to the simulator).
//!
//! `cargo bench -p api-robustness --bench max_rate` (the services run as a release build; set
//! `MVE_PLATFORM_PROFILE=dev` to measure the debug build the tests use).
//! Results: target/mve-results/api-robustness/bench_max_rate.json.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use api_robustness::env_or;
use harness::users::{RateStep, at_rate};

const P99_TARGET_MS: f64 = 100.0;

fn main() -> anyhow::Result<()> {
    if std::env::var_os("MVE_PLATFORM_PROFILE").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("MVE_PLATFORM_PROFILE", "release") };
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

type Request = Arc<dyn Fn(u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Send + Sync>;

fn holds(s: &RateStep) -> bool {
    s.failed == 0 && s.p99_ms < P99_TARGET_MS
}

/// Steps the rate up until the target breaks, then bisects twice. Returns every step and the
/// highest rate that held (0 if none did).
async fn ladder(name: &str, request: Request) -> (Vec<RateStep>, u64) {
    let step = Duration::from_secs(env_or("BENCH_STEP_SECONDS", 10));
    let mut rate: u64 = env_or("BENCH_START_RATE", 25);
    let mut steps = Vec::new();
    let (mut good, mut bad) = (0u64, None);
    while rate <= 20_000 {
        let r = request.clone();
        let s = at_rate(rate, step, 2_048, move |k| r(k)).await;
        eprintln!("{name}: {rate}/s → p50 {:.1} ms, p99 {:.1} ms, {} failed, {:.0}/s done", s.p50_ms, s.p99_ms, s.failed, s.achieved_per_s);
        let ok = holds(&s);
        steps.push(s);
        if ok {
            good = rate;
            rate *= 2;
        } else {
            bad = Some(rate);
            break;
        }
    }
    if let Some(mut hi) = bad {
        for _ in 0..2 {
            let mid = (good + hi) / 2;
            if mid <= good || mid >= hi {
                break;
            }
            let r = request.clone();
            let s = at_rate(mid, step, 2_048, move |k| r(k)).await;
            eprintln!("{name}: {mid}/s → p50 {:.1} ms, p99 {:.1} ms, {} failed, {:.0}/s done", s.p50_ms, s.p99_ms, s.failed, s.achieved_per_s);
            if holds(&s) {
                good = mid
            } else {
                hi = mid
            }
            steps.push(s);
        }
    }
    (steps, good)
}

async fn run() -> anyhow::Result<()> {
    let seed = common::seed(14_401);
    let mve = common::mve_with_history(seed, 60, &[]).await?;
    let api = mve.indexer_api().await?;
    let head = api.status().await?.current_block.unwrap_or(0);
    let robots = Arc::new(api.robot_ids(head).await?);
    let items = Arc::new(api.item_ids(head).await?);
    let owners = Arc::new(mve.players.clone());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).pool_max_idle_per_host(usize::MAX).build()?;
    let (indexer, payments) = (mve.indexer.url().await?, mve.payments_url().await?);

    let get = |http: reqwest::Client, url: String| async move { http.get(url).send().await.is_ok_and(|r| r.status().is_success()) };
    let indexer_reads: Request = {
        let (http, base) = (http.clone(), indexer.clone());
        Arc::new(move |k| {
            let path = match k % 3 {
                0 if !robots.is_empty() => format!("/robots/{}", robots[k as usize % robots.len()]),
                1 if !items.is_empty() => format!("/items/{}", items[k as usize % items.len()]),
                _ => format!("/owners/{:#x}/balance", owners[k as usize % owners.len()]),
            };
            Box::pin(get(http.clone(), format!("{base}{path}")))
        })
    };
    let payments_reads: Request = {
        let (http, base) = (http.clone(), payments.clone());
        Arc::new(move |k| Box::pin(get(http.clone(), format!("{base}/players/history_{}/balance", ["a", "b", "c"][k as usize % 3]))))
    };
    let purchases: Request = {
        let (http, base) = (http.clone(), payments.clone());
        Arc::new(move |k| {
            let (http, base) = (http.clone(), base.clone());
            Box::pin(async move {
                http.post(format!("{base}/purchases")).json(&serde_json::json!({ "player_id": format!("bench_{}", k % 50), "credits": 500 })).send().await.is_ok_and(|r| r.status().as_u16() == 201)
            })
        })
    };

    let mut out = serde_json::Map::new();
    for (name, request) in [("indexer reads", indexer_reads), ("payments reads", payments_reads), ("payments purchases", purchases)] {
        let (steps, best) = ladder(name, request).await;
        eprintln!("{name}: highest rate with p99 < {P99_TARGET_MS} ms: {best}/s");
        out.insert(name.to_string(), serde_json::json!({ "max_rate_per_s_with_p99_under_100ms": best, "steps": steps }));
    }
    let path = harness::results::write_json(
        "api-robustness",
        "bench_max_rate",
        &serde_json::json!({
            "seed": seed,
            "platform_profile": std::env::var("MVE_PLATFORM_PROFILE").unwrap_or_default(),
            "p99_target_ms": P99_TARGET_MS,
            "step_seconds": env_or("BENCH_STEP_SECONDS", 10u64),
            "apis": out,
        }),
    )?;
    eprintln!("{}", path.display());
    Ok(())
}
