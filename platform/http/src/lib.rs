//! How the MVE services serve HTTP. `axum::serve` alone leaves a connection open as long as its
//! client likes: a client that sends its headers a byte at a time (slowloris), or a body that never
//! ends, or thousands of idle keep-alive connections, holds a task and a socket each for ever. Here
//! every connection is bounded:
//!
//! - **headers** must arrive within [`Limits::header_timeout`] of the connection starting to wait
//!   for a request — this also closes an idle keep-alive connection after that long;
//! - **a body** must arrive whole within [`Limits::body_timeout`] (408) and be at most
//!   [`Limits::max_body_bytes`] (413);
//! - at most [`Limits::max_connections`] connections are served at once; beyond that a new
//!   connection waits in the listen backlog until one closes (which the two time-outs above
//!   guarantee happens), instead of every connection getting slower;
//! - every 4xx carries a JSON body `{"error": "..."}`: axum's own rejections (a path that is not
//!   UTF-8, a wrong method, an unreadable query) answer in plain text or with no body, and a client
//!   should not need two parsers for our errors.
//!
//! Requests hyper cannot parse as HTTP/1.1 at all are answered by hyper (400, 431 for huge
//! headers) without a body and the connection is closed.

pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;

/// The bounds of every connection (see the crate docs). Each service reads them from its own
/// `<PREFIX>_HTTP_*` variables ([`Limits::from_lookup`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(10), max_body_bytes: 256 * 1024, max_connections: 4096 }
    }
}

impl Limits {
    /// `<prefix>_HTTP_HEADER_TIMEOUT_MS`, `<prefix>_HTTP_BODY_TIMEOUT_MS`,
    /// `<prefix>_HTTP_MAX_CONNECTIONS`, and the body limit from `body_limit_key`; unset means the
    /// default, zero or not a number is an error.
    pub fn from_lookup(prefix: &str, body_limit_key: &str, get: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let d = Limits::default();
        let number = |k: &str, default: u64| -> Result<u64, String> {
            match get(k).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(0) => Err(format!("{k}=0: must be positive")),
                    Ok(n) => Ok(n),
                    Err(e) => Err(format!("{k}={v:?}: {e}")),
                },
            }
        };
        Ok(Limits {
            header_timeout: Duration::from_millis(number(&format!("{prefix}_HTTP_HEADER_TIMEOUT_MS"), d.header_timeout.as_millis() as u64)?),
            body_timeout: Duration::from_millis(number(&format!("{prefix}_HTTP_BODY_TIMEOUT_MS"), d.body_timeout.as_millis() as u64)?),
            max_body_bytes: number(body_limit_key, d.max_body_bytes as u64)? as usize,
            max_connections: number(&format!("{prefix}_HTTP_MAX_CONNECTIONS"), d.max_connections as u64)? as usize,
        })
    }
}

/// Serves `router` on `listener` within `limits` until the listener fails, every request observed
/// by `metrics`.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, limits: Limits, metrics: &metrics::RequestMetrics) -> std::io::Result<()> {
    let router = metrics.observe(bounded(router, &limits));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        // Waiting for a slot before accepting leaves excess connections in the kernel's backlog.
        let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of file descriptors and the like: the connection is lost, the server is not.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new().timer(TokioTimer::new()).header_read_timeout(header_timeout).serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// The router with the body bounds and the JSON error bodies applied (the part of [`serve`] a test
/// can call without a socket).
pub fn bounded(router: Router, limits: &Limits) -> Router {
    let (body_timeout, max_body) = (limits.body_timeout, limits.max_body_bytes);
    router.layer(middleware::from_fn(json_errors)).layer(middleware::from_fn(move |request: Request, next: Next| read_body(request, next, body_timeout, max_body)))
}

/// Reads the whole body first, against the clock and the size limit, so that no handler ever
/// waits on a slow client.
async fn read_body(request: Request, next: Next, timeout: Duration, max: usize) -> Response {
    let (parts, body) = request.into_parts();
    if parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > max as u64) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body: at most {max} bytes"));
    }
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => return error(StatusCode::REQUEST_TIMEOUT, format!("body: not received whole within {} ms", timeout.as_millis())),
        Ok(Err(e)) if is_length_limit(&e) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("body: at most {max} bytes")),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
        Ok(Ok(b)) => b,
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

/// A 4xx without a JSON body (axum's rejections) gets one, its text kept as the message.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("client error").to_lowercase() } else { text };
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_their_variables_and_refuse_zero() {
        let env = |k: &str| match k {
            "X_HTTP_HEADER_TIMEOUT_MS" => Some("250".to_string()),
            "X_MAX_BODY_BYTES" => Some("1024".to_string()),
            "X_HTTP_MAX_CONNECTIONS" => Some("0".to_string()),
            _ => None,
        };
        assert_eq!(Limits::from_lookup("X", "X_MAX_BODY_BYTES", env).unwrap_err(), "X_HTTP_MAX_CONNECTIONS=0: must be positive");
        let ok = Limits::from_lookup("X", "X_MAX_BODY_BYTES", |k| env(k).filter(|_| k != "X_HTTP_MAX_CONNECTIONS")).unwrap();
        assert_eq!(ok, Limits { header_timeout: Duration::from_millis(250), max_body_bytes: 1024, ..Limits::default() });
    }
}
