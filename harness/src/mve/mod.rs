//! The MVE as one system: [`system`] starts the indexer and the payments service on one private
//! stack, wired through links a test can cut or degrade; [`load`] runs the mixed workload of the
//! chaos and soak suites against it and records everything it saw.

pub mod load;
pub mod system;

pub use load::{Load, Record};
pub use system::Mve;
