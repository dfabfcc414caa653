//! The release verdict and the run summary, on fixture runs: GO only when nothing blocks.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("mve-release-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("suites/s/tests")).unwrap();
        std::fs::create_dir_all(dir.join("harness")).unwrap();
        std::fs::create_dir_all(dir.join("platform")).unwrap();
        std::fs::write(dir.join("suites/s/tests/regressions.rs"), "async fn regression_p1_bv7_money_is_kept() {}\nasync fn regression_p3_bv8_errors_are_json() {}\n").unwrap();
        std::fs::write(dir.join("findings.toml"), "").unwrap();
        Fixture { dir }
    }

    fn junit(&self, name: &str, cases: &[(&str, &str, bool)]) -> PathBuf {
        let mut xml = String::from("<?xml version=\"1.0\"?><testsuites>");
        for (suite, case, ok) in cases {
            xml += &format!("<testsuite name=\"{suite}\"><testcase name=\"{case}\" time=\"1.5\">{}</testcase></testsuite>", if *ok { "" } else { "<failure message=\"boom\"/>" });
        }
        xml += "</testsuites>";
        let p = self.dir.join(name);
        std::fs::write(&p, xml).unwrap();
        p
    }

    fn verdict(&self, gate: &Path, regressions: &Path) -> (i32, String) {
        let out = Command::new(workflows::root().join("scripts/release-verdict"))
            .args(["--gate".as_ref(), gate.as_os_str(), "--regressions".as_ref(), regressions.as_os_str(), "--root".as_ref(), self.dir.as_os_str()])
            .output()
            .expect("scripts/release-verdict runs (python3)");
        (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[test]
fn go_only_when_the_gate_passed_every_p0_p1_regression_ran_and_passed_and_no_p0_p1_finding_is_open() {
    let f = Fixture::new("go");
    let gate = f.junit("gate.xml", &[("s::api", "answers", true), ("s::regressions", "regression_p1_bv7_money_is_kept", true)]);
    let none = f.junit("none.xml", &[]);
    let (code, out) = f.verdict(&gate, &none);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("release candidate: GO") && out.contains("| `regression_p1_bv7_money_is_kept` (suites/s/tests/regressions.rs) | P1 | passed |"), "{out}");

    // A failing gate test blocks.
    let failing = f.junit("failing.xml", &[("s::api", "answers", false), ("s::regressions", "regression_p1_bv7_money_is_kept", true)]);
    let (code, out) = f.verdict(&failing, &none);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("release candidate: NO-GO") && out.contains("s: 1 test(s) failed in the gate"), "{out}");

    // A P1 regression that did not run blocks as surely as one that failed.
    let without = f.junit("without.xml", &[("s::api", "answers", true)]);
    let (code, out) = f.verdict(&without, &none);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("P1 regression regression_p1_bv7_money_is_kept: not run"), "{out}");

    // An open P1 finding blocks; an open P3 does not.
    std::fs::write(f.dir.join("findings.toml"), "[[finding]]\nid = \"BV-9\"\nseverity = \"P3\"\nstatus = \"open\"\ntitle = \"a typo\"\n").unwrap();
    assert_eq!(f.verdict(&gate, &none).0, 0);
    std::fs::write(f.dir.join("findings.toml"), "[[finding]]\nid = \"BV-10\"\nseverity = \"P1\"\nstatus = \"open\"\ntitle = \"credits lost\"\n").unwrap();
    let (code, out) = f.verdict(&gate, &none);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("open P1 finding BV-10: credits lost"), "{out}");
}

#[test]
fn the_run_summary_lists_suites_failures_and_the_slowest_tests() {
    let f = Fixture::new("summary");
    let junit = f.junit("run.xml", &[("a::x", "fast", true), ("a::x", "broken", false), ("b", "other", true)]);
    let out = Command::new(workflows::root().join("scripts/junit-summary")).arg(&junit).output().expect("scripts/junit-summary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("### Tests: failed — 2 passed, 1 failed, 0 skipped"), "{text}");
    assert!(text.contains("| a::x | 1 | 1 | 0 | 3.0 |") && text.contains("- `a::x` **broken**: boom") && text.contains("#### Ten slowest"), "{text}");
}
