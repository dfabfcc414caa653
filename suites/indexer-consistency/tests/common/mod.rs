//! What every test of this suite starts from: a chain of its own with the contracts deployed, a
//! database and a Redis database of its own, and an indexer container pointed at them.
#![allow(dead_code)]

use std::time::Duration;

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use harness::checker::{self, Verdict};
use harness::generator::{Generator, Report, Workload};
use harness::indexer_api::IndexerApi;
use harness::{Service, ServiceHandle, Stack, TestChain, TestDatabase, TestRedis};
use mve_contracts::Deployment;

/// How long an indexer may take to reach the head in tests (it normally takes seconds).
pub const SETTLE: Duration = Duration::from_secs(120);

/// The seed of a test: `INDEXER_SEED` if set, else the test's own fixed one; printed either way.
pub fn seed(fixed: u64) -> u64 {
    let seed = std::env::var("INDEXER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(fixed);
    eprintln!("seed {seed} (reproduce with INDEXER_SEED={seed})");
    seed
}

/// Fields drop in order: the stack (and its network) goes last, after every container on it.
pub struct Env {
    pub chain: TestChain,
    pub db: TestDatabase,
    pub redis: TestRedis,
    pub d: Deployment,
    pub admin: Address,
    pub players: Vec<Address>,
    pub stack: Stack,
}

pub struct Indexer {
    pub handle: ServiceHandle,
    pub api: IndexerApi,
}

impl Indexer {
    /// After a restart the published port changes: ask again.
    pub async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.api = IndexerApi::new(&self.handle.url().await?);
        Ok(())
    }

    /// The last lines of the indexer's log, for a failure message.
    pub async fn log_tail(&self) -> String {
        let logs = self.handle.logs().await.unwrap_or_else(|e| format!("(no logs: {e})"));
        let lines: Vec<&str> = logs.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Env {
    /// Shared MariaDB, Redis and anvil slots (one container set per test binary).
    pub async fn shared() -> anyhow::Result<Env> {
        Self::on(Stack::builder().mariadb().redis().anvil().shared().await?).await
    }

    /// Containers of this test alone, for faults on MariaDB, Redis or anvil.
    pub async fn private() -> anyhow::Result<Env> {
        Self::on(Stack::builder().mariadb().redis().anvil().private().await?).await
    }

    async fn on(stack: Stack) -> anyhow::Result<Env> {
        let chain = stack.fresh_chain().await?;
        let db = stack.fresh_database().await?;
        let redis = stack.fresh_redis().await?;
        let accounts = chain.provider.get_accounts().await?;
        let d = Deployment::deploy(&chain.provider, accounts[0]).await?;
        Ok(Env { admin: accounts[0], players: accounts[1..6].to_vec(), d, chain, db, redis, stack })
    }

    pub fn p(&self) -> &alloy::providers::DynProvider {
        &self.chain.provider
    }

    /// The indexer's configuration for this environment, reaching the chain at `rpc_url`.
    pub fn indexer_env(&self, rpc_url: &str) -> Vec<(&'static str, String)> {
        vec![
            ("INDEXER_RPC_URL", rpc_url.to_string()),
            ("INDEXER_DATABASE_URL", self.db.network_url.clone().expect("container database")),
            ("INDEXER_REDIS_URL", self.redis.network_url.clone().expect("container redis")),
            ("INDEXER_ROBOT_ADDRESS", format!("{:#x}", self.d.robot)),
            ("INDEXER_ITEM_ADDRESS", format!("{:#x}", self.d.item)),
            ("INDEXER_NTC_ADDRESS", format!("{:#x}", self.d.ntc)),
            ("INDEXER_START_BLOCK", "0".into()),
            ("INDEXER_CONFIRMATIONS", "0".into()),
            ("INDEXER_POLL_MS", "50".into()),
        ]
    }

    pub async fn start_indexer(&self) -> anyhow::Result<Indexer> {
        let rpc = self.chain.network_url.clone().expect("container chain");
        self.start_indexer_with(self.indexer_env(&rpc)).await
    }

    pub async fn start_indexer_with(&self, env: Vec<(&'static str, String)>) -> anyhow::Result<Indexer> {
        self.start_indexer_linked(env, &[]).await
    }

    /// An indexer that reaches a dependency only through `links` (cut them to cut it off): it
    /// joins them before its readiness is awaited, so the link may carry its database.
    pub async fn start_indexer_linked(&self, env: Vec<(&'static str, String)>, links: &[&harness::nemesis::Link]) -> anyhow::Result<Indexer> {
        let handle = self.stack.start_platform_linked(Service::Indexer, &env, links).await?;
        let api = IndexerApi::new(&handle.url().await?);
        Ok(Indexer { handle, api })
    }

    pub fn generator(&self, seed: u64) -> Generator {
        Generator::new(seed, self.admin, self.players.clone(), 0.05)
    }

    pub async fn run(&self, generator: &mut Generator, workload: &Workload) -> anyhow::Result<Report> {
        let report = generator.run(self.p(), &self.d, workload).await?;
        Self::expected(report)
    }

    /// [`Env::run`] with `per_block` operations in every block (a busy chain, not one transaction
    /// per block).
    pub async fn run_blocks(&self, generator: &mut Generator, workload: &Workload, per_block: usize) -> anyhow::Result<Report> {
        let report = generator.run_blocks(self.p(), &self.d, workload, per_block).await?;
        anyhow::ensure!(report.most_in_one_block == per_block.min(workload.ops), "blocks were not filled: {report:?}");
        Self::expected(report)
    }

    fn expected(report: Report) -> anyhow::Result<Report> {
        anyhow::ensure!(report.unexpected_successes == 0, "operations that must revert succeeded: {report:?}");
        // A revert the model did not expect means the model and the chain disagree: the workload is
        // no longer the one the seed describes, and the events it meant to make are missing.
        anyhow::ensure!(report.unexpected_reverts == 0, "operations the model expected to succeed reverted: {report:?}");
        Ok(report)
    }

    pub async fn head(&self) -> anyhow::Result<(u64, B256)> {
        let n = self.p().get_block_number().await?;
        let block = self.p().get_block_by_number(n.into()).await?.ok_or_else(|| anyhow::anyhow!("no block {n}"))?;
        Ok((n, block.header.hash))
    }

    /// Waits until the indexer stands at the chain's head block (number and hash); returns it.
    pub async fn settle(&self, indexer: &Indexer) -> anyhow::Result<u64> {
        let (n, hash) = self.head().await?;
        if let Err(e) = indexer.api.wait_for_hash(n, hash, SETTLE).await {
            anyhow::bail!("{e}\nindexer log:\n{}", indexer.log_tail().await);
        }
        Ok(n)
    }

    /// Full state check and raw-event check at `block`.
    pub async fn check(&self, indexer: &Indexer, block: u64) -> anyhow::Result<Verdict> {
        let mut accounts = self.players.clone();
        accounts.push(self.admin);
        let state = checker::full(self.p(), &self.d, &indexer.api, block, &accounts).await?;
        let events = checker::events(self.p(), &self.d, &indexer.api, 0, block).await?;
        Ok(state.and(events))
    }
}

/// Records `value` under target/mve-results/indexer-consistency/ and panics with the verdict's
/// summary (first and worst difference) if it is not valid.
pub fn assert_consistent(test: &str, verdict: &Verdict, extra: serde_json::Value) {
    let record = serde_json::json!({ "verdict": verdict, "run": extra });
    let path = harness::results::write_json("indexer-consistency", test, &record).expect("result file");
    eprintln!("{}\nresult: {}", verdict.summary(), path.display());
    assert!(verdict.valid, "{}", verdict.summary());
}

/// Rows above the cursor, stored hashes the chain no longer has, stray events: the harness's DB
/// check over the reference indexer's block-tagged tables.
pub async fn orphans(env: &Env) -> anyhow::Result<Vec<String>> {
    Ok(checker::orphans(&env.db.pool, env.p()).await?)
}
