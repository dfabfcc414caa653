-- Terminal facts kept as facts, so that the status is derived from them whatever their arrival
-- order (README: "Order independence"), and a released dispute recorded once.

ALTER TABLE purchases
  ADD COLUMN succeeded      TINYINT NOT NULL DEFAULT 0,
  ADD COLUMN canceled       TINYINT NOT NULL DEFAULT 0,
  -- The failure that names failure_reason: the latest by (event created, event id).
  ADD COLUMN failure_key    VARCHAR(300) NULL,
  ADD COLUMN booked_release TINYINT NOT NULL DEFAULT 0;

UPDATE purchases SET succeeded = 1 WHERE status = 'SUCCEEDED';
UPDATE purchases SET canceled = 1 WHERE status = 'CANCELLED';
UPDATE purchases SET failure_key = '' WHERE failure_reason IS NOT NULL;
UPDATE purchases SET booked_release = 1 WHERE dispute_status = 'won' AND booked_hold > 0 AND hold_taken = 0;
