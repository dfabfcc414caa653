//! Prometheus watching the MVE, as the release team would run it: [`Monitoring::start`] puts
//! Prometheus (with the alert rules of `monitoring/alerts/`), the MariaDB and Redis exporters and a
//! container exporter beside an [`Mve`], all from the `mve-local/monitoring` image that
//! scripts/setup builds from Debian's packages. [`Prometheus`] is a client of its HTTP API: queries,
//! targets, and alerts with their states, which is how a test proves that an alert fires.
//!
//! Everything stays on the stack's network: Prometheus scrapes the services and exporters by
//! container name, and the container exporter (in the test process) on the network's gateway, like
//! the Stripe simulator. Only Prometheus's API is published, on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use testcontainers::core::{AccessMode, IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::mve::Mve;
use crate::session::{self, LABEL_SERVICE};
use crate::{Error, Result, docker};

/// The image scripts/setup builds (scripts/images/monitoring): Prometheus, promtool, Alertmanager,
/// amtool and the exporters.
pub const IMAGE: &str = "mve-local/monitoring:latest";
/// How often Prometheus scrapes and evaluates the rules: the rules' time scales assume it.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
const PROMETHEUS_PORT: u16 = 9090;
const MYSQLD_EXPORTER_PORT: u16 = 9104;
const REDIS_EXPORTER_PORT: u16 = 9121;
const ALERTMANAGER_PORT: u16 = 9093;

/// `monitoring/` of the workspace: the alert rules, their unit tests and the dashboards. Found from
/// the running test's package directory (nextest remaps it when the tests run from an archive).
pub fn monitoring_dir() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start.ancestors().map(|d| d.join("monitoring")).find(|d| d.join("alerts").is_dir()).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring"))
}

/// One query of a dashboard panel (`monitoring/dashboards/*.json`, Grafana's JSON model).
#[derive(Debug, Clone, PartialEq)]
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
}

/// Every dashboard of `monitoring/dashboards`, parsed, as (file name, JSON), sorted by name.
pub fn dashboards() -> Result<Vec<(String, serde_json::Value)>> {
    let dir = monitoring_dir().join("dashboards");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| Error::Config(format!("{}: {e}", dir.display())))? {
        let path = e.map_err(|e| Error::Config(e.to_string()))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            let value = serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: not JSON: {e}", path.display())))?;
            out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every panel query of every dashboard.
pub fn panel_queries() -> Result<Vec<PanelQuery>> {
    let mut out = Vec::new();
    for (file, board) in dashboards()? {
        for panel in board["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push(PanelQuery { dashboard: file.clone(), panel: panel["title"].as_str().unwrap_or_default().to_string(), expr: target["expr"].as_str().unwrap_or_default().to_string() });
            }
        }
    }
    Ok(out)
}

/// Runs every query in `queries` until each returns series, polling for up to `within`; the
/// queries that still match nothing (a panel that would stay empty) or that Prometheus refuses.
pub async fn empty_panels(prometheus: &Prometheus, queries: &[PanelQuery], within: Duration) -> Vec<String> {
    let left: Mutex<Vec<&PanelQuery>> = Mutex::new(queries.iter().collect());
    let refused: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let _ = crate::wait::until("every panel's query to return series", within, || async {
        let asked: Vec<&PanelQuery> = left.lock().expect("panels lock").clone();
        let mut still = Vec::new();
        for q in asked {
            match prometheus.query(&q.expr).await {
                Ok(series) if !series.is_empty() => {}
                Ok(_) => still.push(q),
                Err(e) => refused.lock().expect("panels lock").push(format!("{} / {}: refused: {e}", q.dashboard, q.panel)),
            }
        }
        let done = still.is_empty();
        *left.lock().expect("panels lock") = still;
        Ok::<_, String>(done.then_some(()))
    })
    .await;
    let left = left.into_inner().expect("panels lock");
    refused.into_inner().expect("panels lock").into_iter().chain(left.iter().map(|q| format!("{} / {}: no series for {}", q.dashboard, q.panel, q.expr))).collect()
}

/// Runs a program of the monitoring image (`promtool`, `amtool`) with `monitoring/` mounted
/// read-only at `/monitoring` as its working directory, on no network; its exit code and output.
pub async fn run_tool(args: &[&str], workdir: &str) -> Result<(i64, String)> {
    let dir = monitoring_dir();
    let session = session::current();
    let (name, tag) = IMAGE.rsplit_once(':').expect("tagged image");
    let container = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::Nothing)
        .with_network("none")
        .with_labels(docker::labels(&session.run_key))
        .with_label(LABEL_SERVICE, "monitoring-tool")
        .with_mount(Mount::bind_mount(dir.to_string_lossy(), "/monitoring").with_access_mode(AccessMode::ReadOnly))
        .with_working_dir(format!("/monitoring/{workdir}"))
        .with_cmd(args.iter().map(|a| a.to_string()))
        .start()
        .await
        .map_err(|e| image_error(e, args[0]))?;
    let code = crate::wait::until(&format!("{} to finish", args[0]), Duration::from_secs(120), || async { container.exit_code().await.map_err(|e| e.to_string()) })
        .await
        .map_err(|t| Error::Config(t.to_string()))?;
    let out = container.stdout_to_vec().await?;
    let err = container.stderr_to_vec().await?;
    Ok((code, format!("{}{}", String::from_utf8_lossy(&out), String::from_utf8_lossy(&err))))
}

fn image_error(e: testcontainers::TestcontainersError, what: &str) -> Error {
    Error::Config(format!("starting {what} from {IMAGE} failed ({e}); scripts/setup builds that image"))
}

/// Prometheus, Alertmanager and the exporters beside one [`Mve`]. Dropping it removes them.
pub struct Monitoring {
    pub prometheus: Prometheus,
    /// What Alertmanager sent each receiver (`monitoring/alertmanager/alertmanager.yml`, its
    /// receivers pointed here).
    pub notifications: Notifications,
    _containers: Vec<ContainerAsync<GenericImage>>,
    _receiver: tokio::task::JoinHandle<()>,
    _exporter: ContainerExporter,
    config: PathBuf,
}

impl Drop for Monitoring {
    fn drop(&mut self) {
        self._receiver.abort();
        let _ = std::fs::remove_dir_all(&self.config);
    }
}

impl Monitoring {
    /// Starts the exporters and Prometheus, and waits until every scrape target is up.
    pub async fn start(mve: &Mve) -> Result<Monitoring> {
        Monitoring::start_with(mve, &[]).await
    }

    /// [`Monitoring::start`] with more scrape targets, as (job, `host:port` reachable from the
    /// stack's network), e.g. a [`TextTarget`] of the test process.
    pub async fn start_with(mve: &Mve, extra: &[(&str, String)]) -> Result<Monitoring> {
        let network = mve.stack.network().ok_or_else(|| Error::NeedsContainer { what: "monitoring".into() })?.to_string();
        let session = session::current();
        let suffix = crate::stack::random_hex(6);
        let name = |what: &str| format!("mve-{}-{what}-{suffix}", session.run_key);
        let start = |what: &'static str, cmd: Vec<String>, env: Vec<(&'static str, String)>, publish: Option<u16>| {
            let (image, tag) = IMAGE.rsplit_once(':').expect("tagged image");
            let mut image = GenericImage::new(image, tag).with_wait_for(WaitFor::Nothing);
            if let Some(port) = publish {
                image = image.with_exposed_port(port.tcp());
            }
            let mut request = image.with_network(&network).with_labels(docker::labels(&session.run_key)).with_label(LABEL_SERVICE, what).with_container_name(name(what)).with_cmd(cmd);
            for (k, v) in env {
                request = request.with_env_var(k, v);
            }
            request
        };
        let mariadb = mve.stack.mariadb()?.container_name().ok_or_else(|| Error::NeedsContainer { what: "monitoring".into() })?.to_string();
        let redis = mve.stack.redis()?.container_name().ok_or_else(|| Error::NeedsContainer { what: "monitoring".into() })?.to_string();
        let mut containers = Vec::new();
        let mysqld = start(
            "mysqld-exporter",
            vec!["prometheus-mysqld-exporter".into(), format!("--web.listen-address=:{MYSQLD_EXPORTER_PORT}")],
            // A dial bounded well inside the scrape's time-out (see the Redis exporter below).
            vec![("DATA_SOURCE_NAME", format!("root:{}@({mariadb}:3306)/?timeout=500ms", crate::service::MARIADB_ROOT_PASSWORD))],
            None,
        );
        containers.push(mysqld.start().await.map_err(|e| image_error(e, "the MariaDB exporter"))?);
        // Its default 15 s connection time-out outlasts the scrape's: with Redis killed (its name no
        // longer resolving on the network) the exporter's target went down, MveMonitoringTargetDown,
        // instead of answering redis_up 0, MveRedisDown (chaos_redis_killed_and_restarted_empty,
        // 2026-12-08).
        let redis_exporter = start(
            "redis-exporter",
            vec!["prometheus-redis-exporter".into(), format!("--redis.addr=redis://{redis}:6379"), "--connection-timeout=500ms".into(), format!("--web.listen-address=:{REDIS_EXPORTER_PORT}")],
            vec![],
            None,
        );
        containers.push(redis_exporter.start().await.map_err(|e| image_error(e, "the Redis exporter"))?);

        let gateway = mve.stack.gateway_ip().await?;
        let mut watched = Vec::new();
        for (label, handle) in [("mariadb", mve.stack.mariadb()?), ("redis", mve.stack.redis()?), ("anvil", mve.stack.anvil()?), ("indexer", &mve.indexer), ("payments", &mve.payments)] {
            if let Some(id) = handle.container_id() {
                watched.push((label.to_string(), id.to_string()));
            }
        }
        let exporter = ContainerExporter::start(gateway, watched).await?;
        let (notifications, receiver_url, receiver) = Notifications::serve(gateway).await?;

        let api = |h: &crate::ServiceHandle| h.container_name().map(|n| format!("{n}:{}", crate::platform::API_PORT)).ok_or_else(|| Error::NeedsContainer { what: "monitoring".into() });
        let targets = [
            ("indexer", api(&mve.indexer)?),
            ("payments", api(&mve.payments)?),
            ("mysqld", format!("{}:{MYSQLD_EXPORTER_PORT}", name("mysqld-exporter"))),
            ("redis", format!("{}:{REDIS_EXPORTER_PORT}", name("redis-exporter"))),
            ("containers", exporter.address.clone()),
        ];
        let targets: Vec<(&str, String)> = targets.into_iter().chain(extra.iter().cloned()).collect();
        let config = crate::results::target_dir().join("tmp").join(format!("prometheus-{}-{suffix}", session.run_key));
        std::fs::create_dir_all(&config).map_err(|e| Error::Config(format!("creating {}: {e}", config.display())))?;
        let alertmanager_name = name("alertmanager");
        std::fs::write(config.join("prometheus.yml"), prometheus_config(&targets, Some(&format!("{alertmanager_name}:{ALERTMANAGER_PORT}"))))
            .map_err(|e| Error::Config(format!("writing the Prometheus configuration: {e}")))?;
        let routing = std::fs::read_to_string(monitoring_dir().join("alertmanager/alertmanager.yml")).map_err(|e| Error::Config(format!("reading monitoring/alertmanager/alertmanager.yml: {e}")))?;
        std::fs::write(config.join("alertmanager.yml"), receivers_at(&routing, &receiver_url)).map_err(|e| Error::Config(format!("writing the Alertmanager configuration: {e}")))?;
        let alertmanager = GenericImage::new(IMAGE.rsplit_once(':').expect("tagged image").0, "latest")
            .with_wait_for(WaitFor::Nothing)
            .with_network(&network)
            .with_labels(docker::labels(&session.run_key))
            .with_label(LABEL_SERVICE, "alertmanager")
            .with_container_name(&alertmanager_name)
            .with_mount(Mount::bind_mount(config.to_string_lossy(), "/etc/mve").with_access_mode(AccessMode::ReadOnly))
            .with_cmd([
                "prometheus-alertmanager".to_string(),
                "--config.file=/etc/mve/alertmanager.yml".into(),
                "--storage.path=/tmp/alertmanager".into(),
                format!("--web.listen-address=:{ALERTMANAGER_PORT}"),
                // Alone: no peers to gossip with (its default listens for a cluster).
                "--cluster.listen-address=".into(),
            ]);
        containers.push(alertmanager.start().await.map_err(|e| image_error(e, "Alertmanager"))?);
        let alerts = monitoring_dir().join("alerts");
        let prometheus = start(
            "prometheus",
            vec!["prometheus".into(), "--config.file=/etc/mve/prometheus.yml".into(), "--storage.tsdb.path=/tmp/prometheus".into(), format!("--web.listen-address=:{PROMETHEUS_PORT}")],
            vec![],
            Some(PROMETHEUS_PORT),
        )
        .with_mount(Mount::bind_mount(config.to_string_lossy(), "/etc/mve").with_access_mode(AccessMode::ReadOnly))
        .with_mount(Mount::bind_mount(alerts.to_string_lossy(), "/etc/mve-alerts").with_access_mode(AccessMode::ReadOnly));
        let prometheus = prometheus.start().await.map_err(|e| image_error(e, "Prometheus"))?;
        let url = format!("http://127.0.0.1:{}", prometheus.get_host_port_ipv4(PROMETHEUS_PORT.tcp()).await?);
        containers.push(prometheus);
        let client = Prometheus::new(&url);
        let jobs: Vec<&str> = targets.iter().map(|(job, _)| *job).collect();
        crate::wait::until("every scrape target up", Duration::from_secs(60), || async {
            let targets = client.targets().await?;
            let down: Vec<String> = jobs.iter().filter(|j| !targets.iter().any(|t| t.job == **j && t.health == "up")).map(|j| j.to_string()).collect();
            if down.is_empty() { Ok(Some(())) } else { Err(format!("not up yet: {down:?} (targets: {targets:?})")) }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))?;
        Ok(Monitoring { prometheus: client, notifications, _containers: containers, _receiver: receiver, _exporter: exporter, config })
    }
}

/// `monitoring/alertmanager/alertmanager.yml` with every webhook receiver's URL replaced by
/// `base/<receiver name>`: the routing under test is the repository's, only where it delivers is
/// the test's.
pub fn receivers_at(routing: &str, base: &str) -> String {
    let mut receiver = String::new();
    routing
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if let Some(name) = trimmed.strip_prefix("- name: ") {
                receiver = name.trim().to_string();
            }
            match trimmed.strip_prefix("- url: ") {
                Some(_) => format!("{}- url: {base}/{receiver}", &line[..line.len() - trimmed.len()]),
                None => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The configuration Prometheus runs with: every target at [`SCRAPE_INTERVAL`], the rules of
/// `monitoring/alerts/*.yml` (mounted at `/etc/mve-alerts`), alerts sent to `alertmanager`.
pub fn prometheus_config(targets: &[(&str, String)], alertmanager: Option<&str>) -> String {
    let secs = SCRAPE_INTERVAL.as_secs_f64();
    let mut out = format!(
        "global:\n  scrape_interval: {secs}s\n  evaluation_interval: {secs}s\n  scrape_timeout: {}ms\nrule_files:\n  - /etc/mve-alerts/*.yml\nscrape_configs:\n",
        (SCRAPE_INTERVAL.as_millis() * 9 / 10)
    );
    for (job, target) in targets {
        out.push_str(&format!("  - job_name: {job}\n    static_configs:\n      - targets: [\"{target}\"]\n"));
    }
    if let Some(am) = alertmanager {
        out.push_str(&format!("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{am}\"]\n"));
    }
    out
}

/// One notification Alertmanager delivered to a webhook receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The receiver it was routed to (the last part of the URL it was posted to).
    pub receiver: String,
    /// `firing` or `resolved`, for the whole group.
    pub status: String,
    /// Each alert of the group: its name, status and labels.
    pub alerts: Vec<(String, String, BTreeMap<String, String>)>,
}

/// The webhook receiver the test runs in place of the platform's paging and ticket bridges.
#[derive(Clone, Default)]
pub struct Notifications {
    seen: Arc<Mutex<Vec<Notification>>>,
}

impl Notifications {
    async fn serve(bind: std::net::IpAddr) -> Result<(Notifications, String, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind((bind, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let notifications = Notifications::default();
        let seen = notifications.seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    if let Some((path, body)) = read_request(&mut socket).await {
                        answer(socket, "text/plain", b"").await;
                        let receiver = path.rsplit('/').next().unwrap_or_default().to_string();
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                            let alerts = v["alerts"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|a| {
                                    let labels: BTreeMap<String, String> = serde_json::from_value(a["labels"].clone()).unwrap_or_default();
                                    (labels.get("alertname").cloned().unwrap_or_default(), a["status"].as_str().unwrap_or_default().to_string(), labels)
                                })
                                .collect();
                            seen.lock().expect("notifications lock").push(Notification { receiver, status: v["status"].as_str().unwrap_or_default().to_string(), alerts });
                        }
                    }
                });
            }
        });
        Ok((notifications, url, task))
    }

    /// Every notification so far, in arrival order.
    pub fn all(&self) -> Vec<Notification> {
        self.seen.lock().expect("notifications lock").clone()
    }

    /// Waits until `receiver` was sent `alert` with `status` (`firing`, `resolved`); how long it
    /// took from the call.
    pub async fn wait_for(&self, receiver: &str, alert: &str, status: &str, within: Duration) -> Result<Duration> {
        let started = Instant::now();
        crate::wait::until(&format!("{receiver} notified of {alert} {status}"), within, || async {
            let all = self.all();
            let hit = all.iter().any(|n| n.receiver == receiver && n.alerts.iter().any(|(name, s, _)| name == alert && s == status));
            if hit {
                Ok::<_, String>(Some(()))
            } else {
                Err(format!("notifications so far: {:?}", all.iter().map(|n| format!("{} {} {:?}", n.receiver, n.status, n.alerts.iter().map(|a| &a.0).collect::<Vec<_>>())).collect::<Vec<_>>()))
            }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))?;
        Ok(started.elapsed())
    }
}

/// Reads one HTTP/1.1 request (its head, and a `content-length` body if any) from a client of the
/// test's own servers (the webhook receiver, the scrape targets); its path and body. `None` if the
/// client is too slow (5 s per read), sends too much, or goes away.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let mut read = async |data: &mut Vec<u8>| match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => {
            data.extend_from_slice(&buf[..n]);
            Some(())
        }
        _ => None,
    };
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() > 64 * 1024 {
            return None;
        }
        read(&mut data).await?;
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let path = head.lines().next()?.split_whitespace().nth(1)?.to_string();
    let length: usize = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse().ok())).unwrap_or(0);
    while data.len() < head_end + length.min(4 * 1024 * 1024) {
        read(&mut data).await?;
    }
    Some((path, data[head_end..].to_vec()))
}

/// Answers 200 with `body` (of `content_type`) and closes the connection.
async fn answer(mut socket: tokio::net::TcpStream, content_type: &str, body: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let head = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(body).await;
    let _ = socket.shutdown().await;
}

/// A client of Prometheus's HTTP API.
#[derive(Clone)]
pub struct Prometheus {
    pub url: String,
    http: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    pub job: String,
    pub health: String,
    pub last_error: String,
}

/// One alert as `/api/v1/alerts` lists it: pending (its condition holds, not yet for its `for:`)
/// or firing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Alert {
    pub name: String,
    pub state: String,
    pub labels: BTreeMap<String, String>,
    pub active_at: Option<String>,
}

/// One series of an instant query: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Prometheus {
    pub fn new(url: &str) -> Prometheus {
        Prometheus { url: url.trim_end_matches('/').to_string(), http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client") }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> std::result::Result<serde_json::Value, String> {
        let mut encoded = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            encoded.append_pair(k, v);
        }
        let response = self.http.get(format!("{}{path}?{}", self.url, encoded.finish())).send().await.map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(|e| format!("GET {path}: {status}, not JSON: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("GET {path} {query:?}: {status}: {}", body["error"]));
        }
        Ok(body["data"].clone())
    }

    pub async fn targets(&self) -> std::result::Result<Vec<Target>, String> {
        let data = self.get("/api/v1/targets", &[("state", "active")]).await?;
        Ok(data["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Target {
                job: t["labels"]["job"].as_str().unwrap_or_default().into(),
                health: t["health"].as_str().unwrap_or_default().into(),
                last_error: t["lastError"].as_str().unwrap_or_default().into(),
            })
            .collect())
    }

    /// An instant query now; a query error (bad PromQL) is an error, no series is an empty list.
    pub async fn query(&self, promql: &str) -> std::result::Result<Vec<Sample>, String> {
        let data = self.get("/api/v1/query", &[("query", promql)]).await?;
        Ok(data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Sample { labels: serde_json::from_value(r["metric"].clone()).unwrap_or_default(), value: r["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN) })
            .collect())
    }

    /// Every pending or firing alert now.
    pub async fn alerts(&self) -> std::result::Result<Vec<Alert>, String> {
        let data = self.get("/api/v1/alerts", &[]).await?;
        Ok(data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let labels: BTreeMap<String, String> = serde_json::from_value(a["labels"].clone()).unwrap_or_default();
                Alert {
                    name: labels.get("alertname").cloned().unwrap_or_default(),
                    state: a["state"].as_str().unwrap_or_default().into(),
                    active_at: a["activeAt"].as_str().map(str::to_string),
                    labels,
                }
            })
            .collect())
    }

    /// The names of the alerts firing now.
    pub async fn firing(&self) -> std::result::Result<Vec<String>, String> {
        let mut names: Vec<String> = self.alerts().await?.into_iter().filter(|a| a.state == "firing").map(|a| a.name).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The names of the alerts that fired at any moment of the last `window` (Prometheus keeps
    /// every alert's history in its `ALERTS` series), so an alert that fired and resolved between
    /// two looks is still seen.
    pub async fn fired_within(&self, window: Duration) -> std::result::Result<std::collections::BTreeSet<String>, String> {
        let query = format!("max by (alertname) (max_over_time(ALERTS{{alertstate=\"firing\"}}[{}s]))", window.as_secs().max(1));
        Ok(self.query(&query).await?.into_iter().filter_map(|s| s.labels.get("alertname").cloned()).collect())
    }

    /// Waits until `alert` fires (its labels including `labels`), polling every 250 ms up to
    /// `within`; how long it took from the call.
    pub async fn wait_firing(&self, alert: &str, labels: &[(&str, &str)], within: Duration) -> Result<Duration> {
        let started = Instant::now();
        crate::wait::until(&format!("alert {alert} {labels:?} to fire"), within, || async {
            let alerts = self.alerts().await?;
            let hit = alerts.iter().any(|a| a.name == alert && a.state == "firing" && labels.iter().all(|(k, v)| a.labels.get(*k).map(String::as_str) == Some(*v)));
            if hit { Ok(Some(())) } else { Err(format!("alerts now: {:?}", alerts.iter().map(|a| format!("{} {} {:?}", a.name, a.state, a.labels)).collect::<Vec<_>>())) }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))?;
        Ok(started.elapsed())
    }

    /// Waits until `alert` is neither pending nor firing; how long it took from the call.
    pub async fn wait_resolved(&self, alert: &str, within: Duration) -> Result<Duration> {
        let started = Instant::now();
        crate::wait::until(&format!("alert {alert} to resolve"), within, || async {
            let alerts = self.alerts().await?;
            let left: Vec<&Alert> = alerts.iter().filter(|a| a.name == alert).collect();
            if left.is_empty() { Ok(Some(())) } else { Err(format!("still: {left:?}")) }
        })
        .await
        .map_err(|t| Error::Config(t.to_string()))?;
        Ok(started.elapsed())
    }
}

/// Memory, CPU, running state and restarts of the stack's containers, from the Docker engine, as a
/// Prometheus target served by the test process on the stack network's gateway: what cAdvisor
/// would give, for the few containers of one stack. Sampled every [`SCRAPE_INTERVAL`] in the
/// background; a scrape reads the last sample.
///
/// - `mve_container_memory_bytes{container}`: memory in use without the reclaimable page cache
///   (the cgroup's usage minus its inactive file pages), what `docker stats` shows;
/// - `mve_container_cpu_seconds_total{container}`; `mve_container_running{container}`;
/// - `mve_container_restarts_total{container}`: how often it was started again since the exporter
///   first saw it (the engine's own restart count covers restart policies only, not a nemesis).
struct ContainerExporter {
    address: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _target: TextTarget,
}

/// A scrape target served by the test process: every GET answers what `render` returns now, in
/// Prometheus's text format. On the stack network's gateway, so that Prometheus reaches it and
/// nothing outside the machine can (the container exporter, the soak's NAR client).
pub struct TextTarget {
    /// `host:port`, as a scrape configuration names it.
    pub address: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TextTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TextTarget {
    pub async fn serve(bind: std::net::IpAddr, render: impl Fn() -> String + Send + Sync + 'static) -> Result<TextTarget> {
        let listener = tokio::net::TcpListener::bind((bind, 0)).await?;
        let address = listener.local_addr()?.to_string();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = render();
                tokio::spawn(async move {
                    if read_request(&mut socket).await.is_some() {
                        answer(socket, "text/plain; version=0.0.4", body.as_bytes()).await;
                    }
                });
            }
        });
        Ok(TextTarget { address, task })
    }
}

impl Drop for ContainerExporter {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Debug, Clone, Default)]
struct ContainerSample {
    memory_bytes: Option<u64>,
    cpu_seconds: Option<f64>,
    running: bool,
    restarts: u64,
    started_at: Option<String>,
}

impl ContainerExporter {
    async fn start(bind: std::net::IpAddr, containers: Vec<(String, String)>) -> Result<ContainerExporter> {
        let docker = docker::connect().await?;
        let samples: Arc<Mutex<BTreeMap<String, ContainerSample>>> = Arc::new(Mutex::new(BTreeMap::new()));
        let sampler = {
            let samples = samples.clone();
            tokio::spawn(async move {
                // The sampling period (pacing, not a wait for anything): a scrape reads the last sample.
                let mut period = tokio::time::interval(SCRAPE_INTERVAL);
                period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    period.tick().await;
                    for (label, id) in &containers {
                        let previous = samples.lock().expect("samples lock").get(label).cloned().unwrap_or_default();
                        let sample = sample_container(&docker, id, previous).await;
                        samples.lock().expect("samples lock").insert(label.clone(), sample);
                    }
                }
            })
        };
        let target = TextTarget::serve(bind, move || render(&samples.lock().expect("samples lock"))).await?;
        let address = target.address.clone();
        Ok(ContainerExporter { address, tasks: vec![sampler], _target: target })
    }
}

async fn sample_container(docker: &testcontainers::bollard::Docker, id: &str, previous: ContainerSample) -> ContainerSample {
    use futures::StreamExt;
    let mut sample = ContainerSample { restarts: previous.restarts, started_at: previous.started_at.clone(), ..Default::default() };
    if let Ok(info) = docker.inspect_container(id, None::<testcontainers::bollard::query_parameters::InspectContainerOptions>).await {
        let state = info.state.unwrap_or_default();
        sample.running = state.running.unwrap_or(false) && !state.paused.unwrap_or(false);
        if let Some(started) = state.started_at {
            if previous.started_at.as_ref().is_some_and(|p| *p != started) {
                sample.restarts += 1;
            }
            sample.started_at = Some(started);
        }
    }
    if sample.running {
        let options = testcontainers::bollard::query_parameters::StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        if let Some(Ok(stats)) = docker.stats(id, Some(options)).next().await {
            if let Some(m) = stats.memory_stats {
                let inactive = m.stats.as_ref().and_then(|s| s.get("total_inactive_file").or_else(|| s.get("inactive_file")).copied()).unwrap_or(0);
                sample.memory_bytes = m.usage.map(|u| u.saturating_sub(inactive));
            }
            sample.cpu_seconds = stats.cpu_stats.and_then(|c| c.cpu_usage).and_then(|u| u.total_usage).map(|ns| ns as f64 / 1e9);
        }
    }
    // A stopped container keeps its last CPU total: the counter must not go back to nothing.
    sample.cpu_seconds = sample.cpu_seconds.or(previous.cpu_seconds);
    sample
}

fn render(samples: &BTreeMap<String, ContainerSample>) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: &dyn Fn(&ContainerSample) -> Option<f64>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (container, s) in samples {
            if let Some(v) = value(s) {
                out.push_str(&format!("{name}{{container=\"{container}\"}} {v}\n"));
            }
        }
    };
    family("mve_container_memory_bytes", "gauge", "Memory in use without reclaimable page cache", &|s| s.memory_bytes.map(|b| b as f64));
    family("mve_container_cpu_seconds_total", "counter", "CPU time used", &|s| s.cpu_seconds);
    family("mve_container_running", "gauge", "1 while the container runs and is not paused", &|s| Some(if s.running { 1.0 } else { 0.0 }));
    family("mve_container_restarts_total", "counter", "Starts after the first one the exporter saw", &|s| Some(s.restarts as f64));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_scrapes_every_target_at_the_rules_interval() {
        let text = prometheus_config(&[("indexer", "mve-x-indexer-1:8080".into()), ("containers", "172.18.0.1:4000".into())], Some("mve-x-alertmanager-1:9093"));
        assert!(text.contains("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"mve-x-alertmanager-1:9093\"]\n"), "{text}");
        assert!(text.contains("scrape_interval: 1s") && text.contains("evaluation_interval: 1s"), "{text}");
        assert!(text.contains("  - job_name: indexer\n    static_configs:\n      - targets: [\"mve-x-indexer-1:8080\"]\n"), "{text}");
        assert!(text.contains("rule_files:\n  - /etc/mve-alerts/*.yml\n"), "{text}");
    }

    #[test]
    fn receivers_are_pointed_at_the_test_and_nothing_else_changes() {
        let routing = "route:\n  receiver: ticket\nreceivers:\n  - name: paging\n    webhook_configs:\n      - url: http://mve-paging:9095/alerts\n        send_resolved: true\n  - name: ticket\n    webhook_configs:\n      - url: http://mve-tickets:9095/alerts\n";
        let out = receivers_at(routing, "http://172.18.0.1:4001");
        assert_eq!(out, routing.trim_end().replace("http://mve-paging:9095/alerts", "http://172.18.0.1:4001/paging").replace("http://mve-tickets:9095/alerts", "http://172.18.0.1:4001/ticket"));
    }

    #[test]
    fn container_samples_render_as_prometheus_text() {
        let samples = BTreeMap::from([("indexer".to_string(), ContainerSample { memory_bytes: Some(1024), cpu_seconds: Some(1.5), running: true, restarts: 2, started_at: None })]);
        let text = render(&samples);
        for line in [
            "mve_container_memory_bytes{container=\"indexer\"} 1024",
            "mve_container_cpu_seconds_total{container=\"indexer\"} 1.5",
            "mve_container_running{container=\"indexer\"} 1",
            "mve_container_restarts_total{container=\"indexer\"} 2",
            "# TYPE mve_container_restarts_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
    }
}
