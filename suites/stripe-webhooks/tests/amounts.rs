//! Amounts: a success that does not match the purchase is flagged, not credited; refunds are
//! cumulative; a refund larger than the balance stops at zero and leaves a debt line.

mod common;

use common::{Env, SECRET};
use serde_json::json;

#[tokio::test]
async fn a_mismatched_amount_is_flagged_and_not_credited() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, mut pi) = env.purchase(&player, 1_000).await?;
    pi.status = "succeeded".into();
    pi.amount_received = 999;
    env.stripe.set(pi.clone());
    let d = env.deliver.send(&env.events.payment_intent("payment_intent.succeeded", &pi), SECRET).await?;
    assert_eq!((d.status, d.outcome()), (200, "flagged_for_review"), "{}", d.body);
    let purchase = env.purchase_status(&id).await?;
    assert_eq!(purchase["status"], "REVIEW");
    assert!(purchase["review_reason"].as_str().unwrap_or_default().contains("999"));
    assert_eq!(env.balance(&player).await?.balance, 0);
    env.check_ledger().await
}

/// payments.md: "The amount received must equal `metadata.credits` cents". Here the amount matches
/// the stored purchase but not the intent's `metadata.credits`.
#[tokio::test]
async fn a_success_is_checked_against_metadata_credits() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, mut pi) = env.purchase(&player, 1_000).await?;
    pi.status = "succeeded".into();
    pi.amount_received = 1_000;
    pi.metadata.insert("credits".into(), "900".into());
    env.stripe.set(pi.clone());
    let d = env.deliver.send(&env.events.payment_intent("payment_intent.succeeded", &pi), SECRET).await?;
    assert_eq!((d.status, d.outcome()), (200, "flagged_for_review"), "{}", d.body);
    let purchase = env.purchase_status(&id).await?;
    assert_eq!(purchase["status"], "REVIEW");
    assert!(purchase["review_reason"].as_str().unwrap_or_default().contains("metadata.credits 900"), "{purchase}");
    assert_eq!(env.balance(&player).await?.balance, 0);
    env.check_ledger().await
}

#[tokio::test]
async fn a_success_without_metadata_credits_is_flagged() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, mut pi) = env.purchase(&player, 1_000).await?;
    pi.status = "succeeded".into();
    pi.amount_received = 1_000;
    pi.metadata.remove("credits");
    env.stripe.set(pi.clone());
    let d = env.deliver.send(&env.events.payment_intent("payment_intent.succeeded", &pi), SECRET).await?;
    assert_eq!(d.outcome(), "flagged_for_review", "{}", d.body);
    assert_eq!(env.purchase_status(&id).await?["status"], "REVIEW");
    assert_eq!(env.balance(&player).await?.balance, 0);
    env.check_ledger().await
}

#[tokio::test]
async fn a_mismatched_currency_is_flagged_and_not_credited() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, mut pi) = env.purchase(&player, 1_000).await?;
    pi.status = "succeeded".into();
    pi.amount_received = 1_000;
    pi.currency = "eur".into();
    env.stripe.set(pi.clone());
    let d = env.deliver.send(&env.events.payment_intent("payment_intent.succeeded", &pi), SECRET).await?;
    assert_eq!(d.outcome(), "flagged_for_review");
    assert_eq!(env.purchase_status(&id).await?["status"], "REVIEW");
    assert_eq!(env.balance(&player).await?.balance, 0);
    env.check_ledger().await
}

/// The event claims success while Stripe's current intent is still unpaid: nothing is credited,
/// and nothing is recorded either (503), so that Stripe's redelivery, once its API agrees, applies
/// it. Recording it as ignored made every redelivery a duplicate: the payment was never credited
/// (review S3).
#[tokio::test]
async fn the_event_copy_is_not_trusted_over_stripes_current_intent_and_its_redelivery_applies_once_stripe_agrees() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, pi) = env.purchase(&player, 1_000).await?;
    let event = env.events.succeeded(&pi);
    let d = env.deliver.send(&event, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (503, "not_yet_succeeded"), "{}", d.body);
    assert_eq!(env.balance(&player).await?.balance, 0);
    assert_eq!(env.purchase_status(&id).await?["status"], "PENDING");
    env.stripe.succeed(&pi.id)?;
    let again = env.deliver.send(&event, SECRET).await?;
    assert_eq!((again.status, again.outcome()), (200, "applied"), "{}", again.body);
    assert_eq!(env.balance(&player).await?.balance, 1_000);
    env.check_ledger().await
}

#[tokio::test]
async fn partial_refunds_debit_only_the_newly_refunded_part() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    let first = env.events.charge_refunded(&pi, 100);
    let second = env.events.charge_refunded(&pi, 350);
    // Out of order, and the first one twice.
    for e in [&second, &first, &first] {
        assert_eq!(env.deliver.send(e, SECRET).await?.status, 200);
    }
    assert_eq!(env.balance(&player).await?.balance, 650);
    assert_eq!(env.ledger(&player).await?, vec![("PURCHASE".into(), 1_000), ("REFUND".into(), -350)]);
    env.check_ledger().await
}

#[tokio::test]
async fn a_full_refund_after_partials_takes_the_rest() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    for refunded in [200, 500, 1_000] {
        env.deliver.send(&env.events.charge_refunded(&pi, refunded), SECRET).await?;
    }
    assert_eq!(env.balance(&player).await?.balance, 0);
    let refunds: i64 = env.ledger(&player).await?.iter().filter(|(k, _)| k == "REFUND").map(|(_, a)| a).sum();
    assert_eq!(refunds, -1_000);
    env.check_ledger().await
}

#[tokio::test]
async fn a_refund_larger_than_the_balance_stops_at_zero_and_records_the_debt() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    let (status, _) = env.post(&format!("/players/{player}/spend"), json!({ "credits": 800 })).await?;
    assert_eq!(status, 200);
    env.deliver.send(&env.events.charge_refunded(&pi, 1_000), SECRET).await?;
    let b = env.balance(&player).await?;
    assert_eq!((b.balance, b.debt), (0, 800));
    let (_, history) = env.get(&format!("/players/{player}/history")).await?;
    assert_eq!(history["debts"][0]["shortfall"], 800);
    assert_eq!(history["debts"][0]["kind"], "REFUND");
    env.check_ledger().await
}

#[tokio::test]
async fn purchase_amounts_outside_100_to_100000_credits_are_refused() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    for credits in [0, 99, 100_001, -5] {
        let (status, body) = env.post("/purchases", json!({ "player_id": player, "credits": credits })).await?;
        assert_eq!(status, 400, "{credits}: {body}");
        assert!(body["error"].as_str().unwrap_or_default().contains("100..=100000"));
    }
    assert!(env.stripe.requests("POST", "/v1/payment_intents").await.is_empty(), "nothing reached Stripe");
    for credits in [100, 100_000] {
        env.purchase(&player, credits).await?;
    }
    env.check_ledger().await
}
