//! What the indexer reports about itself: `/status` (JSON) and `/metrics` (Prometheus).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use serde::Serialize;

/// Window over which `events_per_second` is averaged.
const RATE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Last block whose events are all applied (`null` before the first batch).
    pub current_block: Option<u64>,
    pub current_hash: Option<String>,
    pub chain_head: Option<u64>,
    /// `chain_head - current_block` (confirmations included).
    pub lag: Option<u64>,
    pub events_per_second: f64,
    pub events_indexed: u64,
    pub reorgs: u64,
    pub deepest_reorg: u64,
    pub chain_reachable: bool,
    pub database_reachable: bool,
    pub redis_reachable: Option<bool>,
    /// The last failure of the indexing loop, cleared by the next success.
    pub last_error: Option<String>,
    pub retry_in_ms: Option<u64>,
}

pub struct Telemetry {
    status: Mutex<Status>,
    recent: Mutex<VecDeque<(Instant, u64)>>,
    pub registry: Registry,
    pub current_block: IntGauge,
    pub chain_head: IntGauge,
    pub lag: IntGauge,
    pub events: IntCounter,
    pub reorgs: IntCounter,
    pub errors: IntCounterVec,
    pub batch_seconds: Histogram,
    pub http_requests: IntCounterVec,
    /// 1 while the dependency answers, by `dependency` (chain, database, redis): what the
    /// dependency alerts read, as this service sees it through its own links.
    pub dependency_up: IntGaugeVec,
    /// 1 once `/health` answers 200.
    pub ready: IntGauge,
    pub requests: mve_http::metrics::RequestMetrics,
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let current_block = gauge("indexer_current_block", "Last block whose events are all applied");
        let chain_head = gauge("indexer_chain_head", "Latest block number the chain reported");
        let lag = gauge("indexer_lag_blocks", "Chain head minus current block");
        let events = IntCounter::new("indexer_events_total", "Events applied").expect("valid metric");
        let reorgs = IntCounter::new("indexer_reorgs_total", "Reorgs detected and rolled back").expect("valid metric");
        let errors = IntCounterVec::new(Opts::new("indexer_errors_total", "Failed indexing rounds, by what failed"), &["component"]).expect("valid metric");
        let batch_seconds = Histogram::with_opts(HistogramOpts::new("indexer_batch_seconds", "Time to fetch and commit one batch")).expect("valid metric");
        let http_requests = IntCounterVec::new(Opts::new("indexer_http_requests_total", "API requests by status class"), &["status"]).expect("valid metric");
        for c in [Box::new(events.clone()) as Box<dyn prometheus::core::Collector>, Box::new(reorgs.clone()), Box::new(errors.clone())] {
            registry.register(c).expect("unique metric");
        }
        registry.register(Box::new(batch_seconds.clone())).expect("unique metric");
        registry.register(Box::new(http_requests.clone())).expect("unique metric");
        let dependency_up = IntGaugeVec::new(Opts::new("indexer_dependency_up", "1 while a dependency answers the indexer"), &["dependency"]).expect("valid metric");
        registry.register(Box::new(dependency_up.clone())).expect("unique metric");
        let ready = gauge("mve_ready", "1 once /health answers 200");
        let requests = mve_http::metrics::RequestMetrics::register(&registry).expect("unique metric");
        Telemetry {
            status: Mutex::new(Status::default()),
            recent: Mutex::new(VecDeque::new()),
            registry,
            current_block,
            chain_head,
            lag,
            events,
            reorgs,
            errors,
            batch_seconds,
            http_requests,
            dependency_up,
            ready,
            requests,
        }
    }

    pub fn status(&self) -> Status {
        let mut s = self.status.lock().expect("status lock").clone();
        s.events_per_second = self.rate();
        s
    }

    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        let mut s = self.status.lock().expect("status lock");
        f(&mut s);
        if let (Some(head), Some(cur)) = (s.chain_head, s.current_block) {
            s.lag = Some(head.saturating_sub(cur));
            self.lag.set(s.lag.unwrap_or(0) as i64);
        }
        if let Some(cur) = s.current_block {
            self.current_block.set(cur as i64);
        }
        if let Some(head) = s.chain_head {
            self.chain_head.set(head as i64);
        }
        self.dependency_up.with_label_values(&["chain"]).set(s.chain_reachable as i64);
        self.dependency_up.with_label_values(&["database"]).set(s.database_reachable as i64);
    }

    pub fn indexed(&self, events: u64) {
        self.events.inc_by(events);
        self.update(|s| s.events_indexed += events);
        let mut recent = self.recent.lock().expect("rate lock");
        recent.push_back((Instant::now(), events));
        while recent.front().is_some_and(|(t, _)| t.elapsed() > RATE_WINDOW) {
            recent.pop_front();
        }
    }

    fn rate(&self) -> f64 {
        let recent = self.recent.lock().expect("rate lock");
        let Some((first, _)) = recent.iter().find(|(t, _)| t.elapsed() <= RATE_WINDOW) else { return 0.0 };
        let total: u64 = recent.iter().map(|(_, n)| n).sum();
        let span = first.elapsed().as_secs_f64().max(1.0);
        total as f64 / span
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}
