//! What every test of this suite starts from: a chain of its own with the four contracts deployed,
//! and small typed wrappers over the transactions the tests send.
#![allow(dead_code)]

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use harness::{Stack, TestChain};
use l3_calculations::abi;
use l3_calculations::oracle::{Item, Stats};
use mve_contracts::{BunkerItem, BunkerguardRobot, Deployment};

pub struct Env {
    pub chain: TestChain,
    pub d: Deployment,
    pub admin: Address,
    /// Funded, unlocked anvil accounts other than the admin.
    pub players: Vec<Address>,
}

/// What the robot contract stores about one robot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotState {
    pub class: u8,
    pub affiliation: u8,
    pub level: u8,
    pub xp: u64,
    pub final_stats: Stats,
    pub equipped: [u64; 4],
    pub owner: Address,
}

pub type TxResult = Result<TransactionReceipt, alloy::contract::Error>;

impl Env {
    pub async fn new() -> anyhow::Result<Env> {
        let stack = Stack::builder().anvil().shared().await?;
        let chain = stack.fresh_chain().await?;
        let accounts = chain.provider.get_accounts().await?;
        let d = Deployment::deploy(&chain.provider, accounts[0]).await?;
        Ok(Env { d, admin: accounts[0], players: accounts[1..].to_vec(), chain })
    }

    pub fn p(&self) -> &DynProvider {
        &self.chain.provider
    }

    pub async fn mint_robot(&self, owner: Address, base: Stats) -> Result<u64, alloy::contract::Error> {
        let receipt = self.d.robot(self.p()).mint(owner, base).from(self.admin).send().await?.get_receipt().await?;
        Ok(receipt.inner.logs().iter().find_map(|l| l.log_decode::<BunkerguardRobot::RobotMinted>().ok()).expect("RobotMinted in the receipt").inner.robotId.to::<u64>())
    }

    pub async fn mint_item(&self, owner: Address, item: &Item) -> Result<u64, alloy::contract::Error> {
        let receipt = self.d.item(self.p()).mint(owner, abi::item_contract_item(item)).from(self.admin).send().await?.get_receipt().await?;
        Ok(receipt.inner.logs().iter().find_map(|l| l.log_decode::<BunkerItem::ItemMinted>().ok()).expect("ItemMinted in the receipt").inner.itemId.to::<u64>())
    }

    pub async fn equip(&self, who: Address, robot: u64, item: u64) -> TxResult {
        self.d.robot(self.p()).equip(U256::from(robot), U256::from(item)).from(who).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn unequip(&self, who: Address, robot: u64, slot: u8) -> TxResult {
        self.d.robot(self.p()).unequip(U256::from(robot), slot).from(who).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn award_xp(&self, robot: u64, amount: u64) -> TxResult {
        self.d.robot(self.p()).awardXp(U256::from(robot), amount).from(self.admin).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn set_condition(&self, item: u64, condition: u8) -> TxResult {
        self.d.item(self.p()).setCondition(U256::from(item), condition).from(self.admin).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn transfer_item(&self, from: Address, to: Address, item: u64) -> TxResult {
        self.d.item(self.p()).transferFrom(from, to, U256::from(item)).from(from).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn transfer_robot(&self, from: Address, to: Address, robot: u64) -> TxResult {
        self.d.robot(self.p()).transferFrom(from, to, U256::from(robot)).from(from).send().await?.get_receipt().await.map_err(Into::into)
    }

    pub async fn state(&self, robot: u64) -> anyhow::Result<RobotState> {
        let r = self.d.robot(self.p()).robotState(U256::from(robot)).call().await?;
        let owner = self.d.robot(self.p()).ownerOf(U256::from(robot)).call().await?;
        Ok(RobotState { class: r.bunkerClass, affiliation: r.affiliation, level: r.level, xp: r.xp, final_stats: r.finalStats, equipped: r.equipped.map(|v| v.to::<u64>()), owner })
    }

    pub async fn item_owner(&self, item: u64) -> anyhow::Result<Address> {
        Ok(self.d.item(self.p()).ownerOf(U256::from(item)).call().await?)
    }

    pub async fn item_condition(&self, item: u64) -> anyhow::Result<u8> {
        Ok(self.d.item(self.p()).itemView(U256::from(item)).call().await?.condition)
    }
}

/// An item that carries no stats: for affiliation and votes alone.
pub fn token(item_type: u8, rarity: u8, trait_affiliation: u8, class_affinities: u16) -> Item {
    Item { item_type, rarity, condition: 1, boosts: [0; 12], class_affinities, trait_affiliation }
}

/// Base stats with the given category averages, exactly (sub-stats equal within a category).
pub fn stats_with_averages(c: u16, m: u16, s: u16, x: u16) -> Stats {
    [c, c, c, c, m, m, m, m, s, s, x, x]
}

/// Runs `f` on a thread with a 256 MiB stack: proptest's batches of nested strategies build deep
/// value trees, more than a test thread's 2 MiB.
pub fn on_a_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(256 << 20).spawn(f).unwrap().join().map_err(std::panic::resume_unwind).unwrap();
}
