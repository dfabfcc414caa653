//! `cargo run -p nar-ffi --bin narrative_report [-- --sample | --from DIR]`: generates the narrative
//! matrix through the C ABI (all 288 cells, or the gate's sample), or reads a stored record (the
//! `.snap` files in DIR), judges it with the narrative checklist and writes
//! `target/mve-results/nar-ffi/narrative_report.{md,html,json}` for sign-off.

use std::time::Instant;

use nar_ffi::checklist::Rules;
use nar_ffi::{Nar, matrix, report};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let from = args.iter().position(|a| a == "--from").and_then(|i| args.get(i + 1));
    let started = Instant::now();
    let cells = match from {
        Some(dir) => matrix::from_snapshots(std::path::Path::new(dir))?,
        None => {
            let nar = Nar::load();
            nar.start();
            matrix::generate(&nar, &if args.iter().any(|a| a == "--sample") { matrix::sample() } else { matrix::all() })
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let checked = Rules::load().check(&cells);
    let paths = report::write(&checked, seconds, &nar_ffi::model_path())?;
    println!("{} in {seconds:.0} s", checked.summary());
    for p in paths {
        println!("{}", p.display());
    }
    if !checked.valid {
        std::process::exit(1);
    }
    Ok(())
}
