//! `POST /webhooks/stripe`: verify the signature on the raw bytes (with the Stripe crate, against
//! every configured secret), check the mode, then apply the event once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use stripe_webhook::{EventObject, Webhook, WebhookError};

use crate::api::App;
use crate::ledger::{self, Fact, Outcome, PurchaseRef};
use crate::stripe_api::StripeError;

fn answer(status: StatusCode, outcome: &str, message: impl Into<String>) -> Response {
    let message = message.into();
    // A refusal also says `error`, as every other 4xx and 5xx of the service does (regression_p3 in
    // api-robustness); `outcome` and `message` stay for Stripe's dashboard and our metrics.
    if status.is_success() {
        (status, Json(json!({ "outcome": outcome, "message": message }))).into_response()
    } else {
        (status, Json(json!({ "outcome": outcome, "message": message.clone(), "error": message }))).into_response()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub async fn receive(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let deadline = tokio::time::Instant::now() + app.config.webhook_deadline;
    let response = handle(&app, &headers, &body, deadline).await;
    let outcome = response.1;
    app.metrics.webhooks.with_label_values(&[outcome]).inc();
    response.0
}

/// Every wait (Stripe's read, the database) ends by `deadline`, so the endpoint answers within
/// payments.md's 2 s whatever is slow: work that cannot finish by then answers 503, and Stripe's
/// retry does it later, exactly once (the event id is recorded in the transaction that applies it).
async fn handle(app: &App, headers: &HeaderMap, body: &[u8], deadline: tokio::time::Instant) -> (Response, &'static str) {
    let bad = |outcome: &'static str, m: String| (answer(StatusCode::BAD_REQUEST, outcome, m), outcome);
    let Some(signature) = headers.get("stripe-signature").and_then(|v| v.to_str().ok()) else {
        return bad("rejected_signature", "missing Stripe-Signature header".into());
    };
    let Ok(payload) = std::str::from_utf8(body) else {
        return bad("rejected_payload", "body is not UTF-8".into());
    };
    let mut verdict = Err(WebhookError::BadSignature);
    for secret in &app.config.webhook_secrets {
        verdict = Webhook::construct_event_with_timestamp(payload, signature, secret, now());
        if !matches!(verdict, Err(WebhookError::BadSignature | WebhookError::BadKey)) {
            break;
        }
    }
    let event = match verdict {
        Ok(event) => event,
        Err(WebhookError::BadTimestamp(t)) => {
            return bad("rejected_signature", format!("signature timestamp {t} is more than 300 s from now"));
        }
        Err(WebhookError::BadParse(m)) => return bad("rejected_payload", format!("signed, but not a Stripe event we can read: {m}")),
        Err(e) => return bad("rejected_signature", format!("signature does not verify: {e}")),
    };
    if event.livemode != app.config.livemode {
        return bad("rejected_mode", format!("event {} is {} mode; this service takes {} mode", event.id, mode(event.livemode), mode(app.config.livemode)));
    }
    mve_failpoints::crash_point!("payments::webhook::verified");
    let event_id = event.id.to_string();
    let created = event.created;
    let event_type = event.type_.to_string();
    // A repeat is answered before anything else is asked: reading Stripe for it would cost a call,
    // and while Stripe is slow or down answer 503 to an event that is already applied.
    match tokio::time::timeout_at(deadline, ledger::seen(&app.pool, &event_id)).await {
        Ok(Ok(true)) => return (answer(StatusCode::OK, Outcome::Duplicate.as_str(), format!("{event_type} {event_id}: seen before")), Outcome::Duplicate.as_str()),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => return database_unavailable(e.to_string()),
        Err(_) => return database_unavailable(format!("no answer within the {} ms webhook deadline", app.config.webhook_deadline.as_millis())),
    }
    let (object, intent, target, fact) = match event.data.object {
        EventObject::PaymentIntentSucceeded(pi) => {
            // The event's copy may be stale: what counts is the PaymentIntent as Stripe has it now.
            let read = tokio::time::timeout_at(deadline, app.stripe.payment_intent(pi.id.as_str())).await;
            let current =
                match read.unwrap_or_else(|_| Err(StripeError::Unreachable { attempts: 0, last: format!("no answer within the {} ms webhook deadline", app.config.webhook_deadline.as_millis()) })) {
                    Ok(c) => c,
                    Err(e) => {
                        return (answer(StatusCode::SERVICE_UNAVAILABLE, "stripe_unavailable", format!("could not read {} from Stripe: {e}; retry later", pi.id)), "stripe_unavailable");
                    }
                };
            let target = match current.metadata.get("purchase_id") {
                Some(id) => PurchaseRef::Id(id.clone()),
                None => PurchaseRef::PaymentIntent(current.id.clone()),
            };
            if current.status != "succeeded" {
                // Stripe's own read is behind its event (a succeeded intent never changes status
                // again): nothing is recorded, so that Stripe's retry can still apply it.
                let message = format!("Stripe says {} is {}, not succeeded yet; retry later", current.id, current.status);
                return (answer(StatusCode::SERVICE_UNAVAILABLE, "not_yet_succeeded", message), "not_yet_succeeded");
            }
            let fact =
                Fact::Succeeded { amount_received: current.amount_received, currency: current.currency.to_lowercase(), metadata_credits: current.metadata.get("credits").and_then(|c| c.parse().ok()) };
            (pi.id.to_string(), Some(pi.id.to_string()), target, fact)
        }
        EventObject::PaymentIntentPaymentFailed(pi) => {
            let reason = pi.last_payment_error.as_ref().and_then(|e| e.message.clone().or_else(|| e.code.as_ref().map(|c| c.as_str().to_string()))).unwrap_or_else(|| "payment failed".into());
            // Zero-padded, so that string order is (created, event id) order.
            let key = format!("{:020}-{event_id}", created);
            (pi.id.to_string(), Some(pi.id.to_string()), pi_target(&pi), Fact::Failed { reason, key })
        }
        EventObject::PaymentIntentCanceled(pi) => (pi.id.to_string(), Some(pi.id.to_string()), pi_target(&pi), Fact::Canceled),
        EventObject::ChargeRefunded(charge) => {
            let Some(pi) = charge.payment_intent.as_ref().map(|p| p.id().to_string()) else {
                return bad("rejected_payload", format!("charge {} names no payment_intent", charge.id));
            };
            (charge.id.to_string(), None, PurchaseRef::PaymentIntent(pi), Fact::Refunded { amount_refunded: charge.amount_refunded })
        }
        EventObject::ChargeDisputeCreated(d) | EventObject::ChargeDisputeClosed(d) => {
            let Some(pi) = d.payment_intent.as_ref().map(|p| p.id().to_string()) else {
                return bad("rejected_payload", format!("dispute {} names no payment_intent", d.id));
            };
            let dispute = d.id.to_string();
            let fact = if event_type == "charge.dispute.created" {
                Fact::DisputeCreated { dispute: dispute.clone(), amount: d.amount }
            } else {
                Fact::DisputeClosed { dispute: dispute.clone(), status: d.status.as_str().to_string(), amount: d.amount }
            };
            (dispute, None, PurchaseRef::PaymentIntent(pi), fact)
        }
        _ => return record_only(app, &event_id, &event_type, deadline).await,
    };
    let delivered = ledger::Delivered { id: &event_id, kind: &event_type, object: &object, intent: intent.as_deref() };
    match tokio::time::timeout_at(deadline, ledger::apply(&app.pool, &delivered, &target, &fact)).await {
        Ok(Ok(outcome)) => (answer(StatusCode::OK, outcome.as_str(), format!("{event_type} {event_id}")), outcome.as_str()),
        Ok(Err(e)) => database_unavailable(e.to_string()),
        Err(_) => database_unavailable(format!("no answer within the {} ms webhook deadline", app.config.webhook_deadline.as_millis())),
    }
}

fn database_unavailable(why: String) -> (Response, &'static str) {
    (answer(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", format!("database: {why}; retry later")), "database_unavailable")
}

fn pi_target(pi: &stripe_shared::PaymentIntent) -> PurchaseRef {
    match pi.metadata.get("purchase_id") {
        Some(id) => PurchaseRef::Id(id.clone()),
        None => PurchaseRef::PaymentIntent(pi.id.to_string()),
    }
}

async fn record_only(app: &App, event_id: &str, event_type: &str, deadline: tokio::time::Instant) -> (Response, &'static str) {
    match tokio::time::timeout_at(deadline, ledger::record_ignored(&app.pool, event_id, event_type)).await {
        Ok(Ok(o @ (Outcome::Ignored | Outcome::Duplicate))) => (answer(StatusCode::OK, o.as_str(), format!("{event_type} {event_id}: nothing to do")), o.as_str()),
        Ok(Ok(o)) => (answer(StatusCode::OK, o.as_str(), event_id.to_string()), o.as_str()),
        Ok(Err(e)) => database_unavailable(e.to_string()),
        Err(_) => database_unavailable(format!("no answer within the {} ms webhook deadline", app.config.webhook_deadline.as_millis())),
    }
}

fn mode(live: bool) -> &'static str {
    if live { "live" } else { "test" }
}
