//! Stripe does not order events. Every permutation of one purchase's events (success, a partial
//! refund, a dispute opened and closed) ends at the same balance and the same ledger lines.

mod common;

use common::{runtime, shared_env, Env, SECRET};
use harness::stripe::Event;
use proptest::prelude::*;

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// A purchase of 1,000 credits, 300 refunded, 500 disputed and the dispute closed as `outcome`.
async fn lifecycle(env: &Env, player: &str, outcome: &str) -> anyhow::Result<Vec<Event>> {
    let (_, pi) = env.paid_purchase(player, 1_000).await?;
    Ok(vec![
        env.events.succeeded(&pi),
        env.events.charge_refunded(&pi, 300),
        env.events.dispute(&pi, 500, "needs_response"),
        env.events.dispute(&pi, 500, outcome),
    ])
}

async fn every_permutation_converges(outcome: &str, balance: i64) -> anyhow::Result<()> {
    let env = Env::new().await?;
    let reference = env.player();
    for e in lifecycle(&env, &reference, outcome).await? {
        assert_eq!(env.deliver.send(&e, SECRET).await?.status, 200);
    }
    let want_balance = env.balance(&reference).await?;
    let want_ledger = env.ledger(&reference).await?;
    assert_eq!(want_balance.balance, balance, "in-order result: {want_ledger:?}");
    for order in permutations(4) {
        let player = env.player();
        let events = lifecycle(&env, &player, outcome).await?;
        for &i in &order {
            let d = env.deliver.send(&events[i], SECRET).await?;
            assert_eq!(d.status, 200, "{order:?}: {}", d.body);
        }
        assert_eq!(env.balance(&player).await?, want_balance, "order {order:?}");
        assert_eq!(env.ledger(&player).await?, want_ledger, "order {order:?}");
    }
    env.check_ledger().await
}

#[tokio::test]
async fn every_order_of_success_partial_refund_and_a_lost_dispute_converges() -> anyhow::Result<()> {
    every_permutation_converges("lost", 200).await
}

#[tokio::test]
async fn every_order_of_success_partial_refund_and_a_won_dispute_converges() -> anyhow::Result<()> {
    every_permutation_converges("won", 700).await
}

#[tokio::test]
async fn a_late_payment_failed_never_undoes_a_success() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, pi) = env.paid_purchase(&player, 800).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    env.deliver.send(&env.events.payment_failed(&pi, "insufficient_funds"), SECRET).await?;
    env.deliver.send(&env.events.canceled(&pi), SECRET).await?;
    assert_eq!(env.purchase_status(&id).await?["status"], "SUCCEEDED");
    assert_eq!(env.balance(&player).await?.balance, 800);
    env.check_ledger().await
}

#[tokio::test]
async fn a_failure_then_a_success_ends_succeeded() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (id, pi) = env.purchase(&player, 800).await?;
    let failed = env.deliver.send(&env.events.payment_failed(&pi, "card_declined"), SECRET).await?;
    assert_eq!(failed.outcome(), "applied");
    assert_eq!(env.purchase_status(&id).await?["status"], "FAILED");
    let pi = env.stripe.succeed(&pi.id)?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    assert_eq!(env.purchase_status(&id).await?["status"], "SUCCEEDED");
    assert_eq!(env.balance(&player).await?.balance, 800);
    env.check_ledger().await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random schedules of a purchase's events with growing partial refunds, duplicates included:
    /// the result is that of the largest refund and the closed dispute, whatever the order.
    #[test]
    fn any_schedule_of_refunds_and_disputes_converges(
        refunds in proptest::collection::vec(1i64..=400, 1..4),
        won in any::<bool>(),
        order in proptest::collection::vec(any::<u8>(), 12),
    ) {
        let env = shared_env();
        runtime().block_on(async {
            let player = env.player();
            let (_, pi) = env.paid_purchase(&player, 2_000).await.expect("purchase");
            let mut cumulative = 0;
            let mut events = vec![env.events.succeeded(&pi), env.events.dispute(&pi, 600, "needs_response"), env.events.dispute(&pi, 600, if won { "won" } else { "lost" })];
            for r in &refunds {
                cumulative += r;
                events.push(env.events.charge_refunded(&pi, cumulative));
            }
            let mut schedule: Vec<usize> = (0..events.len()).chain((0..events.len()).filter(|i| order[*i % 12] % 3 == 0)).collect();
            schedule.sort_by_key(|i| order[(*i * 7) % 12] as usize * 16 + i);
            for &i in &schedule {
                assert_eq!(env.deliver.send(&events[i], SECRET).await.expect("delivery").status, 200);
            }
            let expected = 2_000 - cumulative - if won { 0 } else { 600 };
            assert_eq!(env.balance(&player).await.expect("balance").balance, expected, "schedule {schedule:?}");
            env.check_ledger().await.expect("ledger");
        });
    }
}
