//! Who owns the containers of this process, and for how long.
//!
//! Under nextest every test is its own process, so "one container set per test binary" has to be
//! shared across processes. The *owner* is the process whose end makes the containers garbage: the
//! nextest runner (our parent) under nextest, this process under plain `cargo test`. The *run key*
//! names the container set of one test binary in one run. Containers carry both as labels; a
//! watcher process removes them when the owner ends, and every harness start removes whatever a
//! dead owner left behind (a SIGKILLed run, a crashed machine).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::Result;

/// Label on everything the harness creates; `docker ps -a --filter label=org.bunkerverse.mve.harness`
/// lists it all.
pub const LABEL_HARNESS: &str = "org.bunkerverse.mve.harness";
/// `<pid>.<start time>` of the owner process; start time guards against pid reuse.
pub const LABEL_OWNER: &str = "org.bunkerverse.mve.owner";
/// The run key: one container set of one test binary in one run.
pub const LABEL_RUN: &str = "org.bunkerverse.mve.run";
pub const LABEL_SERVICE: &str = "org.bunkerverse.mve.service";
/// The uid that ran the harness: on a machine several users share (the workflow dry run's runner
/// next to the gate that started it), a leak check counts its own containers only.
pub const LABEL_USER: &str = "org.bunkerverse.mve.user";

/// The effective uid, as [`LABEL_USER`] records it.
pub fn uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The harness's lock and lease files, one directory per user: a directory another user created
/// first (root's gate run, then the dry run's runner) would refuse this user's files.
pub fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("mve-harness-{}", uid()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub start_time: u64,
}

impl Owner {
    pub fn label(&self) -> String {
        format!("{}.{}", self.pid, self.start_time)
    }

    pub fn parse(label: &str) -> Option<Owner> {
        let (pid, start) = label.split_once('.')?;
        Some(Owner { pid: pid.parse().ok()?, start_time: start.parse().ok()? })
    }

    pub fn of_pid(pid: u32) -> Option<Owner> {
        Some(Owner { pid, start_time: process_start_time(pid)? })
    }

    /// Alive means: a process with this pid exists and started when the owner did.
    pub fn is_alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.start_time)
    }
}

/// Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields after it are plain.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[derive(Debug)]
pub struct Session {
    pub owner: Owner,
    /// Names this test binary's shared container set; equal in every test process of one run.
    pub run_key: String,
    /// Scratch directory of the run key: lock and lease files.
    pub dir: PathBuf,
}

static SESSION: OnceLock<Session> = OnceLock::new();

pub fn current() -> &'static Session {
    SESSION.get_or_init(|| {
        let under_nextest = std::env::var_os("NEXTEST_RUN_ID").is_some();
        let owner_pid = if under_nextest { std::os::unix::process::parent_id() } else { std::process::id() };
        let owner = Owner::of_pid(owner_pid).or_else(|| Owner::of_pid(std::process::id())).unwrap_or(Owner { pid: std::process::id(), start_time: 0 });
        let binary = std::env::var("NEXTEST_BINARY_ID").unwrap_or_else(|_| std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
        let run = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| owner.label());
        let run_key = short_hash(&format!("{run}|{binary}|{}", owner.label()));
        let dir = scratch_root().join(&run_key);
        Session { owner, run_key, dir }
    })
}

/// 12 hex digits of FNV-1a: stable across processes, short enough for Linux bridge names.
pub fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// An exclusive lock on a file under the session directory, held until dropped or until the
/// process dies (the kernel releases flock locks of a killed process, so a crash never wedges a run).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

fn open_lock(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    Ok(OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?)
}

impl FileLock {
    pub async fn acquire(path: PathBuf) -> Result<FileLock> {
        tokio::task::spawn_blocking(move || FileLock::acquire_blocking(&path)).await.expect("lock task panicked")
    }

    /// [`FileLock::acquire`] for code outside the runtime: blocks the calling thread.
    pub fn acquire_blocking(path: &Path) -> Result<FileLock> {
        let file = open_lock(path)?;
        file.lock()?;
        Ok(FileLock { _file: file })
    }

    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let file = open_lock(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// Next number of a counter file shared by the processes of the run (under its own lock).
pub async fn next_in_sequence(name: &str) -> Result<u64> {
    let session = current();
    let _lock = FileLock::acquire(session.dir.join(format!("{name}.lock"))).await?;
    let path = session.dir.join(format!("{name}.seq"));
    let n = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
    std::fs::write(&path, (n + 1).to_string())?;
    Ok(n)
}

/// The watcher of `owner` holds this file locked while it waits, and deletes it when it is done.
pub fn watcher_lock_path(owner: &Owner) -> PathBuf {
    scratch_root().join(format!("watcher-{}.lock", owner.label()))
}

/// Starts, once per owner, a detached watcher that waits for the owner to end and then removes the
/// owner's containers and networks, the way Ryuk does for other testcontainers ports. `flock -n`
/// makes a second start a no-op; the watcher's stdio is closed so that nextest never waits on it.
pub fn ensure_watcher() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    if std::env::var_os("MVE_HARNESS_NO_WATCHER").is_some() {
        return;
    }
    let session = current();
    let owner = &session.owner;
    let lock = watcher_lock_path(owner);
    if let Some(parent) = lock.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        // No watcher means the containers outlive a killed run: say so rather than leak quietly.
        eprintln!("mve-harness: no cleanup watcher ({}: {e}); `mve-harness reap` removes what this run leaves", parent.display());
    }
    let filter = format!("label={LABEL_OWNER}={}", owner.label());
    let script = format!(
        "tail --pid={pid} -f /dev/null; \
         docker ps -aq --filter '{filter}' | xargs -r docker rm -fv; \
         docker network ls -q --filter '{filter}' | xargs -r docker network rm; \
         rm -f '{lock}'",
        pid = owner.pid,
        lock = lock.display(),
    );
    let spawned = Command::new("flock").arg("-n").arg(&lock).args(["sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0).spawn();
    if let Ok(mut child) = spawned {
        // Reap it in the background if it exits at once (lock already held), so no zombie stays.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
    }
}
