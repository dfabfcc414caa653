//! A service binary's refusal of bad configuration: exit code 2 and a message naming the variable
//! (and no panic), checked by running the binary itself with a scrubbed environment.

use std::process::Command;

/// A binary and an environment it accepts; each check starts from that and breaks one thing.
pub struct ConfigCheck<'a> {
    /// cargo's compile-time path (`env!("CARGO_BIN_EXE_<name>")`); a run from an archive finds
    /// the binary by its name instead ([`crate::prebuilt::bin_exe`]).
    pub program: &'a str,
    pub valid: &'a [(&'a str, &'a str)],
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Refusal {
    pub code: Option<i32>,
    pub stderr: String,
}

impl ConfigCheck<'_> {
    /// Runs the binary with `valid` minus `drop`, plus `set`.
    pub fn run(&self, drop: &str, set: &[(&str, &str)]) -> Refusal {
        let name = std::path::Path::new(self.program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let program = crate::prebuilt::bin_exe(&name, self.program);
        let mut cmd = Command::new(&program);
        cmd.env_clear();
        for (k, v) in self.valid.iter().filter(|(k, _)| *k != drop) {
            cmd.env(k, v);
        }
        for (k, v) in set {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
        Refusal { code: out.status.code(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    }

    /// Without each variable of `valid` in turn, the binary exits 2 saying "<NAME> is required".
    pub fn assert_each_required_is_named(&self) {
        for (k, _) in self.valid {
            let r = self.run(k, &[]);
            assert_eq!(r.code, Some(2), "without {k}: {}", r.stderr);
            assert!(r.stderr.contains(&format!("{k} is required")), "without {k}: {}", r.stderr);
        }
    }

    /// With each `(name, value)` set, the binary exits 2 naming the variable, without a panic.
    pub fn assert_each_malformed_is_named(&self, cases: &[(&str, &str)]) {
        for (k, v) in cases {
            let r = self.run("", &[(k, v)]);
            assert_eq!(r.code, Some(2), "{k}={v}: {}", r.stderr);
            assert!(r.stderr.contains(k), "{k}={v}: {}", r.stderr);
            assert!(!r.stderr.contains("panicked"), "{k}={v}: {}", r.stderr);
        }
    }
}
