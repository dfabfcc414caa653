-- Every dispute of a charge on its own row (Stripe can dispute a charge again, e.g. a chargeback
-- after an inquiry closed as warning_closed), what each purchase still owes as debt, and facts about
-- intents no purchase is linked to yet (parked until one is, instead of consumed for ever).
-- README: "Order independence" and "Debts".

CREATE TABLE purchase_disputes (
  purchase_id   CHAR(32) NOT NULL,
  dispute_id    VARCHAR(255) NOT NULL,
  -- charge.dispute.created's amount, and charge.dispute.closed's status and amount.
  opened_cents  BIGINT NULL,
  closed_status VARCHAR(32) NULL,
  closed_cents  BIGINT NULL,
  loss_booked   TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (purchase_id, dispute_id)
);

INSERT INTO purchase_disputes (purchase_id, dispute_id, opened_cents, closed_status, closed_cents, loss_booked)
  SELECT id, 'before-0003', dispute_cents,
         CASE WHEN dispute_status = 'open' THEN NULL ELSE dispute_status END,
         CASE WHEN dispute_status = 'open' THEN NULL ELSE dispute_cents END,
         booked_loss
  FROM purchases WHERE dispute_status IS NOT NULL;

ALTER TABLE purchases
  -- What the purchase owes back for its disputes, booked so far (taken from the balance or owed).
  ADD COLUMN booked_dispute BIGINT NOT NULL DEFAULT 0,
  -- The part of what it owes back that the balance could not cover: the sum of its debt lines.
  ADD COLUMN owed BIGINT NOT NULL DEFAULT 0;

UPDATE purchases p SET
  booked_dispute = CASE WHEN p.booked_release = 1 THEN 0 ELSE p.booked_hold END,
  owed = (SELECT COALESCE(SUM(d.shortfall), 0) FROM debts d WHERE d.purchase_id = p.id);

ALTER TABLE purchases
  DROP COLUMN dispute_status, DROP COLUMN dispute_cents, DROP COLUMN booked_hold,
  DROP COLUMN hold_taken, DROP COLUMN booked_loss, DROP COLUMN booked_release;

CREATE TABLE parked_facts (
  event_id          VARCHAR(255) NOT NULL PRIMARY KEY,
  payment_intent_id VARCHAR(255) NOT NULL,
  event_type        VARCHAR(64) NOT NULL,
  object            VARCHAR(255) NOT NULL,
  fact              TEXT NOT NULL,
  KEY (payment_intent_id)
);
