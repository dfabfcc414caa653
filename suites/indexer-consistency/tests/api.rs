//! The indexer's HTTP API: bad input is a 4xx with a message and never a 5xx; health, status and
//! Prometheus metrics say what they should.

mod common;

use common::Env;
use harness::generator::Workload;
use proptest::prelude::*;
use tokio::sync::OnceCell;

/// One indexer with a little state, shared by this binary's API tests (they only read).
async fn fixture() -> &'static (Env, common::Indexer) {
    static FIXTURE: OnceCell<(Env, common::Indexer)> = OnceCell::const_new();
    FIXTURE
        .get_or_init(|| async {
            let env = Env::shared().await.expect("environment");
            let indexer = env.start_indexer().await.expect("indexer");
            let mut generator = env.generator(4_501);
            env.run(&mut generator, &Workload::new(4_501, 30)).await.expect("workload");
            env.settle(&indexer).await.expect("settled");
            (env, indexer)
        })
        .await
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime"))
}

async fn expect(path: &str, status: u16, message_has: &str) {
    let (_, indexer) = fixture().await;
    let answer = indexer.api.get(path).await.expect("answer");
    assert_eq!(answer.status, status, "GET {path}: {}", answer.body);
    let message = answer.body["error"].as_str().unwrap_or_default();
    assert!(message.contains(message_has), "GET {path}: message {message:?} should mention {message_has:?}");
}

#[test]
fn bad_ids_and_addresses_are_400_with_the_reason() {
    runtime().block_on(async {
        expect("/robots/abc", 400, "positive integer").await;
        expect("/robots/0", 400, "positive integer").await;
        expect("/robots/-1", 400, "positive integer").await;
        expect("/robots/99999999999999999999999", 400, "positive integer").await;
        expect("/items/1.5", 400, "positive integer").await;
        expect("/owners/0x1234/balance", 400, "20-byte hex address").await;
        expect("/owners/0xZZ00000000000000000000000000000000000000/items", 400, "20-byte hex address").await;
        expect("/owners/f39fd6e51aad88f6f4ce6ab8827279cfffb92266/balance", 400, "20-byte hex address").await;
    });
}

#[test]
fn bad_query_parameters_are_400_with_the_reason() {
    runtime().block_on(async {
        expect("/robots/1?at=yesterday", 400, "block number").await;
        expect("/robots/1?colour=red", 400, "unknown query parameter").await;
        expect("/events", 400, "from=<block> is required").await;
        expect("/events?from=10&to=2", 400, "after").await;
        expect("/events?from=0&to=20000", 400, "spans more than").await;
        expect("/events?from=0&to=5&limit=0", 400, "limit").await;
        expect("/events?from=0&to=5&limit=1000000", 400, "limit").await;
    });
}

#[test]
fn unknown_things_are_404_and_future_blocks_409() {
    runtime().block_on(async {
        expect("/robots/424242", 404, "does not exist").await;
        expect("/items/424242", 404, "does not exist").await;
        expect("/no/such/endpoint", 404, "no such endpoint").await;
        expect("/robots/1?at=100000000", 409, "not indexed yet").await;
    });
}

#[test]
fn health_status_and_metrics_report_the_indexer() {
    runtime().block_on(async {
        let (env, indexer) = fixture().await;
        let health = indexer.api.get("/health").await.expect("health");
        assert_eq!((health.status, health.body["status"].as_str()), (200, Some("ok")));
        let status = indexer.api.status().await.expect("status");
        let (head, _) = env.head().await.expect("head");
        assert_eq!(status.chain_head, Some(head));
        assert_eq!(status.current_block, Some(head));
        assert_eq!(status.lag, Some(0));
        assert!(status.chain_reachable && status.database_reachable && status.redis_reachable == Some(true));
        assert!(status.events_indexed > 30);
        let metrics = indexer.api.get("/metrics").await.expect("metrics");
        let text = metrics.body.as_str().expect("text");
        for line in [format!("indexer_current_block {head}"), format!("indexer_chain_head {head}"), "indexer_lag_blocks 0".into()] {
            assert!(text.lines().any(|l| l == line), "metrics should have {line:?}:\n{text}");
        }
        assert!(text.contains("indexer_events_total") && text.contains("indexer_http_requests_total"));
    });
}

proptest! {
    #![proptest_config(harness::property::config("no_input_gets_a_5xx", harness::property::cases(200), concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/api.txt")))]

    /// Whatever a client puts in a path segment or query, the answer is never a 5xx.
    #[test]
    fn no_input_gets_a_5xx(segment in "[a-zA-Z0-9%._~:-]{0,70}", at in "[0-9a-z-]{0,25}", endpoint in 0..6usize) {
        let path = match endpoint {
            0 => format!("/robots/{segment}?at={at}"),
            1 => format!("/items/{segment}"),
            2 => format!("/owners/{segment}/items?at={at}"),
            3 => format!("/owners/{segment}/balance"),
            4 => format!("/events?from={at}&to={segment}"),
            _ => format!("/{segment}"),
        };
        let answer = runtime().block_on(async { fixture().await.1.api.get(&path).await.expect("answer") });
        prop_assert!(answer.status < 500, "GET {} answered {} {}", path, answer.status, answer.body);
    }
}
