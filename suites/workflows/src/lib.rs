//! The workflow around the suites, checked like any other part of the product:
//!
//! - `.github/workflows/*.yml` pass actionlint (`scripts/actionlint`, installed by `scripts/setup`)
//!   and the PR gate has a job for every package of the workspace; every mutant of every suite's
//!   `mutants.txt` still names code that exists;
//! - every `regression_*` test follows CONTRIBUTING.md's name (severity and tracker id), and
//!   `scripts/regression` writes tests that do;
//! - `scripts/release-verdict` says GO only when nothing blocks; `scripts/junit-summary` reports
//!   what a run did;
//! - [`report`]: the run report (`run_report`: HTML with plots, and Markdown);
//! - [`dry_run`]: GitHub's jobs run here as a non-root runner in a fresh clone (`tests/dry_run.rs`,
//!   and `cargo run -p workflows --bin workflow_dry_run` by hand).

pub mod dry_run;
pub mod report;

use std::path::PathBuf;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
