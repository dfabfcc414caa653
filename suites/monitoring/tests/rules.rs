//! The alert rules as code: promtool accepts them, their unit tests pass (series in, alerts out,
//! each rule silent at its bound and firing past it), and every rule is labelled for routing and
//! unit-tested. promtool runs in a container of the `mve-local/monitoring` image, on no network.

use harness::monitoring::{monitoring_dir, run_tool};
use monitoring::rules::{self, SEVERITIES};

#[tokio::test]
async fn promtool_accepts_every_rule_file() -> anyhow::Result<()> {
    let files: Vec<String> = rules::load(&monitoring_dir().join("alerts"))?.into_iter().map(|r| r.file).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert!(!files.is_empty(), "no rule files in {}", monitoring_dir().join("alerts").display());
    let mut args = vec!["promtool", "check", "rules"];
    args.extend(files.iter().map(String::as_str));
    let (code, out) = run_tool(&args, "alerts").await?;
    assert_eq!(code, 0, "promtool check rules:\n{out}");
    Ok(())
}

#[tokio::test]
async fn every_rule_passes_its_promtool_unit_tests() -> anyhow::Result<()> {
    let mut tests: Vec<String> =
        std::fs::read_dir(monitoring_dir().join("alerts/tests"))?.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".test.yml")).collect();
    tests.sort();
    assert!(!tests.is_empty(), "no promtool unit tests in monitoring/alerts/tests");
    let paths: Vec<String> = tests.iter().map(|t| format!("tests/{t}")).collect();
    let mut args = vec!["promtool", "test", "rules"];
    args.extend(paths.iter().map(String::as_str));
    let (code, out) = run_tool(&args, "alerts").await?;
    assert_eq!(code, 0, "promtool test rules:\n{out}");
    assert!(out.contains("SUCCESS"), "promtool test rules said no SUCCESS:\n{out}");
    Ok(())
}

/// A rule without a severity is routed nowhere; one without a unit test that shows it both silent
/// and firing can carry any threshold.
#[test]
fn every_rule_is_labelled_and_unit_tested_firing_and_silent() -> anyhow::Result<()> {
    let dir = monitoring_dir().join("alerts");
    let rules = rules::load(&dir)?;
    assert!(rules.len() >= 10, "only {} rules found in {}", rules.len(), dir.display());
    let mut tests = String::new();
    // The unit-test files promtool runs (`*.test.yml`), and nothing else in the folder: a stray
    // copy (an editor's backup, scripts/mutants' `.orig`) must not count as a test.
    for e in std::fs::read_dir(dir.join("tests"))? {
        let path = e?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".test.yml")) {
            tests.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(&tests.replace("\nrule_files:", "\n---\nrule_files:")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut fired = std::collections::BTreeSet::new();
    let mut silent = std::collections::BTreeSet::new();
    for doc in &docs {
        for test in doc["tests"].as_vec().into_iter().flatten() {
            for case in test["alert_rule_test"].as_vec().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap_or_default().to_string();
                if case["exp_alerts"].as_vec().is_some_and(|v| v.is_empty()) {
                    silent.insert(name)
                } else {
                    fired.insert(name)
                };
            }
        }
    }
    let mut problems = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for r in &rules {
        if !names.insert(r.alert.clone()) {
            problems.push(format!("{}: {} defined twice", r.file, r.alert));
        }
        if !r.severity.as_deref().is_some_and(|s| SEVERITIES.contains(&s)) {
            problems.push(format!("{}: {} has severity {:?}, not one of {SEVERITIES:?}", r.file, r.alert, r.severity));
        }
        if r.service.is_none() && !r.expr.contains("\"service\"") {
            problems.push(format!("{}: {} names no service (a label, or one its expression sets)", r.file, r.alert));
        }
        if r.summary.as_deref().is_none_or(str::is_empty) {
            problems.push(format!("{}: {} has no summary", r.file, r.alert));
        }
        if !fired.contains(&r.alert) {
            problems.push(format!("{}: {} is never shown firing in monitoring/alerts/tests", r.file, r.alert));
        }
        if !silent.contains(&r.alert) {
            problems.push(format!("{}: {} is never shown silent in monitoring/alerts/tests", r.file, r.alert));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}
