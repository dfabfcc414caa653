//! The C client's init -> generate -> free -> shutdown path under `valgrind --leak-check=full`
//! (soak profile: ~100x slower than native). Fails on any byte "definitely lost"; suppressions
//! (valgrind.supp) are only for documented third-party noise.

use std::process::Command;

use nar_ffi::*;

#[test]
fn valgrind_init_generate_free_shutdown_loses_nothing() {
    let supp = concat!(env!("CARGO_MANIFEST_DIR"), "/valgrind.supp");
    let out = Command::new("valgrind")
        .args(["--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--error-exitcode=97"])
        .arg(format!("--suppressions={supp}"))
        .arg(c_client())
        .arg(library_path())
        .arg(model_path())
        .args(["2", "2"])
        .output()
        .expect("run valgrind (scripts/setup installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Vec<&str> = stderr.lines().filter(|l| l.contains("definitely lost") || l.contains("ERROR SUMMARY")).collect();
    eprintln!("{}", summary.join("\n"));
    let lost = stderr.lines().find_map(|l| l.split("definitely lost: ").nth(1)).and_then(|rest| rest.split(' ').next()).map(|n| n.replace(',', "")).and_then(|n| n.parse::<u64>().ok());
    // No "LEAK SUMMARY" at all means no leak of any kind was found.
    let lost = lost.unwrap_or(0);
    assert!(out.status.success() && lost == 0, "valgrind: {} with {lost} bytes definitely lost\n{stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("text: ")).count(), 2);
}
