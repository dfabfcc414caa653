//! One sample of the whole system every period, appended to the run's series as it is taken.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use harness::mve::{Mve, Record};
use serde::{Deserialize, Serialize};

use crate::nar::NarClient;

/// Sums VmRSS and counts open descriptors over every process of a container (POSIX sh only: the
/// images are Debian minbase). The sampling shell itself adds a constant few KiB and descriptors.
const RESOURCES: &str = r#"rss=0; fds=0
for p in /proc/[0-9]*; do
  [ -r "$p/status" ] || continue
  while read -r k v u; do [ "$k" = "VmRSS:" ] && rss=$((rss + v)); done < "$p/status"
  for f in "$p"/fd/*; do [ -e "$f" ] || [ -L "$f" ] && fds=$((fds + 1)); done
done
echo "$rss $fds""#;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub rss_kib: u64,
    pub fds: u64,
    pub running: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reads {
    pub ok: u64,
    pub errors: u64,
    pub wrong: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t: f64,
    pub containers: BTreeMap<String, Container>,
    /// Reads since the previous sample.
    pub indexer_reads: Reads,
    pub payments_reads: Reads,
    pub nar_rss_kib: Option<u64>,
    pub nar_generations: u64,
    pub chain_ops: u64,
    pub deliveries_backlog: usize,
    /// What the services count about themselves (`/metrics`), cumulative: `name{labels}` → value.
    #[serde(default)]
    pub service_metrics: BTreeMap<String, f64>,
}

/// The series file, written line by line.
pub struct Series {
    pub path: PathBuf,
    file: std::fs::File,
    pub samples: Vec<Sample>,
}

impl Series {
    pub fn create(name: &str) -> anyhow::Result<Series> {
        let dir = harness::results::target_dir().join("mve-results/soak");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.jsonl"));
        Ok(Series { file: std::fs::File::create(&path)?, path, samples: Vec::new() })
    }

    pub fn push(&mut self, s: Sample) -> anyhow::Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(&s)?)?;
        self.file.flush()?;
        self.samples.push(s);
        Ok(())
    }
}

async fn container(handle: &harness::ServiceHandle) -> anyhow::Result<Container> {
    let running = handle.exit_code().await?.is_none();
    if !running {
        return Ok(Container { rss_kib: 0, fds: 0, running });
    }
    let (code, out) = handle.exec(&["sh", "-c", RESOURCES]).await?;
    anyhow::ensure!(code == 0, "sampling {}: exit {code}: {out}", handle.service());
    let mut it = out.split_whitespace().map(|v| v.parse::<u64>());
    match (it.next(), it.next()) {
        (Some(Ok(rss_kib)), Some(Ok(fds))) => Ok(Container { rss_kib, fds, running }),
        _ => anyhow::bail!("sampling {}: unreadable {out:?}", handle.service()),
    }
}

/// The percentile of `v` (sorted in place).
pub fn percentile(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    Some(v[rank])
}

/// Read counts as of the previous sample, to report each interval's own.
#[derive(Debug, Default)]
pub struct Since {
    indexer: (u64, u64, u64),
    payments: (u64, u64, u64),
}

fn interval(t: &harness::mve::load::Tally, prev: &mut (u64, u64, u64), latencies: &mut [f64]) -> Reads {
    let now = (t.ok, t.errors, t.wrong);
    let r = Reads { ok: now.0 - prev.0, errors: now.1 - prev.1, wrong: now.2 - prev.2, p50_ms: percentile(latencies, 50.0), p99_ms: percentile(latencies, 99.0) };
    *prev = now;
    r
}

/// The counters a service exposes under `prefix` on `/metrics` (Prometheus text format).
async fn scrape(url: &str, prefix: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
    let text = client.get(format!("{url}/metrics")).send().await?.error_for_status()?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

/// Takes one sample at `t` seconds into the soak.
pub async fn sample(mve: &Mve, record: &Record, nar: &NarClient, t: f64, since: &mut Since) -> anyhow::Result<Sample> {
    let mut containers = BTreeMap::new();
    for (name, handle) in [("mariadb", mve.stack.mariadb()?), ("redis", mve.stack.redis()?), ("anvil", mve.stack.anvil()?), ("indexer", &mve.indexer), ("payments", &mve.payments)] {
        containers.insert(name.to_string(), container(handle).await?);
    }
    let mut service_metrics = scrape(&mve.indexer.url().await?, "indexer_").await?;
    service_metrics.extend(scrape(&mve.payments_url().await?, "payments_").await?);
    let (mut indexer_ms, mut payments_ms) = record.take_latencies();
    let indexer = record.indexer_reads.lock().expect("reads").outside_faults.clone();
    let payments = record.payments_reads.lock().expect("reads").outside_faults.clone();
    Ok(Sample {
        t,
        containers,
        indexer_reads: interval(&indexer, &mut since.indexer, &mut indexer_ms),
        payments_reads: interval(&payments, &mut since.payments, &mut payments_ms),
        nar_rss_kib: nar.rss_kib(),
        nar_generations: nar.generations(),
        chain_ops: record.chain_ops.load(std::sync::atomic::Ordering::Relaxed),
        deliveries_backlog: record.backlog(),
        service_metrics,
    })
}
