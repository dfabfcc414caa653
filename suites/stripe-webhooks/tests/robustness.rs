//! What Stripe (or an attacker) may send that is not a normal event: unknown types, the other
//! mode, malformed or unreadable bodies after a valid signature, oversized bodies.

mod common;

use common::{Env, SECRET};
use harness::stripe::{header, now};
use serde_json::json;

#[tokio::test]
async fn an_unknown_event_type_is_200_and_recorded_as_ignored() -> anyhow::Result<()> {
    let env = Env::new().await?;
    // A type newer than the Stripe crate knows of (Stripe adds types; they must not break us).
    let event = env.events.envelope("billing.meter.future_kind_of_event", json!({ "id": "bm_1", "object": "billing.meter" }));
    let first = env.deliver.send(&event, SECRET).await?;
    assert_eq!((first.status, first.outcome()), (200, "ignored"), "{}", first.body);
    let again = env.deliver.send(&event, SECRET).await?;
    assert_eq!((again.status, again.outcome()), (200, "duplicate"));
    env.check_ledger().await
}

#[tokio::test]
async fn a_live_mode_event_sent_to_test_mode_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 500).await?;
    let live = harness::stripe::Events::new(true).succeeded(&pi);
    let d = env.deliver.send(&live, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (400, "rejected_mode"), "{}", d.body);
    assert_eq!(env.balance(&player).await?.balance, 0);
    env.check_ledger().await
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_400() -> anyhow::Result<()> {
    let env = Env::new().await?;
    for body in ["{\"id\": \"evt_1\", \"type\": ", "not json at all", "[]", ""] {
        let d = env.deliver.raw(body.to_string(), Some(&header(SECRET, now(), body))).await?;
        assert_eq!((d.status, d.outcome()), (400, "rejected_payload"), "{body:?}: {}", d.body);
    }
    env.check_ledger().await
}

#[tokio::test]
async fn a_known_type_with_an_unknown_object_shape_is_400() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let event = env.events.envelope("payment_intent.succeeded", json!({ "id": "pi_x", "object": "payment_intent", "amount": "lots" }));
    let d = env.deliver.send(&event, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (400, "rejected_payload"), "{}", d.body);
    env.check_ledger().await
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_400() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let d = env.deliver.raw(vec![0xff, 0xfe, 0x00, 0x7b], Some(&format!("t={},v1={}", now(), "00".repeat(32)))).await?;
    assert_eq!(d.status, 400);
    env.check_ledger().await
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let body = format!("{{\"padding\": \"{}\"}}", "x".repeat(1024 * 1024));
    let d = env.deliver.raw(body.clone(), Some(&header(SECRET, now(), &body))).await?;
    assert_eq!(d.status, 413, "{}", d.body);
    env.check_ledger().await
}

#[tokio::test]
async fn bad_api_input_is_4xx_never_5xx() -> anyhow::Result<()> {
    let env = Env::new().await?;
    for (path, body) in [
        ("/purchases", json!({ "player_id": "", "credits": 500 })),
        ("/purchases", json!({ "player_id": "a b", "credits": 500 })),
        ("/purchases", json!({ "credits": 500 })),
        ("/purchases", json!({ "player_id": "p", "credits": "500" })),
        ("/players/p/spend", json!({ "credits": 0 })),
        ("/players/p/spend", json!({ "credits": 10 })),
    ] {
        let (status, answer) = env.post(path, body.clone()).await?;
        assert!((400..500).contains(&status), "POST {path} {body}: {status} {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    for path in ["/purchases/xyz", "/purchases/00000000000000000000000000000000", "/players/a%20b/balance", "/nope"] {
        let (status, answer) = env.get(path).await?;
        assert!((400..500).contains(&status), "GET {path}: {status} {answer}");
    }
    let (status, health) = env.get("/health").await?;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let metrics = env.http.get(format!("{}/metrics", env.base)).send().await?.text().await?;
    assert!(metrics.contains("payments_purchases_total{outcome=\"created\"} 0"), "{metrics}");
    assert!(metrics.contains("payments_webhooks_total{outcome=\"applied\"} 0"), "{metrics}");
    env.check_ledger().await
}
