//! The `l3-calculations` suite's library: the Rust oracle of the class rules, loadouts and their
//! conversion to the contracts' ABI, and the proptest strategies the property tests draw from.
//! The tests themselves live in `tests/`.

pub mod abi;
pub mod oracle;
pub mod strategy;
