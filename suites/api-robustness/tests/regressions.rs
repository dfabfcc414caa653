//! Bugs the robustness tests found in the services, each kept with the input that showed it
//! (`regression_<severity>_<what must hold>`). Each one failed before its fix.

mod common;

use std::time::Duration;

use api_robustness::data::Fingerprint;
use api_robustness::raw::{self, RawAnswer, RawRequest};

const ANSWER: Duration = Duration::from_secs(15);

fn assert_json_error(what: &str, a: &RawAnswer, status: u16) {
    assert_eq!(a.status, status, "{what}: {}", a.body_text());
    a.refused_cleanly().unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Found by the fuzz: axum answers a method a route lacks with an empty 405.
#[tokio::test(flavor = "multi_thread")]
async fn regression_p3_mve14_a_method_a_route_does_not_have_gets_a_json_405() {
    let mve = harness::mve::system::Mve::start(common::seed(14_101)).await.expect("the MVE starts");
    let (indexer, payments) = (common::addr(&mve.indexer.url().await.unwrap()), common::addr(&mve.payments_url().await.unwrap()));
    for (addr, method, path) in [(&indexer, "POST", "/events?from=0&to=1"), (&indexer, "OPTIONS", "/health"), (&payments, "FOO", "/webhooks/stripe"), (&payments, "GET", "/purchases")] {
        let a = raw::send(addr, &RawRequest::new(method, path), ANSWER).await.expect("an answer");
        assert_json_error(&format!("{method} {path}"), &a, 405);
    }
}

/// Found by the fuzz: a percent-escape that is not UTF-8 in a path parameter got axum's plain-text 400.
#[tokio::test(flavor = "multi_thread")]
async fn regression_p3_mve14_a_path_parameter_that_is_not_utf8_gets_a_json_400() {
    let mve = harness::mve::system::Mve::start(common::seed(14_102)).await.expect("the MVE starts");
    let (indexer, payments) = (common::addr(&mve.indexer.url().await.unwrap()), common::addr(&mve.payments_url().await.unwrap()));
    for (addr, path) in [(&indexer, "/items/%C0%AF"), (&indexer, "/owners/abc%FFdef/balance"), (&payments, "/players/%FF/balance"), (&payments, "/purchases/%ED%A0%80")] {
        let a = raw::send(addr, &RawRequest::new("GET", path), ANSWER).await.expect("an answer");
        assert_json_error(path, &a, 400);
    }
}

/// Found by the fuzz: `?at=290&at=13` answered at block 13 — the last value won, silently.
#[tokio::test(flavor = "multi_thread")]
async fn regression_p2_mve14_a_repeated_query_parameter_is_refused_not_resolved_to_its_last_value() {
    let mve = common::mve_with_history(common::seed(14_103), 10, &[]).await.expect("the MVE starts");
    let indexer = common::addr(&mve.indexer.url().await.unwrap());
    for path in ["/items?at=290&at=3", "/robots/1?at=1&at=1", "/owners/0x70997970c51812dc3a010c7d01b50e0d17dc79c8/balance?at=600&at=2", "/events?from=0&to=1&from=1"] {
        let a = raw::send(&indexer, &RawRequest::new("GET", path), ANSWER).await.expect("an answer");
        assert_json_error(path, &a, 400);
    }
}

/// Found by the fuzz: a purchase with a field the API does not have was created (and went to
/// Stripe) — a client's typo, such as `credit` next to `credits`, would pass unseen.
#[tokio::test(flavor = "multi_thread")]
async fn regression_p3_mve14_a_purchase_with_an_unknown_field_is_refused_and_reaches_no_table_or_stripe() {
    let mve = common::mve_with_history(common::seed(14_104), 1, &[]).await.expect("the MVE starts");
    let payments = common::addr(&mve.payments_url().await.unwrap());
    let before = Fingerprint::take(&mve).await.expect("fingerprint");
    for body in [r#"{"player_id":"fuzz_player","credits":500,"bonus":1}"#, r#"{"player_id":"fuzz_player","credits":500,"credit":50000}"#] {
        let a = raw::send(&payments, &RawRequest::new("POST", "/purchases").json(body), ANSWER).await.expect("an answer");
        assert_json_error(body, &a, 400);
    }
    let spend = raw::send(&payments, &RawRequest::new("POST", "/players/history_a/spend").json(r#"{"credits":5,"dry_run":true}"#), ANSWER).await.expect("an answer");
    assert_json_error("spend with an unknown field", &spend, 400);
    let changes = Fingerprint::take(&mve).await.expect("fingerprint").changes_since(&before);
    assert!(changes.is_empty(), "refused requests changed data: {changes:?}");
}

/// Found by the fuzz: a refused webhook said `{"message", "outcome"}`, every other 4xx `{"error"}`.
#[tokio::test(flavor = "multi_thread")]
async fn regression_p3_mve14_a_refused_webhook_names_its_error_like_every_other_4xx() {
    let mve = harness::mve::system::Mve::start(common::seed(14_105)).await.expect("the MVE starts");
    let payments = common::addr(&mve.payments_url().await.unwrap());
    let event = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","livemode":false,"created":1,"data":{"object":{}}}"#;
    let signed = harness::stripe::header(harness::mve::system::WEBHOOK_SECRET, harness::stripe::now(), "{");
    for (what, request) in [
        ("no signature", RawRequest::new("POST", "/webhooks/stripe").json(event)),
        ("a forged signature", RawRequest::new("POST", "/webhooks/stripe").json(event).header("Stripe-Signature", "t=1,v1=00")),
        ("signed, but not an event", RawRequest::new("POST", "/webhooks/stripe").json("{").header("Stripe-Signature", signed)),
    ] {
        let a = raw::send(&payments, &request, ANSWER).await.expect("an answer");
        assert_json_error(what, &a, 400);
        let body: serde_json::Value = serde_json::from_slice(&a.body).expect("JSON");
        assert!(body["outcome"].is_string(), "{what}: the outcome Stripe's dashboard shows is still there: {body}");
    }
}
