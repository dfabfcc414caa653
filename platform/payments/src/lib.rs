//! The MVE payments service (see docs/spec/payments.md and README.md):
//! [`config`], [`stripe_api`] (outbound calls and their retry policy), [`ledger`] (purchases,
//! facts, ledger lines), [`webhook`] (signature, mode, dispatch), [`api`] (HTTP), [`failpoints`]
//! (every named failpoint: crash points at each write step, one list).

pub mod api;
pub mod config;
pub mod failpoints;
pub mod ledger;
pub mod stripe_api;
pub mod webhook;

use std::sync::atomic::Ordering;
use std::time::Duration;

pub use config::Config;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Serves at once (`/health` is 503 until migrated), waits for MySQL, migrates, then serves on.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(32).acquire_timeout(Duration::from_secs(2)).connect_lazy(&config.database_url)?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let app = api::App::new(config, pool.clone())?;
    let ready = app.ready.clone();
    let limits = app.config.http.clone();
    let requests = app.metrics.requests.clone();
    let server = tokio::spawn(async move { mve_http::serve(listener, api::router(app), limits, &requests).await });
    let mut backoff = Duration::from_millis(100);
    while let Err(e) = MIGRATOR.run(&pool).await {
        tracing::warn!(error = %e, "database not ready; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    ready.store(true, Ordering::Relaxed);
    tracing::info!("payments ready");
    Ok(server.await??)
}
