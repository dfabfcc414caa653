//! Every edge case of docs/spec/class-rules.md, each its own named test, in the pure path
//! (`classify` on chain and the oracle, both against the value the spec gives) and in the stateful
//! path (robot and item contracts) where both apply. A revert must leave state unchanged: checked.
//!
//! Adding a hotfix's case: write a test here named after the rule it pins, with the expected value
//! worked out from the spec by hand, never taken from either implementation.

mod common;

use alloy::primitives::U256;
use common::{Env, RobotState, stats_with_averages, token};
use l3_calculations::abi::{classify_on_chain, item_error, robot_error, rule_error};
use l3_calculations::oracle::{self, *};
use mve_contracts::{BunkerItem::BunkerItemErrors as ItemErr, BunkerguardRobot, BunkerguardRobot::BunkerguardRobotErrors as RobotErr};

const STRONG: u64 = 16_000; // level 5, the first classed level

/// Asserts that the oracle and `classify` on chain both give `expected` (class, affiliation).
async fn pure(env: &Env, base: Stats, xp: u64, items: &[Item], expected: Result<(u8, u8), RuleError>) -> Outcome {
    let oracle = oracle::classify(&base, xp, items);
    let chain = classify_on_chain(&env.d.rules(env.p()), &base, xp, items).await.expect("eth_call");
    assert_eq!(chain, oracle, "classify on chain differs from the oracle");
    assert_eq!(oracle.map(|o| (o.class, o.affiliation)), expected, "not what the spec says");
    oracle.unwrap_or(Outcome { class: 0, affiliation: 0, level: 0, final_stats: [0; 12] })
}

/// Mints a robot for player 0 with `base`, awards `xp`, mints and equips `items` in order.
async fn robot_with(env: &Env, base: Stats, xp: u64, items: &[Item]) -> anyhow::Result<(u64, Vec<u64>)> {
    let owner = env.players[0];
    let robot = env.mint_robot(owner, base).await?;
    if xp > 0 {
        env.award_xp(robot, xp).await?;
    }
    let mut ids = Vec::new();
    for it in items {
        let id = env.mint_item(owner, it).await?;
        env.equip(owner, robot, id).await?;
        ids.push(id);
    }
    Ok((robot, ids))
}

fn assert_stored(state: &RobotState, class: u8, affiliation: u8) {
    assert_eq!((CLASS_NAMES[state.class as usize], AFFILIATION_NAMES[state.affiliation as usize]), (CLASS_NAMES[class as usize], AFFILIATION_NAMES[affiliation as usize]));
}

fn class_changes(receipt: &alloy::rpc::types::TransactionReceipt) -> Vec<(u8, u8, u8, u8)> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|l| l.log_decode::<BunkerguardRobot::ClassChanged>().ok())
        .map(|e| (e.inner.oldClass, e.inner.newClass, e.inner.oldAffiliation, e.inner.newAffiliation))
        .collect()
}

fn with_boost(mut it: Item, index: usize, value: u16) -> Item {
    it.boosts[index] = value;
    it
}

fn votes_for(class: u8) -> u16 {
    1 << (class - 1)
}

// 1. All-zero robot.

#[tokio::test]
async fn all_zero_robot_with_nothing_equipped_is_unspecified_neutral() -> anyhow::Result<()> {
    let env = Env::new().await?;
    pure(&env, [0; 12], 0, &[], Ok((UNSPECIFIED, NEUTRAL))).await;
    let (robot, _) = robot_with(&env, [0; 12], 0, &[]).await?;
    assert_stored(&env.state(robot).await?, UNSPECIFIED, NEUTRAL);
    Ok(())
}

// 2. Level gate.

#[tokio::test]
async fn level_gate_xp_15999_is_unclassed_and_16000_is_classed() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 200, 50, 0);
    assert_eq!(pure(&env, base, 15_999, &[], Ok((UNSPECIFIED, NEUTRAL))).await.level, 4);
    assert_eq!(pure(&env, base, 16_000, &[], Ok((BREACHER, NEUTRAL))).await.level, 5);
    Ok(())
}

#[tokio::test]
async fn level_gate_crossed_by_an_award_emits_class_changed_once() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (robot, _) = robot_with(&env, stats_with_averages(300, 200, 50, 0), 0, &[]).await?;
    let below = env.award_xp(robot, 15_999).await?;
    assert!(class_changes(&below).is_empty(), "no class change below the gate");
    assert_stored(&env.state(robot).await?, UNSPECIFIED, NEUTRAL);

    let across = env.award_xp(robot, 1).await?;
    assert_eq!(class_changes(&across), vec![(UNSPECIFIED, BREACHER, NEUTRAL, NEUTRAL)]);
    let state = env.state(robot).await?;
    assert_stored(&state, BREACHER, NEUTRAL);
    assert_eq!((state.level, state.xp), (5, 16_000));

    let further = env.award_xp(robot, 1_000_000).await?;
    assert!(class_changes(&further).is_empty(), "levelling on past the gate keeps the class");
    Ok(())
}

// 3. Threshold 99 / 100 through floor division.

#[tokio::test]
async fn threshold_average_99_from_sum_399_is_unclassed_and_100_from_sum_400_is_classed() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut base = [0u16; 12];
    base[..4].copy_from_slice(&[100, 100, 100, 99]); // 399 / 4 = 99
    pure(&env, base, STRONG, &[], Ok((UNSPECIFIED, NEUTRAL))).await;
    base[3] = 100; // 400 / 4 = 100; secondary ties at 0 across the rest: ENFORCER is the lowest enum
    pure(&env, base, STRONG, &[], Ok((ENFORCER, NEUTRAL))).await;
    let (robot, _) = robot_with(&env, base, STRONG, &[]).await?;
    assert_stored(&env.state(robot).await?, ENFORCER, NEUTRAL);
    Ok(())
}

// 4. Every class through a tie-break alone (the strict ranking is the matrix, tests/matrix.rs).

#[tokio::test]
async fn every_class_is_reached_through_a_tie_break_alone() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(200, 200, 200, 200); // all 12 classes are candidates
    for class in 1..=12u8 {
        let voter = token(HEAD, STANDARD, NEUTRAL, votes_for(class));
        pure(&env, base, STRONG, &[voter], Ok((class, NEUTRAL))).await;
    }
    let (robot, _) = robot_with(&env, base, STRONG, &[token(HEAD, STANDARD, NEUTRAL, votes_for(OVERLORD))]).await?;
    assert_stored(&env.state(robot).await?, OVERLORD, NEUTRAL);
    Ok(())
}

// 5. Ties.

#[tokio::test]
async fn two_way_tie_for_primary_falls_to_the_lowest_enum_or_the_votes() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 300, 100, 0); // (C,M)=BREACHER 11, (M,C)=STALKER 7
    pure(&env, base, STRONG, &[], Ok((STALKER, NEUTRAL))).await;
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, votes_for(BREACHER))], Ok((BREACHER, NEUTRAL))).await;
    Ok(())
}

#[tokio::test]
async fn three_way_tie_for_primary_has_six_candidates() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 300, 300, 0);
    assert_eq!(oracle::candidates(&[300, 300, 300, 0]), vec![VANGUARD, ENFORCER, SCAVENGER, STALKER, BREACHER, RECLAIMER]);
    pure(&env, base, STRONG, &[], Ok((VANGUARD, NEUTRAL))).await;
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, votes_for(RECLAIMER))], Ok((RECLAIMER, NEUTRAL))).await;
    // A class outside the candidates gets no say.
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, votes_for(OVERLORD))], Ok((VANGUARD, NEUTRAL))).await;
    Ok(())
}

#[tokio::test]
async fn four_way_tie_makes_all_twelve_candidates_and_falls_to_explorer() -> anyhow::Result<()> {
    let env = Env::new().await?;
    pure(&env, stats_with_averages(150, 150, 150, 150), STRONG, &[], Ok((EXPLORER, NEUTRAL))).await;
    Ok(())
}

#[tokio::test]
async fn tie_for_secondary_only_keeps_the_primary() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 200, 200, 200); // ENFORCER 5, DISRUPTOR 8, BREACHER 11
    pure(&env, base, STRONG, &[], Ok((ENFORCER, NEUTRAL))).await;
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, votes_for(DISRUPTOR))], Ok((DISRUPTOR, NEUTRAL))).await;
    // A vote for a class of another primary is no candidate here.
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, votes_for(STALKER))], Ok((ENFORCER, NEUTRAL))).await;
    Ok(())
}

#[tokio::test]
async fn equal_votes_fall_back_to_the_lowest_enum() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 300, 100, 0);
    let items = [token(HEAD, 1, NEUTRAL, votes_for(BREACHER)), token(TORSO, 1, NEUTRAL, votes_for(STALKER))];
    pure(&env, base, STRONG, &items, Ok((STALKER, NEUTRAL))).await;
    let more = [items[0], items[1], token(GEAR, 1, NEUTRAL, votes_for(BREACHER))];
    pure(&env, base, STRONG, &more, Ok((BREACHER, NEUTRAL))).await;
    let (robot, _) = robot_with(&env, base, STRONG, &more).await?;
    assert_stored(&env.state(robot).await?, BREACHER, NEUTRAL);
    Ok(())
}

#[tokio::test]
async fn votes_never_override_a_strict_ranking() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(301, 300, 100, 0);
    let all_for_stalker: Vec<Item> = (1..=4).map(|t| token(t, 1, NEUTRAL, votes_for(STALKER))).collect();
    pure(&env, base, STRONG, &all_for_stalker, Ok((BREACHER, NEUTRAL))).await;
    Ok(())
}

#[tokio::test]
async fn affinity_bits_above_bit_11_are_ignored() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 300, 100, 0);
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, 0xF000 | votes_for(BREACHER))], Ok((BREACHER, NEUTRAL))).await;
    pure(&env, base, STRONG, &[token(HEAD, 1, NEUTRAL, 0xF000)], Ok((STALKER, NEUTRAL))).await;
    Ok(())
}

// 6. BROKEN and USED items.

#[tokio::test]
async fn broken_items_give_no_stats_no_votes_and_no_affiliation_weight() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 300, 100, 0);
    let mut broken = token(HEAD, ETERNAL, LOYAL, votes_for(BREACHER));
    broken.condition = BROKEN;
    broken.boosts = [500; 12];
    let out = pure(&env, base, STRONG, &[broken], Ok((STALKER, NEUTRAL))).await;
    assert_eq!(out.final_stats, base, "a BROKEN item added stats");

    // Statefully: the same item PRIME first, then broken by the operator.
    let mut prime = broken;
    prime.condition = PRIME;
    prime.boosts = [0; 12];
    prime.boosts[0] = 100; // C rises to 325: strict ranking, BREACHER; and ETERNAL LOYAL gives +6
    let (robot, ids) = robot_with(&env, base, STRONG, &[prime]).await?;
    assert_stored(&env.state(robot).await?, BREACHER, LOYAL);
    let receipt = env.set_condition(ids[0], BROKEN).await?;
    assert_eq!(class_changes(&receipt), vec![(BREACHER, STALKER, LOYAL, NEUTRAL)]);
    let state = env.state(robot).await?;
    assert_eq!(state.final_stats, base);
    assert_stored(&state, STALKER, NEUTRAL);
    Ok(())
}

#[tokio::test]
async fn used_items_give_half_of_odd_boosts_rounded_down() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut used = token(HEAD, 1, NEUTRAL, 0);
    used.condition = USED;
    used.boosts = [1, 3, 5, 7, 101, 999, 0, 2, 11, 13, 15, 1000];
    let out = pure(&env, [0; 12], 0, &[used], Ok((UNSPECIFIED, NEUTRAL))).await;
    assert_eq!(out.final_stats, [0, 1, 2, 3, 50, 499, 0, 1, 5, 6, 7, 500]);
    let (robot, _) = robot_with(&env, [0; 12], 0, &[used]).await?;
    assert_eq!(env.state(robot).await?.final_stats, out.final_stats);
    Ok(())
}

// 7. Overflow.

#[tokio::test]
async fn final_sub_stat_of_exactly_1000_is_accepted_and_1001_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut base = [0u16; 12];
    base[5] = 999;
    pure(&env, base, 0, &[with_boost(token(HEAD, 1, NEUTRAL, 0), 5, 1)], Ok((UNSPECIFIED, NEUTRAL))).await;
    pure(&env, base, 0, &[with_boost(token(HEAD, 1, NEUTRAL, 0), 5, 2)], Err(RuleError::StatOverflow(5))).await;

    let owner = env.players[0];
    let robot = env.mint_robot(owner, base).await?;
    let fits = env.mint_item(owner, &with_boost(token(HEAD, 1, NEUTRAL, 0), 5, 1)).await?;
    let too_much = env.mint_item(owner, &with_boost(token(TORSO, 1, NEUTRAL, 0), 5, 1)).await?;
    env.equip(owner, robot, fits).await?;
    assert_eq!(env.state(robot).await?.final_stats[5], 1000);

    let before = env.state(robot).await?;
    let err = env.equip(owner, robot, too_much).await.expect_err("1001 must be rejected");
    assert_eq!(rule_error(&err), Some(RuleError::StatOverflow(5)));
    assert_eq!(env.state(robot).await?, before, "a rejected equip changed the robot");
    assert_eq!(env.d.item(env.p()).equippedOn(U256::from(too_much)).call().await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn a_repair_from_used_to_new_that_would_overflow_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut base = [0u16; 12];
    base[5] = 999;
    let mut worn = with_boost(token(HEAD, 1, NEUTRAL, 0), 5, 2);
    worn.condition = USED; // effective +1: final 1000
    let (robot, ids) = robot_with(&env, base, 0, &[worn]).await?;
    let before = env.state(robot).await?;
    assert_eq!(before.final_stats[5], 1000);

    let err = env.set_condition(ids[0], NEW).await.expect_err("the repair must be rejected");
    assert_eq!(rule_error(&err), Some(RuleError::StatOverflow(5)));
    assert_eq!(env.state(robot).await?, before, "a rejected repair changed the robot");
    assert_eq!(env.item_condition(ids[0]).await?, USED, "a rejected repair changed the item");
    // The same repair on an unequipped item is fine.
    env.unequip(env.players[0], robot, HEAD).await?;
    env.set_condition(ids[0], NEW).await?;
    Ok(())
}

#[tokio::test]
async fn minting_a_robot_or_an_item_above_1000_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut base = [0u16; 12];
    base[11] = 1001;
    let err = env.mint_robot(env.players[0], base).await.expect_err("robot with 1001");
    assert_eq!(rule_error(&err), Some(RuleError::StatOverflow(11)));
    let err = env.mint_item(env.players[0], &with_boost(token(HEAD, 1, NEUTRAL, 0), 0, 1001)).await.expect_err("item with 1001");
    assert_eq!(rule_error(&err), Some(RuleError::StatOverflow(0)));
    assert_eq!(env.d.robot(env.p()).nextRobotId().call().await?, U256::from(1), "a rejected mint took an id");
    Ok(())
}

// 8. Affiliation.

#[tokio::test]
async fn affiliation_scores_minus_4_minus_3_3_and_4() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = [0; 12];
    for (items, expected) in [
        (vec![token(HEAD, 4, CORRUPT, 0)], CORRUPT),                            // -4
        (vec![token(HEAD, 3, CORRUPT, 0)], NEUTRAL),                            // -3
        (vec![token(HEAD, 2, LOYAL, 0), token(TORSO, 1, LOYAL, 0)], NEUTRAL),   // 3
        (vec![token(HEAD, 2, LOYAL, 0), token(TORSO, 2, LOYAL, 0)], LOYAL),     // 4
        (vec![token(HEAD, 6, NEUTRAL, 0), token(TORSO, 3, LOYAL, 0)], NEUTRAL), // NEUTRAL items weigh 0
    ] {
        pure(&env, base, 0, &items, Ok((UNSPECIFIED, expected))).await;
        let (robot, _) = robot_with(&env, base, 0, &items).await?;
        assert_stored(&env.state(robot).await?, UNSPECIFIED, expected);
    }
    Ok(())
}

#[tokio::test]
async fn one_eternal_corrupt_item_against_loyal_items_of_lower_rarity() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let eternal = token(HEAD, ETERNAL, CORRUPT, 0); // -6
    let three_standard = [eternal, token(TORSO, 1, LOYAL, 0), token(GEAR, 1, LOYAL, 0), token(ACCESSORY, 1, LOYAL, 0)];
    pure(&env, [0; 12], 0, &three_standard, Ok((UNSPECIFIED, NEUTRAL))).await; // -3
    pure(&env, [0; 12], 0, &three_standard[..2], Ok((UNSPECIFIED, CORRUPT))).await; // -5
    let strong_loyal = [eternal, token(TORSO, 5, LOYAL, 0), token(GEAR, 5, LOYAL, 0)];
    pure(&env, [0; 12], 0, &strong_loyal, Ok((UNSPECIFIED, LOYAL))).await; // +4
    Ok(())
}

// 9. Equipment rules on the stateful contracts.

#[tokio::test]
async fn unequip_restores_the_base_stats_and_frees_the_item() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let base = stats_with_averages(300, 200, 50, 0);
    let boost = with_boost(token(GEAR, 4, LOYAL, 0), 10, 400); // X rises to 200: tie for secondary
    let (robot, ids) = robot_with(&env, base, STRONG, &[boost]).await?;
    assert_stored(&env.state(robot).await?, DISRUPTOR, LOYAL);
    let receipt = env.unequip(env.players[0], robot, GEAR).await?;
    assert_eq!(class_changes(&receipt), vec![(DISRUPTOR, BREACHER, LOYAL, NEUTRAL)]);
    let state = env.state(robot).await?;
    assert_eq!((state.final_stats, state.equipped), (base, [0; 4]));
    env.transfer_item(env.players[0], env.players[1], ids[0]).await?;
    assert_eq!(env.item_owner(ids[0]).await?, env.players[1]);
    let err = env.unequip(env.players[0], robot, GEAR).await.expect_err("empty slot");
    assert!(matches!(robot_error(&err), Some(RobotErr::SlotEmpty(_))));
    Ok(())
}

#[tokio::test]
async fn equipping_into_an_occupied_slot_unequips_the_old_item_in_the_same_transaction() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let owner = env.players[0];
    let (robot, ids) = robot_with(&env, [0; 12], 0, &[token(HEAD, 4, LOYAL, 0)]).await?;
    let newer = env.mint_item(owner, &token(HEAD, 4, CORRUPT, 0)).await?;
    let receipt = env.equip(owner, robot, newer).await?;
    let logs = receipt.inner.logs();
    let unequipped: Vec<_> = logs.iter().filter_map(|l| l.log_decode::<BunkerguardRobot::ItemUnequipped>().ok()).collect();
    let equipped: Vec<_> = logs.iter().filter_map(|l| l.log_decode::<BunkerguardRobot::ItemEquipped>().ok()).collect();
    assert_eq!(unequipped.len(), 1);
    assert_eq!(unequipped[0].inner.itemId, U256::from(ids[0]));
    assert_eq!(equipped[0].inner.previousItemId, U256::from(ids[0]));
    assert_eq!(class_changes(&receipt), vec![(UNSPECIFIED, UNSPECIFIED, LOYAL, CORRUPT)]);
    assert_eq!(env.state(robot).await?.equipped, [newer, 0, 0, 0]);
    assert_eq!(env.d.item(env.p()).equippedOn(U256::from(ids[0])).call().await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn equipping_an_item_type_without_a_slot_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (robot, _) = robot_with(&env, [0; 12], 0, &[]).await?;
    let perk = env.mint_item(env.players[0], &token(PERK, 1, LOYAL, 0)).await?;
    let before = env.state(robot).await?;
    let err = env.equip(env.players[0], robot, perk).await.expect_err("PERK has no slot");
    assert_eq!(rule_error(&err), Some(RuleError::NotEquippable(PERK)));
    assert_eq!(env.state(robot).await?, before);
    pure(&env, [0; 12], 0, &[token(PERK, 1, LOYAL, 0)], Err(RuleError::NotEquippable(PERK))).await;
    Ok(())
}

#[tokio::test]
async fn equipping_someone_elses_item_or_onto_someone_elses_robot_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (me, other) = (env.players[0], env.players[1]);
    let (mine, _) = robot_with(&env, [0; 12], 0, &[]).await?;
    let theirs = env.mint_robot(other, [0; 12]).await?;
    let their_item = env.mint_item(other, &token(HEAD, 1, LOYAL, 0)).await?;
    let my_item = env.mint_item(me, &token(HEAD, 1, LOYAL, 0)).await?;
    let before = (env.state(mine).await?, env.state(theirs).await?);

    let err = env.equip(me, mine, their_item).await.expect_err("their item");
    assert!(matches!(robot_error(&err), Some(RobotErr::NotItemOwner(_))));
    let err = env.equip(me, theirs, my_item).await.expect_err("their robot");
    assert!(matches!(robot_error(&err), Some(RobotErr::NotRobotOwner(_))));
    assert_eq!((env.state(mine).await?, env.state(theirs).await?), before);
    Ok(())
}

#[tokio::test]
async fn one_item_cannot_be_equipped_onto_two_robots() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (first, ids) = robot_with(&env, [0; 12], 0, &[token(HEAD, 4, LOYAL, 0)]).await?;
    let second = env.mint_robot(env.players[0], [0; 12]).await?;
    let before = env.state(second).await?;
    let err = env.equip(env.players[0], second, ids[0]).await.expect_err("already equipped");
    match robot_error(&err) {
        Some(RobotErr::ItemAlreadyEquipped(e)) => assert_eq!(e.robotId, U256::from(first)),
        other => panic!("expected ItemAlreadyEquipped, got {other:?}"),
    }
    assert_eq!(env.state(second).await?, before);
    assert_eq!(env.state(first).await?.equipped[0], ids[0]);
    Ok(())
}

#[tokio::test]
async fn an_equipped_item_cannot_be_transferred_until_unequipped() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (me, other) = (env.players[0], env.players[1]);
    let (robot, ids) = robot_with(&env, [0; 12], 0, &[token(HEAD, 4, LOYAL, 0)]).await?;
    let err = env.transfer_item(me, other, ids[0]).await.expect_err("locked");
    assert!(matches!(item_error(&err), Some(ItemErr::ItemIsEquipped(_))));
    assert_eq!(env.item_owner(ids[0]).await?, me);
    // Design choice (crate README): a robot carrying items is locked too.
    let err = env.transfer_robot(me, other, robot).await.expect_err("robot with items");
    assert!(matches!(robot_error(&err), Some(RobotErr::RobotHasEquippedItems(_))));
    env.unequip(me, robot, HEAD).await?;
    env.transfer_item(me, other, ids[0]).await?;
    env.transfer_robot(me, other, robot).await?;
    assert_eq!((env.item_owner(ids[0]).await?, env.state(robot).await?.owner), (other, other));
    Ok(())
}

// 10. XP cap.

#[tokio::test]
async fn xp_award_to_exactly_one_billion_is_accepted_and_one_more_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    assert_eq!(pure(&env, [0; 12], MAX_XP, &[], Ok((UNSPECIFIED, NEUTRAL))).await.level, 100);
    pure(&env, [0; 12], MAX_XP + 1, &[], Err(RuleError::XpOverflow)).await;

    let (robot, _) = robot_with(&env, [0; 12], 0, &[]).await?;
    env.award_xp(robot, MAX_XP - 1).await?;
    env.award_xp(robot, 1).await?;
    let before = env.state(robot).await?;
    assert_eq!((before.xp, before.level), (MAX_XP, 100));
    let err = env.award_xp(robot, 1).await.expect_err("above the cap");
    assert_eq!(rule_error(&err), Some(RuleError::XpOverflow));
    assert_eq!(env.state(robot).await?, before);
    Ok(())
}

#[tokio::test]
async fn level_is_capped_at_100() -> anyhow::Result<()> {
    let env = Env::new().await?;
    assert_eq!(pure(&env, [0; 12], 9_800_999, &[], Ok((UNSPECIFIED, NEUTRAL))).await.level, 99);
    assert_eq!(pure(&env, [0; 12], 9_801_000, &[], Ok((UNSPECIFIED, NEUTRAL))).await.level, 100);
    assert_eq!(pure(&env, [0; 12], 500_000_000, &[], Ok((UNSPECIFIED, NEUTRAL))).await.level, 100);
    Ok(())
}

// The order in which `classify` reports errors when several apply.

#[tokio::test]
async fn error_precedence_follows_the_spec() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut bad_rarity = token(PERK, 0, LOYAL, 0);
    bad_rarity.boosts[4] = 1001;
    let mut over = [0u16; 12];
    over[7] = 1001;
    // (1) XP first of all.
    pure(&env, over, MAX_XP + 1, &[bad_rarity], Err(RuleError::XpOverflow)).await;
    // (2) per item: BadEnum before NotEquippable; items in array order.
    pure(&env, over, 0, &[bad_rarity], Err(RuleError::BadEnum)).await;
    pure(&env, over, 0, &[token(PERK, 1, LOYAL, 0), token(HEAD, 9, LOYAL, 0)], Err(RuleError::NotEquippable(PERK))).await;
    pure(&env, [0; 12], 0, &[token(HEAD, 1, LOYAL, 0), token(HEAD, 1, LOYAL, 0), token(PERK, 1, LOYAL, 0)], Err(RuleError::SlotTaken(HEAD))).await;
    // (3) base before (4) boosts before (5) final.
    let big_boost = with_boost(with_boost(token(HEAD, 1, LOYAL, 0), 9, 1001), 0, 1000);
    pure(&env, over, 0, &[big_boost], Err(RuleError::StatOverflow(7))).await;
    let mut base = [0u16; 12];
    base[0] = 1;
    pure(&env, base, 0, &[big_boost], Err(RuleError::StatOverflow(9))).await;
    pure(&env, base, 0, &[with_boost(token(HEAD, 1, LOYAL, 0), 0, 1000)], Err(RuleError::StatOverflow(0))).await;
    Ok(())
}
