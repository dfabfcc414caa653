//! Every event type on its own: after one operation the indexer holds exactly what the chain
//! holds, with the operation's events stored under their names. Failed transactions leave no trace.

mod common;

use alloy::primitives::U256;
use common::{Env, Indexer, assert_consistent};
use harness::checker;
use harness::generator::{Generator, Op, Report};

struct Case {
    env: Env,
    indexer: Indexer,
    generator: Generator,
}

fn robot(to: alloy::primitives::Address) -> Op {
    Op::MintRobot { to, base: [100; 12] }
}

fn item(to: alloy::primitives::Address, item_type: u8) -> Op {
    Op::MintItem { to, item_type, rarity: 3, condition: 1, boosts: [20; 12], affinities: 0b1010, affiliation: 2 }
}

impl Case {
    async fn new() -> anyhow::Result<Case> {
        let env = Env::shared().await?;
        let indexer = env.start_indexer().await?;
        let generator = env.generator(0);
        Ok(Case { env, indexer, generator })
    }

    async fn send(&mut self, op: Op) -> anyhow::Result<bool> {
        let mut report = Report::default();
        Ok(self.generator.send(self.env.p(), &self.env.d, &op, &mut report).await?)
    }

    /// Every entity's *latest* answer (the reads Redis caches), each compared with the chain at
    /// the block it claims and required to be fresh.
    async fn latest(&self, test: &str, when: &str) -> anyhow::Result<()> {
        let mut accounts = self.env.players.clone();
        accounts.push(self.env.admin);
        let verdict = checker::latest(self.env.p(), &self.env.d, &self.indexer.api, &accounts).await?;
        assert_consistent(&format!("{test}_latest_{when}"), &verdict, serde_json::json!({ "when": when }));
        Ok(())
    }

    /// Sends the setup, then `op`, and checks that `op`'s block holds exactly `kinds` (in log
    /// order) and that everything indexed matches the chain. The latest answers are read through
    /// the cache before `op` (twice: the second read is a cache hit) and again after the indexer
    /// has passed `op`'s block: a batch of this event type that does not invalidate the cache
    /// leaves a stale answer there.
    async fn exactly(mut self, test: &str, setup: Vec<Op>, op: Op, kinds: &[&str]) -> anyhow::Result<()> {
        for s in setup {
            assert!(self.send(s.clone()).await?, "setup {s:?} should succeed");
        }
        self.env.settle(&self.indexer).await?;
        self.latest(test, "before").await?;
        self.latest(test, "before_cached").await?;
        assert!(self.send(op.clone()).await?, "{op:?} should succeed");
        let block = self.env.settle(&self.indexer).await?;
        self.latest(test, "after").await?;
        let events = self.indexer.api.events(block, block).await?;
        let got: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(got, kinds, "events of {op:?}");
        let verdict = self.env.check(&self.indexer, block).await?;
        assert_consistent(test, &verdict, serde_json::json!({ "op": op }));
        Ok(())
    }
}

#[tokio::test]
async fn a_robot_mint_lands_with_owner_stats_and_class() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    c.exactly("robot_mint", vec![], robot(p), &["RobotTransfer", "RobotMinted", "StatsUpdated", "ClassChanged"]).await
}

#[tokio::test]
async fn an_item_mint_lands_with_every_attribute() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    c.exactly("item_mint", vec![], item(p, 2), &["ItemTransfer", "ItemMinted"]).await
}

#[tokio::test]
async fn an_equip_moves_the_item_onto_the_robot_and_updates_stats() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    let op = Op::Equip { owner: p, robot: 1, item: 1 };
    c.exactly("equip", vec![robot(p), item(p, 1)], op, &["ItemEquipped", "StatsUpdated"]).await
}

#[tokio::test]
async fn an_equip_into_an_occupied_slot_unequips_the_previous_item() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    let setup = vec![robot(p), item(p, 3), item(p, 3), Op::Equip { owner: p, robot: 1, item: 1 }];
    let op = Op::Equip { owner: p, robot: 1, item: 2 };
    c.exactly("equip_replacing", setup, op, &["ItemUnequipped", "ItemEquipped", "StatsUpdated"]).await
}

#[tokio::test]
async fn an_unequip_frees_the_slot_and_the_item() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    let setup = vec![robot(p), item(p, 4), Op::Equip { owner: p, robot: 1, item: 1 }];
    let op = Op::Unequip { owner: p, robot: 1, slot: 4 };
    c.exactly("unequip", setup, op, &["ItemUnequipped", "StatsUpdated"]).await
}

#[tokio::test]
async fn a_condition_change_of_an_equipped_item_re_evaluates_the_robot() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    let setup = vec![robot(p), item(p, 1), Op::Equip { owner: p, robot: 1, item: 1 }];
    let op = Op::SetCondition { item: 1, condition: 4 };
    c.exactly("condition_equipped", setup, op, &["ConditionChanged", "StatsUpdated"]).await
}

#[tokio::test]
async fn a_condition_change_of_a_loose_item_touches_only_the_item() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    c.exactly("condition_loose", vec![item(p, 2)], Op::SetCondition { item: 1, condition: 3 }, &["ConditionChanged"]).await
}

#[tokio::test]
async fn an_xp_award_raises_xp_and_level() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    c.exactly("xp", vec![robot(p)], Op::AwardXp { robot: 1, amount: 5_000 }, &["XpAwarded", "StatsUpdated"]).await
}

#[tokio::test]
async fn a_robot_transfer_changes_its_owner_and_adds_the_new_player() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let (a, b) = (c.env.players[0], c.env.players[1]);
    c.exactly("robot_transfer", vec![robot(a)], Op::TransferRobot { from: a, to: b, robot: 1 }, &["RobotTransfer"]).await
}

#[tokio::test]
async fn an_item_transfer_changes_its_owner() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let (a, b) = (c.env.players[0], c.env.players[1]);
    c.exactly("item_transfer", vec![item(a, 7)], Op::TransferItem { from: a, to: b, item: 1 }, &["ItemTransfer"]).await
}

/// `GET /owners/{address}/items` at a block lists exactly the items the chain says the owner held
/// then, each as the chain has it — before a transfer and after it. (The gate's other tests never
/// read this route; only the 100-user load did, and that runs nightly.)
#[tokio::test]
async fn an_owners_items_at_a_block_are_the_items_the_chain_says_they_held() -> anyhow::Result<()> {
    let mut c = Case::new().await?;
    let (a, b) = (c.env.players[0], c.env.players[1]);
    for op in [item(a, 1), item(a, 2), item(b, 3)] {
        assert!(c.send(op.clone()).await?, "setup {op:?} should succeed");
    }
    let before = c.env.settle(&c.indexer).await?;
    assert!(c.send(Op::TransferItem { from: a, to: b, item: 1 }).await?);
    let after = c.env.settle(&c.indexer).await?;
    for (block, held_by_a, held_by_b) in [(before, vec![1, 2], vec![3]), (after, vec![2], vec![1, 3])] {
        for (owner, expected) in [(a, held_by_a), (b, held_by_b)] {
            let (at, ours) = c.indexer.api.items_of(owner, Some(block)).await?;
            assert_eq!(at, block, "the answer names the block it was asked for");
            let mut chain = Vec::new();
            for id in 1..=3 {
                let view = checker::chain_item(c.env.p(), &c.env.d, id, block).await?;
                if view.owner == owner {
                    chain.push(view);
                }
            }
            assert_eq!(chain.iter().map(|i| i.id).collect::<Vec<_>>(), expected, "the chain's own answer (test setup)");
            assert_eq!(ours, chain, "items of {owner:#x} at block {block}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_ntc_mint_credits_the_balance() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let p = c.env.players[0];
    c.exactly("ntc_mint", vec![], Op::MintNtc { to: p, amount: U256::from(10).pow(U256::from(24)) }, &["NtcTransfer"]).await
}

#[tokio::test]
async fn an_ntc_transfer_moves_the_balance() -> anyhow::Result<()> {
    let c = Case::new().await?;
    let (a, b) = (c.env.players[0], c.env.players[1]);
    let setup = vec![Op::MintNtc { to: a, amount: U256::from(1_000_000u64) }];
    c.exactly("ntc_transfer", setup, Op::TransferNtc { from: a, to: b, amount: U256::from(999_999u64) }, &["NtcTransfer"]).await
}

#[tokio::test]
async fn failed_transactions_leave_no_trace() -> anyhow::Result<()> {
    let mut c = Case::new().await?;
    let (a, b) = (c.env.players[0], c.env.players[1]);
    for op in [robot(a), item(a, 1), Op::Equip { owner: a, robot: 1, item: 1 }, Op::MintNtc { to: a, amount: U256::from(5u64) }] {
        assert!(c.send(op).await?);
    }
    let before = c.env.settle(&c.indexer).await?;
    let stored_before = c.indexer.api.status().await?.events_indexed;

    let failing = [
        Op::TransferEquippedItem { from: a, to: b, item: 1 },
        Op::EquipSomeoneElsesRobot { caller: b, robot: 1, item: 1 },
        Op::OverspendNtc { from: a, to: b, amount: U256::from(6u64) },
        Op::XpToMissingRobot { robot: 99 },
    ];
    for op in &failing {
        assert!(!c.send(op.clone()).await?, "{op:?} must revert");
    }
    let after = c.env.settle(&c.indexer).await?;
    assert_eq!(after, before + failing.len() as u64, "each failed transaction was mined in a block of its own");
    assert!(c.indexer.api.events(before + 1, after).await?.is_empty(), "reverted transactions' blocks hold no events");
    assert_eq!(c.indexer.api.status().await?.events_indexed, stored_before);
    let verdict = c.env.check(&c.indexer, after).await?;
    assert_consistent("failed_transactions", &verdict, serde_json::json!({ "failing": failing }));
    Ok(())
}
