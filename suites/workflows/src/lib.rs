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

/// Every package of the workspace but `workspace-hack` (it has no code and no tests: it only
/// carries the unified features of cargo-hakari), as (name, directory). Panics if the workspace's
/// members are no longer the ones this walks, so a new kind of member is not silently left out.
pub fn packages() -> Vec<(String, PathBuf)> {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
    assert!(manifest.contains(r#"members = ["harness", "contracts", "platform/*", "suites/*", "workspace-hack"]"#), "the workspace's members changed: update workflows::packages");
    let mut dirs = vec![root.join("harness"), root.join("contracts")];
    for parent in ["platform", "suites"] {
        let mut inner: Vec<PathBuf> = std::fs::read_dir(root.join(parent)).expect(parent).map(|e| e.expect(parent).path()).collect();
        inner.sort();
        dirs.extend(inner);
    }
    dirs.into_iter()
        .filter_map(|dir| {
            let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
            let name = cargo.lines().find_map(|l| l.strip_prefix("name = ")).expect("a package name").trim_matches('"').to_string();
            Some((name, dir))
        })
        .collect()
}
