//! The matrix: for every BunkerClass × ClassAffiliation cell and the unclassed row, a named loadout
//! that lands there, checked through `classify`, through the stateful contracts and against the
//! oracle, and kept as a snapshot a reviewer can read (snapshots/l3-calculations/).

mod common;

use std::fmt::Write;

use common::{Env, stats_with_averages, token};
use l3_calculations::abi::classify_on_chain;
use l3_calculations::oracle::{self, AFFILIATION_NAMES, CATEGORY_NAMES, CLASS_NAMES, CORRUPT, HEAD, Item, LOYAL, NEUTRAL};

/// (class, primary category, secondary category), straight from the spec's table.
const CELLS: [(u8, usize, usize); 12] = [
    (oracle::BREACHER, 0, 1),
    (oracle::ENFORCER, 0, 2),
    (oracle::DISRUPTOR, 0, 3),
    (oracle::STALKER, 1, 0),
    (oracle::SCAVENGER, 1, 2),
    (oracle::EXPLORER, 1, 3),
    (oracle::VANGUARD, 2, 0),
    (oracle::RECLAIMER, 2, 1),
    (oracle::OVERLORD, 2, 3),
    (oracle::CODEBREAKER, 3, 0),
    (oracle::PATHFINDER, 3, 1),
    (oracle::CYBERMANCER, 3, 2),
];

struct Case {
    name: String,
    base: [u16; 12],
    xp: u64,
    items: Vec<Item>,
    class: u8,
    affiliation: u8,
}

/// Primary at 300, secondary at 200, the other two at 50 and 0: a strict ranking.
fn ranked_averages(primary: usize, secondary: usize) -> [u16; 4] {
    let mut avg = [0u16; 4];
    avg[primary] = 300;
    avg[secondary] = 200;
    if let Some(third) = (0..4).find(|&c| c != primary && c != secondary) {
        avg[third] = 50;
    }
    avg
}

/// LOYAL: one SUPREME LOYAL item (+4); CORRUPT: one SUPREME CORRUPT item (−4); NEUTRAL: nothing.
fn affiliation_items(affiliation: u8) -> Vec<Item> {
    match affiliation {
        LOYAL => vec![token(HEAD, 4, LOYAL, 0)],
        CORRUPT => vec![token(HEAD, 4, CORRUPT, 0)],
        _ => vec![],
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for affiliation in [LOYAL, CORRUPT, NEUTRAL] {
        for &(class, p, s) in &CELLS {
            let a = ranked_averages(p, s);
            out.push(Case {
                name: format!("{}-{}", CLASS_NAMES[class as usize], AFFILIATION_NAMES[affiliation as usize]),
                base: stats_with_averages(a[0], a[1], a[2], a[3]),
                xp: 16_000,
                items: affiliation_items(affiliation),
                class,
                affiliation,
            });
        }
        // The unclassed row: the same strong frame below level 5.
        out.push(Case {
            name: format!("UNSPECIFIED-{}", AFFILIATION_NAMES[affiliation as usize]),
            base: stats_with_averages(300, 200, 50, 0),
            xp: 15_999,
            items: affiliation_items(affiliation),
            class: oracle::UNSPECIFIED,
            affiliation,
        });
    }
    out
}

#[tokio::test]
async fn every_class_and_affiliation_cell_is_reached_on_chain_and_statefully() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let rules = env.d.rules(env.p());
    let player = env.players[0];
    let mut table = String::new();
    writeln!(table, "{:<26} {:<11} {:<8} {:>5}  averages (C/M/S/X)  items", "cell", "class", "affil.", "level")?;
    for case in cases() {
        let expected = (case.class, case.affiliation);
        let oracle = oracle::classify(&case.base, case.xp, &case.items).expect("matrix loadouts are valid");
        assert_eq!((oracle.class, oracle.affiliation), expected, "oracle, {}", case.name);

        let pure = classify_on_chain(&rules, &case.base, case.xp, &case.items).await?.expect("classify reverted");
        assert_eq!(pure, oracle, "classify vs oracle, {}", case.name);

        let robot = env.mint_robot(player, case.base).await?;
        for item in &case.items {
            let id = env.mint_item(player, item).await?;
            env.equip(player, robot, id).await?;
        }
        env.award_xp(robot, case.xp).await?;
        let stored = env.state(robot).await?;
        assert_eq!((stored.class, stored.affiliation, stored.level, stored.final_stats), (oracle.class, oracle.affiliation, oracle.level, oracle.final_stats), "stateful robot, {}", case.name);

        let avg = oracle.averages();
        let items: Vec<String> = case.items.iter().map(|i| format!("{} item, rarity {}", AFFILIATION_NAMES[i.trait_affiliation as usize], i.rarity)).collect();
        writeln!(
            table,
            "{:<26} {:<11} {:<8} {:>5}  {:>3}/{:>3}/{:>3}/{:>3}      {}",
            case.name,
            CLASS_NAMES[oracle.class as usize],
            AFFILIATION_NAMES[oracle.affiliation as usize],
            oracle.level,
            avg[0],
            avg[1],
            avg[2],
            avg[3],
            if items.is_empty() { "-".to_string() } else { items.join(", ") }
        )?;
    }
    writeln!(table, "\ncategories: {}", CATEGORY_NAMES.join(", "))?;
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../../snapshots/l3-calculations"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("class_affiliation_matrix", table);
    });
    Ok(())
}
