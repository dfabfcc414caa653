//! `Stack`: the services one test asks for, started through testcontainers and ready to use.
//!
//! Two ways to get one:
//! - [`StackBuilder::shared`]: one container set per test binary and run, shared by its tests (each
//!   test isolates itself with [`Stack::fresh_database`], [`Stack::fresh_redis`] and
//!   [`Stack::fresh_chain`]). Under nextest each test is a process, so sharing is by container name
//!   and labels, under a file lock; the containers go when the run ends (see `session`).
//! - [`StackBuilder::private`]: containers of this test alone, removed when the `Stack` drops (also
//!   on panic). Use it to inject faults, which would disturb a shared container's other tests.
//!
//! With `MVE_TARGET=external` both return handles on the deployment named by `MVE_<SERVICE>_URL`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, ReuseDirective};

use crate::service::{Service, Target};
use crate::session::{self, FileLock, LABEL_SERVICE};
use crate::{Error, Result, docker, probe};

/// How long a freshly started service may take to answer its readiness probe.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Default, Clone)]
pub struct StackBuilder {
    services: BTreeSet<Service>,
    anvil_states: Option<(usize, Option<usize>)>,
}

impl StackBuilder {
    pub fn mariadb(mut self) -> Self {
        self.services.insert(Service::MariaDb);
        self
    }
    pub fn redis(mut self) -> Self {
        self.services.insert(Service::Redis);
        self
    }
    pub fn anvil(mut self) -> Self {
        self.services.insert(Service::Anvil);
        self
    }
    /// anvil keeping the state of its last `states` blocks only, in memory and none on disk
    /// (`--prune-history`): a read of an older block fails with [`crate::Error::PrunedState`].
    /// Private stacks only: a shared stack's chains are leased per test and start at genesis.
    pub fn anvil_keeping_states(self, states: usize) -> Self {
        self.anvil_keeping(states, None)
    }

    /// [`StackBuilder::anvil_keeping_states`], and with `blocks` the transactions (receipts, logs,
    /// traces) of the last `blocks` blocks only (`--transaction-block-keeper`): what keeps anvil's
    /// memory bounded however long the chain grows (the soak; suites/soak/README.md has the figures).
    pub fn anvil_keeping(mut self, states: usize, blocks: Option<usize>) -> Self {
        self.services.insert(Service::Anvil);
        self.anvil_states = Some((states, blocks));
        self
    }
    pub fn with(mut self, service: Service) -> Self {
        self.services.insert(service);
        self
    }

    /// The container set of this test binary, created by whichever of its tests comes first.
    pub async fn shared(self) -> Result<Stack> {
        if Target::from_env()? == Target::External {
            return Stack::external(self.services);
        }
        let docker = prepare().await?;
        let session = session::current();
        let network = format!("mve-{}", &session.run_key[..11]);
        let _create = FileLock::acquire(session.dir.join("create.lock")).await?;
        docker::ensure_network(&docker, &network, &session.run_key).await?;
        let mut handles = BTreeMap::new();
        for &service in &self.services {
            // anvil is leased slot by slot in `fresh_chain`, because a chain cannot be namespaced.
            if service == Service::Anvil {
                continue;
            }
            let name = format!("mve-{}-{}", session.run_key, service.name());
            let handle = start(&docker, service, &network, &session.run_key, Some(name), service.cmd()).await?;
            handles.insert(service, handle);
        }
        drop(_create);
        for handle in handles.values() {
            handle.wait_ready(READY_TIMEOUT).await?;
        }
        Ok(Stack { kind: Kind::Shared, services: self.services, handles, network: Some(network), docker: Some(docker) })
    }

    /// Containers of this test alone, on a network of their own; removed when the stack drops.
    pub async fn private(self) -> Result<Stack> {
        if Target::from_env()? == Target::External {
            return Stack::external(self.services);
        }
        let docker = prepare().await?;
        let session = session::current();
        let network = format!("mve-{}", random_hex(11));
        docker::ensure_network(&docker, &network, &session.run_key).await?;
        let mut stack = Stack { kind: Kind::Private, services: self.services.clone(), handles: BTreeMap::new(), network: Some(network.clone()), docker: Some(docker.clone()) };
        // Started one after another: on 2 cores parallel starts are no faster and blur failures.
        for &service in &self.services {
            let mut cmd = service.cmd();
            if let (Service::Anvil, Some((states, blocks))) = (service, self.anvil_states) {
                let keeper = blocks.map_or(String::new(), |b| format!(" --transaction-block-keeper {b}"));
                cmd = vec![format!("{} --prune-history {states}{keeper}", cmd.join(" "))];
            }
            let handle = start(&docker, service, &network, &session.run_key, None, cmd).await?;
            stack.handles.insert(service, handle);
        }
        for handle in stack.handles.values() {
            handle.wait_ready(READY_TIMEOUT).await?;
        }
        Ok(stack)
    }
}

/// Once per process: the engine answers, leftovers of dead runs are gone, the watcher is running.
async fn prepare() -> Result<Docker> {
    static REAPED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let docker = docker::connect().await?;
    REAPED
        .get_or_try_init(|| async {
            docker::reap_leftovers(&docker).await?;
            session::ensure_watcher();
            Ok::<(), Error>(())
        })
        .await?;
    Ok(docker)
}

pub(crate) fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap()).collect()
}

/// The image to run: `MVE_IMAGE_<SERVICE>`, else the local image when present, else upstream.
pub async fn resolve_image(docker: &Docker, service: Service) -> String {
    let local_present = docker::image_exists(docker, service.local_image()).await;
    choose_image(service, service.image_override(), local_present)
}

pub fn choose_image(service: Service, override_image: Option<String>, local_present: bool) -> String {
    match override_image {
        Some(image) => image,
        None if local_present => service.local_image().to_string(),
        None => service.upstream_image().to_string(),
    }
}

fn split_image(image: &str) -> (&str, &str) {
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(i) => (&image[..slash + i], &image[slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// Starts (or, with `reuse_name`, finds) one service's container on `network`.
pub(crate) async fn start(docker: &Docker, service: Service, network: &str, run_key: &str, reuse_name: Option<String>, cmd: Vec<String>) -> Result<ServiceHandle> {
    let image = resolve_image(docker, service).await;
    let (name, tag) = split_image(&image);
    let container_name = reuse_name.clone().unwrap_or_else(|| format!("mve-{run_key}-{}-{}", service.name(), random_hex(6)));
    let mut request = GenericImage::new(name, tag)
        .with_exposed_port(service.port().tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_network(network)
        .with_labels(docker::labels(run_key))
        .with_label(LABEL_SERVICE, service.name())
        .with_container_name(&container_name)
        .with_cmd(cmd);
    for (k, v) in service.env() {
        request = request.with_env_var(k, v);
    }
    if reuse_name.is_some() {
        request = request.with_reuse(ReuseDirective::Always);
    }
    let container = match request.start().await {
        Ok(c) => c,
        Err(e) if !docker::image_exists(docker, &image).await => {
            let _ = e;
            return Err(Error::ImageMissing { service: service.name(), image, env: service.env_name().into() });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(ServiceHandle { service, backend: Backend::Container(ContainerBackend { container, name: container_name, network: network.to_string(), docker: docker.clone() }) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Shared,
    Private,
    External,
}

pub struct Stack {
    pub(crate) kind: Kind,
    pub(crate) services: BTreeSet<Service>,
    pub(crate) handles: BTreeMap<Service, ServiceHandle>,
    pub(crate) network: Option<String>,
    pub(crate) docker: Option<Docker>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").field("kind", &self.kind).field("services", &self.services).field("network", &self.network).finish()
    }
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    fn external(services: BTreeSet<Service>) -> Result<Stack> {
        let mut handles = BTreeMap::new();
        for &service in &services {
            let url = service.external_url().ok_or_else(|| Error::Config(format!("MVE_TARGET=external needs MVE_{}_URL for {service}", service.env_name())))?;
            handles.insert(service, ServiceHandle { service, backend: Backend::External { url } });
        }
        Ok(Stack { kind: Kind::External, services, handles, network: None, docker: None })
    }

    /// The handle of one service. In a shared stack anvil has none: each test leases a chain.
    pub fn service(&self, service: Service) -> Result<&ServiceHandle> {
        if !self.services.contains(&service) {
            return Err(Error::NotInStack { service: service.name() });
        }
        self.handles.get(&service).ok_or_else(|| Error::Config(format!("a shared stack leases {service} per test: use Stack::fresh_chain()")))
    }

    pub fn mariadb(&self) -> Result<&ServiceHandle> {
        self.service(Service::MariaDb)
    }
    pub fn redis(&self) -> Result<&ServiceHandle> {
        self.service(Service::Redis)
    }
    pub fn anvil(&self) -> Result<&ServiceHandle> {
        self.service(Service::Anvil)
    }

    /// The Docker network the stack's containers share (platform services join it too).
    pub fn network(&self) -> Option<&str> {
        self.network.as_deref()
    }

    /// The host's address on the stack's network: where a container reaches a server the test
    /// process runs (a wiremock standing in for a third-party API). Never routed off the machine.
    pub async fn gateway_ip(&self) -> Result<std::net::IpAddr> {
        let (docker, network) = match (&self.docker, &self.network) {
            (Some(d), Some(n)) => (d, n),
            _ => return Err(Error::NeedsContainer { what: "gateway_ip".into() }),
        };
        let info = docker.inspect_network(network, None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>).await?;
        info.ipam.and_then(|i| i.config).into_iter().flatten().find_map(|c| c.gateway.and_then(|g| g.parse().ok())).ok_or_else(|| Error::Config(format!("network {network} has no IPv4 gateway")))
    }

    pub fn is_shared(&self) -> bool {
        self.kind == Kind::Shared
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.kind != Kind::Private {
            return;
        }
        // Containers first (each removes itself on drop), then their network.
        self.handles.clear();
        if let Some(network) = self.network.take() {
            docker::block_on_own_runtime(move |docker| async move {
                let _ = docker::remove_network(&docker, &network).await;
            });
        }
    }
}

/// One service of a stack: where to reach it, and (for containers) the faults it can suffer.
pub struct ServiceHandle {
    pub(crate) service: Service,
    pub(crate) backend: Backend,
}

#[allow(clippy::large_enum_variant)] // one per service handle: its size does not matter
pub(crate) enum Backend {
    Container(ContainerBackend),
    External { url: String },
}

pub(crate) struct ContainerBackend {
    pub(crate) container: ContainerAsync<GenericImage>,
    pub(crate) name: String,
    pub(crate) network: String,
    pub(crate) docker: Docker,
}

impl ServiceHandle {
    pub fn service(&self) -> Service {
        self.service
    }

    /// The published port on 127.0.0.1, read anew each call: it changes after a restart or a
    /// network cut and restore.
    pub async fn host_port(&self) -> Result<u16> {
        match &self.backend {
            Backend::Container(c) => Ok(c.container.get_host_port_ipv4(self.service.port()).await?),
            Backend::External { .. } => Err(Error::NeedsContainer { what: "host_port".into() }),
        }
    }

    /// URL for a client on this machine (always 127.0.0.1, never the bridge gateway).
    pub async fn url(&self) -> Result<String> {
        match &self.backend {
            Backend::Container(_) => Ok(self.service.host_url(self.host_port().await?)),
            Backend::External { url } => Ok(url.clone()),
        }
    }

    /// URL for a container on the stack's network, which reaches this service by container name.
    pub fn network_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Container(c) => Some(self.service.network_url(&c.name)),
            Backend::External { .. } => None,
        }
    }

    pub fn container_id(&self) -> Option<&str> {
        match &self.backend {
            Backend::Container(c) => Some(c.container.id()),
            Backend::External { .. } => None,
        }
    }

    pub fn container_name(&self) -> Option<&str> {
        match &self.backend {
            Backend::Container(c) => Some(&c.name),
            Backend::External { .. } => None,
        }
    }

    /// The container's standard output and error so far (for failure reports).
    pub async fn logs(&self) -> Result<String> {
        let c = match &self.backend {
            Backend::Container(c) => c,
            Backend::External { .. } => return Err(Error::NeedsContainer { what: "logs".into() }),
        };
        let out = c.container.stdout_to_vec().await?;
        let err = c.container.stderr_to_vec().await?;
        Ok(format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err)))
    }

    /// Runs a command inside the service's container; returns its exit code and standard output.
    pub async fn exec(&self, cmd: &[&str]) -> Result<(i64, String)> {
        let c = match &self.backend {
            Backend::Container(c) => c,
            Backend::External { .. } => return Err(Error::NeedsContainer { what: "exec".into() }),
        };
        let mut result = c.container.exec(testcontainers::core::ExecCommand::new(cmd.iter().copied())).await?;
        let stdout = String::from_utf8_lossy(&result.stdout_to_vec().await?).into_owned();
        let code = result.exit_code().await?.unwrap_or(-1);
        Ok((code, stdout))
    }

    /// Polls the service's own readiness probe (a query, a PING, an `eth_chainId`) until it answers.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let service = self.service;
        crate::wait::until(&format!("{service} readiness"), timeout, || async {
            let url = self.url().await?;
            probe::ready(service, &url).await.map(Some)
        })
        .await
        .map_err(|t| Error::NotReady { service: service.name(), waited: t.waited, last_error: t.last_error })
    }
}
