//! Command-line door to the harness, for people and for the harness's own self-tests.
//!
//!   mve-harness reap                         remove what dead runs left behind
//!   mve-harness up <shared|private> SERVICE... [--then exit|panic|hang]
//!                                            start a stack, print its URLs, then do as told
//!
//! `up` prints `owner=<label>` and `run=<key>` first, so a caller can find the containers by label.

use std::process::ExitCode;

use harness::{Service, Stack};

fn usage() -> ExitCode {
    eprintln!("usage: mve-harness reap | mve-harness up <shared|private> <mariadb|redis|anvil>... [--then exit|panic|hang]");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reap") => match reap().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mve-harness: {e}");
                ExitCode::FAILURE
            }
        },
        Some("up") => up(&args[1..]).await,
        _ => usage(),
    }
}

async fn reap() -> harness::Result<()> {
    let docker = harness::docker::connect().await?;
    let reaped = harness::docker::reap_leftovers(&docker).await?;
    println!("removed {} container(s) and {} network(s) of dead runs", reaped.containers.len(), reaped.networks.len());
    Ok(())
}

async fn up(args: &[String]) -> ExitCode {
    let mut builder = Stack::builder();
    let mut then = "exit";
    let Some(mode) = args.first() else { return usage() };
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--then" => then = rest.next().map(String::as_str).unwrap_or("exit"),
            name => match Service::ALL.iter().find(|s| s.name() == name) {
                Some(&s) => builder = builder.with(s),
                None => return usage(),
            },
        }
    }
    let session = harness::session::current();
    println!("owner={}", session.owner.label());
    println!("run={}", session.run_key);
    let stack = match mode.as_str() {
        "shared" => builder.shared().await,
        "private" => builder.private().await,
        _ => return usage(),
    };
    let stack = match stack {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mve-harness: {e}");
            return ExitCode::FAILURE;
        }
    };
    for service in Service::ALL {
        if let Ok(handle) = stack.service(service) {
            println!("{service}={}", handle.url().await.unwrap_or_default());
        }
    }
    println!("ready");
    match then {
        "panic" => panic!("mve-harness: panicking on purpose with the stack alive"),
        "hang" => std::future::pending::<ExitCode>().await,
        _ => ExitCode::SUCCESS,
    }
}
