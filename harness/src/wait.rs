//! Polling with a deadline: the harness's only way to wait for something to become true.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Ok(Some(v))`, backing off from 20 ms to 500 ms between tries.
/// On timeout the error carries the last failure so that the report says *why* it never happened.
pub async fn until<T, E, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => String::from("condition not met yet"),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(TimedOut { what: what.to_string(), waited: start.elapsed(), last_error: last });
        }
        tokio::time::sleep(pause.min(timeout.saturating_sub(start.elapsed()))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{what} did not happen within {waited:?}: {last_error}")]
pub struct TimedOut {
    pub what: String,
    pub waited: Duration,
    pub last_error: String,
}
