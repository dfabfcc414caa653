//! Prometheus beside the whole MVE (harness::monitoring): it scrapes every service and exporter,
//! every rule reads series the MVE really exports (a rule whose metric is misspelt would never
//! fire), nothing fires while the MVE is healthy, and a fault fires the alert written for it, and
//! only the alerts expected with it, within a stated detection time, and resolves after recovery.
//! Detection and resolution times go to `target/mve-results/monitoring/<test>.json`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::monitoring::{Monitoring, monitoring_dir};
use harness::mve::Mve;
use monitoring::rules;

/// From the fault to the alert firing: a scrape or two, the rule's `for:` (at most 10 s for the
/// rules proven here) and an evaluation, with room for a busy machine.
const DETECTION: Duration = Duration::from_secs(45);
/// From recovery to the alert gone: the service's own recovery, then a scrape and an evaluation.
const RESOLUTION: Duration = Duration::from_secs(90);

async fn start(seed: u64) -> anyhow::Result<(Mve, Monitoring)> {
    eprintln!("seed {seed}");
    let mve = Mve::start(seed).await?;
    let monitoring = Monitoring::start(&mve).await?;
    Ok((mve, monitoring))
}

/// Reads on both services twice a second until dropped (the load's pacing), so that their request
/// series exist and the request rules have something to judge.
struct Traffic(tokio::task::JoinHandle<()>);

impl Traffic {
    async fn start(mve: &Mve) -> anyhow::Result<Traffic> {
        let api = mve.indexer_api().await?;
        let payments = mve.payments_url().await?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        Ok(Traffic(tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(500));
            loop {
                pace.tick().await;
                let _ = api.status().await;
                let _ = http.get(format!("{payments}/players/p1/balance")).send().await;
            }
        })))
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_mve_is_scraped_whole_every_rule_reads_real_series_and_nothing_fires() -> anyhow::Result<()> {
    let (mve, monitoring) = start(27_001).await?;
    let started = Instant::now();
    let _traffic = Traffic::start(&mve).await?;
    let rules = rules::load(&monitoring_dir().join("alerts"))?;
    // The NAR runs in the game client, not in this stack: the `nar` rules' series come from the
    // soak's NAR client, and the soak checks that Prometheus scraped them.
    let metrics: BTreeSet<String> = rules.iter().filter(|r| r.service.as_deref() != Some("nar")).flat_map(|r| rules::metric_names(&r.expr)).collect();
    harness::wait::until("every metric the rules read to have series", Duration::from_secs(60), || async {
        let mut missing = Vec::new();
        for m in &metrics {
            if monitoring.prometheus.query(&format!("count({m})")).await?.is_empty() {
                missing.push(m.as_str());
            }
        }
        if missing.is_empty() { Ok(Some(())) } else { Err(format!("rules read series Prometheus has not seen from the MVE: {missing:?}")) }
    })
    .await?;
    // Prometheus must have watched the healthy MVE for longer than the longest `for:` of the fast
    // rules (20 s): its own record of the indexer's scrapes says when it has.
    let quiet = Duration::from_secs(35);
    let scrapes = quiet.as_secs() - 2;
    harness::wait::until(&format!("Prometheus to hold {scrapes} scrapes of the last {} s", quiet.as_secs()), quiet + Duration::from_secs(60), || async {
        let held = monitoring.prometheus.query(&format!("count_over_time(up{{job=\"indexer\"}}[{}s])", quiet.as_secs())).await?.first().map_or(0.0, |s| s.value);
        if held >= scrapes as f64 { Ok(Some(())) } else { Err(format!("{held} scrapes so far")) }
    })
    .await?;
    let fired = monitoring.prometheus.fired_within(started.elapsed() + Duration::from_secs(5)).await.map_err(anyhow::Error::msg)?;
    // A rule that must hold longer than this test watches (memory growth, an hour) may be pending
    // here, at start-up; whether it fires is the long soak's question.
    let judged = |name: &str| rules.iter().any(|r| r.alert == name && r.hold <= quiet);
    let pending: Vec<String> =
        monitoring.prometheus.alerts().await.map_err(anyhow::Error::msg)?.into_iter().filter(|a| judged(&a.name)).map(|a| format!("{} {} {:?}", a.name, a.state, a.labels)).collect();
    assert!(fired.is_empty() && pending.is_empty(), "false alarms on a healthy MVE: fired {fired:?}, now {pending:?}");
    harness::results::write_json("monitoring", "steady_state", &serde_json::json!({ "seconds": started.elapsed().as_secs_f64(), "rules": rules.len(), "metrics": metrics, "fired": fired }))?;
    Ok(())
}

/// One fault, proven end to end: `inject`, then the `expected` alert (with `labels`) must fire
/// within [`DETECTION`]; `heal`, then it must resolve within [`RESOLUTION`]. Every alert that fired
/// meanwhile must be in `expected` or `allowed` (consequences of the same fault).
///
/// `receiver`: the alert must also travel on, through Alertmanager and the repository's routing,
/// to that webhook receiver, firing and then resolved (the end-to-end alert test).
#[allow(clippy::too_many_arguments)]
async fn prove<I, H>(name: &str, monitoring: &Monitoring, expected: &str, labels: &[(&str, &str)], allowed: &[&str], receiver: Option<&str>, inject: I, heal: H) -> anyhow::Result<()>
where
    I: std::future::Future<Output = harness::Result<()>>,
    H: std::future::Future<Output = harness::Result<()>>,
{
    let started = Instant::now();
    inject.await?;
    let detection = monitoring.prometheus.wait_firing(expected, labels, DETECTION).await?;
    let notified = match receiver {
        Some(r) => Some(monitoring.notifications.wait_for(r, expected, "firing", DETECTION).await? + detection),
        None => None,
    };
    let healed_at = Instant::now();
    heal.await?;
    let resolution = monitoring.prometheus.wait_resolved(expected, RESOLUTION).await?;
    let notified_resolved = match receiver {
        Some(r) => Some(monitoring.notifications.wait_for(r, expected, "resolved", RESOLUTION).await? + resolution),
        None => None,
    };
    // Routed once, by severity: the alert reached no other receiver.
    let elsewhere: Vec<String> =
        monitoring.notifications.all().into_iter().filter(|n| receiver.is_some_and(|r| n.receiver != r) && n.alerts.iter().any(|a| a.0 == expected)).map(|n| n.receiver).collect();
    assert!(elsewhere.is_empty(), "{name}: {expected} also went to {elsewhere:?}");
    let fired = monitoring.prometheus.fired_within(started.elapsed() + Duration::from_secs(5)).await.map_err(anyhow::Error::msg)?;
    let unexpected: Vec<&String> = fired.iter().filter(|a| a.as_str() != expected && !allowed.contains(&a.as_str())).collect();
    eprintln!("{name}: {expected} fired {:.1} s after the fault, resolved {:.1} s after the heal; fired meanwhile: {fired:?}", detection.as_secs_f64(), resolution.as_secs_f64());
    harness::results::write_json(
        "monitoring",
        name,
        &serde_json::json!({ "alert": expected, "labels": labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), "detection_s": detection.as_secs_f64(), "detection_bound_s": DETECTION.as_secs_f64(), "resolution_s": resolution.as_secs_f64(), "receiver": receiver, "notified_s": notified.map(|d| d.as_secs_f64()), "notified_resolved_s": notified_resolved.map(|d| d.as_secs_f64()), "held_s": healed_at.duration_since(started).as_secs_f64(), "fired": fired }),
    )?;
    assert!(unexpected.is_empty(), "{name}: alerts fired that this fault should not cause: {unexpected:?} (all: {fired:?})");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_stopped_pages_service_down_through_alertmanager_until_it_is_back() -> anyhow::Result<()> {
    let (mve, monitoring) = start(27_002).await?;
    prove(
        "indexer_stopped",
        &monitoring,
        "MveServiceDown",
        &[("service", "indexer"), ("severity", "P0")],
        // Started again: a restart, which pages on its own.
        &["MveContainerRestarted"],
        Some("paging"),
        mve.indexer.stop(),
        async {
            mve.indexer.start().await?;
            mve.indexer.wait_ready(Duration::from_secs(60)).await
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_cut_from_mariadb_fires_its_dependency_alert_until_the_link_is_back() -> anyhow::Result<()> {
    let (mve, monitoring) = start(27_003).await?;
    prove(
        "payments_cut_from_mariadb",
        &monitoring,
        "MveDependencyUnreachable",
        &[("service", "payments"), ("dependency", "database"), ("severity", "P1")],
        &[],
        None,
        mve.payments_db_link.cut(),
        mve.payments_db_link.restore(),
    )
    .await
}
