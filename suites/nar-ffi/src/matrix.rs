//! The narrative matrix as the game client asks for it: for each context type, every BunkerClass ×
//! ClassAffiliation (12 × 3) narrating that context type's event, through the C ABI. The PR gate
//! runs [`sample`] (two cells per context type); the nightly profile and `narrative_report` run
//! [`all`] (288). The stored record is one insta snapshot per context type
//! (`snapshots/nar-ffi/<context>.snap`), read back by [`recorded`].

use mve_nar::narrative::{AFFILIATIONS, CLASSES, CONTEXT_TYPES};

use crate::checklist::Cell;
use crate::{Nar, cstring};

/// The event each context type narrates.
pub fn event(context_type: &str) -> &'static str {
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

/// The client's token budget: a paragraph for a briefing, a reflection or a piece of lore, a few
/// sentences otherwise. The NAR ends a narrative at its last whole sentence within it.
pub fn max_tokens(context_type: &str) -> u32 {
    match context_type {
        "MISSION_BRIEFING" | "PERSONAL_REFLECTION" | "LORE_REVELATION" => 96,
        _ => 64,
    }
}

/// The client's decoding: greedy (deterministic) with a repetition penalty, as the game client
/// asks for narratives.
pub const REPETITION_PENALTY: f32 = 1.3;

/// (context type, class, affiliation) of every cell.
pub fn all() -> Vec<(&'static str, &'static str, &'static str)> {
    CONTEXT_TYPES.iter().flat_map(|t| CLASSES[1..].iter().flat_map(move |c| AFFILIATIONS[1..].iter().map(move |a| (*t, *c, *a)))).collect()
}

/// A fixed sample of 16 cells: per context type two classes (a different pair for each type, so
/// that the eight types together cover all twelve classes), each with one affiliation (rotating,
/// so that every type meets two of the three and the sample all three). Generation is the gate's
/// critical path (the NAR tests run one at a time); the nightly profile judges all 288 cells.
pub fn sample() -> Vec<(&'static str, &'static str, &'static str)> {
    CONTEXT_TYPES
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            let classes = [CLASSES[1 + (3 * i) % 12], CLASSES[1 + (3 * i + 7) % 12]];
            classes.into_iter().enumerate().map(move |(k, c)| (*t, c, AFFILIATIONS[1 + (i + k) % 3]))
        })
        .collect()
}

/// Generates the cells through the C ABI (the engine must be started).
pub fn generate(nar: &Nar, cells: &[(&str, &str, &str)]) -> Vec<Cell> {
    cells
        .iter()
        .map(|&(t, c, a)| {
            let prompt = cstring(event(t));
            let context = cstring(&format!("narrative={t};class={c};affiliation={a}"));
            let mut p = nar.params(&prompt, max_tokens(t));
            p.context = context.as_ptr();
            p.repetition_penalty = REPETITION_PENALTY;
            let g = nar.generate_text(&p).unwrap_or_else(|e| panic!("{t} {c} × {a}: {e:?}"));
            Cell { context_type: t.into(), class: c.into(), affiliation: a.into(), event: event(t).into(), text: g.text, valid_utf8: g.valid_utf8, tokens: g.token_count }
        })
        .collect()
}

/// The snapshot text of one context type's cells, as insta stores it.
pub fn snapshot(context_type: &str, cells: &[Cell]) -> String {
    let mut s = format!("{context_type}: \"{}\" ({} tokens at most, greedy, repetition penalty {REPETITION_PENALTY})\n", event(context_type), max_tokens(context_type));
    for c in cells.iter().filter(|c| c.context_type == context_type) {
        s += &format!("\n## {} × {} ({} tokens)\n{}\n", c.class, c.affiliation, c.tokens, c.text.trim_end());
    }
    s
}

/// The signed-off texts of a snapshot file: (class, affiliation) → text.
pub fn parse_snapshot(contents: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String, Vec<&str>)> = None;
    for line in contents.lines() {
        if let Some(head) = line.strip_prefix("## ") {
            if let Some((c, a, text)) = current.take() {
                out.push((c, a, text.join("\n").trim().to_string()));
            }
            let name = head.split(" (").next().unwrap_or(head);
            if let Some((c, a)) = name.split_once(" × ") {
                current = Some((c.to_string(), a.to_string(), Vec::new()));
            }
        } else if let Some((_, _, text)) = current.as_mut() {
            text.push(line);
        }
    }
    if let Some((c, a, text)) = current {
        out.push((c, a, text.join("\n").trim().to_string()));
    }
    out
}

/// The directory of the stored snapshots.
pub fn snapshot_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../snapshots/nar-ffi")
}

/// The recorded (signed-off) text of a cell, if the snapshot has it.
pub fn recorded(context_type: &str, class: &str, affiliation: &str) -> Option<String> {
    let path = snapshot_dir().join(format!("{}.snap", context_type.to_lowercase()));
    let contents = std::fs::read_to_string(path).ok()?;
    parse_snapshot(&contents).into_iter().find(|(c, a, _)| c == class && a == affiliation).map(|(_, _, t)| t)
}

/// The cells of a stored record: every `<context>.snap` in `dir` (token counts as recorded).
pub fn from_snapshots(dir: &std::path::Path) -> anyhow::Result<Vec<Cell>> {
    let mut cells = Vec::new();
    for t in CONTEXT_TYPES {
        let path = dir.join(format!("{}.snap", t.to_lowercase()));
        let contents = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (class, affiliation, text) in parse_snapshot(&contents) {
            cells.push(Cell { context_type: t.into(), class, affiliation, event: event(t).into(), text, valid_utf8: true, tokens: 0 });
        }
    }
    Ok(cells)
}
