-- Purchases, the credit ledger (the balance is its sum), debts, and the webhook events applied.

CREATE TABLE purchases (
  id                 CHAR(32) NOT NULL PRIMARY KEY,
  player_id          VARCHAR(64) NOT NULL,
  credits            BIGINT NOT NULL,
  status             VARCHAR(16) NOT NULL,
  payment_intent_id  VARCHAR(255) NULL UNIQUE,
  client_secret      VARCHAR(255) NULL,
  failure_reason     TEXT NULL,
  review_reason      TEXT NULL,
  -- What the events said so far, merged so that arrival order does not matter.
  refunded_cents     BIGINT NOT NULL DEFAULT 0,
  dispute_status     VARCHAR(16) NULL,
  dispute_cents      BIGINT NOT NULL DEFAULT 0,
  -- What the ledger holds for this purchase already (credits owed, whether taken or owed as debt).
  booked_purchase    BIGINT NOT NULL DEFAULT 0,
  booked_refund      BIGINT NOT NULL DEFAULT 0,
  booked_hold        BIGINT NOT NULL DEFAULT 0,
  hold_taken         BIGINT NOT NULL DEFAULT 0,
  booked_loss        TINYINT NOT NULL DEFAULT 0,
  created_at         TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY (player_id)
);

CREATE TABLE ledger (
  id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  player_id     VARCHAR(64) NOT NULL,
  amount        BIGINT NOT NULL,
  kind          VARCHAR(20) NOT NULL,
  purchase_id   CHAR(32) NULL,
  stripe_object VARCHAR(255) NULL,
  stripe_event  VARCHAR(255) NULL,
  created_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY (player_id)
);

-- A refund or dispute larger than the balance: the balance stops at zero, the rest is owed here.
CREATE TABLE debts (
  id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  player_id     VARCHAR(64) NOT NULL,
  shortfall     BIGINT NOT NULL,
  kind          VARCHAR(20) NOT NULL,
  purchase_id   CHAR(32) NULL,
  stripe_object VARCHAR(255) NULL,
  stripe_event  VARCHAR(255) NULL,
  created_at    TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY (player_id)
);

CREATE TABLE balances (
  player_id VARCHAR(64) NOT NULL PRIMARY KEY,
  credits   BIGINT NOT NULL
);

-- One row per Stripe event ever applied (or ignored): the primary key is the deduplication.
CREATE TABLE webhook_events (
  event_id    VARCHAR(255) NOT NULL PRIMARY KEY,
  type        VARCHAR(64) NOT NULL,
  outcome     VARCHAR(32) NOT NULL,
  received_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
);
