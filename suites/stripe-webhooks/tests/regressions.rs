//! Regressions of bugs found in the payments service, named `regression_p<severity>_...` (see
//! CONTRIBUTING.md): each failed before its fix.

mod common;

use std::time::Duration;

use common::{Env, SECRET, Setup};

/// Found by the chaos suite on 2026-12-01 (`chaos_anvil_frozen_and_thawed`, seed 5004, outside and
/// during the fault alike): `GET /players/{id}/balance` read the stored balance and the ledger's sum
/// in separate statements, so a purchase committed between them gave an answer whose balance was
/// not its own ledger sum (`"balance":4300, "ledger_sum":4700`). The ledger itself was right; the
/// answer was not. The failpoint holds the read where a commit can land; the delivery lands there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_p2_mve12_a_commit_during_a_balance_read_never_gives_a_balance_that_is_not_its_ledger_sum() -> anyhow::Result<()> {
    let setup = Setup { extra_env: vec![("FAILPOINTS", "payments::api::balance_read=return(1500)".into())], ..Setup::default() };
    let env = Env::with(setup).await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    let url = format!("{}/players/{player}/balance", env.base);
    let read = tokio::spawn(async move { reqwest::get(url).await?.json::<serde_json::Value>().await });
    harness::wait::until("the balance read held", Duration::from_secs(30), || async {
        let logs = env.payments.logs().await?;
        Ok::<_, harness::Error>(logs.contains("failpoint payments::api::balance_read: holding").then_some(()))
    })
    .await?;
    let delivery = env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    assert_eq!((delivery.status, delivery.outcome()), (200, "applied"), "{:?}", delivery.body);
    let answer = read.await??;
    assert_eq!(answer["balance"], answer["ledger_sum"], "one answer, two moments: {answer}");
    env.check_ledger().await
}

/// Regression (P2, the same class as the balance read above, found reading the API after it):
/// `GET /players/{id}/history` read the ledger lines and the debt lines in two statements, so a
/// refund committed between them showed its debt line without the ledger line it was booked with.
/// The refund (1,000 credits against a balance of 400) books both in one commit: -400 REFUND on the
/// ledger and a 600 REFUND debt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_p2_mve12_a_commit_during_a_history_read_never_gives_a_debt_line_without_its_ledger_line() -> anyhow::Result<()> {
    let setup = Setup { extra_env: vec![("FAILPOINTS", "payments::api::history_read=1*return(1500)".into())], ..Setup::default() };
    let env = Env::with(setup).await?;
    let player = env.player();
    let (_, pi) = env.paid_purchase(&player, 1_000).await?;
    let paid = env.deliver.send(&env.events.succeeded(&pi), SECRET).await?;
    assert_eq!((paid.status, paid.outcome()), (200, "applied"), "{:?}", paid.body);
    let (status, spent) = env.post(&format!("/players/{player}/spend"), serde_json::json!({ "credits": 600 })).await?;
    assert_eq!(status, 200, "{spent}");
    let url = format!("{}/players/{player}/history", env.base);
    let read = tokio::spawn(async move { reqwest::get(url).await?.json::<serde_json::Value>().await });
    harness::wait::until("the history read held", Duration::from_secs(30), || async {
        let logs = env.payments.logs().await?;
        Ok::<_, harness::Error>(logs.contains("failpoint payments::api::history_read: holding").then_some(()))
    })
    .await?;
    let delivery = env.deliver.send(&env.events.charge_refunded(&pi, 1_000), SECRET).await?;
    assert_eq!((delivery.status, delivery.outcome()), (200, "applied"), "{:?}", delivery.body);
    let answer = read.await??;
    let events = |list: &str| -> Vec<String> { answer[list].as_array().into_iter().flatten().filter(|l| l["kind"] == "REFUND").filter_map(|l| l["stripe_event"].as_str().map(String::from)).collect() };
    assert_eq!(events("debts"), events("lines"), "one answer, two moments (REFUND debt lines vs REFUND ledger lines): {answer}");
    env.check_ledger().await
}

/// Found by the code review of 2026-12-02 (S1, issue 23): a partial refund and a won dispute on a
/// balance the player had mostly spent ended at different balances and debts by arrival order.
/// Purchase 1,000, 900 spent (balance 100), refund 300, dispute 500 won: with the refund first the
/// service ended at balance 0 / debt 200, with the dispute first at balance 100 / debt 300 (the
/// hold took the last 100, the refund found nothing, and the release gave the 100 back while
/// forgiving only the hold's own shortfall). Every order must end as if the dispute never was:
/// the refund takes the 100 and owes 200.
#[tokio::test]
async fn regression_p1_mve23_a_refund_and_a_won_dispute_on_a_spent_balance_end_the_same_in_every_order() -> anyhow::Result<()> {
    let env = Env::new().await?;
    let mut seen = Vec::new();
    for order in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        let player = env.player();
        let (_, pi) = env.paid_purchase(&player, 1_000).await?;
        assert_eq!(env.deliver.send(&env.events.succeeded(&pi), SECRET).await?.status, 200);
        let (status, body) = env.post(&format!("/players/{player}/spend"), serde_json::json!({ "credits": 900 })).await?;
        assert_eq!(status, 200, "{body}");
        let events = [env.events.charge_refunded(&pi, 300), env.events.dispute(&pi, 500, "needs_response"), env.events.dispute(&pi, 500, "won")];
        for i in order {
            let d = env.deliver.send(&events[i], SECRET).await?;
            assert_eq!(d.status, 200, "{}", d.body);
        }
        let b = env.balance(&player).await?;
        seen.push((order, b.balance, b.debt));
    }
    assert!(seen.iter().all(|&(_, balance, debt)| (balance, debt) == (0, 200)), "(order of refund 0, dispute 1, won 2; balance; debt): {seen:?}");
    env.check_ledger().await
}
