//! The indexing loop: follow the chain batch by batch, detect reorgs by parent hash, roll back to
//! the common ancestor and re-apply; back off and report when a dependency is unreachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use sqlx::mysql::MySqlPool;

use crate::cache::Cache;
use crate::chain::Chain;
use crate::config::Config;
use crate::model::{self, Change, Contracts, Needs, Position};
use crate::store::{self, BlockRef, Cursor, EventRow};
use crate::telemetry::Telemetry;

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Whether block `child` follows the block whose hash is `parent`. The only place where chain
/// continuity is decided, for the reorg check and for every batch.
fn follows(child_parent_hash: B256, parent_hash: B256) -> bool {
    child_parent_hash == parent_hash
}

#[derive(Debug, PartialEq, Eq)]
enum Round {
    /// Applied blocks up to this number; go again at once.
    Applied(u64),
    /// Nothing new; wait a poll interval.
    Idle,
    /// Rolled back to this ancestor (None: to before the start block).
    RolledBack(Option<u64>),
    /// The chain changed while we read it; retry at once.
    Moved,
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("chain: {0:#}")]
    Chain(anyhow::Error),
    #[error("database: {0:#}")]
    Database(anyhow::Error),
}

impl RoundError {
    fn component(&self) -> &'static str {
        match self {
            RoundError::Chain(_) => "chain",
            RoundError::Database(_) => "database",
        }
    }
}

pub struct Indexer {
    pub config: Config,
    pub pool: MySqlPool,
    pub chain: Chain,
    pub cache: Arc<Cache>,
    pub telemetry: Arc<Telemetry>,
    contracts: Contracts,
    /// Blocks the next batch may span: halved when a batch's commit fails (it may only have been
    /// slower than `database_timeout`, and a deadline must not turn a big batch into one retried
    /// for ever), doubled back towards `max_batch_blocks` by each commit that succeeds.
    batch_blocks: AtomicU64,
}

impl Indexer {
    pub fn new(config: Config, pool: MySqlPool, cache: Arc<Cache>, telemetry: Arc<Telemetry>) -> anyhow::Result<Indexer> {
        let chain = Chain::new(&config.rpc_url, vec![config.robot, config.item, config.ntc])?;
        let contracts = Contracts { robot: config.robot, item: config.item, ntc: config.ntc };
        let batch_blocks = AtomicU64::new(config.max_batch_blocks);
        Ok(Indexer { config, pool, chain, cache, telemetry, contracts, batch_blocks })
    }

    /// Runs forever; every failure is reported in status and retried with backoff.
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            match self.round().await {
                Ok(round) => {
                    backoff = Duration::from_millis(100);
                    self.telemetry.update(|s| {
                        s.last_error = None;
                        s.retry_in_ms = None;
                        s.chain_reachable = true;
                        s.database_reachable = true;
                    });
                    match round {
                        Round::Applied(_) => self.telemetry.batch_seconds.observe(started.elapsed().as_secs_f64()),
                        Round::Idle => tokio::time::sleep(self.config.poll_interval).await,
                        Round::RolledBack(_) | Round::Moved => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "indexing round failed");
                    self.telemetry.errors.with_label_values(&[e.component()]).inc();
                    let component = e.component();
                    let message = e.to_string();
                    self.telemetry.update(|s| {
                        s.last_error = Some(message);
                        s.retry_in_ms = Some(backoff.as_millis() as u64);
                        match component {
                            "chain" => s.chain_reachable = false,
                            _ => s.database_reachable = false,
                        }
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn round(&self) -> Result<Round, RoundError> {
        let db = |e: anyhow::Error| RoundError::Database(e);
        let rpc = |e: anyhow::Error| RoundError::Chain(e);
        let limit = self.config.database_timeout;
        let cursor = store::within(limit, async {
            let mut conn = self.pool.acquire().await?;
            store::cursor(&mut conn).await
        })
        .await
        .map_err(db)?;
        let head = self.chain.head().await.map_err(rpc)?;
        self.telemetry.update(|s| {
            s.chain_head = Some(head);
            s.current_block = cursor.map(|c| c.number);
            s.current_hash = cursor.map(|c| format!("{:#x}", c.hash));
        });
        let target = head.saturating_sub(self.config.confirmations);

        if let Some(c) = cursor {
            // Does the chain still contain our cursor block? Ask its child (or itself at the tip).
            let intact = if target > c.number {
                let child = self.chain.header(c.number + 1).await.map_err(rpc)?;
                child.is_some_and(|h| follows(h.parent_hash, c.hash))
            } else {
                let own = self.chain.header(c.number).await.map_err(rpc)?;
                own.is_some_and(|h| follows(h.hash, c.hash))
            };
            if !intact {
                return self.roll_back(c).await;
            }
        }

        let from = cursor.map_or(self.config.start_block, |c| c.number + 1);
        if from > target {
            return Ok(Round::Idle);
        }
        let batch = self.batch_blocks.load(Ordering::Relaxed);
        let to = target.min(from + batch - 1);
        let headers = self.chain.headers(from, to).await.map_err(rpc)?;
        let mut previous = cursor.map(|c| c.hash);
        for h in &headers {
            if previous.is_some_and(|p| !follows(h.parent_hash, p)) {
                return Ok(Round::Moved);
            }
            previous = Some(h.hash);
        }
        let logs = self.chain.logs(from, to).await.map_err(rpc)?;

        let mut events = Vec::with_capacity(logs.len());
        let mut changes = Vec::with_capacity(logs.len());
        let mut needs = Needs::default();
        for log in &logs {
            let (Some(number), Some(index), Some(block_hash)) = (log.block_number, log.log_index, log.block_hash) else {
                return Ok(Round::Moved); // a pending log: the node is mid-block
            };
            let header = &headers[(number - from) as usize];
            if !follows(block_hash, header.hash) {
                return Ok(Round::Moved);
            }
            let (kind, change) = model::decode(&self.contracts, &log.inner);
            change.needs(&mut needs);
            events.push(EventRow {
                block_number: number,
                log_index: index,
                block_hash,
                tx_hash: log.transaction_hash.unwrap_or_default(),
                address: log.address(),
                kind: kind.to_string(),
                topics: log.topics().to_vec(),
                data: format!("{}", log.data().data),
            });
            changes.push((Position { block_number: number, log_index: index }, change));
        }

        mve_failpoints::crash_point!("indexer::sync::batch_read");
        let last = headers.last().expect("from <= to gives at least one header");
        let new_cursor = Cursor { number: last.number, hash: last.hash };
        let count = events.len() as u64;
        if let Err(e) = store::within(limit, self.commit(new_cursor, &headers, &events, &changes, &needs)).await {
            self.batch_blocks.store((batch / 2).max(1), Ordering::Relaxed);
            return Err(db(e.context(format!("a batch of {} blocks", headers.len()))));
        }
        self.batch_blocks.store((batch * 2).min(self.config.max_batch_blocks), Ordering::Relaxed);
        self.cache.invalidate().await;
        self.telemetry.indexed(count);
        self.telemetry.update(|s| {
            s.current_block = Some(new_cursor.number);
            s.current_hash = Some(format!("{:#x}", new_cursor.hash));
        });
        Ok(Round::Applied(new_cursor.number))
    }

    async fn commit(&self, cursor: Cursor, headers: &[BlockRef], events: &[EventRow], changes: &[(Position, Change)], needs: &Needs) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let (mut state, known) = store::load(&mut tx, needs).await?;
        for (at, change) in changes {
            state.apply(*at, change, &|a| known.contains(a))?;
        }
        store::write_batch(&mut tx, cursor, headers, events, &state).await?;
        mve_failpoints::crash_point!("indexer::sync::batch_before_commit");
        tx.commit().await?;
        // Committed; the caller has not bumped the cache generation yet.
        mve_failpoints::crash_point!("indexer::sync::batch_after_commit");
        Ok(())
    }

    /// Walks back from the cursor to the newest block whose stored hash the chain still has, and
    /// deletes everything above it.
    async fn roll_back(&self, cursor: Cursor) -> Result<Round, RoundError> {
        let db = |e: anyhow::Error| RoundError::Database(e);
        let rpc = |e: anyhow::Error| RoundError::Chain(e);
        let limit = self.config.database_timeout;
        let mut conn = store::within(limit, async { Ok(self.pool.acquire().await?) }).await.map_err(db)?;
        let mut ancestor = None;
        let mut n = cursor.number;
        while n >= self.config.start_block {
            let ours = store::within(limit, store::stored_hash(&mut conn, n)).await.map_err(db)?;
            let theirs = self.chain.header(n).await.map_err(rpc)?;
            if let (Some(ours), Some(theirs)) = (ours, theirs)
                && follows(theirs.hash, ours)
            {
                ancestor = Some(Cursor { number: n, hash: ours });
                break;
            }
            if n == 0 {
                break;
            }
            n -= 1;
        }
        drop(conn);
        let removed = store::within(limit, store::rollback(&self.pool, ancestor)).await.map_err(db)?;
        self.cache.invalidate().await;
        let depth = cursor.number - ancestor.map_or(self.config.start_block.saturating_sub(1), |a| a.number);
        tracing::info!(from = cursor.number, to = ?ancestor.map(|a| a.number), removed, "reorg rolled back");
        self.telemetry.reorgs.inc();
        self.telemetry.update(|s| {
            s.reorgs += 1;
            s.deepest_reorg = s.deepest_reorg.max(depth);
            s.current_block = ancestor.map(|a| a.number);
            s.current_hash = ancestor.map(|a| format!("{:#x}", a.hash));
            s.events_indexed = s.events_indexed.saturating_sub(removed);
        });
        Ok(Round::RolledBack(ancestor.map(|a| a.number)))
    }
}
