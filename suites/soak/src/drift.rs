//! Drift after warm-up: each series may grow only within its bound, stated **per hour** (or per unit
//! of work), so that a 15-minute, a 2-hour and a 48-hour soak are judged by the same rules; a longer
//! soak only measures more precisely. Warm-up is the first quarter of the run, at most 10 minutes,
//! and in any case until the system has settled: the chain [`judge_settled`]'s `settle_blocks`
//! past its first sample (the soak: the node's log window full, the mints done). What follows is
//! cut in thirds: "base" is the first third, "end" the last, slopes use the last half. A run that
//! leaves fewer than 8 samples after warm-up is a finding ("too short to judge"), not a pass.
//!
//! | series | bound |
//! |---|---|
//! | anvil's resident memory | per 1,000 blocks, ≤ [`anvil_kib_per_1000_blocks`] of the states it keeps and the transactions a block (same test), and the level rule below with that allowance per 1,000 blocks instead of per hour: its block index grows with the chain by design, anvil 1.7.1 copies every block's hash into each kept state and keeps ~2.5 KiB of every transaction; its states and transactions are bounded (`--prune-history`, `--transaction-block-keeper`) |
//! | MariaDB's resident memory | at most its first sample's + InnoDB's large allocations ([`MARIADB_INNODB_LARGE_KIB`]: the buffer pool, MariaDB's default, which the harness keeps, and the redo log buffers) + 32 MiB, in every sample after warm-up: the pool fills with the data as the tables grow and the log buffers as the log cycles through them (by design, to their fixed size), so its memory is bounded, not flat; a leak beyond them crosses the ceiling |
//! | resident memory of every other container, the NAR client and the soak's own process | slope over the second half ≤ [`RSS_KIB_PER_HOUR`], unless the samples cannot tell it from noise (below); and the end's mean ≤ the base's + max(32 MiB, 25 %) + the slope bound × the hours between them |
//! | disk of every container but MariaDB (its own file system and data volume) | slope ≤ [`DISK_KIB_PER_HOUR`] (same test); and the end's mean ≤ the base's + 32 MiB + the slope bound × the hours between them. MariaDB's files are its tables, judged one by one below |
//! | the 48-hour footprint ([`Footprint`]) | every resident set at its 48-hour projection, summed, within the machine's memory less [`MEMORY_RESERVE_KIB`]; every container's disk growth to 48 hours (MariaDB's included), summed, within the free disk where Docker keeps it |
//! | open descriptors of every container and of the soak's process | per 1,000 reads served, ≤ [`FDS_PER_1000_READS`] (same test); and the end's max ≤ the base's + 32 |
//! | a container | running in every sample |
//! | the delivery backlog (Stripe deliveries not yet accepted) | slope ≤ [`BACKLOG_PER_HOUR`]; the end's mean ≤ the base's + [`BACKLOG_MARGIN`] |
//! | a table that grows with the work (events, versions, ledger, webhook records...) | bytes per unit of work (chain operations for the indexer's, webhook deliveries for payments') at the end ≤ 1.5 × at the base + 4 MiB |
//! | any other table (cursors, parked facts, migrations: no reason to grow) | the end ≤ the base + 4 MiB, and slope ≤ 4 MiB per hour |
//! | read error rate (each API) | ≤ 1 % over the whole run after warm-up (a level: a service that fails 30 % of reads from the start fails too), and the last half ≤ the first half + 1 point |
//! | read p99 latency (each API) | last half's median p99 ≤ 2 × first half's + 100 ms |
//! | the services' own failure counts (`/metrics`) | the same two rules as the read error rate |
//!
//! A slope "over the bound" must be so beyond noise: the least-squares slope minus three standard
//! errors (corrected for the correlation of neighbouring samples) must exceed the bound. A short
//! soak's slope is mostly noise and passes unless its growth is steep; over 48 hours the standard
//! error shrinks to a fraction of the bound. Every series reports its slope, its standard error and
//! its projection to 48 hours. Ratios and margins within one run, never absolute timings.

use serde::{Deserialize, Deserializer, Serialize};

use crate::sampler::Sample;

pub const WARM_UP_MAX_SECONDS: f64 = 600.0;
pub const RSS_MARGIN_KIB: f64 = 32.0 * 1024.0;
pub const RSS_RATIO: f64 = 0.25;
/// Memory may grow by at most this per hour after warm-up (a leak of 1 MiB/h is 48 MiB in 48 h).
pub const RSS_KIB_PER_HOUR: f64 = 1024.0;
/// anvil keeps an index entry of every block whatever its pruning: measured 2026-12-03 on a bare
/// anvil 1.7.1 mining empty blocks, ~1.2 KiB a block with `--prune-history` and no state kept, ~2 KiB
/// with some (README: the chain node's memory).
pub const ANVIL_INDEX_KIB_PER_1000_BLOCKS: f64 = 2_048.0;
/// anvil 1.7.1 copies its block-hash cache, every block's hash and never trimmed, into each state it
/// keeps, so every kept state grows with the chain (foundry-rs/foundry#15715 trims the cache to the
/// 256 hashes `BLOCKHASH` can read; no npm release has it yet, 1.7.1 is the newest). Measured
/// 2026-12-03 on a bare anvil, averaged over the hash maps' doublings (the growth comes in steps):
/// ~190 B a block per state (8 states 3.7 KiB a block, 32 states 7.9, 128 states 25).
pub const ANVIL_KIB_PER_1000_BLOCKS_PER_STATE: f64 = 200.0;

/// anvil 1.7.1 also keeps ~2.5 KiB of every transaction it mines, with the same
/// `--transaction-block-keeper` 10 or 300 and whatever the states kept (measured 2026-12-03 on a
/// bare anvil, five value transfers a block: 8 states 13 KiB a block against 3.2 empty, 64 states
/// 26 against 13.5); what it is is not found yet (its receipts and bodies are pruned, jemalloc's
/// purging made no difference).
pub const ANVIL_KIB_PER_1000_TXS: f64 = 2_560.0;

/// How much anvil's memory may grow per 1,000 blocks when it keeps `states` states and mines
/// `txs_per_block` transactions a block: its index, its kept states' block-hash caches and what it
/// keeps of each transaction, each as a bare anvil 1.7.1 showed it; a leak of anything else, or
/// more of these for the soak's transactions than for a bare anvil's, crosses it.
pub fn anvil_kib_per_1000_blocks(states: usize, txs_per_block: f64) -> f64 {
    ANVIL_INDEX_KIB_PER_1000_BLOCKS + states as f64 * ANVIL_KIB_PER_1000_BLOCKS_PER_STATE + txs_per_block * ANVIL_KIB_PER_1000_TXS
}

/// What InnoDB allocates once and fills as it works: the buffer pool (`innodb_buffer_pool_size`,
/// MariaDB's default 128 MiB, which the harness keeps) and the redo log buffer with its flush twin
/// (2 × `innodb_log_buffer_size`, 16 MiB each). MariaDB 10.11's `SHOW ENGINE INNODB STATUS` says
/// "Total large memory allocated 167772160" (160 MiB), read during the soak of 2026-12-07, where
/// both became resident as the tables grew (the pool's mapping 38 → 65 MB in 22 minutes).
pub const MARIADB_INNODB_LARGE_KIB: f64 = 160.0 * 1024.0;
/// A container's files may grow by at most this per hour (a log of 1 KiB a second is 3.5 MiB/h).
pub const DISK_KIB_PER_HOUR: f64 = 4.0 * 1024.0;
/// Memory a 48-hour run leaves to the system, the build cache and the page cache.
pub const MEMORY_RESERVE_KIB: f64 = 2.0 * 1024.0 * 1024.0;
pub const FD_MARGIN: f64 = 32.0;
/// One descriptor lost per 10,000 reads is 0.1 per 1,000: a leak of one per 1,000 is ten times it.
pub const FDS_PER_1000_READS: f64 = 0.1;
pub const BACKLOG_PER_HOUR: f64 = 30.0;
pub const BACKLOG_MARGIN: f64 = 50.0;
pub const TABLE_MARGIN_BYTES: f64 = 4.0 * 1024.0 * 1024.0;
pub const TABLE_WORK_RATIO: f64 = 1.5;
pub const TABLE_BYTES_PER_HOUR: f64 = 4.0 * 1024.0 * 1024.0;
pub const ERROR_LEVEL: f64 = 0.01;
pub const ERROR_RATE_MARGIN: f64 = 0.01;
pub const LATENCY_RATIO: f64 = 2.0;
pub const LATENCY_MARGIN_MS: f64 = 100.0;
/// How many standard errors a slope must lie beyond its bound to count as growth.
pub const SIGMAS: f64 = 3.0;

/// Tables whose rows are the work itself: they grow with it, and are judged per unit of work.
pub const WORK_TABLES: [&str; 11] = [
    "indexer.events",
    "indexer.blocks",
    "indexer.players",
    "indexer.robot_versions",
    "indexer.item_versions",
    "indexer.balance_versions",
    "payments.purchases",
    "payments.ledger",
    "payments.debts",
    "payments.webhook_events",
    "payments.purchase_disputes",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    /// The reference level (the first third after warm-up) and the level at the end (the last third).
    pub base: f64,
    pub end: f64,
    /// Infinite for a series with no bound of its own (JSON: null).
    #[serde(deserialize_with = "null_is_infinite")]
    pub bound: f64,
    /// Least squares over the second half, per hour (per 1,000 reads for descriptors), with its
    /// standard error; and the value projected to 48 hours at that slope.
    pub slope_per_hour: f64,
    /// Infinite when the samples cannot give one (fewer than 3, or one instant; JSON: null).
    #[serde(deserialize_with = "null_is_infinite")]
    pub slope_stderr: f64,
    pub projected_48h: f64,
    pub within: bool,
}

/// serde_json writes an infinite f64 as null; read it back as infinite.
fn null_is_infinite<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// One line: name, base → end (bound), slope per hour (per 1,000 for descriptors and anvil) with
/// its standard error, the 48-hour projection, and OUT when outside its bounds.
impl std::fmt::Display for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<48} {:>14.1} → {:>14.1} (bound {:>14.1}) slope {:+.1} ± {:.1}, at 48 h {:.1}{}",
            self.name,
            self.base,
            self.end,
            self.bound,
            self.slope_per_hour,
            self.slope_stderr,
            self.projected_48h,
            if self.within { "" } else { "  OUT" }
        )
    }
}

/// What a machine gives a soak: its memory and the free disk where Docker keeps containers' files.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Machine {
    pub memory_kib: f64,
    pub disk_free_kib: f64,
}

impl Machine {
    /// This machine: `MemTotal` of /proc/meminfo, and `df` of Docker's data directory
    /// (`/var/lib/docker`, or `/` where there is none).
    pub fn here() -> anyhow::Result<Machine> {
        let meminfo = std::fs::read_to_string("/proc/meminfo")?;
        let memory_kib =
            meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).ok_or_else(|| anyhow::anyhow!("no MemTotal in /proc/meminfo"))?;
        let dir = if std::path::Path::new("/var/lib/docker").is_dir() { "/var/lib/docker" } else { "/" };
        let df = std::process::Command::new("df").args(["-Pk", dir]).output()?;
        anyhow::ensure!(df.status.success(), "df -Pk {dir}: {}", String::from_utf8_lossy(&df.stderr));
        let text = String::from_utf8_lossy(&df.stdout);
        let disk_free_kib = text.lines().nth(1).and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok()).ok_or_else(|| anyhow::anyhow!("df -Pk {dir}: no free size in {text:?}"))?;
        Ok(Machine { memory_kib, disk_free_kib })
    }
}

/// A 48-hour run at this run's slopes, against the machine: can a release candidate's soak run
/// here to its end?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Footprint {
    /// Every container's, the NAR client's and the soak process's memory at 48 hours, summed.
    pub memory_kib: f64,
    /// The machine's memory less [`MEMORY_RESERVE_KIB`].
    pub memory_limit_kib: f64,
    /// What every container's files grow by from now to hour 48, summed.
    pub disk_growth_kib: f64,
    pub disk_free_kib: f64,
    pub fits: bool,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let gib = |k: f64| k / 1024.0 / 1024.0;
        write!(
            f,
            "at 48 h: {:.2} GiB resident of {:.2} GiB, {:.2} GiB more disk of {:.2} GiB free{}",
            gib(self.memory_kib),
            gib(self.memory_limit_kib),
            gib(self.disk_growth_kib),
            gib(self.disk_free_kib),
            if self.fits { "" } else { "  DOES NOT FIT" }
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drift {
    pub valid: bool,
    pub samples: usize,
    pub hours: f64,
    pub series: Vec<Series>,
    pub findings: Vec<String>,
    /// Set by [`Drift::judge_footprint`].
    pub footprint_48h: Option<Footprint>,
}

impl Drift {
    /// The 48-hour footprint from the series' projections: memory of every `… rss KiB` series, disk
    /// growth of every `… disk KiB` series (end to projection).
    pub fn footprint(&self, machine: Machine) -> Footprint {
        let memory_kib: f64 = self.series.iter().filter(|s| s.name.ends_with(" rss KiB")).map(|s| s.projected_48h).sum();
        let disk_growth_kib: f64 = self.series.iter().filter(|s| s.name.ends_with(" disk KiB")).map(|s| (s.projected_48h - s.end).max(0.0)).sum();
        let memory_limit_kib = machine.memory_kib - MEMORY_RESERVE_KIB;
        let fits = memory_kib <= memory_limit_kib && disk_growth_kib <= machine.disk_free_kib;
        Footprint { memory_kib, memory_limit_kib, disk_growth_kib, disk_free_kib: machine.disk_free_kib, fits }
    }

    /// Sets the footprint on `machine` and, when a 48-hour run would not fit it, adds a finding and
    /// makes the verdict invalid.
    pub fn judge_footprint(&mut self, machine: Machine) {
        if self.series.is_empty() {
            return;
        }
        let footprint = self.footprint(machine);
        if !footprint.fits {
            self.findings.push(format!("a 48-hour run would not fit this machine: {footprint}"));
            self.valid = false;
        }
        self.footprint_48h = Some(footprint);
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn median(v: &mut [f64]) -> Option<f64> {
    crate::sampler::percentile(v, 50.0)
}

/// Least-squares slope of (x, y) and its standard error, the latter widened for the lag-1
/// autocorrelation of the residuals (neighbouring samples of a resource are not independent).
pub fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if n < 3.0 {
        return (0.0, f64::INFINITY);
    }
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return (0.0, f64::INFINITY);
    }
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    let residuals: Vec<f64> = points.iter().map(|p| p.1 - my - slope * (p.0 - mx)).collect();
    let sse: f64 = residuals.iter().map(|r| r * r).sum();
    let rho = if sse > 0.0 { (residuals.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / sse).clamp(0.0, 0.99) } else { 0.0 };
    let n_eff = (n * (1.0 - rho) / (1.0 + rho)).max(3.0);
    let se = (sse / (n - 2.0) / sxx).sqrt() * (n / n_eff).sqrt();
    (slope, se)
}

/// Least-squares slope of (t seconds, value), per hour.
pub fn slope_per_hour(points: &[(f64, f64)]) -> f64 {
    fit(points).0 * 3_600.0
}

/// The parts of a run the rules compare.
struct Parts<'a> {
    after: &'a [Sample],
    second: &'a [Sample],
    last: &'a [Sample],
    late: &'a [Sample],
    hours_between: f64,
}

/// The index of the first sample after warm-up: a quarter of the run (at most 10 minutes), and
/// not before the chain is `settle_blocks` past its first sample.
fn warm_up_end(samples: &[Sample], settle_blocks: u64) -> Option<usize> {
    let n = samples.len();
    let span = samples[n - 1].t - samples[0].t;
    let warm = (span / 4.0).min(WARM_UP_MAX_SECONDS) + samples[0].t;
    let settled = samples[0].block + settle_blocks;
    samples.iter().position(|s| s.t >= warm && s.block >= settled)
}

/// How much `x` grew from the judged part's first sample to its last.
fn grown(p: &Parts<'_>, x: &dyn Fn(&Sample) -> f64) -> f64 {
    x(&p.after[p.after.len() - 1]) - x(&p.after[0])
}

fn parts(samples: &[Sample], start: usize) -> Parts<'_> {
    let after = &samples[start..];
    let q = (after.len() / 3).max(1);
    let second = &after[..q];
    let last = &after[after.len() - q..];
    let late = &after[after.len() / 2..];
    let hours_between = (mean(&last.iter().map(|s| s.t).collect::<Vec<_>>()) - mean(&second.iter().map(|s| s.t).collect::<Vec<_>>())) / 3_600.0;
    Parts { after, second, last, late, hours_between }
}

/// Where the rules write.
struct Out<'a> {
    series: &'a mut Vec<Series>,
    findings: &'a mut Vec<String>,
}

/// A level (the last quarter against the second, within `level_bound(base, hours between)`) and a
/// slope over the second half, against time (per hour) or, with `x`, per 1,000 of `x`.
#[allow(clippy::too_many_arguments)]
fn judged(
    out: &mut Out<'_>,
    p: &Parts<'_>,
    remaining_to_48h: f64,
    name: String,
    value: &dyn Fn(&Sample) -> Option<f64>,
    reduce: fn(&[f64]) -> f64,
    level_bound: &dyn Fn(f64, f64) -> f64,
    slope_bound: f64,
    x: Option<&dyn Fn(&Sample) -> f64>,
) {
    let base = reduce(&p.second.iter().filter_map(value).collect::<Vec<_>>());
    let end = reduce(&p.last.iter().filter_map(value).collect::<Vec<_>>());
    let per_x = x.is_some();
    let points: Vec<(f64, f64)> = p.late.iter().filter_map(|s| value(s).map(|v| (x.map_or(s.t / 3_600.0, |f| f(s) / 1_000.0), v))).collect();
    let (slope, se) = fit(&points);
    let bound = level_bound(base, p.hours_between);
    let level_ok = end <= bound;
    let slope_ok = slope - SIGMAS * se <= slope_bound;
    // Per 1,000 reads or blocks: projected at the rate the run did them (thousands an hour).
    let per_hour = match x {
        None => 1.0,
        Some(f) => {
            let hours = grown(p, &|s| s.t) / 3_600.0;
            if hours > 0.0 { grown(p, f) / 1_000.0 / hours } else { 0.0 }
        }
    };
    let projected = end + slope.max(0.0) * per_hour * remaining_to_48h;
    if !level_ok {
        out.findings.push(format!("{name} grew from {base:.0} to {end:.0} (bound {bound:.0})"));
    }
    if !slope_ok {
        let unit = if per_x { "per 1,000 (reads or blocks)" } else { "per hour" };
        out.findings.push(format!("{name} grows {slope:.1} ± {se:.1} {unit} (bound {slope_bound:.1})"));
    }
    out.series.push(Series { name, base, end, bound, slope_per_hour: slope, slope_stderr: se, projected_48h: projected, within: level_ok && slope_ok });
}

/// Judges a series of samples (at least 8), with the warm-up of a quarter of the run.
pub fn judge(samples: &[Sample]) -> Drift {
    judge_settled(samples, 0, crate::ANVIL_STATES)
}

/// [`judge`], with the warm-up lasting at least until the chain is `settle_blocks` past its
/// first sample.
pub fn judge_settled(samples: &[Sample], settle_blocks: u64, anvil_states: usize) -> Drift {
    let mut findings = Vec::new();
    let mut series = Vec::new();
    let n = samples.len();
    if n < 8 {
        return Drift { valid: false, samples: n, hours: 0.0, series, findings: vec![format!("only {n} samples: too short to judge drift")], footprint_48h: None };
    }
    let hours = (samples[n - 1].t - samples[0].t) / 3_600.0;
    let start = match warm_up_end(samples, settle_blocks) {
        Some(i) if n - i >= 8 => i,
        end => {
            let when = end.map_or("has not settled yet".to_string(), |i| format!("settled at {:.0} s", samples[i].t));
            let finding = format!(
                "too short to judge drift: the system {when} (the chain {settle_blocks} blocks past its first sample, and a quarter of the run) and the run ended at {:.0} s; 8 samples after warm-up are needed",
                samples[n - 1].t
            );
            return Drift { valid: false, samples: n, hours, series, findings: vec![finding], footprint_48h: None };
        }
    };
    let p = parts(samples, start);
    let remaining_to_48h = (48.0 - samples[n - 1].t / 3_600.0).max(0.0);

    let mut out = Out { series: &mut series, findings: &mut findings };
    let rss_level = |b: f64, h: f64| b + (b * RSS_RATIO).max(RSS_MARGIN_KIB) + RSS_KIB_PER_HOUR * h;
    let reads = |s: &Sample| s.reads_total as f64;
    let blocks = |s: &Sample| s.block as f64;
    let blocks_between = (mean(&p.last.iter().map(blocks).collect::<Vec<_>>()) - mean(&p.second.iter().map(blocks).collect::<Vec<_>>())) / 1_000.0;
    // The chain's transactions a block over the judged part (every operation is one, failed ones too).
    let txs_per_block = grown(&p, &|s| s.chain_ops as f64) / grown(&p, &blocks).max(1.0);
    let anvil_bound = anvil_kib_per_1000_blocks(anvil_states, txs_per_block);
    let anvil_level = |b: f64, _: f64| b + (b * RSS_RATIO).max(RSS_MARGIN_KIB) + anvil_bound * blocks_between;
    let names: Vec<String> = samples[0].containers.keys().cloned().collect();
    for c in &names {
        let rss = |s: &Sample| s.containers.get(c).map(|x| x.rss_kib as f64);
        if c == "mariadb" {
            // Bounded by InnoDB's pool and log buffers (above), not flat: a ceiling in every sample.
            let first = samples[0].containers.get(c).map_or(0.0, |x| x.rss_kib as f64);
            let ceiling = first + MARIADB_INNODB_LARGE_KIB + RSS_MARGIN_KIB;
            let after: Vec<f64> = p.after.iter().filter_map(rss).collect();
            let (base, end, highest) = (mean(&p.second.iter().filter_map(rss).collect::<Vec<_>>()), mean(&p.last.iter().filter_map(rss).collect::<Vec<_>>()), max(&after));
            let (slope, se) = fit(&p.late.iter().filter_map(|s| rss(s).map(|v| (s.t / 3_600.0, v))).collect::<Vec<_>>());
            let within = highest <= ceiling;
            if !within {
                out.findings.push(format!("{c} rss KiB reached {highest:.0}, past its ceiling {ceiling:.0} (first sample + InnoDB's pool and log buffers + margin)"));
            }
            out.series.push(Series {
                name: format!("{c} rss KiB"),
                base,
                end,
                bound: ceiling,
                slope_per_hour: slope,
                slope_stderr: se,
                projected_48h: ceiling.min(end + slope.max(0.0) * remaining_to_48h),
                within,
            });
        } else if c == "anvil" {
            // The chain node's block index grows with the blocks by design (README): judged per
            // 1,000 blocks, not per hour.
            judged(&mut out, &p, remaining_to_48h, format!("{c} rss KiB"), &rss, mean, &anvil_level, anvil_bound, Some(&blocks));
        } else {
            judged(&mut out, &p, remaining_to_48h, format!("{c} rss KiB"), &rss, mean, &rss_level, RSS_KIB_PER_HOUR, None);
        }
        let disk = |s: &Sample| s.containers.get(c).map(|x| x.disk_kib as f64);
        if c == "mariadb" {
            // Its files are its tables (judged below, one by one): its disk has no bound of its own
            // and counts in the footprint.
            let (base, end) = (mean(&p.second.iter().filter_map(disk).collect::<Vec<_>>()), mean(&p.last.iter().filter_map(disk).collect::<Vec<_>>()));
            let (slope, se) = fit(&p.late.iter().filter_map(|s| disk(s).map(|v| (s.t / 3_600.0, v))).collect::<Vec<_>>());
            let projected_48h = end + slope.max(0.0) * remaining_to_48h;
            out.series.push(Series { name: format!("{c} disk KiB"), base, end, bound: f64::INFINITY, slope_per_hour: slope, slope_stderr: se, projected_48h, within: true });
        } else {
            judged(&mut out, &p, remaining_to_48h, format!("{c} disk KiB"), &disk, mean, &|b, h| b + RSS_MARGIN_KIB + DISK_KIB_PER_HOUR * h, DISK_KIB_PER_HOUR, None);
        }
        judged(&mut out, &p, remaining_to_48h, format!("{c} open fds"), &|s: &Sample| s.containers.get(c).map(|x| x.fds as f64), max, &|b, _| b + FD_MARGIN, FDS_PER_1000_READS, Some(&reads));
    }
    judged(&mut out, &p, remaining_to_48h, "nar client rss KiB".into(), &|s: &Sample| s.nar_rss_kib.map(|v| v as f64), mean, &rss_level, RSS_KIB_PER_HOUR, None);
    judged(&mut out, &p, remaining_to_48h, "soak process rss KiB".into(), &|s: &Sample| (s.harness_rss_kib > 0).then_some(s.harness_rss_kib as f64), mean, &rss_level, RSS_KIB_PER_HOUR, None);
    judged(
        &mut out,
        &p,
        remaining_to_48h,
        "soak process open fds".into(),
        &|s: &Sample| (s.harness_fds > 0).then_some(s.harness_fds as f64),
        max,
        &|b, _| b + FD_MARGIN,
        FDS_PER_1000_READS,
        Some(&reads),
    );
    judged(&mut out, &p, remaining_to_48h, "delivery backlog".into(), &|s: &Sample| Some(s.deliveries_backlog as f64), mean, &|b, _| b + BACKLOG_MARGIN, BACKLOG_PER_HOUR, None);
    // Tables: the work tables per unit of work; every other table by size.
    let tables: Vec<String> = samples[n - 1].tables.keys().cloned().collect();
    let work = |s: &Sample, table: &str| -> f64 {
        if table.starts_with("indexer.") { s.chain_ops as f64 } else { s.service_metrics.iter().filter(|(k, _)| k.starts_with("payments_webhooks_total{")).map(|(_, v)| v).sum() }
    };
    for t in &tables {
        if WORK_TABLES.contains(&t.as_str()) {
            let per = |part: &[Sample]| -> Option<(f64, f64)> {
                let s = part.last()?;
                Some((*s.tables.get(t)? as f64, work(s, t)))
            };
            let (Some((base_bytes, base_work)), Some((end_bytes, end_work))) = (per(p.second), per(p.last)) else { continue };
            let allowed = if base_work > 0.0 { base_bytes / base_work * end_work * TABLE_WORK_RATIO } else { base_bytes } + TABLE_MARGIN_BYTES;
            let within = end_bytes <= allowed;
            if !within {
                out.findings.push(format!("table {t} grew to {end_bytes:.0} bytes for {end_work:.0} units of work (bound {allowed:.0}: {base_bytes:.0} bytes for {base_work:.0} then)"));
            }
            let points: Vec<(f64, f64)> = p.late.iter().filter_map(|s| Some((s.t / 3_600.0, *s.tables.get(t)? as f64))).collect();
            let (slope, se) = fit(&points);
            out.series.push(Series {
                name: format!("table {t} bytes"),
                base: base_bytes,
                end: end_bytes,
                bound: allowed,
                slope_per_hour: slope,
                slope_stderr: se,
                projected_48h: end_bytes + slope.max(0.0) * remaining_to_48h,
                within,
            });
        } else {
            judged(&mut out, &p, remaining_to_48h, format!("table {t} bytes"), &|s: &Sample| s.tables.get(t).map(|v| *v as f64), mean, &|b, _| b + TABLE_MARGIN_BYTES, TABLE_BYTES_PER_HOUR, None);
        }
    }
    for c in &names {
        if let Some(s) = samples.iter().find(|s| s.containers.get(c).is_some_and(|x| !x.running)) {
            findings.push(format!("{c} was not running at {:.0} s", s.t));
        }
    }
    let after = p.after;
    let half = after.len() / 2;
    for (api, reads) in [("indexer", (|s: &Sample| s.indexer_reads.clone()) as fn(&Sample) -> crate::sampler::Reads), ("payments", |s: &Sample| s.payments_reads.clone())] {
        let rate = |part: &[Sample]| {
            let (ok, err) = part.iter().map(reads).fold((0, 0), |(o, e), r| (o + r.ok, e + r.errors));
            if ok + err == 0 { 0.0 } else { err as f64 / (ok + err) as f64 }
        };
        let (whole, first, second) = (rate(after), rate(&after[..half]), rate(&after[half..]));
        let within = second <= first + ERROR_RATE_MARGIN && whole <= ERROR_LEVEL;
        if whole > ERROR_LEVEL {
            findings.push(format!("{api} read error rate is {:.2} % after warm-up (bound {:.0} %)", whole * 100.0, ERROR_LEVEL * 100.0));
        }
        if second > first + ERROR_RATE_MARGIN {
            findings.push(format!("{api} read error rate rose from {:.2} % to {:.2} %", first * 100.0, second * 100.0));
        }
        series.push(Series {
            name: format!("{api} read error rate"),
            base: first,
            end: second,
            bound: (first + ERROR_RATE_MARGIN).min(ERROR_LEVEL),
            slope_per_hour: 0.0,
            slope_stderr: 0.0,
            projected_48h: second,
            within,
        });
        let p99 = |part: &[Sample]| median(&mut part.iter().filter_map(|s| reads(s).p99_ms).collect::<Vec<_>>()).unwrap_or(0.0);
        let (first, second) = (p99(&after[..half]), p99(&after[half..]));
        let bound = first * LATENCY_RATIO + LATENCY_MARGIN_MS;
        let within = second <= bound;
        if !within {
            findings.push(format!("{api} read p99 rose from {first:.0} ms to {second:.0} ms (bound {bound:.0} ms)"));
        }
        series.push(Series { name: format!("{api} read p99 ms"), base: first, end: second, bound, slope_per_hour: 0.0, slope_stderr: 0.0, projected_48h: second, within });
        let wrong: u64 = samples.iter().map(|s| reads(s).wrong).sum();
        if wrong > 0 {
            findings.push(format!("{wrong} wrong {api} answers"));
        }
    }
    // The services' own account (`/metrics`): the indexer's 5xx answers among all it served, and
    // the payments service's webhooks refused for want of its database among all it received.
    for (name, failed, all) in [
        ("indexer 5xx rate (its /metrics)", "indexer_http_requests_total{status=\"5xx\"}", "indexer_http_requests_total{"),
        ("payments webhook failure rate (its /metrics)", "payments_webhooks_total{outcome=\"database_unavailable\"}", "payments_webhooks_total{"),
    ] {
        let count = |s: &Sample, key: &dyn Fn(&str) -> bool| s.service_metrics.iter().filter(|(k, _)| key(k)).map(|(_, v)| v).sum::<f64>();
        let rate = |part: &[Sample]| {
            let (Some(a), Some(b)) = (part.first(), part.last()) else { return 0.0 };
            let bad = count(b, &|k| k == failed) - count(a, &|k| k == failed);
            let total = count(b, &|k| k.starts_with(all)) - count(a, &|k| k.starts_with(all));
            if total > 0.0 { bad / total } else { 0.0 }
        };
        let (whole, first, second) = (rate(after), rate(&after[..half]), rate(&after[half..]));
        let within = second <= first + ERROR_RATE_MARGIN && whole <= ERROR_LEVEL;
        if whole > ERROR_LEVEL {
            findings.push(format!("{name} is {:.2} % after warm-up (bound {:.0} %)", whole * 100.0, ERROR_LEVEL * 100.0));
        }
        if second > first + ERROR_RATE_MARGIN {
            findings.push(format!("{name} rose from {:.2} % to {:.2} %", first * 100.0, second * 100.0));
        }
        series.push(Series {
            name: name.to_string(),
            base: first,
            end: second,
            bound: (first + ERROR_RATE_MARGIN).min(ERROR_LEVEL),
            slope_per_hour: 0.0,
            slope_stderr: 0.0,
            projected_48h: second,
            within,
        });
    }
    Drift { valid: findings.is_empty(), samples: n, hours, series, findings, footprint_48h: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::{Container, Reads};

    /// `n` samples 5 s apart: one indexer container, steady reads.
    fn series_of(n: usize, rss: impl Fn(usize) -> u64) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                t: i as f64 * 5.0,
                containers: [("indexer".to_string(), Container { rss_kib: rss(i), fds: 20, running: true, disk_kib: 10_000 })].into(),
                indexer_reads: Reads { ok: 100, errors: 0, wrong: 0, p50_ms: Some(3.0), p99_ms: Some(20.0) },
                payments_reads: Reads { ok: 100, errors: 0, wrong: 0, p50_ms: Some(3.0), p99_ms: Some(20.0) },
                nar_rss_kib: Some(300_000),
                nar_generations: i as u64,
                chain_ops: 10 * i as u64,
                deliveries_backlog: 0,
                block: i as u64 * 10,
                harness_rss_kib: 80_000,
                harness_fds: 40,
                reads_total: 200 * i as u64,
                tables: [("indexer.events".to_string(), 16_384 + 100 * i as u64), ("indexer.index_cursor".to_string(), 16_384)].into(),
                service_metrics: [("indexer_http_requests_total{status=\"2xx\"}".to_string(), 100.0 * i as f64), ("indexer_http_requests_total{status=\"5xx\"}".to_string(), 0.0)].into(),
            })
            .collect()
    }

    fn series(rss: impl Fn(usize) -> u64) -> Vec<Sample> {
        series_of(40, rss)
    }

    /// A deterministic wobble of ±`amp`: what a resident set does around its level.
    fn wobble(i: usize, amp: u64) -> u64 {
        [0, amp, 2 * amp, amp][i % 4]
    }

    #[test]
    fn a_container_writing_a_log_without_bound_is_found_by_its_disk() {
        let with_disk = |disk: &dyn Fn(usize) -> u64| {
            let mut s = series_of(200, |i| 50_000 + wobble(i, 100));
            for (i, x) in s.iter_mut().enumerate() {
                x.containers.get_mut("indexer").unwrap().disk_kib = disk(i);
            }
            judge(&s)
        };
        // Within the 4 MiB an hour: a few KiB of wobble.
        let steady = with_disk(&|i| 10_000 + wobble(i, 8));
        assert!(steady.valid, "{:?}", steady.findings);
        // 1 KiB a second (a log line a request): 3.5 MiB an hour is within; 4 KiB a second is not.
        let logging = with_disk(&|i| 10_000 + i as u64 * 20);
        assert!(logging.findings.iter().any(|f| f.starts_with("indexer disk KiB grows")), "{:?}", logging.findings);
    }

    /// The soak reads its verdict from `soak_judge --json`: every field survives, infinite ones too.
    #[test]
    fn a_verdict_reads_back_from_its_json() {
        let mut verdict = judge(&series_of(200, |i| 50_000 + i as u64 * 20));
        verdict.judge_footprint(Machine { memory_kib: 1e7, disk_free_kib: 1e7 });
        verdict.series[0].bound = f64::INFINITY;
        verdict.series[1].slope_stderr = f64::INFINITY;
        let back: Drift = serde_json::from_str(&serde_json::to_string(&verdict).unwrap()).unwrap();
        assert_eq!(format!("{verdict:?}"), format!("{back:?}"));
    }

    #[test]
    fn a_48_hour_footprint_must_fit_the_machine() {
        // 1 MiB an hour is within the slope rule, and its 48-hour projection fits 24 GiB.
        let mut slow = judge(&series_of(200, |i| 50_000 + i as u64 * 1024 / 720));
        assert!(slow.valid, "{:?}", slow.findings);
        let machine = Machine { memory_kib: 24.0 * 1024.0 * 1024.0, disk_free_kib: 50.0 * 1024.0 * 1024.0 };
        slow.judge_footprint(machine);
        let footprint = slow.footprint_48h.clone().unwrap();
        assert!(slow.valid && footprint.fits, "{footprint}");
        // The indexer, the NAR client and the soak process: ~430 MB at 48 h.
        assert!((400_000.0..500_000.0).contains(&footprint.memory_kib), "{footprint}");
        // The same run on a machine with 2.3 GiB: not enough once the reserve is kept.
        let mut small = slow.clone();
        small.judge_footprint(Machine { memory_kib: 2.3 * 1024.0 * 1024.0, ..machine });
        assert!(!small.valid && small.findings.iter().any(|f| f.starts_with("a 48-hour run would not fit")), "{:?}", small.findings);
        // A disk that grows 3 MiB an hour (within its rule) on a disk with 100 MiB free: not enough.
        let mut s = series_of(200, |i| 50_000 + wobble(i, 100));
        for (i, x) in s.iter_mut().enumerate() {
            x.containers.get_mut("indexer").unwrap().disk_kib = 10_000 + i as u64 * 3 * 1024 / 720;
        }
        let mut filling = judge(&s);
        assert!(filling.valid, "{:?}", filling.findings);
        filling.judge_footprint(Machine { disk_free_kib: 100.0 * 1024.0, ..machine });
        assert!(!filling.valid, "{:?}", filling.footprint_48h);
    }

    #[test]
    fn a_flat_series_is_within_its_bounds_and_a_leak_is_not() {
        let flat = judge(&series(|i| 50_000 + (i as u64 % 3) * 100));
        assert!(flat.valid, "{:?}", flat.findings);
        // 2 MiB per sample: 80 MiB over the run, far past 32 MiB.
        let leak = judge(&series(|i| 50_000 + i as u64 * 2_048));
        assert!(!leak.valid);
        assert!(leak.findings.iter().any(|f| f.starts_with("indexer rss KiB grew")), "{:?}", leak.findings);
        assert!(leak.series[0].slope_per_hour > 0.0);
    }

    /// anvil is judged per 1,000 blocks by what a bare anvil 1.7.1 keeps for the states it keeps
    /// and the transactions it mines (here five a block, 64 states: 2 + 12.5 + 12.5 MiB per 1,000
    /// blocks): two hours of a block every 5 s growing at that rate pass; the same with another
    /// 8 KiB a block on top (the soak's own node keeping more than a bare one) does not.
    #[test]
    fn anvil_may_grow_with_its_blocks_as_a_bare_anvil_does_and_no_more() {
        let anvil = |extra_kib_per_block: f64| {
            let mut s = series_of(1_440, |_| 50_000);
            for (i, x) in s.iter_mut().enumerate() {
                let blocks = i as f64 * 10.0;
                x.chain_ops = i as u64 * 50;
                let rss = 60_000.0 + blocks * (anvil_kib_per_1000_blocks(64, 5.0) / 1_000.0 + extra_kib_per_block) + wobble(i, 256) as f64;
                x.containers.insert("anvil".into(), Container { rss_kib: rss as u64, fds: 20, running: true, disk_kib: 10_000 });
            }
            judge_settled(&s, 0, 64)
        };
        let bare = anvil(0.0);
        assert!(bare.valid, "{:?}", bare.findings);
        let more = anvil(8.0);
        assert!(more.findings.iter().any(|f| f.starts_with("anvil rss KiB")), "{:?}", more.findings);
    }

    /// 1 MiB/h is invisible to a level rule in minutes and to a 3-minute soak, but not to the
    /// slope rule over hours: 4 MiB/h over 2 hours (1,440 samples) with a 512 KiB wobble fails it,
    /// the same wobble with no growth passes, and so does the 4 MiB/h over 3 minutes (noise).
    #[test]
    fn a_slow_leak_fails_the_slope_rule_over_hours_and_noise_does_not() {
        let hourly = |kib_per_hour: f64| move |i: usize| 200_000 + wobble(i, 512) + (kib_per_hour * i as f64 * 5.0 / 3_600.0) as u64;
        let two_hours = judge(&series_of(1_440, hourly(4_096.0)));
        assert!(two_hours.findings.iter().any(|f| f.starts_with("indexer rss KiB grows")), "{:?}", two_hours.findings);
        let flat = judge(&series_of(1_440, hourly(0.0)));
        assert!(flat.valid, "{:?}", flat.findings);
        let three_minutes = judge(&series_of(36, hourly(4_096.0)));
        assert!(three_minutes.valid, "{:?}", three_minutes.findings);
    }

    #[test]
    fn a_descriptor_leak_per_thousand_reads_is_a_finding() {
        // One descriptor per 1,000 reads: 200 reads a sample, one more every fifth sample.
        let mut s = series_of(400, |_| 50_000);
        for (i, x) in s.iter_mut().enumerate() {
            x.containers.get_mut("indexer").unwrap().fds = 20 + i as u64 / 5;
        }
        let d = judge(&s);
        assert!(d.findings.iter().any(|f| f.starts_with("indexer open fds grows")), "{:?}", d.findings);
    }

    #[test]
    fn a_table_that_should_not_grow_and_a_growing_backlog_are_findings() {
        let mut s = series_of(400, |_| 50_000);
        for (i, x) in s.iter_mut().enumerate() {
            x.tables.insert("indexer.index_cursor".into(), 16_384 + 40_000 * i as u64);
            x.deliveries_backlog = i;
        }
        let d = judge(&s);
        assert!(d.findings.iter().any(|f| f.starts_with("table indexer.index_cursor bytes grew")), "{:?}", d.findings);
        assert!(d.findings.iter().any(|f| f.starts_with("delivery backlog")), "{:?}", d.findings);
        // A work table growing with the work is fine.
        assert!(!d.findings.iter().any(|f| f.contains("indexer.events")), "{:?}", d.findings);
    }

    #[test]
    fn a_rising_error_rate_a_steady_high_one_and_a_stopped_container_are_findings() {
        let mut s = series(|_| 50_000);
        for x in &mut s[25..] {
            x.payments_reads.errors = 10;
        }
        s[30].containers.get_mut("indexer").expect("indexer").running = false;
        let d = judge(&s);
        assert!(d.findings.iter().any(|f| f.contains("payments read error rate rose")), "{:?}", d.findings);
        assert!(d.findings.iter().any(|f| f.contains("indexer was not running")), "{:?}", d.findings);
        // 30 % of reads failing from the start to the end: no rise, but a level (review W6).
        let mut s = series(|_| 50_000);
        for x in &mut s {
            x.indexer_reads.errors = 43;
        }
        let d = judge(&s);
        assert!(d.findings.iter().any(|f| f.starts_with("indexer read error rate is")), "{:?}", d.findings);
    }

    #[test]
    fn server_errors_the_indexer_counts_itself_are_a_finding_when_they_rise() {
        let mut s = series(|_| 50_000);
        assert!(judge(&s).valid);
        for (i, x) in s.iter_mut().enumerate().skip(25) {
            x.service_metrics.insert("indexer_http_requests_total{status=\"5xx\"}".into(), 10.0 * (i - 24) as f64);
        }
        let d = judge(&s);
        assert!(d.findings.iter().any(|f| f.starts_with("indexer 5xx rate (its /metrics) rose")), "{:?}", d.findings);
    }

    #[test]
    fn a_run_that_ends_before_the_chain_settles_is_too_short_to_judge() {
        let s = series(|_| 50_000);
        assert!(judge_settled(&s, 100, crate::ANVIL_STATES).valid, "settled at block 100 of 390");
        let d = judge_settled(&s, 10_000, crate::ANVIL_STATES);
        assert!(!d.valid);
        assert!(d.findings.iter().any(|f| f.starts_with("too short to judge drift: the system has not settled")), "{:?}", d.findings);
    }

    /// MariaDB's buffer pool fills as the tables grow: 100 MiB of growth within the pool is its
    /// design, a climb past the pool and log buffers is not.
    #[test]
    fn mariadb_may_fill_its_buffer_pool_but_not_grow_past_it() {
        let with_mariadb = |rss: &dyn Fn(usize) -> u64| {
            let mut s = series_of(400, |_| 50_000);
            for (i, x) in s.iter_mut().enumerate() {
                x.containers.insert("mariadb".into(), Container { rss_kib: rss(i), fds: 70, running: true, disk_kib: 500_000 });
            }
            judge(&s)
        };
        let filling = with_mariadb(&|i| 110_000 + (i as u64).min(300) * 340);
        assert!(filling.valid, "{:?}", filling.findings);
        let past = with_mariadb(&|i| 110_000 + i as u64 * 600);
        assert!(past.findings.iter().any(|f| f.starts_with("mariadb rss KiB reached")), "{:?}", past.findings);
    }
}
