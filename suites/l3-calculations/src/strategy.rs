//! proptest strategies for loadouts, biased toward the boundaries where rules break: zero, category
//! averages of 99/100 reached through floor division, sub-stats of 999/1000/1001, XP at level
//! boundaries and at the cap, ties between categories, BROKEN and USED items, bad enums.

use proptest::prelude::*;

use crate::oracle::{Item, MAX_XP, Stats};

/// A sub-stat: mostly in range, sometimes exactly on or over the limit.
pub fn stat() -> BoxedStrategy<u16> {
    prop_oneof![
        6 => 0u16..=300,
        4 => Just(0u16),
        2 => 950u16..=1000,
        2 => Just(1000u16),
        2 => Just(999u16),
        1 => Just(1001u16),
        2 => 0u16..=1000,
    ]
    .boxed()
}

/// A category average target that sits on a boundary more often than chance would.
fn average() -> BoxedStrategy<u16> {
    prop_oneof![
        2 => Just(0u16),
        2 => Just(99u16),
        2 => Just(100u16),
        1 => Just(101u16),
        2 => Just(150u16),
        2 => Just(250u16),
        1 => 0u16..=1000,
    ]
    .boxed()
}

/// Spreads `avg * n + remainder` over `n` sub-stats, remainder 0..n so floor division matters.
fn spread(avg: u16, n: usize) -> BoxedStrategy<Vec<u16>> {
    (0..n as u16, proptest::collection::vec(0u16..=50, n))
        .prop_map(move |(rem, jitter)| {
            let total = avg as u32 * n as u32 + rem as u32;
            // Move `jitter` between neighbours (keeping the sum) so sub-stats differ.
            let mut v = vec![(total / n as u32) as i32; n];
            for x in v.iter_mut().take(total as usize % n) {
                *x += 1;
            }
            for i in 0..n - 1 {
                let j = (jitter[i] as i32).min(v[i]);
                v[i] -= j;
                v[i + 1] += j;
            }
            v.into_iter().map(|x| x.clamp(0, 1001) as u16).collect()
        })
        .boxed()
}

/// The 12 sub-stats from their four categories' spreads (4, 4, 2 and 2 sub-stats).
fn categories((c, m, s, x): (Vec<u16>, Vec<u16>, Vec<u16>, Vec<u16>)) -> Stats {
    let mut out = [0u16; 12];
    out[..4].copy_from_slice(&c);
    out[4..8].copy_from_slice(&m);
    out[8..10].copy_from_slice(&s);
    out[10..].copy_from_slice(&x);
    out
}

/// Base stats by category averages (frequent ties and thresholds), or sub-stat by sub-stat.
pub fn base_stats() -> BoxedStrategy<Stats> {
    let by_category = (average(), average(), average(), average()).prop_flat_map(|(c, m, s, x)| (spread(c, 4), spread(m, 4), spread(s, 2), spread(x, 2))).prop_map(categories);
    let tied = (average(), proptest::bool::ANY).prop_flat_map(|(a, all4)| (spread(a, 4), spread(a, 4), spread(a, 2), spread(if all4 { a } else { a.saturating_sub(50) }, 2))).prop_map(categories);
    prop_oneof![
        8 => by_category,
        4 => tied,
        1 => proptest::array::uniform12(stat()),
    ]
    .boxed()
}

/// XP at and around level boundaries ((L-1)^2 * 1000), the class gate (16_000) and the cap.
pub fn xp() -> BoxedStrategy<u64> {
    prop_oneof![
        3 => (1u64..=100, -1i64..=0).prop_map(|(l, d)| (((l - 1) * (l - 1) * 1000) as i64 + d).max(0) as u64),
        2 => prop_oneof![Just(15_999u64), Just(16_000), Just(9_800_999), Just(9_801_000)],
        1 => prop_oneof![2 => Just(MAX_XP), 1 => Just(MAX_XP + 1), 1 => Just(u64::MAX)],
        2 => 16_000u64..=MAX_XP,
        1 => 0u64..=16_000,
    ]
    .boxed()
}

fn boosts() -> BoxedStrategy<Stats> {
    prop_oneof![
        12 => proptest::array::uniform12(prop_oneof![3 => Just(0u16), 3 => 0u16..=120, 1 => 1u16..=9]),
        1 => proptest::array::uniform12(stat()),
    ]
    .boxed()
}

pub fn item() -> BoxedStrategy<Item> {
    (
        prop_oneof![100 => 1u8..=4, 2 => 5u8..=9, 1 => prop_oneof![Just(0u8), Just(10u8)]],
        prop_oneof![100 => 1u8..=6, 1 => prop_oneof![Just(0u8), Just(7u8)]],
        prop_oneof![100 => 1u8..=4, 30 => Just(4u8), 30 => Just(3u8), 1 => prop_oneof![Just(0u8), Just(5u8)]],
        boosts(),
        prop_oneof![3 => any::<u16>(), 1 => Just(0u16), 1 => (0u8..12).prop_map(|b| 1u16 << b)],
        prop_oneof![100 => 1u8..=3, 1 => prop_oneof![Just(0u8), Just(4u8)]],
    )
        .prop_map(|(item_type, rarity, condition, boosts, class_affinities, trait_affiliation)| Item { item_type, rarity, condition, boosts, class_affinities, trait_affiliation })
        .boxed()
}

/// Up to four items; mostly one per slot (valid loadouts), sometimes a duplicate slot.
pub fn items() -> BoxedStrategy<Vec<Item>> {
    let distinct = proptest::collection::vec(item(), 0..=4).prop_map(|mut v| {
        for (i, it) in v.iter_mut().enumerate() {
            if (1..=4).contains(&it.item_type) {
                it.item_type = i as u8 + 1;
            }
        }
        v
    });
    prop_oneof![12 => distinct, 1 => proptest::collection::vec(item(), 0..=5)].boxed()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loadout {
    pub base: Stats,
    pub xp: u64,
    pub items: Vec<Item>,
}

pub fn loadout() -> BoxedStrategy<Loadout> {
    (base_stats(), xp(), items()).prop_map(|(base, xp, items)| Loadout { base, xp, items }).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// The generator is meant to exercise both paths: most loadouts valid, a solid share reverting,
    /// and every error kind present.
    #[test]
    fn loadouts_mix_valid_cases_with_every_error_kind() {
        let mut runner = TestRunner::deterministic();
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        let n = 5_000;
        for _ in 0..n {
            let l = loadout().new_tree(&mut runner).unwrap().current();
            let key = match crate::oracle::classify(&l.base, l.xp, &l.items) {
                Ok(o) if o.class == 0 => "ok-unclassed".to_string(),
                Ok(_) => "ok-classed".to_string(),
                Err(e) => format!("{e:?}").split('(').next().unwrap().to_string(),
            };
            *counts.entry(key).or_default() += 1;
        }
        println!("{counts:?}");
        let ok = counts.get("ok-classed").copied().unwrap_or(0) + counts.get("ok-unclassed").copied().unwrap_or(0);
        assert!(ok * 100 >= n * 65, "fewer than 65% valid loadouts: {counts:?}");
        for kind in ["ok-classed", "ok-unclassed", "StatOverflow", "XpOverflow", "NotEquippable", "SlotTaken", "BadEnum"] {
            assert!(counts.get(kind).copied().unwrap_or(0) * 200 >= n, "{kind} under 0.5%: {counts:?}");
        }
    }
}
