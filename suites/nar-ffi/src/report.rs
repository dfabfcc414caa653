//! The narrative sign-off report: the matrix (class × affiliation per context type) with each
//! cell's text and check results, the per-context variety figures and a verdict line, as Markdown
//! and HTML under `target/mve-results/nar-ffi/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::checklist::{CellResult, Report};
use crate::matrix;

fn verdict(r: &Report) -> String {
    if r.valid { format!("PASS: {}", r.summary()) } else { format!("FAIL: {}", r.summary()) }
}

/// The rules judged by share, as table rows: rule, passing of judged, share, least allowed.
fn share_rows(r: &Report) -> Vec<[String; 4]> {
    let mut rows: Vec<[String; 4]> =
        r.shares.iter().map(|(rule, (n, of, least))| [rule.clone(), format!("{n} of {of}"), format!("{:.2}", *n as f64 / (*of).max(1) as f64), format!("{least:.2}")]).collect();
    rows.push(["accuracy.class_lift".into(), "own class's words less another's".into(), format!("{:.2}", r.class_lift), String::new()]);
    rows.push(["traits (reported)".into(), format!("own class's traits {:.2}, another's {:.2}", r.traits.share, r.traits.other_classes), format!("{:.2}", r.traits.lift), "not judged".into()]);
    rows
}

/// A context type's figures, in the order of the report's table.
fn context_row(c: &crate::checklist::ContextFigures) -> Vec<String> {
    vec![
        c.context_type.clone(),
        c.cells.to_string(),
        c.cells_passing.to_string(),
        c.distinct_texts.to_string(),
        format!("{:.2}", c.distinct_bigrams),
        format!("{:.1} ({:.1})", c.mean_words, c.mean_continuation_words),
        context_shares(c),
        c.failures.join("; "),
    ]
}

/// A context type's shares, `rule share` each.
fn context_shares(c: &crate::checklist::ContextFigures) -> String {
    let mut v: Vec<String> = c.shares.iter().map(|(r, x)| format!("{r} {x:.2}")).collect();
    v.push(format!("class lift {:.2}", c.class_lift));
    v.push(format!("traits {:.2} (lift {:.2})", c.traits.share, c.traits.lift));
    v.join(", ")
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
    s += "Each text begins with the NAR's own opening (in italics below); accuracy, tone and variety judge only the model's continuation after it.\n\n";
    s += "## The model's continuations, judged by share\n\n| rule | passing | share | at least |\n|---|---|---|---|\n";
    for row in share_rows(r) {
        s += &format!("| {} |\n", row.join(" | "));
    }
    s += "\n## Per context type\n\n| context type | cells | passing every check | distinct continuations | distinct bigrams | mean words (continuation) | shares | context failures |\n|---|---|---|---|---|---|---|---|\n";
    for c in &r.contexts {
        s += &format!("| {} |\n", context_row(c).join(" | "));
    }
    for (t, cells) in by_context(r) {
        s += &format!("\n## {t}: \"{}\"\n\n| class × affiliation | text | checks |\n|---|---|---|\n", matrix::event(t));
        for c in cells {
            let checks = if c.failures.is_empty() { "pass".to_string() } else { c.failures.join("; ") };
            let text = match c.cell.split() {
                (Some(opening), rest) => format!("*{opening}* {rest}"),
                (None, rest) => rest,
            };
            s += &format!("| {} | {} | {} |\n", c.cell.name(), text.replace('|', "\\|").replace('\n', " "), checks.replace('|', "\\|"));
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
    s += "<p>Each text begins with the NAR's own opening (in italics); accuracy, tone and variety judge only the model's continuation after it.</p>";
    s += "<h2>The model's continuations, judged by share</h2><table><tr><th>rule</th><th>passing</th><th>share</th><th>at least</th></tr>";
    for row in share_rows(r) {
        s += &format!("<tr>{}</tr>", row.iter().map(|c| format!("<td>{}</td>", esc(c))).collect::<String>());
    }
    s += "</table><h2>Per context type</h2><table><tr><th>context type</th><th>cells</th><th>passing every check</th><th>distinct continuations</th><th>distinct bigrams</th><th>mean words (continuation)</th><th>shares</th><th>context failures</th></tr>";
    for c in &r.contexts {
        s += &format!("<tr>{}</tr>", context_row(c).iter().map(|x| format!("<td>{}</td>", esc(x))).collect::<String>());
    }
    s += "</table>";
    for (t, cells) in by_context(r) {
        s += &format!("<h2>{t}: &ldquo;{}&rdquo;</h2><table><tr><th>class × affiliation</th><th>text</th><th>checks</th></tr>", esc(matrix::event(t)));
        for c in cells {
            let (class, checks) = if c.failures.is_empty() { ("pass", "pass".to_string()) } else { ("fail", c.failures.join("; ")) };
            let text = match c.cell.split() {
                (Some(opening), rest) => format!("<i>{}</i> {}", esc(&opening), esc(&rest)),
                (None, rest) => esc(&rest),
            };
            s += &format!("<tr class=\"{class}\"><td>{}</td><td>{text}</td><td>{}</td></tr>", esc(&c.cell.name()), esc(&checks));
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
