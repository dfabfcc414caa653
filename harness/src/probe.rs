//! Readiness probes: a service is ready when it does real work, not when its port opens.

use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use sqlx::Connection;

use crate::service::{L3_CHAIN_ID, Service};
use crate::{Error, Result};

/// One attempt may not hang: a paused container accepts TCP connections but never answers.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn ready(service: Service, url: &str) -> Result<()> {
    let attempt = async {
        match service {
            Service::MariaDb => mariadb(url).await,
            Service::Redis => redis(url).await,
            Service::Anvil => anvil(url).await,
            Service::Indexer | Service::Payments => http_health(url).await,
        }
    };
    tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(Error::Config(format!("{service} probe got no answer within {ATTEMPT_TIMEOUT:?}"))))
}

async fn mariadb(url: &str) -> Result<()> {
    let mut conn = sqlx::MySqlConnection::connect(url).await?;
    let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut conn).await?;
    conn.close().await?;
    if one == 1 { Ok(()) } else { Err(Error::Config(format!("SELECT 1 returned {one}"))) }
}

async fn redis(url: &str) -> Result<()> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await?;
    if pong == "PONG" { Ok(()) } else { Err(Error::Config(format!("PING answered {pong:?}"))) }
}

async fn anvil(url: &str) -> Result<()> {
    let provider = ProviderBuilder::new().connect_http(url.parse().map_err(|e| Error::Config(format!("{url}: {e}")))?);
    let id = provider.get_chain_id().await.map_err(|e| Error::Rpc(e.to_string()))?;
    if id == L3_CHAIN_ID { Ok(()) } else { Err(Error::Rpc(format!("chain id {id}, expected the L3's {L3_CHAIN_ID}"))) }
}

/// Platform services answer `GET /health` with 200 once they can serve.
async fn http_health(url: &str) -> Result<()> {
    let response = reqwest::get(format!("{url}/health")).await.map_err(|e| Error::Config(format!("GET {url}/health: {e}")))?;
    if response.status().is_success() {
        Ok(())
    } else {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Err(Error::Config(format!("GET {url}/health answered {status}: {body}")))
    }
}
