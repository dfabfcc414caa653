//! The checker itself, against a real chain and a fake indexer (wiremock) that claims a robot and an
//! item the chain never minted: every mode must report both, not only the full check.

use alloy::providers::Provider;
use harness::checker::{self, Verdict};
use harness::indexer_api::IndexerApi;
use harness::Stack;
use mve_contracts::Deployment;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A fake indexer at `block` that knows robot 7 and item 9, neither of which exists on the chain.
async fn inventing_indexer(block: u64, owner: alloy::primitives::Address) -> MockServer {
    let server = MockServer::start().await;
    let ok = |body: serde_json::Value| ResponseTemplate::new(200).set_body_json(body);
    let robot = json!({ "id": 7, "owner": owner, "xp": 0, "level": 1, "class": 0, "affiliation": 0, "base": vec![0; 12], "final_stats": vec![0; 12], "equipped": vec![0; 4] });
    let item = json!({ "id": 9, "owner": owner, "item_type": 0, "rarity": 0, "condition": 100, "boosts": vec![0; 12], "class_affinities": 0, "trait_affiliation": 0, "equipped_on": 0 });
    let routes = [
        ("/status", json!({ "current_block": block, "events_per_second": 0.0, "events_indexed": 0, "reorgs": 0, "deepest_reorg": 0, "chain_reachable": true, "database_reachable": true })),
        ("/robots", json!({ "block": block, "ids": [7] })),
        ("/items", json!({ "block": block, "ids": [9] })),
        ("/players", json!({ "block": block, "players": [] })),
        ("/robots/7", json!({ "block": block, "robot": robot })),
        ("/items/9", json!({ "block": block, "item": item })),
        (&*format!("/owners/{owner:#x}/balance"), json!({ "block": block, "balance": "0" })),
    ];
    for (p, body) in routes {
        Mock::given(method("GET")).and(path(p)).respond_with(ok(body)).mount(&server).await;
    }
    server
}

fn invented(v: &Verdict) -> Vec<String> {
    let mut found: Vec<String> = v.differences.iter().filter(|d| d.field == "exists" && d.chain == "false").map(|d| d.entity.clone()).collect();
    found.sort();
    found
}

#[tokio::test]
async fn every_checker_mode_reports_entities_the_chain_does_not_have() -> anyhow::Result<()> {
    let stack = Stack::builder().anvil().shared().await?;
    let chain = stack.fresh_chain().await?;
    let accounts = chain.provider.get_accounts().await?;
    let d = Deployment::deploy(&chain.provider, accounts[0]).await?;
    let block = chain.provider.get_block_number().await?;
    let fake = inventing_indexer(block, accounts[1]).await;
    let api = IndexerApi::new(&fake.uri());
    let players = [accounts[1]];
    let want = vec!["item 9".to_string(), "robot 7".to_string()];

    let full = checker::full(&chain.provider, &d, &api, block, &players).await?;
    assert_eq!(invented(&full), want, "full: {}", full.summary());
    let sampled = checker::sampled(&chain.provider, &d, &api, block, &players, 1, 42).await?;
    assert!(!sampled.valid, "sampled: {}", sampled.summary());
    assert_eq!(invented(&sampled), want, "sampled: {}", sampled.summary());
    let latest = checker::latest(&chain.provider, &d, &api, &players).await?;
    assert!(!latest.valid, "latest: {}", latest.summary());
    assert_eq!(invented(&latest), want, "latest: {}", latest.summary());
    Ok(())
}
