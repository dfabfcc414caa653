//! `run_report`: one HTML page with plots and a Markdown summary of a test run (see
//! `workflows::report`).
//!
//! ```sh
//! target/debug/run_report [--junit target/nextest/ci/junit.xml]... [--results target/mve-results] [--out target/mve-results/report]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = workflows::root();
    let mut junit = Vec::new();
    let mut results = root.join("target/mve-results");
    let mut out = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        match (a.as_str(), value) {
            ("--junit", Some(v)) => junit.push(PathBuf::from(v)),
            ("--results", Some(v)) => results = PathBuf::from(v),
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            _ => {
                eprintln!("usage: run_report [--junit FILE]... [--results DIR] [--out DIR]");
                return ExitCode::from(2);
            }
        }
    }
    if junit.is_empty() {
        junit.push(root.join("target/nextest/ci/junit.xml"));
    }
    let out = out.unwrap_or_else(|| results.join("report"));
    let written = workflows::report::Run::read(&junit, &results, &out).and_then(|run| workflows::report::write(&run, &results, &out));
    match written {
        Ok((html, md)) => {
            println!("{}\n{}", html.display(), md.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("run_report: {e}");
            ExitCode::FAILURE
        }
    }
}
