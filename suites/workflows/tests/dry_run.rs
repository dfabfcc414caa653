//! The PR gate's jobs run here as GitHub would run them (see `workflows::dry_run` for how close that
//! gets): its fmt and build jobs and the harness package's suite job, in order, as the non-root
//! user `mve-runner`, each in a fresh clone of the commit under test, the first with a cold cache.
//! actionlint passed the workflow whose build job could never build (review U1); this runs it.
//!
//! A cold build of the whole workspace and clippy run inside: 30 to 60 minutes on two cores that the
//! rest of the gate also uses. In the gate it pushed `.ci/run` past its 90 minutes (2026-12-07: still
//! building at 3,400 s), so it is a `nightly_` check (the review's "scheduled dry run"), run by
//! `cargo nextest run --profile nightly -p workflows -E 'binary_id(workflows::dry_run)'` and by the
//! release gate; nextest.toml gives it an hour. Its verdict is kept by the inputs that decide it (the
//! workflows, scripts, manifests, lock files, build scripts, toolchain pin, nextest config and the dry
//! run itself): a later run on the same inputs reports the earlier pass instead of repeating it;
//! `MVE_DRY_RUN=always` repeats it. A fresh clone has no such record and always runs it.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::process::Command;

use workflows::dry_run::{DryRun, JobRun};

/// The tracked files whose content decides whether the jobs can pass, hashed.
fn inputs(root: &Path) -> String {
    let listed = Command::new("git").current_dir(root).args(["ls-files", "-z"]).output().expect("git ls-files");
    let mut files: Vec<String> = String::from_utf8_lossy(&listed.stdout).split('\0').filter(|f| !f.is_empty()).map(str::to_string).collect();
    files.retain(|f| {
        let name = f.rsplit('/').next().unwrap_or(f);
        f.starts_with(".github/")
            || f.starts_with("scripts/")
            || f.starts_with(".ci/")
            || ["Cargo.toml", "Cargo.lock", "build.rs", "build.js", "package.json", "package-lock.json", "rust-toolchain.toml", "nextest.toml"].contains(&name)
            || f == "suites/workflows/src/dry_run.rs"
            || f == "suites/workflows/tests/dry_run.rs"
    });
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        f.hash(&mut h);
        std::fs::read(root.join(f)).unwrap_or_default().hash(&mut h);
    }
    format!("{:016x} over {} files", h.finish(), files.len())
}

#[test]
fn nightly_the_pr_gates_fmt_build_and_harness_jobs_pass_as_a_non_root_runner_in_a_fresh_clone() {
    let root = workflows::root().canonicalize().expect("the workspace root");
    let dry = DryRun::new(&root, "pr-gate.yml");
    if let Some(why) = dry.unavailable() {
        panic!("the workflow dry run cannot run here: {why}");
    }
    let stamp = root.join("target/workflow-dry-run.passed");
    let inputs = inputs(&root);
    if std::env::var("MVE_DRY_RUN").as_deref() != Ok("always")
        && let Ok(passed) = std::fs::read_to_string(&stamp)
        && passed.lines().next() == Some(inputs.as_str())
    {
        eprintln!("workflow dry run: passed before on these inputs ({inputs}; {}), not repeated (MVE_DRY_RUN=always repeats it)", stamp.display());
        return;
    }
    let jobs = [
        JobRun { job: "fmt".into(), matrix: BTreeMap::new() },
        JobRun { job: "build".into(), matrix: BTreeMap::new() },
        JobRun { job: "suite".into(), matrix: BTreeMap::from([("package".to_string(), "harness".to_string())]) },
    ];
    let verdict = dry.run(&jobs).unwrap_or_else(|e| panic!("the dry run could not run: {e}"));
    let report = verdict.report();
    let results = root.join("target/mve-results");
    std::fs::create_dir_all(&results).ok();
    std::fs::write(results.join("workflow-dry-run.md"), &report).ok();
    eprintln!("{report}");
    assert!(verdict.passed(), "the PR gate's jobs fail as GitHub would run them:\n{report}");
    let ran: Vec<&str> = verdict.steps.iter().filter(|s| !s.skipped).map(|s| s.step.as_str()).collect();
    for step in ["build once and archive it (tests, service binaries, libmve_nar.so, the C client)", "clippy (warnings denied)", "test workflows", "test harness"] {
        assert!(ran.contains(&step), "step {step:?} never ran: {ran:?}");
    }
    std::fs::write(&stamp, format!("{inputs}\n{}\n", verdict.steps.len())).ok();
}
