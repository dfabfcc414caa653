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

    /// A read of a block whose state the chain node no longer keeps (anvil started with a bounded
    /// history prunes old states): the checker asked for history outside the node's window. Never
    /// a silent skip: the check that asked fails with this.
    #[error("{what}: the chain node no longer holds the state of block {block} (its head is {head}; it keeps only recent states): check within its retained window")]
    PrunedState { what: String, block: u64, head: u64 },

    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// An RPC error of a read at `block`: [`Error::PrunedState`] when the node says the block is below
/// its head but its state is gone (anvil: "BlockOutOfRangeError: block height is H but requested
/// was B" with B < H), else [`Error::Rpc`].
pub fn rpc_at(what: String, block: u64, e: impl std::fmt::Display) -> Error {
    let text = e.to_string();
    if let Some(rest) = text.split("block height is ").nth(1) {
        let mut numbers = rest.split(|c: char| !c.is_ascii_digit()).filter(|n| !n.is_empty()).map(|n| n.parse::<u64>());
        if let (Some(Ok(head)), Some(Ok(requested))) = (numbers.next(), numbers.next())
            && requested < head
        {
            return Error::PrunedState { what, block: requested, head };
        }
    }
    Error::Rpc(format!("{what} at {block}: {text}"))
}
