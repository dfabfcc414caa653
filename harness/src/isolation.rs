//! Per-test isolation on shared containers, in the style of `#[sqlx::test]`: every test gets a
//! database, a Redis database and a chain state that no other test sees.
//!
//! - MariaDB: a new database (schema) per test, named after the run so that an external server
//!   never sees a clash. Databases are not dropped: they go with the container at the run's end.
//! - Redis: a database index per test from a run-wide counter (containers run with
//!   `--databases 10000`), flushed before use.
//! - anvil: a chain cannot be namespaced, so tests *lease* an anvil. A lease is an flock on a slot
//!   file (released by the kernel even if the test is killed); the lessee reverts the slot to its
//!   genesis snapshot and takes a new one. Slots are added on demand, up to `MVE_ANVIL_SLOTS`
//!   (default 8), so parallel tests never share a chain.

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

use crate::service::{REDIS_DATABASES, Service};
use crate::session::{self, FileLock};
use crate::stack::{self, Kind, READY_TIMEOUT, ServiceHandle, Stack};
use crate::{Error, Result};

pub const DEFAULT_ANVIL_SLOTS: usize = 8;
/// How long a test waits for a free anvil slot before failing with a clear message.
pub const LEASE_TIMEOUT: Duration = Duration::from_secs(300);

/// A database of this test's own.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub pool: MySqlPool,
    /// `mysql://...` for clients on this machine, with the database selected.
    pub url: String,
    /// The same for a container on the stack's network.
    pub network_url: Option<String>,
}

/// A Redis database of this test's own.
#[derive(Debug, Clone)]
pub struct TestRedis {
    pub db: u32,
    pub url: String,
    pub network_url: Option<String>,
    pub client: redis::Client,
}

impl TestRedis {
    pub async fn connection(&self) -> Result<redis::aio::MultiplexedConnection> {
        Ok(self.client.get_multiplexed_async_connection().await?)
    }
}

/// A chain state of this test's own: genesis of a chain with id 33701 and anvil's funded accounts.
pub struct TestChain {
    pub rpc_url: String,
    pub network_url: Option<String>,
    pub provider: DynProvider,
    pub slot: usize,
    /// The leased container, kept so that it stays known to this process; `None` for external.
    handle: Option<ServiceHandle>,
    _lease: FileLock,
}

impl std::fmt::Debug for TestChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestChain").field("rpc_url", &self.rpc_url).field("slot", &self.slot).finish()
    }
}

impl TestChain {
    /// The anvil container behind this chain (for faults in a private stack).
    pub fn handle(&self) -> Option<&ServiceHandle> {
        self.handle.as_ref()
    }
}

impl Stack {
    pub async fn fresh_database(&self) -> Result<TestDatabase> {
        let handle = self.mariadb()?;
        let base = handle.url().await?;
        let n = session::next_in_sequence("mariadb-db").await?;
        let name = format!("mve_{}_{n}", session::current().run_key);
        let admin = MySqlPoolOptions::new().max_connections(1).connect(&base).await?;
        sqlx::query(&format!("CREATE DATABASE `{name}`")).execute(&admin).await?;
        admin.close().await;
        let url = format!("{base}/{name}");
        let pool = MySqlPoolOptions::new().max_connections(8).connect(&url).await?;
        Ok(TestDatabase { network_url: handle.network_url().map(|u| format!("{u}/{name}")), name, pool, url })
    }

    /// A new pool to `db` at MariaDB's current published port: after a stop/start or a network
    /// fault the port changes, and `db.pool` points at the old one.
    pub async fn reconnect_database(&self, db: &TestDatabase) -> Result<MySqlPool> {
        let base = self.mariadb()?.url().await?;
        Ok(MySqlPoolOptions::new().max_connections(8).connect(&format!("{base}/{}", db.name)).await?)
    }

    pub async fn fresh_redis(&self) -> Result<TestRedis> {
        let handle = self.redis()?;
        let base = handle.url().await?;
        let n = session::next_in_sequence("redis-db").await?;
        let databases = redis_databases(&base).await?;
        let db = (n % databases as u64) as u32;
        let url = format!("{base}/{db}");
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await?;
        Ok(TestRedis { db, network_url: handle.network_url().map(|u| format!("{u}/{db}")), url, client })
    }

    /// Leases a chain at genesis. Hold the returned value for as long as the test uses the chain.
    pub async fn fresh_chain(&self) -> Result<TestChain> {
        if !self.services.contains(&Service::Anvil) {
            return Err(Error::NotInStack { service: "anvil" });
        }
        let slots = match self.kind {
            Kind::Shared => std::env::var("MVE_ANVIL_SLOTS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_ANVIL_SLOTS),
            Kind::Private | Kind::External => 1,
        };
        // A lease file that cannot be opened (another user's directory, a full disk) fails at once:
        // only a lease another test holds is worth waiting for.
        let (slot, lease) = crate::wait::until("a free anvil slot", LEASE_TIMEOUT, || async {
            for slot in 0..slots {
                let path = self.lease_path(slot);
                match FileLock::try_acquire(&path) {
                    Ok(Some(lease)) => return Ok::<_, Error>(Some(Ok((slot, lease)))),
                    Ok(None) => {}
                    Err(e) => return Ok(Some(Err(Error::Config(format!("anvil lease {}: {e}", path.display()))))),
                }
            }
            Ok(None)
        })
        .await
        .map_err(|t| Error::Config(format!("{t}; all {slots} slots stayed leased (raise MVE_ANVIL_SLOTS?)")))??;

        let handle = match self.kind {
            Kind::Shared => Some(self.shared_anvil_slot(slot).await?),
            Kind::Private | Kind::External => None,
        };
        let own = match &handle {
            Some(h) => h,
            None => self.anvil()?,
        };
        let rpc_url = own.url().await?;
        let network_url = own.network_url();
        // Nonces are asked of the node for every transaction: the default cached nonce manager
        // counts a transaction that failed gas estimation (a revert) as sent, and the next one from
        // that account then waits forever behind the gap.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_simple_nonce_management()
            .with_gas_estimation()
            .fetch_chain_id()
            .connect_http(rpc_url.parse().map_err(|e| Error::Config(format!("{rpc_url}: {e}")))?)
            .erased();

        let baseline = self.lease_path(slot).with_extension("baseline");
        if let Some(id) = std::fs::read_to_string(&baseline).ok().and_then(|s| s.trim().parse::<U256>().ok()) {
            let reverted = provider.anvil_revert(id).await.map_err(|e| Error::Rpc(e.to_string()))?;
            if !reverted {
                return Err(Error::Rpc(format!("anvil slot {slot} refused to revert to its genesis snapshot {id}")));
            }
        }
        let id = provider.anvil_snapshot().await.map_err(|e| Error::Rpc(e.to_string()))?;
        std::fs::write(&baseline, id.to_string())?;
        Ok(TestChain { rpc_url, network_url, provider, slot, handle, _lease: lease })
    }

    fn lease_path(&self, slot: usize) -> PathBuf {
        let dir = session::scratch_root();
        match (self.kind, &self.network) {
            (Kind::Shared, _) => session::current().dir.join(format!("anvil-{slot}.lease")),
            (Kind::Private, Some(net)) => dir.join(format!("private-{net}-anvil.lease")),
            _ => {
                let url = Service::Anvil.external_url().unwrap_or_default();
                dir.join(format!("external-anvil-{}.lease", session::short_hash(&url)))
            }
        }
    }

    async fn shared_anvil_slot(&self, slot: usize) -> Result<ServiceHandle> {
        let session = session::current();
        let docker = self.docker.as_ref().expect("shared stacks hold an engine connection");
        let network = self.network.as_deref().expect("shared stacks have a network");
        let name = format!("mve-{}-anvil-{slot}", session.run_key);
        let create = FileLock::acquire(session.dir.join("create.lock")).await?;
        let handle = stack::start(docker, Service::Anvil, network, &session.run_key, Some(name), Service::Anvil.cmd()).await?;
        drop(create);
        handle.wait_ready(READY_TIMEOUT).await?;
        Ok(handle)
    }
}

async fn redis_databases(url: &str) -> Result<u32> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let answer: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG").arg("GET").arg("databases").query_async(&mut conn).await;
    // Managed Redis often forbids CONFIG; 16 is Redis's own default.
    Ok(answer.ok().and_then(|v| v.get(1).and_then(|s| s.parse().ok())).unwrap_or(16).min(REDIS_DATABASES))
}
