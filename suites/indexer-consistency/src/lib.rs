//! The `indexer-consistency` suite: see README.md. The tests live in `tests/`, the benchmark in
//! `benches/`; the generator, checker and nemesis they use are the harness's.
