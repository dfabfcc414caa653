//! The narrative checklist: variety, contextual accuracy, tone and form of the narrative matrix
//! (class × affiliation per context type), with every threshold and word list in
//! `narrative-checklist.toml` (this crate's root) so that narrative design can tune them. A
//! [`Report`] holds each cell's failures by rule name and each context type's variety figures; the
//! matrix tests assert on it and `narrative_report` renders it for sign-off.

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
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    pub cell: Cell,
    /// `rule: why`, empty when the cell passes every check.
    pub failures: Vec<String>,
    pub words: usize,
    pub prompt_overlap: f64,
    pub loyal_words: usize,
    pub corrupt_words: usize,
    pub class_words: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextFigures {
    pub context_type: String,
    pub cells: usize,
    pub distinct_texts: usize,
    pub distinct_bigrams: f64,
    pub mean_words: f64,
    pub cells_failing: usize,
    /// Failures of the context type as a whole (e.g. too few distinct bigrams).
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub valid: bool,
    pub cells: Vec<CellResult>,
    pub contexts: Vec<ContextFigures>,
}

impl Report {
    /// One line per failing cell and context type: what a test prints.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.contexts.iter().flat_map(|c| c.failures.iter().map(move |f| format!("{}: {f}", c.context_type))).collect();
        for c in self.cells.iter().filter(|c| !c.failures.is_empty()) {
            out.push(format!("{} {}: {}\n    text: {:?}", c.cell.context_type, c.cell.name(), c.failures.join("; "), c.cell.text));
        }
        out
    }

    pub fn summary(&self) -> String {
        let failing = self.cells.iter().filter(|c| !c.failures.is_empty()).count();
        format!("{} of {} cells pass every check; {} context-level failures", self.cells.len() - failing, self.cells.len(), self.contexts.iter().map(|c| c.failures.len()).sum::<usize>())
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

    fn class_own_words(&self, class: &str) -> Vec<String> {
        let mut v = vec![class.to_lowercase()];
        v.extend(self.classes.get(class).into_iter().flat_map(|c| c.words.iter().cloned()));
        v
    }

    fn check_cell(&self, cell: &Cell) -> CellResult {
        let mut failures = Vec::new();
        let w = words(&cell.text);
        // form
        if let Some(&(lo, hi)) = self.form.words.get(&cell.context_type)
            && (w.len() < lo || w.len() > hi)
        {
            failures.push(format!("form.length: {} words (want {lo}..={hi})", w.len()));
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
        // variety inside the text: against everything the model was given (the system message the
        // NAR builds for this cell, and the event).
        let context = format!("narrative={};class={};affiliation={}", cell.context_type, cell.class, cell.affiliation);
        let given = match mve_nar::narrative::parse(&context) {
            Ok(Some(n)) => {
                let p = mve_nar::narrative::prompt(&cell.event, Some(&n), None);
                format!("{} {}", p.system, p.user)
            }
            _ => cell.event.clone(),
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
        match cell.affiliation.as_str() {
            "LOYAL" if loyal < self.tone.min_lean || loyal <= corrupt => failures.push(format!("tone.lean: LOYAL with {loyal} loyal and {corrupt} corrupt words")),
            "CORRUPT" if corrupt < self.tone.min_lean || corrupt <= loyal => failures.push(format!("tone.lean: CORRUPT with {corrupt} corrupt and {loyal} loyal words")),
            "NEUTRAL" if loyal.abs_diff(corrupt) > self.tone.neutral_max_lean => failures.push(format!("tone.neutral: {loyal} loyal vs {corrupt} corrupt words")),
            _ => {}
        }
        CellResult { cell: cell.clone(), failures, words: w.len(), prompt_overlap, loyal_words: loyal, corrupt_words: corrupt, class_words }
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
                by_text.entry(results[i].cell.text.trim().to_string()).or_default().push(i);
            }
            for same in by_text.values().filter(|v| v.len() > 1) {
                for &i in same {
                    let me = results[i].cell.name();
                    let others: Vec<String> = same.iter().map(|&j| results[j].cell.name()).filter(|n| *n != me).collect();
                    let shown = if others.len() > 3 { format!("{} and {} more", others[..3].join(", "), others.len() - 3) } else { others.join(", ") };
                    results[i].failures.push(format!("variety.identical: the same text as {shown}"));
                    let (class, affiliation) = (results[i].cell.class.clone(), results[i].cell.affiliation.clone());
                    let opposite = match affiliation.as_str() {
                        "LOYAL" => "CORRUPT",
                        "CORRUPT" => "LOYAL",
                        _ => "",
                    };
                    if same.iter().any(|&j| results[j].cell.class == class && results[j].cell.affiliation == opposite) {
                        results[i].failures.push(format!("tone.pair: the {opposite} text of the {class} is the same"));
                    }
                }
            }
            let all: Vec<(String, String)> = idx.iter().flat_map(|&i| bigrams(&words(&results[i].cell.text))).collect();
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
                cells_failing: idx.iter().filter(|&&i| !results[i].failures.is_empty()).count(),
                failures,
            });
        }
        let valid = results.iter().all(|r| r.failures.is_empty()) && contexts.iter().all(|c| c.failures.is_empty());
        Report { valid, cells: results, contexts }
    }
}
