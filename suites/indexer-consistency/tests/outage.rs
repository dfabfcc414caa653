//! Outage and re-sync: the indexer's link to the chain, or to its database, is cut (its own Docker
//! network to anvil or MariaDB is disconnected; everything else stays reachable) while the workload
//! goes on; after the link comes back the indexer catches up. Correctness is asserted; the speed is
//! recorded, not asserted.

mod common;

use std::time::{Duration, Instant};

use common::{Env, assert_consistent, seed};
use harness::generator::Workload;

/// The PR gate's outage: 150 operations mined while the indexer cannot see the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_chain_outage_the_indexer_catches_up_and_agrees() -> anyhow::Result<()> {
    outage_then_catch_up("outage_resync", 150).await
}

/// The nightly profile's long outage: 600 operations behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nightly_after_a_long_chain_outage_the_indexer_catches_up_and_agrees() -> anyhow::Result<()> {
    outage_then_catch_up("nightly_outage_resync", 600).await
}

async fn outage_then_catch_up(test: &str, operations_during: usize) -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let anvil = env.chain.handle().expect("a container chain");
    let link = env.stack.link_to(anvil).await?;
    let indexer = env.start_indexer_with(env.indexer_env(link.url())).await?;
    link.attach(&indexer.handle).await?;

    let s = seed(4_301);
    let mut generator = env.generator(s);
    env.run(&mut generator, &Workload::new(s, 100)).await?;
    let before = env.settle(&indexer).await?;
    let events_before = indexer.api.status().await?.events_indexed;

    link.cut().await?;
    let cut_at = Instant::now();
    let during = env.run(&mut generator, &Workload::new(s + 1, operations_during)).await?;
    // The indexer noticed: it says the chain is unreachable and stands where it was.
    let status = harness::wait::until("indexer reporting the chain unreachable", Duration::from_secs(30), || async {
        let s = indexer.api.status().await?;
        Ok::<_, harness::Error>((!s.chain_reachable).then_some(s))
    })
    .await?;
    assert_eq!(status.current_block, Some(before), "no progress without the chain");
    assert!(status.last_error.as_deref().is_some_and(|e| e.starts_with("chain")), "status names the chain: {status:?}");
    let outage = cut_at.elapsed();

    link.restore().await?;
    let restored_at = Instant::now();
    let head = env.settle(&indexer).await?;
    let resync = restored_at.elapsed();
    let after = indexer.api.status().await?;
    assert!(after.chain_reachable && after.last_error.is_none(), "status recovered: {after:?}");

    let verdict = env.check(&indexer, head).await?;
    let blocks = head - before;
    let events = after.events_indexed - events_before;
    let result = serde_json::json!({
        "seed": s,
        "outage_seconds": outage.as_secs_f64(),
        "blocks_behind_at_restore": blocks,
        "events_behind_at_restore": events,
        "resync_seconds": resync.as_secs_f64(),
        "blocks_per_second": blocks as f64 / resync.as_secs_f64(),
        "events_per_second": events as f64 / resync.as_secs_f64(),
        "workload_during_outage": during,
    });
    eprintln!("re-sync: {blocks} blocks, {events} events in {:.2} s", resync.as_secs_f64());
    assert_consistent(test, &verdict, result);
    Ok(())
}

/// The indexer cut off its database while the chain moves on. Reads that need MariaDB answer 503
/// with a JSON error that says so: the client may retry, and it is neither a 500 nor a hang (the
/// harness's client gives up after 10 s). `/status` names the database. Once the link is back, the
/// same reads give the same answers as before the cut, and the indexer catches up and agrees with
/// the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_its_database_is_cut_off_reads_are_503_and_afterwards_the_indexer_catches_up() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    // The indexer reaches MariaDB over a link of its own: the other tests keep the shared MariaDB.
    let link = env.stack.link_to(env.stack.mariadb()?).await?;
    let mut config = env.indexer_env(&env.chain.network_url.clone().expect("container chain"));
    config.retain(|(k, _)| *k != "INDEXER_DATABASE_URL");
    config.push(("INDEXER_DATABASE_URL", format!("{}/{}", link.url(), env.db.name)));
    let indexer = env.start_indexer_linked(config, &[&link]).await?;
    let s = seed(4_311);
    let mut generator = env.generator(s);
    env.run(&mut generator, &Workload::new(s, 60)).await?;
    let before = env.settle(&indexer).await?;
    let robot = *indexer.api.robot_ids(before).await?.first().ok_or_else(|| anyhow::anyhow!("the workload minted no robot"))?;
    let reads = database_reads(&env, before, robot);
    let mut answers = Vec::new();
    for path in &reads {
        let a = indexer.api.get(path).await?;
        anyhow::ensure!(a.status == 200, "before the cut, GET {path}: {} {}", a.status, a.body);
        answers.push(as_of_then(a.body));
    }

    link.cut().await?;
    let during = env.run(&mut generator, &Workload::new(s + 1, 60)).await?;
    // At once: each waits out the pool's acquire timeout before its 503.
    let cut_off = futures::future::join_all(reads.iter().map(|path| indexer.api.get(path))).await;
    for (path, a) in reads.iter().zip(cut_off) {
        let a = a?;
        let message = a.body["error"].as_str().unwrap_or_default();
        assert!(a.status == 503 && message.starts_with("database unavailable"), "GET {path} without a database: {} {}\nindexer log:\n{}", a.status, a.body, indexer.log_tail().await);
    }
    let status = harness::wait::until("indexer reporting the database in /status", Duration::from_secs(30), || async {
        let s = indexer.api.status().await?;
        Ok::<_, harness::Error>(s.last_error.as_deref().is_some_and(|e| e.starts_with("database")).then_some(s))
    })
    .await?;
    assert!(!status.database_reachable && status.chain_reachable, "status blames the database alone: {status:?}");
    assert_eq!(status.current_block, Some(before), "no progress without the database");

    link.restore().await?;
    let restored_at = Instant::now();
    let head = env.settle(&indexer).await?;
    let resync = restored_at.elapsed();
    for (path, before) in reads.iter().zip(&answers) {
        let a = indexer.api.get(path).await?;
        assert!(a.status == 200 && &as_of_then(a.body) == before, "GET {path} after the database came back: {} (a different answer from before the cut)", a.status);
    }
    let after = indexer.api.status().await?;
    assert!(after.database_reachable && after.last_error.is_none(), "status recovered: {after:?}");
    let verdict = env.check(&indexer, head).await?;
    let result = serde_json::json!({
        "seed": s,
        "blocks_behind_at_restore": head - before,
        "resync_seconds": resync.as_secs_f64(),
        "workload_during_outage": during,
    });
    assert_consistent("database_outage_resync", &verdict, result);
    Ok(())
}

/// One read of every route that goes to MariaDB (`?at=` reads never come from Redis).
fn database_reads(env: &Env, at: u64, robot: u64) -> Vec<String> {
    let owner = env.players[0];
    vec![
        format!("/robots?at={at}"),
        format!("/robots/{robot}?at={at}"),
        format!("/items?at={at}"),
        format!("/owners/{owner:#x}/items?at={at}"),
        format!("/owners/{owner:#x}/balance?at={at}"),
        format!("/players?at={at}"),
        format!("/events?from=0&to={at}"),
    ]
}

/// An answer without what moves on with the indexer (`/events` says how far it has indexed).
fn as_of_then(mut body: serde_json::Value) -> serde_json::Value {
    if let Some(o) = body.as_object_mut() {
        o.remove("indexed_up_to");
    }
    body
}

/// MVE-24b: the link-cut test above failed in CI (2026-12-03, seed 4311) with `/status` silent for
/// 30 s: the cut had caught the indexer's round mid-statement, and sqlx bounds acquiring a
/// connection, not a statement, so the round waited out TCP's retries. A statement that never
/// answers is reproduced here without a race: another session holds `index_cursor` under
/// `LOCK TABLES ... WRITE`, which every round and every read waits on. The round must give up
/// within `INDEXER_DATABASE_TIMEOUT_MS` and say so in `/status`, a read must answer 503 (the
/// harness's client would give up at 10 s, the deadline here is 2 s), and once the lock is gone the
/// indexer catches up and agrees with the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_p2_mve24_a_database_that_stops_answering_is_reported_and_read_as_503_not_waited_on() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let mut config = env.indexer_env(&env.chain.network_url.clone().expect("container chain"));
    config.push(("INDEXER_DATABASE_TIMEOUT_MS", "2000".into()));
    let indexer = env.start_indexer_with(config).await?;
    let s = seed(2_402);
    let mut generator = env.generator(s);
    env.run(&mut generator, &Workload::new(s, 20)).await?;
    let before = env.settle(&indexer).await?;

    let mut holder = env.db.pool.acquire().await?;
    sqlx::raw_sql("LOCK TABLES index_cursor WRITE").execute(&mut *holder).await?;
    env.run(&mut generator, &Workload::new(s + 1, 20)).await?;
    let status = harness::wait::until("indexer reporting the database's silence in /status", Duration::from_secs(20), || async {
        let s = indexer.api.status().await?;
        Ok::<_, harness::Error>(s.last_error.as_deref().is_some_and(|e| e.starts_with("database: no answer within 2000 ms")).then_some(s))
    })
    .await;
    let read = indexer.api.get("/robots").await;
    sqlx::raw_sql("UNLOCK TABLES").execute(&mut *holder).await?;
    drop(holder);
    let status = match status {
        Ok(s) => s,
        Err(e) => anyhow::bail!("{e}\nindexer log:\n{}", indexer.log_tail().await),
    };
    assert!(!status.database_reachable && status.chain_reachable, "status blames the database alone: {status:?}");
    assert_eq!(status.current_block, Some(before), "no progress while the database is silent");
    let read = read?;
    assert!(
        read.status == 503 && read.body["error"].as_str().unwrap_or_default().starts_with("database unavailable: no answer within 2000 ms"),
        "GET /robots while the database is silent: {} {}",
        read.status,
        read.body
    );

    let head = env.settle(&indexer).await?;
    let after = indexer.api.status().await?;
    assert!(after.database_reachable && after.last_error.is_none(), "status recovered: {after:?}");
    let verdict = env.check(&indexer, head).await?;
    assert_consistent("database_silent_resync", &verdict, serde_json::json!({ "seed": s, "blocks_behind_at_unlock": head - before }));
    Ok(())
}
