//! Monitoring as tested code (`monitoring/` at the workspace root holds what is tested):
//!
//! - [`rules`]: the alert rules read as data: each rule's name, labels and the metric names its
//!   expression reads, so a test can demand that every rule is unit-tested, labelled for routing
//!   and reads series the MVE really exports;
//! - `tests/rules.rs`: `promtool check rules` and `promtool test rules` (series in, alerts out, at
//!   every threshold), in a container of the `mve-local/monitoring` image;
//! - `tests/alerts.rs`: Prometheus beside the whole MVE ([`harness::monitoring`]): every target
//!   scraped, every rule's series present, no alert in steady state, and faults that must fire
//!   their alert and resolve it after recovery, with detection and resolution times recorded.

pub mod rules;
