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

use testcontainers::bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use testcontainers::bollard::query_parameters::{KillContainerOptionsBuilder, RestartContainerOptionsBuilder};

use crate::stack::{Backend, ContainerBackend, ServiceHandle, READY_TIMEOUT};
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
        let request = NetworkConnectRequest {
            container: c.container.id().to_string(),
            endpoint_config: Some(EndpointSettings { aliases: Some(vec![c.name.clone()]), ..Default::default() }),
        };
        Ok(c.docker.connect_network(&c.network, request).await?)
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
