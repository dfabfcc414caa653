//! Named failpoints of the MVE services (TiKV's `fail` crate), armed only by the `FAILPOINTS`
//! environment variable: unset, every point is inert.
//!
//! Each service keeps one list of its points ([`Point`]s in its `failpoints` module) and a unit
//! test that runs [`unlisted_and_unguarded`] over its sources, so that a point missing from the
//! list, a listed point that no code has, or a new write step without a crash point after it fails
//! the build's tests and shows in review.
//!
//! A crash point ([`crash_point!`]) armed with `return` aborts the process right there, as a SIGKILL
//! would end it: no destructor runs, nothing is flushed, the open transaction is lost. With the
//! `fail` crate's counts, `FAILPOINTS="indexer::sync::batch_after_commit=2*off->return"` crashes at
//! the third time the point is reached.

use std::path::Path;

pub use fail;

/// What a point does when armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `return`: the process aborts (see [`crash_point!`]).
    Crash,
    /// `return(MS)`: the request waits MS milliseconds there (a window a test can hit).
    Hold,
}

/// One named point of a service and the step of its work it stands at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub name: &'static str,
    pub kind: Kind,
    pub step: &'static str,
}

/// The crash points of a service's list, for a test that crashes it at each in turn.
pub fn crash_points(points: &'static [Point]) -> impl Iterator<Item = &'static Point> {
    points.iter().filter(|p| p.kind == Kind::Crash)
}

/// Aborts the process if `FAILPOINTS` arms this point (`NAME=return`); otherwise nothing.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        if $crate::fail::eval($name, |_| ()).is_some() {
            eprintln!(concat!("failpoint ", $name, ": crashing"));
            std::process::abort();
        }
    };
}

/// Holds the calling task for MS milliseconds if `FAILPOINTS` arms this point (`NAME=return(MS)`):
/// a window a test can make something happen in (a commit in the middle of a read, say).
#[macro_export]
macro_rules! hold_point {
    ($name:literal) => {
        if let Some(ms) = $crate::fail::eval($name, |arg| arg.and_then(|a| a.parse::<u64>().ok())).flatten() {
            eprintln!(concat!("failpoint ", $name, ": holding {} ms"), ms);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    };
}

/// Reads `FAILPOINTS` once at start. A malformed list is a configuration error (the `fail` crate
/// panics on one; the service turns it into a clear message and exit code 2).
pub fn setup() -> Result<fail::FailScenario<'static>, String> {
    std::panic::catch_unwind(fail::FailScenario::setup).map_err(|_| format!("FAILPOINTS={:?} is not a valid failpoint list (name=action;...)", std::env::var("FAILPOINTS").unwrap_or_default()))
}

/// How far after a write step its crash point may stand (the end of a multi-line statement).
const AFTER: usize = 12;
/// How far before a commit its "before commit" crash point may stand.
const BEFORE: usize = 3;

/// What the review check finds in the `.rs` files under `src`: points in the code but not in
/// `points`, points listed but not in the code, and write steps without a crash point — a commit
/// needs one just before and one after it, a statement executed on a pool (it commits on its own)
/// one after it.
pub fn unlisted_and_unguarded(src: &Path, points: &[Point]) -> Vec<String> {
    let mut found = Vec::new();
    let mut used = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(src).expect("the service's src directory").flatten().map(|e| e.path()).collect();
    files.sort();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
        let text = std::fs::read_to_string(path).expect("a source file");
        let lines: Vec<&str> = text.lines().collect();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let is_point = |l: &str| l.contains("crash_point!(");
        for (i, line) in lines.iter().enumerate() {
            for marker in ["crash_point!(\"", "hold_point!(\"", "fail::eval(\""] {
                if let Some(at) = line.find(marker) {
                    let rest = &line[at + marker.len()..];
                    used.push(rest[..rest.find('"').unwrap_or(rest.len())].to_string());
                }
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            let after = lines[i + 1..(i + 1 + AFTER).min(lines.len())].iter().any(|l| is_point(l));
            if line.contains(".commit().await") {
                let before = lines[i.saturating_sub(BEFORE)..i].iter().any(|l| is_point(l));
                if !before || !after {
                    found.push(format!("{file}:{}: a commit without a crash point {}", i + 1, if before { "after it" } else { "before it" }));
                }
            } else if ["execute(&app.pool)", "execute(pool)", "execute(&self.pool)"].iter().any(|p| line.contains(p)) && !after {
                found.push(format!("{file}:{}: a write on the pool (its own commit) without a crash point after it", i + 1));
            }
        }
    }
    for name in &used {
        if !points.iter().any(|p| p.name == name) {
            found.push(format!("point {name} is in the code but not in the service's list"));
        }
    }
    for p in points {
        if !used.iter().any(|u| u == p.name) {
            found.push(format!("point {} is listed but no code has it", p.name));
        }
    }
    found
}
