//! One sample of the whole system every period, appended to the run's series as it is taken.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use harness::mve::{Mve, Record};
use serde::{Deserialize, Serialize};

use crate::nar::NarClient;

/// Sums VmRSS and counts open descriptors over every process of a container (POSIX sh only: the
/// images are Debian minbase). The sampling shell itself adds a constant few KiB and descriptors.
/// Also the disk it has written: its own file system (`du -x /`, the image's files included, a
/// constant) plus its data volumes (MariaDB's datadir, Redis's dir), which `-x` leaves out.
const RESOURCES: &str = r#"rss=0; fds=0
for p in /proc/[0-9]*; do
  [ -r "$p/status" ] || continue
  while read -r k v u; do [ "$k" = "VmRSS:" ] && rss=$((rss + v)); done < "$p/status"
  for f in "$p"/fd/*; do [ -e "$f" ] || [ -L "$f" ] && fds=$((fds + 1)); done
done
disk=$(du -skx / 2>/dev/null | cut -f1)
for d in /var/lib/mysql /data; do
  if [ -d "$d" ] && [ "$(stat -c %d "$d")" != "$(stat -c %d /)" ]; then disk=$((disk + $(du -sk "$d" 2>/dev/null | cut -f1))); fi
done
echo "$rss $fds $disk""#;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub rss_kib: u64,
    pub fds: u64,
    pub running: bool,
    /// What it holds on disk (see [`RESOURCES`]).
    #[serde(default)]
    pub disk_kib: u64,
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
    /// The chain's head block: what anvil's memory and disk grow with, if they grow.
    #[serde(default)]
    pub block: u64,
    /// The soak's own process (load generator, checkers, sampler): resident memory and descriptors.
    #[serde(default)]
    pub harness_rss_kib: u64,
    #[serde(default)]
    pub harness_fds: u64,
    /// Reads answered since the start (both APIs, ok and errors): what per-request growth is
    /// measured against.
    #[serde(default)]
    pub reads_total: u64,
    /// Bytes of every table of both services' schemas (`indexer.events`, `payments.ledger`, ...):
    /// data and indexes, as MariaDB counts them.
    #[serde(default)]
    pub tables: BTreeMap<String, u64>,
    /// What the services count about themselves (`/metrics`), cumulative: `name{labels}` → value.
    #[serde(default)]
    pub service_metrics: BTreeMap<String, f64>,
}

/// The series file, written line by line and kept nowhere else: a 48-hour soak's 35,000 samples are
/// read back from it when a verdict is due, not held in the soak's memory for the whole run.
pub struct Series {
    pub path: PathBuf,
    file: std::fs::File,
    pub count: usize,
}

impl Series {
    pub fn create(name: &str) -> anyhow::Result<Series> {
        let dir = harness::results::target_dir().join("mve-results/soak");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.jsonl"));
        Ok(Series { file: std::fs::File::create(&path)?, path, count: 0 })
    }

    pub fn push(&mut self, s: Sample) -> anyhow::Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(&s)?)?;
        self.file.flush()?;
        self.count += 1;
        Ok(())
    }

    /// Every sample written so far (also of a soak that was killed: a line cut short is left out).
    pub fn read(path: &std::path::Path) -> anyhow::Result<Vec<Sample>> {
        let text = std::fs::read_to_string(path)?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

async fn container(handle: &harness::ServiceHandle) -> anyhow::Result<Container> {
    let running = handle.exit_code().await?.is_none();
    if !running {
        return Ok(Container { rss_kib: 0, fds: 0, running, disk_kib: 0 });
    }
    let (code, out) = handle.exec(&["sh", "-c", RESOURCES]).await?;
    anyhow::ensure!(code == 0, "sampling {}: exit {code}: {out}", handle.service());
    let mut it = out.split_whitespace().map(|v| v.parse::<u64>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(rss_kib)), Some(Ok(fds)), Some(Ok(disk_kib))) => Ok(Container { rss_kib, fds, running, disk_kib }),
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

/// This process's resident memory (KiB) and open descriptors.
fn own_resources() -> (u64, u64) {
    let rss = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())).unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    (rss, fds)
}

/// Bytes per table of the schema `pool` connects to, keyed `prefix.table`.
async fn table_sizes(pool: &sqlx::MySqlPool, prefix: &str, into: &mut BTreeMap<String, u64>) -> anyhow::Result<()> {
    let rows: Vec<(String, u64)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(COALESCE(data_length, 0) + COALESCE(index_length, 0) AS UNSIGNED) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await?;
    for (table, bytes) in rows {
        into.insert(format!("{prefix}.{table}"), bytes);
    }
    Ok(())
}

/// Takes one sample at `t` seconds into the soak.
pub async fn sample(mve: &Mve, record: &Record, nar: &NarClient, t: f64, since: &mut Since) -> anyhow::Result<Sample> {
    let mut containers = BTreeMap::new();
    for (name, handle) in [("mariadb", mve.stack.mariadb()?), ("redis", mve.stack.redis()?), ("anvil", mve.stack.anvil()?), ("indexer", &mve.indexer), ("payments", &mve.payments)] {
        containers.insert(name.to_string(), container(handle).await?);
    }
    let mut service_metrics = scrape(&mve.indexer.url().await?, "indexer_").await?;
    service_metrics.extend(scrape(&mve.payments_url().await?, "payments_").await?);
    let mut tables = BTreeMap::new();
    let (indexer_pool, payments_pool) = mve.pools().await?;
    table_sizes(&indexer_pool, "indexer", &mut tables).await?;
    table_sizes(&payments_pool, "payments", &mut tables).await?;
    let (harness_rss_kib, harness_fds) = own_resources();
    let (mut indexer_ms, mut payments_ms) = record.take_latencies();
    let indexer = record.indexer_reads.lock().expect("reads").outside_faults.clone();
    let payments = record.payments_reads.lock().expect("reads").outside_faults.clone();
    let reads_total = indexer.ok + indexer.errors + payments.ok + payments.errors;
    Ok(Sample {
        t,
        containers,
        indexer_reads: interval(&indexer, &mut since.indexer, &mut indexer_ms),
        payments_reads: interval(&payments, &mut since.payments, &mut payments_ms),
        nar_rss_kib: nar.rss_kib(),
        nar_generations: nar.generations(),
        chain_ops: record.chain_ops.load(std::sync::atomic::Ordering::Relaxed),
        deliveries_backlog: record.backlog(),
        block: {
            use alloy::providers::Provider;
            mve.chain.provider.get_block_number().await?
        },
        service_metrics,
        harness_rss_kib,
        harness_fds,
        reads_total,
        tables,
    })
}
