//! The narrative matrix against the narrative checklist (`narrative-checklist.toml`): the PR gate
//! judges a fixed sample of two cells per context type (`matrix::sample`) and holds each to its signed-off text in
//! `snapshots/nar-ffi/`; the nightly profile judges all 288 cells and keeps the snapshots (one per
//! context type) so that a reviewer sees any change in the text. The texts are those of the
//! default (non-native) llama.cpp build, the same on one thread and two.

use mve_nar::narrative::CONTEXT_TYPES;
use nar_ffi::checklist::{Cell, Rules};
use nar_ffi::matrix;
use nar_ffi::*;

fn judged(cells: &[Cell]) {
    let report = Rules::load().check(cells);
    assert!(report.valid, "{}\n  {}", report.summary(), report.failures().join("\n  "));
}

#[test]
fn matrix_sample_passes_the_narrative_checklist_and_matches_what_was_signed_off() {
    let nar = Nar::load();
    nar.start();
    let cells = matrix::generate(&nar, &matrix::sample());
    judged(&cells);
    let changed: Vec<String> = cells
        .iter()
        .filter(|c| matrix::recorded(&c.context_type, &c.class, &c.affiliation).as_deref() != Some(c.text.trim()))
        .map(|c| format!("{} {}: now {:?}, signed off {:?}", c.context_type, c.name(), c.text, matrix::recorded(&c.context_type, &c.class, &c.affiliation)))
        .collect();
    assert!(
        changed.is_empty(),
        "texts differ from snapshots/nar-ffi (run `cargo nextest run --profile nightly --workspace -E 'binary(matrix)'` with INSTA_UPDATE=always and review the diff):\n  {}",
        changed.join("\n  ")
    );
}

fn full(context_type: &str) {
    let nar = Nar::load();
    nar.start();
    let cells: Vec<_> = matrix::all().into_iter().filter(|(t, _, _)| *t == context_type).collect();
    let cells = matrix::generate(&nar, &cells);
    let snapshot = matrix::snapshot(context_type, &cells);
    insta::with_settings!({
        snapshot_path => matrix::snapshot_dir(),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(context_type.to_lowercase(), snapshot);
    });
    judged(&cells);
}

#[test]
fn nightly_matrix_mission_briefing() {
    full(CONTEXT_TYPES[0]);
}
#[test]
fn nightly_matrix_combat_narrative() {
    full(CONTEXT_TYPES[1]);
}
#[test]
fn nightly_matrix_exploration_discovery() {
    full(CONTEXT_TYPES[2]);
}
#[test]
fn nightly_matrix_character_interaction() {
    full(CONTEXT_TYPES[3]);
}
#[test]
fn nightly_matrix_achievement_celebration() {
    full(CONTEXT_TYPES[4]);
}
#[test]
fn nightly_matrix_world_event() {
    full(CONTEXT_TYPES[5]);
}
#[test]
fn nightly_matrix_personal_reflection() {
    full(CONTEXT_TYPES[6]);
}
#[test]
fn nightly_matrix_lore_revelation() {
    full(CONTEXT_TYPES[7]);
}

/// The matrix signed off before the checklist existed (SmolLM2-135M, greedy, 24 tokens, the old
/// prompt): every ACHIEVEMENT_CELEBRATION cell repeated the event. The checklist must refuse it.
#[test]
fn the_checklist_refuses_the_matrix_signed_off_before_it() {
    let old = include_str!("fixtures/achievement_celebration.before.snap");
    let cells: Vec<Cell> = matrix::parse_snapshot(old)
        .into_iter()
        .map(|(class, affiliation, text)| Cell {
            context_type: "ACHIEVEMENT_CELEBRATION".into(),
            class,
            affiliation,
            event: matrix::event("ACHIEVEMENT_CELEBRATION").into(),
            text,
            valid_utf8: true,
            tokens: 8,
        })
        .collect();
    assert_eq!(cells.len(), 36);
    let report = Rules::load().check(&cells);
    assert!(!report.valid);
    let figures = &report.contexts[0];
    assert_eq!(figures.distinct_texts, 1, "{figures:?}");
    for rule in ["variety.identical", "variety.prompt_echo", "accuracy.class", "tone.lean", "variety.distinct_bigrams"] {
        assert!(report.failures().iter().any(|f| f.contains(rule)), "{rule} not reported: {:#?}", report.failures());
    }
}

#[test]
fn the_class_and_affiliation_reach_the_text() {
    // Two cells that differ only in class (or only in affiliation) must not give the same text.
    let nar = Nar::load();
    nar.start();
    let cells = matrix::generate(&nar, &[("COMBAT_NARRATIVE", "VANGUARD", "LOYAL"), ("COMBAT_NARRATIVE", "VANGUARD", "CORRUPT"), ("COMBAT_NARRATIVE", "STALKER", "LOYAL")]);
    assert_ne!(cells[0].text, cells[1].text, "affiliation ignored");
    assert_ne!(cells[0].text, cells[2].text, "class ignored");
}
