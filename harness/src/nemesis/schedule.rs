//! Faults over time: a [`Schedule`] (a seeded sequence of faults, a value a test builds, prints
//! and replays) and a [`Journal`] (the faults a run actually injected, with start, end and
//! recovery times, for its result file).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One planned fault: `action` on `target` at `at_ms` after the schedule starts, for `hold_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    pub target: String,
    pub action: String,
    pub hold_ms: u64,
}

/// A seeded sequence of faults. The same seed and menu give the same schedule, so a failing run
/// replays from the seed its result file names (or from the schedule itself, which serialises).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub seed: u64,
    pub steps: Vec<Step>,
}

impl Schedule {
    /// `count` faults drawn from `menu` (target, action) with holds in `hold` and quiet gaps in
    /// `gap` between one fault's end and the next one's start: faults never overlap, so each
    /// recovery is measured on its own.
    pub fn random(seed: u64, menu: &[(&str, &str)], count: usize, hold: std::ops::RangeInclusive<u64>, gap: std::ops::RangeInclusive<u64>) -> Schedule {
        assert!(!menu.is_empty(), "a schedule needs at least one fault to draw");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut at = 0;
        let steps = (0..count)
            .map(|_| {
                at += rng.random_range(gap.clone());
                let (target, action) = menu[rng.random_range(0..menu.len())];
                let hold_ms = rng.random_range(hold.clone());
                let step = Step { at_ms: at, target: target.to_string(), action: action.to_string(), hold_ms };
                at += hold_ms;
                step
            })
            .collect();
        Schedule { seed, steps }
    }

    /// The time from the first fault's start to the last one's end.
    pub fn span(&self) -> Duration {
        Duration::from_millis(self.steps.last().map_or(0, |s| s.at_ms + s.hold_ms))
    }
}

/// One fault as it happened, in milliseconds since the journal began.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRecord {
    pub target: String,
    pub action: String,
    pub started_ms: u64,
    /// When the fault was undone (`None`: never, or the run ended first).
    pub ended_ms: Option<u64>,
    /// When the system was healthy and consistent again after the end.
    pub recovered_ms: Option<u64>,
}

impl FaultRecord {
    /// Fault end → healthy and consistent.
    pub fn recovery(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.recovered_ms?.checked_sub(self.ended_ms?)?))
    }
}

/// The faults of one run, in order of their start.
#[derive(Debug)]
pub struct Journal {
    began: Instant,
    records: Mutex<Vec<FaultRecord>>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new()
    }
}

impl Journal {
    pub fn new() -> Journal {
        Journal { began: Instant::now(), records: Mutex::new(Vec::new()) }
    }

    /// Milliseconds since the journal began: the clock every record and series of the run uses.
    pub fn now_ms(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }

    /// Records a fault's start; the index names it for [`Journal::ended`] and [`Journal::recovered`].
    pub fn started(&self, target: &str, action: &str) -> usize {
        let mut r = self.records.lock().expect("journal");
        r.push(FaultRecord { target: target.into(), action: action.into(), started_ms: self.now_ms(), ended_ms: None, recovered_ms: None });
        r.len() - 1
    }

    pub fn ended(&self, fault: usize) {
        let now = self.now_ms();
        self.records.lock().expect("journal")[fault].ended_ms = Some(now);
    }

    pub fn recovered(&self, fault: usize) {
        let now = self.now_ms();
        self.records.lock().expect("journal")[fault].recovered_ms = Some(now);
    }

    pub fn records(&self) -> Vec<FaultRecord> {
        self.records.lock().expect("journal").clone()
    }

    /// Whether a moment (ms) falls inside a fault (between its start and its recovery).
    pub fn during_fault(&self, at_ms: u64) -> bool {
        self.records.lock().expect("journal").iter().any(|r| r.started_ms <= at_ms && r.recovered_ms.is_none_or(|e| at_ms <= e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_a_function_of_its_seed_and_faults_never_overlap() {
        let menu = [("mariadb", "kill"), ("redis", "pause"), ("indexer", "kill")];
        let a = Schedule::random(7, &menu, 12, 500..=2_000, 1_000..=3_000);
        assert_eq!(a, Schedule::random(7, &menu, 12, 500..=2_000, 1_000..=3_000));
        assert_ne!(a, Schedule::random(8, &menu, 12, 500..=2_000, 1_000..=3_000));
        for w in a.steps.windows(2) {
            assert!(w[0].at_ms + w[0].hold_ms + 1_000 <= w[1].at_ms, "{w:?}");
        }
        let json = serde_json::to_string(&a).expect("serialises");
        assert_eq!(serde_json::from_str::<Schedule>(&json).expect("replays"), a);
    }

    #[test]
    fn a_recovery_is_measured_from_the_faults_end() {
        let r = FaultRecord { target: "x".into(), action: "kill".into(), started_ms: 100, ended_ms: Some(400), recovered_ms: Some(1_150) };
        assert_eq!(r.recovery(), Some(Duration::from_millis(750)));
        assert_eq!(FaultRecord { recovered_ms: None, ..r }.recovery(), None);
    }
}
