//! The narrative checklist: variety, contextual accuracy, tone and form of the narrative matrix
//! (class × affiliation per context type), with every threshold and word list in
//! `narrative-checklist.toml` (this crate's root) so that narrative design can tune them. A
//! [`Report`] holds each cell's failures by rule name and each context type's figures; the matrix
//! tests assert on it and `narrative_report` renders it for sign-off.
//!
//! Each answer begins with the NAR's own **opening** (`mve_nar::narrative::prompt`: an affiliation
//! opener and a lead naming the class and the event), which names the class and speaks in the
//! affiliation's voice by construction. So the checks are split: the `opening.*` rules judge that
//! opening alone; accuracy, tone and variety judge only the **continuation**, the words the model
//! wrote after it; `form.*` judges the whole text, what the player reads. A text that does not
//! begin with its cell's opening fails `opening.present` and is judged whole as the continuation.
//!
//! Most rules hold for every cell. The rules listed in `[continuation.min_share]` are judged by
//! share instead: a small model does not name its class in every continuation, so at least the
//! stated share of the judged cells must pass each of them (the reasons are beside the numbers).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// The rules file, compiled in: a test and the report always judge by the same rules.
pub const RULES_TOML: &str = include_str!("../narrative-checklist.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Rules {
    pub variety: Variety,
    pub accuracy: Accuracy,
    pub tone: Tone,
    pub form: Form,
    pub continuation: Continuation,
    pub subjects: BTreeMap<String, Vec<String>>,
    pub categories: BTreeMap<String, Vec<String>>,
    pub classes: BTreeMap<String, Class>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variety {
    pub min_distinct_bigrams: f64,
    pub max_prompt_overlap: f64,
    pub max_trigram_repeats: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Accuracy {
    pub min_class_words: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tone {
    pub min_lean: usize,
    pub neutral_max_lean: usize,
    pub loyal: Vec<String>,
    pub corrupt: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Form {
    pub words: BTreeMap<String, (usize, usize)>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Continuation {
    /// `form.continuation`: the model wrote at least this many words after the opening.
    pub min_words: usize,
    /// Rules judged by share: at least this share of the cells each applies to pass it.
    pub min_share: BTreeMap<String, f64>,
    /// `accuracy.class_lift`: the share of continuations that pass `accuracy.class` for their own
    /// class, less the mean share that would pass it for each other class, at least this.
    pub min_class_lift: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Class {
    pub categories: Vec<String>,
    pub words: Vec<String>,
}

impl Rules {
    pub fn load() -> Rules {
        toml::from_str(RULES_TOML).expect("narrative-checklist.toml parses")
    }
}

/// One generated narrative of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub context_type: String,
    pub class: String,
    pub affiliation: String,
    pub event: String,
    pub text: String,
    pub valid_utf8: bool,
    pub tokens: u32,
}

impl Cell {
    pub fn name(&self) -> String {
        format!("{} × {}", self.class, self.affiliation)
    }

    /// The NAR's prompt for this cell (`None` for a cell whose names the NAR does not know).
    fn prompt(&self) -> Option<mve_nar::narrative::Prompt> {
        let context = format!("narrative={};class={};affiliation={}", self.context_type, self.class, self.affiliation);
        let n = mve_nar::narrative::parse(&context).ok()??;
        Some(mve_nar::narrative::prompt(&self.event, Some(&n), None))
    }

    /// (the opening the NAR wrote, the model's continuation); `None` as the opening when the text
    /// does not begin with this cell's opening (then all of it counts as the continuation).
    pub fn split(&self) -> (Option<String>, String) {
        let opening = self.prompt().map(|p| p.opening).unwrap_or_default();
        match self.text.strip_prefix(opening.as_str()) {
            Some(rest) if !opening.is_empty() => (Some(opening), rest.trim_start().to_string()),
            _ => (None, self.text.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub cell: Cell,
    /// `rule: why`, empty when the cell passes every check.
    pub failures: Vec<String>,
    /// The model's own words (the text after the NAR's opening).
    pub continuation: String,
    pub words: usize,
    pub continuation_words: usize,
    pub prompt_overlap: f64,
    pub loyal_words: usize,
    pub corrupt_words: usize,
    pub class_words: usize,
    /// The share of the other classes whose vocabulary the continuation would pass
    /// `accuracy.class` with: what naming "a" class by chance scores.
    pub other_classes_named: f64,
    /// Words of the class's traits in the continuation: its vocabulary without its name (the
    /// opening gives the name; a continuation that only repeats it says nothing of the class).
    pub trait_words: usize,
    /// The share of the other classes whose traits the continuation names.
    pub other_classes_traits: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextFigures {
    pub context_type: String,
    pub cells: usize,
    pub distinct_texts: usize,
    pub distinct_bigrams: f64,
    pub mean_words: f64,
    pub mean_continuation_words: f64,
    pub cells_failing: usize,
    /// Cells passing every check, the continuation's included.
    pub cells_passing: usize,
    /// Per rule judged by share: the share of this type's cells that pass it.
    pub shares: BTreeMap<String, f64>,
    pub class_lift: f64,
    pub traits: Traits,
    /// Failures of the context type as a whole (e.g. too few distinct bigrams).
    pub failures: Vec<String>,
}

/// How often continuations name their class's traits (its vocabulary without its name), against
/// how often they name another class's: reported, not judged (narrative-checklist.toml says why).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Traits {
    pub share: f64,
    pub other_classes: f64,
    pub lift: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    pub cells: Vec<CellResult>,
    pub contexts: Vec<ContextFigures>,
    /// Per rule judged by share: (cells passing, cells judged, the least share allowed).
    pub shares: BTreeMap<String, (usize, usize, f64)>,
    pub class_lift: f64,
    pub traits: Traits,
    /// The shares below their bound (what fails the verdict besides per-cell rules).
    pub share_failures: Vec<String>,
}

impl Report {
    /// One line per failing rule judged by share, context type and cell that fails the verdict:
    /// what a test prints. Cells that fail only rules judged by share are in the report, not here.
    pub fn failures(&self) -> Vec<String> {
        let mut out = self.share_failures.clone();
        out.extend(self.contexts.iter().flat_map(|c| c.failures.iter().map(move |f| format!("{}: {f}", c.context_type))));
        for c in &self.cells {
            let hard: Vec<&String> = c.failures.iter().filter(|f| !self.shares.keys().any(|r| f.starts_with(&format!("{r}:")))).collect();
            if !hard.is_empty() {
                out.push(format!("{} {}: {}\n    text: {:?}", c.cell.context_type, c.cell.name(), hard.iter().map(|f| f.as_str()).collect::<Vec<_>>().join("; "), c.cell.text));
            }
        }
        out
    }

    pub fn summary(&self) -> String {
        let passing = self.cells.iter().filter(|c| c.failures.is_empty()).count();
        let shares: Vec<String> = self.shares.iter().map(|(r, (n, of, least))| format!("{r} {n}/{of} (at least {:.0} %)", least * 100.0)).collect();
        format!(
            "{passing} of {} cells pass every check, the model's continuation included; judged by share: {}; class lift {:.2}; traits (not judged) {:.2}, another class's {:.2}; {} context-level failures",
            self.cells.len(),
            shares.join(", "),
            self.class_lift,
            self.traits.share,
            self.traits.other_classes,
            self.contexts.iter().map(|c| c.failures.len()).sum::<usize>()
        )
    }
}

/// Lowercase words (letters and digits), in order.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

fn bigrams(w: &[String]) -> Vec<(String, String)> {
    w.windows(2).map(|p| (p[0].clone(), p[1].clone())).collect()
}

/// How many times the vocabulary's entries occur, each entry a word prefix or a phrase.
pub fn count(words: &[String], vocabulary: &[String]) -> usize {
    let joined = format!(" {}", words.join(" "));
    vocabulary.iter().map(|v| joined.matches(&format!(" {}", v.to_lowercase())).count()).sum()
}

impl Rules {
    fn class_vocabulary(&self, class: &str) -> Vec<String> {
        let Some(c) = self.classes.get(class) else { return vec![class.to_lowercase()] };
        let mut v = vec![class.to_lowercase()];
        v.extend(c.words.iter().cloned());
        for cat in &c.categories {
            v.extend(self.categories.get(cat).into_iter().flatten().cloned());
        }
        v
    }

    /// The class's vocabulary without its name (nor the prefixes of its name among its words).
    fn class_traits(&self, class: &str) -> Vec<String> {
        let name = class.to_lowercase();
        self.class_vocabulary(class).into_iter().filter(|v| !name.starts_with(v.as_str())).collect()
    }

    fn class_own_words(&self, class: &str) -> Vec<String> {
        let mut v = vec![class.to_lowercase()];
        v.extend(self.classes.get(class).into_iter().flat_map(|c| c.words.iter().cloned()));
        v
    }

    fn check_cell(&self, cell: &Cell) -> CellResult {
        let mut failures = Vec::new();
        // form: the whole text, as the player reads it
        let all_words = words(&cell.text);
        if let Some(&(lo, hi)) = self.form.words.get(&cell.context_type)
            && (all_words.len() < lo || all_words.len() > hi)
        {
            failures.push(format!("form.length: {} words (want {lo}..={hi})", all_words.len()));
        }
        let end = cell.text.trim_end().trim_end_matches(['"', '\'', '”', '’', ')']);
        if !end.ends_with(['.', '!', '?']) {
            failures.push("form.sentences: the text does not end a sentence".into());
        }
        let markers = mve_nar::narrative::template_markers();
        if let Some(m) = markers.iter().find(|m| cell.text.contains(*m)) {
            failures.push(format!("form.markers: {m:?} leaked"));
        } else if cell.text.contains("<|") || cell.text.contains("|>") {
            failures.push("form.markers: a chat-template token leaked".into());
        }
        if !cell.valid_utf8 {
            failures.push("form.utf8: invalid UTF-8".into());
        }
        // opening: the NAR's own words
        let (opening, continuation) = cell.split();
        match &opening {
            None => failures.push("opening.present: the text does not begin with the NAR's opening for its cell".into()),
            Some(o) => {
                let ow = words(o);
                if count(&ow, &self.class_own_words(&cell.class)) == 0 {
                    failures.push(format!("opening.class: the opening does not name the {}", cell.class));
                }
                if let Some(why) = self.lean(&cell.affiliation, &ow) {
                    failures.push(format!("opening.lean: {why}"));
                }
            }
        }
        // the continuation: the model's own words
        let w = words(&continuation);
        if w.len() < self.continuation.min_words {
            failures.push(format!("form.continuation: the model wrote {} words after the opening (at least {})", w.len(), self.continuation.min_words));
        }
        // variety inside the continuation: against everything the model was given (the system
        // message the NAR builds for this cell, the event and the opening).
        let given = match cell.prompt() {
            Some(p) => format!("{} {} {}", p.system, p.user, p.opening),
            None => cell.event.clone(),
        };
        let event_bigrams: BTreeSet<_> = bigrams(&words(&given)).into_iter().collect();
        let own = bigrams(&w);
        let prompt_overlap = if own.is_empty() { 1.0 } else { own.iter().filter(|b| event_bigrams.contains(b)).count() as f64 / own.len() as f64 };
        if prompt_overlap > self.variety.max_prompt_overlap {
            failures.push(format!("variety.prompt_echo: {:.0} % of its bigrams repeat the prompt (at most {:.0} %)", prompt_overlap * 100.0, self.variety.max_prompt_overlap * 100.0));
        }
        let mut trigrams: HashMap<&[String], usize> = HashMap::new();
        for t in w.windows(3) {
            *trigrams.entry(t).or_default() += 1;
        }
        if let Some((t, n)) = trigrams.iter().filter(|(_, n)| **n > self.variety.max_trigram_repeats).max_by_key(|(_, n)| **n) {
            failures.push(format!("variety.repetition: {:?} {n} times", t.join(" ")));
        }
        // accuracy
        let class_words = count(&w, &self.class_vocabulary(&cell.class));
        let others: Vec<&String> = self.classes.keys().filter(|c| **c != cell.class).collect();
        let other_classes_named = others.iter().filter(|c| count(&w, &self.class_vocabulary(c)) >= self.accuracy.min_class_words).count() as f64 / others.len().max(1) as f64;
        let trait_words = count(&w, &self.class_traits(&cell.class));
        let other_classes_traits = others.iter().filter(|c| count(&w, &self.class_traits(c)) >= self.accuracy.min_class_words).count() as f64 / others.len().max(1) as f64;
        if class_words < self.accuracy.min_class_words {
            failures.push(format!("accuracy.class: no word of the {} vocabulary", cell.class));
        }
        if let Some(subjects) = self.subjects.get(&cell.context_type)
            && count(&w, subjects) == 0
        {
            failures.push(format!("accuracy.subject: none of {subjects:?}"));
        }
        if let Some((other, n)) = self.classes.keys().filter(|c| **c != cell.class).map(|c| (c, count(&w, &self.class_own_words(c)))).max_by_key(|(_, n)| *n)
            && n > class_words
        {
            failures.push(format!("accuracy.dominance: {n} {other} words outnumber {class_words} {} words", cell.class));
        }
        // tone
        let (loyal, corrupt) = (count(&w, &self.tone.loyal), count(&w, &self.tone.corrupt));
        if let Some(why) = self.lean(&cell.affiliation, &w) {
            let rule = if cell.affiliation == "NEUTRAL" { "tone.neutral" } else { "tone.lean" };
            failures.push(format!("{rule}: {why}"));
        }
        CellResult {
            cell: cell.clone(),
            failures,
            continuation,
            words: all_words.len(),
            continuation_words: w.len(),
            prompt_overlap,
            loyal_words: loyal,
            corrupt_words: corrupt,
            class_words,
            other_classes_named,
            trait_words,
            other_classes_traits,
        }
    }

    /// Why the words do not speak in the affiliation's voice, if they do not.
    fn lean(&self, affiliation: &str, w: &[String]) -> Option<String> {
        let (loyal, corrupt) = (count(w, &self.tone.loyal), count(w, &self.tone.corrupt));
        match affiliation {
            "LOYAL" if loyal < self.tone.min_lean || loyal <= corrupt => Some(format!("LOYAL with {loyal} loyal and {corrupt} corrupt words")),
            "CORRUPT" if corrupt < self.tone.min_lean || corrupt <= loyal => Some(format!("CORRUPT with {corrupt} corrupt and {loyal} loyal words")),
            "NEUTRAL" if loyal.abs_diff(corrupt) > self.tone.neutral_max_lean => Some(format!("{loyal} loyal vs {corrupt} corrupt words")),
            _ => None,
        }
    }

    /// Judges the cells (any subset of the matrix): per cell, then per context type.
    pub fn check(&self, cells: &[Cell]) -> Report {
        let mut results: Vec<CellResult> = cells.iter().map(|c| self.check_cell(c)).collect();
        let mut contexts = Vec::new();
        let types: BTreeSet<String> = cells.iter().map(|c| c.context_type.clone()).collect();
        for t in types {
            let idx: Vec<usize> = (0..results.len()).filter(|&i| results[i].cell.context_type == t).collect();
            // variety.identical and tone.pair
            let mut by_text: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &i in &idx {
                by_text.entry(results[i].continuation.trim().to_string()).or_default().push(i);
            }
            for same in by_text.values().filter(|v| v.len() > 1) {
                for &i in same {
                    let me = results[i].cell.name();
                    let others: Vec<String> = same.iter().map(|&j| results[j].cell.name()).filter(|n| *n != me).collect();
                    let shown = if others.len() > 3 { format!("{} and {} more", others[..3].join(", "), others.len() - 3) } else { others.join(", ") };
                    results[i].failures.push(format!("variety.identical: the same continuation as {shown}"));
                    let (class, affiliation) = (results[i].cell.class.clone(), results[i].cell.affiliation.clone());
                    let opposite = match affiliation.as_str() {
                        "LOYAL" => "CORRUPT",
                        "CORRUPT" => "LOYAL",
                        _ => "",
                    };
                    if same.iter().any(|&j| results[j].cell.class == class && results[j].cell.affiliation == opposite) {
                        results[i].failures.push(format!("tone.pair: the {opposite} continuation of the {class} is the same"));
                    }
                }
            }
            let all: Vec<(String, String)> = idx.iter().flat_map(|&i| bigrams(&words(&results[i].continuation))).collect();
            let distinct = all.iter().collect::<BTreeSet<_>>().len();
            let ratio = if all.is_empty() { 0.0 } else { distinct as f64 / all.len() as f64 };
            let mut failures = Vec::new();
            if ratio < self.variety.min_distinct_bigrams {
                failures.push(format!("variety.distinct_bigrams: {ratio:.2} (at least {:.2})", self.variety.min_distinct_bigrams));
            }
            contexts.push(ContextFigures {
                context_type: t.clone(),
                cells: idx.len(),
                distinct_texts: by_text.len(),
                distinct_bigrams: ratio,
                mean_words: idx.iter().map(|&i| results[i].words as f64).sum::<f64>() / idx.len().max(1) as f64,
                mean_continuation_words: idx.iter().map(|&i| results[i].continuation_words as f64).sum::<f64>() / idx.len().max(1) as f64,
                cells_failing: idx.iter().filter(|&&i| !results[i].failures.is_empty()).count(),
                cells_passing: idx.iter().filter(|&&i| results[i].failures.is_empty()).count(),
                shares: self.continuation.min_share.keys().map(|r| (r.clone(), share(r, idx.iter().map(|&i| &results[i])).0)).collect(),
                class_lift: class_lift(idx.iter().map(|&i| &results[i])),
                traits: traits(idx.iter().map(|&i| &results[i])),
                failures,
            });
        }
        let shared = |f: &String| self.continuation.min_share.keys().any(|r| f.starts_with(&format!("{r}:")));
        let mut shares = BTreeMap::new();
        let mut share_failures = Vec::new();
        for (rule, &least) in &self.continuation.min_share {
            let (_, n, of) = share(rule, results.iter());
            if (n as f64) < least * of as f64 {
                share_failures.push(format!("{rule}: {n} of {of} continuations pass (at least {:.0} %)", least * 100.0));
            }
            shares.insert(rule.clone(), (n, of, least));
        }
        let lift = class_lift(results.iter());
        if lift < self.continuation.min_class_lift {
            share_failures
                .push(format!("accuracy.class_lift: {lift:.2} (at least {:.2}): continuations name their own class's words hardly more often than another class's", self.continuation.min_class_lift));
        }
        let valid = results.iter().all(|r| r.failures.iter().all(shared)) && contexts.iter().all(|c| c.failures.is_empty()) && share_failures.is_empty();
        let traits = traits(results.iter());
        Report { valid, cells: results, contexts, shares, class_lift: lift, traits, share_failures }
    }
}

/// Whether `rule` judges the cell: `tone.lean` only a LOYAL or CORRUPT one.
fn applies(rule: &str, cell: &Cell) -> bool {
    rule != "tone.lean" || matches!(cell.affiliation.as_str(), "LOYAL" | "CORRUPT")
}

/// (share, passing, judged) of the cells `rule` applies to.
fn share<'a>(rule: &str, cells: impl Iterator<Item = &'a CellResult>) -> (f64, usize, usize) {
    let prefix = format!("{rule}:");
    let judged: Vec<&CellResult> = cells.filter(|c| applies(rule, &c.cell)).collect();
    let n = judged.iter().filter(|c| !c.failures.iter().any(|f| f.starts_with(&prefix))).count();
    (if judged.is_empty() { 1.0 } else { n as f64 / judged.len() as f64 }, n, judged.len())
}

fn traits<'a>(cells: impl Iterator<Item = &'a CellResult>) -> Traits {
    let cells: Vec<&CellResult> = cells.collect();
    let n = cells.len().max(1) as f64;
    let share = cells.iter().filter(|c| c.trait_words > 0).count() as f64 / n;
    let other_classes = cells.iter().map(|c| c.other_classes_traits).sum::<f64>() / n;
    Traits { share, other_classes, lift: share - other_classes }
}

/// Own-class `accuracy.class` share less the other classes' mean share (0 for no cells).
fn class_lift<'a>(cells: impl Iterator<Item = &'a CellResult>) -> f64 {
    let cells: Vec<&CellResult> = cells.collect();
    if cells.is_empty() {
        return 0.0;
    }
    let own = cells.iter().filter(|c| !c.failures.iter().any(|f| f.starts_with("accuracy.class:"))).count() as f64;
    let others: f64 = cells.iter().map(|c| c.other_classes_named).sum();
    (own - others) / cells.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell whose text is the NAR's opening for it followed by `continuation`.
    fn cell(class: &str, affiliation: &str, continuation: &str) -> Cell {
        let t = "COMBAT_NARRATIVE";
        let mut c = Cell { context_type: t.into(), class: class.into(), affiliation: affiliation.into(), event: crate::matrix::event(t).into(), text: String::new(), valid_utf8: true, tokens: 40 };
        let opening = c.prompt().expect("a known cell").opening;
        c.text = format!("{opening} {continuation}");
        c
    }

    fn rules_of(r: &CellResult) -> Vec<&str> {
        r.failures.iter().map(|f| f.split(':').next().unwrap_or_default()).collect()
    }

    /// The opening names the class and speaks in the voice by construction: a continuation with
    /// neither fails accuracy.class and tone.lean although the whole text has both.
    #[test]
    fn the_class_and_the_voice_are_judged_on_the_continuation_not_on_the_opening() {
        let rules = Rules::load();
        let plain = cell("VANGUARD", "LOYAL", "the sky above the old tower was grey and quiet that morning.");
        let (opening, continuation) = plain.split();
        assert!(opening.as_deref().is_some_and(|o| o.contains("Vanguard")), "{opening:?}");
        assert!(continuation.starts_with("the sky"), "{continuation:?}");
        let judged = rules.check_cell(&plain);
        let failed = rules_of(&judged);
        assert!(failed.contains(&"accuracy.class") && failed.contains(&"tone.lean"), "{:?}", judged.failures);
        assert!(!failed.iter().any(|r| r.starts_with("opening.")), "{:?}", judged.failures);

        let voiced = cell("VANGUARD", "LOYAL", "It charges into the drones with its shield raised, sworn to protect the gate and its people.");
        let judged = rules.check_cell(&voiced);
        assert!(judged.failures.is_empty(), "{:?}", judged.failures);
    }

    #[test]
    fn a_text_without_its_cells_opening_fails_opening_present_and_is_judged_whole() {
        let rules = Rules::load();
        let mut c = cell("STALKER", "CORRUPT", "");
        c.text = "The Stalker waits in silence for the raider drones to pass the gate, scheming for profit.".into();
        let judged = rules.check_cell(&c);
        assert!(rules_of(&judged).contains(&"opening.present"), "{:?}", judged.failures);
        assert_eq!(judged.continuation, c.text);
    }

    /// Continuations that never name their class's words: the share and the lift both fail,
    /// although every opening names its class.
    #[test]
    fn continuations_that_ignore_their_class_fail_the_share_and_the_lift() {
        let rules = Rules::load();
        let classes: Vec<&str> = rules.classes.keys().map(String::as_str).collect();
        let cells: Vec<Cell> = classes.iter().map(|c| cell(c, "NEUTRAL", "the drones came at the gate and the gate held until the dust settled again.")).collect();
        let report = rules.check(&cells);
        assert!(!report.valid);
        let failures = report.failures().join("\n");
        assert!(failures.contains("accuracy.class:") && failures.contains("accuracy.class_lift"), "{failures}");
        assert!(report.class_lift.abs() < 1e-9, "{}", report.class_lift);
    }
}
