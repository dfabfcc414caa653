//! Narrative requests and their prompt templates.
//!
//! The ABI has no narrative-specific call, so a narrative request travels in
//! `GenerateParamsC.context` as `narrative=<CONTEXT_TYPE>;class=<BunkerClass>;affiliation=<ClassAffiliation>`
//! (names as in the specs, e.g. `narrative=COMBAT_NARRATIVE;class=VANGUARD;affiliation=LOYAL`),
//! and `prompt` is the event. Any other non-empty `context` is free background text for the system
//! message. A `context` that starts with `narrative=` but names an unknown type, class or
//! affiliation is `INVALID_PARAMS`.

pub const CONTEXT_TYPES: [&str; 8] = [
    "MISSION_BRIEFING",
    "COMBAT_NARRATIVE",
    "EXPLORATION_DISCOVERY",
    "CHARACTER_INTERACTION",
    "ACHIEVEMENT_CELEBRATION",
    "WORLD_EVENT",
    "PERSONAL_REFLECTION",
    "LORE_REVELATION",
];

/// BunkerClass names by enum value (class-rules.md); 0 is UNSPECIFIED (no class).
pub const CLASSES: [&str; 13] = [
    "UNSPECIFIED",
    "EXPLORER",
    "PATHFINDER",
    "CYBERMANCER",
    "VANGUARD",
    "ENFORCER",
    "SCAVENGER",
    "STALKER",
    "DISRUPTOR",
    "CODEBREAKER",
    "OVERLORD",
    "BREACHER",
    "RECLAIMER",
];

/// ClassAffiliation names by enum value; 0 is UNSPECIFIED.
pub const AFFILIATIONS: [&str; 4] = ["UNSPECIFIED", "LOYAL", "CORRUPT", "NEUTRAL"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Narrative {
    pub context_type: &'static str,
    pub class: &'static str,
    pub affiliation: &'static str,
}

/// What the model is given: a system message and a user message, rendered with the model's chat
/// template by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// Parses a `narrative=...` context; `Ok(None)` when the context is not a narrative request.
pub fn parse(context: &str) -> Result<Option<Narrative>, String> {
    if !context.starts_with("narrative=") {
        return Ok(None);
    }
    let (mut kind, mut class, mut affiliation) = (None, None, None);
    for part in context.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("narrative context: {part:?} is not key=value"))?;
        let pick = |names: &[&'static str]| names.iter().copied().find(|n| *n == v);
        match k {
            "narrative" => kind = Some(pick(&CONTEXT_TYPES).ok_or_else(|| format!("unknown narrative context type {v:?}"))?),
            "class" => class = Some(pick(&CLASSES).ok_or_else(|| format!("unknown BunkerClass {v:?}"))?),
            "affiliation" => affiliation = Some(pick(&AFFILIATIONS).ok_or_else(|| format!("unknown ClassAffiliation {v:?}"))?),
            other => return Err(format!("narrative context: unknown key {other:?}")),
        }
    }
    match (kind, class, affiliation) {
        (Some(context_type), Some(class), Some(affiliation)) => Ok(Some(Narrative { context_type, class, affiliation })),
        _ => Err("narrative context needs narrative=, class= and affiliation=".into()),
    }
}

fn describe_class(class: &str) -> String {
    if class == "UNSPECIFIED" { "an unclassed rookie Bunkerguard".into() } else { format!("a Bunkerguard of the {} class", title(class)) }
}

fn describe_affiliation(affiliation: &str) -> &'static str {
    match affiliation {
        "LOYAL" => "loyal to the Bunker and its people",
        "CORRUPT" => "corrupt, serving its own hidden ends",
        "NEUTRAL" => "neutral, trusting no faction",
        _ => "of unknown allegiance",
    }
}

fn task(context_type: &str) -> &'static str {
    match context_type {
        "MISSION_BRIEFING" => "Write a short mission briefing addressed to the robot.",
        "COMBAT_NARRATIVE" => "Narrate the fight in a few vivid sentences.",
        "EXPLORATION_DISCOVERY" => "Describe what the robot discovers.",
        "CHARACTER_INTERACTION" => "Write the exchange between the robot and the other character.",
        "ACHIEVEMENT_CELEBRATION" => "Celebrate the robot's achievement.",
        "WORLD_EVENT" => "Report the world event and how it touches the robot.",
        "PERSONAL_REFLECTION" => "Write the robot's inner reflection in the first person.",
        _ => "Reveal a piece of the Bunker's lore.",
    }
}

/// "VANGUARD" -> "Vanguard".
fn title(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The prompt for a request: the narrative template when `narrative` is given.
pub fn prompt(event: &str, narrative: Option<&Narrative>, background: Option<&str>) -> Prompt {
    match narrative {
        Some(n) => Prompt {
            system: format!(
                "You are the narrator of BunkerVerse. The robot is {}, {}. Stay in that voice. {}",
                describe_class(n.class),
                describe_affiliation(n.affiliation),
                task(n.context_type)
            ),
            user: event.to_string(),
        },
        None => Prompt {
            system: background.filter(|b| !b.is_empty()).unwrap_or("You are the narrator of BunkerVerse.").to_string(),
            user: event.to_string(),
        },
    }
}

/// Fragments of the templates that must never appear in generated text (the suite checks it).
pub fn template_markers() -> Vec<&'static str> {
    vec!["narrative=", "class=", "affiliation=", "<|im_start|>", "<|im_end|>", "You are the narrator of BunkerVerse"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narrative_context_parses_and_reaches_the_prompt() {
        let n = parse("narrative=COMBAT_NARRATIVE;class=VANGUARD;affiliation=CORRUPT").unwrap().unwrap();
        let p = prompt("A drone ambush.", Some(&n), None);
        assert!(p.system.contains("Vanguard") && p.system.contains("corrupt"), "{p:?}");
        assert_eq!(p.user, "A drone ambush.");
    }

    #[test]
    fn bad_narrative_contexts_are_errors_and_free_text_is_not_a_narrative() {
        assert!(parse("narrative=NOPE;class=VANGUARD;affiliation=LOYAL").is_err());
        assert!(parse("narrative=WORLD_EVENT;class=VANGUARD").is_err());
        assert!(parse("narrative=WORLD_EVENT;class=VANGUARD;affiliation=LOYAL;x=1").is_err());
        assert_eq!(parse("The bunker is flooded."), Ok(None));
    }
}
