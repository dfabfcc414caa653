//! Stripe does not order events (payments.md, "Ordering"): any arrival order of one payment's events
//! converges to the same final state. Every permutation of a success, a partial refund and a
//! dispute; every pair of terminal facts (success, failure, cancellation) in both orders; and a
//! property over random interleavings of every event type, duplicates anywhere, against a model.

mod common;

use common::{Env, SECRET, cases, runtime, shared_env};
use futures::future::join_all;
use harness::stripe::Event;
use proptest::prelude::*;
use serde_json::Value;

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
    Ok(vec![env.events.succeeded(&pi), env.events.charge_refunded(&pi, 300), env.events.dispute(&pi, 500, "needs_response"), env.events.dispute(&pi, 500, outcome)])
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

/// Delivers `events` in this order and returns the purchase's status and failure reason.
async fn deliver_in_order(env: &Env, id: &str, events: &[&Event]) -> anyhow::Result<(Value, Value)> {
    for e in events {
        let d = env.deliver.send(e, SECRET).await?;
        anyhow::ensure!(d.status == 200, "{}: {} {}", e.kind, d.status, d.body);
    }
    let p = env.purchase_status(id).await?;
    Ok((p["status"].clone(), p["failure_reason"].clone()))
}

/// One pair of terminal facts, delivered in both orders to two purchases: both end at `want`.
async fn both_orders_end(credit: bool, make: impl Fn(&Env, &harness::stripe::PaymentIntent) -> [Event; 2], want: &str) -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut outcomes = Vec::new();
    for reversed in [false, true] {
        let player = env.player();
        let (id, pi) = if credit { env.paid_purchase(&player, 700).await? } else { env.purchase(&player, 700).await? };
        let [a, b] = make(&env, &pi);
        let order = if reversed { [&b, &a] } else { [&a, &b] };
        let (status, reason) = deliver_in_order(&env, &id, &order).await?;
        let balance = env.balance(&player).await?.balance;
        outcomes.push((status, reason, balance));
    }
    assert_eq!(outcomes[0], outcomes[1], "the two orders of {want} differ");
    assert_eq!(outcomes[0].0, want);
    assert!(outcomes[0].1.is_null(), "a {want} purchase shows no failure reason: {}", outcomes[0].1);
    assert_eq!(outcomes[0].2, if want == "SUCCEEDED" { 700 } else { 0 });
    env.check_ledger().await
}

#[tokio::test]
async fn a_failure_and_a_cancellation_end_cancelled_in_either_order() -> anyhow::Result<()> {
    both_orders_end(false, |env, pi| [env.events.payment_failed(pi, "card_declined"), env.events.canceled(pi)], "CANCELLED").await
}

#[tokio::test]
async fn a_failure_and_a_success_end_succeeded_without_a_failure_reason_in_either_order() -> anyhow::Result<()> {
    both_orders_end(true, |env, pi| [env.events.payment_failed(pi, "insufficient_funds"), env.events.succeeded(pi)], "SUCCEEDED").await
}

/// The README's reading of payments.md: a success Stripe confirms wins over a cancellation.
#[tokio::test]
async fn a_cancellation_and_a_confirmed_success_end_succeeded_in_either_order() -> anyhow::Result<()> {
    both_orders_end(true, |env, pi| [env.events.canceled(pi), env.events.succeeded(pi)], "SUCCEEDED").await
}

#[tokio::test]
async fn of_two_failures_the_latest_names_the_reason_in_either_order() -> anyhow::Result<()> {
    let env = Env::new().await?;
    for reversed in [false, true] {
        let player = env.player();
        let (id, pi) = env.purchase(&player, 500).await?;
        let (a, b) = (env.events.payment_failed(&pi, "card_declined"), env.events.payment_failed(&pi, "expired_card"));
        let latest = [&a, &b].into_iter().max_by_key(|e| failure_order(e)).expect("two");
        let want = failure_message(latest);
        let order = if reversed { [&b, &a] } else { [&a, &b] };
        let (status, reason) = deliver_in_order(&env, &id, &order).await?;
        assert_eq!(status, "FAILED");
        assert_eq!(reason, want, "order reversed: {reversed}");
    }
    env.check_ledger().await
}

/// The order failures are ranked in: the event's `created`, then its id.
fn failure_order(e: &Event) -> (i64, String) {
    let v: Value = serde_json::from_str(&e.payload).expect("event JSON");
    (v["created"].as_i64().unwrap_or_default(), e.id.clone())
}

fn failure_message(e: &Event) -> Value {
    let v: Value = serde_json::from_str(&e.payload).expect("event JSON");
    v["data"]["object"]["last_payment_error"]["message"].clone()
}

/// One random history of a purchase and what the model says it must end at.
#[derive(Debug, Clone)]
struct History {
    succeeded: bool,
    failures: usize,
    canceled: bool,
    refunds: Vec<i64>,
    /// 0 none, 1 opened only, 2 closed won, 3 closed lost, 4 closed warning_closed.
    dispute: u8,
    /// Times each event is delivered, and the key that places each delivery (a random total order).
    repeats: Vec<usize>,
    keys: Vec<u32>,
    /// Deliver in bursts of four at the same moment instead of one by one.
    bursts: bool,
}

fn history() -> impl Strategy<Value = History> {
    (
        any::<bool>(),
        0usize..=2,
        any::<bool>(),
        proptest::collection::vec(1i64..=400, 0..=3),
        0u8..=4,
        proptest::collection::vec(1usize..=3, 12),
        proptest::collection::vec(any::<u32>(), 36),
        any::<bool>(),
    )
        .prop_map(|(succeeded, failures, canceled, refunds, dispute, repeats, keys, bursts)| History { succeeded, failures, canceled, refunds, dispute, repeats, keys, bursts })
}

const CREDITS: i64 = 2_000;
const DISPUTED: i64 = 600;

/// Delivers one history's events, each `repeats` times in a random interleaving, and compares the
/// purchase, the balance and the ledger lines with the model.
async fn check_history(env: &Env, h: &History) -> anyhow::Result<()> {
    let player = env.player();
    let (id, pi) = if h.succeeded { env.paid_purchase(&player, CREDITS).await? } else { env.purchase(&player, CREDITS).await? };
    let mut events = Vec::new();
    if h.succeeded {
        events.push(env.events.succeeded(&pi));
    }
    let failures: Vec<Event> = ["card_declined", "insufficient_funds"].iter().take(h.failures).map(|c| env.events.payment_failed(&pi, c)).collect();
    events.extend(failures.iter().cloned());
    if h.canceled {
        events.push(env.events.canceled(&pi));
    }
    let mut cumulative = 0;
    for r in &h.refunds {
        cumulative += r;
        events.push(env.events.charge_refunded(&pi, cumulative));
    }
    if h.dispute >= 1 {
        events.push(env.events.dispute(&pi, DISPUTED, "needs_response"));
    }
    let closed = match h.dispute {
        2 => Some("won"),
        3 => Some("lost"),
        4 => Some("warning_closed"),
        _ => None,
    };
    if let Some(status) = closed {
        events.push(env.events.dispute(&pi, DISPUTED, status));
    }
    let mut schedule: Vec<usize> = (0..events.len()).flat_map(|i| std::iter::repeat_n(i, h.repeats[i])).collect();
    let mut keyed: Vec<(u32, usize)> = schedule.iter().enumerate().map(|(n, &i)| (h.keys[n % h.keys.len()] ^ (n as u32).wrapping_mul(2_654_435_761), i)).collect();
    keyed.sort();
    schedule = keyed.into_iter().map(|(_, i)| i).collect();
    let chunk = if h.bursts { 4 } else { 1 };
    for group in schedule.chunks(chunk) {
        for d in join_all(group.iter().map(|&i| env.deliver.send(&events[i], SECRET))).await {
            let d = d?;
            anyhow::ensure!(d.status == 200, "schedule {schedule:?}: {} {}", d.status, d.body);
        }
    }

    let status = common_status(h);
    // Totals per kind: a refund that grows while its events arrive out of order is booked in one
    // line or several, the same credits either way.
    let mut want: Vec<(String, i64)> = Vec::new();
    if status == "SUCCEEDED" {
        want.push(("PURCHASE".into(), CREDITS));
        if cumulative > 0 {
            want.push(("REFUND".into(), -cumulative));
        }
        if h.dispute >= 1 {
            want.push(("DISPUTE_HOLD".into(), -DISPUTED));
        }
        match closed {
            Some("won" | "warning_closed") => want.push(("DISPUTE_RELEASE".into(), DISPUTED)),
            Some("lost") => want.push(("DISPUTE_LOSS".into(), 0)),
            _ => {}
        }
    }
    want.sort();
    let mut totals: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for (kind, amount) in env.ledger(&player).await? {
        *totals.entry(kind).or_default() += amount;
    }
    let lines: Vec<(String, i64)> = totals.into_iter().collect();
    let p = env.purchase_status(&id).await?;
    anyhow::ensure!(p["status"] == status, "{h:?} schedule {schedule:?}: status {} but the model says {status}", p["status"]);
    let want_reason = if status == "FAILED" { failures.iter().max_by_key(|e| failure_order(e)).map(failure_message).unwrap_or(Value::Null) } else { Value::Null };
    anyhow::ensure!(p["failure_reason"] == want_reason, "{h:?}: failure_reason {} but the model says {want_reason}", p["failure_reason"]);
    anyhow::ensure!(lines == want, "{h:?} schedule {schedule:?}: ledger totals {lines:?} but the model says {want:?}");
    let balance = env.balance(&player).await?;
    anyhow::ensure!(balance.balance == want.iter().map(|(_, a)| a).sum::<i64>() && balance.debt == 0, "{h:?}: {balance:?}");
    env.check_player(&player).await
}

/// The model's status: a success wins over everything, a cancellation over a failure.
fn common_status(h: &History) -> &'static str {
    if h.succeeded {
        "SUCCEEDED"
    } else if h.canceled {
        "CANCELLED"
    } else if h.failures > 0 {
        "FAILED"
    } else {
        "PENDING"
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    /// Every event type of one payment (success, failures, cancellation, growing refunds, a
    /// dispute opened and closed three ways), each delivered 1..=3 times in any interleaving, some
    /// at the same moment: the purchase, ledger and balance are the model's. The PR gate's 64
    /// histories; the nightly profile runs 256 (below), the soak profile 4,096.
    #[test]
    fn any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn nightly_any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(4_096), failure_persistence: None, ..ProptestConfig::default() })]

    /// The same property with sixteen times the cases, for the soak profile.
    #[test]
    fn soak_any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}
