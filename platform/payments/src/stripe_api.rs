//! Calls to Stripe's HTTP API, with the retry policy the spec sets for each documented error.
//!
//! | answer | policy |
//! |---|---|
//! | 429 `rate_limit_error`, 500/502/503/504 `api_error`, connection failure, timeout | retry with doubling backoff, at most `stripe_max_retries` times, with the **same** `Idempotency-Key` |
//! | 400 `invalid_request_error`, 401 `authentication_error`, 402 `card_error`, 403 `permission_error`, 404 `resource_missing`, 409 `idempotency_error` | no retry: the same request would fail the same way |

use std::collections::HashMap;

use serde::Deserialize;

use crate::config::Config;

/// What Stripe said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    #[error("card_error ({code}{}): {message}", decline_code.as_ref().map(|d| format!(", {d}")).unwrap_or_default())]
    Card { code: String, decline_code: Option<String>, message: String },
    #[error("{kind} (HTTP {status}): {message}")]
    Api { status: u16, kind: String, code: Option<String>, message: String },
    #[error("no answer from Stripe after {attempts} attempts: {last}")]
    Unreachable { attempts: u32, last: String },
}

impl StripeError {
    /// After all retries, was the last failure a rate limit?
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, StripeError::Api { status: 429, .. })
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
}

/// The fields of a PaymentIntent the service reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Clone)]
pub struct StripeApi {
    http: reqwest::Client,
    base: String,
    key: String,
    max_retries: u32,
    backoff: std::time::Duration,
}

fn retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

impl StripeApi {
    pub fn new(config: &Config) -> anyhow::Result<StripeApi> {
        let mut builder = reqwest::Client::builder().timeout(config.stripe_timeout);
        if config.stripe_api_base.starts_with("http://") {
            // A plain-HTTP endpoint (a test double) needs no trust store; minimal images ship none.
            builder = builder.tls_certs_only(Vec::new());
        }
        Ok(StripeApi { http: builder.build()?, base: config.stripe_api_base.clone(), key: config.stripe_secret_key.clone(), max_retries: config.stripe_max_retries, backoff: config.stripe_backoff })
    }

    async fn call(&self, method: reqwest::Method, path: &str, form: &[(String, String)], idempotency_key: Option<&str>) -> Result<String, StripeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.key);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if !form.is_empty() {
                request = request.form(form);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    if (200..300).contains(&status) {
                        return Ok(body);
                    }
                    let error = Self::error(status, &body);
                    if !retryable(status) {
                        return Err(error);
                    }
                    error
                }
                Err(e) => StripeError::Unreachable { attempts: attempt, last: e.to_string() },
            };
            if attempt > self.max_retries {
                return Err(match failure {
                    StripeError::Unreachable { last, .. } => StripeError::Unreachable { attempts: attempt, last },
                    other => other,
                });
            }
            tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
        }
    }

    fn error(status: u16, body: &str) -> StripeError {
        let detail = serde_json::from_str::<ErrorBody>(body).ok().map(|b| b.error);
        let message = detail.as_ref().and_then(|d| d.message.clone()).unwrap_or_else(|| format!("HTTP {status}"));
        let kind = detail.as_ref().and_then(|d| d.kind.clone()).unwrap_or_else(|| "api_error".into());
        if status == 402 || kind == "card_error" {
            return StripeError::Card {
                code: detail.as_ref().and_then(|d| d.code.clone()).unwrap_or_else(|| "card_declined".into()),
                decline_code: detail.as_ref().and_then(|d| d.decline_code.clone()),
                message,
            };
        }
        StripeError::Api { status, kind, code: detail.and_then(|d| d.code), message }
    }

    /// Creates the PaymentIntent of a purchase; the idempotency key is derived from the purchase id,
    /// so every retry (ours, or a client's repeat) names the same intent.
    pub async fn create_payment_intent(&self, purchase_id: &str, player_id: &str, credits: i64) -> Result<PaymentIntent, StripeError> {
        let form = vec![
            ("amount".to_string(), credits.to_string()),
            ("currency".to_string(), "usd".to_string()),
            ("metadata[player_id]".to_string(), player_id.to_string()),
            ("metadata[credits]".to_string(), credits.to_string()),
            ("metadata[purchase_id]".to_string(), purchase_id.to_string()),
        ];
        let key = format!("purchase-{purchase_id}");
        let body = self.call(reqwest::Method::POST, "/v1/payment_intents", &form, Some(&key)).await?;
        serde_json::from_str(&body).map_err(|e| StripeError::Api { status: 200, kind: "api_error".into(), code: None, message: format!("unreadable PaymentIntent: {e}") })
    }

    /// The current PaymentIntent: an event's copy may be stale.
    pub async fn payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let body = self.call(reqwest::Method::GET, &format!("/v1/payment_intents/{id}"), &[], None).await?;
        serde_json::from_str(&body).map_err(|e| StripeError::Api { status: 200, kind: "api_error".into(), code: None, message: format!("unreadable PaymentIntent: {e}") })
    }
}
