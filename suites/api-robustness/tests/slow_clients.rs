//! Slow and greedy clients: slowloris headers, idle and keep-alive connections, bodies that never
//! finish, oversized bodies. Each service must close what it cannot serve within its configured
//! bounds (`<PREFIX>_HTTP_HEADER_TIMEOUT_MS`, `_BODY_TIMEOUT_MS`, `_MAX_CONNECTIONS`; see
//! platform/http) and keep serving everyone else meanwhile. The services run here with short
//! bounds (2 s, 64 connections) so that a test waits seconds, not the production defaults.

mod common;

use std::time::{Duration, Instant};

use api_robustness::raw::{self, RawRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUND_MS: u64 = 2_000;
const CAP: usize = 64;
/// How long the test waits for the server to close a connection before calling it held for ever.
const CLOSE_DEADLINE: Duration = Duration::from_secs(30);

fn bounds() -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    for (k, v) in [("HTTP_HEADER_TIMEOUT_MS", BOUND_MS.to_string()), ("HTTP_BODY_TIMEOUT_MS", BOUND_MS.to_string()), ("HTTP_MAX_CONNECTIONS", CAP.to_string())] {
        env.push((leak(format!("INDEXER_{k}")), v.clone()));
        env.push((leak(format!("PAYMENTS_{k}")), v));
    }
    env
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Reads until the server closes the connection; `Ok(bytes read)` once it has, an error if it
/// did not within [`CLOSE_DEADLINE`]. `trickle`: one more header byte every 500 ms meanwhile.
async fn closed_by_server(mut stream: TcpStream, trickle: bool) -> anyhow::Result<Vec<u8>> {
    let deadline = Instant::now() + CLOSE_DEADLINE;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if Instant::now() > deadline {
            anyhow::bail!("still open after {CLOSE_DEADLINE:?}");
        }
        if trickle {
            let _ = stream.write_all(b"a").await;
        }
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
}

/// `n` requests from one ordinary user; every one must be answered 200.
async fn ordinary_user(base: String, path: &'static str, n: usize) -> Result<(), String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    for i in 0..n {
        match http.get(format!("{base}{path}")).send().await {
            Ok(r) if r.status() == 200 => {}
            Ok(r) => return Err(format!("{base}{path} request {i}: {}", r.status())),
            Err(e) => return Err(format!("{base}{path} request {i}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // a user's pace
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_and_idle_connections_are_closed_while_other_users_are_served() {
    let mve = common::mve_with_history(common::seed(14_201), 5, &bounds()).await.expect("the MVE starts");
    let bases = [mve.indexer.url().await.unwrap(), mve.payments_url().await.unwrap()];
    let paths = ["/robots/1", "/players/history_a/balance"];
    let mut hostile = Vec::new();
    for base in &bases {
        let addr = common::addr(base);
        for i in 0..20 {
            // Slowloris: a request head that never ends, one byte at a time.
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
            hostile.push((format!("{addr} slowloris {i}"), tokio::spawn(closed_by_server(s, true))));
            // Idle: connected, never a byte.
            let s = TcpStream::connect(&addr).await.expect("connect");
            hostile.push((format!("{addr} idle {i}"), tokio::spawn(closed_by_server(s, false))));
        }
        for i in 0..10 {
            // Keep-alive: one request answered, then silence.
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
            hostile.push((format!("{addr} keep-alive {i}"), tokio::spawn(closed_by_server(s, false))));
        }
    }
    let users: Vec<_> = (0..10).map(|i| tokio::spawn(ordinary_user(bases[i % 2].clone(), paths[i % 2], 20))).collect();
    let mut failures = Vec::new();
    for u in users {
        if let Err(e) = u.await.expect("user task") {
            failures.push(format!("an ordinary user was not served: {e}"));
        }
    }
    for (what, h) in hostile {
        if let Err(e) = h.await.expect("hostile task") {
            failures.push(format!("{what}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));

    // Beyond the cap: more idle connections than slots; a newcomer waits for one, not for ever.
    let mut idle = Vec::new();
    for base in &bases {
        for _ in 0..CAP + 16 {
            idle.push(TcpStream::connect(common::addr(base)).await.expect("connect"));
        }
    }
    let newcomers: Vec<_> = bases.iter().zip(paths).map(|(b, p)| tokio::spawn(ordinary_user(b.clone(), p, 1))).collect();
    for n in newcomers {
        n.await.expect("task").expect("a newcomer beyond the connection cap is served once idle connections time out");
    }
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_never_finishes_gets_408_and_oversized_bodies_413_while_other_users_are_served() {
    let mve = common::mve_with_history(common::seed(14_202), 5, &bounds()).await.expect("the MVE starts");
    let payments = mve.payments_url().await.unwrap();
    let addr = common::addr(&payments);
    let before = api_robustness::data::Fingerprint::take(&mve).await.expect("fingerprint");
    let users = tokio::spawn(ordinary_user(payments.clone(), "/players/history_a/balance", 30));

    let mut stalled = Vec::new();
    for path in ["/purchases", "/players/history_a/spend", "/webhooks/stripe"] {
        for _ in 0..5 {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.write_all(format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"credits\":").as_bytes()).await.expect("write");
            stalled.push((path, tokio::spawn(closed_by_server(s, false))));
        }
    }
    let oversized: Vec<_> = (0..10)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { raw::send(&addr, &RawRequest::new("POST", "/purchases").json(vec![b' '; 2 * 1024 * 1024]), Duration::from_secs(20)).await })
        })
        .collect();

    let mut failures = Vec::new();
    for (path, s) in stalled {
        match s.await.expect("task") {
            Err(e) => failures.push(format!("POST {path} with a stalled body: {e}")),
            Ok(bytes) => match raw::parse(&bytes) {
                Ok(a) if a.status == 408 && a.json_error().is_some() => {}
                Ok(a) => failures.push(format!("POST {path} with a stalled body: {} {}", a.status, a.body_text())),
                Err(e) => failures.push(format!("POST {path} with a stalled body: closed without an answer ({e})")),
            },
        }
    }
    for o in oversized {
        match o.await.expect("task") {
            Ok(a) if a.status == 413 && a.json_error().is_some() => {}
            Ok(a) => failures.push(format!("a 2 MiB purchase: {} {}", a.status, a.body_text())),
            Err(e) => failures.push(format!("a 2 MiB purchase: {e:#}")),
        }
    }
    if let Err(e) = users.await.expect("user task") {
        failures.push(format!("an ordinary user was not served: {e}"));
    }
    let changes = api_robustness::data::Fingerprint::take(&mve).await.expect("fingerprint").changes_since(&before);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(changes.is_empty(), "slow and oversized requests changed data: {changes:?}");
}
