//! Alert routing as code (`monitoring/alertmanager/alertmanager.yml`): Alertmanager accepts it
//! (`amtool check-config`), and every rule of `monitoring/alerts` is routed by its severity as the
//! platform intends, P0 and P1 to the paging receiver and the rest to a ticket
//! (`amtool config routes test --verify.receivers`), in a container of the monitoring image.

use harness::monitoring::{monitoring_dir, run_tool};
use monitoring::rules;

/// The receiver each severity must reach.
fn receiver(severity: &str) -> &'static str {
    if matches!(severity, "P0" | "P1") { "paging" } else { "ticket" }
}

#[tokio::test]
async fn amtool_accepts_the_routing() -> anyhow::Result<()> {
    let (code, out) = run_tool(&["amtool", "check-config", "alertmanager.yml"], "alertmanager").await?;
    assert_eq!(code, 0, "amtool check-config:\n{out}");
    assert!(out.contains("SUCCESS") && out.contains("2 receivers"), "amtool check-config:\n{out}");
    Ok(())
}

#[tokio::test]
async fn every_rule_is_routed_by_its_severity() -> anyhow::Result<()> {
    let rules = rules::load(&monitoring_dir().join("alerts"))?;
    // One container for every check: each line says what it tested and whether amtool agreed.
    let mut script = String::new();
    for r in &rules {
        let severity = r.severity.clone().unwrap_or_default();
        let want = receiver(&severity);
        script.push_str(&format!(
            "if amtool config routes test --config.file=alertmanager.yml --verify.receivers={want} alertname={alert} severity={severity} service={service} >/dev/null 2>&1; then echo 'ok {alert} {want}'; else echo \"WRONG {alert} severity={severity}: expected {want}, routed to $(amtool config routes test --config.file=alertmanager.yml alertname={alert} severity={severity} service={service} 2>/dev/null)\"; fi\n",
            alert = r.alert,
            service = r.service.clone().filter(|s| !s.contains('{')).unwrap_or_else(|| "any".into()),
        ));
    }
    let (code, out) = run_tool(&["sh", "-c", &script], "alertmanager").await?;
    assert_eq!(code, 0, "the routing checks did not run:\n{out}");
    let wrong: Vec<&str> = out.lines().filter(|l| l.starts_with("WRONG")).collect();
    let ok = out.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(wrong.is_empty(), "rules routed against their severity:\n{}", wrong.join("\n"));
    assert_eq!(ok, rules.len(), "not every rule was checked:\n{out}");
    Ok(())
}
