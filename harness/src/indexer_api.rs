//! A typed client of the indexer's HTTP API, written from the API's JSON (not from the indexer's
//! types), so that the suites test the wire format the platform's clients see.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotView {
    pub id: u64,
    pub owner: Address,
    pub xp: u64,
    pub level: u8,
    pub class: u8,
    pub affiliation: u8,
    pub base: [u16; 12],
    pub final_stats: [u16; 12],
    pub equipped: [u64; 4],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    pub id: u64,
    pub owner: Address,
    pub item_type: u8,
    pub rarity: u8,
    pub condition: u8,
    pub boosts: [u16; 12],
    pub class_affinities: u16,
    pub trait_affiliation: u8,
    pub equipped_on: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub block_number: u64,
    pub log_index: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub address: Address,
    pub kind: String,
    pub topics: Vec<B256>,
    pub data: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatusView {
    pub current_block: Option<u64>,
    pub current_hash: Option<String>,
    pub chain_head: Option<u64>,
    pub lag: Option<u64>,
    pub events_per_second: f64,
    pub events_indexed: u64,
    pub reorgs: u64,
    pub deepest_reorg: u64,
    pub chain_reachable: bool,
    pub database_reachable: bool,
    pub redis_reachable: Option<bool>,
    pub last_error: Option<String>,
}

/// The widest block range one `/events` request may span, and the most events it returns (the
/// reference indexer's documented limits).
pub const EVENTS_PAGE_BLOCKS: u64 = 10_000;
pub const EVENTS_PAGE_LIMIT: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct IndexerApi {
    base: String,
    http: reqwest::Client,
}

/// A raw answer: status code and JSON body (for the API's own tests).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl IndexerApi {
    pub fn new(base: &str) -> IndexerApi {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client builds");
        IndexerApi { base: base.trim_end_matches('/').to_string(), http }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Answer> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.map_err(|e| Error::Config(format!("GET {path}: {e}")))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Error::Config(format!("GET {path}: body: {e}")))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    async fn ok<T: DeserializeOwned>(&self, path: &str, field: &str) -> Result<Option<(u64, T)>> {
        let answer = self.get(path).await?;
        match answer.status {
            200 => {
                let block = answer.body["block"].as_u64().ok_or_else(|| Error::Config(format!("GET {path}: no block in {}", answer.body)))?;
                let value = serde_json::from_value(answer.body[field].clone()).map_err(|e| Error::Config(format!("GET {path}: {field}: {e} in {}", answer.body)))?;
                Ok(Some((block, value)))
            }
            404 => Ok(None),
            s => Err(Error::Config(format!("GET {path}: {s} {}", answer.body))),
        }
    }

    fn at(block: Option<u64>) -> String {
        block.map(|b| format!("?at={b}")).unwrap_or_default()
    }

    /// The robot as of `at` (the indexer's latest block if `None`), with the block it is true at.
    pub async fn robot(&self, id: u64, at: Option<u64>) -> Result<Option<(u64, RobotView)>> {
        self.ok(&format!("/robots/{id}{}", Self::at(at)), "robot").await
    }

    pub async fn item(&self, id: u64, at: Option<u64>) -> Result<Option<(u64, ItemView)>> {
        self.ok(&format!("/items/{id}{}", Self::at(at)), "item").await
    }

    pub async fn items_of(&self, owner: Address, at: Option<u64>) -> Result<(u64, Vec<ItemView>)> {
        let path = format!("/owners/{owner:#x}/items{}", Self::at(at));
        self.ok(&path, "items").await?.ok_or_else(|| Error::Config(format!("GET {path}: 404")))
    }

    pub async fn balance(&self, owner: Address, at: Option<u64>) -> Result<(u64, U256)> {
        let path = format!("/owners/{owner:#x}/balance{}", Self::at(at));
        let (block, text): (u64, String) = self.ok(&path, "balance").await?.ok_or_else(|| Error::Config(format!("GET {path}: 404")))?;
        Ok((block, text.parse().map_err(|e| Error::Config(format!("GET {path}: balance {text:?}: {e}")))?))
    }

    pub async fn robot_ids(&self, at: u64) -> Result<Vec<u64>> {
        Ok(self.ok(&format!("/robots?at={at}"), "ids").await?.map(|(_, v)| v).unwrap_or_default())
    }

    pub async fn item_ids(&self, at: u64) -> Result<Vec<u64>> {
        Ok(self.ok(&format!("/items?at={at}"), "ids").await?.map(|(_, v)| v).unwrap_or_default())
    }

    pub async fn players(&self, at: u64) -> Result<Vec<Address>> {
        Ok(self.ok(&format!("/players?at={at}"), "players").await?.map(|(_, v)| v).unwrap_or_default())
    }

    /// Every stored event in `from..=to`, fetched in pages of at most [`EVENTS_PAGE_BLOCKS`]
    /// blocks; a range whose events fill a page is halved until they fit (a chaos schedule of
    /// 2026-12-08 had more than 10,000 events in its first 10,000 blocks).
    pub async fn events(&self, from: u64, to: u64) -> Result<Vec<EventView>> {
        paged(from, to, EVENTS_PAGE_BLOCKS, EVENTS_PAGE_LIMIT, |start, end| self.events_page(start, end, None)).await
    }

    /// One `GET /events` request: the events of `from..=to`, at most `limit` of them.
    pub async fn events_page(&self, from: u64, to: u64, limit: Option<u64>) -> Result<Vec<EventView>> {
        let path = format!("/events?from={from}&to={to}{}", limit.map(|l| format!("&limit={l}")).unwrap_or_default());
        let answer = self.get(&path).await?;
        if answer.status != 200 {
            return Err(Error::Config(format!("GET {path}: {} {}", answer.status, answer.body)));
        }
        serde_json::from_value(answer.body["events"].clone()).map_err(|e| Error::Config(format!("GET {path}: {e}")))
    }

    pub async fn status(&self) -> Result<StatusView> {
        let answer = self.get("/status").await?;
        if answer.status != 200 {
            return Err(Error::Config(format!("GET /status: {} {}", answer.status, answer.body)));
        }
        serde_json::from_value(answer.body.clone()).map_err(|e| Error::Config(format!("GET /status: {e} in {}", answer.body)))
    }

    /// Polls `/status` until the indexer has applied `block`; the error says where it stood.
    pub async fn wait_for_block(&self, block: u64, timeout: Duration) -> Result<StatusView> {
        crate::wait::until(&format!("indexer reaching block {block}"), timeout, || async {
            let s = self.status().await?;
            let done = s.current_block.is_some_and(|c| c >= block);
            if done { Ok(Some(s)) } else { Err(Error::Config(format!("at {:?} of head {:?}, last error {:?}", s.current_block, s.chain_head, s.last_error))) }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))
    }

    /// Polls until the indexer stands exactly at `block` with that block's `hash`: after a reorg,
    /// merely reaching the number is not enough.
    pub async fn wait_for_hash(&self, block: u64, hash: B256, timeout: Duration) -> Result<StatusView> {
        let want = format!("{hash:#x}");
        crate::wait::until(&format!("indexer at block {block} {want}"), timeout, || async {
            let s = self.status().await?;
            if s.current_block == Some(block) && s.current_hash.as_deref() == Some(want.as_str()) {
                Ok(Some(s))
            } else {
                Err(Error::Config(format!("at {:?} {:?}, last error {:?}", s.current_block, s.current_hash, s.last_error)))
            }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))
    }
}

/// `fetch(start, end)` over `from..=to` in block ranges of at most `span`, halving a range whose
/// answer reaches `limit` (it may have been cut short); one block alone over the limit is an error.
async fn paged<T, F, Fut>(from: u64, to: u64, span: u64, limit: u64, mut fetch: F) -> Result<Vec<T>>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>>>,
{
    let mut all = Vec::new();
    let (mut start, mut span) = (from, span.max(1));
    while start <= to {
        let end = to.min(start.saturating_add(span - 1));
        let page = fetch(start, end).await?;
        if page.len() as u64 >= limit {
            if end == start {
                return Err(Error::Config(format!("GET /events?from={start}&to={end}: one block holds {limit} events or more, the API's page limit")));
            }
            let blocks = end - start + 1;
            span = blocks / 2;
            continue;
        }
        all.extend(page);
        start = end + 1;
        if end == u64::MAX {
            break;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake API: `per_block` events in every block, answering at most `limit` per request.
    async fn run(from: u64, to: u64, span: u64, limit: u64, per_block: u64) -> (Result<Vec<u64>>, usize) {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let out = paged(from, to, span, limit, |s, e| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let events: Vec<u64> = (s..=e).flat_map(|b| std::iter::repeat_n(b, per_block as usize)).take(limit as usize).collect();
            async move { Ok(events) }
        })
        .await;
        (out, calls.load(std::sync::atomic::Ordering::Relaxed))
    }

    #[tokio::test]
    async fn a_full_page_is_split_until_every_event_is_fetched_once() {
        let (events, calls) = run(0, 99, 100, 50, 2).await;
        let events = events.unwrap();
        assert_eq!(events.len(), 200, "every event of 100 blocks, two each");
        assert!(events.windows(2).all(|w| w[0] <= w[1]), "in block order, none twice");
        assert!(calls > 2, "the full first page was split ({calls} calls)");
        let (small, calls) = run(5, 9, 100, 50, 1).await;
        assert_eq!((small.unwrap().len(), calls), (5, 1), "a range that fits is one request");
        let (crowded, _) = run(0, 3, 100, 10, 10).await;
        assert!(crowded.unwrap_err().to_string().contains("one block holds 10 events or more"));
    }
}
