//! Fault injection (Jepsen's *nemesis*) on a service's container.
//!
//! What each fault does, as seen from the tests (measured on Docker 20.10):
//! - `Stop` / `Kill`: the process ends (SIGTERM then SIGKILL after 10 s, or SIGKILL at once);
//!   the published port refuses connections. Heal starts it again on a **new host port**.
//! - `Pause`: processes frozen (cgroup freezer); the port still accepts TCP, but nothing answers.
//!   Heal thaws it; the port is unchanged.
//! - `Restart`: stop and start in one step; new host port.
//! - `CutNetwork`: the container leaves the stack's network, so neither other containers nor the
//!   host reach it (its published port refuses). Heal reconnects it; **new host port**.
//!
//! After any heal, call [`ServiceHandle::url`] again and rebuild clients. A stack's faults only
//! make sense on a private stack: a shared container serves other tests.
//!
//! Also here: [`Link`] (a network between one service and its clients, to cut), [`proxy`] (a slow or
//! lossy link), and [`schedule`] (seeded fault schedules and the journal of a run's faults).

pub mod proxy;
pub mod schedule;

use testcontainers::bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::{KillContainerOptionsBuilder, RestartContainerOptionsBuilder};

use crate::stack::{Backend, ContainerBackend, READY_TIMEOUT, ServiceHandle};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    Stop,
    Kill,
    Pause,
    Restart,
    CutNetwork,
}

impl Fault {
    pub const ALL: [Fault; 5] = [Fault::Stop, Fault::Kill, Fault::Pause, Fault::Restart, Fault::CutNetwork];
}

impl ServiceHandle {
    fn container(&self, what: &str) -> Result<&ContainerBackend> {
        match &self.backend {
            Backend::Container(c) => Ok(c),
            Backend::External { .. } => Err(Error::NeedsContainer { what: what.to_string() }),
        }
    }

    pub async fn stop(&self) -> Result<()> {
        Ok(self.container("stop")?.container.stop().await?)
    }

    pub async fn start(&self) -> Result<()> {
        Ok(self.container("start")?.container.start().await?)
    }

    pub async fn kill(&self) -> Result<()> {
        let c = self.container("kill")?;
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        Ok(c.docker.kill_container(c.container.id(), Some(options)).await?)
    }

    pub async fn pause(&self) -> Result<()> {
        Ok(self.container("pause")?.container.pause().await?)
    }

    pub async fn unpause(&self) -> Result<()> {
        Ok(self.container("unpause")?.container.unpause().await?)
    }

    pub async fn restart(&self) -> Result<()> {
        let c = self.container("restart")?;
        let options = RestartContainerOptionsBuilder::new().t(10).build();
        Ok(c.docker.restart_container(c.container.id(), Some(options)).await?)
    }

    /// Disconnects the container from the stack's network.
    pub async fn cut_network(&self) -> Result<()> {
        let c = self.container("cut_network")?;
        let request = NetworkDisconnectRequest { container: c.container.id().to_string(), force: Some(true) };
        Ok(c.docker.disconnect_network(&c.network, request).await?)
    }

    /// Reconnects the container to the stack's network under its own name.
    pub async fn restore_network(&self) -> Result<()> {
        let c = self.container("restore_network")?;
        let request = NetworkConnectRequest { container: c.container.id().to_string(), endpoint_config: Some(EndpointSettings { aliases: Some(vec![c.name.clone()]), ..Default::default() }) };
        Ok(c.docker.connect_network(&c.network, request).await?)
    }

    /// `None` while the container runs; its exit code once it has stopped (a crash point's abort
    /// gives 134, SIGKILL 137).
    pub async fn exit_code(&self) -> Result<Option<i64>> {
        let c = self.container("exit_code")?;
        let info = c.docker.inspect_container(c.container.id(), None).await?;
        let state = info.state.unwrap_or_default();
        Ok(if state.running.unwrap_or(false) { None } else { Some(state.exit_code.unwrap_or(-1)) })
    }

    pub async fn inject(&self, fault: Fault) -> Result<()> {
        match fault {
            Fault::Stop => self.stop().await,
            Fault::Kill => self.kill().await,
            Fault::Pause => self.pause().await,
            Fault::Restart => self.restart().await,
            Fault::CutNetwork => self.cut_network().await,
        }
    }

    /// Undoes `fault` and waits until the service answers its readiness probe again.
    pub async fn heal(&self, fault: Fault) -> Result<()> {
        match fault {
            Fault::Stop | Fault::Kill => self.start().await?,
            Fault::Pause => self.unpause().await?,
            Fault::Restart => {}
            Fault::CutNetwork => self.restore_network().await?,
        }
        self.wait_ready(READY_TIMEOUT).await
    }
}

/// A dedicated network between one service and its clients, so that a test can cut exactly that
/// link (the indexer's to the chain, say) while everything else keeps talking. The target joins
/// under an alias that exists only on this network: a client disconnected from it cannot reach
/// the target by any other route, even though both stay on the stack's network.
pub struct Link {
    docker: testcontainers::bollard::Docker,
    network: String,
    url: String,
    target: String,
    clients: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").field("network", &self.network).field("url", &self.url).finish()
    }
}

impl crate::Stack {
    /// Creates a link network and joins `target` to it.
    pub async fn link_to(&self, target: &ServiceHandle) -> Result<Link> {
        let t = target.container("link_to")?;
        let session = crate::session::current();
        // Docker gives a multi-homed container its default route (and its published ports) on
        // the network whose name sorts first; "mve-z…" sorts after every stack network
        // ("mve-" + hex), so the link never takes over a container's main network.
        let network = format!("mve-z{}", crate::stack::random_hex(10));
        crate::docker::ensure_network(&t.docker, &network, &session.run_key).await?;
        let alias = format!("link-{}", crate::stack::random_hex(8));
        let request = NetworkConnectRequest { container: t.container.id().to_string(), endpoint_config: Some(EndpointSettings { aliases: Some(vec![alias.clone()]), ..Default::default() }) };
        t.docker.connect_network(&network, request).await?;
        Ok(Link { docker: t.docker.clone(), url: target.service().network_url(&alias), network, target: t.container.id().to_string(), clients: std::sync::Mutex::new(Vec::new()) })
    }
}

impl Link {
    /// The target's URL for a client on this link.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Joins a client container to the link (and makes it one that `cut` disconnects).
    pub async fn attach(&self, client: &ServiceHandle) -> Result<()> {
        let id = client.container("attach")?.container.id().to_string();
        self.connect(&id).await?;
        self.clients.lock().expect("link clients lock").push(id);
        Ok(())
    }

    async fn connect(&self, id: &str) -> Result<()> {
        let request = NetworkConnectRequest { container: id.to_string(), endpoint_config: Some(EndpointSettings::default()) };
        Ok(self.docker.connect_network(&self.network, request).await?)
    }

    /// Disconnects every client: packets to the target's alias no longer go anywhere.
    pub async fn cut(&self) -> Result<()> {
        let clients = self.clients.lock().expect("link clients lock").clone();
        for id in clients {
            let request = NetworkDisconnectRequest { container: id, force: Some(true) };
            self.docker.disconnect_network(&self.network, request).await?;
        }
        Ok(())
    }

    pub async fn restore(&self) -> Result<()> {
        let clients = self.clients.lock().expect("link clients lock").clone();
        for id in clients {
            self.connect(&id).await?;
        }
        Ok(())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let network = self.network.clone();
        let mut members = self.clients.lock().map(|c| c.clone()).unwrap_or_default();
        members.push(self.target.clone());
        crate::docker::block_on_own_runtime(move |docker| async move {
            for id in members {
                let request = NetworkDisconnectRequest { container: id, force: Some(true) };
                let _ = docker.disconnect_network(&network, request).await;
            }
            let _ = crate::docker::remove_network(&docker, &network).await;
        });
    }
}
