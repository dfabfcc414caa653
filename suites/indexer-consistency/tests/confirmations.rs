//! The indexer as production runs it (review W5): confirmations above zero and a start block above
//! zero (the deployment's). It indexes only blocks `confirmations` below the head, reports the lag,
//! starts at its start block, and a reorg of the unconfirmed tip never reaches its tables while a
//! deeper one is rolled back like any other. Every other test runs with 0 and 0.

mod common;

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use common::{Env, Indexer, assert_consistent, orphans, seed};
use harness::checker;
use harness::generator::{Op, Report, Workload};

const CONFIRMATIONS: u64 = 3;

/// An indexer with `CONFIRMATIONS` confirmations that starts at the first block after the
/// contracts' deployment; returns it and its start block.
async fn production_indexer(env: &Env) -> anyhow::Result<(Indexer, u64)> {
    let start = env.p().get_block_number().await? + 1;
    let rpc = env.chain.network_url.clone().expect("container chain");
    let mut config = env.indexer_env(&rpc);
    for (k, v) in &mut config {
        match *k {
            "INDEXER_START_BLOCK" => *v = start.to_string(),
            "INDEXER_CONFIRMATIONS" => *v = CONFIRMATIONS.to_string(),
            _ => {}
        }
    }
    Ok((env.start_indexer_with(config).await?, start))
}

/// Waits until the indexer stands `CONFIRMATIONS` below the head; returns the block it stands at.
async fn settle_confirmed(env: &Env, indexer: &Indexer) -> anyhow::Result<u64> {
    let head = env.p().get_block_number().await?;
    let target = head - CONFIRMATIONS;
    let hash = env.p().get_block_by_number(target.into()).await?.ok_or_else(|| anyhow::anyhow!("no block {target}"))?.header.hash;
    if let Err(e) = indexer.api.wait_for_hash(target, hash, std::time::Duration::from_secs(120)).await {
        anyhow::bail!("{e}\nindexer log:\n{}", indexer.log_tail().await);
    }
    Ok(target)
}

async fn check_from(env: &Env, indexer: &Indexer, start: u64, block: u64) -> anyhow::Result<checker::Verdict> {
    let mut accounts = env.players.clone();
    accounts.push(env.admin);
    Ok(checker::full(env.p(), &env.d, &indexer.api, block, &accounts).await?.and(checker::events(env.p(), &env.d, &indexer.api, start, block).await?))
}

#[tokio::test]
async fn with_confirmations_and_a_start_block_it_indexes_only_confirmed_blocks_from_its_start() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let (indexer, start) = production_indexer(&env).await?;
    assert!(start > 0);
    let workload = Workload::new(seed(4_301), 60);
    let mut generator = env.generator(workload.seed);
    let report = env.run(&mut generator, &workload).await?;
    let confirmed = settle_confirmed(&env, &indexer).await?;
    // It stands exactly CONFIRMATIONS below the head, says so, and goes no further.
    for _ in 0..5 {
        let s = indexer.api.status().await?;
        assert_eq!(s.current_block, Some(confirmed), "the indexer went past its confirmations: {s:?}");
        assert_eq!((s.chain_head, s.lag), (Some(confirmed + CONFIRMATIONS), Some(CONFIRMATIONS)), "{s:?}");
        tokio::task::yield_now().await;
    }
    let verdict = check_from(&env, &indexer, start, confirmed).await?;
    assert_consistent("confirmations_steady", &verdict, serde_json::json!({ "start_block": start, "confirmations": CONFIRMATIONS, "report": report }));
    // Empty blocks confirm the rest: then it agrees with the chain at the workload's last block.
    env.p().anvil_mine(Some(CONFIRMATIONS), None).await?;
    let last = settle_confirmed(&env, &indexer).await?;
    assert_eq!(last, confirmed + CONFIRMATIONS);
    let verdict = check_from(&env, &indexer, start, last).await?;
    assert_consistent("confirmations_steady_confirmed", &verdict, serde_json::json!({ "start_block": start }));
    assert!(orphans(&env).await?.is_empty());
    Ok(())
}

/// A reorg shallower than the confirmations replaces blocks the indexer has not taken yet: no
/// rollback, and the new branch is what it indexes. One deeper than them rolls back what it took.
#[tokio::test]
async fn with_confirmations_a_reorg_of_the_unconfirmed_tip_never_reaches_it_and_a_deeper_one_is_rolled_back() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let (indexer, start) = production_indexer(&env).await?;
    let mut generator = env.generator(seed(4_302));
    env.run(&mut generator, &Workload::new(seed(4_302), 30)).await?;
    settle_confirmed(&env, &indexer).await?;

    // Shallow: two blocks on top, reverted and replaced before they are confirmed.
    let fork = env.p().anvil_snapshot().await?;
    let mut old_branch = env.generator(1);
    old_branch.model = generator.model.clone();
    let mut report = Report::default();
    for op in [Op::MintNtc { to: env.players[0], amount: U256::from(7u64) }, Op::MintNtc { to: env.players[1], amount: U256::from(8u64) }] {
        assert!(old_branch.send(env.p(), &env.d, &op, &mut report).await?);
    }
    assert!(env.p().anvil_revert(fork).await?);
    env.run(&mut generator, &Workload::new(seed(4_303), 10)).await?;
    let block = settle_confirmed(&env, &indexer).await?;
    assert_eq!(indexer.api.status().await?.reorgs, 0, "a reorg above the confirmed blocks reached the indexer");
    let verdict = check_from(&env, &indexer, start, block).await?;
    assert_consistent("confirmations_shallow_reorg", &verdict, serde_json::json!({ "start_block": start }));

    // Deep: ten blocks the indexer has taken, replaced by a longer branch.
    let fork = env.p().anvil_snapshot().await?;
    let mut old_branch = env.generator(2);
    old_branch.model = generator.model.clone();
    env.run(&mut old_branch, &Workload::new(seed(4_304), 10 + CONFIRMATIONS as usize)).await?;
    settle_confirmed(&env, &indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    env.run(&mut generator, &Workload::new(seed(4_305), 20)).await?;
    let block = settle_confirmed(&env, &indexer).await?;
    let status = indexer.api.status().await?;
    assert!(status.reorgs >= 1, "the deep reorg was not seen: {status:?}");
    let verdict = check_from(&env, &indexer, start, block).await?;
    assert_consistent("confirmations_deep_reorg", &verdict, serde_json::json!({ "start_block": start, "status": status }));
    assert!(orphans(&env).await?.is_empty(), "orphaned rows after the reorg");
    Ok(())
}
