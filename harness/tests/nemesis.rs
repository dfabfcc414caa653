//! The fault primitives do what `harness::nemesis` documents, seen from a client on this machine
//! and from another container on the stack's network.

use std::time::Duration;

use harness::{Fault, ServiceHandle, Stack};

/// One PING with a short deadline: a paused Redis accepts the connection but never answers.
async fn ping(url: &str) -> anyhow::Result<()> {
    let attempt = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
        anyhow::ensure!(pong == "PONG", "PING answered {pong:?}");
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.map_err(|_| anyhow::anyhow!("no answer within 2 s"))?
}

async fn refuses_connections(url: &str) -> bool {
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.is_err()
}

/// From inside `from`'s container: PING `to` by its container name over the stack's network.
async fn ping_by_name(from: &ServiceHandle, to: &ServiceHandle) -> anyhow::Result<bool> {
    let script = format!("exec 3<>/dev/tcp/{}/6379 && printf 'PING\\r\\n' >&3 && timeout 2 head -c 5 <&3", to.container_name().unwrap());
    let (code, out) = from.exec(&["timeout", "3", "bash", "-c", &script]).await?;
    Ok(code == 0 && out.starts_with("+PONG"))
}

#[tokio::test]
async fn pause_keeps_the_port_open_but_nothing_answers() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().private().await?;
    let redis = stack.redis()?;
    let before = redis.url().await?;
    ping(&before).await?;

    redis.inject(Fault::Pause).await?;
    assert!(!refuses_connections(&before).await, "a paused container's port still accepts TCP");
    assert!(ping(&before).await.is_err(), "a paused Redis answered");

    redis.heal(Fault::Pause).await?;
    assert_eq!(redis.url().await?, before, "unpause keeps the mapping");
    ping(&before).await?;
    Ok(())
}

#[tokio::test]
async fn stop_and_kill_refuse_connections_until_healed_on_a_new_port() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().private().await?;
    let redis = stack.redis()?;
    for fault in [Fault::Stop, Fault::Kill] {
        let before = redis.url().await?;
        redis.inject(fault).await?;
        assert!(refuses_connections(&before).await, "{fault:?}: the old port still accepts");
        redis.heal(fault).await?;
        let after = redis.url().await?;
        ping(&after).await.map_err(|e| anyhow::anyhow!("{fault:?}: not answering at the re-read URL {after}: {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn restart_comes_back_at_the_re_read_url() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().private().await?;
    let redis = stack.redis()?;
    let conn_url = redis.url().await?;
    let client = redis::Client::open(conn_url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("SET").arg("k").arg("v").query_async(&mut conn).await?;

    redis.inject(Fault::Restart).await?;
    redis.heal(Fault::Restart).await?;
    let after = redis.url().await?;
    ping(&after).await?;
    // Started with --save "" and no AOF: a restart loses the data, which proves it really restarted.
    let client = redis::Client::open(after.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let v: Option<String> = redis::cmd("GET").arg("k").query_async(&mut conn).await?;
    assert_eq!(v, None, "the data survived, so the process was not restarted");
    Ok(())
}

#[tokio::test]
async fn cut_network_isolates_from_host_and_peers_until_restored() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().mariadb().private().await?;
    let (redis, peer) = (stack.redis()?, stack.mariadb()?);
    assert!(ping_by_name(peer, redis).await?, "containers on the stack's network reach each other by name");

    let before = redis.url().await?;
    redis.inject(Fault::CutNetwork).await?;
    assert!(refuses_connections(&before).await, "a cut container's published port still accepts");
    assert!(!ping_by_name(peer, redis).await?, "a peer still reaches the cut container");

    redis.heal(Fault::CutNetwork).await?;
    ping(&redis.url().await?).await?;
    assert!(ping_by_name(peer, redis).await?, "after restore, peers reach it by name again");
    Ok(())
}
