//! Crash points, not crash times: the payments service is aborted at each of its named crash
//! points (`mve_payments::failpoints::POINTS`), a fresh service on the same database carries on (as
//! an orchestrator would restart it), and the ledger must hold every event exactly once.
//!
//! One workload reaches every point: purchases (one refused by Stripe), their successes, a refund,
//! an event of a type we ignore, an event for no known purchase, and spends. Deliveries are retried
//! like Stripe's until accepted; a purchase or spend whose answer was lost is not retried (the
//! player would start a new one), and the check allows for it.

mod common;

use std::time::Duration;

use common::{Env, SECRET, Setup};
use harness::stripe::{ApiError, Event, PaymentIntent};
use serde_json::json;

/// What a request to the service came to.
enum Answer {
    /// The service answered (status, body).
    Got(u16, serde_json::Value),
    /// The connection broke: the service crashed at the armed point and has been replaced.
    Lost,
}

struct Run {
    env: Env,
    point: &'static str,
    crashed: Option<String>,
}

impl Run {
    async fn start(point: &'static str) -> anyhow::Result<Run> {
        let setup = Setup { extra_env: vec![("FAILPOINTS", format!("{point}=return"))], ..Setup::default() };
        Ok(Run { env: Env::with(setup).await?, point, crashed: None })
    }

    /// After a broken connection: the armed service must have crashed at the point; a clean one
    /// takes over.
    async fn replace_crashed(&mut self) -> anyhow::Result<()> {
        let payments = &self.env.payments;
        harness::wait::until("the broken service to have exited", Duration::from_secs(30), || async { payments.exit_code().await })
            .await
            .map_err(|e| anyhow::anyhow!("a request broke but the service is still running: {e}"))?;
        let log = self.env.payments.logs().await?;
        anyhow::ensure!(self.crashed.is_none(), "the clean service died too:\n{log}");
        anyhow::ensure!(log.contains(&format!("failpoint {}: crashing", self.point)), "the service ended otherwise than at {}:\n{log}", self.point);
        self.crashed = Some(log);
        self.env.restart_payments(&[]).await
    }

    async fn request(&mut self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<Answer> {
        let mut r = self.env.http.request(method, format!("{}{path}", self.env.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        match r.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                Ok(Answer::Got(status, response.json().await.unwrap_or(serde_json::Value::Null)))
            }
            Err(_) => {
                self.replace_crashed().await?;
                Ok(Answer::Lost)
            }
        }
    }

    /// Like Stripe: delivers until a 2xx, replacing the service if it crashed on the way.
    async fn deliver(&mut self, event: &Event) -> anyhow::Result<String> {
        for _ in 0..10 {
            match self.env.deliver.send(event, SECRET).await {
                Ok(d) if d.status == 200 => return Ok(d.outcome().to_string()),
                Ok(d) => anyhow::bail!("{} answered {} {}", event.id, d.status, d.body),
                Err(_) => self.replace_crashed().await?,
            }
        }
        anyhow::bail!("{} never accepted", event.id)
    }
}

/// Runs the workload with `point` armed; checks the ledger against what was answered.
async fn crash_at(point: &'static str) -> anyhow::Result<()> {
    let mut run = Run::start(point).await?;
    let players = [run.env.player(), run.env.player()];
    let mut paid: Vec<(usize, PaymentIntent)> = Vec::new();
    // Purchases: two per player, then one that Stripe refuses.
    for (i, credits) in [(0, 1_000), (1, 700), (0, 300), (1, 2_000)] {
        if let Answer::Got(201, body) = run.request(reqwest::Method::POST, "/purchases", Some(json!({ "player_id": players[i], "credits": credits }))).await? {
            let pi = body["payment_intent"].as_str().unwrap_or_default().to_string();
            paid.push((i, run.env.stripe.succeed(&pi)?));
        }
    }
    // An intent Stripe created for a purchase whose answer was lost (the service crashed after
    // Stripe's answer) can still be paid: Stripe then reports its success like any other, and it
    // and a refund of it must be booked (review W2, S3).
    let answered: Vec<String> = paid.iter().map(|(_, pi)| pi.id.clone()).collect();
    let mut recovered = None;
    for pi in run.env.stripe.payment_intents() {
        if !answered.contains(&pi.id)
            && let Some(i) = players.iter().position(|p| pi.metadata.get("player_id") == Some(p))
        {
            paid.push((i, run.env.stripe.succeed(&pi.id)?));
            recovered = Some(paid.len() - 1);
        }
    }
    if point == "payments::purchase::after_stripe_create" {
        anyhow::ensure!(recovered.is_some(), "the crash after Stripe's answer left no intent the service never named");
    }
    run.env.stripe.fail("POST", "^/v1/payment_intents$", ApiError::Card { decline_code: "insufficient_funds" }, 1).await;
    let refused = run.request(reqwest::Method::POST, "/purchases", Some(json!({ "player_id": players[0], "credits": 500 }))).await?;
    if let Answer::Got(status, body) = &refused {
        anyhow::ensure!(*status == 402, "a refused card answered {status} {body}");
    }
    anyhow::ensure!(!paid.is_empty(), "no purchase was answered");
    // A refund first, before any success (Stripe does not order events): it goes to the recovered
    // purchase when there is one, whose refund names only an intent no purchase is linked to yet,
    // so it must wait (parked) for the success that links it.
    let (refunded_player, refunded_pi) = paid[recovered.unwrap_or(0)].clone();
    let refund = run.env.events.charge_refunded(&refunded_pi, 250);
    run.deliver(&refund).await?;
    // Stripe's events, each until accepted.
    for (_, pi) in &paid {
        let event = run.env.events.succeeded(pi);
        let outcome = run.deliver(&event).await?;
        anyhow::ensure!(["applied", "duplicate"].contains(&outcome.as_str()), "{} ended {outcome}", event.id);
    }
    // A type the service does not handle (newer than its Stripe crate): recorded as ignored, once.
    let ignored = run.deliver(&run.env.events.envelope("billing.meter.future_kind_of_event", json!({ "id": "bm_1", "object": "billing.meter" }))).await?;
    anyhow::ensure!(["ignored", "duplicate"].contains(&ignored.as_str()), "an ignored type ended {ignored}");
    let mut stranger = paid[0].1.clone();
    stranger.id = "pi_mve_nobody".into();
    stranger.metadata.insert("purchase_id".into(), "pur_nobody".into());
    run.env.stripe.set(stranger.clone());
    let unknown = run.deliver(&run.env.events.succeeded(&stranger)).await?;
    anyhow::ensure!(["unknown_purchase", "duplicate"].contains(&unknown.as_str()), "an event for no purchase ended {unknown}");
    // Spends: answered ones are certain; a lost one may or may not have happened.
    let mut spent = [0i64; 2];
    let mut uncertain = [0i64; 2];
    for (i, credits) in [(0, 100), (1, 200), (0, 50)] {
        match run.request(reqwest::Method::POST, &format!("/players/{}/spend", players[i]), Some(json!({ "credits": credits }))).await? {
            Answer::Got(200, _) => spent[i] += credits,
            Answer::Got(status, body) => anyhow::bail!("spend answered {status} {body}"),
            Answer::Lost => uncertain[i] += credits,
        }
    }
    anyhow::ensure!(run.crashed.is_some(), "the workload never reached {point}: it no longer covers it");

    // The ledger, from the tables: every event once, every balance its lines, every purchase paid once.
    let env = &run.env;
    env.check_ledger().await?;
    for (i, player) in players.iter().enumerate() {
        let credited: i64 = paid.iter().filter(|(p, _)| *p == i).map(|(_, pi)| pi.amount).sum();
        let refunded = if refunded_player == i { 250 } else { 0 };
        let balance = env.balance(player).await?.balance;
        let low = credited - refunded - spent[i] - uncertain[i];
        let high = credited - refunded - spent[i];
        anyhow::ensure!((low..=high).contains(&balance), "{player}: balance {balance}, expected {low}..={high} (paid {credited}, refunded {refunded}, spent {}, maybe {})", spent[i], uncertain[i]);
    }
    let events: Vec<(String, i64)> = sqlx::query_as("SELECT event_id, CAST(COUNT(*) AS SIGNED) FROM webhook_events GROUP BY event_id HAVING COUNT(*) > 1").fetch_all(&env.db.pool).await?;
    anyhow::ensure!(events.is_empty(), "events recorded twice: {events:?}");
    Ok(())
}

/// One test per crash point (they run in parallel); this list must be the service's.
const TESTED: [&str; 13] = [
    "payments::purchase::after_insert",
    "payments::purchase::after_stripe_create",
    "payments::ledger::link_before_commit",
    "payments::purchase::after_link",
    "payments::purchase::after_mark_failed",
    "payments::webhook::verified",
    "payments::ledger::ignored_recorded",
    "payments::ledger::unknown_before_commit",
    "payments::ledger::unknown_after_commit",
    "payments::ledger::apply_before_commit",
    "payments::ledger::apply_after_commit",
    "payments::ledger::spend_before_commit",
    "payments::ledger::spend_after_commit",
];

#[test]
fn every_crash_point_of_the_payments_service_has_a_test_here() {
    let listed: Vec<&str> = mve_payments::failpoints::crash_points().map(|p| p.name).collect();
    assert_eq!(listed, TESTED, "a crash point without a test (or a test of a point that is gone)");
}

macro_rules! crash_point_tests {
    ($($name:ident => $index:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> anyhow::Result<()> {
            crash_at(TESTED[$index]).await
        }
    )*};
}

crash_point_tests! {
    a_crash_after_storing_a_purchase_leaves_it_pending_and_uncredited => 0,
    a_crash_after_stripe_created_the_intent_still_credits_its_success_and_debits_its_refund => 1,
    a_crash_before_the_link_commits_still_credits_its_success_and_debits_its_refund => 2,
    a_crash_after_linking_the_intent_credits_once => 3,
    a_crash_after_marking_a_refused_purchase_failed_credits_nothing => 4,
    a_crash_after_verifying_a_delivery_applies_it_once_on_redelivery => 5,
    a_crash_after_recording_an_ignored_event_records_it_once => 6,
    a_crash_before_an_unknown_purchases_event_commits_records_it_once => 7,
    a_crash_after_an_unknown_purchases_event_commits_records_it_once => 8,
    a_crash_before_an_event_commits_applies_it_once_on_redelivery => 9,
    a_crash_after_an_event_commits_applies_it_once_on_redelivery => 10,
    a_crash_before_a_spend_commits_spends_at_most_once => 11,
    a_crash_after_a_spend_commits_spends_at_most_once => 12,
}
