//! Every platform API — the indexer's and the payments service's — under many concurrent users,
//! under fuzzed and hostile input, and against slow and greedy clients.
//!
//! - [`journeys`]: what the load's users do and the checks of what they saw (the generator's
//!   engine is [`harness::users`]);
//! - [`hostile`]: hostile requests to every route, invalid by construction;
//! - [`raw`]: a raw HTTP/1.1 client (exact bytes on the wire, half-sent requests);
//! - [`data`]: what "changes no data" means (both databases checksummed, Stripe calls counted).
//!
//! Choices where the issue and the specs are silent:
//! - a request is *invalid* when it breaks the route's documented grammar; the POST bodies take no
//!   fields beyond the documented ones (an extra field is a 400: a client's typo must not pass
//!   silently), and the indexer refuses a repeated query parameter (which value was meant?);
//! - bytes hyper cannot parse as HTTP/1.1 get hyper's own 400 (or 431) with no body: no route ever
//!   sees them, so no JSON error is owed;
//! - think time: users pause between requests as players do (default 250–750 ms; the 1,000-user
//!   soak 1–3 s), so "100 users" is about 200 requests a second, not a flood — the benchmark finds
//!   the flood's limit.

pub mod data;
pub mod hostile;
pub mod journeys;
pub mod raw;

/// A number from the environment, else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
