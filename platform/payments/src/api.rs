//! The HTTP API: purchases, balances and history, the Stripe webhook, health and metrics.
//! A client's mistake is a 4xx with `{"error": ...}`; a 5xx means our database or Stripe failed.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use sqlx::mysql::MySqlPool;

use crate::config::Config;
use crate::ledger::{self, MAX_CREDITS, MIN_CREDITS};
use crate::stripe_api::{StripeApi, StripeError};
use mve_http::error;

pub struct Metrics {
    pub registry: Registry,
    pub webhooks: IntCounterVec,
    pub purchases: IntCounterVec,
    /// 1 while MariaDB answers this service (checked at each scrape): the dependency alert reads it.
    pub dependency_up: IntGaugeVec,
    /// 1 once `/health` answers 200.
    pub ready: IntGauge,
    pub requests: mve_http::metrics::RequestMetrics,
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let webhooks = IntCounterVec::new(Opts::new("payments_webhooks_total", "Webhook deliveries by outcome"), &["outcome"]).expect("valid metric");
        let purchases = IntCounterVec::new(Opts::new("payments_purchases_total", "Purchase requests by outcome"), &["outcome"]).expect("valid metric");
        registry.register(Box::new(webhooks.clone())).expect("unique metric");
        registry.register(Box::new(purchases.clone())).expect("unique metric");
        // Series exist from the start, so that a scrape sees zeros rather than nothing.
        for outcome in ["applied", "duplicate", "ignored", "rejected_signature", "rejected_payload", "database_unavailable"] {
            webhooks.with_label_values(&[outcome]);
        }
        purchases.with_label_values(&["created"]);
        let dependency_up = IntGaugeVec::new(Opts::new("payments_dependency_up", "1 while a dependency answers the payments service"), &["dependency"]).expect("valid metric");
        registry.register(Box::new(dependency_up.clone())).expect("unique metric");
        let ready = IntGauge::new("mve_ready", "1 once /health answers 200").expect("valid metric");
        registry.register(Box::new(ready.clone())).expect("unique metric");
        let requests = mve_http::metrics::RequestMetrics::register(&registry).expect("unique metric");
        Metrics { registry, webhooks, purchases, dependency_up, ready, requests }
    }
}

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub pool: MySqlPool,
    pub stripe: StripeApi,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<std::sync::atomic::AtomicBool>,
}

impl App {
    pub fn new(config: Config, pool: MySqlPool) -> anyhow::Result<App> {
        Ok(App { stripe: StripeApi::new(&config)?, config: Arc::new(config), pool, metrics: Arc::new(Metrics::new()), ready: Arc::new(std::sync::atomic::AtomicBool::new(false)) })
    }
}

pub fn router(app: App) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route("/purchases", post(create_purchase))
        .route("/purchases/{id}", get(purchase))
        .route("/players/{id}/balance", get(balance))
        .route("/players/{id}/history", get(history))
        .route("/players/{id}/spend", post(spend))
        .route("/webhooks/stripe", post(crate::webhook::receive))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "this endpoint does not take that method") })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

fn db_down(e: sqlx::Error) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e}"))
}

#[allow(clippy::result_large_err)] // the refusal is the handler's answer as it stands
fn player_id(raw: &str) -> Result<&str, Response> {
    let ok = !raw.is_empty() && raw.len() <= 64 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(raw) } else { Err(error(StatusCode::BAD_REQUEST, "player id: 1 to 64 characters of [A-Za-z0-9_-]")) }
}

/// Unknown fields are refused: a client's typo (`credit` next to `credits`) must not pass unseen
/// (regression_p3 in api-robustness).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPurchase {
    player_id: String,
    credits: i64,
}

fn random_id() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32).map(|_| char::from_digit(rng.random_range(0..16), 16).expect("hex digit")).collect()
}

/// `InitiateCreditPurchase`: validates, creates the PaymentIntent (idempotency key from the
/// purchase id), stores the purchase as PENDING.
async fn create_purchase(State(app): State<App>, body: Result<Json<NewPurchase>, axum::extract::rejection::JsonRejection>) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: expected JSON {{\"player_id\": string, \"credits\": integer}}: {}", e.body_text())),
    };
    let player = match player_id(&req.player_id) {
        Ok(p) => p.to_string(),
        Err(r) => return r,
    };
    if !(MIN_CREDITS..=MAX_CREDITS).contains(&req.credits) {
        return error(StatusCode::BAD_REQUEST, format!("credits: {MIN_CREDITS}..={MAX_CREDITS}, got {}", req.credits));
    }
    let id = random_id();
    // Stored first: whatever Stripe answers, a later webhook (which names the purchase id) can fix it.
    if let Err(e) = sqlx::query("INSERT INTO purchases (id, player_id, credits, status) VALUES (?, ?, ?, 'PENDING')").bind(&id).bind(&player).bind(req.credits).execute(&app.pool).await {
        return db_down(e);
    }
    mve_failpoints::crash_point!("payments::purchase::after_insert");
    match app.stripe.create_payment_intent(&id, &player, req.credits).await {
        Ok(pi) => {
            mve_failpoints::crash_point!("payments::purchase::after_stripe_create");
            if let Err(e) = ledger::link(&app.pool, &id, &pi.id, pi.client_secret.as_deref()).await {
                return db_down(e);
            }
            app.metrics.purchases.with_label_values(&["created"]).inc();
            (StatusCode::CREATED, Json(json!({ "purchase_id": id, "payment_intent": pi.id, "client_secret": pi.client_secret, "status": "PENDING" }))).into_response()
        }
        Err(e) => {
            let (status, outcome, message) = player_error(&e);
            // Definitely not created (Stripe said no): the purchase failed. Unknown (no answer):
            // it stays PENDING, and a webhook naming it will settle it.
            if !matches!(e, StripeError::Unreachable { .. }) && !e.is_rate_limit() && !matches!(e, StripeError::Api { status: 500..=599, .. }) {
                let _ = sqlx::query("UPDATE purchases SET status = 'FAILED', failure_reason = ?, failure_key = '' WHERE id = ?").bind(e.to_string()).bind(&id).execute(&app.pool).await;
                mve_failpoints::crash_point!("payments::purchase::after_mark_failed");
            }
            app.metrics.purchases.with_label_values(&[outcome]).inc();
            (status, Json(json!({ "error": message, "code": outcome, "purchase_id": id, "stripe": e.to_string() }))).into_response()
        }
    }
}

/// What the player sees for each Stripe failure.
fn player_error(e: &StripeError) -> (StatusCode, &'static str, String) {
    match e {
        StripeError::Card { code, decline_code, message } => {
            (StatusCode::PAYMENT_REQUIRED, "card_declined", format!("your card was declined ({}): {message}", decline_code.as_deref().unwrap_or(code)))
        }
        StripeError::Api { status: 429, .. } => (StatusCode::SERVICE_UNAVAILABLE, "payments_busy", "payments are busy; try again in a minute".into()),
        StripeError::Api { status: 409, .. } => (StatusCode::CONFLICT, "purchase_conflict", "this purchase was already started with other details".into()),
        StripeError::Api { status: 400, .. } => (StatusCode::BAD_GATEWAY, "payment_rejected", "the payment provider rejected the purchase request".into()),
        StripeError::Api { status: 401 | 403, .. } => (StatusCode::BAD_GATEWAY, "payments_misconfigured", "payments are misconfigured; support has been told".into()),
        StripeError::Api { status: 404, .. } => (StatusCode::BAD_GATEWAY, "payment_rejected", "the payment provider could not find a resource it needed".into()),
        StripeError::Api { .. } => (StatusCode::SERVICE_UNAVAILABLE, "payments_unavailable", "payments are unavailable; try again later".into()),
        StripeError::Unreachable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "payments_unavailable", "payments are unavailable; try again later".into()),
    }
}

/// `CompleteCreditPurchase`: reads state only; the money arrives by webhook.
async fn purchase(State(app): State<App>, Path(id): Path<String>) -> Response {
    if id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return error(StatusCode::BAD_REQUEST, "purchase id: 32 hex digits");
    }
    match sqlx::query("SELECT player_id, credits, status, payment_intent_id, failure_reason, review_reason FROM purchases WHERE id = ?").bind(&id).fetch_optional(&app.pool).await {
        Ok(Some(r)) => {
            // A reason is shown with the status it explains: facts that lost the merge (a failure
            // before a success, say) stay stored but do not describe the purchase.
            let status = r.get::<String, _>(2);
            Json(json!({
                "purchase_id": id,
                "player_id": r.get::<String, _>(0),
                "credits": r.get::<i64, _>(1),
                "payment_intent": r.get::<Option<String>, _>(3),
                "failure_reason": if status == "FAILED" { r.get::<Option<String>, _>(4) } else { None },
                "review_reason": if status == "REVIEW" { r.get::<Option<String>, _>(5) } else { None },
                "status": status,
            }))
            .into_response()
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no purchase {id}")),
        Err(e) => db_down(e),
    }
}

/// `GetCreditBalance`: the stored balance, the ledger's sum (they must agree) and the debt.
async fn balance(State(app): State<App>, Path(raw): Path<String>) -> Response {
    let player = match player_id(&raw) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // One statement, so one read view: the balance, the ledger's sum and the debt of one moment
    // (three statements let a commit land between them: regression_p2 in stripe-webhooks).
    let q = async {
        mve_failpoints::hold_point!("payments::api::balance_read");
        let row = sqlx::query(
            "SELECT (SELECT credits FROM balances WHERE player_id = ?), \
               (SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM ledger WHERE player_id = ?), \
               (SELECT CAST(COALESCE(SUM(shortfall), 0) AS SIGNED) FROM debts WHERE player_id = ?)",
        )
        .bind(player)
        .bind(player)
        .bind(player)
        .fetch_one(&app.pool)
        .await?;
        let stored: Option<i64> = row.try_get(0)?;
        Ok::<_, sqlx::Error>((stored.unwrap_or(0), row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(2)?))
    };
    match q.await {
        Ok((stored, sum, debt)) => Json(json!({
            "player_id": player,
            "balance": stored,
            "ledger_sum": sum,
            "debt": debt,
        }))
        .into_response(),
        Err(e) => db_down(e),
    }
}

/// `GetCreditHistory`: every ledger line and debt line, oldest first.
async fn history(State(app): State<App>, Path(raw): Path<String>) -> Response {
    let player = match player_id(&raw) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // One statement, so one read view: a refund books its ledger line and its debt line in one
    // commit, and two statements could show one without the other (regression_p2 in stripe-webhooks).
    mve_failpoints::hold_point!("payments::api::history_read");
    let rows = sqlx::query(
        "SELECT CAST(0 AS SIGNED) AS debt, id, amount, kind, purchase_id, stripe_object, stripe_event FROM ledger WHERE player_id = ? \
         UNION ALL \
         SELECT CAST(1 AS SIGNED), id, shortfall, kind, purchase_id, stripe_object, stripe_event FROM debts WHERE player_id = ? \
         ORDER BY 1, 2",
    )
    .bind(player)
    .bind(player)
    .fetch_all(&app.pool)
    .await;
    let row = |r: &sqlx::mysql::MySqlRow, amount: &str| {
        json!({
            amount: r.get::<i64, _>(2),
            "kind": r.get::<String, _>(3),
            "purchase_id": r.get::<Option<String>, _>(4),
            "stripe_object": r.get::<Option<String>, _>(5),
            "stripe_event": r.get::<Option<String>, _>(6),
        })
    };
    match rows {
        Ok(rows) => {
            let (debts, lines): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.get::<i64, _>(0) == 1);
            Json(json!({
                "player_id": player,
                "lines": lines.iter().map(|r| row(r, "amount")).collect::<Vec<_>>(),
                "debts": debts.iter().map(|r| row(r, "shortfall")).collect::<Vec<_>>(),
            }))
            .into_response()
        }
        Err(e) => db_down(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spend {
    credits: i64,
}

async fn spend(State(app): State<App>, Path(raw): Path<String>, body: Result<Json<Spend>, axum::extract::rejection::JsonRejection>) -> Response {
    let player = match player_id(&raw) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: expected JSON {{\"credits\": integer}}: {}", e.body_text())),
    };
    if req.credits <= 0 {
        return error(StatusCode::BAD_REQUEST, "credits: a positive integer");
    }
    match ledger::spend(&app.pool, player, req.credits).await {
        Ok(Ok(left)) => Json(json!({ "player_id": player, "balance": left })).into_response(),
        Ok(Err(have)) => error(StatusCode::CONFLICT, format!("balance {have} is less than {}", req.credits)),
        Err(e) => db_down(e),
    }
}

async fn health(State(app): State<App>) -> Response {
    if app.ready.load(std::sync::atomic::Ordering::Relaxed) {
        Json(json!({ "status": "ok" })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "starting" }))).into_response()
    }
}

/// How long a scrape waits for MariaDB's answer before reporting it down.
const DEPENDENCY_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

async fn metrics(State(app): State<App>) -> Response {
    app.metrics.ready.set(app.ready.load(std::sync::atomic::Ordering::Relaxed) as i64);
    let database = tokio::time::timeout(DEPENDENCY_CHECK, sqlx::query("SELECT 1").fetch_one(&app.pool)).await.is_ok_and(|r| r.is_ok());
    app.metrics.dependency_up.with_label_values(&["database"]).set(database as i64);
    let mut buf = Vec::new();
    TextEncoder::new().encode(&app.metrics.registry.gather(), &mut buf).expect("text encoding");
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], buf).into_response()
}
