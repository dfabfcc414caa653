//! The L3 over JSON-RPC: the head, block headers and our contracts' logs.

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use futures::{StreamExt, TryStreamExt};

use crate::store::BlockRef;

/// One RPC may not hang the loop: a cut link drops packets rather than refusing.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers fetched at once while catching up.
const HEADER_CONCURRENCY: usize = 16;

#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    addresses: Vec<Address>,
}

impl Chain {
    pub fn new(rpc_url: &str, addresses: Vec<Address>) -> anyhow::Result<Chain> {
        let mut builder = alloy::transports::http::reqwest::Client::builder().timeout(RPC_TIMEOUT);
        if rpc_url.starts_with("http://") {
            // A plain-HTTP node needs no trust store, and minimal images ship none.
            builder = builder.tls_certs_only(Vec::new());
        }
        let client = builder.build()?;
        let transport = alloy::transports::http::Http::with_client(client, rpc_url.parse()?);
        let rpc = alloy::rpc::client::RpcClient::new(transport, true);
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_client(rpc).erased();
        Ok(Chain { provider, addresses })
    }

    pub async fn head(&self) -> anyhow::Result<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// The header at `number`, or `None` if the chain is not that long (any more).
    pub async fn header(&self, number: u64) -> anyhow::Result<Option<BlockRef>> {
        let block = self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).await?;
        Ok(block.map(|b| BlockRef { number, hash: b.header.hash, parent_hash: b.header.parent_hash }))
    }

    /// Headers `from..=to`; fails if any is missing (the chain shrank under us: retry later).
    pub async fn headers(&self, from: u64, to: u64) -> anyhow::Result<Vec<BlockRef>> {
        futures::stream::iter(from..=to)
            .map(|n| async move { self.header(n).await?.ok_or_else(|| anyhow::anyhow!("block {n} vanished while fetching")) })
            .buffered(HEADER_CONCURRENCY)
            .try_collect()
            .await
    }

    pub async fn logs(&self, from: u64, to: u64) -> anyhow::Result<Vec<Log>> {
        let filter = Filter::new().address(self.addresses.clone()).from_block(from).to_block(to);
        let mut logs = self.provider.get_logs(&filter).await?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        Ok(logs)
    }
}
