//! Stripe does not order events (payments.md, "Ordering"): any arrival order of one payment's events
//! converges to the same final state: the status, the balance, the debt, and what each kind of line
//! is worth (the lines themselves may differ: a dispute won before the success was booked never
//! holds anything). Every permutation of a success, a partial refund and a dispute; every pair of
//! terminal facts (success, failure, cancellation) in both orders; and a property over random
//! interleavings of every event type with spends, shortfalls and several disputes, against a model.

mod common;

use common::{Env, SECRET, runtime, shared_env};
use futures::future::join_all;
use harness::property;
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
    let want_worth = worth_of(&env.get(&format!("/players/{reference}/history")).await?.1);
    assert_eq!(want_balance.balance, balance, "in-order result: {want_worth:?}");
    for order in permutations(4) {
        let player = env.player();
        let events = lifecycle(&env, &player, outcome).await?;
        for &i in &order {
            let d = env.deliver.send(&events[i], SECRET).await?;
            assert_eq!(d.status, 200, "{order:?}: {}", d.body);
        }
        assert_eq!(env.balance(&player).await?, want_balance, "order {order:?}");
        assert_eq!(worth_of(&env.get(&format!("/players/{player}/history")).await?.1), want_worth, "order {order:?}");
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

/// How a history's success looks when the service reads the intent back from Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Success {
    None,
    /// The amount received matches: SUCCEEDED, credited.
    Matching,
    /// A cent short: REVIEW, nothing credited (refunds and disputes stay facts).
    Short,
}

/// One dispute of the charge (a dispute id of its own): opened for `opened` credits, and perhaps
/// closed with a final status for `closed_amount` (Stripe's amount may change while it is open).
#[derive(Debug, Clone)]
struct Dispute {
    opened: i64,
    closed: Option<(&'static str, i64)>,
}

/// One random history of a purchase and what the model says it must end at.
#[derive(Debug, Clone)]
struct History {
    success: Success,
    failures: usize,
    canceled: bool,
    /// Increments of the charge's cumulative `amount_refunded` (capped at the charge).
    refunds: Vec<i64>,
    disputes: Vec<Dispute>,
    /// The player spends this much while the events arrive, before the delivery at
    /// `spend_at % (deliveries + 1)`: a refund or dispute may then find the balance short.
    spend: i64,
    spend_at: usize,
    /// Times each event is delivered, and the key that places each delivery (a random total order).
    repeats: Vec<usize>,
    keys: Vec<u32>,
    /// Deliver in bursts of four at the same moment instead of one by one.
    bursts: bool,
}

const CREDITS: i64 = 2_000;

fn dispute() -> impl Strategy<Value = Dispute> {
    (1i64..=CREDITS, proptest::option::of((prop_oneof![Just("won"), Just("lost"), Just("warning_closed")], 1i64..=CREDITS))).prop_map(|(opened, closed)| Dispute { opened, closed })
}

fn history() -> impl Strategy<Value = History> {
    (
        prop_oneof![2 => Just(Success::Matching), 1 => Just(Success::None), 1 => Just(Success::Short)],
        0usize..=2,
        any::<bool>(),
        proptest::collection::vec(1i64..=900, 0..=3),
        proptest::collection::vec(dispute(), 0..=2),
        // Often everything, often nothing, else anything: shortfalls need the first.
        prop_oneof![Just(CREDITS), Just(0i64), 0i64..=CREDITS],
        any::<usize>(),
        proptest::collection::vec(1usize..=3, 14),
        proptest::collection::vec(any::<u32>(), 42),
        any::<bool>(),
    )
        .prop_map(|(success, failures, canceled, refunds, disputes, spend, spend_at, repeats, keys, bursts)| History {
            success,
            failures,
            canceled,
            refunds,
            disputes,
            spend,
            spend_at,
            repeats,
            keys,
            bursts,
        })
}

/// What the model says a history ends at.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: &'static str,
    balance: i64,
    debt: i64,
    /// Per kind, what the purchase's lines are worth: credits taken from the balance plus credits
    /// owed as debt (DISPUTE covers the hold and its release together). Which of a refund and a
    /// hold took the last credits of a short balance depends on their order; what each is worth,
    /// and the final balance and debt, may not.
    worth: Vec<(&'static str, i64)>,
}

/// The model: a purchase of `CREDITS` that succeeded owes back what was refunded plus what every
/// dispute still holds (an open or lost dispute holds its latest amount, a released one nothing),
/// never more than it credited. The player's balance is what the purchase credited minus what was
/// spent minus what it owes back, never below zero; the rest is debt.
fn model(h: &History, spent: i64) -> Outcome {
    let status = match h.success {
        Success::Matching => "SUCCEEDED",
        Success::Short => "REVIEW",
        Success::None if h.canceled => "CANCELLED",
        Success::None if h.failures > 0 => "FAILED",
        Success::None => "PENDING",
    };
    if status != "SUCCEEDED" {
        return Outcome { status, balance: 0, debt: 0, worth: vec![] };
    }
    let refunded = h.refunds.iter().sum::<i64>().min(CREDITS);
    let held: i64 = h
        .disputes
        .iter()
        .map(|d| match d.closed {
            Some(("won" | "warning_closed", _)) => 0,
            Some((_, amount)) => amount,
            None => d.opened,
        })
        .sum();
    let owed_back = (refunded + held).min(CREDITS);
    let available = CREDITS - spent;
    let mut worth = vec![("PURCHASE", CREDITS), ("REFUND", refunded), ("DISPUTE", owed_back - refunded), ("SPEND", spent)];
    let losses = h.disputes.iter().filter(|d| matches!(d.closed, Some(("lost", _)))).count() as i64;
    worth.push(("DISPUTE_LOSS lines", losses));
    worth.retain(|(_, v)| *v != 0);
    worth.sort();
    Outcome { status, balance: (available - owed_back).max(0), debt: (owed_back - available).max(0), worth }
}

/// What the service's lines say the purchase is worth, in the model's terms.
fn worth_of(history: &Value) -> Vec<(&'static str, i64)> {
    let mut worth: std::collections::BTreeMap<&'static str, i64> = std::collections::BTreeMap::new();
    let kind = |k: &str| -> &'static str {
        match k {
            "PURCHASE" => "PURCHASE",
            "REFUND" => "REFUND",
            "DISPUTE_HOLD" | "DISPUTE_RELEASE" => "DISPUTE",
            "SPEND" => "SPEND",
            _ => "other",
        }
    };
    for l in history["lines"].as_array().into_iter().flatten() {
        let (k, amount) = (l["kind"].as_str().unwrap_or_default(), l["amount"].as_i64().unwrap_or_default());
        if k == "DISPUTE_LOSS" {
            *worth.entry("DISPUTE_LOSS lines").or_default() += 1;
        }
        // Credits in are positive lines; what is owed back or spent, negative ones.
        let sign = if k == "PURCHASE" { 1 } else { -1 };
        *worth.entry(kind(k)).or_default() += sign * amount;
    }
    for d in history["debts"].as_array().into_iter().flatten() {
        *worth.entry(kind(d["kind"].as_str().unwrap_or_default())).or_default() += d["shortfall"].as_i64().unwrap_or_default();
    }
    let mut out: Vec<(&'static str, i64)> = worth.into_iter().filter(|(_, v)| *v != 0).collect();
    out.sort();
    out
}

/// The player spends `credits` (if any): what was spent, 0 when the balance was short (409).
async fn spend(env: &Env, player: &str, credits: i64) -> anyhow::Result<i64> {
    if credits == 0 {
        return Ok(0);
    }
    let (status, body) = env.post(&format!("/players/{player}/spend"), serde_json::json!({ "credits": credits })).await?;
    match status {
        200 => Ok(credits),
        409 => Ok(0),
        _ => anyhow::bail!("spend answered {status} {body}"),
    }
}

/// Delivers one history's events, each `repeats` times in a random interleaving with the spend
/// somewhere among them, and compares the purchase, the balance, the debt and what each kind of
/// line is worth with the model.
async fn check_history(env: &Env, h: &History) -> anyhow::Result<()> {
    let player = env.player();
    let (id, mut pi) = env.purchase(&player, CREDITS).await?;
    let mut events = Vec::new();
    match h.success {
        Success::None => {}
        Success::Matching => {
            pi = env.stripe.succeed(&pi.id)?;
            events.push(env.events.succeeded(&pi));
        }
        Success::Short => {
            pi.status = "succeeded".into();
            pi.amount_received = CREDITS - 1;
            env.stripe.set(pi.clone());
            events.push(env.events.payment_intent("payment_intent.succeeded", &pi));
        }
    }
    let failures: Vec<Event> = ["card_declined", "insufficient_funds"].iter().take(h.failures).map(|c| env.events.payment_failed(&pi, c)).collect();
    events.extend(failures.iter().cloned());
    if h.canceled {
        events.push(env.events.canceled(&pi));
    }
    let mut cumulative = 0;
    for r in &h.refunds {
        cumulative = (cumulative + r).min(CREDITS);
        events.push(env.events.charge_refunded(&pi, cumulative));
    }
    for (n, d) in h.disputes.iter().enumerate() {
        events.push(env.events.nth_dispute(&pi, n, d.opened, "needs_response"));
        if let Some((status, amount)) = d.closed {
            events.push(env.events.nth_dispute(&pi, n, amount, status));
        }
    }
    let mut schedule: Vec<usize> = (0..events.len()).flat_map(|i| std::iter::repeat_n(i, h.repeats[i])).collect();
    let mut keyed: Vec<(u32, usize)> = schedule.iter().enumerate().map(|(n, &i)| (h.keys[n % h.keys.len()] ^ (n as u32).wrapping_mul(2_654_435_761), i)).collect();
    keyed.sort();
    schedule = keyed.into_iter().map(|(_, i)| i).collect();
    let spend_at = h.spend_at % (schedule.len() + 1);
    let chunk = if h.bursts { 4 } else { 1 };
    let mut spent = 0;
    let mut delivered = 0;
    for group in schedule.chunks(chunk) {
        if delivered <= spend_at && spend_at < delivered + group.len() {
            spent = spend(env, &player, h.spend).await?;
        }
        for d in join_all(group.iter().map(|&i| env.deliver.send(&events[i], SECRET))).await {
            let d = d?;
            anyhow::ensure!(d.status == 200, "schedule {schedule:?}: {} {}", d.status, d.body);
        }
        delivered += group.len();
    }
    if spend_at == schedule.len() {
        spent = spend(env, &player, h.spend).await?;
    }

    let want = model(h, spent);
    let p = env.purchase_status(&id).await?;
    let (_, history) = env.get(&format!("/players/{player}/history")).await?;
    let balance = env.balance(&player).await?;
    let got = Outcome { status: if p["status"] == want.status { want.status } else { "(other)" }, balance: balance.balance, debt: balance.debt, worth: worth_of(&history) };
    anyhow::ensure!(got == want, "{h:?}\nschedule {schedule:?}, spend before delivery {spend_at}, {spent} spent\nservice: {got:?} (status {})\nmodel:   {want:?}\nhistory: {history}", p["status"]);
    let want_reason = if want.status == "FAILED" { failures.iter().max_by_key(|e| failure_order(e)).map(failure_message).unwrap_or(Value::Null) } else { Value::Null };
    anyhow::ensure!(p["failure_reason"] == want_reason, "{h:?}: failure_reason {} but the model says {want_reason}", p["failure_reason"]);
    env.check_player(&player).await
}

fn regressions() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/ordering.txt")
}

proptest! {
    #![proptest_config(property::config("any_interleaving_of_every_event_type_converges", property::cases(64), regressions()))]

    /// Every event type of one payment (a success that matches or is short, failures, a
    /// cancellation, growing refunds, up to two disputes opened and closed three ways with changed
    /// amounts), each delivered 1..=3 times in any interleaving, some at the same moment, while the
    /// player spends up to everything: status, balance, debt and each kind's worth are the model's.
    /// The PR gate's 64 histories; the nightly profile runs 256 (below), the soak profile 4,096.
    #[test]
    fn any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}

proptest! {
    #![proptest_config(property::config("nightly_any_interleaving_of_every_event_type_converges", property::cases(256), regressions()))]

    #[test]
    fn nightly_any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}

proptest! {
    #![proptest_config(property::config("soak_any_interleaving_of_every_event_type_converges", property::cases(4_096), regressions()))]

    /// The same property with sixteen times the cases, for the soak profile.
    #[test]
    fn soak_any_interleaving_of_every_event_type_converges(h in history()) {
        runtime().block_on(check_history(shared_env(), &h)).expect("converges");
    }
}
