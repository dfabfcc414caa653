//! The MVE indexer: follows the L3's robot, item and NTC contracts into MySQL and serves them.
//!
//! - [`config`]: environment; [`chain`]: JSON-RPC; [`model`]: events to entity versions;
//! - [`store`]: MySQL schema, batch writes and reads; [`sync`]: the loop, reorgs and backoff;
//! - [`cache`]: Redis for hot reads; [`api`]: the HTTP API; [`telemetry`]: status and metrics;
//! - [`failpoints`]: every named failpoint (crash points at each write step), one list.

pub mod api;
pub mod cache;
pub mod chain;
pub mod config;
pub mod failpoints;
pub mod model;
pub mod store;
pub mod sync;
pub mod telemetry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use config::Config;

/// Starts the API at once (so `/health` and `/status` answer while dependencies are down), then
/// waits for MySQL, migrates, and indexes forever.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let telemetry = Arc::new(telemetry::Telemetry::new());
    let cache = Arc::new(cache::Cache::new(config.redis_url.as_deref())?);
    let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(3)).connect_lazy(&config.database_url)?;
    let ready = Arc::new(AtomicBool::new(false));
    let api = api::Api { pool: pool.clone(), cache: cache.clone(), telemetry: telemetry.clone(), ready: ready.clone(), database_timeout: config.database_timeout };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(listen = %config.listen, "API listening");
    let limits = config.http.clone();
    let requests = telemetry.requests.clone();
    let server = tokio::spawn(async move { mve_http::serve(listener, api::router(api), limits, &requests).await });

    let mut backoff = Duration::from_millis(100);
    loop {
        match store::MIGRATOR.run(&pool).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "database not ready; retrying");
                telemetry.update(|s| {
                    s.database_reachable = false;
                    s.last_error = Some(format!("database: {e}"));
                });
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    let mut conn = pool.acquire().await?;
    let stored = store::event_count(&mut conn).await?;
    drop(conn);
    telemetry.update(|s| {
        s.events_indexed = stored;
        s.database_reachable = true;
    });
    cache.invalidate().await;
    ready.store(true, Ordering::Relaxed);

    let indexer = sync::Indexer::new(config, pool, cache, telemetry)?;
    tokio::select! {
        () = indexer.run() => unreachable!("the indexing loop never returns"),
        served = server => served?.map_err(Into::into),
    }
}
