//! MySQL: the schema (migrations in `migrations/`), the batch write and the reads the API serves.
//!
//! A batch is one transaction: the cursor, the block hashes, the raw events and every entity
//! version they produce commit together or not at all, so a crash can never leave a gap or a
//! duplicate. Rows carry their (block, log index); a reorg deletes what lies above the ancestor.

use std::collections::HashSet;

use alloy::primitives::{Address, B256, U256};
use serde::Serialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{MySqlConnection, QueryBuilder, Row};

use crate::model::{Item, Needs, Robot, State};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Rows per multi-row INSERT: well below MySQL's 65,535 placeholders for the widest table.
const INSERT_CHUNK: usize = 1000;

pub async fn connect(url: &str) -> anyhow::Result<MySqlPool> {
    let options: MySqlConnectOptions = url.parse()?;
    Ok(MySqlPoolOptions::new().max_connections(16).acquire_timeout(std::time::Duration::from_secs(3)).connect_with(options).await?)
}

/// `work` or an error once `limit` has passed. sqlx bounds acquiring a connection, not a statement:
/// one whose link was cut mid-query would wait out TCP's retries (~15 min). Dropping `work` hands its
/// connection back to sqlx, whose release ping then waits on it in a task of its own: that
/// connection is lost to the pool, the caller is not.
pub async fn within<T>(limit: std::time::Duration, work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| Err(anyhow::anyhow!("no answer within {} ms", limit.as_millis())))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cursor {
    pub number: u64,
    pub hash: B256,
}

/// A block header as the indexer keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent_hash: B256,
}

/// A raw log as stored: the source of truth for replays and the `/events` API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRow {
    pub block_number: u64,
    pub log_index: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub address: Address,
    pub kind: String,
    pub topics: Vec<B256>,
    pub data: String,
}

fn hex(h: &B256) -> String {
    format!("{h:#x}")
}
fn addr(a: &Address) -> String {
    format!("{a:#x}")
}
fn parse<T: std::str::FromStr>(s: &str, what: &str) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| anyhow::anyhow!("stored {what} {s:?} does not parse: {e}"))
}

pub async fn cursor(conn: &mut MySqlConnection) -> anyhow::Result<Option<Cursor>> {
    let row = sqlx::query("SELECT block_number, block_hash FROM index_cursor WHERE id = 1").fetch_optional(conn).await?;
    row.map(|r| Ok(Cursor { number: r.try_get(0)?, hash: parse(&r.try_get::<String, _>(1)?, "hash")? })).transpose()
}

pub async fn stored_hash(conn: &mut MySqlConnection, number: u64) -> anyhow::Result<Option<B256>> {
    let row: Option<String> = sqlx::query_scalar("SELECT hash FROM blocks WHERE number = ?").bind(number).fetch_optional(conn).await?;
    row.map(|h| parse(&h, "hash")).transpose()
}

/// Every table whose rows belong to a block, with the column naming it: what a rollback deletes.
pub const BLOCK_TAGGED_TABLES: [(&str, &str); 6] =
    [("events", "block_number"), ("players", "block_number"), ("robot_versions", "block_number"), ("item_versions", "block_number"), ("balance_versions", "block_number"), ("blocks", "number")];

/// Deletes everything above `ancestor` (everything at all when `None`) and moves the cursor there.
pub async fn rollback(pool: &MySqlPool, ancestor: Option<Cursor>) -> anyhow::Result<u64> {
    let above = ancestor.map_or(-1i128, |c| c.number as i128);
    let mut tx = pool.begin().await?;
    let mut removed = 0;
    for (table, column) in BLOCK_TAGGED_TABLES {
        let sql = format!("DELETE FROM {table} WHERE {column} > ?");
        let done = if above < 0 { sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await? } else { sqlx::query(&sql).bind(above as u64).execute(&mut *tx).await? };
        if table == "events" {
            removed = done.rows_affected();
        }
    }
    match ancestor {
        Some(c) => write_cursor(&mut tx, c).await?,
        None => {
            sqlx::query("DELETE FROM index_cursor").execute(&mut *tx).await?;
        }
    }
    mve_failpoints::crash_point!("indexer::store::rollback_before_commit");
    tx.commit().await?;
    // Committed; the caller has not bumped the cache generation yet.
    mve_failpoints::crash_point!("indexer::store::rollback_after_commit");
    Ok(removed)
}

pub async fn write_cursor(conn: &mut MySqlConnection, c: Cursor) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO index_cursor (id, block_number, block_hash) VALUES (1, ?, ?) \
         ON DUPLICATE KEY UPDATE block_number = VALUES(block_number), block_hash = VALUES(block_hash)",
    )
    .bind(c.number)
    .bind(hex(&c.hash))
    .execute(conn)
    .await?;
    Ok(())
}

/// Loads the latest rows of what a batch touches, and which of its players are known already.
pub async fn load(conn: &mut MySqlConnection, needs: &Needs) -> anyhow::Result<(State, HashSet<Address>)> {
    let mut state = State::default();
    for id in dedup(&needs.robots) {
        if let Some(r) = robot_at(conn, id, u64::MAX).await? {
            state.robots.insert(id, r);
        }
    }
    for id in dedup(&needs.items) {
        if let Some(i) = item_at(conn, id, u64::MAX).await? {
            state.items.insert(id, i);
        }
    }
    for a in dedup(&needs.balances) {
        state.balances.insert(a, balance_at(conn, &a, u64::MAX).await?);
    }
    let mut known = HashSet::new();
    for a in dedup(&needs.players) {
        let found: Option<String> = sqlx::query_scalar("SELECT address FROM players WHERE address = ?").bind(addr(&a)).fetch_optional(&mut *conn).await?;
        if found.is_some() {
            known.insert(a);
        }
    }
    Ok((state, known))
}

fn dedup<T: Copy + Eq + std::hash::Hash>(v: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    v.iter().copied().filter(|x| seen.insert(*x)).collect()
}

/// Writes one batch. The cursor goes first, inside the same transaction as everything it covers.
pub async fn write_batch(conn: &mut MySqlConnection, cursor: Cursor, blocks: &[BlockRef], events: &[EventRow], state: &State) -> anyhow::Result<()> {
    write_cursor(conn, cursor).await?;
    for chunk in blocks.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO blocks (number, hash, parent_hash) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.number).push_bind(hex(&r.hash)).push_bind(hex(&r.parent_hash));
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in events.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO events (block_number, log_index, block_hash, tx_hash, address, kind, topics, data) ");
        q.push_values(chunk, |mut b, e| {
            let topics = serde_json::to_string(&e.topics).expect("hashes serialise");
            b.push_bind(e.block_number)
                .push_bind(e.log_index)
                .push_bind(hex(&e.block_hash))
                .push_bind(hex(&e.tx_hash))
                .push_bind(addr(&e.address))
                .push_bind(e.kind.clone())
                .push_bind(topics)
                .push_bind(e.data.clone());
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in state.new_players.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO players (address, block_number, log_index) ");
        q.push_values(chunk, |mut b, (at, a)| {
            b.push_bind(addr(a)).push_bind(at.block_number).push_bind(at.log_index);
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in state.robot_versions.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO robot_versions (robot_id, block_number, log_index, owner, xp, level, class, affiliation, base, final_stats, equipped) ");
        q.push_values(chunk, |mut b, (at, r)| {
            b.push_bind(r.id)
                .push_bind(at.block_number)
                .push_bind(at.log_index)
                .push_bind(addr(&r.owner))
                .push_bind(r.xp)
                .push_bind(r.level)
                .push_bind(r.class)
                .push_bind(r.affiliation)
                .push_bind(json(&r.base))
                .push_bind(json(&r.final_stats))
                .push_bind(json(&r.equipped));
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in state.item_versions.chunks(INSERT_CHUNK) {
        let mut q =
            QueryBuilder::new("INSERT INTO item_versions (item_id, block_number, log_index, owner, item_type, rarity, item_condition, boosts, class_affinities, trait_affiliation, equipped_on) ");
        q.push_values(chunk, |mut b, (at, i)| {
            b.push_bind(i.id)
                .push_bind(at.block_number)
                .push_bind(at.log_index)
                .push_bind(addr(&i.owner))
                .push_bind(i.item_type)
                .push_bind(i.rarity)
                .push_bind(i.condition)
                .push_bind(json(&i.boosts))
                .push_bind(i.class_affinities)
                .push_bind(i.trait_affiliation)
                .push_bind(i.equipped_on);
        });
        q.build().execute(&mut *conn).await?;
    }
    for chunk in state.balance_versions.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::new("INSERT INTO balance_versions (address, block_number, log_index, balance) ");
        q.push_values(chunk, |mut b, (at, a, v)| {
            b.push_bind(addr(a)).push_bind(at.block_number).push_bind(at.log_index).push_bind(v.to_string());
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain arrays serialise")
}

fn robot_row(r: &MySqlRow) -> anyhow::Result<Robot> {
    Ok(Robot {
        id: r.try_get("robot_id")?,
        owner: parse(&r.try_get::<String, _>("owner")?, "owner")?,
        xp: r.try_get("xp")?,
        level: r.try_get("level")?,
        class: r.try_get("class")?,
        affiliation: r.try_get("affiliation")?,
        base: serde_json::from_str(&r.try_get::<String, _>("base")?)?,
        final_stats: serde_json::from_str(&r.try_get::<String, _>("final_stats")?)?,
        equipped: serde_json::from_str(&r.try_get::<String, _>("equipped")?)?,
    })
}

fn item_row(r: &MySqlRow) -> anyhow::Result<Item> {
    Ok(Item {
        id: r.try_get("item_id")?,
        owner: parse(&r.try_get::<String, _>("owner")?, "owner")?,
        item_type: r.try_get("item_type")?,
        rarity: r.try_get("rarity")?,
        condition: r.try_get("item_condition")?,
        boosts: serde_json::from_str(&r.try_get::<String, _>("boosts")?)?,
        class_affinities: r.try_get("class_affinities")?,
        trait_affiliation: r.try_get("trait_affiliation")?,
        equipped_on: r.try_get("equipped_on")?,
    })
}

/// The robot as of block `at` (its latest version at or below it).
pub async fn robot_at(conn: &mut MySqlConnection, id: u64, at: u64) -> anyhow::Result<Option<Robot>> {
    let row = sqlx::query(
        "SELECT * FROM robot_versions WHERE robot_id = ? AND block_number <= ? \
         ORDER BY block_number DESC, log_index DESC LIMIT 1",
    )
    .bind(id)
    .bind(at)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(robot_row).transpose()
}

pub async fn item_at(conn: &mut MySqlConnection, id: u64, at: u64) -> anyhow::Result<Option<Item>> {
    let row = sqlx::query(
        "SELECT * FROM item_versions WHERE item_id = ? AND block_number <= ? \
         ORDER BY block_number DESC, log_index DESC LIMIT 1",
    )
    .bind(id)
    .bind(at)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(item_row).transpose()
}

pub async fn balance_at(conn: &mut MySqlConnection, owner: &Address, at: u64) -> anyhow::Result<U256> {
    let row: Option<String> = sqlx::query_scalar(
        "SELECT balance FROM balance_versions WHERE address = ? AND block_number <= ? \
         ORDER BY block_number DESC, log_index DESC LIMIT 1",
    )
    .bind(addr(owner))
    .bind(at)
    .fetch_optional(conn)
    .await?;
    row.map(|b| parse(&b, "balance")).transpose().map(Option::unwrap_or_default)
}

/// Items whose latest version at or below `at` names `owner`.
pub async fn items_of(conn: &mut MySqlConnection, owner: &Address, at: u64) -> anyhow::Result<Vec<Item>> {
    let rows = sqlx::query(
        "SELECT v.* FROM item_versions v WHERE v.owner = ? AND v.block_number <= ? AND NOT EXISTS ( \
           SELECT 1 FROM item_versions w WHERE w.item_id = v.item_id AND w.block_number <= ? \
           AND (w.block_number > v.block_number OR (w.block_number = v.block_number AND w.log_index > v.log_index))) \
         ORDER BY v.item_id",
    )
    .bind(addr(owner))
    .bind(at)
    .bind(at)
    .fetch_all(conn)
    .await?;
    rows.iter().map(item_row).collect()
}

pub async fn robot_ids(conn: &mut MySqlConnection, at: u64) -> anyhow::Result<Vec<u64>> {
    Ok(sqlx::query_scalar("SELECT DISTINCT robot_id FROM robot_versions WHERE block_number <= ? ORDER BY robot_id").bind(at).fetch_all(conn).await?)
}

pub async fn item_ids(conn: &mut MySqlConnection, at: u64) -> anyhow::Result<Vec<u64>> {
    Ok(sqlx::query_scalar("SELECT DISTINCT item_id FROM item_versions WHERE block_number <= ? ORDER BY item_id").bind(at).fetch_all(conn).await?)
}

pub async fn players(conn: &mut MySqlConnection, at: u64) -> anyhow::Result<Vec<Address>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT address FROM players WHERE block_number <= ? ORDER BY address").bind(at).fetch_all(conn).await?;
    rows.iter().map(|a| parse(a, "address")).collect()
}

pub async fn events(conn: &mut MySqlConnection, from: u64, to: u64, limit: u64) -> anyhow::Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT block_number, log_index, block_hash, tx_hash, address, kind, topics, data FROM events \
         WHERE block_number BETWEEN ? AND ? ORDER BY block_number, log_index LIMIT ?",
    )
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                block_number: r.try_get(0)?,
                log_index: r.try_get::<u32, _>(1)?.into(),
                block_hash: parse(&r.try_get::<String, _>(2)?, "hash")?,
                tx_hash: parse(&r.try_get::<String, _>(3)?, "hash")?,
                address: parse(&r.try_get::<String, _>(4)?, "address")?,
                kind: r.try_get(5)?,
                topics: serde_json::from_str(&r.try_get::<String, _>(6)?)?,
                data: r.try_get(7)?,
            })
        })
        .collect()
}

/// Events stored in total (for status after a restart).
pub async fn event_count(conn: &mut MySqlConnection) -> anyhow::Result<u64> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(conn).await?;
    Ok(n as u64)
}
