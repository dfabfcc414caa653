//! `soak_judge SERIES [--until SECONDS] [--json]`: the drift verdict of a soak's series file, also of a soak
//! that was killed, or of its first SECONDS only (what a shorter soak of the same run would have
//! been judged). Prints one line per series (base, end, bound, slope per hour with its standard
//! error, the 48-hour projection), the 48-hour footprint against this machine and the findings, or
//! with `--json` the verdict as JSON (how the soak judges: in a process of its own, so that the
//! soak's memory does not hold every sample of the run); exits 1 when the verdict is not valid.

use soak::sampler::Series;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else { anyhow::bail!("usage: soak_judge SERIES [--until SECONDS] [--json]") };
    let until = match args.iter().position(|a| a == "--until") {
        Some(i) => Some(args.get(i + 1).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| anyhow::anyhow!("--until needs a number of seconds"))?),
        None => None,
    };
    let mut samples = Series::read(std::path::Path::new(path))?;
    if let Some(t) = until {
        samples.retain(|s| s.t <= t);
    }
    let verdict = soak::verdict(&samples)?;
    drop(samples);
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string(&verdict)?);
        std::process::exit(if verdict.valid { 0 } else { 1 });
    }
    println!("{} samples, {:.2} h", verdict.samples, verdict.hours);
    for s in &verdict.series {
        println!("{s}");
    }
    if let Some(footprint) = &verdict.footprint_48h {
        println!("{footprint}");
    }
    for f in &verdict.findings {
        println!("finding: {f}");
    }
    if !verdict.valid {
        std::process::exit(1);
    }
    Ok(())
}
