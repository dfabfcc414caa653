//! NAR generations the way the game client makes them: the C client (nar-ffi's `c/nar_client.c`)
//! loads the library once and runs init → streaming generate → free → shutdown round after round,
//! at low CPU priority (`nice`), so that the services keep their share of this machine's cores,
//! and dies with the soak's process (`setpriv --pdeathsig`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct NarClient {
    child: Child,
    out: PathBuf,
    /// Its stderr, a file: a pipe nobody reads during the run would stall the client once full.
    err: PathBuf,
    pid: u32,
    /// How far the output has been read, and the generations counted up to there: each sample
    /// reads only what is new (the output grows for the whole soak).
    counted: std::sync::Mutex<(u64, u64)>,
}

impl NarClient {
    /// Starts the client; its output goes to `target/mve-results/soak/nar_client.out`.
    pub fn spawn() -> anyhow::Result<NarClient> {
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
        Ok(NarClient { child, out, err, pid, counted: std::sync::Mutex::new((0, 0)) })
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
            line.clear();
        }
        counted.1
    }

    /// Resident memory of the client (the library and its engine), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
    }

    /// `Some(description)` if the client has ended: it never should during a soak.
    pub fn ended(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
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
