//! What every test starts from: a payments service of its own (its own database) configured
//! against a simulated Stripe API, a deliverer for its webhook endpoint, and the ledger check.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use harness::stripe::{Deliverer, Events, FakeStripe, PaymentIntent};
use harness::{Service, ServiceHandle, Stack, TestDatabase};
use serde_json::{Value, json};

pub use harness::ledger::{Balance, check_tables, table_balance};

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
    /// More environment for the service (`FAILPOINTS`).
    pub extra_env: Vec<(&'static str, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup { secrets: vec![SECRET], livemode: false, max_retries: 3, timeout_ms: 1_000, api_base: None, private: false, extra_env: Vec::new() }
    }
}

/// What [`Env::deliver_at_once`] saw: each copy's accepted answer, and how many deadline 503s
/// were redelivered first.
pub struct AtOnce {
    pub answers: Vec<harness::stripe::Delivery>,
    pub deadline_503s: usize,
}

impl AtOnce {
    /// Every copy accepted with 200, and the event applied by exactly one of them — or by none, when
    /// the delivery that committed was cut off by the deadline after its commit (it answered 503).
    pub fn assert_applied_once(&self) {
        let (n, cut) = (self.answers.len(), self.deadline_503s);
        let statuses: Vec<u16> = self.answers.iter().map(|d| d.status).collect();
        assert!(statuses.iter().all(|&s| s == 200), "statuses {statuses:?}; {cut} deadline 503s redelivered");
        let applied = self.answers.iter().filter(|d| d.outcome() == "applied").count();
        let duplicate = self.answers.iter().filter(|d| d.outcome() == "duplicate").count();
        assert_eq!(applied + duplicate, n, "{cut} deadline 503s redelivered");
        assert!(applied == 1 || (applied == 0 && cut > 0), "applied {applied} times of {n}; {cut} deadline 503s");
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
    config: Vec<(&'static str, String)>,
    pub stack: Stack,
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
        let mut env = vec![
            ("PAYMENTS_DATABASE_URL", db.network_url.clone().expect("container database")),
            ("PAYMENTS_STRIPE_API_BASE", setup.api_base.clone().unwrap_or_else(|| stripe.url())),
            ("PAYMENTS_STRIPE_SECRET_KEY", "sk_test_mve_simulated".to_string()),
            ("PAYMENTS_WEBHOOK_SECRETS", setup.secrets.join(",")),
            ("PAYMENTS_LIVEMODE", setup.livemode.to_string()),
            ("PAYMENTS_STRIPE_MAX_RETRIES", setup.max_retries.to_string()),
            ("PAYMENTS_STRIPE_TIMEOUT_MS", setup.timeout_ms.to_string()),
            ("PAYMENTS_STRIPE_BACKOFF_MS", "20".to_string()),
        ];
        let config = env.clone();
        env.extend(setup.extra_env.iter().cloned());
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
            config,
        })
    }

    /// A new payments container on the same database and Stripe, replacing the current one (as an
    /// orchestrator replaces a dead instance), with `extra` environment on top of the test's setup
    /// minus its extra environment (a restart without the failpoint that crashed it).
    pub async fn restart_payments(&mut self, extra: &[(&'static str, String)]) -> anyhow::Result<()> {
        let mut env = self.config.clone();
        env.extend(extra.iter().cloned());
        self.payments = self.stack.start_platform(Service::Payments, &env).await?;
        self.base = self.payments.url().await?;
        self.deliver = Deliverer::new(&format!("{}/webhooks/stripe", self.base));
        Ok(())
    }

    /// `n` deliveries of `event` at the same moment, then each one answered 503 redelivered until
    /// accepted, as Stripe does. On a loaded machine (the CI's cold run) fifty at once can outrun
    /// payments.md's 2 s answer, and the endpoint's deadline 503 is then the right answer; any other
    /// 503 (a deadlock, a pool error) is a bug and fails here.
    pub async fn deliver_at_once(&self, event: &harness::stripe::Event, n: usize) -> anyhow::Result<AtOnce> {
        let first = self.deliver.concurrently(event, SECRET, n).await?;
        let mut at_once = AtOnce { answers: Vec::with_capacity(n), deadline_503s: 0 };
        for d in first {
            if d.status != 503 {
                at_once.answers.push(d);
                continue;
            }
            let message = d.body["message"].as_str().unwrap_or_default();
            anyhow::ensure!(message.contains("webhook deadline"), "a 503 that is not the webhook deadline: {}", d.body);
            at_once.deadline_503s += 1;
            let (accepted, _) = self.deliver.until_accepted(event, SECRET, 20, Duration::from_millis(100)).await?;
            at_once.answers.push(accepted);
        }
        Ok(at_once)
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
        Ok(Balance { balance: b["balance"].as_i64().unwrap_or(i64::MIN), ledger_sum: b["ledger_sum"].as_i64().unwrap_or(i64::MIN), debt: b["debt"].as_i64().unwrap_or(i64::MIN) })
    }

    /// The ledger lines as (kind, amount), sorted: what "the same ledger" compares.
    pub async fn ledger(&self, player: &str) -> anyhow::Result<Vec<(String, i64)>> {
        let (_, h) = self.get(&format!("/players/{player}/history")).await?;
        let mut lines: Vec<(String, i64)> =
            h["lines"].as_array().into_iter().flatten().map(|l| (l["kind"].as_str().unwrap_or_default().to_string(), l["amount"].as_i64().unwrap_or_default())).collect();
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
