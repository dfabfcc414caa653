//! The Docker engine: connection with a clear error, harness networks, and reaping of leftovers.

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::models::NetworkCreateRequest;
use testcontainers::bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder};

use crate::session::{self, LABEL_HARNESS, LABEL_OWNER, LABEL_RUN, LABEL_USER, Owner};
use crate::{Error, Result};

/// Connects to the engine (DOCKER_HOST or /var/run/docker.sock) and checks that it answers.
pub async fn connect() -> Result<Docker> {
    let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let no_docker = |reason: String| Error::NoDocker { endpoint: endpoint.clone(), reason };
    let docker = Docker::connect_with_local_defaults().map_err(|e| no_docker(e.to_string()))?;
    match tokio::time::timeout(Duration::from_secs(10), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(no_docker(e.to_string())),
        Err(_) => Err(no_docker("no answer to ping within 10 s".into())),
    }
}

pub async fn image_exists(docker: &Docker, image: &str) -> bool {
    docker.inspect_image(image).await.is_ok()
}

/// Labels every harness object carries.
pub fn labels(run_key: &str) -> HashMap<String, String> {
    let session = session::current();
    HashMap::from([
        (LABEL_HARNESS.to_string(), "1".to_string()),
        (LABEL_OWNER.to_string(), session.owner.label()),
        (LABEL_RUN.to_string(), run_key.to_string()),
        (LABEL_USER.to_string(), session::uid().to_string()),
    ])
}

/// Creates a bridge network whose Linux bridge is `name` (at most 15 characters, starting with
/// `mve-`): scripts/setup's egress guard matches `mve+` bridges, so its containers can reach each
/// other and the host's published ports but nothing beyond this machine. Idempotent.
pub async fn ensure_network(docker: &Docker, name: &str, run_key: &str) -> Result<()> {
    debug_assert!(name.starts_with("mve-") && name.len() <= 15);
    if docker.inspect_network(name, None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>).await.is_ok() {
        return Ok(());
    }
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        options: Some(HashMap::from([("com.docker.network.bridge.name".to_string(), name.to_string())])),
        labels: Some(labels(run_key)),
        ..Default::default()
    };
    match docker.create_network(request).await {
        Ok(_) => Ok(()),
        // Another test process of the run created it first.
        Err(e) if docker.inspect_network(name, None::<testcontainers::bollard::query_parameters::InspectNetworkOptions>).await.is_ok() => {
            let _ = e;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn remove_network(docker: &Docker, name: &str) -> Result<()> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// What a reaping pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
}

/// Removes every harness container and network whose owner process is gone. Safe to run while
/// other runs are live: their owners are alive, so their objects stay.
pub async fn reap_leftovers(docker: &Docker) -> Result<Reaped> {
    let filter = HashMap::from([("label", vec![LABEL_HARNESS])]);
    let is_dead = |labels: Option<&HashMap<String, String>>| labels.and_then(|l| l.get(LABEL_OWNER)).and_then(|o| Owner::parse(o)).is_some_and(|o| !o.is_alive());
    let mut reaped = Reaped::default();
    let containers = docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filter).build())).await?;
    for c in containers {
        if is_dead(c.labels.as_ref()) {
            let id = c.id.unwrap_or_default();
            let opts = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
            match docker.remove_container(&id, Some(opts)).await {
                Ok(()) => reaped.containers.push(id),
                Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let networks = docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filter).build())).await?;
    for n in networks {
        if is_dead(n.labels.as_ref()) {
            let name = n.name.unwrap_or_default();
            match docker.remove_network(&name).await {
                Ok(()) => reaped.networks.push(name),
                // 403: a container on it is still being removed (by a watcher); the next pass gets it.
                Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 403 | 404 | 409, .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(reaped)
}

/// Runs `f` to completion from a synchronous context (a `Drop`), whatever runtime, if any, the
/// caller is on: a dedicated thread with its own runtime and its own engine connection.
pub fn block_on_own_runtime<F, Fut>(f: F)
where
    F: FnOnce(Docker) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let worker = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            if let Ok(docker) = Docker::connect_with_local_defaults() {
                f(docker).await;
            }
        });
    });
    let _ = worker.join();
}

/// Names of the containers (running or not) that carry `label` (`key` or `key=value`).
pub async fn containers_with_label(docker: &Docker, label: &str) -> Result<Vec<String>> {
    let filter = HashMap::from([("label", vec![label])]);
    let list = docker.list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&filter).build())).await?;
    Ok(list.into_iter().flat_map(|c| c.names.unwrap_or_default()).map(|n| n.trim_start_matches('/').to_string()).collect())
}

/// Names of the networks that carry `label` (`key` or `key=value`).
pub async fn networks_with_label(docker: &Docker, label: &str) -> Result<Vec<String>> {
    let filter = HashMap::from([("label", vec![label])]);
    let list = docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&filter).build())).await?;
    Ok(list.into_iter().filter_map(|n| n.name).collect())
}
