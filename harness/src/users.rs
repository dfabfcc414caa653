//! Load from many users at once (the generator of the API robustness suite and its benchmark).
//!
//! - [`run`]: a closed loop — `n` users, each running its journey (a request, a pause, the next
//!   request) until a deadline, as real players do;
//! - [`at_rate`]: an open loop — requests started at a fixed rate whatever the answers do, each
//!   timed from when it was *due* (so a slow server cannot hide its queue: no coordinated omission);
//! - [`Endpoints`]: every answer's latency and class per endpoint, summarised as percentiles and
//!   error rates for a result file.
//!
//! Latencies are recorded, never asserted: tests fail on wrong answers, 5xx and lost requests only.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer: refused, reset, timed out (the message says which).
    Lost(String),
}

#[derive(Debug, Default)]
struct Series {
    latencies_ms: Vec<f64>,
    by_class: [u64; 6],
    lost: u64,
    first_server_error: Option<String>,
    first_lost: Option<String>,
}

/// Answers per endpoint (a route template such as `GET /robots/{id}`).
#[derive(Debug, Default)]
pub struct Endpoints {
    series: Mutex<BTreeMap<String, Series>>,
}

/// One endpoint's figures.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSummary {
    pub endpoint: String,
    pub requests: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub lost: u64,
    /// 5xx and lost answers over all requests, in percent.
    pub error_rate_pct: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_server_error: Option<String>,
    pub first_lost: Option<String>,
}

impl Endpoints {
    pub fn record(&self, endpoint: &str, latency: Duration, outcome: &Outcome, detail: impl FnOnce() -> String) {
        let mut all = self.series.lock().expect("series");
        let s = all.entry(endpoint.to_string()).or_default();
        s.latencies_ms.push(latency.as_secs_f64() * 1e3);
        match outcome {
            Outcome::Status(code) => {
                s.by_class[(*code as usize / 100).min(5)] += 1;
                if *code >= 500 {
                    s.first_server_error.get_or_insert_with(|| format!("{code}: {}", detail()));
                }
            }
            Outcome::Lost(e) => {
                s.lost += 1;
                s.first_lost.get_or_insert_with(|| e.clone());
            }
        }
    }

    pub fn summary(&self) -> Vec<EndpointSummary> {
        let all = self.series.lock().expect("series");
        all.iter()
            .map(|(endpoint, s)| {
                let mut sorted = s.latencies_ms.clone();
                sorted.sort_by(f64::total_cmp);
                let requests = sorted.len() as u64;
                let failed = s.by_class[5] + s.lost;
                EndpointSummary {
                    endpoint: endpoint.clone(),
                    requests,
                    status_2xx: s.by_class[2],
                    status_4xx: s.by_class[4],
                    status_5xx: s.by_class[5],
                    lost: s.lost,
                    error_rate_pct: if requests == 0 { 0.0 } else { 100.0 * failed as f64 / requests as f64 },
                    p50_ms: percentile(&sorted, 0.50),
                    p95_ms: percentile(&sorted, 0.95),
                    p99_ms: percentile(&sorted, 0.99),
                    max_ms: sorted.last().copied().unwrap_or(0.0),
                    first_server_error: s.first_server_error.clone(),
                    first_lost: s.first_lost.clone(),
                }
            })
            .collect()
    }

    /// Every request across endpoints.
    pub fn total(&self) -> u64 {
        self.series.lock().expect("series").values().map(|s| s.latencies_ms.len() as u64).sum()
    }
}

/// The `q` quantile of sorted values (nearest rank); 0 for none.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `n` users, user `i` running `journey(i)` to its end; returns the first error a journey
/// returned (a journey errs only when the load itself cannot go on, not for a wrong answer, which
/// it records). Users start spread over `ramp`, as a crowd arrives.
pub async fn run<F, Fut>(n: usize, ramp: Duration, journey: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let start = ramp.mul_f64(i as f64 / n.max(1) as f64);
        let fut = journey(i);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(start).await; // pacing: the crowd's arrival, not a synchronisation
            fut.await
        }));
    }
    let mut first = None;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first.get_or_insert(e.context(format!("user {i}")));
            }
            Err(e) => {
                first.get_or_insert(anyhow::anyhow!("user {i} panicked: {e}"));
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// What an open-loop step measured.
#[derive(Debug, Clone, Serialize)]
pub struct RateStep {
    pub rate_per_s: u64,
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub achieved_per_s: f64,
}

/// Starts `request(k)` at `rate` per second for `duration`, never more than `max_in_flight` at
/// once (a request that would exceed it counts as failed: the server is saturated).
pub async fn at_rate<F, Fut>(rate: u64, duration: Duration, max_in_flight: usize, request: F) -> RateStep
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut k = 0u64;
    while started.elapsed() < duration {
        let due = started + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due.into()).await;
        k += 1;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let (fut, latencies, ok, failed) = (request(k), latencies.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let good = fut.await;
            latencies.lock().expect("latencies").push(due.elapsed().as_secs_f64() * 1e3);
            if good {
                ok.fetch_add(1, Ordering::Relaxed)
            } else {
                failed.fetch_add(1, Ordering::Relaxed)
            };
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut sorted = std::mem::take(&mut *latencies.lock().expect("latencies"));
    sorted.sort_by(f64::total_cmp);
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    RateStep { rate_per_s: rate, sent: k, ok, failed, p50_ms: percentile(&sorted, 0.5), p99_ms: percentile(&sorted, 0.99), achieved_per_s: ok as f64 / elapsed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.95), percentile(&v, 0.99), percentile(&v, 1.0)), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
    }

    #[test]
    fn a_summary_counts_5xx_and_lost_answers_as_errors_and_4xx_not() {
        let e = Endpoints::default();
        for (ms, o) in [(1, Outcome::Status(200)), (2, Outcome::Status(404)), (3, Outcome::Status(503)), (4, Outcome::Lost("reset".into()))] {
            e.record("GET /x", Duration::from_millis(ms), &o, || "down".into());
        }
        let s = &e.summary()[0];
        assert_eq!((s.requests, s.status_2xx, s.status_4xx, s.status_5xx, s.lost), (4, 1, 1, 1, 1));
        assert_eq!(s.error_rate_pct, 50.0);
        assert_eq!(s.first_server_error.as_deref(), Some("503: down"));
        assert_eq!(s.max_ms, 4.0);
    }
}
