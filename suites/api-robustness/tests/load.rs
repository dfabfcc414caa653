//! Many users at once on both services while the chain keeps moving: readers of the indexer,
//! buyers on payments. Fails on correctness only — a wrong answer (checked against the chain at
//! the answer's block, or against what the buyer knows its balance is), a 5xx, a lost answer, a
//! lost or doubled write (the ledger's tables at the end) — never on a latency. Per-endpoint
//! latency percentiles and error rates go to `target/mve-results/api-robustness/<name>.json`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api_robustness::env_or;
use api_robustness::journeys::{self, Observed, Pace, World};
use harness::generator::Workload;
use harness::users::Endpoints;

struct Shape {
    name: &'static str,
    users: usize,
    duration: Duration,
    pace: Pace,
}

async fn run(shape: Shape, seed: u64) {
    let (mve, mut generator) = common::mve_and_generator(seed, 60, &[]).await.expect("the MVE starts");
    let api = mve.indexer_api().await.expect("indexer API");
    let head = api.status().await.expect("status").current_block.expect("indexed");
    let (robots, items) = (api.robot_ids(head).await.expect("robots"), api.item_ids(head).await.expect("items"));
    // Idle connections kept for less than the services' 10 s header time-out, which closes them:
    // a request sent on a connection the server is closing at that moment is lost (as browsers
    // and HTTP libraries know, and why they keep idle connections briefly).
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).pool_idle_timeout(Duration::from_secs(5)).pool_max_idle_per_host(usize::MAX).build().expect("client");
    let world = Arc::new(World {
        mve: mve.clone(),
        indexer: mve.indexer.url().await.expect("url"),
        payments: mve.payments_url().await.expect("url"),
        robots,
        items,
        owners: mve.players.clone(),
        http,
        endpoints: Endpoints::default(),
        observed: Observed::default(),
        pace: shape.pace,
        seed,
    });
    let readers = shape.users * 6 / 10;
    eprintln!("{}: {} users ({readers} readers, {} buyers) for {:?}", shape.name, shape.users, shape.users - readers, shape.duration);

    // The chain keeps moving under the readers.
    let until = Instant::now() + shape.duration;
    let chain = {
        let mve = mve.clone();
        tokio::spawn(async move {
            let mut ops = 0;
            let mut round = 0;
            while Instant::now() < until {
                round += 1;
                let report = generator.run(&mve.chain.provider, &mve.d, &Workload::new(seed + 1_000 + round, 5)).await?;
                anyhow::ensure!(report.unexpected_reverts == 0 && report.unexpected_successes == 0, "the chain and the model disagree: {report:?}");
                ops += report.sent;
            }
            Ok::<_, anyhow::Error>(ops)
        })
    };
    let started = Instant::now();
    let w = world.clone();
    let load = harness::users::run(shape.users, Duration::from_secs(2), move |i| {
        let w = w.clone();
        async move { if i < readers { journeys::reader(w, i, until).await } else { journeys::buyer(w, i, until).await } }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let chain_ops = chain.await.expect("chain task").expect("the chain load");
    load.expect("the load ran (a failure here is the load's own, not the system's)");

    // The checks.
    let head = alloy::providers::Provider::get_block_number(&mve.chain.provider).await.expect("head");
    api.wait_for_block(head, Duration::from_secs(120)).await.expect("the indexer catches up");
    let (checked, differences) = world.observed.check_against_chain(&mve).await.expect("the chain answers");
    let buyers = world.observed.buyers.lock().expect("buyers").clone();
    let (_, payments_pool) = mve.pools().await.expect("pools");
    let players: Vec<String> = buyers.iter().map(|(p, _)| p.clone()).collect();
    let ledger = harness::ledger::check_tables(&payments_pool, &players).await;
    let mut lost_writes = Vec::new();
    for (player, expected) in &buyers {
        let b = harness::ledger::table_balance(&payments_pool, player).await.expect("balance");
        if b.balance != *expected {
            lost_writes.push(format!("{player}: the tables say {}, the buyer's own account {expected}", b.balance));
        }
    }
    let summary = world.endpoints.summary();
    let wrong = world.observed.wrong.lock().expect("wrong").clone();
    let total = world.endpoints.total();
    let path = harness::results::write_json(
        "api-robustness",
        shape.name,
        &serde_json::json!({
            "seed": seed,
            "users": shape.users,
            "readers": readers,
            "buyers": shape.users - readers,
            "pace_ms": [shape.pace.min.as_millis() as u64, shape.pace.max.as_millis() as u64],
            "seconds": seconds,
            "requests": total,
            "requests_per_second": total as f64 / seconds,
            "chain_operations": chain_ops,
            "purchases": world.observed.purchases.load(std::sync::atomic::Ordering::Relaxed),
            "webhook_deliveries": world.observed.deliveries.load(std::sync::atomic::Ordering::Relaxed),
            "spends": world.observed.spends.load(std::sync::atomic::Ordering::Relaxed),
            "answers_checked_against_chain": checked,
            "chain_differences": differences.len(),
            "wrong_answers": wrong.len(),
            "first_wrong_answers": wrong.iter().take(20).collect::<Vec<_>>(),
            "first_chain_differences": differences.iter().take(20).collect::<Vec<_>>(),
            "endpoints": summary,
        }),
    )
    .expect("result file");
    eprintln!("{total} requests in {seconds:.1} s ({:.0}/s); {checked} answers checked against the chain; {}", total as f64 / seconds, path.display());
    for s in &summary {
        eprintln!("  {:<34} {:>6} req  p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms  errors {:.2} %", s.endpoint, s.requests, s.p50_ms, s.p95_ms, s.p99_ms, s.error_rate_pct);
    }
    // Correctness first, so that a run failing on 5xx still says whether every answer was right.
    assert!(wrong.is_empty(), "{} wrong answers; the first ones:\n{}", wrong.len(), wrong.iter().take(10).cloned().collect::<Vec<_>>().join("\n"));
    assert!(
        differences.is_empty(),
        "{} indexer answers differ from the chain at their block; the first ones:\n{}",
        differences.len(),
        differences.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    ledger.expect("the ledger's invariants hold after the load");
    assert!(lost_writes.is_empty(), "lost or doubled writes:\n{}", lost_writes.join("\n"));
    let failing: Vec<String> = summary
        .iter()
        .filter(|s| s.status_5xx + s.lost > 0)
        .map(|s| format!("{}: {} 5xx (first: {:?}), {} lost (first: {:?})", s.endpoint, s.status_5xx, s.first_server_error, s.lost, s.first_lost))
        .collect();
    assert!(failing.is_empty(), "every answer was right, but these the users did not get:\n{}", failing.join("\n"));
    assert!(checked > 0 && world.observed.purchases.load(std::sync::atomic::Ordering::Relaxed) > 0, "the load did nothing worth checking");
}

#[tokio::test(flavor = "multi_thread")]
async fn nightly_a_hundred_users_get_right_answers_and_no_5xx_from_both_services() {
    let shape = Shape {
        name: "load_100_users",
        users: env_or("MVE_API_USERS", 100),
        duration: Duration::from_secs(env_or("MVE_API_LOAD_SECONDS", 30)),
        pace: Pace { min: Duration::from_millis(250), max: Duration::from_millis(750) },
    };
    run(shape, common::seed(14_301)).await;
}

/// The soak profile's crowd: 1,000 users at a player's pace (1–3 s between requests).
#[tokio::test(flavor = "multi_thread")]
async fn soak_a_thousand_users_get_right_answers_and_no_5xx_from_both_services() {
    let shape = Shape {
        name: "load_1000_users",
        users: env_or("MVE_API_USERS", 1_000),
        duration: Duration::from_secs(env_or("MVE_API_LOAD_SECONDS", 180)),
        pace: Pace { min: Duration::from_millis(1_000), max: Duration::from_millis(3_000) },
    };
    run(shape, common::seed(14_302)).await;
}
