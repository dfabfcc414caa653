//! Redis cache of hot reads. Never a source of truth: any Redis failure means "read MySQL".
//!
//! Invalidation is by generation: every key carries the value of `idx:gen`, and every committed
//! batch or rollback bumps it, so an entry written before a write is never read after it. If the
//! bump itself fails (Redis down or frozen), the cache is bypassed until a bump succeeds: a Redis
//! that comes back holding old entries is never trusted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

/// A frozen Redis must not stall reads: past this, the read goes to MySQL.
const OP_TIMEOUT: Duration = Duration::from_millis(250);
/// Entries expire on their own too, so a crash between write and bump ages out.
const TTL_SECONDS: u64 = 60;
const GEN_KEY: &str = "idx:gen";
const BREAKER: Duration = Duration::from_secs(1);

pub struct Cache {
    client: Option<redis::Client>,
    conn: Mutex<Option<ConnectionManager>>,
    /// A bump failed: bypass until one succeeds.
    stale: AtomicBool,
    reachable: AtomicBool,
    /// After a failure, no Redis call until then: a frozen Redis costs one timeout per second,
    /// not one per read.
    closed_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Cache {
    pub fn new(url: Option<&str>) -> anyhow::Result<Cache> {
        Ok(Cache {
            client: url.map(redis::Client::open).transpose()?,
            conn: Mutex::new(None),
            stale: AtomicBool::new(true),
            reachable: AtomicBool::new(false),
            closed_until: std::sync::Mutex::new(None),
        })
    }

    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        let client = self.client.as_ref()?;
        let mut guard = self.conn.lock().await;
        if guard.is_none() {
            let config = ConnectionManagerConfig::new().set_connection_timeout(Some(OP_TIMEOUT)).set_response_timeout(Some(OP_TIMEOUT)).set_number_of_retries(1);
            match tokio::time::timeout(OP_TIMEOUT * 2, ConnectionManager::new_with_config(client.clone(), config)).await {
                Ok(Ok(c)) => *guard = Some(c),
                _ => {
                    self.reachable.store(false, Ordering::Relaxed);
                    return None;
                }
            }
        }
        guard.clone()
    }

    async fn run<T>(&self, op: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>) -> Option<T> {
        if self.closed_until.lock().expect("breaker lock").is_some_and(|t| std::time::Instant::now() < t) {
            return None;
        }
        let result = match self.connection().await {
            Some(mut conn) => match tokio::time::timeout(OP_TIMEOUT, op(&mut conn)).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {OP_TIMEOUT:?}")),
            },
            None => Err("cannot connect".to_string()),
        };
        let result = match result {
            Ok(v) => Some(v),
            Err(e) => {
                if self.reachable.load(Ordering::Relaxed) {
                    tracing::warn!(error = %e, "Redis unreachable: reads go to MySQL");
                } else {
                    tracing::debug!(error = %e, "Redis still unreachable");
                }
                None
            }
        };
        if result.is_some() && !self.reachable.load(Ordering::Relaxed) {
            tracing::info!("Redis reachable: cache in use");
        }
        self.reachable.store(result.is_some(), Ordering::Relaxed);
        *self.closed_until.lock().expect("breaker lock") = result.is_none().then(|| std::time::Instant::now() + BREAKER);
        result
    }

    /// Makes every existing entry unreadable. Call after each commit (and once at start).
    pub async fn invalidate(&self) {
        if !self.enabled() {
            return;
        }
        let bumped = self.run(async |c| c.incr::<_, _, u64>(GEN_KEY, 1).await).await;
        self.stale.store(bumped.is_none(), Ordering::Relaxed);
    }

    /// The current generation, or `None` while the cache must not be used.
    async fn generation(&self) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        if self.stale.load(Ordering::Relaxed) {
            // Try to get back in: a successful bump makes everything older unreadable.
            self.invalidate().await;
            if self.stale.load(Ordering::Relaxed) {
                return None;
            }
        }
        let generation: Option<u64> = self.run(async |c| c.get(GEN_KEY).await).await?;
        Some(generation.unwrap_or(0))
    }

    /// Looks `key` up. The generation it was looked up in goes with the answer: a value read from
    /// MySQL after a miss may only be stored under that generation ([`Cache::put`]), never under a
    /// newer one that a batch committed in between made current.
    pub async fn lookup(&self, key: &str) -> Lookup {
        let Some(generation) = self.generation().await else {
            return Lookup { hit: None, generation: None };
        };
        let k = format!("idx:{generation}:{key}");
        let hit = self.run(async |c| c.get::<_, Option<String>>(&k).await).await.flatten();
        Lookup { hit, generation: Some(generation) }
    }

    /// Stores a value read after `lookup` missed, under the generation of that lookup.
    pub async fn put(&self, lookup: &Lookup, key: &str, value: &str) {
        if let Some(generation) = lookup.generation {
            let k = format!("idx:{generation}:{key}");
            let _ = self.run(async |c| c.set_ex::<_, _, ()>(&k, value, TTL_SECONDS).await).await;
        }
    }
}

/// What a cache lookup found, and in which generation.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub hit: Option<String>,
    generation: Option<u64>,
}
