//! The platform's own services (platform/*), started per test with that test's configuration.
//!
//! No registry is reachable, so there is no service image to pull: by default the container is
//! the local base image running the binary `cargo build` just made, mounted read-only. A build of
//! the platform packaged as an image replaces it with `MVE_IMAGE_<SERVICE>` (its entrypoint must
//! read the same environment), and `MVE_TARGET=external` with `MVE_<SERVICE>_URL` points at a
//! running deployment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use crate::service::{Service, Target};
use crate::session::{self, LABEL_SERVICE};
use crate::stack::{Backend, ContainerBackend, READY_TIMEOUT, ServiceHandle, Stack, random_hex};
use crate::{Error, Result, docker};

/// Port every platform service's HTTP API listens on inside its container.
pub const API_PORT: u16 = 8080;

/// Where a binary is mounted in the base image.
pub fn mounted_binary(name: &str) -> String {
    format!("/opt/mve/bin/{name}")
}

fn package_of(service: Service) -> Result<(&'static str, &'static str)> {
    match service {
        Service::Indexer => Ok(("mve-indexer", "mve-indexer")),
        Service::Payments => Ok(("mve-payments", "mve-payments")),
        other => Err(Error::Config(format!("{other} is infrastructure, not a platform service"))),
    }
}

/// Under `scripts/coverage` (cargo-llvm-cov's environment, the binaries built instrumented), where a
/// service writes its profile: the host's profile directory, mounted at the same path, one file per
/// container (every service is PID 1 of its own). `%c` is LLVM's continuous mode: the counters live
/// in the file as they change, so a service killed with SIGKILL (every container ends so, and the
/// crash tests kill on purpose) still leaves its whole profile.
fn coverage_profile(container_name: &str) -> Option<(String, String)> {
    std::env::var_os("CARGO_LLVM_COV")?;
    let pattern = std::env::var("LLVM_PROFILE_FILE").ok()?;
    let dir = Path::new(&pattern).parent()?.to_string_lossy().into_owned();
    Some((dir.clone(), format!("{dir}/{container_name}-%c%p.profraw")))
}

/// The service's binary: from the prebuilt directory of an archive run ([`crate::prebuilt`]), else
/// built (or found up to date) with cargo, once per test process and, under nextest, once per run
/// and binary: the first test process of a run that needs it builds it and
/// stamps the run's id, the others find the stamp. Even a no-op cargo build costs about a second
/// and takes cargo's lock on `target/`, so one per test process queued the gate's tests.
pub fn binary(package: &str, bin: &str) -> Result<PathBuf> {
    if let Some(path) = crate::prebuilt::file(bin)? {
        return Ok(path);
    }
    static BUILT: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut built = BUILT.lock().expect("build cache lock");
    if let Some(path) = built.get_or_insert_with(HashMap::new).get(bin) {
        return Ok(path.clone());
    }
    let path = build_once_per_run(package, bin)?;
    built.get_or_insert_with(HashMap::new).insert(bin.to_string(), path.clone());
    Ok(path)
}

/// The stamp (under its lock) that says which nextest run built `bin` last.
fn build_once_per_run(package: &str, bin: &str) -> Result<PathBuf> {
    let profile = std::env::var("MVE_PLATFORM_PROFILE").unwrap_or_else(|_| "dev".into());
    let Some(run) = std::env::var("NEXTEST_RUN_ID").ok() else { return build(package, bin, &profile) };
    let dir = crate::results::target_dir().join("mve-platform-build");
    let _lock = session::FileLock::acquire_blocking(&dir.join("lock"))?;
    let stamp = dir.join(format!("built-by-run-{bin}-{profile}"));
    let path = crate::results::target_dir().join(profile_dir(&profile)).join(bin);
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == run) && path.is_file() {
        return Ok(path);
    }
    let path = build(package, bin, &profile)?;
    std::fs::write(&stamp, &run).map_err(|e| Error::Config(format!("writing {}: {e}", stamp.display())))?;
    Ok(path)
}

fn profile_dir(profile: &str) -> &str {
    if profile == "dev" { "debug" } else { profile }
}

/// `cargo build -p PACKAGE --bin BIN`: only the binary this test runs. The workspace-hack crate
/// (cargo-hakari) gives every selection the workspace's feature set, so after any build of the
/// suites this compiles the service's own crate at most: `-p indexer-consistency` no longer drags
/// in a build of the whole workspace (llama.cpp included) inside its first test, where it ran past
/// nextest's time-out (review U3). cargo's output goes to `target/mve-platform-build/<bin>.log`
/// as it comes, and its failure into the error.
fn build(package: &str, bin: &str, profile: &str) -> Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["build", "--profile", profile, "-p", package, "--bin", bin];
    let dir = crate::results::target_dir().join("mve-platform-build");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Config(format!("creating {}: {e}", dir.display())))?;
    let log_path = dir.join(format!("{bin}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| Error::Config(format!("creating {}: {e}", log_path.display())))?;
    let mut command = Command::new(&cargo);
    command.current_dir(&workspace).args(args).stdout(log.try_clone().map_err(|e| Error::Config(e.to_string()))?).stderr(log);
    // The test process carries the variables cargo sets for the test being run (its manifest dir,
    // package name, ...). A build script that watches one of them (ring's watches
    // CARGO_MANIFEST_DIR) would see it change, rebuild, and drag rustls, reqwest and alloy along:
    // about two minutes inside the test, and the same again for the next `cargo nextest run`.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR"].iter().any(|p| name.starts_with(p)) {
            command.env_remove(name.as_ref());
        }
    }
    let started = std::time::Instant::now();
    eprintln!("harness: cargo {} (log: {})", args.join(" "), log_path.display());
    let status = command.status().map_err(|e| Error::Config(format!("running cargo to build {bin}: {e}")))?;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        return Err(Error::Config(format!("cargo {} failed ({status}); the end of {}:\n{}", args.join(" "), log_path.display(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"))));
    }
    let compiled = output.lines().filter(|l| l.trim_start().starts_with("Compiling")).count();
    eprintln!("harness: built {bin} in {:.1} s ({compiled} crates compiled)", started.elapsed().as_secs_f64());
    let path = crate::results::target_dir().join(profile_dir(profile)).join(bin);
    if !path.is_file() {
        return Err(Error::Config(format!("cargo built {bin} but {} is not there", path.display())));
    }
    Ok(path)
}

impl Stack {
    /// Starts a platform service of this test alone on the stack's network, configured by `env`,
    /// and waits until its `/health` answers. The container goes when the handle drops.
    pub async fn start_platform(&self, service: Service, env: &[(&str, String)]) -> Result<ServiceHandle> {
        self.start_platform_linked(service, env, &[]).await
    }

    /// [`Stack::start_platform`] for a service that reaches a dependency only through `links`
    /// (so that a test can cut them): it joins them before its readiness is awaited.
    pub async fn start_platform_linked(&self, service: Service, env: &[(&str, String)], links: &[&crate::nemesis::Link]) -> Result<ServiceHandle> {
        if Target::from_env()? == Target::External {
            let url = service.external_url().ok_or_else(|| Error::Config(format!("MVE_TARGET=external needs MVE_{}_URL for {service}", service.env_name())))?;
            return Ok(ServiceHandle { service, backend: Backend::External { url } });
        }
        let docker = self.docker.clone().ok_or_else(|| Error::Config("a container stack holds an engine".into()))?;
        let network = self.network().ok_or_else(|| Error::Config("a container stack has a network".into()))?.to_string();
        let session = session::current();
        let (package, bin) = package_of(service)?;
        let override_image = service.image_override();
        let image = override_image.clone().unwrap_or_else(|| service.local_image().to_string());
        let (name, tag) = image.rsplit_once(':').unwrap_or((image.as_str(), "latest"));
        let container_name = format!("mve-{}-{}-{}", session.run_key, service.name(), random_hex(6));
        let mut request = GenericImage::new(name, tag)
            .with_exposed_port(API_PORT.tcp())
            .with_wait_for(WaitFor::Nothing)
            .with_network(&network)
            .with_labels(docker::labels(&session.run_key))
            .with_label(LABEL_SERVICE, service.name())
            .with_container_name(&container_name);
        if override_image.is_none() {
            let path = binary(package, bin)?;
            request = request.with_mount(Mount::bind_mount(path.to_string_lossy(), mounted_binary(bin)).with_access_mode(AccessMode::ReadOnly)).with_cmd(service.cmd());
        }
        if let Some((dir, profile)) = coverage_profile(&container_name) {
            request = request.with_mount(Mount::bind_mount(dir.clone(), dir)).with_env_var("LLVM_PROFILE_FILE", profile);
        }
        for (k, v) in env {
            request = request.with_env_var(*k, v);
        }
        request = request.with_env_var("RUST_LOG", std::env::var("MVE_PLATFORM_LOG").unwrap_or_else(|_| "info".into()));
        let container = match request.start().await {
            Ok(c) => c,
            Err(_) if !docker::image_exists(&docker, &image).await => {
                return Err(Error::ImageMissing { service: service.name(), image, env: service.env_name().into() });
            }
            Err(e) => return Err(e.into()),
        };
        let handle = ServiceHandle { service, backend: Backend::Container(ContainerBackend { container, name: container_name, network, docker }) };
        for link in links {
            link.attach(&handle).await?;
        }
        if let Err(e) = handle.wait_ready(READY_TIMEOUT).await {
            let logs = handle.logs().await.unwrap_or_default();
            let tail: Vec<&str> = logs.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::Config(format!("{e}\n{service} log:\n{}", tail.join("\n"))));
        }
        Ok(handle)
    }
}
