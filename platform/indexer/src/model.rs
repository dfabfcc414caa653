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
    RobotTransfer { from: Address, to: Address, id: u64 },
    RobotMinted { id: u64, base: [u16; 12] },
    XpAwarded { id: u64, new_xp: u64 },
    ItemEquipped { robot: u64, item: u64, slot: u8 },
    ItemUnequipped { robot: u64, item: u64, slot: u8 },
    StatsUpdated { id: u64, final_stats: [u16; 12], level: u8 },
    ClassChanged { id: u64, class: u8, affiliation: u8 },
    ItemTransfer { from: Address, to: Address, id: u64 },
    ItemMinted { item: Item },
    ConditionChanged { id: u64, condition: u8 },
    NtcTransfer { from: Address, to: Address, value: U256 },
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
            return (
                "ClassChanged",
                Change::ClassChanged { id: id(e.robotId), class: e.newClass, affiliation: e.newAffiliation },
            );
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
            Change::RobotMinted { id, .. }
            | Change::XpAwarded { id, .. }
            | Change::StatsUpdated { id, .. }
            | Change::ClassChanged { id, .. } => into.robots.push(id),
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
                let robot = self.robots.entry(*id).or_insert_with(|| Robot {
                    id: *id,
                    owner: Address::ZERO,
                    xp: 0,
                    level: 0,
                    class: 0,
                    affiliation: 0,
                    base: [0; 12],
                    final_stats: [0; 12],
                    equipped: [0; 4],
                });
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
