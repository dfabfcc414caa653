//! Every documented Stripe API error family, on `POST /purchases` (creating the PaymentIntent) and
//! on the read the webhook handler makes (the current PaymentIntent). The retry policy is checked
//! on the requests wiremock recorded: how many, and all with the same idempotency key; and the
//! answer the player gets.

mod common;

use std::time::Duration;

use common::{Env, SECRET, Setup};
use harness::stripe::{ApiError, DroppingServer};
use serde_json::json;

const CREATE: &str = r"^/v1/payment_intents$";
const READ: &str = r"^/v1/payment_intents/pi_[0-9a-f]+$";
/// Setup's default: 3 retries after the first attempt.
const ATTEMPTS: usize = 4;

/// `POST /purchases` while Stripe answers `error` to the first `times` creations.
async fn purchase_against(error: ApiError, times: u64) -> anyhow::Result<(Env, String, u16, serde_json::Value)> {
    let env = Env::new().await?;
    env.stripe.fail("POST", CREATE, error, times).await;
    let player = env.player();
    let (status, body) = env.post("/purchases", json!({ "player_id": player, "credits": 1_000 })).await?;
    Ok((env, player, status, body))
}

/// The creations Stripe saw, and the idempotency key they all carried.
async fn creations(env: &Env) -> (usize, Vec<String>) {
    let requests = env.stripe.requests("POST", "/v1/payment_intents").await;
    let mut keys: Vec<String> = requests.iter().map(|r| r.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()).collect();
    keys.dedup();
    (requests.len(), keys)
}

/// A family Stripe will answer the same way again: one attempt, a specific error, purchase FAILED.
async fn not_retried(error: ApiError, status: u16, code: &str) -> anyhow::Result<()> {
    let (env, _, got, body) = purchase_against(error, 10).await?;
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()));
    let (n, keys) = creations(&env).await;
    assert_eq!(n, 1, "not retried");
    assert_eq!(keys.len(), 1);
    let purchase = env.purchase_status(body["purchase_id"].as_str().unwrap_or_default()).await?;
    assert_eq!(purchase["status"], "FAILED", "{purchase}");
    env.check_ledger().await
}

/// A transient family: retried with the same idempotency key until the bound, then a 503.
async fn retried_then_given_up(error: ApiError) -> anyhow::Result<()> {
    let (env, _, got, body) = purchase_against(error, 100).await?;
    assert_eq!(got, 503, "{body}");
    let (n, keys) = creations(&env).await;
    assert_eq!(n, ATTEMPTS, "1 attempt + 3 retries");
    assert_eq!(keys.len(), 1, "every retry reuses the idempotency key: {keys:?}");
    assert!(keys[0].starts_with("purchase-"), "{keys:?}");
    // The outcome is unknown to the service, so the purchase stays PENDING for a webhook to settle.
    let purchase = env.purchase_status(body["purchase_id"].as_str().unwrap_or_default()).await?;
    assert_eq!(purchase["status"], "PENDING");
    env.check_ledger().await
}

#[tokio::test]
async fn create_invalid_request_error_is_not_retried() -> anyhow::Result<()> {
    not_retried(ApiError::InvalidRequest, 502, "payment_rejected").await
}

#[tokio::test]
async fn create_authentication_error_is_not_retried() -> anyhow::Result<()> {
    not_retried(ApiError::Authentication, 502, "payments_misconfigured").await
}

#[tokio::test]
async fn create_card_declined_tells_the_player() -> anyhow::Result<()> {
    not_retried(ApiError::Card { decline_code: "card_declined" }, 402, "card_declined").await
}

#[tokio::test]
async fn create_insufficient_funds_names_the_decline_code() -> anyhow::Result<()> {
    let (env, _, status, body) = purchase_against(ApiError::Card { decline_code: "insufficient_funds" }, 1).await?;
    assert_eq!(status, 402);
    assert!(body["error"].as_str().unwrap_or_default().contains("insufficient_funds"), "{body}");
    env.check_ledger().await
}

#[tokio::test]
async fn create_expired_card_names_the_decline_code() -> anyhow::Result<()> {
    let (env, _, status, body) = purchase_against(ApiError::Card { decline_code: "expired_card" }, 1).await?;
    assert_eq!(status, 402);
    assert!(body["error"].as_str().unwrap_or_default().contains("expired_card"), "{body}");
    env.check_ledger().await
}

#[tokio::test]
async fn create_permission_error_is_not_retried() -> anyhow::Result<()> {
    not_retried(ApiError::Permission, 502, "payments_misconfigured").await
}

#[tokio::test]
async fn create_resource_missing_is_not_retried() -> anyhow::Result<()> {
    not_retried(ApiError::ResourceMissing, 502, "payment_rejected").await
}

#[tokio::test]
async fn create_idempotency_error_is_a_conflict() -> anyhow::Result<()> {
    not_retried(ApiError::Idempotency, 409, "purchase_conflict").await
}

#[tokio::test]
async fn create_rate_limit_is_retried_with_the_same_key_then_503() -> anyhow::Result<()> {
    retried_then_given_up(ApiError::RateLimit).await
}

#[tokio::test]
async fn create_api_error_500_is_retried_then_503() -> anyhow::Result<()> {
    retried_then_given_up(ApiError::Api { status: 500 }).await
}

#[tokio::test]
async fn create_api_error_502_is_retried_then_503() -> anyhow::Result<()> {
    retried_then_given_up(ApiError::Api { status: 502 }).await
}

#[tokio::test]
async fn create_api_error_503_is_retried_then_503() -> anyhow::Result<()> {
    retried_then_given_up(ApiError::Api { status: 503 }).await
}

#[tokio::test]
async fn create_api_error_504_is_retried_then_503() -> anyhow::Result<()> {
    retried_then_given_up(ApiError::Api { status: 504 }).await
}

#[tokio::test]
async fn a_rate_limit_that_clears_within_the_retries_creates_the_purchase_once() -> anyhow::Result<()> {
    let (env, player, status, body) = purchase_against(ApiError::RateLimit, 2).await?;
    assert_eq!(status, 201, "{body}");
    let (n, keys) = creations(&env).await;
    assert_eq!((n, keys.len()), (3, 1));
    // And the purchase completes normally.
    let pi = env.stripe.succeed(body["payment_intent"].as_str().unwrap_or_default())?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    assert_eq!(env.balance(&player).await?.balance, 1_000);
    env.check_ledger().await
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() -> anyhow::Result<()> {
    let env = Env::new().await?;
    env.stripe.slow("POST", CREATE, Duration::from_millis(2_500), 1).await;
    let player = env.player();
    let (status, body) = env.post("/purchases", json!({ "player_id": player, "credits": 500 })).await?;
    assert_eq!(status, 201, "{body}");
    let (n, keys) = creations(&env).await;
    assert_eq!((n, keys.len()), (2, 1), "the timed-out attempt and one retry, same key");
    env.check_ledger().await
}

#[tokio::test]
async fn dropped_connections_are_retried_a_bounded_number_of_times() -> anyhow::Result<()> {
    let gateway = harness::Stack::builder().mariadb().shared().await?.gateway_ip().await?;
    let dropper = DroppingServer::start(gateway).await?;
    let env = Env::with(Setup { api_base: Some(dropper.url.clone()), ..Setup::default() }).await?;
    let player = env.player();
    let (status, body) = env.post("/purchases", json!({ "player_id": player, "credits": 500 })).await?;
    assert_eq!((status, body["code"].as_str()), (503, Some("payments_unavailable")), "{body}");
    assert_eq!(dropper.accepted.load(std::sync::atomic::Ordering::Relaxed), ATTEMPTS);
    env.check_ledger().await
}

/// The webhook handler's read of the current PaymentIntent fails with `error` (every attempt):
/// the delivery gets a 503 and changes nothing; Stripe's redelivery after recovery applies once.
async fn read_fails(error: ApiError, attempts: usize) -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.stripe.fail("GET", READ, error, attempts as u64).await;
    let event = env.events.succeeded(&pi);
    let d = env.deliver.send(&event, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (503, "stripe_unavailable"), "{}", d.body);
    assert_eq!(env.stripe.requests("GET", "/v1/payment_intents/").await.len(), attempts);
    assert_eq!(env.balance(&player).await?.balance, 0);
    let (d, _) = env.deliver.until_accepted(&event, SECRET, 3, Duration::from_millis(50)).await?;
    assert_eq!(d.outcome(), "applied");
    assert_eq!(env.deliver.send(&event, SECRET).await?.outcome(), "duplicate");
    assert_eq!(env.balance(&player).await?.balance, 1_000);
    env.check_ledger().await
}

#[tokio::test]
async fn read_invalid_request_error_is_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::InvalidRequest, 1).await
}

#[tokio::test]
async fn read_authentication_error_is_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::Authentication, 1).await
}

#[tokio::test]
async fn read_permission_error_is_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::Permission, 1).await
}

#[tokio::test]
async fn read_resource_missing_is_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::ResourceMissing, 1).await
}

#[tokio::test]
async fn read_rate_limit_is_retried_then_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::RateLimit, ATTEMPTS).await
}

#[tokio::test]
async fn read_api_error_is_retried_then_503_then_applied_once() -> anyhow::Result<()> {
    read_fails(ApiError::Api { status: 502 }, ATTEMPTS).await
}

/// A repeat of an applied success while Stripe's API is down: 200, `duplicate`, and no call to
/// Stripe (review S2: the service read the intent before it checked the event id, so every repeat
/// cost a Stripe call and, during an outage, answered 503 to an event it had long applied).
#[tokio::test]
async fn a_repeat_of_an_applied_success_is_200_while_stripe_is_down_and_asks_stripe_nothing() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    let event = env.events.succeeded(&pi);
    assert_eq!(env.deliver.send(&event, SECRET).await?.outcome(), "applied");
    let reads = env.stripe.requests("GET", "/v1/payment_intents/").await.len();
    env.stripe.fail("GET", READ, ApiError::Api { status: 503 }, 100).await;
    for _ in 0..3 {
        let d = env.deliver.send(&event, SECRET).await?;
        assert_eq!((d.status, d.outcome()), (200, "duplicate"), "{}", d.body);
    }
    assert_eq!(env.stripe.requests("GET", "/v1/payment_intents/").await.len(), reads, "a repeat read Stripe");
    assert_eq!(env.balance(&player).await?.balance, 1_000);
    env.check_ledger().await
}
