//! Every named failpoint of the indexer, in the order a batch meets them (see `mve-failpoints`).
//! A new write step gets a crash point and a line here; the unit test below fails otherwise.

use mve_failpoints::{Kind, Point};

pub const POINTS: &[Point] = &[
    Point { name: "indexer::sync::batch_read", kind: Kind::Crash, step: "a batch's headers and logs are read from the chain; nothing is written yet" },
    Point { name: "indexer::sync::batch_before_commit", kind: Kind::Crash, step: "the batch's cursor, blocks, events and versions are written in the open transaction" },
    Point { name: "indexer::sync::batch_after_commit", kind: Kind::Crash, step: "the batch is committed; the cache generation is not bumped yet" },
    Point { name: "indexer::store::rollback_before_commit", kind: Kind::Crash, step: "a reorg's rows above the ancestor are deleted in the open transaction" },
    Point { name: "indexer::store::rollback_after_commit", kind: Kind::Crash, step: "the rollback is committed; the cache generation is not bumped yet" },
    Point { name: "indexer::api::between_read_and_put", kind: Kind::Hold, step: "a latest read has its MySQL answer and has not written it to the cache" },
];

/// The crash points, for a test that crashes the service at each in turn.
pub fn crash_points() -> impl Iterator<Item = &'static Point> {
    mve_failpoints::crash_points(POINTS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_point_is_listed_and_every_write_step_has_a_crash_point() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let found = mve_failpoints::unlisted_and_unguarded(&src, super::POINTS);
        assert!(found.is_empty(), "{found:#?}");
    }
}
