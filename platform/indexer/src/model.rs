//! What the indexer derives from events: robots, items and NTC balances, one full row per change.
//!
//! Every event of our three contracts is decoded here into a [`Change`]; [`State::apply`] turns
//! changes into new versions of the entities they touch. Nothing here talks to the chain or the
//! database, so the rules can be read (and unit-tested) on their own.

use std::collections::HashMap;

use alloy::primitives::{Address, Log, U256};
use alloy::sol_types::SolEvent;
use mve_contracts::{BunkerItem, BunkerguardRobot, NTCToken};
use serde::{Deserialize, Serialize};

/// Position of an event in the chain. Two events of one block differ by log index: never key by
/// the block number alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub block_number: u64,
    pub log_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Robot {
    pub id: u64,
    pub owner: Address,
    pub xp: u64,
    pub level: u8,
    pub class: u8,
    pub affiliation: u8,
    pub base: [u16; 12],
    pub final_stats: [u16; 12],
    /// Item id per slot HEAD, TORSO, GEAR, ACCESSORY; 0 = empty.
    pub equipped: [u64; 4],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: u64,
    pub owner: Address,
    pub item_type: u8,
    pub rarity: u8,
    pub condition: u8,
    pub boosts: [u16; 12],
    pub class_affinities: u16,
    pub trait_affiliation: u8,
    /// Robot id, 0 when not equipped.
    pub equipped_on: u64,
}

/// The addresses whose events we index.
#[derive(Debug, Clone, Copy)]
pub struct Contracts {
    pub robot: Address,
    pub item: Address,
    pub ntc: Address,
}

/// One decoded event, as far as it changes indexed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    RobotTransfer {
        from: Address,
        to: Address,
        id: u64,
    },
    RobotMinted {
        id: u64,
        base: [u16; 12],
    },
    XpAwarded {
        id: u64,
        new_xp: u64,
    },
    ItemEquipped {
        robot: u64,
        item: u64,
        slot: u8,
    },
    ItemUnequipped {
        robot: u64,
        item: u64,
        slot: u8,
    },
    StatsUpdated {
        id: u64,
        final_stats: [u16; 12],
        level: u8,
    },
    ClassChanged {
        id: u64,
        class: u8,
        affiliation: u8,
    },
    ItemTransfer {
        from: Address,
        to: Address,
        id: u64,
    },
    ItemMinted {
        item: Item,
    },
    ConditionChanged {
        id: u64,
        condition: u8,
    },
    NtcTransfer {
        from: Address,
        to: Address,
        value: U256,
    },
    /// Ours but not state-changing (roles, approvals): stored as a raw event only.
    Other,
}

/// The event's name (stored with the raw event) and what it changes.
pub fn decode(contracts: &Contracts, log: &Log) -> (&'static str, Change) {
    let id = |v: U256| v.saturating_to::<u64>();
    let topic = log.topics().first().copied().unwrap_or_default();
    if log.address == contracts.robot {
        use BunkerguardRobot as R;
        if topic == R::Transfer::SIGNATURE_HASH
            && let Ok(e) = R::Transfer::decode_log(log)
        {
            return ("RobotTransfer", Change::RobotTransfer { from: e.from, to: e.to, id: id(e.tokenId) });
        }
        if topic == R::RobotMinted::SIGNATURE_HASH
            && let Ok(e) = R::RobotMinted::decode_log(log)
        {
            return ("RobotMinted", Change::RobotMinted { id: id(e.robotId), base: e.baseStats });
        }
        if topic == R::XpAwarded::SIGNATURE_HASH
            && let Ok(e) = R::XpAwarded::decode_log(log)
        {
            return ("XpAwarded", Change::XpAwarded { id: id(e.robotId), new_xp: e.newXp });
        }
        if topic == R::ItemEquipped::SIGNATURE_HASH
            && let Ok(e) = R::ItemEquipped::decode_log(log)
        {
            return ("ItemEquipped", Change::ItemEquipped { robot: id(e.robotId), item: id(e.itemId), slot: e.slot });
        }
        if topic == R::ItemUnequipped::SIGNATURE_HASH
            && let Ok(e) = R::ItemUnequipped::decode_log(log)
        {
            return ("ItemUnequipped", Change::ItemUnequipped { robot: id(e.robotId), item: id(e.itemId), slot: e.slot });
        }
        if topic == R::StatsUpdated::SIGNATURE_HASH
            && let Ok(e) = R::StatsUpdated::decode_log(log)
        {
            return ("StatsUpdated", Change::StatsUpdated { id: id(e.robotId), final_stats: e.finalStats, level: e.level });
        }
        if topic == R::ClassChanged::SIGNATURE_HASH
            && let Ok(e) = R::ClassChanged::decode_log(log)
        {
            return ("ClassChanged", Change::ClassChanged { id: id(e.robotId), class: e.newClass, affiliation: e.newAffiliation });
        }
        return ("RobotOther", Change::Other);
    }
    if log.address == contracts.item {
        use BunkerItem as I;
        if topic == I::Transfer::SIGNATURE_HASH
            && let Ok(e) = I::Transfer::decode_log(log)
        {
            return ("ItemTransfer", Change::ItemTransfer { from: e.from, to: e.to, id: id(e.tokenId) });
        }
        if topic == I::ItemMinted::SIGNATURE_HASH
            && let Ok(e) = I::ItemMinted::decode_log(log)
        {
            let item = Item {
                id: id(e.itemId),
                owner: e.owner,
                item_type: e.itemType,
                rarity: e.rarity,
                condition: e.condition,
                boosts: e.boosts,
                class_affinities: e.classAffinities,
                trait_affiliation: e.traitAffiliation,
                equipped_on: 0,
            };
            return ("ItemMinted", Change::ItemMinted { item });
        }
        if topic == I::ConditionChanged::SIGNATURE_HASH
            && let Ok(e) = I::ConditionChanged::decode_log(log)
        {
            return ("ConditionChanged", Change::ConditionChanged { id: id(e.itemId), condition: e.newCondition });
        }
        return ("ItemOther", Change::Other);
    }
    if log.address == contracts.ntc {
        if topic == NTCToken::Transfer::SIGNATURE_HASH
            && let Ok(e) = NTCToken::Transfer::decode_log(log)
        {
            return ("NtcTransfer", Change::NtcTransfer { from: e.from, to: e.to, value: e.value });
        }
        return ("NtcOther", Change::Other);
    }
    ("Foreign", Change::Other)
}

/// Latest known rows of the entities a batch touches, and the versions it writes.
#[derive(Debug, Default)]
pub struct State {
    pub robots: HashMap<u64, Robot>,
    pub items: HashMap<u64, Item>,
    pub balances: HashMap<Address, U256>,
    pub robot_versions: Vec<(Position, Robot)>,
    pub item_versions: Vec<(Position, Item)>,
    pub balance_versions: Vec<(Position, Address, U256)>,
    pub new_players: Vec<(Position, Address)>,
}

/// Which rows a change needs loaded before [`State::apply`] can run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Needs {
    pub robots: Vec<u64>,
    pub items: Vec<u64>,
    pub balances: Vec<Address>,
    pub players: Vec<Address>,
}

impl Change {
    pub fn needs(&self, into: &mut Needs) {
        match *self {
            Change::RobotTransfer { from, to, id } => {
                into.robots.push(id);
                into.players.extend([from, to].into_iter().filter(|a| !a.is_zero()));
            }
            Change::RobotMinted { id, .. } | Change::XpAwarded { id, .. } | Change::StatsUpdated { id, .. } | Change::ClassChanged { id, .. } => into.robots.push(id),
            Change::ItemEquipped { robot, item, .. } | Change::ItemUnequipped { robot, item, .. } => {
                into.robots.push(robot);
                into.items.push(item);
            }
            Change::ItemTransfer { from, to, id } => {
                into.items.push(id);
                into.players.extend([from, to].into_iter().filter(|a| !a.is_zero()));
            }
            Change::ItemMinted { ref item } => into.items.push(item.id),
            Change::ConditionChanged { id, .. } => into.items.push(id),
            Change::NtcTransfer { from, to, .. } => {
                let parties: Vec<Address> = [from, to].into_iter().filter(|a| !a.is_zero()).collect();
                into.balances.extend(parties.iter().copied());
                into.players.extend(parties);
            }
            Change::Other => {}
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("event at {0:?} names robot {1}, which no earlier event created")]
    UnknownRobot(Position, u64),
    #[error("event at {0:?} names item {1}, which no earlier event created")]
    UnknownItem(Position, u64),
    #[error("event at {0:?} moves more NTC from {1} than its indexed balance")]
    NegativeBalance(Position, Address),
}

impl State {
    /// Applies one change. `known_players` answers whether an address was seen before this batch.
    pub fn apply(&mut self, at: Position, change: &Change, known_player: &dyn Fn(&Address) -> bool) -> Result<(), ApplyError> {
        match change {
            Change::RobotTransfer { from, to, id } => {
                let robot =
                    self.robots.entry(*id).or_insert_with(|| Robot { id: *id, owner: Address::ZERO, xp: 0, level: 0, class: 0, affiliation: 0, base: [0; 12], final_stats: [0; 12], equipped: [0; 4] });
                robot.owner = *to;
                let snapshot = robot.clone();
                self.robot_versions.push((at, snapshot));
                self.note_players(at, &[*from, *to], known_player);
            }
            Change::RobotMinted { id, base } => self.robot(at, *id, |r| r.base = *base)?,
            Change::XpAwarded { id, new_xp } => self.robot(at, *id, |r| r.xp = *new_xp)?,
            Change::StatsUpdated { id, final_stats, level } => self.robot(at, *id, |r| {
                r.final_stats = *final_stats;
                r.level = *level;
            })?,
            Change::ClassChanged { id, class, affiliation } => self.robot(at, *id, |r| {
                r.class = *class;
                r.affiliation = *affiliation;
            })?,
            Change::ItemEquipped { robot, item, slot } => {
                let s = usize::from(slot.saturating_sub(1)).min(3);
                self.robot(at, *robot, |r| r.equipped[s] = *item)?;
                self.item(at, *item, |i| i.equipped_on = *robot)?;
            }
            Change::ItemUnequipped { robot, item, slot } => {
                let s = usize::from(slot.saturating_sub(1)).min(3);
                self.robot(at, *robot, |r| {
                    if r.equipped[s] == *item {
                        r.equipped[s] = 0;
                    }
                })?;
                self.item(at, *item, |i| i.equipped_on = 0)?;
            }
            Change::ItemTransfer { from, to, id } => {
                let item = self.items.entry(*id).or_insert_with(|| Item {
                    id: *id,
                    owner: Address::ZERO,
                    item_type: 0,
                    rarity: 0,
                    condition: 0,
                    boosts: [0; 12],
                    class_affinities: 0,
                    trait_affiliation: 0,
                    equipped_on: 0,
                });
                item.owner = *to;
                let snapshot = item.clone();
                self.item_versions.push((at, snapshot));
                self.note_players(at, &[*from, *to], known_player);
            }
            Change::ItemMinted { item } => {
                let owner = self.items.get(&item.id).map(|i| i.owner).unwrap_or(item.owner);
                self.items.insert(item.id, Item { owner, ..item.clone() });
                self.item_versions.push((at, self.items[&item.id].clone()));
            }
            Change::ConditionChanged { id, condition } => self.item(at, *id, |i| i.condition = *condition)?,
            Change::NtcTransfer { from, to, value } => {
                if !from.is_zero() {
                    let balance = self.balances.entry(*from).or_default();
                    *balance = balance.checked_sub(*value).ok_or(ApplyError::NegativeBalance(at, *from))?;
                    self.balance_versions.push((at, *from, *balance));
                }
                if !to.is_zero() {
                    let balance = self.balances.entry(*to).or_default();
                    *balance = balance.saturating_add(*value);
                    self.balance_versions.push((at, *to, *balance));
                }
                self.note_players(at, &[*from, *to], known_player);
            }
            Change::Other => {}
        }
        Ok(())
    }

    fn robot(&mut self, at: Position, id: u64, f: impl FnOnce(&mut Robot)) -> Result<(), ApplyError> {
        let robot = self.robots.get_mut(&id).ok_or(ApplyError::UnknownRobot(at, id))?;
        f(robot);
        self.robot_versions.push((at, robot.clone()));
        Ok(())
    }

    fn item(&mut self, at: Position, id: u64, f: impl FnOnce(&mut Item)) -> Result<(), ApplyError> {
        let item = self.items.get_mut(&id).ok_or(ApplyError::UnknownItem(at, id))?;
        f(item);
        self.item_versions.push((at, item.clone()));
        Ok(())
    }

    fn note_players(&mut self, at: Position, parties: &[Address], known_player: &dyn Fn(&Address) -> bool) {
        for p in parties {
            if !p.is_zero() && !known_player(p) && !self.new_players.iter().any(|(_, a)| a == p) {
                self.new_players.push((at, *p));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The event-to-row rules, table-driven: each case applies changes in order to an empty state
    //! and names the rows the last change must leave, and the versions it writes.
    use super::*;
    use alloy::primitives::address;

    const A: Address = address!("00000000000000000000000000000000000000aa");
    const B: Address = address!("00000000000000000000000000000000000000bb");
    const Z: Address = Address::ZERO;

    fn at(block_number: u64, log_index: u64) -> Position {
        Position { block_number, log_index }
    }

    fn item(id: u64, owner: Address) -> Item {
        Item { id, owner, item_type: 1, rarity: 2, condition: 4, boosts: [3; 12], class_affinities: 5, trait_affiliation: 1, equipped_on: 0 }
    }

    fn mint_robot(id: u64, owner: Address) -> [Change; 2] {
        [Change::RobotTransfer { from: Z, to: owner, id }, Change::RobotMinted { id, base: [7; 12] }]
    }

    fn mint_item(id: u64, owner: Address) -> [Change; 2] {
        [Change::ItemTransfer { from: Z, to: owner, id }, Change::ItemMinted { item: item(id, owner) }]
    }

    /// Applies `changes` one per log index of block 1 (several changes in one block, as a real
    /// chain has them); returns the state.
    fn run(changes: &[Change]) -> Result<State, ApplyError> {
        let mut s = State::default();
        for (i, c) in changes.iter().enumerate() {
            s.apply(at(1, i as u64), c, &|_| false)?;
        }
        Ok(s)
    }

    fn robot(s: &State, id: u64) -> &Robot {
        &s.robots[&id]
    }

    #[test]
    fn every_robot_event_changes_exactly_its_fields() {
        type Check = fn(&Robot) -> bool;
        let cases: Vec<(&str, Vec<Change>, Check)> = vec![
            ("mint: transfer from zero then RobotMinted", mint_robot(1, A).to_vec(), |r| r.owner == A && r.base == [7; 12] && r.xp == 0),
            ("XpAwarded sets the new total", [mint_robot(1, A).to_vec(), vec![Change::XpAwarded { id: 1, new_xp: 250 }]].concat(), |r| r.xp == 250),
            ("StatsUpdated sets final stats and level", [mint_robot(1, A).to_vec(), vec![Change::StatsUpdated { id: 1, final_stats: [9; 12], level: 6 }]].concat(), |r| {
                r.final_stats == [9; 12] && r.level == 6 && r.base == [7; 12]
            }),
            ("ClassChanged sets class and affiliation", [mint_robot(1, A).to_vec(), vec![Change::ClassChanged { id: 1, class: 11, affiliation: 2 }]].concat(), |r| (r.class, r.affiliation) == (11, 2)),
            ("RobotTransfer between two owners moves it", [mint_robot(1, A).to_vec(), vec![Change::RobotTransfer { from: A, to: B, id: 1 }]].concat(), |r| r.owner == B && r.base == [7; 12]),
            (
                "transfers back and forth in one block end with the last owner",
                [mint_robot(1, A).to_vec(), vec![Change::RobotTransfer { from: A, to: B, id: 1 }, Change::RobotTransfer { from: B, to: A, id: 1 }]].concat(),
                |r| r.owner == A,
            ),
        ];
        for (name, changes, check) in cases {
            let s = run(&changes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(check(robot(&s, 1)), "{name}: {:?}", robot(&s, 1));
            assert_eq!(s.robot_versions.len(), changes.len(), "{name}: one robot version per change");
            assert_eq!(s.robot_versions.last().map(|(p, r)| (*p, r)), Some((at(1, changes.len() as u64 - 1), robot(&s, 1))), "{name}: the last version is the row");
        }
    }

    #[test]
    fn equip_and_unequip_update_both_the_robot_and_the_item() {
        let base = [mint_robot(1, A).to_vec(), mint_item(5, A).to_vec(), mint_item(6, A).to_vec()].concat();
        let equip = [base.clone(), vec![Change::ItemEquipped { robot: 1, item: 5, slot: 1 }]].concat();
        let s = run(&equip).expect("equip");
        assert_eq!(robot(&s, 1).equipped, [5, 0, 0, 0]);
        assert_eq!(s.items[&5].equipped_on, 1);

        // Mint, equip and unequip in one block: both sides end empty.
        let unequip = [equip.clone(), vec![Change::ItemUnequipped { robot: 1, item: 5, slot: 1 }]].concat();
        let s = run(&unequip).expect("unequip");
        assert_eq!(robot(&s, 1).equipped, [0; 4]);
        assert_eq!(s.items[&5].equipped_on, 0);

        // Equipping over an occupied slot: the contract emits the old item's unequip first.
        let swap = [equip, vec![Change::ItemUnequipped { robot: 1, item: 5, slot: 1 }, Change::ItemEquipped { robot: 1, item: 6, slot: 1 }]].concat();
        let s = run(&swap).expect("swap");
        assert_eq!(robot(&s, 1).equipped, [6, 0, 0, 0]);
        assert_eq!((s.items[&5].equipped_on, s.items[&6].equipped_on), (0, 1));

        // An unequip naming another item than the slot holds leaves the slot alone.
        let stray = [base, vec![Change::ItemEquipped { robot: 1, item: 6, slot: 2 }, Change::ItemUnequipped { robot: 1, item: 5, slot: 2 }]].concat();
        let s = run(&stray).expect("stray unequip");
        assert_eq!(robot(&s, 1).equipped, [0, 6, 0, 0]);
    }

    #[test]
    fn every_item_event_changes_exactly_its_fields() {
        let s = run(&mint_item(5, A)).expect("mint");
        assert_eq!(s.items[&5], item(5, A));
        let s = run(&[mint_item(5, A).to_vec(), vec![Change::ConditionChanged { id: 5, condition: 1 }]].concat()).expect("condition");
        assert_eq!(s.items[&5], Item { condition: 1, ..item(5, A) });
        let s = run(&[mint_item(5, A).to_vec(), vec![Change::ItemTransfer { from: A, to: B, id: 5 }]].concat()).expect("transfer");
        assert_eq!(s.items[&5], item(5, B), "a transfer between two owners moves it");
        assert_eq!(s.item_versions.len(), 3);
    }

    #[test]
    fn ntc_transfers_update_both_sides() {
        let one = U256::from(1_000u64);
        let s = run(&[
            Change::NtcTransfer { from: Z, to: A, value: one },
            Change::NtcTransfer { from: A, to: B, value: U256::from(300u64) },
            Change::NtcTransfer { from: B, to: A, value: U256::from(100u64) },
            Change::NtcTransfer { from: A, to: Z, value: U256::from(50u64) },
        ])
        .expect("transfers");
        assert_eq!((s.balances[&A], s.balances[&B]), (U256::from(750u64), U256::from(200u64)));
        let versions: Vec<(Position, Address, U256)> = s.balance_versions.clone();
        assert_eq!(versions.len(), 1 + 2 + 2 + 1, "a mint and a burn write one side, a transfer both: {versions:?}");
        assert_eq!(versions[1], (at(1, 1), A, U256::from(700u64)));
        assert_eq!(versions[2], (at(1, 1), B, U256::from(300u64)));
        let players: Vec<Address> = s.new_players.iter().map(|(_, a)| *a).collect();
        assert_eq!(players, vec![A, B], "each new player once, zero never");
    }

    #[test]
    fn events_naming_unknown_entities_or_overdrawing_are_errors() {
        assert_eq!(run(&[Change::XpAwarded { id: 3, new_xp: 1 }]).unwrap_err(), ApplyError::UnknownRobot(at(1, 0), 3));
        assert_eq!(run(&[Change::ConditionChanged { id: 4, condition: 1 }]).unwrap_err(), ApplyError::UnknownItem(at(1, 0), 4));
        assert_eq!(run(&[Change::NtcTransfer { from: A, to: B, value: U256::from(1u64) }]).unwrap_err(), ApplyError::NegativeBalance(at(1, 0), A));
    }

    #[test]
    fn needs_name_every_row_a_change_touches() {
        let cases = [
            (Change::RobotTransfer { from: A, to: B, id: 1 }, Needs { robots: vec![1], players: vec![A, B], ..Needs::default() }),
            (Change::RobotTransfer { from: Z, to: B, id: 1 }, Needs { robots: vec![1], players: vec![B], ..Needs::default() }),
            (Change::ItemTransfer { from: A, to: B, id: 5 }, Needs { items: vec![5], players: vec![A, B], ..Needs::default() }),
            (Change::ItemEquipped { robot: 1, item: 5, slot: 1 }, Needs { robots: vec![1], items: vec![5], ..Needs::default() }),
            (Change::ItemUnequipped { robot: 1, item: 5, slot: 1 }, Needs { robots: vec![1], items: vec![5], ..Needs::default() }),
            (Change::NtcTransfer { from: A, to: B, value: U256::from(1u64) }, Needs { balances: vec![A, B], players: vec![A, B], ..Needs::default() }),
            (Change::ConditionChanged { id: 5, condition: 1 }, Needs { items: vec![5], ..Needs::default() }),
            (Change::Other, Needs::default()),
        ];
        for (change, want) in cases {
            let mut got = Needs::default();
            change.needs(&mut got);
            assert_eq!(got, want, "{change:?}");
        }
    }

    #[test]
    fn decode_reads_every_event_type_of_the_three_contracts() {
        use alloy::primitives::LogData;
        let contracts = Contracts {
            robot: address!("0000000000000000000000000000000000000001"),
            item: address!("0000000000000000000000000000000000000002"),
            ntc: address!("0000000000000000000000000000000000000003"),
        };
        let log = |address: Address, data: LogData| Log { address, data };
        let n = U256::from;
        let cases: Vec<(Log, &str, Change)> = vec![
            (log(contracts.robot, BunkerguardRobot::Transfer { from: A, to: B, tokenId: n(1) }.encode_log_data()), "RobotTransfer", Change::RobotTransfer { from: A, to: B, id: 1 }),
            (log(contracts.robot, BunkerguardRobot::RobotMinted { robotId: n(1), owner: A, baseStats: [7; 12] }.encode_log_data()), "RobotMinted", Change::RobotMinted { id: 1, base: [7; 12] }),
            (log(contracts.robot, BunkerguardRobot::XpAwarded { robotId: n(1), amount: 5, newXp: 25 }.encode_log_data()), "XpAwarded", Change::XpAwarded { id: 1, new_xp: 25 }),
            (
                log(contracts.robot, BunkerguardRobot::ItemEquipped { robotId: n(1), itemId: n(5), slot: 2, previousItemId: n(0) }.encode_log_data()),
                "ItemEquipped",
                Change::ItemEquipped { robot: 1, item: 5, slot: 2 },
            ),
            (
                log(contracts.robot, BunkerguardRobot::ItemUnequipped { robotId: n(1), itemId: n(5), slot: 2 }.encode_log_data()),
                "ItemUnequipped",
                Change::ItemUnequipped { robot: 1, item: 5, slot: 2 },
            ),
            (
                log(contracts.robot, BunkerguardRobot::StatsUpdated { robotId: n(1), finalStats: [9; 12], level: 3 }.encode_log_data()),
                "StatsUpdated",
                Change::StatsUpdated { id: 1, final_stats: [9; 12], level: 3 },
            ),
            (log(contracts.item, BunkerItem::Transfer { from: Z, to: A, tokenId: n(5) }.encode_log_data()), "ItemTransfer", Change::ItemTransfer { from: Z, to: A, id: 5 }),
            (
                log(contracts.item, BunkerItem::ConditionChanged { itemId: n(5), oldCondition: 4, newCondition: 2 }.encode_log_data()),
                "ConditionChanged",
                Change::ConditionChanged { id: 5, condition: 2 },
            ),
            (log(contracts.ntc, NTCToken::Transfer { from: A, to: B, value: n(7) }.encode_log_data()), "NtcTransfer", Change::NtcTransfer { from: A, to: B, value: n(7) }),
            // The same event from an address we do not index is foreign, whatever it says.
            (log(A, NTCToken::Transfer { from: A, to: B, value: n(7) }.encode_log_data()), "Foreign", Change::Other),
        ];
        for (l, name, change) in cases {
            assert_eq!(decode(&contracts, &l), (name, change.clone()), "{name}");
        }
    }
}

#[cfg(test)]
mod properties {
    //! The event-to-row rules as a property: any sequence of chain-valid operations (mints,
    //! transfers, equips into a free slot, unequips, NTC mints and transfers within the balance),
    //! each turned into the changes the contracts' events decode to, several per block, leaves the
    //! state, its last versions and its players exactly as a plain model of the chain says. A
    //! failure shrinks to the shortest list of operations that still shows it, printed as such.
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const PEOPLE: [Address; 3] = [Address::repeat_byte(0xa1), Address::repeat_byte(0xb2), Address::repeat_byte(0xc3)];

    /// Indices into the robots, items and people that exist when the operation runs (taken modulo
    /// their number, so shrinking never invents an entity); an operation invalid at that point on
    /// the chain (equipping into a full slot, spending more than the balance) is skipped.
    #[derive(Debug, Clone)]
    enum Op {
        MintRobot { to: usize },
        MintItem { to: usize },
        TransferRobot { robot: usize, to: usize },
        TransferItem { item: usize, to: usize },
        Equip { robot: usize, item: usize, slot: u8 },
        Unequip { robot: usize, slot: u8 },
        MintNtc { to: usize, amount: u64 },
        SendNtc { from: usize, to: usize, amount: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        let who = 0..PEOPLE.len();
        prop_oneof![
            who.clone().prop_map(|to| Op::MintRobot { to }),
            who.clone().prop_map(|to| Op::MintItem { to }),
            (0..4usize, who.clone()).prop_map(|(robot, to)| Op::TransferRobot { robot, to }),
            (0..4usize, who.clone()).prop_map(|(item, to)| Op::TransferItem { item, to }),
            (0..4usize, 0..4usize, 1..=4u8).prop_map(|(robot, item, slot)| Op::Equip { robot, item, slot }),
            (0..4usize, 1..=4u8).prop_map(|(robot, slot)| Op::Unequip { robot, slot }),
            (who.clone(), 1..50u64).prop_map(|(to, amount)| Op::MintNtc { to, amount }),
            (who.clone(), who, 1..50u64).prop_map(|(from, to, amount)| Op::SendNtc { from, to, amount }),
        ]
    }

    /// The chain as the contracts keep it.
    #[derive(Debug, Default)]
    struct Chain {
        robots: BTreeMap<u64, (Address, [u64; 4])>,
        items: BTreeMap<u64, (Address, u64)>,
        balances: BTreeMap<Address, u64>,
        players: BTreeMap<Address, Position>,
    }

    fn nth<T: Copy>(keys: impl Iterator<Item = T>, i: usize) -> Option<T> {
        let all: Vec<T> = keys.collect();
        (!all.is_empty()).then(|| all[i % all.len()])
    }

    fn item_of(id: u64, owner: Address) -> Item {
        Item { id, owner, item_type: 1, rarity: 1, condition: 4, boosts: [0; 12], class_affinities: 0, trait_affiliation: 1, equipped_on: 0 }
    }

    impl Chain {
        /// The changes the events of `op` decode to, with the chain moved on; none if the chain
        /// would refuse `op`.
        fn run(&mut self, op: &Op) -> Vec<Change> {
            let z = Address::ZERO;
            match *op {
                Op::MintRobot { to } => {
                    let id = self.robots.len() as u64 + 1;
                    self.robots.insert(id, (PEOPLE[to], [0; 4]));
                    vec![Change::RobotTransfer { from: z, to: PEOPLE[to], id }, Change::RobotMinted { id, base: [5; 12] }]
                }
                Op::MintItem { to } => {
                    let id = self.items.len() as u64 + 1;
                    self.items.insert(id, (PEOPLE[to], 0));
                    vec![Change::ItemTransfer { from: z, to: PEOPLE[to], id }, Change::ItemMinted { item: item_of(id, PEOPLE[to]) }]
                }
                Op::TransferRobot { robot, to } => {
                    let Some(id) = nth(self.robots.keys().copied(), robot) else { return vec![] };
                    let r = self.robots.get_mut(&id).expect("listed");
                    let from = std::mem::replace(&mut r.0, PEOPLE[to]);
                    vec![Change::RobotTransfer { from, to: PEOPLE[to], id }]
                }
                Op::TransferItem { item, to } => {
                    let Some(id) = nth(self.items.keys().copied(), item) else { return vec![] };
                    let i = self.items.get_mut(&id).expect("listed");
                    if i.1 != 0 {
                        return vec![]; // an equipped item is locked
                    }
                    let from = std::mem::replace(&mut i.0, PEOPLE[to]);
                    vec![Change::ItemTransfer { from, to: PEOPLE[to], id }]
                }
                Op::Equip { robot, item, slot } => {
                    let (Some(r), Some(i)) = (nth(self.robots.keys().copied(), robot), nth(self.items.keys().copied(), item)) else { return vec![] };
                    let s = usize::from(slot - 1);
                    let (robot_owner, slots) = self.robots[&r];
                    let (item_owner, on) = self.items[&i];
                    if robot_owner != item_owner || on != 0 || slots[s] != 0 {
                        return vec![];
                    }
                    self.robots.get_mut(&r).expect("listed").1[s] = i;
                    self.items.get_mut(&i).expect("listed").1 = r;
                    vec![Change::ItemEquipped { robot: r, item: i, slot }]
                }
                Op::Unequip { robot, slot } => {
                    let Some(r) = nth(self.robots.keys().copied(), robot) else { return vec![] };
                    let s = usize::from(slot - 1);
                    let i = self.robots[&r].1[s];
                    if i == 0 {
                        return vec![];
                    }
                    self.robots.get_mut(&r).expect("listed").1[s] = 0;
                    self.items.get_mut(&i).expect("listed").1 = 0;
                    vec![Change::ItemUnequipped { robot: r, item: i, slot }]
                }
                Op::MintNtc { to, amount } => {
                    *self.balances.entry(PEOPLE[to]).or_default() += amount;
                    vec![Change::NtcTransfer { from: z, to: PEOPLE[to], value: U256::from(amount) }]
                }
                Op::SendNtc { from, to, amount } => {
                    let have = self.balances.get(&PEOPLE[from]).copied().unwrap_or(0);
                    if have < amount {
                        return vec![];
                    }
                    *self.balances.entry(PEOPLE[from]).or_default() -= amount;
                    *self.balances.entry(PEOPLE[to]).or_default() += amount;
                    vec![Change::NtcTransfer { from: PEOPLE[from], to: PEOPLE[to], value: U256::from(amount) }]
                }
            }
        }

        fn note(&mut self, at: Position, change: &Change) {
            let parties = match *change {
                Change::RobotTransfer { from, to, .. } | Change::ItemTransfer { from, to, .. } | Change::NtcTransfer { from, to, .. } => [from, to],
                _ => return,
            };
            for p in parties.into_iter().filter(|p| !p.is_zero()) {
                self.players.entry(p).or_insert(at);
            }
        }
    }

    /// Applies `ops` three to a block; returns the first way the indexer's state differs from the
    /// chain's.
    fn differs(ops: &[Op]) -> Option<String> {
        let mut chain = Chain::default();
        let mut state = State::default();
        let mut log_index = 0;
        for (n, op) in ops.iter().enumerate() {
            let block_number = n as u64 / 3 + 1;
            if n % 3 == 0 {
                log_index = 0;
            }
            for change in chain.run(op) {
                let at = Position { block_number, log_index };
                log_index += 1;
                chain.note(at, &change);
                if let Err(e) = state.apply(at, &change, &|_| false) {
                    return Some(format!("{op:?}: {e}"));
                }
            }
        }
        for (id, (owner, slots)) in &chain.robots {
            let r = &state.robots[id];
            if (r.owner, r.equipped) != (*owner, *slots) {
                return Some(format!("robot {id}: owner {} slots {:?}, the chain {owner} {slots:?}", r.owner, r.equipped));
            }
            if state.robot_versions.iter().rev().find(|(_, v)| v.id == *id).map(|(_, v)| v) != Some(r) {
                return Some(format!("robot {id}: its last version is not its state"));
            }
        }
        for (id, (owner, on)) in &chain.items {
            let i = &state.items[id];
            if (i.owner, i.equipped_on) != (*owner, *on) {
                return Some(format!("item {id}: owner {} on robot {}, the chain {owner} on {on}", i.owner, i.equipped_on));
            }
            if state.item_versions.iter().rev().find(|(_, v)| v.id == *id).map(|(_, v)| v) != Some(i) {
                return Some(format!("item {id}: its last version is not its state"));
            }
        }
        for p in PEOPLE {
            let ours = state.balances.get(&p).copied().unwrap_or_default();
            let theirs = U256::from(chain.balances.get(&p).copied().unwrap_or(0));
            if ours != theirs {
                return Some(format!("balance of {p}: {ours}, the chain {theirs}"));
            }
        }
        let players: BTreeMap<Address, Position> = state.new_players.iter().map(|(at, a)| (*a, *at)).collect();
        if players != chain.players || players.len() != state.new_players.len() {
            return Some(format!("players {:?}, the chain {:?}", state.new_players, chain.players));
        }
        None
    }

    fn regressions() -> &'static str {
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/model.txt")
    }

    proptest! {
        #![proptest_config(harness::property::config("any_chain_valid_history_indexes_as_the_chain_holds_it", harness::property::cases(256), regressions()))]

        #[test]
        fn any_chain_valid_history_indexes_as_the_chain_holds_it(ops in proptest::collection::vec(op(), 1..40)) {
            if let Some(d) = differs(&ops) {
                prop_assert!(false, "{d}");
            }
        }
    }
}
