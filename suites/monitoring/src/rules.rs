//! The alert rules of `monitoring/alerts/*.yml`, read as data.

use std::collections::BTreeSet;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

/// Severities and what they mean for routing: P0 and P1 page, P2 opens a ticket.
pub const SEVERITIES: [&str; 3] = ["P0", "P1", "P2"];

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub file: String,
    pub group: String,
    pub alert: String,
    pub expr: String,
    /// How long the condition must hold before the alert fires (`for:`); zero when absent.
    pub hold: std::time::Duration,
    pub severity: Option<String>,
    pub service: Option<String>,
    pub summary: Option<String>,
}

/// Every alerting rule of every `*.yml` directly in `dir`, in file order.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Rule>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "yml")).collect();
    files.sort();
    let mut rules = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let docs = YamlLoader::load_from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for doc in &docs {
            for group in doc["groups"].as_vec().into_iter().flatten() {
                for rule in group["rules"].as_vec().into_iter().flatten() {
                    let Some(alert) = rule["alert"].as_str() else { continue };
                    let text = |y: &Yaml| y.as_str().map(str::to_string);
                    rules.push(Rule {
                        file: file.clone(),
                        group: group["name"].as_str().unwrap_or_default().to_string(),
                        alert: alert.to_string(),
                        expr: rule["expr"].as_str().unwrap_or_default().to_string(),
                        hold: rule["for"].as_str().map(duration).transpose().map_err(|e| anyhow::anyhow!("{}: {alert}: for: {e}", path.display()))?.unwrap_or_default(),
                        severity: text(&rule["labels"]["severity"]),
                        service: text(&rule["labels"]["service"]),
                        summary: text(&rule["annotations"]["summary"]),
                    });
                }
            }
        }
    }
    Ok(rules)
}

/// A Prometheus duration of one unit (`10s`, `15m`, `1h`, `500ms`).
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| format!("{text:?}: no unit"))?;
    let n: u64 = text[..split].parse().map_err(|e| format!("{text:?}: {e}"))?;
    let secs = match &text[split..] {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        "d" => n * 86_400,
        unit => return Err(format!("{text:?}: unit {unit:?} not read here")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

/// The metric names a PromQL expression reads: identifiers that are neither functions (followed
/// by `(`), nor keywords, nor the label lists of `by (...)` and friends; label matchers, strings
/// and range selectors are skipped. Enough for the rules here, not a PromQL parser.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 11] = ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"];
    const AGGREGATIONS: [&str; 12] = ["sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values"];
    const LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            i += if chars[i] == '\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_list => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                skip_list = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let call = j < chars.len() && chars[j] == '(';
                if LISTS.contains(&word.as_str()) {
                    skip_list = true;
                } else {
                    let not_a_name = call || KEYWORDS.contains(&word.as_str()) || AGGREGATIONS.contains(&word.as_str());
                    if !not_a_name {
                        names.insert(word);
                    }
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // A number, with an exponent or a unit (1e3, 5m) kept out of the names.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_prometheus_writes_them() {
        assert_eq!(duration("15m"), Ok(std::time::Duration::from_secs(900)));
        assert_eq!(duration("500ms"), Ok(std::time::Duration::from_millis(500)));
        assert!(duration("5").is_err() && duration("1y").is_err());
    }

    #[test]
    fn metric_names_leave_out_functions_keywords_labels_and_strings() {
        let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
        assert_eq!(names(r#"up{job=~"indexer|payments"} == 0"#), ["up"]);
        assert_eq!(names(r#"histogram_quantile(0.99, sum by (job, le) (rate(http_request_duration_seconds_bucket{route!~"/metrics"}[1m]))) > 0.5"#), ["http_request_duration_seconds_bucket"]);
        assert_eq!(names(r#"label_replace(indexer_dependency_up, "service", "indexer", "", "") == 0 or payments_dependency_up == 0"#), ["indexer_dependency_up", "payments_dependency_up"]);
        assert_eq!(names("deriv(mve_container_memory_bytes[15m]) > 64 * 1024 * 1024 / 3600"), ["mve_container_memory_bytes"]);
        assert_eq!(names("a_total offset 5m / on (job) group_left (x) b"), ["a_total", "b"]);
    }
}
