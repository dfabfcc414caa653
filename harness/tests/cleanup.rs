//! Nothing the harness starts outlives its run: not after a panic, not after SIGKILL.
//! Each case runs `mve-harness up ...` as a child process that owns its own containers.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Started {
    child: Child,
    owner: String,
}

fn mve_harness(args: &[&str], watcher: bool) -> Command {
    let mut cmd = Command::new(harness::prebuilt::bin_exe("mve-harness", env!("CARGO_BIN_EXE_mve-harness")));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXTEST") {
            cmd.env_remove(key);
        }
    }
    if !watcher {
        cmd.env("MVE_HARNESS_NO_WATCHER", "1");
    }
    cmd
}

/// Starts the child and reads its stdout until its stack is ready.
async fn start(args: &[&str], watcher: bool) -> anyhow::Result<Started> {
    let mut child = mve_harness(args, watcher).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut owner = None;
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(o) = line.strip_prefix("owner=") {
                owner = Some(o.to_string());
            }
            if line == "ready" {
                return Ok(());
            }
        }
        anyhow::bail!("mve-harness exited before its stack was ready")
    };
    tokio::time::timeout(Duration::from_secs(120), read).await??;
    Ok(Started { child, owner: owner.expect("mve-harness prints owner= first") })
}

async fn left_behind(owner: &str) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let docker = harness::docker::connect().await?;
    let label = format!("{}={owner}", harness::session::LABEL_OWNER);
    Ok((harness::docker::containers_with_label(&docker, &label).await?, harness::docker::networks_with_label(&docker, &label).await?))
}

/// Any harness start also reaps dead owners, so "the containers went" alone would not prove the
/// watcher did it: its lock file must have existed while the owner lived and be gone afterwards.
fn watcher_lock(owner: &str) -> std::path::PathBuf {
    harness::session::watcher_lock_path(&harness::session::Owner::parse(owner).unwrap())
}

async fn wait_for_watcher(owner: &str) -> anyhow::Result<()> {
    wait_until_gone(owner).await?;
    harness::wait::until("the watcher to finish", Duration::from_secs(60), || async { Ok::<_, anyhow::Error>((!watcher_lock(owner).exists()).then_some(())) }).await?;
    Ok(())
}

async fn wait_until_gone(owner: &str) -> anyhow::Result<()> {
    harness::wait::until("the owner's containers and networks to be removed", Duration::from_secs(60), || async {
        let (c, n) = left_behind(owner).await?;
        Ok::<_, anyhow::Error>((c.is_empty() && n.is_empty()).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_panic_with_a_private_stack_removes_its_containers_on_the_way_out() -> anyhow::Result<()> {
    // No watcher: the removal must come from unwinding alone.
    let mut started = start(&["up", "private", "redis", "anvil", "--then", "panic"], false).await?;
    let status = started.child.wait().await?;
    assert!(!status.success(), "the child was meant to panic");
    let (containers, networks) = left_behind(&started.owner).await?;
    assert!(containers.is_empty() && networks.is_empty(), "left behind: {containers:?} {networks:?}");
    Ok(())
}

#[tokio::test]
async fn shared_containers_go_when_their_owner_ends_even_by_panic() -> anyhow::Result<()> {
    let mut started = start(&["up", "shared", "redis", "--then", "panic"], true).await?;
    assert!(watcher_lock(&started.owner).exists(), "no watcher was started for the owner");
    assert!(!started.child.wait().await?.success());
    wait_for_watcher(&started.owner).await
}

#[tokio::test]
async fn after_sigkill_the_watcher_removes_everything() -> anyhow::Result<()> {
    let mut started = start(&["up", "shared", "redis", "--then", "hang"], true).await?;
    assert!(watcher_lock(&started.owner).exists(), "no watcher was started for the owner");
    started.child.start_kill()?; // SIGKILL: no destructor runs.
    started.child.wait().await?;
    wait_for_watcher(&started.owner).await
}

#[tokio::test]
async fn after_sigkill_without_a_watcher_the_next_run_reaps_the_leftovers() -> anyhow::Result<()> {
    let mut started = start(&["up", "private", "redis", "--then", "hang"], false).await?;
    started.child.start_kill()?;
    started.child.wait().await?;
    let (containers, networks) = left_behind(&started.owner).await?;
    assert!(!containers.is_empty() && !networks.is_empty(), "SIGKILL left nothing, so this case proves nothing");

    // What every harness start does first.
    let docker = harness::docker::connect().await?;
    harness::docker::reap_leftovers(&docker).await?;
    let (containers, networks) = left_behind(&started.owner).await?;
    assert!(containers.is_empty() && networks.is_empty(), "not reaped: {containers:?} {networks:?}");
    Ok(())
}
