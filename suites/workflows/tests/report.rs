//! The run report on a fixture run: its Markdown names what it must, its anomalies are flagged,
//! and headless Chromium shows its plots (a screenshot that is not blank and has the plots' colours).

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A run with one failure, a chaos recovery, the API load, a soak series, a leak series and a
/// benchmark that moved 60 % since its previous run.
fn fixture(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let junit = dir.join("junit.xml");
    write(
        &junit,
        r#"<?xml version="1.0"?><testsuites>
      <testsuite name="stripe-webhooks::idempotency"><testcase name="repeats_apply_once" time="94.8"/></testsuite>
      <testsuite name="indexer-consistency::api"><testcase name="bad_input_is_400" time="12.5"><failure message="got 500"/></testcase></testsuite>
      <testsuite name="api-robustness::load"><testcase name="a_hundred_users" time="55.7"/></testsuite></testsuites>"#,
    );
    let results = dir.join("results");
    write(
        &results.join("api-robustness/load_100_users.json"),
        r#"{"users":100,"endpoints":[
      {"endpoint":"GET /robots/{id}","requests":900,"p50_ms":40,"p95_ms":160,"p99_ms":270,"error_rate_pct":0,"status_5xx":0,"lost":0},
      {"endpoint":"POST /purchases","requests":600,"p50_ms":31,"p95_ms":226,"p99_ms":545,"error_rate_pct":0,"status_5xx":0,"lost":0}]}"#,
    );
    write(&results.join("chaos/mariadb_killed.json"), r#"{"verdict":{"valid":true,"faults":[{"action":"kill","target":"mariadb","started_ms":1000,"ended_ms":9000,"recovered_ms":21000}]}}"#);
    let series: String =
        (0..30).map(|i| format!("{{\"t\":{},\"containers\":{{\"indexer\":{{\"rss_kib\":{}}},\"mariadb\":{{\"rss_kib\":{}}}}}}}\n", i * 10, 25_000 + i * 40, 110_000 + i * 300)).collect();
    write(&results.join("soak/series.jsonl"), &series);
    let samples: Vec<String> = (0..20).map(|i| format!("{{\"iteration\":{i},\"rss_bytes\":{}}}", 150_000_000 + i * 1000)).collect();
    write(&results.join("nar-ffi/leak_generations.json"), &format!("{{\"valid\":true,\"samples\":[{}]}}", samples.join(",")));
    write(&results.join("api-robustness/bench_max_rate.json"), r#"{"seed":1,"apis":{"indexer reads":{"max_rate_per_s_with_p99_under_100ms":160}}}"#);
    let out = dir.join("report");
    write(&out.join("previous/api-robustness/bench_max_rate.json"), r#"{"seed":1,"apis":{"indexer reads":{"max_rate_per_s_with_p99_under_100ms":400}}}"#);
    (junit, results, out)
}

#[test]
fn the_report_shows_its_plots_in_headless_chromium() {
    let dir = std::env::temp_dir().join(format!("mve-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (junit, results, out) = fixture(&dir);
    let run = Command::new(env!("CARGO_BIN_EXE_run_report"))
        .args(["--junit".as_ref(), junit.as_os_str(), "--results".as_ref(), results.as_os_str(), "--out".as_ref(), out.as_os_str()])
        .output()
        .expect("run_report runs");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "**FAILED: 1 of 3 tests**",
        "- test failed: indexer-consistency::api bad_input_is_400",
        "max_rate_per_s_with_p99_under_100ms moved -60 % against the previous run (400 → 160)",
        "| mariadb_killed: kill mariadb | 12.0 |",
        "| POST /purchases | 600 | 31.0 | 226.0 | 545.0 | 0.00 |",
        "Soak: 30 samples of 2 containers",
    ] {
        assert!(md.contains(want), "the Markdown summary lacks {want:?}:\n{md}");
    }
    let kept = std::fs::read_to_string(out.join("previous/api-robustness/bench_max_rate.json")).unwrap();
    assert!(kept.contains("160"), "this run's benchmark is the next run's previous: {kept}");

    let html = out.join("report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg").count(), 5, "slowest tests, API latency, recovery, soak, leak series");

    let shot = dir.join("shot.png");
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is installed (scripts/setup)");
    let status = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,2400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&status.stderr));

    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let (mut ink, mut plot_blue) = (0usize, 0usize);
    for p in pixels.chunks(channels) {
        if p[..3] != [255, 255, 255] {
            ink += 1;
        }
        if (p[0] as i32 - 31).abs() < 12 && (p[1] as i32 - 119).abs() < 12 && (p[2] as i32 - 180).abs() < 12 {
            plot_blue += 1;
        }
    }
    let total = pixels.len() / channels;
    eprintln!("screenshot {}x{}: {ink} of {total} pixels not white, {plot_blue} in the plots' blue", info.width, info.height);
    assert!(ink * 100 > total * 3, "the screenshot is (nearly) blank: {ink} of {total} pixels not white");
    assert!(plot_blue > 2_000, "the plots are not on the screenshot: {plot_blue} pixels of their blue");
    std::fs::remove_dir_all(&dir).ok();
}
