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
        self.verdict_of(&[("ci", gate, 0), ("regressions", regressions, 0)], &[])
    }

    /// The verdict of runs (profile, JUnit, nextest's exit code), judged on 2026-12-03.
    fn verdict_of(&self, runs: &[(&str, &Path, i32)], extra: &[&str]) -> (i32, String) {
        let mut command = Command::new(workflows::root().join("scripts/release-verdict"));
        command.args(["--root".as_ref(), self.dir.as_os_str(), "--commit".as_ref(), "abc123".as_ref(), "--today".as_ref(), "2026-12-03".as_ref()]).args(extra);
        for (name, path, code) in runs {
            command.arg("--run").arg(format!("{name}={}:{code}", path.display()));
        }
        let out = command.output().expect("scripts/release-verdict runs (python3)");
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
    assert!(out.contains("Judged: commit abc123"), "the verdict names what it judged: {out}");

    // A failing gate test blocks.
    let failing = f.junit("failing.xml", &[("s::api", "answers", false), ("s::regressions", "regression_p1_bv7_money_is_kept", true)]);
    let (code, out) = f.verdict(&failing, &none);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("release candidate: NO-GO") && out.contains("ci: s::api answers failed"), "{out}");

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

/// Review H1: a run that left no JUnit (its build failed), or whose nextest exited non-zero
/// although its JUnit shows nothing failed, blocks; so does a long profile that did.
#[test]
fn a_run_without_junit_or_with_a_failing_exit_code_is_no_go() {
    let f = Fixture::new("exit");
    let gate = f.junit("gate.xml", &[("s::api", "answers", true), ("s::regressions", "regression_p1_bv7_money_is_kept", true)]);
    let none = f.junit("none.xml", &[]);
    let missing = f.dir.join("never-written.xml");
    let (code, out) = f.verdict_of(&[("ci", &missing, 101), ("regressions", &none, 0)], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("release candidate: NO-GO") && out.contains("ci: nextest exited 101 and left no readable JUnit"), "{out}");
    let (code, out) = f.verdict_of(&[("ci", &gate, 100), ("regressions", &none, 0)], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ci: nextest exited 100 though its JUnit shows no failed test"), "{out}");
    let (code, out) = f.verdict_of(&[("ci", &gate, 0), ("regressions", &none, 0), ("soak", &missing, 101)], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("soak: nextest exited 101"), "{out}");
}

/// Review H4: a failure an open finding names, before the finding's `expires` date, is reported as
/// known and does not block by itself; a new failure beside it still does, and so does the known
/// one once its date has passed.
#[test]
fn a_known_failure_is_reported_as_known_until_it_expires_and_a_new_failure_beside_it_still_blocks() {
    let f = Fixture::new("known");
    std::fs::write(
        f.dir.join("findings.toml"),
        "[[finding]]\nid = \"MVE-14c\"\nseverity = \"P2\"\nstatus = \"open\"\ntitle = \"slow at 1,000 users\"\ntest = \"soak_a_thousand_users\"\nexpires = \"2026-12-31\"\n",
    )
    .unwrap();
    let soak = f.junit("soak.xml", &[("api-robustness::load", "soak_a_thousand_users", false), ("soak::soak", "soak_steady", true)]);
    let (code, out) = f.verdict_of(&[("soak", &soak, 100)], &["--runs-only"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("soak_a_thousand_users: known failure (MVE-14c, expires 2026-12-31)"), "{out}");
    let both = f.junit("both.xml", &[("api-robustness::load", "soak_a_thousand_users", false), ("soak::soak", "soak_steady", false)]);
    let (code, out) = f.verdict_of(&[("soak", &both, 100)], &["--runs-only"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("soak: soak::soak soak_steady failed") && !out.contains("soak: api-robustness::load soak_a_thousand_users failed"), "{out}");
    let (code, out) = f.verdict_of(&[("soak", &soak, 100)], &["--runs-only", "--today", "2027-01-01"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("its known-failure entry (MVE-14c) expired 2026-12-31"), "{out}");
}

/// scripts/release-gate itself, on a workspace of one crate: GO while it builds and its tests pass;
/// then a build that fails is NO-GO although the green JUnit of the run before is still there when
/// it starts (the gate removes it first). Real cargo and nextest, a real compile error.
#[test]
fn the_release_gate_says_no_go_after_a_failed_build_whatever_an_earlier_run_left() {
    let f = Fixture::new("gate");
    let ws = f.dir.join("ws");
    std::fs::create_dir_all(ws.join("scripts")).unwrap();
    std::fs::create_dir_all(ws.join("suites/fx/src")).unwrap();
    std::fs::create_dir_all(ws.join(".config")).unwrap();
    for script in ["release-gate", "release-verdict"] {
        std::fs::copy(workflows::root().join("scripts").join(script), ws.join("scripts").join(script)).unwrap();
    }
    std::fs::write(ws.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\nmembers = [\"suites/fx\"]\n").unwrap();
    std::fs::write(ws.join("suites/fx/Cargo.toml"), "[package]\nname = \"fx\"\nversion = \"0.1.0\"\nedition = \"2024\"\n").unwrap();
    let passing = "#[test]\nfn answers() {}\n#[test]\nfn regression_p1_fx1_the_fixture_holds() {}\n";
    std::fs::write(ws.join("suites/fx/src/lib.rs"), passing).unwrap();
    std::fs::write(ws.join("findings.toml"), "").unwrap();
    std::fs::write(
        ws.join(".config/nextest.toml"),
        "[profile.ci]\njunit = { path = \"junit.xml\" }\n[profile.regressions]\ndefault-filter = \"test(/regression_p[01]_/)\"\njunit = { path = \"junit.xml\" }\n",
    )
    .unwrap();
    let git = |args: &[&str]| assert!(Command::new("git").current_dir(&ws).args(args).output().unwrap().status.success(), "git {args:?}");
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "fixture"]);
    let gate = || {
        let mut command = Command::new(ws.join("scripts/release-gate"));
        command.current_dir(&ws);
        // The outer nextest run's variables (its run id, profile, target) are not this run's.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("NEXTEST") || (k.starts_with("CARGO") && k != "CARGO_HOME") || k == "RUST_TEST_THREADS" {
                command.env_remove(&k);
            }
        }
        let out = command.output().expect("scripts/release-gate runs");
        (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (code, out) = gate();
    assert_eq!(code, 0, "the passing fixture: {out}");
    assert!(out.contains("release candidate: GO"), "{out}");
    let green = std::fs::read_to_string(ws.join("target/nextest/ci/junit.xml")).expect("the passing run's JUnit");
    assert!(green.contains("answers"), "{green}");

    std::fs::write(ws.join("suites/fx/src/lib.rs"), format!("{passing}fn broken( {{\n")).unwrap();
    let (code, out) = gate();
    assert_eq!(code, 1, "a failed build: {out}");
    assert!(out.contains("release candidate: NO-GO") && out.contains("ci: nextest exited") && out.contains("no readable JUnit"), "{out}");
    assert!(out.contains("(with uncommitted changes)"), "the verdict says the tree it judged had changes: {out}");
    assert!(!ws.join("target/nextest/ci/junit.xml").exists(), "the earlier run's JUnit is still there");
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
