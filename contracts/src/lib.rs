//! Rust bindings of the MVE L3 contracts (from the artifacts build.rs produces) and their deployment.
// The bindings' functions take as many arguments as the contract functions they call.
#![allow(clippy::too_many_arguments)]

use alloy::primitives::Address;
use alloy::providers::DynProvider;

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    BunkerRules,
    "out/BunkerRules.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    BunkerguardRobot,
    "out/BunkerguardRobot.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    BunkerItem,
    "out/BunkerItem.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    NTCToken,
    "out/NTCToken.json"
);

/// Addresses of one deployment of the four contracts, wired together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub admin: Address,
    pub rules: Address,
    pub item: Address,
    pub robot: Address,
    pub ntc: Address,
}

impl Deployment {
    /// Deploys all four from `admin` (an unlocked account of the node, e.g. anvil's first) and
    /// wires the item contract to the robot contract.
    pub async fn deploy(provider: &DynProvider, admin: Address) -> anyhow::Result<Deployment> {
        let rules = BunkerRules::deploy_builder(provider).from(admin).deploy().await?;
        let item = BunkerItem::deploy_builder(provider, admin).from(admin).deploy().await?;
        let robot = BunkerguardRobot::deploy_builder(provider, admin, item).from(admin).deploy().await?;
        let ntc = NTCToken::deploy_builder(provider, admin).from(admin).deploy().await?;
        BunkerItem::new(item, provider).setRobotContract(robot).from(admin).send().await?.get_receipt().await?;
        Ok(Deployment { admin, rules, item, robot, ntc })
    }

    pub fn rules<'a>(&self, provider: &'a DynProvider) -> BunkerRules::BunkerRulesInstance<&'a DynProvider> {
        BunkerRules::new(self.rules, provider)
    }
    pub fn robot<'a>(&self, provider: &'a DynProvider) -> BunkerguardRobot::BunkerguardRobotInstance<&'a DynProvider> {
        BunkerguardRobot::new(self.robot, provider)
    }
    pub fn item<'a>(&self, provider: &'a DynProvider) -> BunkerItem::BunkerItemInstance<&'a DynProvider> {
        BunkerItem::new(self.item, provider)
    }
    pub fn ntc<'a>(&self, provider: &'a DynProvider) -> NTCToken::NTCTokenInstance<&'a DynProvider> {
        NTCToken::new(self.ntc, provider)
    }
}
