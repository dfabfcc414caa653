//! Reorgs, made with anvil's snapshot and revert: the indexer follows the chain the node now has,
//! whether the new branch drops, replaces or reorders events, is longer or shorter, or comes while
//! the indexer is still catching up. Afterwards: zero differences and no orphaned rows.

mod common;

use alloy::primitives::U256;
use alloy::providers::ext::AnvilApi;
use common::{Env, Indexer, assert_consistent, orphans, seed};
use harness::generator::{Generator, Op, Report, Workload};
use rand::{Rng, SeedableRng};

async fn send_all(env: &Env, generator: &mut Generator, ops: &[Op]) -> anyhow::Result<()> {
    let mut report = Report::default();
    for op in ops {
        assert!(generator.send(env.p(), &env.d, op, &mut report).await?, "{op:?} should succeed");
    }
    Ok(())
}

async fn verify(env: &Env, indexer: &Indexer, test: &str, expect_reorgs: u64) -> anyhow::Result<()> {
    let block = env.settle(indexer).await?;
    let status = indexer.api.status().await?;
    assert!(status.reorgs >= expect_reorgs, "indexer saw {} reorgs, expected at least {expect_reorgs}", status.reorgs);
    let verdict = env.check(indexer, block).await?;
    assert_consistent(test, &verdict, serde_json::json!({ "status": status }));
    let orphans = orphans(env).await?;
    assert!(orphans.is_empty(), "orphaned rows after the reorg: {orphans:#?}");
    Ok(())
}

/// Builds some state, indexes it, and returns a snapshot to fork from.
async fn prelude(env: &Env, generator: &mut Generator, indexer: &Indexer) -> anyhow::Result<U256> {
    env.run(generator, &Workload::new(0, 30)).await?;
    env.settle(indexer).await?;
    Ok(env.p().anvil_snapshot().await?)
}

#[tokio::test]
async fn a_one_block_reorg_replaces_the_tip() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let mut generator = env.generator(seed(4_101));
    let fork = prelude(&env, &mut generator, &indexer).await?;
    let (a, b) = (env.players[0], env.players[1]);
    let mut old_branch = env.generator(1);
    old_branch.model = generator.model.clone();
    send_all(&env, &mut old_branch, &[Op::MintNtc { to: a, amount: U256::from(7u64) }]).await?;
    env.settle(&indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    send_all(&env, &mut generator, &[Op::MintNtc { to: b, amount: U256::from(9u64) }]).await?;
    verify(&env, &indexer, "reorg_one_block", 1).await
}

#[tokio::test]
async fn a_deep_reorg_drops_a_branch_of_many_blocks_for_a_longer_one() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let s = seed(4_102);
    let mut generator = env.generator(s);
    let fork = prelude(&env, &mut generator, &indexer).await?;
    let mut old_branch = env.generator(s + 1);
    old_branch.model = generator.model.clone();
    env.run(&mut old_branch, &Workload::new(s + 1, 40)).await?;
    env.settle(&indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    env.run(&mut generator, &Workload::new(s + 2, 60)).await?;
    verify(&env, &indexer, "reorg_deep_longer", 1).await?;
    assert!(indexer.api.status().await?.deepest_reorg >= 40);
    Ok(())
}

#[tokio::test]
async fn a_reorg_onto_a_shorter_branch_rolls_the_cursor_back_below_the_old_head() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let s = seed(4_103);
    let mut generator = env.generator(s);
    let fork = prelude(&env, &mut generator, &indexer).await?;
    let mut old_branch = env.generator(s + 1);
    old_branch.model = generator.model.clone();
    env.run(&mut old_branch, &Workload::new(s + 1, 25)).await?;
    let old_head = env.settle(&indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    env.run(&mut generator, &Workload::new(s + 2, 5)).await?;
    let (new_head, _) = env.head().await?;
    assert!(new_head < old_head);
    verify(&env, &indexer, "reorg_shorter", 1).await
}

/// A player whose only appearance was on the dropped branch is gone from the players list and from
/// the tables (review W4: the rollback's list of block-tagged tables and the orphans check's list
/// were one constant, so a table forgotten in it was skipped by both; mutant rollback-forgets-players).
#[tokio::test]
async fn a_reorg_that_drops_a_new_players_only_block_drops_the_player() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let mut generator = env.generator(seed(4_106));
    let fork = prelude(&env, &mut generator, &indexer).await?;
    let newcomer = alloy::primitives::Address::repeat_byte(0x5e);
    let mut old_branch = env.generator(1);
    old_branch.model = generator.model.clone();
    let p = &env.players;
    send_all(&env, &mut old_branch, &[Op::MintNtc { to: p[0], amount: U256::from(1u64) }, Op::MintNtc { to: p[1], amount: U256::from(2u64) }, Op::MintNtc { to: newcomer, amount: U256::from(3u64) }])
        .await?;
    let old_head = env.settle(&indexer).await?;
    assert!(indexer.api.players(old_head).await?.contains(&newcomer), "the newcomer was never listed");
    assert!(env.p().anvil_revert(fork).await?);
    send_all(&env, &mut generator, &[Op::MintNtc { to: p[2], amount: U256::from(4u64) }]).await?;
    let head = env.settle(&indexer).await?;
    assert!(head < old_head);
    let players = indexer.api.players(head).await?;
    assert!(!players.contains(&newcomer), "the newcomer of the dropped branch is still listed: {players:?}");
    verify(&env, &indexer, "reorg_drops_a_player", 1).await
}

#[tokio::test]
async fn a_reorg_that_reorders_the_same_transactions_is_followed() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let mut generator = env.generator(seed(4_104));
    let fork = prelude(&env, &mut generator, &indexer).await?;
    let p = &env.players;
    let ops = vec![
        Op::MintNtc { to: p[0], amount: U256::from(100u64) },
        Op::MintRobot { to: p[1], base: [50; 12] },
        Op::MintNtc { to: p[2], amount: U256::from(300u64) },
        Op::MintItem { to: p[1], item_type: 2, rarity: 1, condition: 2, boosts: [5; 12], affinities: 3, affiliation: 1 },
    ];
    let mut old_branch = env.generator(1);
    old_branch.model = generator.model.clone();
    send_all(&env, &mut old_branch, &ops).await?;
    env.settle(&indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    let reordered: Vec<Op> = ops.iter().rev().cloned().collect();
    send_all(&env, &mut generator, &reordered).await?;
    verify(&env, &indexer, "reorg_reordered", 1).await
}

#[tokio::test]
async fn repeated_reorgs_of_random_depth_during_catch_up_leave_no_trace() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let s = seed(4_105);
    let mut rng = rand::rngs::StdRng::seed_from_u64(s);
    let mut generator = env.generator(s);
    env.run(&mut generator, &Workload::new(s, 20)).await?;
    for round in 0..6u64 {
        let fork = env.p().anvil_snapshot().await?;
        let mut doomed = env.generator(s + 100 + round);
        doomed.model = generator.model.clone();
        let depth = rng.random_range(1..=25);
        env.run(&mut doomed, &Workload::new(s + 100 + round, depth)).await?;
        // Every other round the indexer may be anywhere in the doomed branch, even mid-batch.
        if round % 2 == 0 {
            env.settle(&indexer).await?;
        }
        assert!(env.p().anvil_revert(fork).await?);
        let replacement = rng.random_range(1..=30);
        env.run(&mut generator, &Workload::new(s + 200 + round, replacement)).await?;
    }
    verify(&env, &indexer, "reorg_repeated", 3).await
}
