//! The hotfix regression convention (CONTRIBUTING.md): names carry severity and tracker id, and the
//! scaffolding command writes tests that follow it.

use std::process::Command;

/// `regression_<p0..p3>_<tracker id: letters then digits>_<what must hold>`.
fn follows_the_convention(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("regression_") else { return false };
    let mut parts = rest.splitn(3, '_');
    let (Some(severity), Some(tracker), Some(what)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let digits = tracker.trim_start_matches(|c: char| c.is_ascii_lowercase());
    matches!(severity, "p0" | "p1" | "p2" | "p3")
        && digits.len() < tracker.len()
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && !what.is_empty()
        && what.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn names_of_regression_tests() -> Vec<(String, String)> {
    let root = workflows::root();
    let mut out = Vec::new();
    let mut stack = vec![root.join("suites"), root.join("harness"), root.join("platform")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for line in text.lines() {
                    let t = line.trim_start();
                    let t = t.strip_prefix("async ").unwrap_or(t);
                    if let Some(rest) = t.strip_prefix("fn regression_") {
                        let name: String = format!("regression_{}", rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>());
                        out.push((name, p.strip_prefix(&root).unwrap().display().to_string()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_regression_test_carries_its_severity_and_tracker_id() {
    let names = names_of_regression_tests();
    assert!(names.len() >= 10, "the regressions so far are missing: {names:?}");
    let bad: Vec<_> = names.iter().filter(|(n, _)| !follows_the_convention(n)).collect();
    assert!(bad.is_empty(), "regression tests not named regression_<p0..p3>_<tracker id>_<what must hold> (CONTRIBUTING.md): {bad:?}");
}

#[test]
fn the_convention_refuses_what_a_filter_would_miss() {
    assert!(follows_the_convention("regression_p1_bv123_a_refund_is_refused"));
    for bad in ["regression_p1_a_refund_is_refused", "regression_p4_bv1_x", "regression_P1_bv1_x", "regression_p1_123_x", "regression_p1_bv_x", "regression_p1_bv1_"] {
        assert!(!follows_the_convention(bad), "{bad}");
    }
}

#[test]
fn a_scaffolded_regression_follows_the_convention_and_fails_until_filled_in() {
    let out = Command::new(workflows::root().join("scripts/regression"))
        .args(["new", "--suite", "stripe-webhooks", "--id", "BV-123", "--severity", "P1", "--title", "A refund larger than the purchase is refused.", "--dry-run"])
        .output()
        .expect("scripts/regression runs (python3)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let name = "regression_p1_bv123_a_refund_larger_than_the_purchase_is_refused";
    assert!(text.contains(&format!("async fn {name}()")) && follows_the_convention(name), "{text}");
    assert!(text.contains("harness::mve::system::Mve::start(") && text.contains("todo!(\"BV-123"), "{text}");

    let refused =
        Command::new(workflows::root().join("scripts/regression")).args(["new", "--suite", "stripe-webhooks", "--id", "123", "--severity", "P1", "--title", "x", "--dry-run"]).output().unwrap();
    assert!(!refused.status.success(), "a tracker id without letters was taken");
}
