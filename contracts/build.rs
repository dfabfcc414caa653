//! Compiles the Solidity sources (contracts/build.js, pinned solc-js) before the bindings are
//! expanded, so the artifacts `sol!` reads always match the sources: there is no committed artifact
//! to go stale, and a change to any input reruns this script.

use std::process::Command;

fn main() {
    for path in ["src", "build.js", "package-lock.json"] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=node_modules/.mve-lock.sha256");
    let output = Command::new("node").arg("build.js").output().unwrap_or_else(|e| panic!("contracts: cannot run node ({e}); run scripts/setup, which installs the contract tooling"));
    if !output.status.success() {
        panic!("contracts: build.js failed; if solc-js is missing, run scripts/setup\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }
}
