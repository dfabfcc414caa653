//! A Stripe simulator for the payments suites: event payloads in the shapes Stripe sends, signed
//! exactly as Stripe signs them (or mis-signed on purpose), delivered as Stripe delivers them
//! (retries, duplicates, any order, concurrently); and a wiremock server standing in for Stripe's
//! HTTP API, which can answer every documented error, slowly, or not at all.
//!
//! The signing here is written from Stripe's documentation (HMAC-SHA-256 of `"{t}.{body}"`, hex,
//! in `t=…,v1=…`), independently of the service's verifier; a unit test checks it against a known
//! answer from OpenSSL, and the service (the Stripe crate's verifier) accepts it in every delivery.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::{Error, Result};

/// Stripe's signature tolerance, either side of now.
pub const TOLERANCE_SECONDS: i64 = 300;

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Hex HMAC-SHA-256 of `"{t}.{payload}"` under `secret`: one `v1` value.
pub fn v1(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Stripe-Signature` header Stripe sends: `t=…,v1=…`.
pub fn header(secret: &str, t: i64, payload: &str) -> String {
    format!("t={t},v1={}", v1(secret, t, payload))
}

/// A header with one `v1` per secret (Stripe sends several while an endpoint's secret rolls).
pub fn header_multi(secrets: &[&str], t: i64, payload: &str) -> String {
    let mut h = format!("t={t}");
    for s in secrets {
        h += &format!(",v1={}", v1(s, t, payload));
    }
    h
}

/// One event as delivered: its id, type and exact body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: String,
    pub payload: String,
}

/// A PaymentIntent as the simulator's Stripe holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: String,
    pub status: String,
    pub client_secret: String,
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
}

impl PaymentIntent {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "payment_intent", "amount": self.amount, "amount_capturable": 0,
            "amount_received": self.amount_received, "capture_method": "automatic", "client_secret": self.client_secret,
            "confirmation_method": "automatic", "created": now(), "currency": self.currency, "livemode": self.livemode,
            "metadata": self.metadata, "payment_method_types": ["card"], "status": self.status,
        })
    }

    pub fn charge_id(&self) -> String {
        self.id.replacen("pi_", "ch_", 1)
    }

    pub fn purchase_id(&self) -> Option<&str> {
        self.metadata.get("purchase_id").map(String::as_str)
    }
}

/// Builds events in Stripe's envelope, with fresh ids.
#[derive(Debug, Default)]
pub struct Events {
    pub livemode: bool,
    seq: AtomicU64,
}

impl Events {
    pub fn new(livemode: bool) -> Events {
        Events { livemode, seq: AtomicU64::new(0) }
    }

    pub fn envelope(&self, kind: &str, object: Value) -> Event {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let id = format!("evt_{}{n:06}", crate::stack::random_hex(16));
        let body = json!({
            "id": id, "object": "event", "api_version": "2025-11-17.clover", "created": now(),
            "livemode": self.livemode, "pending_webhooks": 1, "request": { "id": null, "idempotency_key": null },
            "type": kind, "data": { "object": object },
        });
        Event { id, kind: kind.to_string(), payload: body.to_string() }
    }

    pub fn payment_intent(&self, kind: &str, pi: &PaymentIntent) -> Event {
        self.envelope(kind, pi.json())
    }

    pub fn succeeded(&self, pi: &PaymentIntent) -> Event {
        let mut pi = pi.clone();
        pi.status = "succeeded".into();
        pi.amount_received = pi.amount;
        self.payment_intent("payment_intent.succeeded", &pi)
    }

    pub fn payment_failed(&self, pi: &PaymentIntent, decline_code: &str) -> Event {
        let mut object = pi.json();
        object["status"] = json!("requires_payment_method");
        object["last_payment_error"] = json!({ "type": "card_error", "code": "card_declined", "decline_code": decline_code, "message": format!("Your card was declined ({decline_code}).") });
        self.envelope("payment_intent.payment_failed", object)
    }

    pub fn canceled(&self, pi: &PaymentIntent) -> Event {
        let mut object = pi.json();
        object["status"] = json!("canceled");
        self.envelope("payment_intent.canceled", object)
    }

    /// `charge.refunded` with the cumulative `amount_refunded`.
    pub fn charge_refunded(&self, pi: &PaymentIntent, amount_refunded: i64) -> Event {
        let object = json!({
            "id": pi.charge_id(), "object": "charge", "amount": pi.amount, "amount_captured": pi.amount,
            "amount_refunded": amount_refunded, "billing_details": { "address": null, "email": null, "name": null, "phone": null },
            "captured": true, "created": now(), "currency": pi.currency, "disputed": false, "livemode": self.livemode,
            "metadata": {}, "paid": true, "refunded": amount_refunded >= pi.amount, "status": "succeeded", "payment_intent": pi.id,
        });
        self.envelope("charge.refunded", object)
    }

    /// `charge.dispute.created` (an open status such as `needs_response`) or `.closed` (a final one:
    /// `won`, `lost`, `warning_closed`, `prevented`).
    pub fn dispute(&self, pi: &PaymentIntent, amount: i64, status: &str) -> Event {
        self.nth_dispute(pi, 0, amount, status)
    }

    /// An event of the `n`-th dispute on the intent's charge (a dispute id of its own): a charge can
    /// be disputed again, e.g. a chargeback after an inquiry that closed as `warning_closed`.
    pub fn nth_dispute(&self, pi: &PaymentIntent, n: usize, amount: i64, status: &str) -> Event {
        let closed = matches!(status, "won" | "lost" | "warning_closed" | "prevented");
        self.dispute_object(if closed { "charge.dispute.closed" } else { "charge.dispute.created" }, pi, n, amount, status)
    }

    /// A dispute event of any type with any status (e.g. a `closed` event whose status ends nothing).
    pub fn dispute_event(&self, kind: &str, pi: &PaymentIntent, amount: i64, status: &str) -> Event {
        self.dispute_object(kind, pi, 0, amount, status)
    }

    fn dispute_object(&self, kind: &str, pi: &PaymentIntent, n: usize, amount: i64, status: &str) -> Event {
        let id = if n == 0 { pi.id.replacen("pi_", "dp_", 1) } else { format!("{}_{n}", pi.id.replacen("pi_", "dp_", 1)) };
        let object = json!({
            "id": id, "object": "dispute", "amount": amount, "balance_transactions": [],
            "charge": pi.charge_id(), "created": now(), "currency": pi.currency, "enhanced_eligibility_types": [],
            "evidence": { "enhanced_evidence": {} },
            "evidence_details": { "enhanced_eligibility": {}, "due_by": null, "has_evidence": false, "past_due": false, "submission_count": 0 },
            "is_charge_refundable": false, "livemode": self.livemode, "metadata": {}, "payment_intent": pi.id,
            "reason": "fraudulent", "status": status,
        });
        self.envelope(kind, object)
    }
}

/// The documented families of Stripe API errors, with the status Stripe answers them with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    InvalidRequest,
    Authentication,
    Card { decline_code: &'static str },
    Permission,
    ResourceMissing,
    Idempotency,
    RateLimit,
    Api { status: u16 },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidRequest => 400,
            ApiError::Authentication => 401,
            ApiError::Card { .. } => 402,
            ApiError::Permission => 403,
            ApiError::ResourceMissing => 404,
            ApiError::Idempotency => 409,
            ApiError::RateLimit => 429,
            ApiError::Api { status } => *status,
        }
    }

    /// The body Stripe sends, in its documented shape.
    pub fn body(&self) -> Value {
        let (kind, code, decline, message) = match self {
            ApiError::InvalidRequest => ("invalid_request_error", Some("parameter_invalid_integer"), None, "Invalid integer: abc"),
            ApiError::Authentication => ("authentication_error", None, None, "Invalid API Key provided: sk_test_****"),
            ApiError::Card { decline_code } => ("card_error", Some(if *decline_code == "expired_card" { "expired_card" } else { "card_declined" }), Some(*decline_code), "Your card was declined."),
            ApiError::Permission => ("invalid_request_error", Some("secret_key_required"), None, "The provided key does not have the required permissions"),
            ApiError::ResourceMissing => ("invalid_request_error", Some("resource_missing"), None, "No such payment_intent: 'pi_missing'"),
            ApiError::Idempotency => ("idempotency_error", None, None, "Keys for idempotent requests can only be used with the same parameters they were first used with."),
            ApiError::RateLimit => ("rate_limit_error", Some("rate_limit"), None, "Too many requests hit the API too quickly."),
            ApiError::Api { .. } => ("api_error", None, None, "An unknown error occurred"),
        };
        let kind = if matches!(self, ApiError::Permission) { "permission_error" } else { kind };
        json!({ "error": { "type": kind, "code": code, "decline_code": decline, "message": message, "doc_url": "https://stripe.com/docs/error-codes" } })
    }

    pub fn response(&self) -> ResponseTemplate {
        ResponseTemplate::new(self.status()).set_body_json(self.body()).insert_header("Request-Id", "req_simulated")
    }
}

type Store = Arc<Mutex<HashMap<String, PaymentIntent>>>;

/// `POST /v1/payment_intents`: creates (or, for a repeated idempotency key, returns) an intent.
struct Create {
    store: Store,
    by_key: Arc<Mutex<HashMap<String, String>>>,
    livemode: bool,
}

impl Respond for Create {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: HashMap<String, String> = form_urlencoded::parse(&request.body).into_owned().collect();
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
        if let Some(k) = &key
            && let Some(id) = self.by_key.lock().expect("store").get(k)
        {
            let pi = self.store.lock().expect("store")[id].clone();
            return ResponseTemplate::new(200).set_body_json(pi.json());
        }
        let Some(amount) = form.get("amount").and_then(|a| a.parse::<i64>().ok()) else {
            return ApiError::InvalidRequest.response();
        };
        let metadata: BTreeMap<String, String> = form.iter().filter_map(|(k, v)| k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')).map(|k| (k.to_string(), v.clone()))).collect();
        let id = format!("pi_{}", crate::stack::random_hex(24));
        let pi = PaymentIntent {
            client_secret: format!("{id}_secret_{}", crate::stack::random_hex(8)),
            id: id.clone(),
            amount,
            amount_received: 0,
            currency: form.get("currency").cloned().unwrap_or_default(),
            status: "requires_payment_method".into(),
            metadata,
            livemode: self.livemode,
        };
        self.store.lock().expect("store").insert(id.clone(), pi.clone());
        if let Some(k) = key {
            self.by_key.lock().expect("store").insert(k, id);
        }
        ResponseTemplate::new(200).set_body_json(pi.json())
    }
}

/// `GET /v1/payment_intents/{id}`: the intent as the simulator holds it now.
struct Read {
    store: Store,
}

impl Respond for Read {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.url.path().rsplit('/').next().unwrap_or_default();
        match self.store.lock().expect("store").get(id) {
            Some(pi) => ResponseTemplate::new(200).set_body_json(pi.json()),
            None => ApiError::ResourceMissing.response(),
        }
    }
}

/// Stripe's API, simulated: keeps PaymentIntents, answers reads with their current state, and
/// lets a test put any documented error, a delay or a dropped connection in front.
pub struct FakeStripe {
    pub server: MockServer,
    store: Store,
    /// Idempotency key → intent id, as Stripe keeps them (the service's key is `purchase-<id>`).
    by_key: Arc<Mutex<HashMap<String, String>>>,
    livemode: bool,
}

impl FakeStripe {
    /// Listens on `bind` (the stack's gateway address, so that containers reach it; nothing
    /// outside the machine can).
    pub async fn start(bind: IpAddr, livemode: bool) -> Result<FakeStripe> {
        FakeStripe::start_recording(bind, livemode, true).await
    }

    /// [`FakeStripe::start`]; `record` false keeps no copy of the requests received (a soak's
    /// millions: wiremock records every request by default, and [`FakeStripe::requests`] then
    /// answers nothing).
    pub async fn start_recording(bind: IpAddr, livemode: bool, record: bool) -> Result<FakeStripe> {
        let listener = std::net::TcpListener::bind((bind, 0))?;
        let builder = MockServer::builder().listener(listener);
        let server = if record { builder.start().await } else { builder.disable_request_recording().start().await };
        let stripe = FakeStripe { server, store: Arc::default(), by_key: Arc::default(), livemode };
        stripe.mount_api().await;
        Ok(stripe)
    }

    async fn mount_api(&self) {
        let (store, by_key, livemode) = (self.store.clone(), self.by_key.clone(), self.livemode);
        Mock::given(method("POST")).and(path("/v1/payment_intents")).respond_with(Create { store: store.clone(), by_key, livemode }).with_priority(10).mount(&self.server).await;
        Mock::given(method("GET")).and(path_regex(r"^/v1/payment_intents/[A-Za-z0-9_]+$")).respond_with(Read { store }).with_priority(10).mount(&self.server).await;
    }

    /// Drops the copies of the requests wiremock's mocks matched, keeping the intents. wiremock
    /// 0.6.5 keeps every request a mock matches, recording disabled or not (`MountedMock::matches`,
    /// src/mounted_mock.rs:58; each copy pins its connection's read buffer: ~8.5 KiB a request,
    /// measured with heaptrack on a soak on 2026-12-03), and only a reset drops them. The reset
    /// removes every mock, any a test put in front included, before the API is mounted again:
    /// call it only while no request is in flight.
    pub async fn drop_matched_requests(&self) {
        self.server.reset().await;
        self.mount_api().await;
    }

    /// The base URL for the service's configuration.
    pub fn url(&self) -> String {
        self.server.uri()
    }

    pub fn livemode(&self) -> bool {
        self.livemode
    }

    pub fn payment_intent(&self, id: &str) -> Option<PaymentIntent> {
        self.store.lock().expect("store").get(id).cloned()
    }

    /// Every PaymentIntent Stripe holds, by id: also those whose creation the service never
    /// answered (it crashed after Stripe's answer).
    pub fn payment_intents(&self) -> Vec<PaymentIntent> {
        let mut all: Vec<PaymentIntent> = self.store.lock().expect("store").values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Forgets an intent whose events are all accepted (a soak's store would otherwise hold every
    /// intent of the run). A later read of it answers 404, as for an intent Stripe never had.
    pub fn forget(&self, id: &str) {
        if let Some(pi) = self.store.lock().expect("store").remove(id)
            && let Some(purchase) = pi.purchase_id()
        {
            self.by_key.lock().expect("store").remove(&format!("purchase-{purchase}"));
        }
    }

    /// Stores `pi` as Stripe's current state of it.
    pub fn set(&self, pi: PaymentIntent) {
        self.store.lock().expect("store").insert(pi.id.clone(), pi);
    }

    /// Marks the intent paid in full (what `payment_intent.succeeded` reports) and returns it.
    pub fn succeed(&self, id: &str) -> Result<PaymentIntent> {
        let mut store = self.store.lock().expect("store");
        let pi = store.get_mut(id).ok_or_else(|| Error::Config(format!("no PaymentIntent {id}")))?;
        pi.status = "succeeded".into();
        pi.amount_received = pi.amount;
        Ok(pi.clone())
    }

    /// The next `times` calls to `verb path_pattern` answer with `error`.
    pub async fn fail(&self, verb: &str, path_pattern: &str, error: ApiError, times: u64) {
        Mock::given(method(verb)).and(path_regex(path_pattern)).respond_with(error.response()).up_to_n_times(times).with_priority(1).mount(&self.server).await;
    }

    /// The next `times` calls to `verb path_pattern` answer only after `delay`.
    pub async fn slow(&self, verb: &str, path_pattern: &str, delay: Duration, times: u64) {
        let template = ApiError::Api { status: 500 }.response().set_delay(delay);
        Mock::given(method(verb)).and(path_regex(path_pattern)).respond_with(template).up_to_n_times(times).with_priority(1).mount(&self.server).await;
    }

    /// Every request received so far to `verb` on a path starting with `prefix`.
    pub async fn requests(&self, verb: &str, prefix: &str) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default().into_iter().filter(|r| r.method.as_str() == verb && r.url.path().starts_with(prefix)).collect()
    }
}

/// A server that accepts each connection and closes it at once: a dropped connection.
pub struct DroppingServer {
    pub url: String,
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DroppingServer {
    pub async fn start(bind: IpAddr) -> Result<DroppingServer> {
        let listener = tokio::net::TcpListener::bind((bind, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                drop(socket);
            }
        });
        Ok(DroppingServer { url, accepted, task })
    }
}

impl Drop for DroppingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the endpoint answered to one delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: u16,
    pub body: Value,
    /// From sending the request to the whole answer read: what Stripe's 2 s limit measures.
    pub elapsed: Duration,
}

impl Delivery {
    pub fn outcome(&self) -> &str {
        self.body["outcome"].as_str().unwrap_or_default()
    }
}

/// Delivers events to a webhook endpoint the way Stripe does.
#[derive(Clone)]
pub struct Deliverer {
    url: String,
    http: reqwest::Client,
}

impl Deliverer {
    pub fn new(url: &str) -> Deliverer {
        Deliverer { url: url.to_string(), http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client") }
    }

    /// One delivery with exactly this body and `Stripe-Signature` header (`None`: no header).
    pub async fn raw(&self, body: impl Into<reqwest::Body>, signature: Option<&str>) -> Result<Delivery> {
        let mut request = self.http.post(&self.url).header("content-type", "application/json");
        if let Some(s) = signature {
            request = request.header("Stripe-Signature", s);
        }
        let started = std::time::Instant::now();
        let response = request.body(body).send().await.map_err(|e| Error::Config(format!("POST {}: {e}", self.url)))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Ok(Delivery { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), elapsed: started.elapsed() })
    }

    /// One delivery signed now with `secret`.
    pub async fn send(&self, event: &Event, secret: &str) -> Result<Delivery> {
        self.raw(event.payload.clone(), Some(&header(secret, now(), &event.payload))).await
    }

    /// Like Stripe: redeliver until a 2xx, at most `attempts` times, `pause` apart (Stripe waits
    /// hours; tests cannot). Returns the accepting delivery and how many it took.
    pub async fn until_accepted(&self, event: &Event, secret: &str, attempts: usize, pause: Duration) -> Result<(Delivery, usize)> {
        let mut last = None;
        for n in 1..=attempts {
            let d = self.send(event, secret).await?;
            if (200..300).contains(&d.status) {
                return Ok((d, n));
            }
            last = Some(d);
            tokio::time::sleep(pause).await;
        }
        Err(Error::Config(format!("{} not accepted after {attempts} deliveries: {last:?}", event.id)))
    }

    /// `n` deliveries of the same event at the same moment.
    pub async fn concurrently(&self, event: &Event, secret: &str, n: usize) -> Result<Vec<Delivery>> {
        let header = header(secret, now(), &event.payload);
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (me, body, header, barrier) = (self.clone(), event.payload.clone(), header.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    me.raw(body, Some(&header)).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.map_err(|e| Error::Config(e.to_string()))??);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known answer computed outside this code (OpenSSL 3.0:
    /// `printf '%s' '1700000000.{"id":"evt_1","object":"event"}' | openssl dgst -sha256 -hmac whsec_test_secret`),
    /// and the header's shape. The Stripe crate's own verifier (the payments service's) accepts
    /// these headers in every delivery of the stripe-webhooks suite (review H3: this test used to
    /// compare the code with itself).
    #[test]
    fn signing_matches_an_independent_hmac_and_stripes_header_shape() {
        assert_eq!(v1("whsec_test_secret", 1_700_000_000, r#"{"id":"evt_1","object":"event"}"#), "0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd");
        let h = header("whsec_test", 1_492_774_577, "{}");
        assert!(h.starts_with("t=1492774577,v1=") && h.len() == "t=1492774577,v1=".len() + 64);
        assert_ne!(v1("a", 1, "x"), v1("b", 1, "x"));
    }

    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).expect("VmRSS")
    }

    /// `n` intents created and forgotten (all but the first); every `drop_every` a drop of the
    /// matched requests. Returns how much the process grew, and the first intent's id.
    async fn create_intents(stripe: &FakeStripe, http: &reqwest::Client, n: usize, drop_every: Option<usize>) -> (u64, String) {
        let url = format!("{}/v1/payment_intents", stripe.url());
        let before = rss_kib();
        let mut first = None;
        for i in 0..n {
            let purchase = format!("p{i}");
            let answer = http.post(&url).form(&[("amount", "1000"), ("currency", "usd"), ("metadata[purchase_id]", purchase.as_str())]).send().await.expect("create");
            let body: serde_json::Value = answer.json().await.expect("json");
            let id = body["id"].as_str().expect("an id").to_string();
            // As the soak does once its events are accepted: only the first is kept, to read back.
            if first.is_none() {
                first = Some(id);
            } else {
                stripe.forget(&id);
            }
            if drop_every.is_some_and(|k| i % k == k - 1) {
                stripe.drop_matched_requests().await;
            }
        }
        (rss_kib().saturating_sub(before), first.expect("an intent"))
    }

    /// Regression (issue 24, heaptrack on a soak, 2026-12-03): the soak's own memory grew ~9 MB a
    /// minute because wiremock keeps a copy of every request a mock matches, with recording
    /// disabled too, each pinning its connection's read buffer. The same 3,000 intents (created and
    /// forgotten, as the soak does): with `drop_matched_requests` every 50 the process grows by a
    /// fraction of what it grows without (measured: ~100 KiB against ~15 MiB); and the intents
    /// survive the drops. Without the fix (the drop a no-op) both grow alike and this fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_run_simulator_keeps_no_copy_of_the_requests_it_answered() {
        let stripe = FakeStripe::start_recording(std::net::Ipv4Addr::LOCALHOST.into(), false, false).await.expect("simulator");
        let http = reqwest::Client::new();
        // Warm: the client's and the server's first allocations are not the copies.
        let (_, id) = create_intents(&stripe, &http, 500, Some(50)).await;
        let (dropped, _) = create_intents(&stripe, &http, 3_000, Some(50)).await;
        let (kept, _) = create_intents(&stripe, &http, 3_000, None).await;
        eprintln!("3,000 intents: the process grew {dropped} KiB with a drop every 50, {kept} KiB without");
        assert!(kept >= 10 * 1024, "without the drops 3,000 requests should hold >= 10 MiB (the copies): grew {kept} KiB");
        assert!(dropped * 4 <= kept, "with a drop every 50 the simulator grew {dropped} KiB, without {kept} KiB");
        assert!(stripe.payment_intent(&id).is_some(), "the drops lost the intents");
        let read = http.get(format!("{}/v1/payment_intents/{id}", stripe.url())).send().await.expect("read");
        assert_eq!(read.status(), 200, "the API is mounted again after a drop");
    }
}
