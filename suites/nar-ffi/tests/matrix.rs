//! The narrative matrix: every BunkerClass × ClassAffiliation (12 × 3) for every context type, a
//! deterministic narrative each, checked structurally and kept as insta snapshots
//! (snapshots/nar-ffi/, one file per context type) so that a reviewer sees any change in the text.
//! The texts are those of the default (non-native) llama.cpp build on 2 threads.

use std::fmt::Write;

use mve_nar::narrative::{template_markers, AFFILIATIONS, CLASSES, CONTEXT_TYPES};
use nar_ffi::*;

const MAX_TOKENS: u32 = 24;

/// The event each context type narrates.
fn event(context_type: &str) -> &'static str {
    match context_type {
        "MISSION_BRIEFING" => "Recover the lost data core from the flooded sector.",
        "COMBAT_NARRATIVE" => "Three raider drones attack at the east gate.",
        "EXPLORATION_DISCOVERY" => "A sealed room behind the old reactor.",
        "CHARACTER_INTERACTION" => "The quartermaster refuses to hand over spare parts.",
        "ACHIEVEMENT_CELEBRATION" => "The robot reached level 10.",
        "WORLD_EVENT" => "A dust storm cuts every bunker off for a week.",
        "PERSONAL_REFLECTION" => "After the first lost battle.",
        _ => "The first bunker was built by robots, not people.",
    }
}

fn matrix(context_type: &str) {
    let nar = Nar::load();
    nar.start();
    let prompt = cstring(event(context_type));
    let mut snapshot = format!("{context_type}: \"{}\" ({MAX_TOKENS} tokens at most, greedy)\n", event(context_type));
    let mut problems = Vec::new();
    for class in &CLASSES[1..] {
        for affiliation in &AFFILIATIONS[1..] {
            let context = cstring(&format!("narrative={context_type};class={class};affiliation={affiliation}"));
            let mut p = nar.params(&prompt, MAX_TOKENS);
            p.context = context.as_ptr();
            let g = nar.generate_text(&p).unwrap_or_else(|e| panic!("{class} × {affiliation}: {e:?}"));
            let cell = format!("{class} × {affiliation}");
            if g.text.trim().is_empty() {
                problems.push(format!("{cell}: empty text"));
            }
            if !g.valid_utf8 {
                problems.push(format!("{cell}: invalid UTF-8"));
            }
            if g.token_count == 0 || g.token_count > MAX_TOKENS || g.text.len() >= NAR_MAX_RESPONSE {
                problems.push(format!("{cell}: {} tokens, {} bytes", g.token_count, g.text.len()));
            }
            let sane = match g.stop_reason {
                NAR_STOP_MAX_TOKENS => g.token_count == MAX_TOKENS,
                NAR_STOP_END_OF_SEQUENCE => g.token_count < MAX_TOKENS,
                _ => false,
            };
            if !sane || g.stop_sequence_matched.is_some() {
                problems.push(format!("{cell}: stop reason {} after {} tokens", g.stop_reason, g.token_count));
            }
            if let Some(m) = template_markers().into_iter().find(|m| g.text.contains(m)) {
                problems.push(format!("{cell}: the prompt template leaked ({m:?})"));
            }
            writeln!(snapshot, "\n## {cell} ({} tokens, stop reason {})\n{}", g.token_count, g.stop_reason, g.text.trim_end()).unwrap();
        }
    }
    assert!(problems.is_empty(), "{context_type}: {problems:#?}");
    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../../snapshots/nar-ffi"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(context_type.to_lowercase(), snapshot);
    });
}

#[test]
fn matrix_mission_briefing() {
    matrix(CONTEXT_TYPES[0]);
}
#[test]
fn matrix_combat_narrative() {
    matrix(CONTEXT_TYPES[1]);
}
#[test]
fn matrix_exploration_discovery() {
    matrix(CONTEXT_TYPES[2]);
}
#[test]
fn matrix_character_interaction() {
    matrix(CONTEXT_TYPES[3]);
}
#[test]
fn matrix_achievement_celebration() {
    matrix(CONTEXT_TYPES[4]);
}
#[test]
fn matrix_world_event() {
    matrix(CONTEXT_TYPES[5]);
}
#[test]
fn matrix_personal_reflection() {
    matrix(CONTEXT_TYPES[6]);
}
#[test]
fn matrix_lore_revelation() {
    matrix(CONTEXT_TYPES[7]);
}

#[test]
fn the_class_and_affiliation_reach_the_text() {
    // The snapshots would show it too; this fails loudly if the template dropped them: two
    // cells that differ only in class (or only in affiliation) must not give the same text.
    let nar = Nar::load();
    nar.start();
    let prompt = cstring(event("COMBAT_NARRATIVE"));
    let text = |class: &str, affiliation: &str| {
        let context = cstring(&format!("narrative=COMBAT_NARRATIVE;class={class};affiliation={affiliation}"));
        let mut p = nar.params(&prompt, MAX_TOKENS);
        p.context = context.as_ptr();
        nar.generate_text(&p).expect("generate").text
    };
    let base = text("VANGUARD", "LOYAL");
    assert_ne!(base, text("VANGUARD", "CORRUPT"), "affiliation ignored");
    assert_ne!(base, text("STALKER", "LOYAL"), "class ignored");
}
