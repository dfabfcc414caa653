//! An event id is applied at most once: twice in a row, fifty at the same moment, or any random
//! schedule of repeats. Simultaneous deliveries may meet the endpoint's 2 s deadline on a loaded
//! machine; those 503s are redelivered as Stripe would (`Env::deliver_at_once`), and the event is
//! still applied exactly once across every answer.

mod common;

use common::{Env, SECRET, runtime, shared_env};
use harness::property;
use proptest::prelude::*;

#[tokio::test]
async fn the_same_event_twice_in_a_row_credits_once() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    let event = env.events.succeeded(&pi);
    let first = env.deliver.send(&event, SECRET).await?;
    let second = env.deliver.send(&event, SECRET).await?;
    assert_eq!((first.status, first.outcome()), (200, "applied"));
    assert_eq!((second.status, second.outcome()), (200, "duplicate"));
    assert_eq!(env.balance(&player).await?.balance, 1_000);
    assert_eq!(env.ledger(&player).await?, vec![("PURCHASE".to_string(), 1_000)]);
    env.check_ledger().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_deliveries_of_one_event_credit_once() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 2_500).await?;
    let event = env.events.succeeded(&pi);
    env.deliver_at_once(&event, 50).await?.assert_applied_once();
    assert_eq!(env.balance(&player).await?.balance, 2_500);
    env.check_ledger().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_of_a_refund_debit_once() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    let refund = env.events.charge_refunded(&pi, 400);
    env.deliver_at_once(&refund, 20).await?.assert_applied_once();
    assert_eq!(env.balance(&player).await?.balance, 600);
    env.check_ledger().await
}

/// Each event of a purchase (a success, two growing refunds, a dispute opened and lost, a failure
/// and a cancellation that change nothing after the success) delivered 1..=4 times in a random
/// interleaving (repeats anywhere, across event types), one by one or in bursts at the same moment:
/// each event is applied exactly once and the balance and debt are those of each applied once. A
/// burst may meet the endpoint's 2 s deadline on a loaded machine; such a 503 is redelivered as
/// Stripe would (any other 503 fails), and what counts is that across all its answers the event
/// was applied once.
fn schedule_applies_each_event_once(repeats: &[usize], keys: &[u64], burst: usize, spend: i64) {
    let env = shared_env();
    runtime().block_on(async {
        let player = env.player();
        let (_, pi) = env.paid_purchase(&player, 5_000).await.expect("purchase");
        let events = [
            env.events.succeeded(&pi),
            env.events.charge_refunded(&pi, 1_000),
            env.events.charge_refunded(&pi, 1_500),
            env.events.dispute(&pi, 2_000, "needs_response"),
            env.events.dispute(&pi, 2_000, "lost"),
            env.events.payment_failed(&pi, "card_declined"),
            env.events.canceled(&pi),
        ];
        let mut schedule: Vec<(u64, usize)> = events.iter().enumerate().flat_map(|(i, _)| std::iter::repeat_n(i, repeats[i])).enumerate().map(|(n, i)| (keys[n], i)).collect();
        schedule.sort();
        let schedule: Vec<usize> = schedule.into_iter().map(|(_, i)| i).collect();
        let mut applied = [0usize; 7];
        let mut spent = false;
        for (g, group) in schedule.chunks(burst).enumerate() {
            // The player spends once the success has had a chance to land: a later debit may then
            // find the balance short and owe the rest.
            if g == 1 && spend > 0 {
                let (status, _) = env.post(&format!("/players/{player}/spend"), serde_json::json!({ "credits": spend })).await.expect("spend");
                spent = status == 200;
            }
            let all = futures::future::join_all(group.iter().map(|&i| env.deliver.send(&events[i], SECRET))).await;
            for (d, &i) in all.into_iter().zip(group) {
                let mut d = d.expect("delivery");
                if d.status == 503 {
                    assert!(d.body["message"].as_str().unwrap_or_default().contains("webhook deadline"), "a 503 that is not the webhook deadline: {}", d.body);
                    d = env.deliver.until_accepted(&events[i], SECRET, 20, std::time::Duration::from_millis(100)).await.expect("redelivery").0;
                }
                assert_eq!(d.status, 200, "{}", d.body);
                applied[i] += usize::from(d.outcome() == "applied");
            }
        }
        assert_eq!(applied, [1; 7], "schedule {schedule:?}: each event applied once");
        // 5,000 credited; 1,500 refunded and 2,000 lost to the dispute are owed back.
        let available = 5_000 - if spent { spend } else { 0 };
        let b = env.balance(&player).await.expect("balance");
        assert_eq!((b.balance, b.debt), ((available - 3_500).max(0), (3_500 - available).max(0)), "schedule {schedule:?}, spent {spent}");
        env.check_player(&player).await.expect("ledger");
    });
}

fn regressions() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/idempotency.txt")
}

proptest! {
    #![proptest_config(property::config("any_schedule_of_repeats_applies_each_event_once", property::cases(64), regressions()))]

    /// The PR gate's 64 schedules; the nightly profile runs 256 (below).
    #[test]
    fn any_schedule_of_repeats_applies_each_event_once(
        repeats in proptest::collection::vec(1usize..=4, 7),
        keys in proptest::collection::vec(any::<u64>(), 28),
        burst in 1usize..=4,
        spend in prop_oneof![Just(0i64), Just(4_000i64), 0i64..=5_000],
    ) {
        schedule_applies_each_event_once(&repeats, &keys, burst, spend);
    }
}

proptest! {
    #![proptest_config(property::config("nightly_any_schedule_of_repeats_applies_each_event_once", property::cases(256), regressions()))]

    #[test]
    fn nightly_any_schedule_of_repeats_applies_each_event_once(
        repeats in proptest::collection::vec(1usize..=4, 7),
        keys in proptest::collection::vec(any::<u64>(), 28),
        burst in 1usize..=4,
        spend in prop_oneof![Just(0i64), Just(4_000i64), 0i64..=5_000],
    ) {
        schedule_applies_each_event_once(&repeats, &keys, burst, spend);
    }
}
