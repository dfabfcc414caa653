//! What every MVE service reports about the requests it serves, in its own Prometheus registry:
//! `http_request_duration_seconds{route, method, code}`, a histogram whose `_count` is also the
//! request counter. The alert rules (monitoring/alerts) read the 5xx share, the p99 latency and
//! the webhook deadline misses from it, so its buckets include the deadlines they compare with
//! (0.5 s, the latency SLO; 2 s, Stripe's webhook deadline in spec/payments.md).
//!
//! `route` is the route's pattern (`/robots/{id}`), never the raw path: a client choosing paths
//! must not be able to create series. Requests no route matched count as `unmatched`.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, Registry};

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

#[derive(Clone)]
pub struct RequestMetrics {
    duration: HistogramVec,
}

impl RequestMetrics {
    /// Registers the histogram in `registry` (once per registry: a second call fails).
    pub fn register(registry: &Registry) -> prometheus::Result<RequestMetrics> {
        let duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Requests served, by route pattern, method and status code, and how long each took").buckets(BUCKETS.to_vec()),
            &["route", "method", "code"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        Ok(RequestMetrics { duration })
    }

    /// `router` with every request observed. Applied outside the body bounds of [`crate::serve`],
    /// so a 408 or 413 they answer is counted too.
    pub fn observe(&self, router: Router) -> Router {
        let metrics = self.clone();
        router.layer(middleware::from_fn(move |request: Request, next: Next| {
            let metrics = metrics.clone();
            async move { metrics.timed(request, next).await }
        }))
    }

    async fn timed(&self, request: Request, next: Next) -> Response {
        let started = Instant::now();
        let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
        let method = request.method().as_str().to_string();
        let response = next.run(request).await;
        self.duration.with_label_values(&[route.as_str(), method.as_str(), response.status().as_str()]).observe(started.elapsed().as_secs_f64());
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use prometheus::{Encoder, TextEncoder};
    use tower::ServiceExt;

    async fn call(router: &Router, path: &str) -> u16 {
        router.clone().oneshot(Request::builder().uri(path).body(Body::empty()).unwrap()).await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_pattern_and_code() {
        let registry = Registry::new();
        let metrics = RequestMetrics::register(&registry).unwrap();
        let router = metrics.observe(Router::new().route("/robots/{id}", get(|| async { "ok" })));
        assert_eq!(call(&router, "/robots/1").await, 200);
        assert_eq!(call(&router, "/robots/2").await, 200);
        assert_eq!(call(&router, "/nowhere").await, 404);
        let mut text = Vec::new();
        TextEncoder::new().encode(&registry.gather(), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains(r#"http_request_duration_seconds_count{code="200",method="GET",route="/robots/{id}"} 2"#), "{text}");
        assert!(text.contains(r#"http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1"#), "{text}");
        assert!(text.contains(r#"le="2""#) && text.contains(r#"le="0.5""#), "the alert rules' deadlines are buckets: {text}");
        assert!(!text.contains("/robots/1"), "a raw path became a label: {text}");
    }
}
