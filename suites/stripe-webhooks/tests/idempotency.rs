//! An event id is applied at most once: twice in a row, fifty at the same moment, or any random
//! schedule of repeats.

mod common;

use common::{runtime, shared_env, Env, SECRET};
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
    let deliveries = env.deliver.concurrently(&event, SECRET, 50).await?;
    let applied = deliveries.iter().filter(|d| d.outcome() == "applied").count();
    let duplicate = deliveries.iter().filter(|d| d.outcome() == "duplicate").count();
    assert!(deliveries.iter().all(|d| d.status == 200), "{deliveries:?}");
    assert_eq!((applied, duplicate), (1, 49));
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
    env.deliver.concurrently(&refund, SECRET, 20).await?;
    assert_eq!(env.balance(&player).await?.balance, 600);
    env.check_ledger().await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Each event of a purchase delivered 1..=4 times, in any interleaving (some at once): the
    /// balance and ledger are those of each event applied once.
    #[test]
    fn any_schedule_of_repeats_applies_each_event_once(
        repeats in proptest::collection::vec(1usize..=4, 3),
        order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(),
        burst in any::<bool>(),
    ) {
        let env = shared_env();
        runtime().block_on(async {
            let player = env.player();
            let (_, pi) = env.paid_purchase(&player, 5_000).await.expect("purchase");
            let events = [env.events.succeeded(&pi), env.events.charge_refunded(&pi, 1_000), env.events.charge_refunded(&pi, 1_500)];
            let mut schedule: Vec<usize> = events.iter().enumerate().flat_map(|(i, _)| std::iter::repeat_n(i, repeats[i])).collect();
            schedule.sort_by_key(|i| order.iter().position(|o| o % 3 == *i).unwrap_or(0));
            if burst {
                let all = futures::future::join_all(schedule.iter().map(|&i| env.deliver.send(&events[i], SECRET))).await;
                for d in all { assert_eq!(d.expect("delivery").status, 200); }
            } else {
                for &i in &schedule { assert_eq!(env.deliver.send(&events[i], SECRET).await.expect("delivery").status, 200); }
            }
            let b = env.balance(&player).await.expect("balance");
            assert_eq!(b.balance, 3_500, "schedule {schedule:?}");
            env.check_ledger().await.expect("ledger");
        });
    }
}
