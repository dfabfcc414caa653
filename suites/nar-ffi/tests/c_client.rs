//! The C client (c/nar_client.c, compiled by build.rs against the checked-in header) runs the
//! game client's path through dlopen: init -> generate -> free (twice) -> shutdown.

use std::process::Command;

#[test]
fn the_c_client_runs_init_generate_free_shutdown_three_times() {
    let out = Command::new(nar_ffi::c_client()).arg(nar_ffi::library_path()).arg(nar_ffi::model_path()).args(["3", "8"]).output().expect("run the C client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "C client failed: {}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let texts: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("text: ")).collect();
    assert_eq!(texts.len(), 3, "{stdout}");
    assert!(texts.iter().all(|t| !t.trim().is_empty()), "empty text: {stdout}");
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "a deterministic request differs across init/shutdown cycles: {texts:?}");
    // The time a game waits for a whole generation: what the soak's NAR metrics are made of.
    let timings: Vec<(f64, f64)> = stdout.lines().filter_map(nar_ffi::timing).collect();
    assert_eq!(timings.len(), 3, "a timing line per generation: {stdout}");
    assert!(timings.iter().all(|&(first, total)| first > 0.0 && first <= total), "timings {timings:?}");
}

#[test]
fn streaming_reports_the_first_token_before_the_whole_text() {
    let out = Command::new(nar_ffi::c_client()).arg(nar_ffi::library_path()).arg(nar_ffi::model_path()).args(["1", "16", "stream"]).output().expect("run the C client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "C client failed: {}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let (first, total) = stdout.lines().find_map(nar_ffi::timing).unwrap_or_else(|| panic!("no timing line: {stdout}"));
    assert!(first > 0.0 && first < total, "the first partial text came at {first} ms of {total} ms: {stdout}");
}
