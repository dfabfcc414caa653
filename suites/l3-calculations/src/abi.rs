//! Between the oracle's types and the contracts' ABI: loadouts in, outcomes and custom errors out.

use alloy::providers::DynProvider;
use mve_contracts::{BunkerItem, BunkerRules, BunkerguardRobot};

use crate::oracle::{Item, Outcome, RuleError, Stats};

pub fn rules_item(it: &Item) -> BunkerRules::ItemView {
    BunkerRules::ItemView { itemType: it.item_type, rarity: it.rarity, condition: it.condition, boosts: it.boosts, classAffinities: it.class_affinities, traitAffiliation: it.trait_affiliation }
}

pub fn item_contract_item(it: &Item) -> BunkerItem::ItemView {
    BunkerItem::ItemView { itemType: it.item_type, rarity: it.rarity, condition: it.condition, boosts: it.boosts, classAffinities: it.class_affinities, traitAffiliation: it.trait_affiliation }
}

/// The class-rule error a revert carries, if it is one (any of the three contracts).
pub fn rule_error(err: &alloy::contract::Error) -> Option<RuleError> {
    use BunkerRules::BunkerRulesErrors as E;
    match err.as_decoded_interface_error::<E>()? {
        E::StatOverflow(e) => Some(RuleError::StatOverflow(e.index)),
        E::XpOverflow(_) => Some(RuleError::XpOverflow),
        E::NotEquippable(e) => Some(RuleError::NotEquippable(e.itemType)),
        E::SlotTaken(e) => Some(RuleError::SlotTaken(e.itemType)),
        E::BadEnum(_) => Some(RuleError::BadEnum),
    }
}

/// Decodes a revert of the robot contract (class-rule errors and its own).
pub fn robot_error(err: &alloy::contract::Error) -> Option<BunkerguardRobot::BunkerguardRobotErrors> {
    err.as_decoded_interface_error::<BunkerguardRobot::BunkerguardRobotErrors>()
}

pub fn item_error(err: &alloy::contract::Error) -> Option<BunkerItem::BunkerItemErrors> {
    err.as_decoded_interface_error::<BunkerItem::BunkerItemErrors>()
}

/// `classify` through one eth_call. The outer error is a transport failure or a revert that is not
/// a class-rule error; the inner result is what the oracle's `classify` returns.
pub async fn classify_on_chain(rules: &BunkerRules::BunkerRulesInstance<&DynProvider>, base: &Stats, xp: u64, items: &[Item]) -> anyhow::Result<Result<Outcome, RuleError>> {
    let views: Vec<_> = items.iter().map(rules_item).collect();
    match rules.classify(*base, xp, views).call().await {
        Ok(r) => Ok(Ok(Outcome { class: r.bunkerClass, affiliation: r.affiliation, level: r.level, final_stats: r.finalStats })),
        Err(e) => match rule_error(&e) {
            Some(rule) => Ok(Err(rule)),
            None => Err(anyhow::anyhow!("classify failed without a class-rule error: {e}")),
        },
    }
}
