//! The services a stack can hold: their images, ports, commands and readiness probes.
//!
//! Image choice, per service: `MVE_IMAGE_<SERVICE>` if set; else the local image that
//! scripts/setup builds, when present; else the upstream image. Both kinds honour the same
//! environment and command line, so the harness drives them the same way.

use std::fmt;

/// L3 chain id; anvil runs with it so that signed transactions match production's domain.
pub const L3_CHAIN_ID: u64 = 33701;
/// Root password of harness-started MariaDB. Test-only, never a secret.
pub const MARIADB_ROOT_PASSWORD: &str = "mve-test";
/// Redis databases per container: one per test, handed out in sequence (see `isolation`).
pub const REDIS_DATABASES: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    MariaDb,
    Redis,
    Anvil,
    /// The MVE indexer (platform/indexer), one per test: see [`crate::platform`].
    Indexer,
    /// The MVE payments service (platform/payments), one per test.
    Payments,
}

impl Service {
    /// The infrastructure services a [`crate::Stack`] starts; platform services are started per
    /// test with their own configuration (see [`crate::platform`]).
    pub const ALL: [Service; 3] = [Service::MariaDb, Service::Redis, Service::Anvil];

    /// Lower-case name: container names, labels and log lines.
    pub fn name(self) -> &'static str {
        match self {
            Service::MariaDb => "mariadb",
            Service::Redis => "redis",
            Service::Anvil => "anvil",
            Service::Indexer => "indexer",
            Service::Payments => "payments",
        }
    }

    /// Suffix of this service's environment variables (`MVE_IMAGE_MARIADB`, `MVE_MARIADB_URL`).
    pub fn env_name(self) -> &'static str {
        match self {
            Service::MariaDb => "MARIADB",
            Service::Redis => "REDIS",
            Service::Anvil => "ANVIL",
            Service::Indexer => "INDEXER",
            Service::Payments => "PAYMENTS",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Service::MariaDb => 3306,
            Service::Redis => 6379,
            Service::Anvil => 8545,
            Service::Indexer | Service::Payments => crate::platform::API_PORT,
        }
    }

    pub fn upstream_image(self) -> &'static str {
        match self {
            Service::MariaDb => "mariadb:11",
            Service::Redis => "redis:7",
            Service::Anvil => "ghcr.io/foundry-rs/foundry:v1.7.1",
            // No registry image: the local base image runs the freshly built binary (mounted).
            Service::Indexer | Service::Payments => "mve-local/base:latest",
        }
    }

    pub fn local_image(self) -> &'static str {
        match self {
            Service::MariaDb => "mve-local/mariadb:latest",
            Service::Redis => "mve-local/redis:latest",
            Service::Anvil => "mve-local/anvil:latest",
            Service::Indexer | Service::Payments => "mve-local/base:latest",
        }
    }

    pub fn image_override(self) -> Option<String> {
        std::env::var(format!("MVE_IMAGE_{}", self.env_name())).ok().filter(|s| !s.is_empty())
    }

    pub fn external_url(self) -> Option<String> {
        std::env::var(format!("MVE_{}_URL", self.env_name())).ok().filter(|s| !s.is_empty())
    }

    pub fn env(self) -> Vec<(&'static str, String)> {
        match self {
            Service::MariaDb => vec![("MARIADB_ROOT_PASSWORD", MARIADB_ROOT_PASSWORD.to_string())],
            Service::Redis | Service::Anvil | Service::Indexer | Service::Payments => vec![],
        }
    }

    pub fn cmd(self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        match self {
            // Commits flushed to the OS each transaction: survives a killed server (the faults we
            // inject), not a power cut (which we don't), at a fraction of the fsync cost.
            Service::MariaDb => s(&["mariadbd", "--innodb-flush-log-at-trx-commit=2", "--max-connections=1000"]),
            Service::Redis => {
                let dbs = REDIS_DATABASES.to_string();
                s(&["redis-server", "--save", "", "--appendonly", "no", "--databases", &dbs])
            }
            // The foundry image's entrypoint is `/bin/sh -c`: the command is one string.
            Service::Anvil => vec![format!("anvil --host 0.0.0.0 --port 8545 --chain-id {L3_CHAIN_ID}")],
            Service::Indexer => vec![crate::platform::mounted_binary("mve-indexer")],
            Service::Payments => vec![crate::platform::mounted_binary("mve-payments")],
        }
    }

    /// URL a client on this machine uses, given the published port.
    pub fn host_url(self, port: u16) -> String {
        match self {
            Service::MariaDb => format!("mysql://root:{MARIADB_ROOT_PASSWORD}@127.0.0.1:{port}"),
            Service::Redis => format!("redis://127.0.0.1:{port}"),
            Service::Anvil | Service::Indexer | Service::Payments => format!("http://127.0.0.1:{port}"),
        }
    }

    /// URL a container on the stack's network uses, given the container's name.
    pub fn network_url(self, host: &str) -> String {
        match self {
            Service::MariaDb => format!("mysql://root:{MARIADB_ROOT_PASSWORD}@{host}:3306"),
            Service::Redis => format!("redis://{host}:6379"),
            Service::Anvil => format!("http://{host}:8545"),
            Service::Indexer | Service::Payments => format!("http://{host}:{}", crate::platform::API_PORT),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the suites find the system under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Containers the harness starts (the default).
    Containers,
    /// An already running deployment named by `MVE_<SERVICE>_URL`; faults are unavailable.
    External,
}

impl Target {
    pub fn from_env() -> crate::Result<Target> {
        match std::env::var("MVE_TARGET").as_deref() {
            Err(_) | Ok("") | Ok("containers") => Ok(Target::Containers),
            Ok("external") => Ok(Target::External),
            Ok(other) => Err(crate::Error::Config(format!("MVE_TARGET={other:?}: expected \"containers\" (default) or \"external\""))),
        }
    }
}
