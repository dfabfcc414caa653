//! The HTTP JSON API. Every answer about chain state says which block it is true at (`block`), and
//! takes `?at=<block>` to read any indexed block. Bad input is a 4xx with a message; a 5xx only
//! ever means the indexer's own dependency (MySQL) is unavailable.

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;
use sqlx::MySqlConnection;
use sqlx::mysql::MySqlPool;

use crate::cache::Cache;
use crate::store;
use crate::telemetry::Telemetry;

/// Most blocks one `/events` call may span, and most events it returns.
pub const MAX_EVENT_RANGE: u64 = 10_000;
pub const MAX_EVENTS: u64 = 10_000;

#[derive(Clone)]
pub struct Api {
    pub pool: MySqlPool,
    pub cache: Arc<Cache>,
    pub telemetry: Arc<Telemetry>,
    /// Set once migrations ran: `/health` is 503 before.
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// A request still waiting after this is answered 503: all a read waits on is MySQL (Redis
    /// has shorter bounds of its own), see [`store::within`].
    pub database_timeout: std::time::Duration,
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/robots", get(robot_ids))
        .route("/robots/{id}", get(robot))
        .route("/items", get(item_ids))
        .route("/items/{id}", get(item))
        .route("/owners/{address}/items", get(items_of))
        .route("/owners/{address}/balance", get(balance))
        .route("/players", get(players))
        .route("/events", get(events))
        .route("/status", get(status))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(api.clone(), within_deadline))
        .layer(middleware::from_fn_with_state(api.clone(), count_requests))
        .with_state(api)
}

async fn within_deadline(State(api): State<Api>, request: Request, next: Next) -> Response {
    let limit = api.database_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable(format!("database unavailable: no answer within {} ms", limit.as_millis())).into_response(),
    }
}

async fn count_requests(State(api): State<Api>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    api.telemetry.http_requests.with_label_values(&[class.as_str()]).inc();
    response
}

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    /// Asked for a block the indexer has not reached.
    NotIndexedYet {
        asked: u64,
        indexed: Option<u64>,
    },
    Unavailable(String),
    MethodNotAllowed,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::NotIndexedYet { asked, indexed } => (
                StatusCode::CONFLICT,
                match indexed {
                    Some(i) => format!("block {asked} is not indexed yet (indexed up to {i})"),
                    None => format!("block {asked} is not indexed yet (nothing indexed)"),
                },
            ),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "this endpoint takes GET only".into()),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Unavailable(format!("database unavailable: {e:#}"))
    }
}
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Unavailable(format!("database unavailable: {e}"))
    }
}

/// The query parameters, each named at most once: `?at=290&at=13` is refused, not answered at
/// whichever value a parser keeps (regression_p2 in api-robustness).
struct Params(HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Params, ApiError> {
        let mut params = HashMap::new();
        let raw = parts.uri.query().unwrap_or_default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                let spaced = s.replace('+', " ");
                percent_decode(&spaced).ok_or_else(|| ApiError::BadRequest(format!("query {pair:?}: not valid percent-encoded UTF-8")))
            };
            let (k, v) = (decode(k)?, decode(v)?);
            if params.contains_key(&k) {
                return Err(ApiError::BadRequest(format!("query parameter {k:?} given more than once")));
            }
            params.insert(k, v);
        }
        Ok(Params(params))
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn check_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::BadRequest(format!("unknown query parameter {k:?} (allowed: {allowed:?})"))),
        None => Ok(()),
    }
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params.get(name).map(|v| v.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("{name}={v:?}: expected a block number (u64)")))).transpose()
}

fn id(raw: &str, what: &str) -> Result<u64, ApiError> {
    match raw.parse::<u64>() {
        Ok(0) | Err(_) => Err(ApiError::BadRequest(format!("{what} id {raw:?}: expected a positive integer"))),
        Ok(v) => Ok(v),
    }
}

fn address(raw: &str) -> Result<Address, ApiError> {
    let ok = raw.len() == 42 && raw.starts_with("0x") && raw[2..].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(ApiError::BadRequest(format!("{raw:?}: expected a 0x-prefixed 20-byte hex address")));
    }
    raw.parse().map_err(|e| ApiError::BadRequest(format!("{raw:?}: {e}")))
}

/// The block an answer is true at: `?at=` if indexed, else the cursor. Also hands back the
/// connection the read then runs on. These are two autocommit statements, not one snapshot (review
/// H3: this said "snapshot-consistent"): rows at or below the cursor change only when a reorg
/// rolls back past them, so a read that overlaps such a rollback can mix branches; the answer
/// still names its block, and the checkers confirm each answer against the chain at that block.
async fn block(api: &Api, params: &HashMap<String, String>) -> Result<(u64, sqlx::pool::PoolConnection<sqlx::MySql>), ApiError> {
    let asked = number(params, "at")?;
    let mut conn = api.pool.acquire().await?;
    let cursor = store::cursor(&mut conn).await?.map(|c| c.number);
    match (asked, cursor) {
        (Some(a), Some(c)) if a <= c => Ok((a, conn)),
        (Some(a), indexed) => Err(ApiError::NotIndexedYet { asked: a, indexed }),
        (None, Some(c)) => Ok((c, conn)),
        (None, None) => Err(ApiError::NotFound("nothing indexed yet".into())),
    }
}

/// Serves "latest" reads from Redis when possible; `?at=` reads always go to MySQL.
/// Failpoint `indexer::api::between_read_and_put` (`return(MS)`): holds a latest read for MS ms
/// between its MySQL read and its cache write, where a batch may commit.
async fn hold_between_read_and_put(key: &str) {
    if let Some(ms) = mve_failpoints::fail::eval("indexer::api::between_read_and_put", |arg| arg.and_then(|a| a.parse::<u64>().ok())).flatten() {
        tracing::info!(key, ms, "failpoint indexer::api::between_read_and_put: holding the read");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

async fn cached<T: Serialize>(api: &Api, params: &HashMap<String, String>, key: String, read: impl AsyncFnOnce(&mut MySqlConnection, u64) -> Result<T, ApiError>) -> Result<Response, ApiError> {
    let latest = !params.contains_key("at");
    let lookup = if latest { Some(api.cache.lookup(&key).await) } else { None };
    if let Some(hit) = lookup.as_ref().and_then(|l| l.hit.clone()) {
        return Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], hit).into_response());
    }
    let (at, mut conn) = block(api, params).await?;
    let value = read(&mut conn, at).await?;
    let body = serde_json::to_string(&value).expect("API values serialise");
    if let Some(lookup) = lookup {
        // A batch may commit (and bump the generation) right here: the value still goes under the
        // generation it was looked up in, where no read after the bump looks.
        hold_between_read_and_put(&key).await;
        api.cache.put(&lookup, &key, &body).await;
    }
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn robot(State(api): State<Api>, Path(raw): Path<String>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let id = id(&raw, "robot")?;
    cached(&api, &params, format!("robot:{id}"), async |conn, at| {
        let robot = store::robot_at(conn, id, at).await?.ok_or_else(|| ApiError::NotFound(format!("robot {id} does not exist at block {at}")))?;
        Ok(json!({ "block": at, "robot": robot }))
    })
    .await
}

async fn item(State(api): State<Api>, Path(raw): Path<String>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let id = id(&raw, "item")?;
    cached(&api, &params, format!("item:{id}"), async |conn, at| {
        let item = store::item_at(conn, id, at).await?.ok_or_else(|| ApiError::NotFound(format!("item {id} does not exist at block {at}")))?;
        Ok(json!({ "block": at, "item": item }))
    })
    .await
}

async fn items_of(State(api): State<Api>, Path(raw): Path<String>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let owner = address(&raw)?;
    cached(&api, &params, format!("items-of:{owner:#x}"), async |conn, at| {
        let items = store::items_of(conn, &owner, at).await?;
        Ok(json!({ "block": at, "owner": owner, "items": items }))
    })
    .await
}

async fn balance(State(api): State<Api>, Path(raw): Path<String>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let owner = address(&raw)?;
    cached(&api, &params, format!("balance:{owner:#x}"), async |conn, at| {
        let balance = store::balance_at(conn, &owner, at).await?;
        Ok(json!({ "block": at, "owner": owner, "balance": balance.to_string() }))
    })
    .await
}

async fn robot_ids(State(api): State<Api>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let (at, mut conn) = block(&api, &params).await?;
    Ok(Json(json!({ "block": at, "ids": store::robot_ids(&mut conn, at).await? })).into_response())
}

async fn item_ids(State(api): State<Api>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let (at, mut conn) = block(&api, &params).await?;
    Ok(Json(json!({ "block": at, "ids": store::item_ids(&mut conn, at).await? })).into_response())
}

async fn players(State(api): State<Api>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["at"])?;
    let (at, mut conn) = block(&api, &params).await?;
    Ok(Json(json!({ "block": at, "players": store::players(&mut conn, at).await? })).into_response())
}

async fn events(State(api): State<Api>, Params(params): Params) -> Result<Response, ApiError> {
    check_params(&params, &["from", "to", "limit"])?;
    let from = number(&params, "from")?.ok_or_else(|| ApiError::BadRequest("from=<block> is required".into()))?;
    let to = number(&params, "to")?.ok_or_else(|| ApiError::BadRequest("to=<block> is required".into()))?;
    let limit = number(&params, "limit")?.unwrap_or(MAX_EVENTS);
    if from > to {
        return Err(ApiError::BadRequest(format!("from={from} is after to={to}")));
    }
    if to - from >= MAX_EVENT_RANGE {
        return Err(ApiError::BadRequest(format!("range {from}..={to} spans more than {MAX_EVENT_RANGE} blocks")));
    }
    if limit == 0 || limit > MAX_EVENTS {
        return Err(ApiError::BadRequest(format!("limit={limit}: expected 1..={MAX_EVENTS}")));
    }
    let mut conn = api.pool.acquire().await?;
    let indexed = store::cursor(&mut conn).await?.map(|c| c.number);
    let events = store::events(&mut conn, from, to, limit).await?;
    Ok(Json(json!({ "from": from, "to": to, "indexed_up_to": indexed, "events": events })).into_response())
}

async fn status(State(api): State<Api>) -> Response {
    let mut s = api.telemetry.status();
    if api.cache.enabled() {
        s.redis_reachable = Some(api.cache.reachable());
    }
    Json(s).into_response()
}

async fn health(State(api): State<Api>) -> Response {
    if !api.ready.load(std::sync::atomic::Ordering::Relaxed) {
        let waiting_on = api.telemetry.status().last_error;
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "starting", "waiting_on": waiting_on }))).into_response();
    }
    Json(json!({ "status": "ok" })).into_response()
}

async fn metrics(State(api): State<Api>) -> Response {
    api.telemetry.ready.set(api.ready.load(std::sync::atomic::Ordering::Relaxed) as i64);
    if api.cache.enabled() {
        api.telemetry.dependency_up.with_label_values(&["redis"]).set(api.cache.reachable() as i64);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], api.telemetry.render()).into_response()
}
