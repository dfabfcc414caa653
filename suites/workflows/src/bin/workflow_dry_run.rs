//! `cargo run -p workflows --bin workflow_dry_run -- [WORKFLOW] JOB[:KEY=VALUE]...`: GitHub's jobs
//! run here (see `workflows::dry_run`), e.g. `pr-gate.yml build suite:package=nar-ffi`. Prints each
//! step's result and the first failure's log; exit 1 if a step failed.

use std::collections::BTreeMap;

use workflows::dry_run::{DryRun, JobRun};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let workflow = if args.first().is_some_and(|a| a.ends_with(".yml")) { args.remove(0) } else { "pr-gate.yml".to_string() };
    if args.is_empty() {
        eprintln!("usage: workflow_dry_run [WORKFLOW.yml] JOB[:KEY=VALUE,...]...   e.g. pr-gate.yml fmt build suite:package=harness");
        std::process::exit(2);
    }
    let jobs: Vec<JobRun> = args
        .iter()
        .map(|a| {
            let (job, matrix) = a.split_once(':').unwrap_or((a, ""));
            let matrix = matrix.split(',').filter(|kv| !kv.is_empty()).filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
            JobRun { job: job.to_string(), matrix }
        })
        .collect();
    let root = workflows::root().canonicalize().expect("the workspace root");
    let dry = DryRun::new(&root, &workflow);
    if let Some(why) = dry.unavailable() {
        eprintln!("cannot dry-run here: {why}");
        std::process::exit(2);
    }
    match dry.run(&jobs) {
        Ok(v) => {
            println!("{}", v.report());
            std::process::exit(if v.passed() { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("dry run: {e}");
            std::process::exit(2);
        }
    }
}
