//! The `Stripe-Signature` header, case by case. Every rejection is a 400 that changes nothing: the
//! same event correctly signed afterwards is still applied (so the rejected one was not recorded).

mod common;

use common::{Env, ROTATED, SECRET, Setup};
use harness::stripe::{Event, TOLERANCE_SECONDS, header, header_multi, now};

/// A paid purchase's `payment_intent.succeeded`, not yet delivered.
async fn pending_credit(env: &Env, credits: i64) -> anyhow::Result<(String, Event)> {
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, credits).await?;
    Ok((player, env.events.succeeded(&pi)))
}

/// Delivers `event` with `signature`, expects a 400 and no credit; then shows the event was not
/// consumed by applying it properly.
async fn rejected(env: &Env, player: &str, event: &Event, body: &str, signature: Option<&str>) -> anyhow::Result<()> {
    let d = env.deliver.raw(body.to_string(), signature).await?;
    assert_eq!(d.status, 400, "expected a rejection, got {} {}", d.status, d.body);
    assert_eq!(env.balance(player).await?.balance, 0, "a rejected delivery credits nothing");
    let d = env.deliver.send(event, SECRET).await?;
    assert_eq!((d.status, d.outcome()), (200, "applied"), "{}", d.body);
    env.check_ledger().await
}

async fn accepted(env: &Env, player: &str, event: &Event, signature: &str, credits: i64) -> anyhow::Result<()> {
    let d = env.deliver.raw(event.payload.clone(), Some(signature)).await?;
    assert_eq!((d.status, d.outcome()), (200, "applied"), "{}", d.body);
    assert_eq!(env.balance(player).await?.balance, credits);
    env.check_ledger().await
}

#[tokio::test]
async fn a_valid_signature_is_accepted() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    accepted(&env, &player, &event, &header(SECRET, now(), &event.payload), 500).await
}

#[tokio::test]
async fn a_wrong_secret_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    rejected(&env, &player, &event, &event.payload, Some(&header("whsec_not_ours", now(), &event.payload))).await
}

#[tokio::test]
async fn a_body_tampered_by_one_byte_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    let signature = header(SECRET, now(), &event.payload);
    let tampered = event.payload.replacen("\"amount\":500", "\"amount\":600", 1);
    assert_eq!(tampered.len(), event.payload.len());
    assert_ne!(tampered, event.payload);
    rejected(&env, &player, &event, &tampered, Some(&signature)).await
}

#[tokio::test]
async fn a_timestamp_just_inside_300_s_in_the_past_is_accepted() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    // 5 s of margin for the trip: still well inside the window, as close as a test can be.
    accepted(&env, &player, &event, &header(SECRET, now() - TOLERANCE_SECONDS + 5, &event.payload), 500).await
}

#[tokio::test]
async fn a_timestamp_just_outside_300_s_in_the_past_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    rejected(&env, &player, &event, &event.payload, Some(&header(SECRET, now() - TOLERANCE_SECONDS - 2, &event.payload))).await
}

#[tokio::test]
async fn a_timestamp_just_inside_300_s_in_the_future_is_accepted() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    accepted(&env, &player, &event, &header(SECRET, now() + TOLERANCE_SECONDS - 5, &event.payload), 500).await
}

#[tokio::test]
async fn a_timestamp_just_outside_300_s_in_the_future_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    rejected(&env, &player, &event, &event.payload, Some(&header(SECRET, now() + TOLERANCE_SECONDS + 2, &event.payload))).await
}

#[tokio::test]
async fn several_v1_entries_are_accepted_when_any_matches() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 700).await?;
    let signature = header_multi(&["whsec_other_one", SECRET, "whsec_other_two"], now(), &event.payload);
    accepted(&env, &player, &event, &signature, 700).await
}

#[tokio::test]
async fn during_a_secret_rotation_either_secret_is_accepted() -> anyhow::Result<()> {
    let env = Env::with(Setup { secrets: vec![SECRET, ROTATED], ..Setup::default() }).await?;
    let (player, old) = pending_credit(&env, 300).await?;
    let d = env.deliver.raw(old.payload.clone(), Some(&header(SECRET, now(), &old.payload))).await?;
    assert_eq!((d.status, d.outcome()), (200, "applied"));
    let (_, pi) = env.paid_purchase(&player, 400).await?;
    let new = env.events.succeeded(&pi);
    accepted(&env, &player, &new, &header(ROTATED, now(), &new.payload), 700).await
}

#[tokio::test]
async fn a_missing_signature_header_is_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    rejected(&env, &player, &event, &event.payload, None).await
}

#[tokio::test]
async fn garbled_signature_headers_are_rejected() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let (player, event) = pending_credit(&env, 500).await?;
    let good = header(SECRET, now(), &event.payload);
    let v1 = good.split_once(",v1=").map(|(_, v)| v.to_string()).unwrap_or_default();
    for garbled in [
        String::new(),
        "garbage".to_string(),
        format!("v1={v1}"),                       // no timestamp
        format!("t=notanumber,v1={v1}"),          // unreadable timestamp
        format!("t={}", now()),                   // no v1
        format!("t={},v1=zz{}", now(), &v1[2..]), // not hex
        format!("t={},v0={v1}", now()),           // only the legacy scheme
    ] {
        let d = env.deliver.raw(event.payload.clone(), Some(&garbled)).await?;
        assert_eq!(d.status, 400, "{garbled:?} answered {} {}", d.status, d.body);
    }
    rejected(&env, &player, &event, &event.payload, Some("t=,v1=")).await
}
