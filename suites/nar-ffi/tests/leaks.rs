//! Leak checks through the C ABI.
//!
//! - RSS per generated token, on one engine: a llama.cpp context never freed (~30 MB at 1,024
//!   tokens of context) moves it by ~900 kB per token (measured); the bound is 1 KiB/token, far
//!   above page-granular noise (~30 bytes/token over 100 generations) and far below that.
//! - RSS per init/shutdown cycle: a model or engine never freed moves it by megabytes; the bound
//!   is 256 kB/cycle.
//! - A string never freed (a few hundred bytes per generation) is below what RSS can show in a
//!   run, so LeakSanitizer watches the C client's path for it, byte-exact (and valgrind, in the
//!   soak profile). The soak profile also runs the RSS check for much longer (`soak_` test) with a
//!   bound of 16 bytes/token.
//!
//! Series and verdicts go to `target/mve-results/nar-ffi/*.json`, plots to `*.svg`.

use std::process::Command;

use NarResultCode::*;
use nar_ffi::memory::{Sample, judge, record, rss_bytes};
use nar_ffi::*;

/// `generations` sampled generations of up to `max_tokens`, RSS after each.
fn generation_series(nar: &Nar, generations: u64, max_tokens: u32) -> Vec<Sample> {
    let prompt = cstring("Write the log entry of a patrol robot after its shift.");
    let context = cstring("narrative=PERSONAL_REFLECTION;class=SCAVENGER;affiliation=NEUTRAL");
    let mut tokens = 0u64;
    let mut samples = vec![Sample { iteration: 0, tokens: 0, rss_bytes: rss_bytes() }];
    for i in 1..=generations {
        let mut p = nar.params(&prompt, max_tokens);
        p.context = context.as_ptr();
        p.deterministic = false;
        p.temperature = 0.8;
        p.seed = i as u32;
        tokens += u64::from(nar.generate_text(&p).expect("generate").token_count);
        samples.push(Sample { iteration: i, tokens, rss_bytes: rss_bytes() });
    }
    samples
}

/// The gate's series: 30 generations (a context never freed grows ~900 kB/token, caught from the
/// first few); the nightly profile runs 100 (`nightly_` twin), the soak profile 3,000.
#[test]
fn generations_on_one_engine_keep_rss_flat_per_token() {
    generations_keep_rss_flat(30, 8, "leak_generations");
}

#[test]
fn nightly_generations_on_one_engine_keep_rss_flat_per_token() {
    generations_keep_rss_flat(100, 20, "nightly_leak_generations");
}

fn generations_keep_rss_flat(generations: u64, warmup: u64, result: &str) {
    let nar = Nar::load();
    nar.start();
    let samples = generation_series(&nar, generations, 24);
    let v = judge(&format!("RSS over {generations} generations on one engine"), samples, warmup, Some(1024.0), 0.0);
    record(result, &v);
    assert!(v.valid, "{}", v.summary());
}

#[test]
fn init_shutdown_cycles_keep_rss_flat() {
    let nar = Nar::load();
    let prompt = cstring("Say hello.");
    let mut samples = Vec::new();
    let mut tokens = 0;
    for cycle in 0..40u64 {
        nar.start();
        tokens += u64::from(nar.generate_text(&nar.params(&prompt, 4)).expect("generate").token_count);
        assert_eq!(unsafe { (nar.shutdown)() }, NAR_SUCCESS);
        samples.push(Sample { iteration: cycle, tokens, rss_bytes: rss_bytes() });
    }
    let v = judge("RSS over 40 init/generate/shutdown cycles", samples, 8, None, 256.0 * 1024.0);
    record("leak_init_shutdown", &v);
    assert!(v.valid, "{}", v.summary());
}

/// The C client's rounds under LeakSanitizer (`extra`: more client arguments); returns its stdout.
fn under_leak_sanitizer(rounds: &str, max_tokens: &str, extra: &[&str]) -> String {
    let lsan = "/usr/lib/x86_64-linux-gnu/liblsan.so.0";
    assert!(std::path::Path::new(lsan).is_file(), "{lsan} missing: run scripts/setup");
    let out = Command::new(c_client())
        .arg(library_path())
        .arg(model_path())
        .args([rounds, max_tokens])
        .args(extra)
        .env("LD_PRELOAD", lsan)
        // fast_unwind_on_malloc=0: whole stacks through the Rust and C++ frames.
        .env("LSAN_OPTIONS", "fast_unwind_on_malloc=0:exitcode=23:print_suppressions=0")
        .output()
        .expect("run the C client under LeakSanitizer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("LeakSanitizer"), "LeakSanitizer: {}\n{}", out.status, stderr.lines().take(80).collect::<Vec<_>>().join("\n"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn leak_sanitizer_finds_nothing_on_the_c_client_path() {
    let stdout = under_leak_sanitizer("3", "16", &[]);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("text: ")).count(), 3);
}

/// The streaming path allocates a C string per token for the callback: a leak of one per call
/// would not show in RSS over a few calls, but LeakSanitizer names it.
#[test]
fn leak_sanitizer_finds_nothing_on_the_streaming_c_client_path() {
    let stdout = under_leak_sanitizer("3", "16", &["stream"]);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("text: ")).count(), 3);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("stream: ")).count(), 3, "{stdout}");
}

/// The long run (soak profile): 3,000 generations of up to 64 tokens, 16 bytes/token.
#[test]
fn soak_generations_keep_rss_flat_per_token() {
    let nar = Nar::load();
    nar.start();
    let samples = generation_series(&nar, 3000, 64);
    let v = judge("RSS over 3,000 generations on one engine (soak)", samples, 200, Some(16.0), 0.0);
    record("soak_leak_generations", &v);
    assert!(v.valid, "{}", v.summary());
}
