//! The whole MVE on one private stack: MariaDB (a database per service), Redis, anvil with the
//! contracts deployed, the indexer and the payments service, and a simulated Stripe.
//!
//! Every link a scenario faults is explicit:
//! - indexer → anvil through a link network ([`crate::nemesis::Link`]): cut and restored;
//! - indexer → MariaDB through a [`LinkProxy`] in the test process: slowed, made lossy, cut; after
//!   MariaDB restarts on a new published port the proxy is pointed at it, as service discovery would;
//! - payments → MariaDB through a link network: cut and restored.

use std::net::SocketAddr;

use crate::indexer_api::IndexerApi;
use crate::nemesis::Link;
use crate::nemesis::proxy::LinkProxy;
use crate::nemesis::schedule::Journal;
use crate::stripe::{Deliverer, Events, FakeStripe};
use crate::{Service, ServiceHandle, Stack, TestChain, TestDatabase, TestRedis};
use alloy::primitives::Address;
use alloy::providers::Provider;
use mve_contracts::Deployment;

pub const WEBHOOK_SECRET: &str = "whsec_mve_chaos_0123456789abcdef";

/// Fields drop in order: services first, the stack (and its network) last.
pub struct Mve {
    pub indexer: ServiceHandle,
    pub payments: ServiceHandle,
    pub chain_link: Link,
    pub payments_db_link: Link,
    pub indexer_db_proxy: LinkProxy,
    pub stripe: FakeStripe,
    pub events: Events,
    pub chain: TestChain,
    pub indexer_db: TestDatabase,
    pub payments_db: TestDatabase,
    pub redis: TestRedis,
    pub d: Deployment,
    pub admin: Address,
    pub players: Vec<Address>,
    pub journal: Journal,
    pub stack: Stack,
}

impl Mve {
    pub async fn start(seed: u64) -> anyhow::Result<Mve> {
        Mve::start_with(seed, &[]).await
    }

    /// [`Mve::start`] with extra environment for both services (each reads its own prefix, e.g.
    /// `INDEXER_HTTP_HEADER_TIMEOUT_MS`, `PAYMENTS_HTTP_MAX_CONNECTIONS`, and ignores the other's).
    pub async fn start_with(seed: u64, extra_env: &[(&'static str, String)]) -> anyhow::Result<Mve> {
        Mve::start_on(seed, extra_env, Stack::builder(), false).await
    }

    /// [`Mve::start_with`] on a stack `builder` configures further (e.g.
    /// [`crate::StackBuilder::anvil_keeping_states`] for the soak); MariaDB, Redis and anvil are added.
    ///
    /// `long_run`: the Stripe simulator keeps no copy of the requests it received (a soak's
    /// millions); [`FakeStripe::requests`] then answers nothing.
    pub async fn start_on(seed: u64, extra_env: &[(&'static str, String)], builder: crate::StackBuilder, long_run: bool) -> anyhow::Result<Mve> {
        let stack = builder.mariadb().redis().anvil().private().await?;
        let chain = stack.fresh_chain().await?;
        let indexer_db = stack.fresh_database().await?;
        let payments_db = stack.fresh_database().await?;
        let redis = stack.fresh_redis().await?;
        let accounts = chain.provider.get_accounts().await?;
        let d = Deployment::deploy(&chain.provider, accounts[0]).await?;
        let gateway = stack.gateway_ip().await?;

        let anvil = stack.anvil()?;
        let chain_link = stack.link_to(anvil).await?;
        let mariadb = stack.mariadb()?;
        let payments_db_link = stack.link_to(mariadb).await?;
        let indexer_db_proxy = LinkProxy::start(gateway, mariadb_on_host(&stack).await?, seed).await?;
        let stripe = FakeStripe::start_recording(gateway, false, !long_run).await?;

        let indexer_env = vec![
            ("INDEXER_RPC_URL", chain_link.url().to_string()),
            ("INDEXER_DATABASE_URL", format!("mysql://root:{}@{gateway}:{}/{}", crate::service::MARIADB_ROOT_PASSWORD, indexer_db_proxy.host_port(), indexer_db.name)),
            ("INDEXER_REDIS_URL", redis.network_url.clone().expect("container redis")),
            ("INDEXER_ROBOT_ADDRESS", format!("{:#x}", d.robot)),
            ("INDEXER_ITEM_ADDRESS", format!("{:#x}", d.item)),
            ("INDEXER_NTC_ADDRESS", format!("{:#x}", d.ntc)),
            ("INDEXER_START_BLOCK", "0".into()),
            ("INDEXER_CONFIRMATIONS", "0".into()),
            ("INDEXER_POLL_MS", "50".into()),
            ("INDEXER_MAX_BATCH_BLOCKS", "16".into()),
        ];
        let payments_env = vec![
            ("PAYMENTS_DATABASE_URL", format!("{}/{}", payments_db_link.url(), payments_db.name)),
            ("PAYMENTS_STRIPE_API_BASE", stripe.url()),
            ("PAYMENTS_STRIPE_SECRET_KEY", "sk_test_mve_simulated".to_string()),
            ("PAYMENTS_WEBHOOK_SECRETS", WEBHOOK_SECRET.to_string()),
            ("PAYMENTS_LIVEMODE", "false".to_string()),
            ("PAYMENTS_STRIPE_BACKOFF_MS", "20".to_string()),
        ];
        let (mut indexer_env, mut payments_env) = (indexer_env, payments_env);
        indexer_env.extend(extra_env.iter().cloned());
        payments_env.extend(extra_env.iter().cloned());
        let indexer = stack.start_platform_linked(Service::Indexer, &indexer_env, &[&chain_link]).await?;
        let payments = stack.start_platform_linked(Service::Payments, &payments_env, &[&payments_db_link]).await?;
        Ok(Mve {
            indexer,
            payments,
            chain_link,
            payments_db_link,
            indexer_db_proxy,
            stripe,
            events: Events::new(false),
            chain,
            indexer_db,
            payments_db,
            redis,
            d,
            admin: accounts[0],
            players: accounts[1..6].to_vec(),
            journal: Journal::new(),
            stack,
        })
    }

    /// A client of the indexer's API at its current published port.
    pub async fn indexer_api(&self) -> anyhow::Result<IndexerApi> {
        Ok(IndexerApi::new(&self.indexer.url().await?))
    }

    pub async fn payments_url(&self) -> anyhow::Result<String> {
        Ok(self.payments.url().await?)
    }

    pub async fn deliverer(&self) -> anyhow::Result<Deliverer> {
        Ok(Deliverer::new(&format!("{}/webhooks/stripe", self.payments_url().await?)))
    }

    /// After MariaDB restarted on a new published port: the indexer's proxy follows it (as service
    /// discovery would). Containers on the stack network reach it by name and need nothing.
    pub async fn follow_mariadb(&self) -> anyhow::Result<()> {
        self.indexer_db_proxy.set_upstream(mariadb_on_host(&self.stack).await?);
        Ok(())
    }

    /// Pools on MariaDB's current port, for the checks (the test's first pools die with a restart).
    pub async fn pools(&self) -> anyhow::Result<(sqlx::MySqlPool, sqlx::MySqlPool)> {
        Ok((self.stack.reconnect_database(&self.indexer_db).await?, self.stack.reconnect_database(&self.payments_db).await?))
    }
}

async fn mariadb_on_host(stack: &Stack) -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from(([127, 0, 0, 1], stack.mariadb()?.host_port().await?)))
}
