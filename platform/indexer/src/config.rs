//! The indexer's configuration, all from the environment (12-factor: the harness sets it per container).

use std::net::SocketAddr;
use std::time::Duration;

use alloy::primitives::Address;

#[derive(Debug, Clone)]
pub struct Config {
    /// JSON-RPC endpoint of the L3 node.
    pub rpc_url: String,
    /// `mysql://user:pass@host:port/database`.
    pub database_url: String,
    /// `redis://host:port/db`; without it every read goes to MySQL.
    pub redis_url: Option<String>,
    pub robot: Address,
    pub item: Address,
    pub ntc: Address,
    /// First block to index (the contracts' deployment block).
    pub start_block: u64,
    /// Blocks behind the head to stay; 0 follows the head itself (tests), production uses more.
    pub confirmations: u64,
    pub listen: SocketAddr,
    pub poll_interval: Duration,
    /// Longest the indexer waits for MySQL to answer one step (a read, a batch, a rollback): sqlx
    /// bounds acquiring a connection, not a statement, and a statement whose link was cut mid-query
    /// waits out TCP's retries (~15 min) unless something gives up first.
    pub database_timeout: Duration,
    /// Most blocks applied in one transaction.
    pub max_batch_blocks: u64,
    /// Connection bounds (`INDEXER_HTTP_*`; see mve-http).
    pub http: mve_http::Limits,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads `INDEXER_*` names through `get`, so that tests can feed a map.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let required = |k: &str| get(k).filter(|v| !v.is_empty()).ok_or_else(|| format!("{k} is required"));
        let address = |k: &str| -> Result<Address, String> { required(k)?.parse().map_err(|e| format!("{k}: not an address: {e}")) };
        let number = |k: &str, default: u64| -> Result<u64, String> {
            match get(k).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e| format!("{k}={v:?}: {e}")),
            }
        };
        let listen = get("INDEXER_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into());
        Ok(Config {
            rpc_url: required("INDEXER_RPC_URL")?,
            database_url: required("INDEXER_DATABASE_URL")?,
            redis_url: get("INDEXER_REDIS_URL").filter(|v| !v.is_empty()),
            robot: address("INDEXER_ROBOT_ADDRESS")?,
            item: address("INDEXER_ITEM_ADDRESS")?,
            ntc: address("INDEXER_NTC_ADDRESS")?,
            start_block: number("INDEXER_START_BLOCK", 0)?,
            confirmations: number("INDEXER_CONFIRMATIONS", 0)?,
            listen: listen.parse().map_err(|e| format!("INDEXER_LISTEN={listen:?}: {e}"))?,
            poll_interval: Duration::from_millis(number("INDEXER_POLL_MS", 100)?),
            database_timeout: Duration::from_millis(number("INDEXER_DATABASE_TIMEOUT_MS", 10_000)?.max(1)),
            max_batch_blocks: number("INDEXER_MAX_BATCH_BLOCKS", 200)?.max(1),
            http: mve_http::Limits::from_lookup("INDEXER", "INDEXER_HTTP_MAX_BODY_BYTES", &get)?,
        })
    }
}
