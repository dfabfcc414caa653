//! The `stripe-webhooks` suite: see README.md. Tests in `tests/`, the benchmark in `benches/`;
//! the Stripe simulator is the harness's (`harness::stripe`).
