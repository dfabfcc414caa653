//! The narrative sign-off report: the matrix (class × affiliation per context type) with each
//! cell's text and check results, the per-context variety figures and a verdict line, as Markdown
//! and HTML under `target/mve-results/nar-ffi/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checklist::{CellResult, Report};
use crate::matrix;

fn verdict(r: &Report) -> String {
    if r.valid { format!("PASS: all {} cells pass every check of narrative-checklist.toml", r.cells.len()) } else { format!("FAIL: {}", r.summary()) }
}

fn by_context(r: &Report) -> BTreeMap<&str, Vec<&CellResult>> {
    let mut m: BTreeMap<&str, Vec<&CellResult>> = BTreeMap::new();
    for c in &r.cells {
        m.entry(c.cell.context_type.as_str()).or_default().push(c);
    }
    m
}

pub fn markdown(r: &Report, seconds: f64, model: &Path) -> String {
    let mut s = String::from("# Narrative sign-off report\n\n");
    s += &format!(
        "Model `{}`; greedy decoding with repetition penalty {}; {} cells generated in {seconds:.0} s through the C ABI.\n\n**Verdict: {}**\n\n",
        model.file_name().map_or_else(|| model.display().to_string(), |f| f.to_string_lossy().into_owned()),
        matrix::REPETITION_PENALTY,
        r.cells.len(),
        verdict(r)
    );
    s += "## Variety per context type\n\n| context type | cells | distinct texts | distinct bigrams | mean words | cells failing | context failures |\n|---|---|---|---|---|---|---|\n";
    for c in &r.contexts {
        s += &format!("| {} | {} | {} | {:.2} | {:.1} | {} | {} |\n", c.context_type, c.cells, c.distinct_texts, c.distinct_bigrams, c.mean_words, c.cells_failing, c.failures.join("; "));
    }
    for (t, cells) in by_context(r) {
        s += &format!("\n## {t}: \"{}\"\n\n| class × affiliation | text | checks |\n|---|---|---|\n", matrix::event(t));
        for c in cells {
            let checks = if c.failures.is_empty() { "pass".to_string() } else { c.failures.join("; ") };
            s += &format!("| {} | {} | {} |\n", c.cell.name(), c.cell.text.replace('|', "\\|").replace('\n', " "), checks.replace('|', "\\|"));
        }
    }
    s += "\n---\n\nSigned off for narrative design: ______________________  Date: __________\n";
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn html(r: &Report, seconds: f64, model: &Path) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Narrative sign-off report</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}.fail{background:#fdd}.pass{background:#dfd}</style></head><body>",
    );
    s += &format!(
        "<h1>Narrative sign-off report</h1><p>Model <code>{}</code>; greedy decoding with repetition penalty {}; {} cells in {seconds:.0} s.</p><p class=\"{}\"><b>Verdict: {}</b></p>",
        esc(&model.display().to_string()),
        matrix::REPETITION_PENALTY,
        r.cells.len(),
        if r.valid { "pass" } else { "fail" },
        esc(&verdict(r))
    );
    s += "<h2>Variety per context type</h2><table><tr><th>context type</th><th>cells</th><th>distinct texts</th><th>distinct bigrams</th><th>mean words</th><th>cells failing</th><th>context failures</th></tr>";
    for c in &r.contexts {
        s += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            c.context_type,
            c.cells,
            c.distinct_texts,
            c.distinct_bigrams,
            c.mean_words,
            c.cells_failing,
            esc(&c.failures.join("; "))
        );
    }
    s += "</table>";
    for (t, cells) in by_context(r) {
        s += &format!("<h2>{t}: &ldquo;{}&rdquo;</h2><table><tr><th>class × affiliation</th><th>text</th><th>checks</th></tr>", esc(matrix::event(t)));
        for c in cells {
            let (class, checks) = if c.failures.is_empty() { ("pass", "pass".to_string()) } else { ("fail", c.failures.join("; ")) };
            s += &format!("<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&c.cell.name()), esc(&c.cell.text), esc(&checks));
        }
        s += "</table>";
    }
    s += "<p>Signed off for narrative design: ______________________ Date: __________</p></body></html>";
    s
}

/// Writes the report's Markdown, HTML and JSON; returns their paths.
pub fn write(r: &Report, seconds: f64, model: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = harness::results::target_dir().join("mve-results/nar-ffi");
    std::fs::create_dir_all(&dir)?;
    let md = dir.join("narrative_report.md");
    let html_path = dir.join("narrative_report.html");
    std::fs::write(&md, markdown(r, seconds, model))?;
    std::fs::write(&html_path, html(r, seconds, model))?;
    let json = harness::results::write_json("nar-ffi", "narrative_report", &serde_json::to_value(r)?)?;
    Ok(vec![md, html_path, json])
}
