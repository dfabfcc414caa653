//! proptest strategies for loadouts, biased toward the boundaries where rules break: zero, category
//! averages of 99/100 reached through floor division, sub-stats of 999/1000/1001, XP at level
//! boundaries and at the cap, ties between categories, BROKEN and USED items, bad enums.

use proptest::prelude::*;

use crate::oracle::{Item, Stats, MAX_XP};

/// A sub-stat: mostly in range, sometimes exactly on or over the limit.
pub fn stat() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => 0u16..=300,
        2 => Just(0u16),
        1 => 950u16..=1000,
        1 => Just(1000u16),
        1 => Just(999u16),
        1 => Just(1001u16),
        1 => 0u16..=1000,
    ]
}

/// A category average target that sits on a boundary more often than chance would.
fn average() -> impl Strategy<Value = u16> {
    prop_oneof![
        2 => Just(0u16),
        2 => Just(99u16),
        2 => Just(100u16),
        1 => Just(101u16),
        2 => Just(150u16),
        2 => Just(250u16),
        1 => 0u16..=1000,
    ]
}

/// Spreads `avg * n + remainder` over `n` sub-stats, remainder 0..n so floor division matters.
fn spread(avg: u16, n: usize) -> impl Strategy<Value = Vec<u16>> {
    (0..n as u16, proptest::collection::vec(0u16..=50, n)).prop_map(move |(rem, jitter)| {
        let total = avg as u32 * n as u32 + rem as u32;
        // Move `jitter` between neighbours (keeping the sum) so sub-stats differ.
        let mut v = vec![(total / n as u32) as i32; n];
        for i in 0..(total as usize % n) {
            v[i] += 1;
        }
        for i in 0..n - 1 {
            let j = (jitter[i] as i32).min(v[i]);
            v[i] -= j;
            v[i + 1] += j;
        }
        v.into_iter().map(|x| x.clamp(0, 1001) as u16).collect()
    })
}

/// Base stats by category averages (frequent ties and thresholds), or sub-stat by sub-stat.
pub fn base_stats() -> impl Strategy<Value = Stats> {
    let by_category = (average(), average(), average(), average())
        .prop_flat_map(|(c, m, s, x)| (spread(c, 4), spread(m, 4), spread(s, 2), spread(x, 2)))
        .prop_map(|(c, m, s, x)| {
            let mut out = [0u16; 12];
            out[..4].copy_from_slice(&c);
            out[4..8].copy_from_slice(&m);
            out[8..10].copy_from_slice(&s);
            out[10..].copy_from_slice(&x);
            out
        });
    let tied = (average(), proptest::bool::ANY).prop_flat_map(|(a, all4)| {
        (spread(a, 4), spread(a, 4), spread(a, 2), spread(if all4 { a } else { a.saturating_sub(50) }, 2))
    }).prop_map(|(c, m, s, x)| {
        let mut out = [0u16; 12];
        out[..4].copy_from_slice(&c);
        out[4..8].copy_from_slice(&m);
        out[8..10].copy_from_slice(&s);
        out[10..].copy_from_slice(&x);
        out
    });
    prop_oneof![
        4 => by_category,
        2 => tied,
        1 => proptest::array::uniform12(stat()),
    ]
}

/// XP at and around level boundaries ((L-1)^2 * 1000), the class gate (16_000) and the cap.
pub fn xp() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (1u64..=100, -1i64..=0).prop_map(|(l, d)| (((l - 1) * (l - 1) * 1000) as i64 + d).max(0) as u64),
        2 => prop_oneof![Just(15_999u64), Just(16_000), Just(9_800_999), Just(9_801_000)],
        1 => prop_oneof![Just(MAX_XP), Just(MAX_XP + 1), Just(u64::MAX)],
        2 => 16_000u64..=MAX_XP,
        1 => 0u64..=16_000,
    ]
}

fn boosts() -> impl Strategy<Value = Stats> {
    prop_oneof![
        4 => proptest::array::uniform12(prop_oneof![3 => Just(0u16), 3 => 0u16..=120, 1 => 1u16..=9]),
        1 => proptest::array::uniform12(stat()),
    ]
}

pub fn item() -> impl Strategy<Value = Item> {
    (
        prop_oneof![12 => 1u8..=4, 1 => 5u8..=9, 1 => prop_oneof![Just(0u8), Just(10u8)]],
        prop_oneof![12 => 1u8..=6, 1 => prop_oneof![Just(0u8), Just(7u8)]],
        prop_oneof![12 => 1u8..=4, 4 => Just(4u8), 4 => Just(3u8), 1 => prop_oneof![Just(0u8), Just(5u8)]],
        boosts(),
        prop_oneof![3 => any::<u16>(), 1 => Just(0u16), 1 => (0u8..12).prop_map(|b| 1u16 << b)],
        prop_oneof![12 => 1u8..=3, 1 => prop_oneof![Just(0u8), Just(4u8)]],
    )
        .prop_map(|(item_type, rarity, condition, boosts, class_affinities, trait_affiliation)| Item {
            item_type,
            rarity,
            condition,
            boosts,
            class_affinities,
            trait_affiliation,
        })
}

/// Up to four items; mostly one per slot (valid loadouts), sometimes a duplicate slot.
pub fn items() -> impl Strategy<Value = Vec<Item>> {
    let distinct = proptest::collection::vec(item(), 0..=4).prop_map(|mut v| {
        for (i, it) in v.iter_mut().enumerate() {
            if (1..=4).contains(&it.item_type) {
                it.item_type = i as u8 + 1;
            }
        }
        v
    });
    prop_oneof![6 => distinct, 1 => proptest::collection::vec(item(), 0..=5)]
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loadout {
    pub base: Stats,
    pub xp: u64,
    pub items: Vec<Item>,
}

pub fn loadout() -> impl Strategy<Value = Loadout> {
    (base_stats(), xp(), items()).prop_map(|(base, xp, items)| Loadout { base, xp, items })
}
