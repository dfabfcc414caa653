//! What a test runs besides itself, when the build happened elsewhere: a run from a nextest archive
//! (`scripts/gate-archive`, the PR gate's suite jobs) has no cargo to call and no `target/` of the
//! build. The archive carries `target/mve-prebuilt/` (nextest.toml's `archive.include`), and
//! [`DIR_ENV`] names where it was extracted; nothing is built then, and a missing file is an error
//! that names the script that makes it.
//!
//! - the platform's service binaries the harness mounts into containers ([`crate::platform::binary`]);
//! - `libmve_nar.so` and the C client `nar_client` (the `nar-ffi` and `soak` suites);
//! - a test's own package binaries ([`bin_exe`]): nextest sets `NEXTEST_BIN_EXE_<name>` at run
//!   time, remapped into the archive, where cargo's `CARGO_BIN_EXE_<name>` is the build machine's
//!   path, fixed at compile time.

use std::path::PathBuf;

use crate::{Error, Result};

/// The directory of prebuilt files (`<extracted archive>/target/mve-prebuilt`).
pub const DIR_ENV: &str = "MVE_PREBUILT_DIR";

/// The directory under `target/` that `scripts/gate-archive` fills and the archive includes.
pub const DIR_NAME: &str = "mve-prebuilt";

/// The service binaries, libraries and programs `scripts/gate-archive` puts in [`DIR_NAME`].
pub const FILES: &[&str] = &["mve-indexer", "mve-payments", "libmve_nar.so", "nar_client"];

/// The prebuilt directory, when this run uses one.
pub fn dir() -> Option<PathBuf> {
    std::env::var_os(DIR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `name` from the prebuilt directory: `Ok(None)` when the run has none (build it here),
/// an error when it has one without `name` (never a silent build instead).
pub fn file(name: &str) -> Result<Option<PathBuf>> {
    let Some(dir) = dir() else { return Ok(None) };
    let path = dir.join(name);
    if path.is_file() {
        Ok(Some(path))
    } else {
        Err(Error::Config(format!("{DIR_ENV}={} has no {name}: make the archive with scripts/gate-archive, which puts {} there", dir.display(), FILES.join(", "))))
    }
}

/// A binary of the test's own package: nextest's run-time `NEXTEST_BIN_EXE_<name>` (right in an
/// archive run too), else cargo's compile-time path (`env!("CARGO_BIN_EXE_<name>")`, passed in).
pub fn bin_exe(name: &str, compiled: &str) -> PathBuf {
    std::env::var_os(format!("NEXTEST_BIN_EXE_{name}")).or_else(|| std::env::var_os(format!("NEXTEST_BIN_EXE_{}", name.replace('-', "_")))).map_or_else(|| PathBuf::from(compiled), PathBuf::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prebuilt_directory_without_the_file_is_an_error_that_names_the_script() {
        let dir = tempfile_dir();
        // SAFETY: this unit test binary's only test that sets the variable; read back at once.
        unsafe { std::env::set_var(super::DIR_ENV, &dir) };
        let missing = super::file("mve-indexer");
        std::fs::write(dir.join("mve-indexer"), b"").unwrap();
        let present = super::file("mve-indexer");
        unsafe { std::env::remove_var(super::DIR_ENV) };
        let none = super::file("mve-indexer");
        let e = missing.expect_err("a missing prebuilt file is an error").to_string();
        assert!(e.contains("scripts/gate-archive") && e.contains("mve-indexer"), "{e}");
        assert_eq!(present.unwrap(), Some(dir.join("mve-indexer")));
        assert_eq!(none.unwrap(), None);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mve-prebuilt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
