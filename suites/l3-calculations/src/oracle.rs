//! The class rules of docs/spec/class-rules.md in plain Rust, with no chain: the oracle that
//! `classify` and the stateful contracts are checked against. Written from the spec, not from the
//! Solidity, so that a bug in one is not silently copied into the other.

use serde::Serialize;

pub const MAX_STAT: u16 = 1000;
pub const MAX_XP: u64 = 1_000_000_000;

/// BunkerClass, platform numbering.
pub const UNSPECIFIED: u8 = 0;
pub const EXPLORER: u8 = 1;
pub const PATHFINDER: u8 = 2;
pub const CYBERMANCER: u8 = 3;
pub const VANGUARD: u8 = 4;
pub const ENFORCER: u8 = 5;
pub const SCAVENGER: u8 = 6;
pub const STALKER: u8 = 7;
pub const DISRUPTOR: u8 = 8;
pub const CODEBREAKER: u8 = 9;
pub const OVERLORD: u8 = 10;
pub const BREACHER: u8 = 11;
pub const RECLAIMER: u8 = 12;

pub const CLASS_NAMES: [&str; 13] =
    ["UNSPECIFIED", "EXPLORER", "PATHFINDER", "CYBERMANCER", "VANGUARD", "ENFORCER", "SCAVENGER", "STALKER", "DISRUPTOR", "CODEBREAKER", "OVERLORD", "BREACHER", "RECLAIMER"];

/// ClassAffiliation.
pub const LOYAL: u8 = 1;
pub const CORRUPT: u8 = 2;
pub const NEUTRAL: u8 = 3;
pub const AFFILIATION_NAMES: [&str; 4] = ["UNSPECIFIED", "LOYAL", "CORRUPT", "NEUTRAL"];

/// Item type, rarity and condition numbering.
pub const HEAD: u8 = 1;
pub const TORSO: u8 = 2;
pub const GEAR: u8 = 3;
pub const ACCESSORY: u8 = 4;
pub const PERK: u8 = 5;
pub const STANDARD: u8 = 1;
pub const ETERNAL: u8 = 6;
pub const PRIME: u8 = 1;
pub const NEW: u8 = 2;
pub const USED: u8 = 3;
pub const BROKEN: u8 = 4;

/// Categories in the order of the class table: COMBAT, MOBILITY, SURVIVABILITY, SENSORS.
pub const CATEGORY_NAMES: [&str; 4] = ["COMBAT", "MOBILITY", "SURVIVABILITY", "SENSORS"];

/// The class named by (primary, secondary) category; the diagonal is never used.
const CLASS_TABLE: [[u8; 4]; 4] =
    [[UNSPECIFIED, BREACHER, ENFORCER, DISRUPTOR], [STALKER, UNSPECIFIED, SCAVENGER, EXPLORER], [VANGUARD, RECLAIMER, UNSPECIFIED, OVERLORD], [CODEBREAKER, PATHFINDER, CYBERMANCER, UNSPECIFIED]];

pub type Stats = [u16; 12];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Item {
    pub item_type: u8,
    pub rarity: u8,
    pub condition: u8,
    pub boosts: Stats,
    pub class_affinities: u16,
    pub trait_affiliation: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub class: u8,
    pub affiliation: u8,
    pub level: u8,
    pub final_stats: Stats,
}

impl Outcome {
    pub fn averages(&self) -> [u32; 4] {
        averages(&self.final_stats)
    }
}

/// The custom errors `classify` and the stateful contracts revert with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RuleError {
    StatOverflow(u8),
    XpOverflow,
    NotEquippable(u8),
    SlotTaken(u8),
    BadEnum,
}

pub fn level(xp: u64) -> u8 {
    ((xp / 1000).isqrt() + 1).min(100) as u8
}

pub fn averages(f: &Stats) -> [u32; 4] {
    let s = |r: std::ops::Range<usize>| f[r].iter().map(|&v| v as u32).sum::<u32>();
    [s(0..4) / 4, s(4..8) / 4, s(8..10) / 2, s(10..12) / 2]
}

pub fn effective_boost(item: &Item, index: usize) -> u16 {
    match item.condition {
        BROKEN => 0,
        USED => item.boosts[index] / 2,
        _ => item.boosts[index],
    }
}

/// Everything `classify(base, xp, items)` returns, or the error it reverts with.
pub fn classify(base: &Stats, xp: u64, items: &[Item]) -> Result<Outcome, RuleError> {
    validate(base, xp, items)?;
    let final_stats = final_stats(base, items)?;
    let level = level(xp);
    Ok(Outcome { class: class_of(&final_stats, level, items), affiliation: affiliation_of(items), level, final_stats })
}

/// The spec's order: XP; per item BadEnum, NotEquippable, SlotTaken; base; boosts (final is later).
pub fn validate(base: &Stats, xp: u64, items: &[Item]) -> Result<(), RuleError> {
    if xp > MAX_XP {
        return Err(RuleError::XpOverflow);
    }
    let mut seen = [false; 5];
    for it in items {
        if !(1..=6).contains(&it.rarity) || !(1..=4).contains(&it.condition) || !(1..=3).contains(&it.trait_affiliation) {
            return Err(RuleError::BadEnum);
        }
        if !(1..=4).contains(&it.item_type) {
            return Err(RuleError::NotEquippable(it.item_type));
        }
        if std::mem::replace(&mut seen[it.item_type as usize], true) {
            return Err(RuleError::SlotTaken(it.item_type));
        }
    }
    check_stats(base)?;
    items.iter().try_for_each(|it| check_stats(&it.boosts))
}

pub fn check_stats(stats: &Stats) -> Result<(), RuleError> {
    match stats.iter().position(|&v| v > MAX_STAT) {
        Some(i) => Err(RuleError::StatOverflow(i as u8)),
        None => Ok(()),
    }
}

pub fn final_stats(base: &Stats, items: &[Item]) -> Result<Stats, RuleError> {
    let mut out = [0u16; 12];
    for (i, slot) in out.iter_mut().enumerate() {
        let v = base[i] as u32 + items.iter().map(|it| effective_boost(it, i) as u32).sum::<u32>();
        if v > MAX_STAT as u32 {
            return Err(RuleError::StatOverflow(i as u8));
        }
        *slot = v as u16;
    }
    Ok(out)
}

/// Candidate classes under the ranking rule (all pairs consistent with ties), ascending.
pub fn candidates(avg: &[u32; 4]) -> Vec<u8> {
    let top = *avg.iter().max().unwrap();
    let mut out = Vec::new();
    for p in (0..4).filter(|&p| avg[p] == top) {
        let second = (0..4).filter(|&s| s != p).map(|s| avg[s]).max().unwrap();
        for s in (0..4).filter(|&s| s != p && avg[s] == second) {
            out.push(CLASS_TABLE[p][s]);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

pub fn class_of(final_stats: &Stats, level: u8, items: &[Item]) -> u8 {
    if level < 5 {
        return UNSPECIFIED;
    }
    let avg = averages(final_stats);
    if *avg.iter().max().unwrap() < 100 {
        return UNSPECIFIED;
    }
    let candidates = candidates(&avg);
    let votes = |c: u8| items.iter().filter(|it| it.condition != BROKEN && it.class_affinities & (1 << (c - 1)) != 0).count();
    // Most votes; among equal votes the lowest enum value (candidates are ascending, max_by_key
    // would keep the last, so compare on reversed class order).
    *candidates.iter().max_by_key(|&&c| (votes(c), std::cmp::Reverse(c))).unwrap()
}

pub fn affiliation_score(items: &[Item]) -> i32 {
    items
        .iter()
        .filter(|it| it.condition != BROKEN)
        .map(|it| match it.trait_affiliation {
            LOYAL => it.rarity as i32,
            CORRUPT => -(it.rarity as i32),
            _ => 0,
        })
        .sum()
}

pub fn affiliation_of(items: &[Item]) -> u8 {
    match affiliation_score(items) {
        s if s >= 4 => LOYAL,
        s if s <= -4 => CORRUPT,
        _ => NEUTRAL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_boundaries_from_the_spec() {
        for (xp, lvl) in [(0, 1), (999, 1), (1000, 2), (15_999, 4), (16_000, 5), (9_800_999, 99), (9_801_000, 100), (MAX_XP, 100)] {
            assert_eq!(level(xp), lvl, "xp {xp}");
        }
    }

    #[test]
    fn four_equal_averages_make_all_twelve_classes_candidates() {
        assert_eq!(candidates(&[200; 4]), (1..=12).collect::<Vec<u8>>());
    }

    #[test]
    fn a_tie_for_second_only_shares_one_primary() {
        assert_eq!(candidates(&[300, 200, 200, 200]), vec![ENFORCER, DISRUPTOR, BREACHER]);
    }
}
