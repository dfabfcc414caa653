//! Every named failpoint of the payments service, in the order a purchase and its events meet them
//! (see `mve-failpoints`). A new write step gets a crash point and a line here; the unit test below
//! fails otherwise.

use mve_failpoints::{Kind, Point};

pub const POINTS: &[Point] = &[
    Point { name: "payments::purchase::after_insert", kind: Kind::Crash, step: "the purchase is stored PENDING; Stripe has not been asked" },
    Point { name: "payments::purchase::after_stripe_create", kind: Kind::Crash, step: "Stripe has the PaymentIntent; the purchase does not name it yet" },
    Point { name: "payments::ledger::link_before_commit", kind: Kind::Crash, step: "the purchase's link to its PaymentIntent (and the facts parked for it) are written in the open transaction" },
    Point { name: "payments::purchase::after_link", kind: Kind::Crash, step: "the purchase names its PaymentIntent; the player has no answer yet" },
    Point { name: "payments::purchase::after_mark_failed", kind: Kind::Crash, step: "Stripe refused the intent and the purchase is FAILED; no answer yet" },
    Point { name: "payments::webhook::verified", kind: Kind::Crash, step: "a delivery's signature is verified; nothing is recorded" },
    Point { name: "payments::ledger::ignored_recorded", kind: Kind::Crash, step: "an event of a type we ignore is recorded; Stripe has no answer yet" },
    Point {
        name: "payments::ledger::unknown_before_commit",
        kind: Kind::Crash,
        step: "an event for no known purchase is recorded (and its fact parked, if it names an intent) in the open transaction",
    },
    Point { name: "payments::ledger::unknown_after_commit", kind: Kind::Crash, step: "that event is committed; Stripe has no answer yet" },
    Point { name: "payments::ledger::apply_before_commit", kind: Kind::Crash, step: "the event id, its ledger lines and the purchase's facts are written in the open transaction" },
    Point { name: "payments::ledger::apply_after_commit", kind: Kind::Crash, step: "the event is committed; Stripe has no answer yet (it will deliver again)" },
    Point { name: "payments::ledger::spend_before_commit", kind: Kind::Crash, step: "a SPEND line and the balance are written in the open transaction" },
    Point { name: "payments::ledger::spend_after_commit", kind: Kind::Crash, step: "the spend is committed; the player has no answer yet" },
    Point { name: "payments::api::balance_read", kind: Kind::Hold, step: "a balance read has begun; a commit may land while it reads" },
    Point { name: "payments::api::history_read", kind: Kind::Hold, step: "a history read has begun; a commit may land while it reads" },
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
