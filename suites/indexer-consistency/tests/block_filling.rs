//! A real L3 block holds many transactions, several of them about the same robot, item or balance.
//! Here automine is off and blocks are filled (`Generator::run_blocks`, `send_block`): the
//! steady state, a reorg and hand-made blocks whose transactions build on each other (mint, equip,
//! unequip, transfers back and forth) must index exactly like the chain. An indexer that orders an
//! entity's versions by block alone, or by transaction rather than by log index, fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::Filter;
use common::{Env, Indexer, assert_consistent, orphans, seed};
use harness::generator::{Op, Report, Workload};

/// Blocks in `from..=to` in which one entity (a robot or item id, or an NTC account) has events
/// from at least two transactions: the shape these tests are about.
async fn shared_blocks(env: &Env, from: u64, to: u64) -> anyhow::Result<usize> {
    let logs = env.p().get_logs(&Filter::new().address(vec![env.d.robot, env.d.item, env.d.ntc]).from_block(from).to_block(to)).await?;
    let mut txs: BTreeMap<(u64, alloy::primitives::Address, B256), BTreeSet<B256>> = BTreeMap::new();
    for l in &logs {
        let block = l.block_number.unwrap_or_default();
        // Robot and item events name the id in topic 1 (Transfer: topic 3); NTC transfers name
        // both accounts.
        let topics = l.topics();
        let keys: Vec<B256> = if l.address() == env.d.ntc { topics.iter().skip(1).copied().collect() } else { topics.get(if topics.len() == 4 { 3 } else { 1 }).copied().into_iter().collect() };
        for k in keys {
            txs.entry((block, l.address(), k)).or_default().insert(l.transaction_hash.unwrap_or_default());
        }
    }
    let blocks: BTreeSet<u64> = txs.iter().filter(|(_, t)| t.len() >= 2).map(|((b, _, _), _)| *b).collect();
    Ok(blocks.len())
}

async fn verify(env: &Env, indexer: &Indexer, test: &str, extra: serde_json::Value) -> anyhow::Result<u64> {
    let block = env.settle(indexer).await?;
    let verdict = env.check(indexer, block).await?;
    assert_consistent(test, &verdict, extra);
    let orphans = orphans(env).await?;
    assert!(orphans.is_empty(), "orphaned rows: {orphans:#?}");
    Ok(block)
}

#[tokio::test]
async fn filled_blocks_index_exactly_like_the_chain() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let s = seed(4_601);
    let mut generator = env.generator(s);
    let first = env.head().await?.0 + 1;
    let report = env.run_blocks(&mut generator, &Workload::new(s, 480), 16).await?;
    let block = verify(&env, &indexer, "filled_blocks", serde_json::json!({ "seed": s, "report": report })).await?;
    let shared = shared_blocks(&env, first, block).await?;
    assert!(report.blocks == 30 && shared >= 10, "the workload should put several transactions about one entity into many blocks: {shared} blocks did, {report:?}");
    Ok(())
}

#[tokio::test]
async fn one_block_holds_mints_equips_unequips_and_transfers_of_the_same_things() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let mut generator = env.generator(0);
    let (a, b) = (env.players[0], env.players[1]);
    let gear = |to| Op::MintItem { to, item_type: 3, rarity: 2, condition: 1, boosts: [15; 12], affinities: 0b101, affiliation: 1 };
    let blocks: Vec<Vec<Op>> = vec![
        // Mint a robot and two items, equip one, swap it for the other, unequip, move the robot
        // away and back, and an item back and forth: robot 1 and items 1 and 2 change many times.
        vec![
            Op::MintRobot { to: a, base: [120; 12] },
            gear(a),
            gear(a),
            Op::Equip { owner: a, robot: 1, item: 1 },
            Op::Equip { owner: a, robot: 1, item: 2 },
            Op::Unequip { owner: a, robot: 1, slot: 3 },
            Op::TransferRobot { from: a, to: b, robot: 1 },
            Op::TransferRobot { from: b, to: a, robot: 1 },
            Op::TransferItem { from: a, to: b, item: 1 },
            Op::TransferItem { from: b, to: a, item: 1 },
            Op::TransferItem { from: a, to: b, item: 2 },
            Op::AwardXp { robot: 1, amount: 3_000 },
        ],
        // NTC back and forth between two accounts, and an equip with a condition change of it.
        vec![
            Op::MintNtc { to: a, amount: U256::from(1_000u64) },
            Op::TransferNtc { from: a, to: b, amount: U256::from(600u64) },
            Op::TransferNtc { from: b, to: a, amount: U256::from(250u64) },
            Op::TransferNtc { from: a, to: b, amount: U256::from(650u64) },
            Op::Equip { owner: a, robot: 1, item: 1 },
            Op::SetCondition { item: 1, condition: 3 },
            Op::SetCondition { item: 1, condition: 2 },
            Op::AwardXp { robot: 1, amount: 9_000 },
        ],
    ];
    let mut report = Report::default();
    for ops in &blocks {
        let oks = generator.send_block(env.p(), &env.d, ops, &mut report).await?;
        assert!(oks.iter().all(|ok| *ok), "every operation of the block succeeds: {:?}", ops.iter().zip(&oks).collect::<Vec<_>>());
    }
    assert_eq!(report.blocks, 2);
    let block = verify(&env, &indexer, "one_block_same_entities", serde_json::json!({ "report": report })).await?;
    assert_eq!(shared_blocks(&env, block - 1, block).await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_reorg_replaces_filled_blocks_with_other_filled_blocks() -> anyhow::Result<()> {
    let env = Env::shared().await?;
    let indexer = env.start_indexer().await?;
    let s = seed(4_603);
    let mut generator = env.generator(s);
    env.run_blocks(&mut generator, &Workload::new(s, 120), 12).await?;
    env.settle(&indexer).await?;
    let fork = env.p().anvil_snapshot().await?;
    let mut old_branch = env.generator(s + 1);
    old_branch.model = generator.model.clone();
    env.run_blocks(&mut old_branch, &Workload::new(s + 1, 96), 12).await?;
    env.settle(&indexer).await?;
    assert!(env.p().anvil_revert(fork).await?);
    env.run_blocks(&mut generator, &Workload::new(s + 2, 120), 10).await?;
    verify(&env, &indexer, "reorg_filled_blocks", serde_json::json!({ "seed": s })).await?;
    assert!(indexer.api.status().await?.reorgs >= 1);
    Ok(())
}
