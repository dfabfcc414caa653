//! Stateful property test: random sequences of mint / equip / unequip / condition change / XP award /
//! transfer against the robot and item contracts and a model of them. After every step the touched
//! robots' stored class, affiliation, level and final stats equal the oracle's, a step the model
//! rejects is rejected on chain with the same error and changes nothing, and at the end the
//! `ClassChanged` events replayed from genesis give every robot's stored (class, affiliation).
//!
//! Each sequence starts from the same deployment (anvil snapshot/revert). Seed fixed (`L3_SEED`
//! overrides), failures persisted in proptest-regressions/stateful.txt and replayed first.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;

use alloy::providers::Provider;
use alloy::providers::ext::AnvilApi;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use common::Env;
use l3_calculations::abi::{item_error, robot_error, rule_error};
use l3_calculations::oracle::{self, Item, MAX_XP, RuleError, Stats};
use l3_calculations::strategy;
use mve_contracts::BunkerItem::BunkerItemErrors as ItemErr;
use mve_contracts::BunkerguardRobot::{self, BunkerguardRobotErrors as RobotErr};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};

const PLAYERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    MintRobot { owner: usize, base: Stats },
    MintItem { owner: usize, item: Item },
    Equip { who: usize, robot: usize, item: usize },
    Unequip { who: usize, robot: usize, slot: u8 },
    SetCondition { item: usize, condition: u8 },
    AwardXp { robot: usize, amount: u64 },
    TransferItem { item: usize, to: usize },
    TransferRobot { robot: usize, to: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..PLAYERS;
    let idx = 0usize..64;
    prop_oneof![
        2 => (who.clone(), strategy::base_stats()).prop_map(|(owner, base)| Op::MintRobot { owner, base }),
        3 => (who.clone(), strategy::item()).prop_map(|(owner, item)| Op::MintItem { owner, item }),
        // Mostly the owner acting on its own things, so that most steps succeed.
        6 => (prop_oneof![4 => Just(usize::MAX), 1 => who.clone()], idx.clone(), idx.clone())
            .prop_map(|(who, robot, item)| Op::Equip { who, robot, item }),
        2 => (prop_oneof![4 => Just(usize::MAX), 1 => who.clone()], idx.clone(), prop_oneof![8 => 1u8..=4, 1 => Just(0u8), 1 => Just(5u8)])
            .prop_map(|(who, robot, slot)| Op::Unequip { who, robot, slot }),
        3 => (idx.clone(), prop_oneof![10 => 1u8..=4, 1 => Just(0u8), 1 => Just(5u8)]).prop_map(|(item, condition)| Op::SetCondition { item, condition }),
        3 => (idx.clone(), prop_oneof![6 => 0u64..20_000, 2 => 0u64..10_000_000, 1 => Just(MAX_XP), 1 => MAX_XP - 1_000..=MAX_XP]).prop_map(|(robot, amount)| Op::AwardXp { robot, amount }),
        1 => (idx.clone(), who.clone()).prop_map(|(item, to)| Op::TransferItem { item, to }),
        1 => (idx, who).prop_map(|(robot, to)| Op::TransferRobot { robot, to }),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rejection {
    Rule(RuleError),
    NotRobotOwner,
    NotItemOwner,
    ItemAlreadyEquipped,
    SlotEmpty,
    ItemIsEquipped,
    RobotHasEquippedItems,
}

fn rejection(err: &alloy::contract::Error) -> Option<Rejection> {
    if let Some(rule) = rule_error(err) {
        return Some(Rejection::Rule(rule));
    }
    match robot_error(err) {
        Some(RobotErr::NotRobotOwner(_)) => return Some(Rejection::NotRobotOwner),
        Some(RobotErr::NotItemOwner(_)) => return Some(Rejection::NotItemOwner),
        Some(RobotErr::ItemAlreadyEquipped(_)) => return Some(Rejection::ItemAlreadyEquipped),
        Some(RobotErr::SlotEmpty(_)) => return Some(Rejection::SlotEmpty),
        Some(RobotErr::RobotHasEquippedItems(_)) => return Some(Rejection::RobotHasEquippedItems),
        _ => {}
    }
    match item_error(err) {
        Some(ItemErr::ItemIsEquipped(_)) => Some(Rejection::ItemIsEquipped),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Robot {
    owner: usize,
    base: Stats,
    xp: u64,
    slots: [Option<usize>; 4],
}

#[derive(Debug, Clone)]
struct ItemState {
    owner: usize,
    item: Item,
    on: Option<usize>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    robots: Vec<Robot>,
    items: Vec<ItemState>,
}

impl Model {
    fn loadout(&self, robot: &Robot) -> Vec<Item> {
        robot.slots.iter().flatten().map(|&i| self.items[i].item).collect()
    }

    fn evaluate(&self, robot: &Robot) -> Result<oracle::Outcome, RuleError> {
        oracle::classify(&robot.base, robot.xp, &self.loadout(robot))
    }

    /// Applies `op` to a copy; returns the new model and the robots whose state may have moved.
    fn apply(&self, op: &Op) -> Result<(Model, Vec<usize>), Rejection> {
        let mut m = self.clone();
        let touched = match *op {
            Op::MintRobot { owner, base } => {
                oracle::check_stats(&base).map_err(Rejection::Rule)?;
                m.robots.push(Robot { owner, base, xp: 0, slots: [None; 4] });
                vec![m.robots.len() - 1]
            }
            Op::MintItem { owner, item } => {
                let bad = !(1..=9).contains(&item.item_type) || !(1..=6).contains(&item.rarity) || !(1..=4).contains(&item.condition) || !(1..=3).contains(&item.trait_affiliation);
                if bad {
                    return Err(Rejection::Rule(RuleError::BadEnum));
                }
                oracle::check_stats(&item.boosts).map_err(Rejection::Rule)?;
                m.items.push(ItemState { owner, item, on: None });
                vec![]
            }
            Op::Equip { who, robot, item } => {
                let (r, i) = (&m.robots[robot], &m.items[item]);
                if r.owner != who {
                    return Err(Rejection::NotRobotOwner);
                }
                if i.owner != who {
                    return Err(Rejection::NotItemOwner);
                }
                let t = i.item.item_type;
                if !(1..=4).contains(&t) {
                    return Err(Rejection::Rule(RuleError::NotEquippable(t)));
                }
                if i.on.is_some() {
                    return Err(Rejection::ItemAlreadyEquipped);
                }
                if let Some(previous) = m.robots[robot].slots[t as usize - 1] {
                    m.items[previous].on = None;
                }
                m.robots[robot].slots[t as usize - 1] = Some(item);
                m.items[item].on = Some(robot);
                m.evaluate(&m.robots[robot]).map_err(Rejection::Rule)?;
                vec![robot]
            }
            Op::Unequip { who, robot, slot } => {
                if m.robots[robot].owner != who {
                    return Err(Rejection::NotRobotOwner);
                }
                if !(1..=4).contains(&slot) {
                    return Err(Rejection::Rule(RuleError::NotEquippable(slot)));
                }
                let item = m.robots[robot].slots[slot as usize - 1].take().ok_or(Rejection::SlotEmpty)?;
                m.items[item].on = None;
                vec![robot]
            }
            Op::SetCondition { item, condition } => {
                if !(1..=4).contains(&condition) {
                    return Err(Rejection::Rule(RuleError::BadEnum));
                }
                m.items[item].item.condition = condition;
                match m.items[item].on {
                    Some(robot) => {
                        m.evaluate(&m.robots[robot]).map_err(Rejection::Rule)?;
                        vec![robot]
                    }
                    None => vec![],
                }
            }
            Op::AwardXp { robot, amount } => {
                let xp = m.robots[robot].xp + amount;
                if xp > MAX_XP {
                    return Err(Rejection::Rule(RuleError::XpOverflow));
                }
                m.robots[robot].xp = xp;
                vec![robot]
            }
            Op::TransferItem { item, to } => {
                if m.items[item].on.is_some() {
                    return Err(Rejection::ItemIsEquipped);
                }
                m.items[item].owner = to;
                vec![]
            }
            Op::TransferRobot { robot, to } => {
                if m.robots[robot].slots.iter().any(Option::is_some) {
                    return Err(Rejection::RobotHasEquippedItems);
                }
                m.robots[robot].owner = to;
                vec![robot]
            }
        };
        Ok((m, touched))
    }
}

/// Maps the op's raw indices onto what exists (ids on chain are index + 1); `usize::MAX` as the
/// actor means "the owner". Ops that need a robot or an item before one exists are skipped.
fn resolve(op: &Op, m: &Model) -> Option<Op> {
    let robot = |r: usize| (!m.robots.is_empty()).then(|| r % m.robots.len());
    let item = |i: usize| (!m.items.is_empty()).then(|| i % m.items.len());
    Some(match *op {
        Op::Equip { who, robot: r, item: i } => {
            let (r, i) = (robot(r)?, item(i)?);
            Op::Equip { who: if who == usize::MAX { m.robots[r].owner } else { who }, robot: r, item: i }
        }
        Op::Unequip { who, robot: r, slot } => {
            let r = robot(r)?;
            Op::Unequip { who: if who == usize::MAX { m.robots[r].owner } else { who }, robot: r, slot }
        }
        Op::SetCondition { item: i, condition } => Op::SetCondition { item: item(i)?, condition },
        Op::AwardXp { robot: r, amount } => Op::AwardXp { robot: robot(r)?, amount },
        Op::TransferItem { item: i, to } => Op::TransferItem { item: item(i)?, to },
        Op::TransferRobot { robot: r, to } => Op::TransferRobot { robot: robot(r)?, to },
        ref other => other.clone(),
    })
}

async fn execute(env: &Env, m: &Model, op: &Op) -> common::TxResult {
    let player = |p: usize| env.players[p];
    let id = |i: usize| (i + 1) as u64;
    match *op {
        Op::MintRobot { owner, base } => env.d.robot(env.p()).mint(player(owner), base).from(env.admin).send().await?.get_receipt().await.map_err(Into::into),
        Op::MintItem { owner, item } => env.d.item(env.p()).mint(player(owner), l3_calculations::abi::item_contract_item(&item)).from(env.admin).send().await?.get_receipt().await.map_err(Into::into),
        Op::Equip { who, robot, item } => env.equip(player(who), id(robot), id(item)).await,
        Op::Unequip { who, robot, slot } => env.unequip(player(who), id(robot), slot).await,
        Op::SetCondition { item, condition } => env.set_condition(id(item), condition).await,
        Op::AwardXp { robot, amount } => env.award_xp(id(robot), amount).await,
        Op::TransferItem { item, to } => env.transfer_item(player(m.items[item].owner), player(to), id(item)).await,
        Op::TransferRobot { robot, to } => env.transfer_robot(player(m.robots[robot].owner), player(to), id(robot)).await,
    }
}

async fn check_robot(env: &Env, m: &Model, r: usize) -> Result<(), TestCaseError> {
    let want = m.evaluate(&m.robots[r]).map_err(|e| TestCaseError::fail(format!("model holds an invalid robot {r}: {e:?}")))?;
    let got = env.state((r + 1) as u64).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let slots: Vec<u64> = m.robots[r].slots.iter().map(|s| s.map_or(0, |i| (i + 1) as u64)).collect();
    prop_assert_eq!(
        (got.class, got.affiliation, got.level, got.final_stats, got.xp, got.equipped.to_vec(), got.owner),
        (want.class, want.affiliation, want.level, want.final_stats, m.robots[r].xp, slots, env.players[m.robots[r].owner]),
        "robot {} differs from the model",
        r + 1
    );
    Ok(())
}

/// Replays every ClassChanged since genesis: each event's old pair must be the current one, and the
/// final pairs must be what the contract stores.
async fn check_replay(env: &Env, m: &Model) -> Result<(), TestCaseError> {
    let fail = |e: String| TestCaseError::fail(e);
    let filter = Filter::new().address(env.d.robot).event_signature(BunkerguardRobot::ClassChanged::SIGNATURE_HASH).from_block(0);
    let logs = env.p().get_logs(&filter).await.map_err(|e| fail(e.to_string()))?;
    let mut replayed: BTreeMap<u64, (u8, u8)> = BTreeMap::new();
    for log in logs {
        let e = log.log_decode::<BunkerguardRobot::ClassChanged>().map_err(|e| fail(e.to_string()))?.inner.data;
        let current = replayed.entry(e.robotId.to::<u64>()).or_insert((0, 0));
        prop_assert_eq!(*current, (e.oldClass, e.oldAffiliation), "ClassChanged of robot {} starts from a stale pair", e.robotId);
        prop_assert!((e.oldClass, e.oldAffiliation) != (e.newClass, e.newAffiliation), "ClassChanged without a change");
        *current = (e.newClass, e.newAffiliation);
    }
    for r in 0..m.robots.len() {
        let got = env.state((r + 1) as u64).await.map_err(|e| fail(e.to_string()))?;
        prop_assert_eq!(replayed.get(&((r + 1) as u64)).copied(), Some((got.class, got.affiliation)), "replay of robot {}", r + 1);
    }
    Ok(())
}

/// Runs one sequence; returns (steps run, steps the chain and the model both accepted).
async fn run_sequence(env: &Env, ops: &[Op]) -> Result<(usize, usize), TestCaseError> {
    let mut m = Model::default();
    let mut steps = 0;
    let mut accepted = 0;
    for (n, raw) in ops.iter().enumerate() {
        let Some(op) = resolve(raw, &m) else { continue };
        steps += 1;
        let expected = m.apply(&op);
        let touched_before: Vec<_> = match &expected {
            Ok((_, t)) => t.clone(),
            Err(_) => vec![],
        };
        let got = execute(env, &m, &op).await;
        match (expected, got) {
            (Ok((next, touched)), Ok(_)) => {
                accepted += 1;
                m = next;
                for r in touched {
                    check_robot(env, &m, r).await?;
                }
            }
            (Err(want), Err(err)) => {
                prop_assert_eq!(Some(want), rejection(&err), "step {}: {:?} rejected with another error: {}", n, op, err);
                for r in 0..m.robots.len() {
                    check_robot(env, &m, r).await?; // a rejected step changed nothing
                }
            }
            (Ok(_), Err(err)) => return Err(TestCaseError::fail(format!("step {n}: {op:?} rejected on chain, model accepts: {err}"))),
            (Err(want), Ok(_)) => return Err(TestCaseError::fail(format!("step {n}: {op:?} accepted on chain, model rejects with {want:?} (touched {touched_before:?})"))),
        }
    }
    for r in 0..m.robots.len() {
        check_robot(env, &m, r).await?;
    }
    check_replay(env, &m).await?;
    Ok((steps, accepted))
}

/// Floors under which the stateful test proves little: a generator whose steps are mostly rejected
/// (or never resolved) would pass while exercising almost nothing.
const MIN_STEPS_PER_SEQUENCE: usize = 10;
const MIN_ACCEPTED_SHARE: f64 = 0.5;

/// The PR gate runs 16 sequences; the nightly profile 64.
#[test]
fn random_operation_sequences_keep_the_stored_state_equal_to_the_oracle() {
    common::on_a_big_stack(|| run(16));
}

#[test]
fn nightly_random_operation_sequences_keep_the_stored_state_equal_to_the_oracle() {
    common::on_a_big_stack(|| run(64));
}

// The snapshot's lock is held across the revert on purpose: one sequence at a time owns the chain
// (the runtime is this thread's own `block_on`).
#[allow(clippy::await_holding_lock)]
fn run(sequences: u32) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(Env::new()).expect("chain with contracts");
    let genesis = Mutex::new(rt.block_on(env.p().anvil_snapshot()).unwrap());
    let seed = std::env::var("L3_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(33_701u64);
    println!("stateful: seed {seed} (L3_SEED={seed} reproduces this run)");
    let mut runner = TestRunner::new(Config {
        cases: sequences,
        rng_seed: RngSeed::Fixed(seed),
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/stateful.txt")))),
        max_shrink_iters: 500,
        ..Config::default()
    });
    let total_steps = std::sync::atomic::AtomicUsize::new(0);
    let total_accepted = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&proptest::collection::vec(op(), 1..=40), |ops| {
        rt.block_on(async {
            // Every sequence starts from the deployment: revert, then snapshot again for the next.
            let mut id = genesis.lock().unwrap();
            prop_assert!(env.p().anvil_revert(*id).await.map_err(|e| TestCaseError::fail(e.to_string()))?);
            *id = env.p().anvil_snapshot().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
            drop(id);
            let (steps, accepted) = run_sequence(&env, &ops).await?;
            total_steps.fetch_add(steps, std::sync::atomic::Ordering::Relaxed);
            total_accepted.fetch_add(accepted, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
    });
    match result {
        Ok(()) => {
            let (steps, accepted) = (total_steps.into_inner(), total_accepted.into_inner());
            let floor = MIN_STEPS_PER_SEQUENCE * sequences as usize;
            println!("stateful: {steps} steps over {sequences} sequences, {accepted} accepted");
            assert!(steps >= floor, "only {steps} steps ran over {sequences} sequences (floor {floor})");
            assert!(accepted as f64 >= MIN_ACCEPTED_SHARE * steps as f64, "only {accepted} of {steps} steps were accepted (floor {MIN_ACCEPTED_SHARE})");
        }
        Err(TestError::Fail(reason, ops)) => panic!("seed {seed}: minimal failing sequence {ops:#?}\n{reason}"),
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}
