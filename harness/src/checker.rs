//! Consistency checker (Jepsen's *checker*): compares the indexer's view with the contracts
//! themselves, read with view calls pinned to one block, and returns a [`Verdict`] a test asserts
//! on and a report can show.
//!
//! - [`full`]: every robot, item and balance (every player the indexer or the caller knows);
//! - [`sampled`]: a seeded random sample of them;
//! - [`events`]: the stored raw events against `eth_getLogs` — no gap, no duplicate, no orphan,
//!   read in pages of two sizes so that a page boundary or a `limit` that drops or repeats an event
//!   is seen.
//!
//! Each mode also compares the listings, not only the entities (issue 25): the players list with
//! every address the chain's `Transfer` logs ever gave or took something from ([`ChainHistory`]),
//! the IDs of robots and items, and each checked owner's items with the items the chain's logs
//! leave with that owner (an item listed twice, or one the owner no longer holds, is a difference).
//! Items equipped on a robot are a field of the robot (`equipped`) and of each item
//! (`equipped_on`), compared with the contracts' views. The API has no listing of an owner's
//! robots; each robot's owner is compared.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use futures::{StreamExt, TryStreamExt};
use mve_contracts::Deployment;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IteratorRandom;
use serde::Serialize;

use crate::indexer_api::{EventView, IndexerApi, ItemView, RobotView};
use crate::{Error, Result};

/// Differences kept in full in a verdict; the count covers all of them.
const KEPT: usize = 50;
const CONCURRENCY: usize = 16;

/// How long a difference waits for the chain to move past the block it was read at before the
/// chain is read again (only the first wait on a quiet chain costs this; see [`Reread`]).
const REREAD_WAIT: Duration = Duration::from_secs(2);

/// The oracle's own race, and how a difference is confirmed. anvil serves a read at its head block
/// from its live state, and while it mines the next block that state already holds the next
/// block's changes before the head number moves: a view call "at N", N the head, can answer with
/// N+1's state. So a difference is read again from the chain once N is history — the head at N+2
/// (N+1 was wholly mined before N+2 began) — or, on a quiet chain where nothing is being mined,
/// after one wait of [`REREAD_WAIT`]. Only a difference the second read confirms counts.
#[derive(Debug, Default)]
pub struct Reread {
    /// The chain stayed quiet through one full wait: later rereads need not wait again.
    quiet: std::sync::atomic::AtomicBool,
}

impl Reread {
    /// Returns once a chain read at `block` is served from stored history (or the chain is quiet).
    pub async fn settle(&self, p: &DynProvider, block: u64) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.quiet.load(Ordering::Relaxed) {
            return Ok(());
        }
        let moved = crate::wait::until("the chain two blocks past a differing read", REREAD_WAIT, || async {
            let head = p.get_block_number().await.map_err(|e| Error::Rpc(e.to_string()))?;
            Ok::<_, Error>((head >= block + 2).then_some(()))
        })
        .await;
        if moved.is_err() {
            self.quiet.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Compares `ours` with the chain's robot at `block`, confirming any difference (above).
    pub async fn robot(&self, p: &DynProvider, d: &Deployment, ours: &RobotView, block: u64) -> Result<Vec<Difference>> {
        self.confirmed(p, block, || chain_robot(p, d, ours.id, block), |chain, out| compare_robot(chain, ours, block, out)).await
    }

    pub async fn item(&self, p: &DynProvider, d: &Deployment, ours: &ItemView, block: u64) -> Result<Vec<Difference>> {
        self.confirmed(p, block, || chain_item(p, d, ours.id, block), |chain, out| compare_item(chain, ours, block, out)).await
    }

    /// The differences `compare` finds against `read()`, read a second time once `block` is settled.
    async fn confirmed<V, F: std::future::Future<Output = Result<V>>>(&self, p: &DynProvider, block: u64, read: impl Fn() -> F, compare: impl Fn(&V, &mut Vec<Difference>)) -> Result<Vec<Difference>> {
        let mut found = Vec::new();
        compare(&read().await?, &mut found);
        if !found.is_empty() {
            self.settle(p, block).await?;
            found.clear();
            compare(&read().await?, &mut found);
        }
        Ok(found)
    }

    pub async fn balance(&self, p: &DynProvider, d: &Deployment, owner: Address, ours: U256, block: u64) -> Result<Option<Difference>> {
        let read = || async { d.ntc(p).balanceOf(owner).block(BlockId::number(block)).call().await.map_err(|e| crate::error::rpc_at(format!("balance of {owner}"), block, e)) };
        let mut chain = read().await?;
        if chain != ours {
            self.settle(p, block).await?;
            chain = read().await?;
        }
        let severity = if chain > ours { chain - ours } else { ours - chain };
        Ok((chain != ours).then(|| diff(format!("balance {owner:#x}"), "ntc", chain, ours, block, severity)))
    }
}

/// Indexer answers a reader got during a run, each against the chain at the block it claimed; the
/// same answer at the same block is read once. Check them as the run goes (and drain what was
/// recorded): a chain node keeps only recent states (anvil: about 4,000 blocks), which a long run
/// outlives (the chaos schedule of 2026-12-08 ended at block 5,080 and its first answers could no
/// longer be read). The chain may be moving: differences are confirmed as [`Reread`] does.
pub async fn answers(p: &DynProvider, d: &Deployment, answers: Vec<crate::mve::load::IndexerAnswer>) -> Result<Vec<Difference>> {
    use crate::mve::load::IndexerAnswer;
    let mut robots: BTreeMap<(u64, u64), Vec<RobotView>> = BTreeMap::new();
    let mut balances: BTreeMap<(Address, u64), Vec<U256>> = BTreeMap::new();
    for a in answers {
        match a {
            IndexerAnswer::Robot { id, at, robot } => {
                let seen = robots.entry((id, at)).or_default();
                if !seen.contains(&robot) {
                    seen.push(robot);
                }
            }
            IndexerAnswer::Balance { owner, at, balance } => {
                let seen = balances.entry((owner, at)).or_default();
                if !seen.contains(&balance) {
                    seen.push(balance);
                }
            }
        }
    }
    let reread = Reread::default();
    let mut differences = Vec::new();
    for ((_, at), views) in robots {
        for robot in views {
            differences.extend(reread.robot(p, d, &robot, at).await?);
        }
    }
    for ((owner, at), values) in balances {
        for balance in values {
            differences.extend(reread.balance(p, d, owner, balance, at).await?);
        }
    }
    Ok(differences)
}

/// One field on which the indexer and the chain disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `robot 12`, `item 7`, `balance 0xabc…`, `event 120:3`.
    pub entity: String,
    pub field: String,
    pub chain: String,
    pub indexer: String,
    pub block: u64,
    /// How far apart the two are, for picking the worst: the gap for numbers, max for a missing
    /// or extra entity, 1 otherwise.
    #[serde(skip)]
    severity: U256,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub robots: usize,
    pub items: usize,
    pub balances: usize,
    pub events: usize,
    /// Lists compared as a whole: the players, the robot and item IDs, owners' items, event pages.
    pub listings: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub valid: bool,
    pub block: u64,
    pub checked: Checked,
    pub difference_count: usize,
    pub first: Option<Difference>,
    pub worst: Option<Difference>,
    /// The first differences, in entity order.
    pub differences: Vec<Difference>,
}

impl Verdict {
    fn from(block: u64, checked: Checked, all: Vec<Difference>) -> Verdict {
        let worst = all.iter().max_by_key(|d| d.severity).cloned();
        Verdict { valid: all.is_empty(), block, checked, difference_count: all.len(), first: all.first().cloned(), worst, differences: all.into_iter().take(KEPT).collect() }
    }

    /// Combines verdicts of one moment (e.g. state and events).
    pub fn and(mut self, other: Verdict) -> Verdict {
        self.valid &= other.valid;
        self.checked.robots += other.checked.robots;
        self.checked.items += other.checked.items;
        self.checked.balances += other.checked.balances;
        self.checked.events += other.checked.events;
        self.checked.listings += other.checked.listings;
        self.difference_count += other.difference_count;
        self.first = self.first.or(other.first);
        self.worst = match (self.worst, other.worst) {
            (Some(a), Some(b)) => Some(if b.severity > a.severity { b } else { a }),
            (a, b) => a.or(b),
        };
        self.differences.extend(other.differences);
        self.differences.truncate(KEPT);
        self
    }

    /// A short human report: counts, then the first and worst difference.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} at block {}: checked {} robots, {} items, {} balances, {} events, {} listings; {} differences",
            if self.valid { "consistent" } else { "INCONSISTENT" },
            self.block,
            self.checked.robots,
            self.checked.items,
            self.checked.balances,
            self.checked.events,
            self.checked.listings,
            self.difference_count
        );
        for (label, d) in [("first", &self.first), ("worst", &self.worst)] {
            if let Some(d) = d {
                s += &format!("\n  {label}: {} {}: chain {} vs indexer {} (block {})", d.entity, d.field, d.chain, d.indexer, d.block);
            }
        }
        s
    }
}

fn diff(entity: String, field: &str, chain: impl ToString, indexer: impl ToString, block: u64, severity: U256) -> Difference {
    Difference { entity, field: field.to_string(), chain: chain.to_string(), indexer: indexer.to_string(), block, severity }
}

fn gap(a: u128, b: u128) -> U256 {
    U256::from(a.abs_diff(b))
}

/// The chain's robot `id` at `block`, as the indexer should show it.
pub async fn chain_robot(p: &DynProvider, d: &Deployment, id: u64, block: u64) -> Result<RobotView> {
    let at = BlockId::number(block);
    let robot = d.robot(p);
    let rpc = |e: alloy::contract::Error| crate::error::rpc_at(format!("robot {id}"), block, e);
    let state = robot.robotState(U256::from(id)).block(at).call().await.map_err(rpc)?;
    let owner = robot.ownerOf(U256::from(id)).block(at).call().await.map_err(rpc)?;
    Ok(RobotView {
        id,
        owner,
        xp: state.xp,
        level: state.level,
        class: state.bunkerClass,
        affiliation: state.affiliation,
        base: state.base,
        final_stats: state.finalStats,
        equipped: state.equipped.map(|e| e.saturating_to::<u64>()),
    })
}

pub async fn chain_item(p: &DynProvider, d: &Deployment, id: u64, block: u64) -> Result<ItemView> {
    let at = BlockId::number(block);
    let item = d.item(p);
    let rpc = |e: alloy::contract::Error| crate::error::rpc_at(format!("item {id}"), block, e);
    let attrs = item.itemView(U256::from(id)).block(at).call().await.map_err(rpc)?;
    let owner = item.ownerOf(U256::from(id)).block(at).call().await.map_err(rpc)?;
    let on = item.equippedOn(U256::from(id)).block(at).call().await.map_err(rpc)?;
    Ok(ItemView {
        id,
        owner,
        item_type: attrs.itemType,
        rarity: attrs.rarity,
        condition: attrs.condition,
        boosts: attrs.boosts,
        class_affinities: attrs.classAffinities,
        trait_affiliation: attrs.traitAffiliation,
        equipped_on: on.saturating_to::<u64>(),
    })
}

pub fn compare_robot(chain: &RobotView, ours: &RobotView, block: u64, out: &mut Vec<Difference>) {
    let e = || format!("robot {}", chain.id);
    let one = U256::from(1);
    if chain.owner != ours.owner {
        out.push(diff(e(), "owner", chain.owner, ours.owner, block, one));
    }
    if chain.xp != ours.xp {
        out.push(diff(e(), "xp", chain.xp, ours.xp, block, gap(chain.xp.into(), ours.xp.into())));
    }
    for (field, a, b) in [("level", chain.level, ours.level), ("class", chain.class, ours.class), ("affiliation", chain.affiliation, ours.affiliation)] {
        if a != b {
            out.push(diff(e(), field, a, b, block, gap(a.into(), b.into())));
        }
    }
    for (field, a, b) in [("base", chain.base, ours.base), ("final_stats", chain.final_stats, ours.final_stats)] {
        if a != b {
            let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(y)).max().unwrap_or(0);
            out.push(diff(e(), field, format!("{a:?}"), format!("{b:?}"), block, U256::from(worst)));
        }
    }
    if chain.equipped != ours.equipped {
        out.push(diff(e(), "equipped", format!("{:?}", chain.equipped), format!("{:?}", ours.equipped), block, one));
    }
}

pub fn compare_item(chain: &ItemView, ours: &ItemView, block: u64, out: &mut Vec<Difference>) {
    let e = || format!("item {}", chain.id);
    let one = U256::from(1);
    if chain.owner != ours.owner {
        out.push(diff(e(), "owner", chain.owner, ours.owner, block, one));
    }
    for (field, a, b) in [
        ("item_type", chain.item_type, ours.item_type),
        ("rarity", chain.rarity, ours.rarity),
        ("condition", chain.condition, ours.condition),
        ("trait_affiliation", chain.trait_affiliation, ours.trait_affiliation),
    ] {
        if a != b {
            out.push(diff(e(), field, a, b, block, gap(a.into(), b.into())));
        }
    }
    if chain.boosts != ours.boosts {
        out.push(diff(e(), "boosts", format!("{:?}", chain.boosts), format!("{:?}", ours.boosts), block, one));
    }
    if chain.class_affinities != ours.class_affinities {
        out.push(diff(e(), "class_affinities", chain.class_affinities, ours.class_affinities, block, one));
    }
    if chain.equipped_on != ours.equipped_on {
        out.push(diff(e(), "equipped_on", chain.equipped_on, ours.equipped_on, block, one));
    }
}

/// What only the chain's logs tell, for the listings: every address a `Transfer` of the robot, item
/// or NTC contract ever named (minted to, sent to, sent from: the players), and each item's owners
/// block by block. Advanced from the last block it read, so a long run reads each log once, while
/// the node still holds it: anvil drops the logs of blocks beyond `--transaction-block-keeper`
/// without an error, so a caller on such a node advances it within that window (the soak does).
/// A caller that only asks about recent blocks bounds it with [`ChainHistory::forget_before`]: a
/// 48-hour soak would otherwise keep every item transfer of the run.
#[derive(Debug, Clone, Default)]
pub struct ChainHistory {
    scanned_to: Option<u64>,
    /// Blocks before this one can no longer be asked about ([`ChainHistory::forget_before`]).
    kept_from: u64,
    /// Each player and the first block a transfer named it in.
    players: BTreeMap<Address, u64>,
    /// Each item's owners, in chain order: (block, owner).
    item_owners: BTreeMap<u64, Vec<(u64, Address)>>,
}

impl ChainHistory {
    /// The history through `to`, read from genesis.
    pub async fn read(p: &DynProvider, d: &Deployment, to: u64) -> Result<ChainHistory> {
        let mut h = ChainHistory::default();
        h.advance(p, d, to).await?;
        Ok(h)
    }

    /// Reads the transfer logs of the blocks after the last one read, through `to`.
    pub async fn advance(&mut self, p: &DynProvider, d: &Deployment, to: u64) -> Result<()> {
        let mut start = self.scanned_to.map_or(0, |s| s + 1);
        // ERC-721's and ERC-20's Transfer share one signature; the token ID is the 721's 4th topic.
        let transfer = mve_contracts::BunkerItem::Transfer::SIGNATURE_HASH;
        while start <= to {
            let end = to.min(start + 9_999);
            let filter = Filter::new().address(vec![d.robot, d.item, d.ntc]).event_signature(transfer).from_block(start).to_block(end);
            let logs = p.get_logs(&filter).await.map_err(|e| Error::Rpc(format!("eth_getLogs {start}..={end}: {e}")))?;
            for log in &logs {
                let topics = log.topics();
                if topics.len() < 3 {
                    continue;
                }
                let block = log.block_number.unwrap_or_default();
                for party in [topics[1], topics[2]].map(Address::from_word) {
                    if !party.is_zero() {
                        self.players.entry(party).or_insert(block);
                    }
                }
                if log.address() == d.item && topics.len() == 4 {
                    let id = U256::from_be_bytes(topics[3].0).saturating_to::<u64>();
                    self.item_owners.entry(id).or_default().push((block, Address::from_word(topics[2])));
                }
            }
            start = end + 1;
        }
        self.scanned_to = Some(self.scanned_to.map_or(to, |s| s.max(to)));
        Ok(())
    }

    fn ensure_read(&self, block: u64) -> Result<()> {
        if block < self.kept_from {
            return Err(Error::Config(format!("the chain history before block {} was forgotten, block {block} was asked", self.kept_from)));
        }
        match self.scanned_to {
            Some(s) if s >= block => Ok(()),
            s => Err(Error::Config(format!("the chain history is read through {s:?}, not block {block}: advance it first"))),
        }
    }

    /// Keeps of each item's owners only what answers a question at `block` or later: its last
    /// owner at or before `block` and those after. Its size is then the items plus the transfers
    /// since `block`, not every transfer of the run; a later question about an earlier block fails.
    pub fn forget_before(&mut self, block: u64) {
        for owners in self.item_owners.values_mut() {
            let earlier = owners.iter().take_while(|(b, _)| *b <= block).count();
            if earlier > 1 {
                owners.drain(..earlier - 1);
            }
        }
        self.kept_from = self.kept_from.max(block);
    }

    /// The item transfers kept (what [`ChainHistory::forget_before`] bounds).
    pub fn transfers_kept(&self) -> usize {
        self.item_owners.values().map(Vec::len).sum()
    }

    /// The players as of `block`.
    pub fn players_at(&self, block: u64) -> Result<BTreeSet<Address>> {
        self.ensure_read(block)?;
        Ok(self.players.iter().filter(|&(_, &first)| first <= block).map(|(&a, _)| a).collect())
    }

    /// The items `owner` holds at `block`, in ID order.
    pub fn items_of_at(&self, owner: Address, block: u64) -> Result<Vec<u64>> {
        self.ensure_read(block)?;
        Ok(self.item_owners.iter().filter(|(_, owners)| owners.iter().take_while(|(b, _)| *b <= block).last().is_some_and(|(_, o)| *o == owner)).map(|(&id, _)| id).collect())
    }
}

/// The players list against the chain's: one missing (a mint-only recipient, say) or extra is a
/// difference.
fn compare_players(chain: &BTreeSet<Address>, ours: &[Address], block: u64, out: &mut Vec<Difference>) {
    let mut seen = BTreeSet::new();
    for a in ours {
        if !seen.insert(*a) {
            out.push(diff(format!("player {a:#x}"), "listed", 1, 2, block, U256::MAX));
        }
    }
    for a in chain.difference(&seen) {
        out.push(diff(format!("player {a:#x}"), "listed", true, false, block, U256::MAX));
    }
    for a in seen.difference(chain) {
        out.push(diff(format!("player {a:#x}"), "listed", false, true, block, U256::MAX));
    }
}

/// An owner's item listing against the items the chain leaves with them at `block`: each once, in
/// ID order, each naming that owner.
fn compare_items_of(owner: Address, chain: &[u64], ours: &[ItemView], block: u64, out: &mut Vec<Difference>) {
    let entity = || format!("items of {owner:#x}");
    let ids: Vec<u64> = ours.iter().map(|i| i.id).collect();
    if ids != chain {
        let listed: BTreeSet<u64> = ids.iter().copied().collect();
        let held: BTreeSet<u64> = chain.iter().copied().collect();
        let severity = U256::from(listed.symmetric_difference(&held).count().max(1));
        out.push(diff(entity(), "ids", format!("{chain:?}"), format!("{ids:?}"), block, severity));
    }
    for item in ours.iter().filter(|i| i.owner != owner) {
        out.push(diff(entity(), &format!("item {} owner", item.id), owner, item.owner, block, U256::from(1)));
    }
}

/// What to check: ids of robots and items, and addresses whose balance to compare.
#[derive(Debug, Clone, Default)]
struct Scope {
    robots: Vec<u64>,
    items: Vec<u64>,
    owners: Vec<Address>,
}

/// The chain's side of a check: its logs' history and the confirming reader.
struct Oracle<'a> {
    history: &'a ChainHistory,
    reread: &'a Reread,
}

/// Everything either side knows at `block`; entities one side lacks are differences themselves.
async fn full_scope(p: &DynProvider, d: &Deployment, api: &IndexerApi, block: u64, accounts: &[Address], oracle: &Oracle<'_>, out: &mut Vec<Difference>) -> Result<Scope> {
    let Oracle { history, reread } = *oracle;
    let at = BlockId::number(block);
    let counters = || async {
        let rpc = |e: alloy::contract::Error| crate::error::rpc_at("counters".to_string(), block, e);
        let next_robot = d.robot(p).nextRobotId().block(at).call().await.map_err(rpc)?.saturating_to::<u64>();
        let next_item = d.item(p).nextItemId().block(at).call().await.map_err(rpc)?.saturating_to::<u64>();
        Ok::<_, Error>(((1..next_robot).collect::<BTreeSet<u64>>(), (1..next_item).collect::<BTreeSet<u64>>()))
    };
    let our_robots: BTreeSet<u64> = api.robot_ids(block).await?.into_iter().collect();
    let our_items: BTreeSet<u64> = api.item_ids(block).await?.into_iter().collect();
    let (mut chain_robots, mut chain_items) = counters().await?;
    if chain_robots != our_robots || chain_items != our_items {
        reread.settle(p, block).await?;
        (chain_robots, chain_items) = counters().await?;
    }
    for (kind, chain, ours) in [("robot", &chain_robots, &our_robots), ("item", &chain_items, &our_items)] {
        for id in chain.difference(ours) {
            out.push(diff(format!("{kind} {id}"), "exists", true, false, block, U256::MAX));
        }
        for id in ours.difference(chain) {
            out.push(diff(format!("{kind} {id}"), "exists", false, true, block, U256::MAX));
        }
    }
    let listed = api.players(block).await?;
    let chain_players = history.players_at(block)?;
    compare_players(&chain_players, &listed, block, out);
    let mut owners: BTreeSet<Address> = accounts.iter().copied().collect();
    owners.extend(listed);
    owners.extend(chain_players);
    Ok(Scope { robots: chain_robots.into_iter().collect(), items: chain_items.into_iter().collect(), owners: owners.into_iter().collect() })
}

/// The players list and the robot and item ID lists.
const SCOPE_LISTINGS: usize = 3;

async fn check_scope(p: &DynProvider, d: &Deployment, api: &IndexerApi, block: u64, scope: Scope, oracle: &Oracle<'_>, mut out: Vec<Difference>) -> Result<Verdict> {
    let Oracle { history, reread } = *oracle;
    let robot_diffs: Vec<Vec<Difference>> = futures::stream::iter(scope.robots.iter().copied())
        .map(|id| async move {
            match api.robot(id, Some(block)).await? {
                Some((_, ours)) => reread.robot(p, d, &ours, block).await,
                None => Ok(vec![diff(format!("robot {id}"), "exists", true, false, block, U256::MAX)]),
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let item_diffs: Vec<Vec<Difference>> = futures::stream::iter(scope.items.iter().copied())
        .map(|id| async move {
            match api.item(id, Some(block)).await? {
                Some((_, ours)) => reread.item(p, d, &ours, block).await,
                None => Ok(vec![diff(format!("item {id}"), "exists", true, false, block, U256::MAX)]),
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let balance_diffs: Vec<Option<Difference>> = futures::stream::iter(scope.owners.iter().copied())
        .map(|owner| async move {
            let (_, ours) = api.balance(owner, Some(block)).await?;
            reread.balance(p, d, owner, ours, block).await
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let listing_diffs: Vec<Vec<Difference>> = futures::stream::iter(scope.owners.iter().copied())
        .map(|owner| async move {
            let (_, ours) = api.items_of(owner, Some(block)).await?;
            let mut found = Vec::new();
            compare_items_of(owner, &history.items_of_at(owner, block)?, &ours, block, &mut found);
            Ok::<_, Error>(found)
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    out.extend(robot_diffs.into_iter().flatten());
    out.extend(item_diffs.into_iter().flatten());
    out.extend(balance_diffs.into_iter().flatten());
    out.extend(listing_diffs.into_iter().flatten());
    let checked = Checked { robots: scope.robots.len(), items: scope.items.len(), balances: scope.owners.len(), events: 0, listings: SCOPE_LISTINGS + scope.owners.len() };
    Ok(Verdict::from(block, checked, out))
}

/// Every robot, item and balance at `block` (which the indexer must have reached). `accounts` adds
/// addresses to check beyond the players the indexer knows (so a player it missed is caught).
pub async fn full(p: &DynProvider, d: &Deployment, api: &IndexerApi, block: u64, accounts: &[Address]) -> Result<Verdict> {
    full_with_history(p, d, api, block, accounts, &mut ChainHistory::default()).await
}

/// [`full`] with a [`ChainHistory`] the caller keeps (advanced here through `block`): a long run
/// on a node that drops old logs reads each of them once, in time.
pub async fn full_with_history(p: &DynProvider, d: &Deployment, api: &IndexerApi, block: u64, accounts: &[Address], history: &mut ChainHistory) -> Result<Verdict> {
    history.advance(p, d, block).await?;
    let mut out = Vec::new();
    let reread = Reread::default();
    let oracle = Oracle { history, reread: &reread };
    let scope = full_scope(p, d, api, block, accounts, &oracle, &mut out).await?;
    check_scope(p, d, api, block, scope, &oracle, out).await
}

/// A seeded sample of `n` robots, `n` items and `n` balances (with those owners' item listings) at
/// `block`. Which entities exist is compared in full (the ID lists and the players list): an
/// entity one side lacks is reported whatever the sample.
pub async fn sampled(p: &DynProvider, d: &Deployment, api: &IndexerApi, block: u64, accounts: &[Address], n: usize, seed: u64) -> Result<Verdict> {
    let mut existence = Vec::new();
    let reread = Reread::default();
    let history = ChainHistory::read(p, d, block).await?;
    let oracle = Oracle { history: &history, reread: &reread };
    let scope = full_scope(p, d, api, block, accounts, &oracle, &mut existence).await?;
    let mut rng = StdRng::seed_from_u64(seed);
    let scope = Scope { robots: sample(scope.robots, n, &mut rng), items: sample(scope.items, n, &mut rng), owners: sample(scope.owners, n, &mut rng) };
    check_scope(p, d, api, block, scope, &oracle, existence).await
}

fn sample<T: Ord>(v: Vec<T>, n: usize, rng: &mut StdRng) -> Vec<T> {
    let mut s = v.into_iter().choose_multiple(rng, n);
    s.sort();
    s
}

/// The indexer's raw events in `from..=to` against the chain's logs of the three contracts: each
/// must be there once, at its (block, log index), with the same block hash, transaction, contract,
/// topics and data.
pub async fn events(p: &DynProvider, d: &Deployment, api: &IndexerApi, from: u64, to: u64) -> Result<Verdict> {
    let filter = Filter::new().address(vec![d.robot, d.item, d.ntc]).from_block(from).to_block(to);
    let logs = p.get_logs(&filter).await.map_err(|e| Error::Rpc(format!("eth_getLogs {from}..={to}: {e}")))?;
    let chain: BTreeMap<(u64, u64), _> = logs.iter().map(|l| ((l.block_number.unwrap_or_default(), l.log_index.unwrap_or_default()), l)).collect();
    let ours_list = api.events(from, to).await?;
    let mut out = Vec::new();
    let pages = compare_pagings(api, from, to, &ours_list, &mut out).await?;
    let mut ours: BTreeMap<(u64, u64), _> = BTreeMap::new();
    for e in &ours_list {
        if ours.insert((e.block_number, e.log_index), e).is_some() {
            out.push(diff(format!("event {}:{}", e.block_number, e.log_index), "count", 1, 2, e.block_number, U256::MAX));
        }
    }
    for (key, log) in &chain {
        let entity = format!("event {}:{}", key.0, key.1);
        let Some(e) = ours.get(key) else {
            out.push(diff(entity, "exists", true, false, key.0, U256::MAX));
            continue;
        };
        let one = U256::from(1);
        if Some(e.block_hash) != log.block_hash {
            out.push(diff(entity.clone(), "block_hash", format!("{:?}", log.block_hash), e.block_hash, key.0, one));
        }
        if Some(e.tx_hash) != log.transaction_hash {
            out.push(diff(entity.clone(), "tx_hash", format!("{:?}", log.transaction_hash), e.tx_hash, key.0, one));
        }
        if e.address != log.address() || e.topics.as_slice() != log.topics() {
            out.push(diff(entity.clone(), "address/topics", log.address(), e.address, key.0, one));
        }
        if e.data != log.data().data.to_string() {
            out.push(diff(entity, "data", log.data().data.clone(), &e.data, key.0, one));
        }
    }
    for key in ours.keys().filter(|k| !chain.contains_key(k)) {
        out.push(diff(format!("event {}:{}", key.0, key.1), "exists", false, true, key.0, U256::MAX));
    }
    out.sort_by_key(|d| d.block);
    Ok(Verdict::from(to, Checked { events: chain.len(), listings: 1 + pages, ..Default::default() }, out))
}

/// The same range read in other pages must give the same events in the same order: pages of a
/// span that puts their boundaries elsewhere (an inclusive `to` read as exclusive drops the
/// boundary blocks' events; an overlap doubles them), and the first page cut by `limit`, which
/// must be exactly the first `limit` events. Returns how many pages were read.
async fn compare_pagings(api: &IndexerApi, from: u64, to: u64, whole: &[EventView], out: &mut Vec<Difference>) -> Result<usize> {
    let key = |e: &EventView| (e.block_number, e.log_index);
    let whole_keys: Vec<(u64, u64)> = whole.iter().map(key).collect();
    let blocks = to - from + 1;
    // About seven pages whatever the range, never a span that divides the 10,000-block pages.
    let span = (blocks / 7).max(1) | 1;
    let mut paged = Vec::new();
    let mut pages = 0;
    let mut start = from;
    while start <= to {
        let end = to.min(start + span - 1);
        paged.extend(api.events_page(start, end, None).await?.iter().map(key));
        pages += 1;
        start = end + 1;
    }
    if paged != whole_keys {
        let severity = U256::from(whole_keys.len().abs_diff(paged.len()).max(1));
        out.push(diff(format!("events {from}..={to}"), &format!("in pages of {span} blocks"), format!("{} events", whole_keys.len()), format!("{} events", paged.len()), from, severity));
    }
    if blocks <= crate::indexer_api::EVENTS_PAGE_BLOCKS && whole_keys.len() >= 2 {
        let limit = whole_keys.len() as u64 / 2;
        let first: Vec<(u64, u64)> = api.events_page(from, to, Some(limit)).await?.iter().map(key).collect();
        pages += 1;
        if first != whole_keys[..limit as usize] {
            out.push(diff(format!("events {from}..={to}"), &format!("limit={limit}"), format!("the first {limit}"), format!("{} events, first {:?}", first.len(), first.first()), from, U256::from(1)));
        }
    }
    Ok(pages)
}

/// Like [`full`], but through the API's *latest* reads (the ones Redis caches): each answer is
/// compared with the chain at the block the answer says it is true at, and must be fresh: a read
/// made after the indexer reported block N may not answer as of an older block (a stale cache
/// entry is a wrong answer even if it was right once).
pub async fn latest(p: &DynProvider, d: &Deployment, api: &IndexerApi, accounts: &[Address]) -> Result<Verdict> {
    let status = api.status().await?;
    let block = status.current_block.ok_or_else(|| Error::Config("indexer has indexed nothing".into()))?;
    let mut out = Vec::new();
    let reread = Reread::default();
    let mut history = ChainHistory::read(p, d, block).await?;
    let scope = full_scope(p, d, api, block, accounts, &Oracle { history: &history, reread: &reread }, &mut out).await?;
    let fresh = |entity: String, at: u64, out: &mut Vec<Difference>| {
        if at < block {
            out.push(diff(entity, "freshness", format!("at least block {block}"), format!("as of block {at}"), block, U256::from(block - at)));
        }
    };
    for &id in &scope.robots {
        match api.robot(id, None).await? {
            Some((at, ours)) => {
                fresh(format!("robot {id}"), at, &mut out);
                out.extend(reread.robot(p, d, &ours, at).await?)
            }
            None => out.push(diff(format!("robot {id}"), "exists", true, false, block, U256::MAX)),
        }
    }
    for &id in &scope.items {
        match api.item(id, None).await? {
            Some((at, ours)) => {
                fresh(format!("item {id}"), at, &mut out);
                out.extend(reread.item(p, d, &ours, at).await?)
            }
            None => out.push(diff(format!("item {id}"), "exists", true, false, block, U256::MAX)),
        }
    }
    for &owner in &scope.owners {
        let (at, ours) = api.balance(owner, None).await?;
        fresh(format!("balance {owner:#x}"), at, &mut out);
        out.extend(reread.balance(p, d, owner, ours, at).await?);
        let (at, ours) = api.items_of(owner, None).await?;
        fresh(format!("items of {owner:#x}"), at, &mut out);
        history.advance(p, d, at).await?;
        compare_items_of(owner, &history.items_of_at(owner, at)?, &ours, at, &mut out);
    }
    let checked = Checked { robots: scope.robots.len(), items: scope.items.len(), balances: scope.owners.len(), events: 0, listings: SCOPE_LISTINGS + scope.owners.len() };
    Ok(Verdict::from(block, checked, out))
}

/// Rows the reference indexer's tables hold above its cursor, stored block hashes the chain no
/// longer has, and events whose block hash is not their stored block's: all must be zero after
/// any reorg or crash. Reads the reference build's schema directly (`tables`: each block-tagged
/// table and the column naming its block), so it applies to that build only; the API-level checks
/// apply to any build.
pub async fn orphans(pool: &sqlx::MySqlPool, p: &DynProvider) -> Result<Vec<String>> {
    use sqlx::Row;
    let cursor: Option<u64> = sqlx::query_scalar("SELECT block_number FROM index_cursor WHERE id = 1").fetch_optional(pool).await?;
    let cursor = cursor.unwrap_or(0);
    let mut found = Vec::new();
    // Every table that tags its rows with a block, found in the schema itself rather than taken
    // from the indexer's own list (review W4): a derived table its rollback forgets is checked too.
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(c.table_name AS CHAR), CAST(c.column_name AS CHAR) FROM information_schema.columns c JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' AND (c.column_name = 'block_number' OR (c.table_name = 'blocks' AND c.column_name = 'number')) \
         AND c.table_name <> 'index_cursor' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    if tables.is_empty() {
        found.push("no table of the indexer's schema tags its rows with a block: is this the indexer's database?".into());
    }
    for (table, column) in &tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{table}` WHERE `{column}` > ?")).bind(cursor).fetch_one(pool).await?;
        if n > 0 {
            found.push(format!("{n} rows of {table} above the cursor {cursor}"));
        }
    }
    for row in sqlx::query("SELECT number, hash FROM blocks ORDER BY number").fetch_all(pool).await? {
        let (number, hash): (u64, String) = (row.try_get(0)?, row.try_get(1)?);
        let chain = p.get_block_by_number(number.into()).await.map_err(|e| Error::Rpc(e.to_string()))?.map(|b| format!("{:#x}", b.header.hash));
        if chain.as_deref() != Some(hash.as_str()) {
            found.push(format!("block {number}: stored {hash}, chain {chain:?}"));
        }
    }
    let stray: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events e LEFT JOIN blocks b ON b.number = e.block_number WHERE b.hash IS NULL OR b.hash <> e.block_hash").fetch_one(pool).await?;
    if stray > 0 {
        found.push(format!("{stray} events whose block hash is not the stored block's"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item 1 moves between two owners every block; forgetting before block 50 keeps its owner
    /// then and after, answers as before at 50 and later, and refuses block 49.
    #[test]
    fn a_history_that_forgets_old_transfers_answers_the_same_about_recent_blocks_and_refuses_old_ones() {
        let (a, b) = (Address::repeat_byte(0xa), Address::repeat_byte(0xb));
        let mut h = ChainHistory { scanned_to: Some(100), ..ChainHistory::default() };
        h.players.extend([(a, 1), (b, 2)]);
        h.item_owners.insert(1, (1..=100).map(|block| (block, if block % 2 == 0 { b } else { a })).collect());
        h.item_owners.insert(2, vec![(3, a)]);
        let before: Vec<_> = (50..=100).map(|at| (h.items_of_at(a, at).unwrap(), h.items_of_at(b, at).unwrap())).collect();
        h.forget_before(50);
        assert_eq!(h.transfers_kept(), 51 + 1);
        let after: Vec<_> = (50..=100).map(|at| (h.items_of_at(a, at).unwrap(), h.items_of_at(b, at).unwrap())).collect();
        assert_eq!(before, after);
        assert!(h.items_of_at(a, 49).is_err());
        assert!(h.players_at(49).is_err());
        h.forget_before(10);
        assert!(h.items_of_at(a, 49).is_err(), "forgetting is never undone");
    }
}
