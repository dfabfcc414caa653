//! The binary refuses a bad configuration with exit code 2 and a message naming the variable,
//! before it touches any network. (Being an integration test also makes `cargo nextest run
//! --workspace` build this binary up front, so the suites' containers find it already built.)

use harness::configuration::ConfigCheck;

const CHECK: ConfigCheck = ConfigCheck {
    program: env!("CARGO_BIN_EXE_mve-indexer"),
    valid: &[
        ("INDEXER_RPC_URL", "http://127.0.0.1:1"),
        ("INDEXER_DATABASE_URL", "mysql://u:p@127.0.0.1:1/db"),
        ("INDEXER_ROBOT_ADDRESS", "0x0000000000000000000000000000000000000001"),
        ("INDEXER_ITEM_ADDRESS", "0x0000000000000000000000000000000000000002"),
        ("INDEXER_NTC_ADDRESS", "0x0000000000000000000000000000000000000003"),
    ],
};

#[test]
fn each_missing_required_variable_is_named() {
    CHECK.assert_each_required_is_named();
}

#[test]
fn malformed_values_are_named() {
    CHECK.assert_each_malformed_is_named(&[
        ("INDEXER_ROBOT_ADDRESS", "0x12"),
        ("INDEXER_START_BLOCK", "-1"),
        ("INDEXER_CONFIRMATIONS", "ten"),
        ("INDEXER_LISTEN", "nowhere"),
        ("INDEXER_POLL_MS", "1.5"),
    ]);
}
