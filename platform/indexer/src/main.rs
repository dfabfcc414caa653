//! `mve-indexer`: configured entirely by `INDEXER_*` environment variables (see `Config`).

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))).init();
    // FAILPOINTS (TiKV's `fail` format) arms named failpoints for tests; unset, none is active.
    let _failpoints = match mve_failpoints::setup() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mve-indexer: configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let config = match mve_indexer::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mve-indexer: configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match mve_indexer::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mve-indexer: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
