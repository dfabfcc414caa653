//! Each service starts from its image and answers its real protocol; image choice and the errors a
//! developer sees without Docker or without images.

use std::process::Command;

use alloy::providers::Provider;
use harness::{L3_CHAIN_ID, Service, Stack};

#[tokio::test]
async fn mariadb_answers_a_query() -> anyhow::Result<()> {
    let stack = Stack::builder().mariadb().shared().await?;
    let db = stack.fresh_database().await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()").fetch_one(&db.pool).await?;
    assert!(version.contains("MariaDB"), "not MariaDB: {version}");
    assert!(db.url.starts_with("mysql://root:") && db.url.contains("@127.0.0.1:"), "host URL must use 127.0.0.1: {}", db.url);
    Ok(())
}

#[tokio::test]
async fn redis_answers_ping_and_has_room_for_a_database_per_test() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().shared().await?;
    let redis = stack.fresh_redis().await?;
    let mut conn = redis.connection().await?;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
    assert_eq!(pong, "PONG");
    let databases: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("databases").query_async(&mut conn).await?;
    assert_eq!(databases[1], harness::service::REDIS_DATABASES.to_string());
    Ok(())
}

#[tokio::test]
async fn anvil_runs_the_l3_chain_id() -> anyhow::Result<()> {
    let stack = Stack::builder().anvil().shared().await?;
    let chain = stack.fresh_chain().await?;
    assert_eq!(chain.provider.get_chain_id().await?, L3_CHAIN_ID);
    assert_eq!(chain.provider.get_block_number().await?, 0, "a fresh chain starts at genesis");
    assert!(!chain.provider.get_accounts().await?.is_empty(), "anvil's funded dev accounts");
    Ok(())
}

#[test]
fn image_choice_prefers_override_then_local_then_upstream() {
    for service in Service::ALL {
        assert_eq!(harness::stack::choose_image(service, Some("x/y:1".into()), true), "x/y:1");
        assert_eq!(harness::stack::choose_image(service, None, true), service.local_image());
        assert_eq!(harness::stack::choose_image(service, None, false), service.upstream_image());
    }
}

fn mve_harness() -> Command {
    let mut cmd = Command::new(harness::prebuilt::bin_exe("mve-harness", env!("CARGO_BIN_EXE_mve-harness")));
    // The child is its own owner, not part of this nextest run.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXTEST") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn without_a_docker_engine_the_error_says_to_run_setup() {
    let out = mve_harness().args(["up", "private", "redis"]).env("DOCKER_HOST", "unix:///nonexistent/docker.sock").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no Docker engine answers") && stderr.contains("scripts/setup"), "unclear error: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line, not a backtrace: {stderr}");
}

#[test]
fn a_missing_image_fails_fast_naming_the_image_and_the_fix() {
    let started = std::time::Instant::now();
    let out = mve_harness().args(["up", "private", "redis"]).env("MVE_IMAGE_REDIS", "mve-local/no-such-image:0").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("mve-local/no-such-image:0") && stderr.contains("MVE_IMAGE_REDIS"), "unclear error: {stderr}");
    // Generous bound: only guards against a hang waiting on a registry that cannot answer.
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// Regression (CI, 2026-12-03): the scratch directory was one `$TMPDIR/mve-harness` for every user,
/// so after root's gate run the workflow dry run's runner could not open a lock in it ("Permission
/// denied") and a lease waited 300 s on the error. A path in the way of the old name stands in for
/// the other user's directory (root passes any permission check, a file in the way it cannot).
#[test]
fn a_scratch_path_another_user_left_in_the_temp_dir_does_not_stop_the_harness() {
    let tmp = std::env::temp_dir().join(format!("mve-scratch-test-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("mve-harness"), "another user's directory").unwrap();
    let out = mve_harness().args(["up", "shared", "redis", "--then", "exit"]).env("TMPDIR", &tmp).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    std::fs::remove_dir_all(&tmp).ok();
    assert!(out.status.success(), "mve-harness up failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("no cleanup watcher"), "the watcher did not start: {stderr}");
}

/// Regression (CI, 2026-12-03): the gate holds a shared network per test binary until it ends, and
/// the workflow dry run inside it found no address pool left for its own ("could not find an
/// available, non-overlapping IPv4 address pool"): Docker's default pools hold 31 networks.
/// scripts/setup starts the engine with pools of /24s; this asks for 64 harness networks at once.
#[tokio::test]
async fn the_engine_hands_out_sixty_four_harness_networks_at_once() -> anyhow::Result<()> {
    let docker = harness::docker::connect().await?;
    let session = harness::session::current();
    // "n" is no hex digit: these names can never be a harness network (`mve-<hex>`), which this
    // test would otherwise remove from under the run (CI, 2026-12-03: "has active endpoints").
    let names: Vec<String> = (0..64).map(|i| format!("mve-n{}{i:02}", &session.run_key[..8])).collect();
    let mut made = Vec::new();
    let mut failed = None;
    for name in &names {
        match harness::docker::ensure_network(&docker, name, &session.run_key).await {
            Ok(()) => made.push(name.clone()),
            Err(e) => {
                failed = Some(format!("network {} of 64: {e}", made.len() + 1));
                break;
            }
        }
    }
    for name in &made {
        harness::docker::remove_network(&docker, name).await?;
    }
    assert!(failed.is_none(), "{} (scripts/setup starts dockerd with --default-address-pool …,size=24)", failed.unwrap_or_default());
    Ok(())
}
