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
}
