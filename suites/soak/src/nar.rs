//! NAR generations the way the game client makes them: the C client (nar-ffi's `c/nar_client.c`)
//! loads the library once and runs init → streaming generate → free → shutdown round after round,
//! at low CPU priority (`nice`), so that the services keep their share of this machine's cores,
//! and dies with the soak's process (`setpriv --pdeathsig`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Upper bounds of the NAR's time buckets, in seconds.
const BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// What the game client would report about its NAR, made from the C client's output as the soak
/// reads it ([`NarClient::generations`]) and scraped by Prometheus as the `nar` job
/// (`harness::monitoring::TextTarget`): generations, tokens, errors, the time to the first token
/// and to the whole text, resident memory. The alert rules `MveNar*` read it.
#[derive(Clone, Default)]
pub struct NarMetrics {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    generations: u64,
    tokens: u64,
    errors: u64,
    first_token: Histogram,
    total: Histogram,
    pid: Option<u32>,
    /// The last resident memory read: a stopped client keeps reporting it, so that its series does
    /// not vanish from the run's end (the dashboards' check ran after the client stopped).
    rss_kib: Option<u64>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (le, n) in BUCKETS.iter().zip(self.buckets) {
            out.push_str(&format!("{name}_bucket{{le=\"{le}\"}} {n}\n"));
        }
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}\n", self.count, self.sum, self.count));
    }
}

impl NarMetrics {
    fn line(&self, line: &str) {
        let mut c = self.inner.lock().expect("nar metrics");
        if line.starts_with("text: ") {
            c.generations += 1;
        } else if let Some(rest) = line.strip_prefix("tokens: ") {
            c.tokens += rest.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        } else if let Some((first, total)) = nar_ffi::timing(line) {
            c.first_token.observe(first / 1e3);
            c.total.observe(total / 1e3);
        }
    }

    /// The page Prometheus scrapes.
    pub fn render(&self) -> String {
        let mut c = self.inner.lock().expect("nar metrics");
        if let Some(kib) = c.pid.and_then(rss_kib) {
            c.rss_kib = Some(kib);
        }
        let mut out = String::new();
        for (name, kind, help, value) in [
            ("nar_generations_total", "counter", "Generations finished", c.generations),
            ("nar_tokens_total", "counter", "Tokens generated", c.tokens),
            ("nar_errors_total", "counter", "Calls that failed (the client stops at the first)", c.errors),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        }
        c.first_token.render("nar_time_to_first_token_seconds", "From the generate call to the first partial text", &mut out);
        c.total.render("nar_generation_seconds", "From the generate call to the whole text", &mut out);
        if let Some(kib) = c.rss_kib {
            out.push_str(&format!(
                "# HELP nar_resident_memory_bytes The client's resident memory (library and engine)\n# TYPE nar_resident_memory_bytes gauge\nnar_resident_memory_bytes {}\n",
                kib * 1024
            ));
        }
        out
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

pub struct NarClient {
    child: Child,
    out: PathBuf,
    /// Its stderr, a file: a pipe nobody reads during the run would stall the client once full.
    err: PathBuf,
    pid: u32,
    /// How far the output has been read, and the generations counted up to there: each sample
    /// reads only what is new (the output grows for the whole soak).
    counted: std::sync::Mutex<(u64, u64)>,
    metrics: NarMetrics,
}

impl NarClient {
    /// Starts the client; its output goes to `target/mve-results/soak/nar_client.out`.
    pub fn spawn(metrics: NarMetrics) -> anyhow::Result<NarClient> {
        let dir = harness::results::target_dir().join("mve-results/soak");
        std::fs::create_dir_all(&dir)?;
        let out = dir.join("nar_client.out");
        let file = std::fs::File::create(&out)?;
        let err = dir.join("nar_client.err");
        let err_file = std::fs::File::create(&err)?;
        // stdbuf -oL: a line per generation reaches the file at once (a file is block-buffered, and
        // the client is killed at the end, never flushing).
        // setpriv --pdeathsig: the client dies with the soak. Killed without its destructor (a
        // time-out, Ctrl-C, a cancelled job) the soak left it running, reparented to init, for an
        // hour, taking a core from the next soak (seen 2026-12-03).
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "nice", "-n", "19", "stdbuf", "-oL"])
            .arg(nar_ffi::c_client())
            .arg(nar_ffi::library_path())
            .arg(nar_ffi::model_path())
            .args(["1000000000", "24", "stream"])
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file))
            .spawn()?;
        let pid = child.id();
        metrics.inner.lock().expect("nar metrics").pid = Some(pid);
        Ok(NarClient { child, out, err, pid, counted: std::sync::Mutex::new((0, 0)), metrics })
    }

    /// Generations finished so far (buffered output: a lower bound).
    pub fn generations(&self) -> u64 {
        use std::io::{BufRead, Seek};
        let mut counted = self.counted.lock().expect("counted");
        let Ok(mut file) = std::fs::File::open(&self.out) else { return counted.1 };
        if file.seek(std::io::SeekFrom::Start(counted.0)).is_err() {
            return counted.1;
        }
        // Whole lines only: a line still being written is counted next time.
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        while let Ok(n) = reader.read_line(&mut line) {
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            counted.0 += n as u64;
            counted.1 += u64::from(line.starts_with("text: "));
            self.metrics.line(line.trim_end());
            line.clear();
        }
        counted.1
    }

    /// Resident memory of the client (the library and its engine), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// `Some(description)` if the client has ended: it never should during a soak.
    pub fn ended(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.metrics.inner.lock().expect("nar metrics").errors += 1;
                let err = std::fs::read_to_string(&self.err).unwrap_or_default();
                Some(format!("the NAR client ended ({status}): {}", err.trim()))
            }
            Ok(None) => None,
            Err(e) => Some(format!("the NAR client cannot be waited on: {e}")),
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NarClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_lines_become_counters_and_histograms() {
        let m = NarMetrics::default();
        for line in [
            "stream: 9 calls",
            "text: A door.",
            "tokens: 24 stop_reason: 1",
            "timing: first_token_ms=180.0 total_ms=900.5",
            "text: B.",
            "tokens: 8 stop_reason: 0",
            "timing: first_token_ms=2500.0 total_ms=2600.0",
        ] {
            m.line(line);
        }
        let text = m.render();
        for want in [
            "nar_generations_total 2",
            "nar_tokens_total 32",
            "nar_errors_total 0",
            "nar_time_to_first_token_seconds_bucket{le=\"0.25\"} 1",
            "nar_time_to_first_token_seconds_bucket{le=\"2\"} 1",
            "nar_time_to_first_token_seconds_bucket{le=\"5\"} 2",
            "nar_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2",
            "nar_time_to_first_token_seconds_count 2",
            "nar_generation_seconds_bucket{le=\"1\"} 1",
        ] {
            assert!(text.lines().any(|l| l == want), "{want:?} missing from:\n{text}");
        }
    }
}
