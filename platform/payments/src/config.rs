//! Configuration, all from `PAYMENTS_*` environment variables.

use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// Stripe's API base, e.g. `https://api.stripe.com` (tests: a wiremock server).
    pub stripe_api_base: String,
    pub stripe_secret_key: String,
    /// Webhook endpoint secrets; more than one during a rotation, any may match.
    pub webhook_secrets: Vec<String>,
    /// Whether this service takes live-mode events (false: test mode).
    pub livemode: bool,
    pub listen: SocketAddr,
    /// Retries after the first attempt, for the errors worth retrying (429, 5xx, transport).
    pub stripe_max_retries: u32,
    pub stripe_timeout: Duration,
    /// First backoff; doubles per retry.
    pub stripe_backoff: Duration,
    /// Largest webhook body accepted.
    pub max_body_bytes: usize,
    /// Everything a webhook delivery waits for ends by then (payments.md: answer within 2 s).
    pub webhook_deadline: Duration,
    /// Connection bounds (`PAYMENTS_HTTP_*`, body limit `PAYMENTS_MAX_BODY_BYTES`; see mve-http).
    pub http: mve_http::Limits,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let required = |k: &str| get(k).filter(|v| !v.is_empty()).ok_or_else(|| format!("{k} is required"));
        let number = |k: &str, default: u64| -> Result<u64, String> {
            match get(k).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e| format!("{k}={v:?}: {e}")),
            }
        };
        let secrets: Vec<String> = required("PAYMENTS_WEBHOOK_SECRETS")?.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if secrets.is_empty() {
            return Err("PAYMENTS_WEBHOOK_SECRETS names no secret".into());
        }
        let listen = get("PAYMENTS_LISTEN").unwrap_or_else(|| "0.0.0.0:8080".into());
        let http = mve_http::Limits::from_lookup("PAYMENTS", "PAYMENTS_MAX_BODY_BYTES", &get)?;
        Ok(Config {
            database_url: required("PAYMENTS_DATABASE_URL")?,
            stripe_api_base: required("PAYMENTS_STRIPE_API_BASE")?.trim_end_matches('/').to_string(),
            stripe_secret_key: required("PAYMENTS_STRIPE_SECRET_KEY")?,
            webhook_secrets: secrets,
            livemode: matches!(get("PAYMENTS_LIVEMODE").as_deref(), Some("true" | "1")),
            listen: listen.parse().map_err(|e| format!("PAYMENTS_LISTEN={listen:?}: {e}"))?,
            stripe_max_retries: number("PAYMENTS_STRIPE_MAX_RETRIES", 3)? as u32,
            stripe_timeout: Duration::from_millis(number("PAYMENTS_STRIPE_TIMEOUT_MS", 1_000)?),
            stripe_backoff: Duration::from_millis(number("PAYMENTS_STRIPE_BACKOFF_MS", 50)?),
            max_body_bytes: http.max_body_bytes,
            webhook_deadline: match number("PAYMENTS_WEBHOOK_DEADLINE_MS", 1_500)? {
                ms @ 1..=1_900 => Duration::from_millis(ms),
                ms => return Err(format!("PAYMENTS_WEBHOOK_DEADLINE_MS={ms}: 1..=1900 (Stripe's endpoint must answer within 2 s)")),
            },
            http,
        })
    }
}
