//! Workload generator (Jepsen's *generator*): mixed on-chain activity on the L3 contracts from
//! several accounts, deterministic from a seed.
//!
//! A model of what the chain holds picks operations that should succeed (mints, equips, unequips,
//! condition changes, XP, NFT and NTC transfers) and, at a chosen share, operations that must
//! revert. Failing ones are sent with a fixed gas limit, so they are mined as reverted
//! transactions (a real chain sees those) rather than refused at estimation. The model learns an
//! operation's effect only from its receipt, so it never drifts from the chain.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use mve_contracts::{BunkerItem, BunkerguardRobot, Deployment, NTCToken};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Gas for transactions sent without estimation (the failing ones): enough for any of ours.
const FIXED_GAS: u64 = 2_000_000;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Workload {
    pub seed: u64,
    /// Operations to send.
    pub ops: usize,
    /// Operations per second; `None` sends as fast as the chain takes them.
    pub rate: Option<f64>,
    /// Share of operations that must revert (0.0..=1.0).
    pub failing_share: f64,
}

impl Workload {
    pub fn new(seed: u64, ops: usize) -> Workload {
        Workload { seed, ops, rate: None, failing_share: 0.05 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Op {
    MintRobot {
        to: Address,
        base: [u16; 12],
    },
    MintItem {
        to: Address,
        item_type: u8,
        rarity: u8,
        condition: u8,
        boosts: [u16; 12],
        affinities: u16,
        affiliation: u8,
    },
    Equip {
        owner: Address,
        robot: u64,
        item: u64,
    },
    Unequip {
        owner: Address,
        robot: u64,
        slot: u8,
    },
    SetCondition {
        item: u64,
        condition: u8,
    },
    AwardXp {
        robot: u64,
        amount: u64,
    },
    TransferRobot {
        from: Address,
        to: Address,
        robot: u64,
    },
    TransferItem {
        from: Address,
        to: Address,
        item: u64,
    },
    MintNtc {
        to: Address,
        amount: U256,
    },
    TransferNtc {
        from: Address,
        to: Address,
        amount: U256,
    },
    /// Must revert: each names why.
    TransferEquippedItem {
        from: Address,
        to: Address,
        item: u64,
    },
    EquipSomeoneElsesRobot {
        caller: Address,
        robot: u64,
        item: u64,
    },
    OverspendNtc {
        from: Address,
        to: Address,
        amount: U256,
    },
    XpToMissingRobot {
        robot: u64,
    },
}

impl Op {
    pub fn kind(&self) -> &'static str {
        match self {
            Op::MintRobot { .. } => "mint_robot",
            Op::MintItem { .. } => "mint_item",
            Op::Equip { .. } => "equip",
            Op::Unequip { .. } => "unequip",
            Op::SetCondition { .. } => "set_condition",
            Op::AwardXp { .. } => "award_xp",
            Op::TransferRobot { .. } => "transfer_robot",
            Op::TransferItem { .. } => "transfer_item",
            Op::MintNtc { .. } => "mint_ntc",
            Op::TransferNtc { .. } => "transfer_ntc",
            Op::TransferEquippedItem { .. } => "fail_transfer_equipped_item",
            Op::EquipSomeoneElsesRobot { .. } => "fail_equip_foreign_robot",
            Op::OverspendNtc { .. } => "fail_overspend_ntc",
            Op::XpToMissingRobot { .. } => "fail_xp_missing_robot",
        }
    }

    pub fn must_fail(&self) -> bool {
        self.kind().starts_with("fail_")
    }
}

#[derive(Debug, Clone, Default)]
struct RobotModel {
    owner: Address,
    xp: u64,
    equipped: [u64; 4],
}

#[derive(Debug, Clone, Default)]
struct ItemModel {
    owner: Address,
    item_type: u8,
    equipped_on: u64,
}

/// What the generator believes the chain holds, learned from receipts only.
#[derive(Debug, Clone, Default)]
pub struct Model {
    robots: BTreeMap<u64, RobotModel>,
    items: BTreeMap<u64, ItemModel>,
    ntc: BTreeMap<Address, U256>,
}

impl Model {
    pub fn robots(&self) -> usize {
        self.robots.len()
    }
    pub fn items(&self) -> usize {
        self.items.len()
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::MintRobot { to, .. } => {
                let id = self.robots.len() as u64 + 1;
                self.robots.insert(id, RobotModel { owner: to, ..Default::default() });
            }
            Op::MintItem { to, item_type, .. } => {
                let id = self.items.len() as u64 + 1;
                self.items.insert(id, ItemModel { owner: to, item_type, equipped_on: 0 });
            }
            Op::Equip { robot, item, .. } => {
                let slot = usize::from(self.items[&item].item_type - 1);
                let previous = self.robots[&robot].equipped[slot];
                if previous != 0 {
                    self.items.get_mut(&previous).expect("equipped item exists").equipped_on = 0;
                }
                self.robots.get_mut(&robot).expect("robot exists").equipped[slot] = item;
                self.items.get_mut(&item).expect("item exists").equipped_on = robot;
            }
            Op::Unequip { robot, slot, .. } => {
                let r = self.robots.get_mut(&robot).expect("robot exists");
                let item = std::mem::take(&mut r.equipped[usize::from(slot - 1)]);
                self.items.get_mut(&item).expect("item exists").equipped_on = 0;
            }
            Op::AwardXp { robot, amount } => self.robots.get_mut(&robot).expect("robot exists").xp += amount,
            Op::TransferRobot { to, robot, .. } => self.robots.get_mut(&robot).expect("robot exists").owner = to,
            Op::TransferItem { to, item, .. } => self.items.get_mut(&item).expect("item exists").owner = to,
            Op::MintNtc { to, amount } => *self.ntc.entry(to).or_default() += amount,
            Op::TransferNtc { from, to, amount } => {
                *self.ntc.entry(from).or_default() -= amount;
                *self.ntc.entry(to).or_default() += amount;
            }
            Op::SetCondition { .. } | Op::TransferEquippedItem { .. } | Op::EquipSomeoneElsesRobot { .. } | Op::OverspendNtc { .. } | Op::XpToMissingRobot { .. } => {}
        }
    }
}

/// Counts of what a run sent and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub sent: usize,
    pub succeeded: usize,
    /// Reverted as intended.
    pub reverted: usize,
    /// Expected to succeed but reverted (the model skipped them; not an error of the generator).
    pub unexpected_reverts: usize,
    /// Expected to revert but succeeded: a bug in the contracts or the generator.
    pub unexpected_successes: usize,
    pub logs: usize,
    pub by_kind: BTreeMap<String, usize>,
    pub first_block: Option<u64>,
    pub last_block: Option<u64>,
    pub seconds: f64,
    /// Blocks mined by [`Generator::send_block`], and the most operations one of them held.
    pub blocks: usize,
    pub most_in_one_block: usize,
}

pub struct Generator {
    rng: StdRng,
    pub model: Model,
    admin: Address,
    players: Vec<Address>,
    failing_share: f64,
    entity_cap: Option<usize>,
}

impl Generator {
    /// `admin` holds the operator and minter roles; `players` are the accounts that act.
    pub fn new(seed: u64, admin: Address, players: Vec<Address>, failing_share: f64) -> Generator {
        assert!(players.len() >= 2, "the workload needs at least two players");
        Generator { rng: StdRng::seed_from_u64(seed), model: Model::default(), admin, players, failing_share, entity_cap: None }
    }

    /// No more mints once robots and items number `cap` together: transfers, equips and NTC
    /// moves go on, and the chain's state stops growing (a soak: the node keeps copies of its
    /// recent states, each as large as the state).
    pub fn with_entity_cap(mut self, cap: usize) -> Generator {
        self.entity_cap = Some(cap);
        self
    }

    fn player(&mut self) -> Address {
        self.players[self.rng.random_range(0..self.players.len())]
    }

    fn other_than(&mut self, a: Address) -> Address {
        loop {
            let b = self.player();
            if b != a {
                return b;
            }
        }
    }

    fn pick<T: Clone>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.rng.random_range(0..v.len())].clone())
    }

    /// The next operation, drawn from the model. Early on the model is empty, so mints dominate.
    pub fn next_op(&mut self) -> Op {
        if self.rng.random_bool(self.failing_share.clamp(0.0, 1.0))
            && let Some(op) = self.failing_op()
        {
            return op;
        }
        loop {
            if let Some(op) = self.succeeding_op() {
                return op;
            }
        }
    }

    fn succeeding_op(&mut self) -> Option<Op> {
        let capped = self.entity_cap.is_some_and(|cap| self.model.robots.len() + self.model.items.len() >= cap);
        let choice = if self.model.robots.len() < 3 || self.model.items.len() < 6 {
            self.rng.random_range(0..2)
        } else if capped {
            self.rng.random_range(2..10)
        } else {
            self.rng.random_range(0..10)
        };
        match choice {
            0 => {
                let to = self.player();
                let base = std::array::from_fn(|_| self.rng.random_range(10..200));
                Some(Op::MintRobot { to, base })
            }
            1 => {
                let to = self.player();
                // Mostly equippable types (1..=4), sometimes the others.
                let item_type = if self.rng.random_bool(0.85) { self.rng.random_range(1..=4) } else { self.rng.random_range(5..=9) };
                Some(Op::MintItem {
                    to,
                    item_type,
                    rarity: self.rng.random_range(1..=6),
                    condition: self.rng.random_range(1..=4),
                    boosts: std::array::from_fn(|_| self.rng.random_range(0..40)),
                    affinities: self.rng.random_range(0..4096),
                    affiliation: self.rng.random_range(1..=3),
                })
            }
            2 | 3 => {
                // Equip: an owner's free equippable item onto one of their robots.
                let free: Vec<(u64, Address)> = self.model.items.iter().filter(|(_, i)| i.equipped_on == 0 && (1..=4).contains(&i.item_type)).map(|(id, i)| (*id, i.owner)).collect();
                let (item, owner) = self.pick(&free)?;
                let robots: Vec<u64> = self.model.robots.iter().filter(|(_, r)| r.owner == owner).map(|(id, _)| *id).collect();
                let robot = self.pick(&robots)?;
                Some(Op::Equip { owner, robot, item })
            }
            4 => {
                let filled: Vec<(u64, Address, u8)> = self.model.robots.iter().flat_map(|(id, r)| (0..4).filter(|s| r.equipped[*s] != 0).map(move |s| (*id, r.owner, s as u8 + 1))).collect();
                let (robot, owner, slot) = self.pick(&filled)?;
                Some(Op::Unequip { owner, robot, slot })
            }
            5 => {
                let items: Vec<u64> = self.model.items.keys().copied().collect();
                let item = self.pick(&items)?;
                Some(Op::SetCondition { item, condition: self.rng.random_range(1..=4) })
            }
            6 => {
                let robots: Vec<u64> = self.model.robots.keys().copied().collect();
                let robot = self.pick(&robots)?;
                Some(Op::AwardXp { robot, amount: self.rng.random_range(1..=2_000) })
            }
            7 => {
                let bare: Vec<(u64, Address)> = self.model.robots.iter().filter(|(_, r)| r.equipped == [0; 4]).map(|(id, r)| (*id, r.owner)).collect();
                let (robot, from) = self.pick(&bare)?;
                let to = self.other_than(from);
                Some(Op::TransferRobot { from, to, robot })
            }
            8 => {
                let free: Vec<(u64, Address)> = self.model.items.iter().filter(|(_, i)| i.equipped_on == 0).map(|(id, i)| (*id, i.owner)).collect();
                let (item, from) = self.pick(&free)?;
                let to = self.other_than(from);
                Some(Op::TransferItem { from, to, item })
            }
            _ => {
                let holders: Vec<(Address, U256)> = self.model.ntc.iter().filter(|(_, b)| !b.is_zero()).map(|(a, b)| (*a, *b)).collect();
                if holders.is_empty() || self.rng.random_bool(0.3) {
                    let to = self.player();
                    let amount = U256::from(self.rng.random_range(1..1_000_000u64)) * U256::from(10u64).pow(U256::from(15));
                    return Some(Op::MintNtc { to, amount });
                }
                let (from, balance) = self.pick(&holders)?;
                let to = self.other_than(from);
                let amount = balance * U256::from(self.rng.random_range(1..=100u64)) / U256::from(100u64);
                Some(Op::TransferNtc { from, to, amount })
            }
        }
    }

    fn failing_op(&mut self) -> Option<Op> {
        match self.rng.random_range(0..4) {
            0 => {
                let equipped: Vec<(u64, Address)> = self.model.items.iter().filter(|(_, i)| i.equipped_on != 0).map(|(id, i)| (*id, i.owner)).collect();
                let (item, from) = self.pick(&equipped)?;
                let to = self.other_than(from);
                Some(Op::TransferEquippedItem { from, to, item })
            }
            1 => {
                let robots: Vec<(u64, Address)> = self.model.robots.iter().map(|(id, r)| (*id, r.owner)).collect();
                let (robot, owner) = self.pick(&robots)?;
                let caller = self.other_than(owner);
                let items: Vec<u64> = self.model.items.iter().filter(|(_, i)| i.owner == caller).map(|(id, _)| *id).collect();
                let item = self.pick(&items).unwrap_or(1);
                Some(Op::EquipSomeoneElsesRobot { caller, robot, item })
            }
            2 => {
                let from = self.player();
                let balance = self.model.ntc.get(&from).copied().unwrap_or_default();
                let to = self.other_than(from);
                Some(Op::OverspendNtc { from, to, amount: balance + U256::from(1u64) })
            }
            _ => Some(Op::XpToMissingRobot { robot: self.model.robots.len() as u64 + 1_000 }),
        }
    }

    /// The transaction that carries `op`.
    pub fn transaction(&self, d: &Deployment, op: &Op) -> TransactionRequest {
        let call = |to: Address, from: Address, data: Vec<u8>| TransactionRequest::default().with_to(to).with_from(from).with_input(data);
        let id = |v: u64| U256::from(v);
        let tx = match op.clone() {
            Op::MintRobot { to, base } => call(d.robot, self.admin, BunkerguardRobot::mintCall { to, base }.abi_encode()),
            Op::MintItem { to, item_type, rarity, condition, boosts, affinities, affiliation } => {
                let attrs = BunkerItem::ItemView { itemType: item_type, rarity, condition, boosts, classAffinities: affinities, traitAffiliation: affiliation };
                call(d.item, self.admin, BunkerItem::mintCall { to, attrs }.abi_encode())
            }
            Op::Equip { owner, robot, item } => call(d.robot, owner, BunkerguardRobot::equipCall { robotId: id(robot), itemId: id(item) }.abi_encode()),
            Op::Unequip { owner, robot, slot } => call(d.robot, owner, BunkerguardRobot::unequipCall { robotId: id(robot), slot }.abi_encode()),
            Op::SetCondition { item, condition } => call(d.item, self.admin, BunkerItem::setConditionCall { itemId: id(item), condition }.abi_encode()),
            Op::AwardXp { robot, amount } => call(d.robot, self.admin, BunkerguardRobot::awardXpCall { robotId: id(robot), amount }.abi_encode()),
            Op::XpToMissingRobot { robot } => call(d.robot, self.admin, BunkerguardRobot::awardXpCall { robotId: id(robot), amount: 1 }.abi_encode()),
            Op::TransferRobot { from, to, robot } => call(d.robot, from, BunkerguardRobot::transferFromCall { from, to, tokenId: id(robot) }.abi_encode()),
            Op::TransferItem { from, to, item } | Op::TransferEquippedItem { from, to, item } => call(d.item, from, BunkerItem::transferFromCall { from, to, tokenId: id(item) }.abi_encode()),
            Op::EquipSomeoneElsesRobot { caller, robot, item } => call(d.robot, caller, BunkerguardRobot::equipCall { robotId: id(robot), itemId: id(item) }.abi_encode()),
            Op::MintNtc { to, amount } => call(d.ntc, self.admin, NTCToken::mintCall { to, amount }.abi_encode()),
            Op::TransferNtc { from, to, amount } | Op::OverspendNtc { from, to, amount } => call(d.ntc, from, NTCToken::transferCall { to, value: amount }.abi_encode()),
        };
        if op.must_fail() { tx.with_gas_limit(FIXED_GAS) } else { tx }
    }

    /// Sends `workload.ops` operations one after another (paced to `workload.rate` if set) and
    /// learns each one's effect from its receipt.
    pub async fn run(&mut self, provider: &DynProvider, d: &Deployment, workload: &Workload) -> crate::Result<Report> {
        let started = Instant::now();
        let mut report = Report::default();
        for i in 0..workload.ops {
            if let Some(rate) = workload.rate {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
            }
            let op = self.next_op();
            self.send(provider, d, &op, &mut report).await?;
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Sends one operation and records how it ended.
    ///
    /// Straight to the node's `eth_sendTransaction` (anvil's accounts are unlocked; it fills nonce,
    /// fees and gas itself), then one receipt lookup: anvil mines before it answers, so no polling
    /// interval slows a run of thousands of operations.
    pub async fn send(&mut self, provider: &DynProvider, d: &Deployment, op: &Op, report: &mut Report) -> crate::Result<bool> {
        let rpc = |e: String| crate::Error::Rpc(e);
        let tx = self.transaction(d, op);
        let sent: Result<B256, _> = provider.client().request("eth_sendTransaction", (tx,)).await;
        let hash = match sent {
            Ok(hash) => hash,
            // Refused at the node's gas estimation: it reverts on the current state, never mined.
            Err(e) if !op.must_fail() && e.to_string().contains("revert") => {
                report.sent += 1;
                report.unexpected_reverts += 1;
                return Ok(false);
            }
            Err(e) => return Err(rpc(format!("{}: {e}", op.kind()))),
        };
        let receipt = crate::wait::until("a receipt", Duration::from_secs(30), || async { provider.get_transaction_receipt(hash).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| rpc(format!("{}: {e}", op.kind())))?;
        Ok(self.learn(op, &receipt, report))
    }

    /// Counts how `op` ended and, if it succeeded, applies it to the model.
    fn learn(&mut self, op: &Op, receipt: &alloy::rpc::types::TransactionReceipt, report: &mut Report) -> bool {
        report.sent += 1;
        *report.by_kind.entry(op.kind().to_string()).or_default() += 1;
        let block = receipt.block_number;
        report.first_block = report.first_block.or(block);
        report.last_block = block.or(report.last_block);
        let ok = receipt.status();
        match (ok, op.must_fail()) {
            (true, false) => report.succeeded += 1,
            (false, true) => report.reverted += 1,
            (false, false) => report.unexpected_reverts += 1,
            (true, true) => report.unexpected_successes += 1,
        }
        if ok {
            report.logs += receipt.inner.logs().len();
            self.model.apply(op);
        }
        ok
    }

    /// Like [`Generator::run`], but as a busy L3 sees it: `per_block` operations in each block.
    /// Automine is off for the run; each block's operations are drawn so that later ones may build
    /// on earlier ones of the same block (a mint, then an equip of what it minted, then a transfer)
    /// and are mined together by [`Generator::send_block`]. Automine is on again afterwards, also
    /// when the run fails.
    pub async fn run_blocks(&mut self, provider: &DynProvider, d: &Deployment, workload: &Workload, per_block: usize) -> crate::Result<Report> {
        assert!(per_block >= 1, "a block holds at least one operation");
        let started = Instant::now();
        let mut report = Report::default();
        let mut result = Ok(());
        let mut left = workload.ops;
        while left > 0 && result.is_ok() {
            let n = per_block.min(left);
            let learned = self.model.clone();
            let ops: Vec<Op> = (0..n)
                .map(|_| {
                    let op = self.next_op();
                    if !op.must_fail() {
                        self.model.apply(&op); // what the block's later operations may assume
                    }
                    op
                })
                .collect();
            self.model = learned; // the receipts decide what really happened
            result = self.send_block(provider, d, &ops, &mut report).await.map(drop);
            left -= n;
        }
        report.seconds = started.elapsed().as_secs_f64();
        result.map(|()| report)
    }

    /// Mines `ops` in one block, in this order, and learns each one's effect from its receipt.
    ///
    /// Automine goes off; the transactions are sent at once from their accounts, with explicit
    /// nonces (the node's pending count, then counted here), a fixed gas limit (no estimation: a
    /// later operation may depend on an earlier one of the same block) and strictly falling
    /// priority fees, so the node's fee ordering keeps them in the order given; one `evm_mine`
    /// mines them all; automine comes back on (also on failure). Returns each operation's success.
    pub async fn send_block(&mut self, provider: &DynProvider, d: &Deployment, ops: &[Op], report: &mut Report) -> crate::Result<Vec<bool>> {
        let rpc = |what: &str, e: &dyn std::fmt::Display| crate::Error::Rpc(format!("{what}: {e}"));
        let automine = |on: bool| async move { provider.client().request::<_, ()>("evm_setAutomine", (on,)).await.map_err(|e| rpc("evm_setAutomine", &e)) };
        automine(false).await?;
        let mined = self.mine_together(provider, d, ops, report).await;
        let restored = automine(true).await;
        let oks = mined?;
        restored?;
        Ok(oks)
    }

    async fn mine_together(&mut self, provider: &DynProvider, d: &Deployment, ops: &[Op], report: &mut Report) -> crate::Result<Vec<bool>> {
        let rpc = |what: &str, e: &dyn std::fmt::Display| crate::Error::Rpc(format!("{what}: {e}"));
        let limit = FIXED_GAS * (ops.len() as u64 + 1);
        provider.client().request::<_, bool>("evm_setBlockGasLimit", (U256::from(limit),)).await.map_err(|e| rpc("evm_setBlockGasLimit", &e))?;
        // The latest base fee, not eth_gasPrice: that one follows the tips paid, and these tips
        // (ordering the block) would make it, and the next block's fees, grow without bound.
        let latest = provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest).await.map_err(|e| rpc("eth_getBlockByNumber", &e))?;
        let base = u128::from(latest.and_then(|b| b.header.base_fee_per_gas).unwrap_or(1_000_000_000));
        let mut nonces: BTreeMap<Address, u64> = BTreeMap::new();
        let mut txs = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let tx = self.transaction(d, op);
            let from = tx.from.expect("every operation names its sender");
            let nonce = match nonces.get(&from) {
                Some(n) => *n,
                None => provider.get_transaction_count(from).pending().await.map_err(|e| rpc("eth_getTransactionCount", &e))?,
            };
            nonces.insert(from, nonce + 1);
            // 1 gwei of priority less for each later operation: the block keeps the order given.
            let tip = u128::from((ops.len() - i) as u64) * 1_000_000_000;
            txs.push(tx.with_nonce(nonce).with_gas_limit(FIXED_GAS).with_gas_price(base * 2 + tip));
        }
        let sent = futures::future::join_all(txs.into_iter().map(|tx| async move { provider.client().request::<_, B256>("eth_sendTransaction", (tx,)).await })).await;
        let hashes = sent.into_iter().zip(ops).map(|(h, op)| h.map_err(|e| rpc(op.kind(), &e))).collect::<crate::Result<Vec<B256>>>()?;
        provider.client().request::<_, String>("evm_mine", ()).await.map_err(|e| rpc("evm_mine", &e))?;
        let mut oks = Vec::with_capacity(ops.len());
        let mut block = None;
        for (op, hash) in ops.iter().zip(hashes) {
            let receipt =
                provider.get_transaction_receipt(hash).await.map_err(|e| rpc(op.kind(), &e))?.ok_or_else(|| crate::Error::Rpc(format!("{}: not mined by evm_mine (block gas limit?)", op.kind())))?;
            if block.is_some_and(|b| Some(b) != receipt.block_number) {
                return Err(crate::Error::Rpc(format!("{}: mined in block {:?}, not with the others in {block:?}", op.kind(), receipt.block_number)));
            }
            block = receipt.block_number;
            oks.push(self.learn(op, &receipt, report));
        }
        report.blocks += 1;
        report.most_in_one_block = report.most_in_one_block.max(ops.len());
        Ok(oks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a cap, the draws stop minting robots and items once the model holds that many, and go
    /// on with everything else; without one they mint on.
    #[test]
    fn an_entity_cap_stops_the_mints_and_nothing_else() {
        let players = vec![Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3)];
        let draw = |cap: Option<usize>| {
            let mut g = Generator::new(7, Address::repeat_byte(9), players.clone(), 0.05);
            if let Some(cap) = cap {
                g = g.with_entity_cap(cap);
            }
            let mut kinds = BTreeMap::<String, usize>::new();
            for _ in 0..2_000 {
                let op = g.next_op();
                if !op.must_fail() {
                    g.model.apply(&op);
                }
                *kinds.entry(op.kind().to_string()).or_default() += 1;
            }
            (g.model.robots.len() + g.model.items.len(), kinds)
        };
        let (capped, kinds) = draw(Some(40));
        assert_eq!(capped, 40, "{kinds:?}");
        assert!(kinds.len() >= 5, "the other operations go on: {kinds:?}");
        let (uncapped, _) = draw(None);
        assert!(uncapped > 200, "without a cap the mints go on: {uncapped}");
    }
}
