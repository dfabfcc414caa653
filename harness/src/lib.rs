//! The shared testcontainers harness of the MVE hardening suites.
//!
//! - [`stack`]: [`Stack`] starts the services a test asks for and hands back ready URLs and clients;
//! - [`isolation`]: a fresh database, Redis database and chain per test on shared containers;
//! - [`checker`]: the indexer against the contracts at a pinned block, as a structured verdict;
//! - [`generator`]: seeded on-chain workloads (Jepsen's generator);
//! - [`indexer_api`]: a typed client of the indexer's HTTP API;
//! - [`nemesis`]: faults on a service's container (stop, kill, pause, restart, network cut), cut
//!   and slow links, fault schedules and the journal of a run's faults;
//! - [`mve`]: the whole MVE on one stack (both services wired through faultable links) and the
//!   mixed workload the chaos and soak suites run against it;
//! - [`ledger`]: the payments ledger's invariants, read from its tables;
//! - [`monitoring`]: Prometheus, the exporters and the alert rules beside an [`mve::Mve`], and a
//!   client of Prometheus's API (queries, targets, alerts);
//! - [`session`] and [`docker`]: run labels, the watcher and the reaper that leave no container behind;
//! - [`platform`]: the platform's services (indexer, payments), one per test, from the freshly built binary;
//! - [`prebuilt`]: what a run from a nextest archive takes from the archive instead of building it;
//! - [`service`]: images, commands and environment per service; [`probe`]: readiness checks;
//! - [`stripe`]: a Stripe simulator (signed event deliveries, a wiremock Stripe API);
//! - [`configuration`]: a service binary refusing bad configuration with a clear message;
//! - [`users`]: load from many users (closed-loop journeys, open-loop rates) and per-endpoint latency;
//! - [`property`]: seeded property tests whose failures are kept and replayed;
//! - [`wait`]: polling with a deadline; [`results`]: machine-readable result files under `target/`.
//!
//! ```no_run
//! # async fn demo() -> harness::Result<()> {
//! let stack = harness::Stack::builder().mariadb().anvil().shared().await?;
//! let db = stack.fresh_database().await?; // this test's own schema
//! let chain = stack.fresh_chain().await?; // this test's own chain at genesis
//! # Ok(()) }
//! ```

pub mod checker;
pub mod configuration;
pub mod docker;
pub mod error;
pub mod generator;
pub mod indexer_api;
pub mod isolation;
pub mod ledger;
pub mod monitoring;
pub mod mve;
pub mod nemesis;
pub mod platform;
pub mod prebuilt;
pub mod probe;
pub mod property;
pub mod results;
pub mod service;
pub mod session;
pub mod stack;
pub mod stripe;
pub mod users;
pub mod wait;

pub use error::{Error, Result};
pub use isolation::{TestChain, TestDatabase, TestRedis};
pub use nemesis::Fault;
pub use service::{L3_CHAIN_ID, Service, Target};
pub use stack::{ServiceHandle, Stack, StackBuilder};
