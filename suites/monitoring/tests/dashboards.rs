//! Dashboards as code (`monitoring/dashboards/*.json`, Grafana's dashboard JSON model). Grafana is
//! in no registry this machine reaches, so what can be tested without it is: the JSON is a
//! dashboard Grafana loads (schema version, a Prometheus datasource chosen by variable, unique
//! ids and uids, a position for every panel), and every panel's query runs against the Prometheus
//! of a running MVE under load and returns series: a panel whose query matches nothing fails.

use std::collections::BTreeSet;
use std::time::Duration;

use harness::monitoring::{Monitoring, PanelQuery};
use harness::mve::{Load, Mve};
use serde_json::Value;

/// Grafana 10's schema version; older dashboards are migrated on load, newer ones not understood.
const SCHEMA_VERSION: u64 = 39;

fn dashboards() -> anyhow::Result<Vec<(String, Value)>> {
    let out = harness::monitoring::dashboards()?;
    anyhow::ensure!(out.len() >= 5, "expected the overview, indexer, payments, databases and NAR dashboards, found {}", out.len());
    Ok(out)
}

#[test]
fn every_dashboard_is_grafana_dashboard_json_on_a_datasource_variable() -> anyhow::Result<()> {
    let boards = dashboards()?;
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (file, b) in &boards {
        let uid = b["uid"].as_str().unwrap_or_default();
        if uid.is_empty() || uid.len() > 40 || !uids.insert(uid.to_string()) {
            problems.push(format!("{file}: uid {uid:?} missing, longer than Grafana's 40 characters, or not unique"));
        }
        if b["title"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{file}: no title"));
        }
        if b["schemaVersion"].as_u64() != Some(SCHEMA_VERSION) {
            problems.push(format!("{file}: schemaVersion {} (expected {SCHEMA_VERSION})", b["schemaVersion"]));
        }
        let variables = b["templating"]["list"].as_array().cloned().unwrap_or_default();
        if !variables.iter().any(|v| v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus") {
            problems.push(format!("{file}: no `datasource` variable of type datasource over prometheus (the datasource must be chosen on import, not fixed)"));
        }
        let mut ids = BTreeSet::new();
        for p in b["panels"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or_default();
            let Some(id) = p["id"].as_u64() else {
                problems.push(format!("{file}: panel {title:?} has no numeric id"));
                continue;
            };
            if !ids.insert(id) {
                problems.push(format!("{file}: panel id {id} used twice"));
            }
            if ["h", "w", "x", "y"].iter().any(|k| p["gridPos"][k].as_u64().is_none()) || p["gridPos"]["x"].as_u64().unwrap_or(0) + p["gridPos"]["w"].as_u64().unwrap_or(0) > 24 {
                problems.push(format!("{file}: panel {title:?} has no gridPos inside Grafana's 24 columns"));
            }
            let ds_ok = |d: &Value| d["type"] == "prometheus" && d["uid"] == "${datasource}";
            if !ds_ok(&p["datasource"]) {
                problems.push(format!("{file}: panel {title:?} datasource is {} (expected prometheus, uid ${{datasource}})", p["datasource"]));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{file}: panel {title:?} has no query"));
            }
            let mut refs = BTreeSet::new();
            for t in &targets {
                if t["expr"].as_str().is_none_or(str::is_empty) || !refs.insert(t["refId"].as_str().unwrap_or_default().to_string()) || !ds_ok(&t["datasource"]) {
                    problems.push(format!("{file}: panel {title:?} has a query without expr, with a repeated refId, or on another datasource: {t}"));
                }
            }
        }
        if ids.is_empty() {
            problems.push(format!("{file}: no panels"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// The NAR runs in the game client, not in this stack: `nar.json` is checked by the soak, whose NAR
/// client Prometheus scrapes (`soak_*`, every dashboard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_series_from_a_running_mve() -> anyhow::Result<()> {
    let queries: Vec<PanelQuery> = harness::monitoring::panel_queries()?.into_iter().filter(|q| q.dashboard != "nar.json").collect();
    let seed = 27_010;
    eprintln!("seed {seed}");
    let mve = std::sync::Arc::new(Mve::start(seed).await?);
    let monitoring = Monitoring::start(&mve).await?;
    // The chaos suite's mixed load: chain operations, purchases, webhooks, reads on both services.
    let load = Load::start(mve.clone(), seed);
    load.warm_up().await?;
    let empty = harness::monitoring::empty_panels(&monitoring.prometheus, &queries, Duration::from_secs(90)).await;
    load.stop(&mve).await?;
    assert!(empty.is_empty(), "panels whose query matched nothing (or was refused) on a running MVE under load:\n{}", empty.join("\n"));
    harness::results::write_json("monitoring", "dashboards", &serde_json::json!({ "queries": queries.len() }))?;
    Ok(())
}
