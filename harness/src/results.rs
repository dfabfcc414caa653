//! Machine-readable results (throughput, latencies, series) under `target/mve-results/<suite>/`.
//! Performance figures go here, never into timed assertions: these machines are shared and noisy.

use std::path::PathBuf;

use crate::Result;

/// `$CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
}

/// Writes `value` as pretty JSON to `target/mve-results/<suite>/<name>.json` and returns the path.
pub fn write_json(suite: &str, name: &str, value: &serde_json::Value) -> Result<PathBuf> {
    let dir = target_dir().join("mve-results").join(suite);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).expect("JSON values serialise") + "\n")?;
    Ok(path)
}
