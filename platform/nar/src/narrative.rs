//! Narrative requests and their prompt templates.
//!
//! The ABI has no narrative-specific call, so a narrative request travels in
//! `GenerateParamsC.context` as `narrative=<CONTEXT_TYPE>;class=<BunkerClass>;affiliation=<ClassAffiliation>`
//! (names as in the specs, e.g. `narrative=COMBAT_NARRATIVE;class=VANGUARD;affiliation=LOYAL`),
//! and `prompt` is the event. Any other non-empty `context` is free background text for the system
//! message. A `context` that starts with `narrative=` but names an unknown type, class or
//! affiliation is `INVALID_PARAMS`.

pub const CONTEXT_TYPES: [&str; 8] =
    ["MISSION_BRIEFING", "COMBAT_NARRATIVE", "EXPLORATION_DISCOVERY", "CHARACTER_INTERACTION", "ACHIEVEMENT_CELEBRATION", "WORLD_EVENT", "PERSONAL_REFLECTION", "LORE_REVELATION"];

/// BunkerClass names by enum value (class-rules.md); 0 is UNSPECIFIED (no class).
pub const CLASSES: [&str; 13] =
    ["UNSPECIFIED", "EXPLORER", "PATHFINDER", "CYBERMANCER", "VANGUARD", "ENFORCER", "SCAVENGER", "STALKER", "DISRUPTOR", "CODEBREAKER", "OVERLORD", "BREACHER", "RECLAIMER"];

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
    /// The start of the answer, written into the assistant's turn before the model continues, and
    /// part of the returned text (empty for a plain request). A narrative's opening names the class
    /// and speaks in the affiliation's voice, so that a small model continues in both.
    pub opening: String,
    /// A narrative ends at a sentence: text after the last sentence end is never shown, and a
    /// generation that ends elsewhere (`max_tokens`, or the model's end mid-sentence) returns up to
    /// its last complete sentence (all of it when it has none).
    pub whole_sentences: bool,
    /// Below this many generated tokens an end of sequence is not taken (the most likely other
    /// token is): what the client shows for the context type is a few sentences or a paragraph.
    pub min_tokens: u32,
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

/// What the class does, from its two stat categories (class-rules.md's table).
fn class_blurb(class: &str) -> &'static str {
    match class {
        "EXPLORER" => "a swift scout who maps the uncharted frontier with keen sensors",
        "PATHFINDER" => "a tracker who reads signals and finds the safe route for others",
        "CYBERMANCER" => "a shielded machine-mind who bends code and circuits to its will",
        "VANGUARD" => "an armored front-line fighter who holds the line and charges first",
        "ENFORCER" => "a heavily armed brute who strikes hard and shrugs off any blow",
        "SCAVENGER" => "a quick, tough survivor who salvages scrap from the ruins",
        "STALKER" => "a silent hunter who moves unseen and strikes from ambush",
        "DISRUPTOR" => "a saboteur who jams signals and sows chaos in enemy lines",
        "CODEBREAKER" => "a hacker who cracks ciphers and turns enemy data into weapons",
        "OVERLORD" => "a towering ruler who commands the field from behind thick shields",
        "BREACHER" => "a fast demolisher who breaks through walls and gates",
        "RECLAIMER" => "a durable restorer who rebuilds what the wasteland broke",
        _ => "an unclassed rookie still finding its way",
    }
}

fn describe_affiliation(affiliation: &str) -> &'static str {
    match affiliation {
        "LOYAL" => "loyal to the Bunker: it keeps its oath, protects its people and serves with honor",
        "CORRUPT" => "corrupt: it schemes in secret for its own profit and would betray anyone",
        "NEUTRAL" => "neutral: it belongs to no faction and weighs every side coldly",
        _ => "of unknown allegiance",
    }
}

/// What to write, and how long: what the game client shows for the context type.
fn task(context_type: &str) -> &'static str {
    match context_type {
        "MISSION_BRIEFING" => "Write a mission briefing of three or four sentences addressed to the robot.",
        "COMBAT_NARRATIVE" => "Narrate the fight in two or three vivid sentences.",
        "EXPLORATION_DISCOVERY" => "Describe in two or three sentences what the robot discovers.",
        "CHARACTER_INTERACTION" => "Tell in two or three sentences how the robot deals with the other character.",
        "ACHIEVEMENT_CELEBRATION" => "Celebrate the robot's achievement in two sentences.",
        "WORLD_EVENT" => "Report in two or three sentences the world event and how it touches the robot.",
        "PERSONAL_REFLECTION" => "Write the robot's inner reflection of three or four sentences.",
        _ => "Reveal in three or four sentences a piece of the Bunker's lore.",
    }
}

/// How the answer goes on after the opener: the event's subject, left open for the model; three
/// per context type.
fn lead(context_type: &str, who: &str, pick: usize) -> String {
    let options: [String; 3] = match context_type {
        "MISSION_BRIEFING" => [format!("{who} is sent into the flooded sector, where"), format!("{who} must bring back the data core before"), format!("{who} studies the map of the drowned sector:")],
        "COMBAT_NARRATIVE" => [format!("{who} charges into the attack, and"), format!("{who} turns to face the drones as"), format!("{who} hears the raiders come, and")],
        "EXPLORATION_DISCOVERY" => {
            [format!("{who} forces open the sealed room and"), format!("{who} slips past the dead reactor into a room that"), format!("{who} finds a door no map shows, and behind it")]
        }
        "CHARACTER_INTERACTION" => {
            [format!("{who} faces the stubborn quartermaster, who"), format!("{who} asks the quartermaster once more for the parts, and"), format!("{who} leans over the quartermaster's counter:")]
        }
        "ACHIEVEMENT_CELEBRATION" => [format!("{who} has reached level 10, and"), format!("{who} rises to the tenth rank;"), format!("{who} earns its tenth level when")],
        "WORLD_EVENT" => {
            [format!("{who} watches the dust storm swallow the bunkers, and"), format!("{who} seals the gates as the storm arrives;"), format!("{who} counts the days of the dust storm:")]
        }
        "PERSONAL_REFLECTION" => [format!("{who} remembers the lost battle:"), format!("{who} thinks of the defeat and"), format!("{who} replays the loss in its memory:")],
        _ => [format!("{who} learns the oldest secret of the bunkers, that"), format!("{who} reads in the founding records how"), format!("{who} hears the old machines tell how")],
    };
    options[pick % 3].clone()
}

/// The affiliation's voice at the start of the answer; three per affiliation, chosen by class and
/// context type so that neighbouring cells do not open alike.
fn opener(affiliation: &str, pick: usize) -> &'static str {
    let options: [&str; 3] = match affiliation {
        "LOYAL" => ["Faithful to its oath,", "Sworn to protect the Bunker,", "Steadfast in its duty,"],
        "CORRUPT" => ["Scheming for its own profit,", "Ruthless and secretly greedy,", "Hiding a traitor's greedy plan,"],
        "NEUTRAL" => ["Bound to no faction,", "Keeping its own counsel,", "Belonging to no side,"],
        _ => ["Without a master,", "Alone,", "Unclaimed,"],
    };
    options[pick % options.len()]
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
        Some(n) => {
            let robot = if n.class == "UNSPECIFIED" { "an unclassed rookie Bunkerguard".to_string() } else { format!("a {}: {}", title(n.class), class_blurb(n.class)) };
            let who = if n.class == "UNSPECIFIED" { "the rookie".to_string() } else { format!("the {}", title(n.class)) };
            let class = CLASSES.iter().position(|c| *c == n.class).unwrap_or(0);
            let affiliation = AFFILIATIONS.iter().position(|a| *a == n.affiliation).unwrap_or(0);
            let pick = class + CONTEXT_TYPES.iter().position(|c| *c == n.context_type).unwrap_or(0);
            Prompt {
                system: format!(
                    "You are the narrator of BunkerVerse, where robots guard the last underground bunkers. The robot is {robot}. It is {}. {} Call it {who} and stay in its voice.",
                    describe_affiliation(n.affiliation),
                    task(n.context_type)
                ),
                user: event.to_string(),
                opening: format!("{} {}", opener(n.affiliation, pick), lead(n.context_type, &who, class / 4 + affiliation)),
                whole_sentences: true,
                min_tokens: match n.context_type {
                    "MISSION_BRIEFING" | "PERSONAL_REFLECTION" | "LORE_REVELATION" => 40,
                    _ => 28,
                },
            }
        }
        None => Prompt {
            system: background.filter(|b| !b.is_empty()).unwrap_or("You are the narrator of BunkerVerse.").to_string(),
            user: event.to_string(),
            opening: String::new(),
            whole_sentences: false,
            min_tokens: 0,
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
        assert!(p.opening.contains("Vanguard") && p.whole_sentences, "{p:?}");
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
