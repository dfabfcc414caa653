//! One error type for everything the harness can report, each with the action that fixes it.

use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Docker engine answers at {endpoint} ({reason}); run scripts/setup (it installs and starts one), or point DOCKER_HOST at an engine")]
    NoDocker { endpoint: String, reason: String },

    #[error("image {image} for {service} is not on this machine and no registry is reachable; run scripts/setup, or set MVE_IMAGE_{env}")]
    ImageMissing { service: &'static str, image: String, env: String },

    #[error("{service} did not become ready within {waited:?}: {last_error}")]
    NotReady { service: &'static str, waited: Duration, last_error: String },

    #[error("{what} needs a container the harness started; MVE_TARGET=external points at a deployment it cannot fault")]
    NeedsContainer { what: String },

    #[error("{service} was not requested from this stack; add it to the Stack builder")]
    NotInStack { service: &'static str },

    #[error("configuration: {0}")]
    Config(String),

    #[error("docker: {0}")]
    Docker(#[from] testcontainers::bollard::errors::Error),

    #[error("testcontainers: {0}")]
    Testcontainers(#[from] testcontainers::TestcontainersError),

    #[error("mysql: {0}")]
    Sql(#[from] sqlx::Error),

    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),

    #[error("chain rpc: {0}")]
    Rpc(String),

    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}
