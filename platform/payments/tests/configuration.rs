//! The binary refuses a bad configuration with exit code 2 and a message naming the variable,
//! before it touches any network. (Being an integration test also makes `cargo nextest run
//! --workspace` build this binary up front, so the suites' containers find it already built.)

use harness::configuration::ConfigCheck;

const CHECK: ConfigCheck = ConfigCheck {
    program: env!("CARGO_BIN_EXE_mve-payments"),
    valid: &[
        ("PAYMENTS_DATABASE_URL", "mysql://u:p@127.0.0.1:1/db"),
        ("PAYMENTS_STRIPE_API_BASE", "http://127.0.0.1:1"),
        ("PAYMENTS_STRIPE_SECRET_KEY", "sk_test_x"),
        ("PAYMENTS_WEBHOOK_SECRETS", "whsec_a"),
    ],
};

#[test]
fn each_missing_required_variable_is_named() {
    CHECK.assert_each_required_is_named();
}

#[test]
fn malformed_values_are_named() {
    CHECK.assert_each_malformed_is_named(&[
        ("PAYMENTS_WEBHOOK_SECRETS", " , "),
        ("PAYMENTS_LISTEN", "nowhere"),
        ("PAYMENTS_STRIPE_MAX_RETRIES", "many"),
        ("PAYMENTS_STRIPE_TIMEOUT_MS", "-5"),
        ("PAYMENTS_MAX_BODY_BYTES", "1e6"),
    ]);
}
