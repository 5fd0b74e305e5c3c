-- 008: fair DR-Complete delivery. The sender claims due rows round-robin
-- between requestors (procedures/owcp_outbox_claim.sql), so one requestor's
-- backlog cannot starve another's completions. That needs each row's
-- requestor beside its schedule, indexed, so that a claim costs one index
-- probe per requestor whatever the backlog.
--
-- requestor_id is copied from the transaction by a trigger, so the
-- procedures that queue outbox rows (owcp_tx_finished) need not change.
ALTER TABLE outbox ADD COLUMN requestor_id bigint REFERENCES requestors (id);
UPDATE outbox o SET requestor_id = t.requestor_id
  FROM transactions t WHERE t.id = o.transaction_id;
ALTER TABLE outbox ALTER COLUMN requestor_id SET NOT NULL;

CREATE FUNCTION owcp_outbox_requestor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.requestor_id IS NULL THEN
    SELECT requestor_id INTO NEW.requestor_id FROM transactions
     WHERE id = NEW.transaction_id;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER outbox_requestor BEFORE INSERT ON outbox
  FOR EACH ROW EXECUTE FUNCTION owcp_outbox_requestor();

CREATE INDEX outbox_due_requestor ON outbox (requestor_id, next_attempt_at, id)
  WHERE delivered_at IS NULL AND failed_at IS NULL;
