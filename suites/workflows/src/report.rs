//! The run report: one HTML page with plots and a Markdown summary of a test run, from its JUnit
//! and the result files under `target/mve-results/` — pass/fail by suite, the slowest tests,
//! benchmark figures against their previous run, chaos recovery times, resource curves (the soak's
//! containers, the NAR's leak series), API latency per endpoint, and every anomaly flagged.
//!
//! Plots are inline SVG (plotters), so the page is one self-contained file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

/// A benchmark figure that moved by more than this share against its previous run is an anomaly.
pub const BENCH_CHANGE_FLAG: f64 = 0.25;

#[derive(Debug, Clone, Default)]
pub struct Case {
    pub suite: String,
    pub name: String,
    pub seconds: f64,
    pub failed: bool,
    pub skipped: bool,
}

/// Everything the report shows, gathered before anything is drawn.
#[derive(Debug, Default)]
pub struct Run {
    pub cases: Vec<Case>,
    /// result file (relative to the results directory) → its JSON.
    pub results: BTreeMap<String, Value>,
    /// the same for the previous run's benchmark files, if kept.
    pub previous: BTreeMap<String, Value>,
    /// the soak's samples (`soak/series.jsonl`).
    pub soak_series: Vec<Value>,
}

pub fn read_junit(path: &Path) -> Result<Vec<Case>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc = roxmltree::Document::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for suite in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        for case in suite.children().filter(|n| n.has_tag_name("testcase")) {
            out.push(Case {
                suite: suite.attribute("name").unwrap_or("?").to_string(),
                name: case.attribute("name").unwrap_or("?").to_string(),
                seconds: case.attribute("time").and_then(|t| t.parse().ok()).unwrap_or(0.0),
                failed: case.children().any(|c| c.has_tag_name("failure") || c.has_tag_name("error")),
                skipped: case.children().any(|c| c.has_tag_name("skipped")),
            });
        }
    }
    Ok(out)
}

fn read_json_tree(dir: &Path, skip: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p != skip {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "json")
                && let Some(v) = std::fs::read_to_string(&p).ok().and_then(|t| serde_json::from_str(&t).ok())
            {
                out.insert(p.strip_prefix(dir).unwrap_or(&p).display().to_string(), v);
            }
        }
    }
    out
}

impl Run {
    /// Reads a run: JUnit files, the results directory, and the previous benchmark files kept in `out`.
    pub fn read(junit: &[PathBuf], results: &Path, out: &Path) -> Result<Run, String> {
        let mut run = Run::default();
        for j in junit {
            run.cases.extend(read_junit(j)?);
        }
        run.results = read_json_tree(results, out);
        run.previous = read_json_tree(&out.join("previous"), Path::new("/nonexistent"));
        if let Ok(text) = std::fs::read_to_string(results.join("soak/series.jsonl")) {
            run.soak_series = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        }
        Ok(run)
    }

    fn benches(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.results.iter().filter(|(k, _)| k.rsplit('/').next().is_some_and(|f| f.starts_with("bench_")))
    }
}

/// Numeric leaves of a JSON value, by dotted path (arrays of objects by index).
fn leaves(v: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64() {
                out.insert(prefix.to_string(), f);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                leaves(v, &if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, out);
            }
        }
        Value::Array(a) if a.len() <= 32 => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub struct BenchRow {
    pub file: String,
    pub figure: String,
    pub now: f64,
    pub before: Option<f64>,
}

impl BenchRow {
    pub fn change(&self) -> Option<f64> {
        self.before.filter(|b| *b != 0.0).map(|b| (self.now - b) / b.abs())
    }
}

fn bench_rows(run: &Run) -> Vec<BenchRow> {
    let mut rows = Vec::new();
    for (file, v) in run.benches() {
        let (mut now, mut before) = (BTreeMap::new(), BTreeMap::new());
        leaves(v, "", &mut now);
        if let Some(p) = run.previous.get(file) {
            leaves(p, "", &mut before);
        }
        for (figure, value) in now {
            if figure == "seed" || figure.ends_with(".seed") {
                continue;
            }
            rows.push(BenchRow { file: file.clone(), before: before.get(&figure).copied(), figure, now: value });
        }
    }
    rows
}

/// (what, how long from the fault's end to recovery in seconds) per chaos scenario and fault.
fn recoveries(run: &Run) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for (file, v) in run.results.iter().filter(|(k, _)| k.starts_with("chaos/")) {
        for f in v["verdict"]["faults"].as_array().into_iter().flatten() {
            if let (Some(ended), Some(recovered)) = (f["ended_ms"].as_f64(), f["recovered_ms"].as_f64()) {
                let name = file.trim_start_matches("chaos/").trim_end_matches(".json");
                out.push((format!("{name}: {} {}", f["action"].as_str().unwrap_or("?"), f["target"].as_str().unwrap_or("?")), (recovered - ended) / 1e3));
            }
        }
    }
    out
}

/// Everything that should make a reader look twice.
pub fn anomalies(run: &Run) -> Vec<String> {
    let mut out: Vec<String> = run.cases.iter().filter(|c| c.failed).map(|c| format!("test failed: {} {}", c.suite, c.name)).collect();
    for (file, v) in &run.results {
        if v["valid"] == Value::Bool(false) || v["verdict"]["valid"] == Value::Bool(false) {
            out.push(format!("{file}: verdict not valid"));
        }
        for key in ["findings", "data_changes"] {
            if let Some(a) = v[key].as_array().filter(|a| !a.is_empty()) {
                out.push(format!("{file}: {} {key}: {}", a.len(), a.iter().take(3).map(|f| f.to_string()).collect::<Vec<_>>().join("; ")));
            }
        }
        for s in v["drift"]["series"].as_array().into_iter().flatten().filter(|s| s["within"] == Value::Bool(false)) {
            out.push(format!("{file}: {} drifted beyond its bound", s["name"].as_str().unwrap_or("?")));
        }
        for e in v["endpoints"].as_array().into_iter().flatten() {
            if e["status_5xx"].as_u64().unwrap_or(0) + e["lost"].as_u64().unwrap_or(0) > 0 {
                out.push(format!("{file}: {} had 5xx or lost answers", e["endpoint"].as_str().unwrap_or("?")));
            }
        }
    }
    for r in bench_rows(run) {
        if let Some(c) = r.change().filter(|c| c.abs() > BENCH_CHANGE_FLAG) {
            out.push(format!("{}: {} moved {:+.0} % against the previous run ({} → {})", r.file, r.figure, c * 100.0, fmt(r.before.unwrap_or(0.0)), fmt(r.now)));
        }
    }
    out
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn by_suite(run: &Run) -> BTreeMap<String, (u64, u64, u64, f64)> {
    let mut out: BTreeMap<String, (u64, u64, u64, f64)> = BTreeMap::new();
    for c in &run.cases {
        let e = out.entry(c.suite.split("::").next().unwrap_or("?").to_string()).or_default();
        if c.skipped {
            e.2 += 1
        } else if c.failed {
            e.1 += 1
        } else {
            e.0 += 1
        }
        e.3 += c.seconds;
    }
    out
}

fn slowest(run: &Run, n: usize) -> Vec<&Case> {
    let mut v: Vec<&Case> = run.cases.iter().collect();
    v.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    v.truncate(n);
    v
}

const PALETTE: [RGBColor; 6] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];

/// Horizontal bars: one per (label, value).
fn bar_chart(title: &str, unit: &str, bars: &[(String, Vec<f64>)], legend: &[&str]) -> Result<String, String> {
    let mut svg = String::new();
    let height = 60 + 22 * bars.len() as u32 * legend.len().max(1) as u32;
    {
        let root = SVGBackend::with_string(&mut svg, (900, height.max(160))).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max = bars.iter().flat_map(|(_, v)| v.iter().copied()).fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let rows = (bars.len() * legend.len().max(1)) as u32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(330)
            .build_cartesian_2d(0.0..max, (0u32..rows.max(1)).into_segmented())
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = bars.iter().flat_map(|(l, _)| std::iter::repeat_n(l.clone(), legend.len().max(1))).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(unit)
            .y_labels(rows as usize)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).filter(|_| (*i as usize).is_multiple_of(legend.len().max(1))).map(|l| l.chars().take(48).collect()).unwrap_or_default(),
                _ => String::new(),
            })
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, name) in legend.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(bars.iter().enumerate().filter_map(|(i, (_, v))| {
                    let y = (i * legend.len() + k) as u32;
                    v.get(k).map(|x| Rectangle::new([(0.0, SegmentValue::Exact(y)), (*x, SegmentValue::Exact(y + 1))], colour.filled()))
                }))
                .map_err(|e| e.to_string())?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        if legend.len() > 1 {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Lines over a shared x axis: one per (name, points).
fn line_chart(title: &str, x_desc: &str, y_desc: &str, lines: &[(String, Vec<(f64, f64)>)]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.0));
        let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|p| p.1));
        let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let y1 = ys.fold(0.0f64, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(70)
            .build_cartesian_2d(x0.min(x1)..x1.max(x0 + 1e-9), 0.0..y1)
            .map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(|e| e.to_string())?;
        for (k, (name, points)) in lines.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The HTML page and the Markdown summary of `run`.
pub fn render(run: &Run) -> Result<(String, String), String> {
    let (mut html, mut md) = (String::new(), String::new());
    let suites = by_suite(run);
    let failed: u64 = suites.values().map(|s| s.1).sum();
    let passed: u64 = suites.values().map(|s| s.0).sum();
    let skipped: u64 = suites.values().map(|s| s.2).sum();
    let anomalies = anomalies(run);
    let verdict = if run.cases.is_empty() {
        "no tests in the JUnit".to_string()
    } else if failed == 0 {
        format!("passed: {passed} tests")
    } else {
        format!("FAILED: {failed} of {} tests", passed + failed)
    };

    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>MVE run report</title><style>body{{font-family:sans-serif;margin:24px;max-width:960px}}table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}td.n{{text-align:right}}.bad{{color:#b00;font-weight:bold}}.ok{{color:#070;font-weight:bold}}</style></head><body>"
    );
    let _ = write!(html, "<h1>MVE run report</h1><p class=\"{}\">{}</p>", if failed == 0 && !run.cases.is_empty() { "ok" } else { "bad" }, esc(&verdict));
    let _ = writeln!(md, "# MVE run report\n\n**{verdict}** ({skipped} skipped); {} anomalies\n", anomalies.len());

    let _ = write!(html, "<h2>Anomalies</h2>");
    let _ = writeln!(md, "## Anomalies\n");
    if anomalies.is_empty() {
        html += "<p>none</p>";
        md += "none\n";
    } else {
        html += "<ul>";
        for a in &anomalies {
            let _ = write!(html, "<li class=\"bad\">{}</li>", esc(a));
            let _ = writeln!(md, "- {a}");
        }
        html += "</ul>";
    }

    let _ = write!(html, "<h2>Pass/fail by suite</h2><table><tr><th>suite</th><th>passed</th><th>failed</th><th>skipped</th><th>time (s)</th></tr>");
    let _ = writeln!(md, "\n## Pass/fail by suite\n\n| suite | passed | failed | skipped | time (s) |\n|---|---:|---:|---:|---:|");
    for (s, (p, f, k, t)) in &suites {
        let _ = write!(html, "<tr><td>{}</td><td class=n>{p}</td><td class=\"n{}\">{f}</td><td class=n>{k}</td><td class=n>{t:.1}</td></tr>", esc(s), if *f > 0 { " bad" } else { "" });
        let _ = writeln!(md, "| {s} | {p} | {f} | {k} | {t:.1} |");
    }
    html += "</table>";

    let slow = slowest(run, 10);
    if !slow.is_empty() {
        let bars: Vec<(String, Vec<f64>)> = slow.iter().map(|c| (format!("{} {}", c.suite, c.name), vec![c.seconds])).collect();
        let _ = write!(html, "<h2>Slowest tests</h2>{}", bar_chart("The ten slowest tests", "seconds", &bars, &["time"])?);
        let _ = writeln!(md, "\n## Slowest tests\n\n| test | s |\n|---|---:|");
        for c in slow {
            let _ = writeln!(md, "| {} {} | {:.1} |", c.suite, c.name, c.seconds);
        }
    }

    for (file, v) in run.results.iter().filter(|(k, _)| k.starts_with("api-robustness/load_")) {
        let endpoints: Vec<(String, Vec<f64>)> = v["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["endpoint"].as_str().unwrap_or("?").to_string(), ["p50_ms", "p95_ms", "p99_ms"].iter().map(|k| e[*k].as_f64().unwrap_or(0.0)).collect()))
            .collect();
        if endpoints.is_empty() {
            continue;
        }
        let title = format!("API latency at {} users ({file})", v["users"]);
        let _ = write!(html, "<h2>API latency</h2>{}", bar_chart(&title, "ms", &endpoints, &["p50", "p95", "p99"])?);
        let _ = writeln!(md, "\n## {title}\n\n| endpoint | requests | p50 ms | p95 ms | p99 ms | errors % |\n|---|---:|---:|---:|---:|---:|");
        for e in v["endpoints"].as_array().into_iter().flatten() {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.2} |",
                e["endpoint"].as_str().unwrap_or("?"),
                e["requests"],
                e["p50_ms"].as_f64().unwrap_or(0.0),
                e["p95_ms"].as_f64().unwrap_or(0.0),
                e["p99_ms"].as_f64().unwrap_or(0.0),
                e["error_rate_pct"].as_f64().unwrap_or(0.0)
            );
        }
    }

    let rec = recoveries(run);
    if !rec.is_empty() {
        let bars: Vec<(String, Vec<f64>)> = rec.iter().map(|(n, s)| (n.clone(), vec![*s])).collect();
        let _ = write!(html, "<h2>Recovery times</h2>{}", bar_chart("From a fault's end to a recovered system (chaos)", "seconds", &bars, &["recovery"])?);
        let _ = writeln!(md, "\n## Recovery times (chaos)\n\n| fault | s |\n|---|---:|");
        for (n, s) in &rec {
            let _ = writeln!(md, "| {n} | {s:.1} |");
        }
    }

    if !run.soak_series.is_empty() {
        let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in &run.soak_series {
            let t = s["t"].as_f64().unwrap_or(0.0) / 60.0;
            for (name, c) in s["containers"].as_object().into_iter().flatten() {
                if let Some(r) = c["rss_kib"].as_f64() {
                    lines.entry(name.clone()).or_default().push((t, r / 1024.0));
                }
            }
        }
        let lines: Vec<_> = lines.into_iter().collect();
        let _ = write!(html, "<h2>Resource curves</h2>{}", line_chart("Soak: resident memory per container", "minutes", "MiB", &lines)?);
        let _ = writeln!(md, "\n## Resource curves\n\nSoak: {} samples of {} containers (plot in the HTML report).", run.soak_series.len(), lines.len());
    }
    for (file, v) in run.results.iter().filter(|(_, v)| v["samples"].as_array().is_some_and(|s| s.first().is_some_and(|x| x["rss_bytes"].is_number()))) {
        let points: Vec<(f64, f64)> = v["samples"].as_array().into_iter().flatten().filter_map(|s| Some((s["iteration"].as_f64()?, s["rss_bytes"].as_f64()? / 1048576.0))).collect();
        let _ = write!(html, "{}", line_chart(&format!("Leak series: {file}"), "iteration", "RSS MiB", &[("rss".to_string(), points)])?);
        let _ = writeln!(md, "- leak series {file}: valid = {}", v["valid"]);
    }

    let rows = bench_rows(run);
    if !rows.is_empty() {
        let _ = write!(html, "<h2>Benchmarks against the previous run</h2><table><tr><th>file</th><th>figure</th><th>previous</th><th>now</th><th>change</th></tr>");
        let _ = writeln!(md, "\n## Benchmarks against the previous run\n\n| file | figure | previous | now | change |\n|---|---|---:|---:|---:|");
        for r in &rows {
            let change = r.change().map(|c| format!("{:+.0} %", c * 100.0)).unwrap_or_else(|| "—".into());
            let flagged = r.change().is_some_and(|c| c.abs() > BENCH_CHANGE_FLAG);
            let before = r.before.map(fmt).unwrap_or_else(|| "—".into());
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=n>{before}</td><td class=n>{}</td><td class=\"n{}\">{change}</td></tr>",
                esc(&r.file),
                esc(&r.figure),
                fmt(r.now),
                if flagged { " bad" } else { "" }
            );
            let _ = writeln!(md, "| {} | {} | {before} | {} | {change} |", r.file, r.figure, fmt(r.now));
        }
        html += "</table>";
    }
    html += "</body></html>\n";
    Ok((html, md))
}

/// Writes `report.html` and `report.md` into `out`, then keeps this run's benchmark files as the
/// next run's previous ones. Returns the two paths.
pub fn write(run: &Run, results: &Path, out: &Path) -> Result<(PathBuf, PathBuf), String> {
    let (html, md) = render(run)?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let (h, m) = (out.join("report.html"), out.join("report.md"));
    std::fs::write(&h, html).map_err(|e| e.to_string())?;
    std::fs::write(&m, md).map_err(|e| e.to_string())?;
    for (file, _) in run.benches() {
        let to = out.join("previous").join(file);
        std::fs::create_dir_all(to.parent().expect("a parent")).map_err(|e| e.to_string())?;
        std::fs::copy(results.join(file), &to).map_err(|e| e.to_string())?;
    }
    Ok((h, m))
}
