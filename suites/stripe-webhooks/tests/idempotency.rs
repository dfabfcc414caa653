//! An event id is applied at most once: twice in a row, fifty at the same moment, or any random
//! schedule of repeats. Simultaneous deliveries may meet the endpoint's 2 s deadline on a loaded
//! machine; those 503s are redelivered as Stripe would (`Env::deliver_at_once`), and the event is
//! still applied exactly once across every answer.

mod common;

use common::{Env, SECRET, cases, runtime, shared_env};
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

/// Each event of a purchase (a success and two growing refunds) delivered 1..=4 times in a
/// random interleaving (repeats anywhere, across event types), one by one or in bursts at the
/// same moment: the balance and ledger are those of each event applied once.
fn schedule_applies_each_event_once(repeats: &[usize], keys: &[u64], burst: usize) {
    let env = shared_env();
    runtime().block_on(async {
        let player = env.player();
        let (_, pi) = env.paid_purchase(&player, 5_000).await.expect("purchase");
        let events = [env.events.succeeded(&pi), env.events.charge_refunded(&pi, 1_000), env.events.charge_refunded(&pi, 1_500)];
        let mut schedule: Vec<(u64, usize)> = events.iter().enumerate().flat_map(|(i, _)| std::iter::repeat_n(i, repeats[i])).enumerate().map(|(n, i)| (keys[n], i)).collect();
        schedule.sort();
        let schedule: Vec<usize> = schedule.into_iter().map(|(_, i)| i).collect();
        let mut applied = [0usize; 3];
        for group in schedule.chunks(burst) {
            let all = futures::future::join_all(group.iter().map(|&i| env.deliver.send(&events[i], SECRET))).await;
            for (d, &i) in all.into_iter().zip(group) {
                let d = d.expect("delivery");
                assert_eq!(d.status, 200, "{}", d.body);
                applied[i] += usize::from(d.outcome() == "applied");
            }
        }
        assert_eq!(applied, [1, 1, 1], "schedule {schedule:?}: each event applied once");
        let b = env.balance(&player).await.expect("balance");
        assert_eq!(b.balance, 3_500, "schedule {schedule:?}");
        env.check_player(&player).await.expect("ledger");
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    /// The PR gate's 64 schedules; the nightly profile runs 256 (below).
    #[test]
    fn any_schedule_of_repeats_applies_each_event_once(
        repeats in proptest::collection::vec(1usize..=4, 3),
        keys in proptest::collection::vec(any::<u64>(), 12),
        burst in 1usize..=4,
    ) {
        schedule_applies_each_event_once(&repeats, &keys, burst);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn nightly_any_schedule_of_repeats_applies_each_event_once(
        repeats in proptest::collection::vec(1usize..=4, 3),
        keys in proptest::collection::vec(any::<u64>(), 12),
        burst in 1usize..=4,
    ) {
        schedule_applies_each_event_once(&repeats, &keys, burst);
    }
}
