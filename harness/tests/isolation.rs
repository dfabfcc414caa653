//! Tests of one binary share containers but never data: database, Redis database, chain state.

use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use harness::Stack;
use redis::AsyncCommands;

/// Both `shares_the_container_*` tests record the MariaDB container they got; whichever runs
/// second (nextest runs them as separate processes, possibly at once) sees both ids equal.
async fn record_and_compare_container(test: &str) -> anyhow::Result<()> {
    let stack = Stack::builder().mariadb().shared().await?;
    let id = stack.mariadb()?.container_id().unwrap().to_string();
    let db = stack.fresh_database().await?;

    sqlx::query("CREATE TABLE marker (test VARCHAR(64) NOT NULL)").execute(&db.pool).await?;
    sqlx::query("INSERT INTO marker VALUES (?)").bind(test).execute(&db.pool).await?;
    let rows: Vec<String> = sqlx::query_scalar("SELECT test FROM marker").fetch_all(&db.pool).await?;
    assert_eq!(rows, vec![test.to_string()], "another test's rows leaked into this database");

    let dir = &harness::session::current().dir;
    std::fs::write(dir.join(format!("container-of-{test}")), &id)?;
    for other in ["a", "b"] {
        if let Ok(other_id) = std::fs::read_to_string(dir.join(format!("container-of-{other}"))) {
            assert_eq!(other_id, id, "tests of one binary must share the MariaDB container");
        }
    }
    Ok(())
}

#[tokio::test]
async fn shares_the_container_a() -> anyhow::Result<()> {
    record_and_compare_container("a").await
}

#[tokio::test]
async fn shares_the_container_b() -> anyhow::Result<()> {
    record_and_compare_container("b").await
}

#[tokio::test]
async fn two_fresh_databases_see_nothing_of_each_other() -> anyhow::Result<()> {
    let stack = Stack::builder().mariadb().shared().await?;
    let (one, two) = (stack.fresh_database().await?, stack.fresh_database().await?);
    assert_ne!(one.name, two.name);
    sqlx::query("CREATE TABLE t (x INT)").execute(&one.pool).await?;
    let tables: Vec<String> = sqlx::query_scalar("SHOW TABLES").fetch_all(&two.pool).await?;
    assert!(tables.is_empty(), "second database sees {tables:?}");
    Ok(())
}

#[tokio::test]
async fn two_fresh_redis_databases_see_nothing_of_each_other() -> anyhow::Result<()> {
    let stack = Stack::builder().redis().shared().await?;
    let (one, two) = (stack.fresh_redis().await?, stack.fresh_redis().await?);
    assert_ne!(one.db, two.db);
    let mut c1 = one.connection().await?;
    let mut c2 = two.connection().await?;
    let _: () = c1.set("robot:1", "explorer").await?;
    let seen: Option<String> = c2.get("robot:1").await?;
    assert_eq!(seen, None);
    Ok(())
}

#[tokio::test]
async fn a_released_chain_is_back_at_genesis_for_the_next_test() -> anyhow::Result<()> {
    let stack = Stack::builder().anvil().shared().await?;
    let first = stack.fresh_chain().await?;
    first.provider.anvil_mine(Some(5), None).await?;
    assert_eq!(first.provider.get_block_number().await?, 5);
    let slot = first.slot;
    drop(first);

    // With the first lease released, the slot is free again and comes back reverted. Other tests
    // of this binary lease and release slots meanwhile, so lease until we hold that slot again.
    let mut held = Vec::new();
    let second = loop {
        let chain = stack.fresh_chain().await?;
        if chain.slot == slot {
            break chain;
        }
        assert!(held.len() < harness::isolation::DEFAULT_ANVIL_SLOTS, "slot {slot} never came back");
        held.push(chain);
    };
    assert_eq!(second.provider.get_block_number().await?, 0, "state of the previous lessee survived");
    Ok(())
}

#[tokio::test]
async fn chains_held_at_once_are_different_anvils() -> anyhow::Result<()> {
    let stack = Stack::builder().anvil().shared().await?;
    let one = stack.fresh_chain().await?;
    let two = stack.fresh_chain().await?;
    assert_ne!(one.slot, two.slot);
    assert_ne!(one.rpc_url, two.rpc_url);
    one.provider.anvil_mine(Some(3), None).await?;
    assert_eq!(two.provider.get_block_number().await?, 0, "mining on one chain moved the other");
    Ok(())
}

#[tokio::test]
async fn regression_p2_mve3_a_failed_transaction_does_not_wedge_the_accounts_next_one() -> anyhow::Result<()> {
    use alloy::network::TransactionBuilder;
    use alloy::primitives::U256;
    use alloy::rpc::types::TransactionRequest;

    let stack = Stack::builder().anvil().shared().await?;
    let chain = stack.fresh_chain().await?;
    let accounts = chain.provider.get_accounts().await?;
    let (from, to) = (accounts[1], accounts[2]);
    let too_much = TransactionRequest::default().with_from(from).with_to(to).with_value(U256::MAX);
    assert!(chain.provider.send_transaction(too_much).await.is_err(), "an unaffordable transfer was accepted");

    let next = TransactionRequest::default().with_from(from).with_to(to).with_value(U256::from(1));
    let mined = tokio::time::timeout(std::time::Duration::from_secs(30), async { chain.provider.send_transaction(next).await?.get_receipt().await })
        .await
        .map_err(|_| anyhow::anyhow!("the next transaction never mined: a nonce was burnt by the failed one"))??;
    assert!(mined.status());
    Ok(())
}
