//! Disputes (payments.md: `charge.dispute.created` holds the disputed credits; `closed` as `won`
//! releases the hold, `lost` turns it into a loss), decided per Stripe's dispute statuses: `won`,
//! `warning_closed` (an inquiry that never became a chargeback) and `prevented` release the hold
//! completely, a debt the hold recorded included; `lost` keeps it; a `closed` event whose status ends
//! nothing keeps the hold.

mod common;

use common::{Balance, Env, SECRET};
use serde_json::json;

/// A purchase of 1,000 credits, 800 of them spent, then a dispute over all 1,000: the hold takes
/// the 200 left and records a debt of 800. Returns the env, the player and the intent.
async fn disputed_after_spending() -> anyhow::Result<(Env, String, harness::stripe::PaymentIntent)> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    assert_eq!(env.deliver.send(&env.events.succeeded(&pi), SECRET).await?.status, 200);
    let (status, body) = env.post(&format!("/players/{player}/spend"), json!({ "credits": 800 })).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(env.deliver.send(&env.events.dispute(&pi, 1_000, "needs_response"), SECRET).await?.status, 200);
    assert_eq!(env.balance(&player).await?, Balance { balance: 0, ledger_sum: 0, debt: 800 });
    Ok((env, player, pi))
}

async fn closed_as(status: &str) -> anyhow::Result<(Env, String, Balance)> {
    let (env, player, pi) = disputed_after_spending().await?;
    let d = env.deliver.send(&env.events.dispute(&pi, 1_000, status), SECRET).await?;
    assert_eq!((d.status, d.outcome()), (200, "applied"), "{}", d.body);
    // The same close again changes nothing.
    assert_eq!(env.deliver.send(&env.events.dispute(&pi, 1_000, status), SECRET).await?.status, 200);
    let b = env.balance(&player).await?;
    env.check_ledger().await?;
    Ok((env, player, b))
}

#[tokio::test]
async fn a_won_dispute_releases_the_hold_and_forgives_the_debt_it_recorded() -> anyhow::Result<()> {
    let (env, player, b) = closed_as("won").await?;
    assert_eq!(b, Balance { balance: 200, ledger_sum: 200, debt: 0 });
    let (_, history) = env.get(&format!("/players/{player}/history")).await?;
    let debts: Vec<(i64, String)> =
        history["debts"].as_array().into_iter().flatten().map(|d| (d["shortfall"].as_i64().unwrap_or_default(), d["kind"].as_str().unwrap_or_default().to_string())).collect();
    assert_eq!(debts, vec![(800, "DISPUTE_HOLD".to_string()), (-800, "DISPUTE_RELEASE".to_string())]);
    Ok(())
}

#[tokio::test]
async fn warning_closed_releases_the_hold_like_a_won_dispute() -> anyhow::Result<()> {
    let (_, _, b) = closed_as("warning_closed").await?;
    assert_eq!(b, Balance { balance: 200, ledger_sum: 200, debt: 0 });
    Ok(())
}

#[tokio::test]
async fn prevented_releases_the_hold_like_a_won_dispute() -> anyhow::Result<()> {
    let (_, _, b) = closed_as("prevented").await?;
    assert_eq!(b, Balance { balance: 200, ledger_sum: 200, debt: 0 });
    Ok(())
}

#[tokio::test]
async fn a_lost_dispute_keeps_the_hold_and_its_debt() -> anyhow::Result<()> {
    let (env, player, b) = closed_as("lost").await?;
    assert_eq!(b, Balance { balance: 0, ledger_sum: 0, debt: 800 });
    assert!(env.ledger(&player).await?.contains(&("DISPUTE_LOSS".to_string(), 0)));
    Ok(())
}

#[tokio::test]
async fn a_closed_event_with_an_open_status_keeps_the_hold() -> anyhow::Result<()> {
    let (env, player, pi) = disputed_after_spending().await?;
    let d = env.deliver.send(&env.events.dispute_event("charge.dispute.closed", &pi, 1_000, "under_review"), SECRET).await?;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(env.balance(&player).await?, Balance { balance: 0, ledger_sum: 0, debt: 800 });
    // The real end still releases it.
    env.deliver.send(&env.events.dispute(&pi, 1_000, "won"), SECRET).await?;
    assert_eq!(env.balance(&player).await?, Balance { balance: 200, ledger_sum: 200, debt: 0 });
    env.check_ledger().await
}

/// A charge disputed twice, each dispute with an id of its own (an inquiry that closed as
/// `warning_closed`, then two chargebacks, both lost): each lost dispute holds its own amount and
/// books its own loss. The service kept one dispute per purchase and dropped the others (review S4).
#[tokio::test]
async fn every_dispute_of_the_same_charge_holds_its_own_amount_and_books_its_own_loss() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    let disputes = [(0, 1_000, "warning_needs_response"), (0, 1_000, "warning_closed"), (1, 300, "needs_response"), (1, 300, "lost"), (2, 400, "needs_response"), (2, 400, "lost")];
    for (n, amount, status) in disputes {
        let d = env.deliver.send(&env.events.nth_dispute(&pi, n, amount, status), SECRET).await?;
        assert_eq!((d.status, d.outcome()), (200, "applied"), "dispute {n} {status}: {}", d.body);
    }
    assert_eq!(env.balance(&player).await?, Balance { balance: 300, ledger_sum: 300, debt: 0 });
    let losses = env.ledger(&player).await?.iter().filter(|(k, _)| k == "DISPUTE_LOSS").count();
    assert_eq!(losses, 2, "two lost disputes, two loss lines");
    env.check_ledger().await
}

/// A dispute's amount may change while it is open: the closed event's amount counts, in either
/// order of its two events. The service kept the created amount when it came first and the closed
/// one otherwise (review S4).
#[tokio::test]
async fn a_lost_disputes_closed_amount_counts_in_either_order_of_its_events() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut seen = Vec::new();
    for reversed in [false, true] {
        let player = env.player();
        let (_, pi) = env.paid_purchase(&player, 1_000).await?;
        env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
        let (created, closed) = (env.events.dispute(&pi, 1_000, "needs_response"), env.events.dispute(&pi, 500, "lost"));
        for e in if reversed { [&closed, &created] } else { [&created, &closed] } {
            assert_eq!(env.deliver.send(e, SECRET).await?.status, 200);
        }
        seen.push(env.balance(&player).await?);
    }
    assert_eq!(seen, vec![Balance { balance: 500, ledger_sum: 500, debt: 0 }; 2], "(created first, closed first)");
    env.check_ledger().await
}

/// Refunds and disputes together never take back more than the purchase credited: a refund of 800
/// and a dispute of 500 on 1,000 credits, nothing spent, leave no debt (the dispute was not capped).
#[tokio::test]
async fn a_refund_and_a_dispute_together_take_back_at_most_what_the_purchase_credited() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    for e in [env.events.succeeded(&pi), env.events.charge_refunded(&pi, 800), env.events.dispute(&pi, 500, "needs_response")] {
        assert_eq!(env.deliver.send(&e, SECRET).await?.status, 200);
    }
    assert_eq!(env.balance(&player).await?, Balance { balance: 0, ledger_sum: 0, debt: 0 });
    env.check_ledger().await
}
