//! What every test starts from: a payments service of its own (its own database) configured
//! against a simulated Stripe API, a deliverer for its webhook endpoint, and the ledger check.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use harness::stripe::{Deliverer, Events, FakeStripe, PaymentIntent};
use harness::{Service, ServiceHandle, Stack, TestDatabase};
use serde_json::{json, Value};

pub const SECRET: &str = "whsec_mve_primary_0123456789abcdef";
pub const ROTATED: &str = "whsec_mve_rotated_fedcba9876543210";

/// How the service under test is configured.
#[derive(Debug, Clone)]
pub struct Setup {
    pub secrets: Vec<&'static str>,
    pub livemode: bool,
    pub max_retries: u32,
    pub timeout_ms: u64,
    /// Point the service's Stripe API at this base instead of the simulator (a dropping server).
    pub api_base: Option<String>,
    /// Containers of this test alone (for faults on MariaDB).
    pub private: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { secrets: vec![SECRET], livemode: false, max_retries: 3, timeout_ms: 1_000, api_base: None, private: false }
    }
}

/// Fields drop in order: the stack (and its network) goes last, after every container on it.
pub struct Env {
    pub db: TestDatabase,
    pub stripe: FakeStripe,
    pub payments: ServiceHandle,
    pub base: String,
    pub http: reqwest::Client,
    pub deliver: Deliverer,
    pub events: Events,
    players: Mutex<Vec<String>>,
    pub stack: Stack,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub balance: i64,
    pub ledger_sum: i64,
    pub debt: i64,
}

impl Env {
    pub async fn new() -> anyhow::Result<Env> {
        Self::with(Setup::default()).await
    }

    pub async fn with(setup: Setup) -> anyhow::Result<Env> {
        let builder = Stack::builder().mariadb();
        let stack = if setup.private { builder.private().await? } else { builder.shared().await? };
        let db = stack.fresh_database().await?;
        let stripe = FakeStripe::start(stack.gateway_ip().await?, setup.livemode).await?;
        let env = vec![
            ("PAYMENTS_DATABASE_URL", db.network_url.clone().expect("container database")),
            ("PAYMENTS_STRIPE_API_BASE", setup.api_base.clone().unwrap_or_else(|| stripe.url())),
            ("PAYMENTS_STRIPE_SECRET_KEY", "sk_test_mve_simulated".to_string()),
            ("PAYMENTS_WEBHOOK_SECRETS", setup.secrets.join(",")),
            ("PAYMENTS_LIVEMODE", setup.livemode.to_string()),
            ("PAYMENTS_STRIPE_MAX_RETRIES", setup.max_retries.to_string()),
            ("PAYMENTS_STRIPE_TIMEOUT_MS", setup.timeout_ms.to_string()),
            ("PAYMENTS_STRIPE_BACKOFF_MS", "20".to_string()),
        ];
        let payments = stack.start_platform(Service::Payments, &env).await?;
        let base = payments.url().await?;
        Ok(Env {
            deliver: Deliverer::new(&format!("{base}/webhooks/stripe")),
            events: Events::new(setup.livemode),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            base,
            stack,
            db,
            stripe,
            payments,
            players: Mutex::new(Vec::new()),
        })
    }

    /// A player id of this test's own; the ledger check covers every one handed out.
    pub fn player(&self) -> String {
        let mut players = self.players.lock().expect("players");
        let id = format!("player_{}_{}", players.len(), std::process::id());
        players.push(id.clone());
        id
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let r = self.http.get(format!("{}{path}", self.base)).send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// `POST /purchases`, expecting success; returns the purchase id and Stripe's intent.
    pub async fn purchase(&self, player: &str, credits: i64) -> anyhow::Result<(String, PaymentIntent)> {
        let (status, body) = self.post("/purchases", json!({ "player_id": player, "credits": credits })).await?;
        anyhow::ensure!(status == 201, "POST /purchases answered {status} {body}");
        let pi = body["payment_intent"].as_str().ok_or_else(|| anyhow::anyhow!("no payment_intent in {body}"))?;
        let pi = self.stripe.payment_intent(pi).ok_or_else(|| anyhow::anyhow!("Stripe never saw {pi}"))?;
        Ok((body["purchase_id"].as_str().unwrap_or_default().to_string(), pi))
    }

    /// A purchase Stripe reports paid: the intent is succeeded in the simulator and its event built.
    pub async fn paid_purchase(&self, player: &str, credits: i64) -> anyhow::Result<(String, PaymentIntent)> {
        let (id, pi) = self.purchase(player, credits).await?;
        let pi = self.stripe.succeed(&pi.id)?;
        Ok((id, pi))
    }

    pub async fn balance(&self, player: &str) -> anyhow::Result<Balance> {
        let (status, b) = self.get(&format!("/players/{player}/balance")).await?;
        anyhow::ensure!(status == 200, "balance answered {status} {b}");
        Ok(Balance {
            balance: b["balance"].as_i64().unwrap_or(i64::MIN),
            ledger_sum: b["ledger_sum"].as_i64().unwrap_or(i64::MIN),
            debt: b["debt"].as_i64().unwrap_or(i64::MIN),
        })
    }

    /// The ledger lines as (kind, amount), sorted: what "the same ledger" compares.
    pub async fn ledger(&self, player: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let (_, h) = self.get(&format!("/players/{player}/history")).await?;
        let mut lines: Vec<(String, i64)> = h["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l["kind"].as_str().unwrap_or_default().to_string(), l["amount"].as_i64().unwrap_or_default()))
            .collect();
        lines.sort();
        Ok(lines)
    }

    pub async fn purchase_status(&self, id: &str) -> anyhow::Result<Value> {
        Ok(self.get(&format!("/purchases/{id}")).await?.1)
    }

    /// The ledger check every test ends with: for every player of the test, the balance is the
    /// sum of the ledger and never below zero, both as the service reports them and as the database
    /// holds them ([`check_tables`]).
    pub async fn check_ledger(&self) -> anyhow::Result<()> {
        let players = self.players.lock().expect("players").clone();
        // At MariaDB's current port: a test may have restarted it.
        let pool = self.stack.reconnect_database(&self.db).await?;
        for p in &players {
            self.check_reported(p, &pool).await?;
        }
        check_tables(&pool, &players).await
    }

    /// The ledger check for one player (a proptest case checks its own).
    pub async fn check_player(&self, player: &str) -> anyhow::Result<()> {
        self.check_reported(player, &self.db.pool).await?;
        check_tables(&self.db.pool, &[player.to_string()]).await
    }

    async fn check_reported(&self, p: &str, pool: &sqlx::MySqlPool) -> anyhow::Result<()> {
        let b = self.balance(p).await?;
        anyhow::ensure!(b.balance == b.ledger_sum, "{p}: balance {} but the ledger sums to {}", b.balance, b.ledger_sum);
        anyhow::ensure!(b.balance >= 0, "{p}: negative balance {}", b.balance);
        let t = table_balance(pool, p).await?;
        anyhow::ensure!(t == b, "{p}: the service reports {b:?} but the tables hold {t:?}");
        Ok(())
    }
}

/// A player's balance, ledger sum and debt read from the tables, not from the service.
pub async fn table_balance(pool: &sqlx::MySqlPool, player: &str) -> anyhow::Result<Balance> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT credits FROM balances WHERE player_id = ?").bind(player).fetch_optional(pool).await?;
    let ledger_sum: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM ledger WHERE player_id = ?").bind(player).fetch_one(pool).await?;
    let debt: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(shortfall), 0) AS SIGNED) FROM debts WHERE player_id = ?").bind(player).fetch_one(pool).await?;
    Ok(Balance { balance: balance.unwrap_or(0), ledger_sum, debt })
}

/// The ledger's invariants, read from the database directly: a stored balance equals the sum of its
/// lines and is never negative; no player owes a negative debt; every line an event caused names an
/// event recorded as applied, and no event is left half-applied; each purchase has at most one
/// PURCHASE line, worth its credits, and only a SUCCEEDED purchase has lines at all; refunds never
/// take back more than was credited.
pub async fn check_tables(pool: &sqlx::MySqlPool, players: &[String]) -> anyhow::Result<()> {
    use sqlx::Row;
    for p in players {
        let t = table_balance(pool, p).await?;
        anyhow::ensure!(t.balance == t.ledger_sum && t.balance >= 0, "{p}: balances row {} but ledger lines sum to {}", t.balance, t.ledger_sum);
        anyhow::ensure!(t.debt >= 0, "{p}: debt lines sum to {} (more forgiven than owed)", t.debt);
    }
    let orphans: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.kind, COALESCE(l.stripe_event, '') FROM ledger l LEFT JOIN webhook_events w ON w.event_id = l.stripe_event \
         WHERE l.stripe_event IS NOT NULL AND (w.event_id IS NULL OR w.outcome NOT IN ('applied', 'flagged_for_review'))",
    )
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(orphans.is_empty(), "ledger lines whose event is not recorded as applied: {orphans:?}");
    let pending: Vec<String> = sqlx::query_scalar("SELECT event_id FROM webhook_events WHERE outcome = 'pending'").fetch_all(pool).await?;
    anyhow::ensure!(pending.is_empty(), "events recorded but never finished: {pending:?}");
    let rows = sqlx::query(
        "SELECT p.id, p.status, p.credits, \
           CAST(COALESCE(SUM(CASE WHEN l.kind = 'PURCHASE' THEN 1 ELSE 0 END), 0) AS SIGNED) AS purchase_lines, \
           CAST(COALESCE(SUM(CASE WHEN l.kind = 'PURCHASE' THEN l.amount ELSE 0 END), 0) AS SIGNED) AS purchased, \
           CAST(COALESCE(SUM(CASE WHEN l.kind = 'REFUND' THEN l.amount ELSE 0 END), 0) AS SIGNED) AS taken, \
           CAST(COUNT(l.id) AS SIGNED) AS line_count \
         FROM purchases p LEFT JOIN ledger l ON l.purchase_id = p.id GROUP BY p.id, p.status, p.credits",
    )
    .fetch_all(pool)
    .await?;
    for r in rows {
        let (id, status, credits): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        let (purchase_lines, purchased, taken, lines): (i64, i64, i64, i64) = (r.get(3), r.get(4), r.get(5), r.get(6));
        if status == "SUCCEEDED" {
            anyhow::ensure!(purchase_lines == 1 && purchased == credits, "purchase {id}: {purchase_lines} PURCHASE lines worth {purchased}, want one of {credits}");
            anyhow::ensure!(-taken <= credits, "purchase {id}: refunds took {} of {credits} credits", -taken);
        } else {
            anyhow::ensure!(lines == 0, "purchase {id} is {status} but has {lines} ledger lines");
        }
    }
    Ok(())
}

/// Proptest cases: `MVE_PROPTEST_CASES` if set (a longer run), else the test's own number.
pub fn cases(default: u32) -> u32 {
    std::env::var("MVE_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default)
}

/// For proptest bodies (synchronous): one runtime per test process...
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime"))
}

/// ...and one service for all its cases (each case uses players of its own).
pub fn shared_env() -> &'static Env {
    static ENV: std::sync::OnceLock<Env> = std::sync::OnceLock::new();
    ENV.get_or_init(|| runtime().block_on(Env::new()).expect("environment"))
}
