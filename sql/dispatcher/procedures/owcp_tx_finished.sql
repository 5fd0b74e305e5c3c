-- A transaction reached a final state: queue DR-Complete (when asked for)
-- and wake RD-Status long polls (through owcp_notify, so after the commit on
-- the dispatcher's connections). Caller has already logged the event.
CREATE OR REPLACE FUNCTION owcp_tx_finished(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_uri text;
BEGIN
  UPDATE transactions SET finished_at = p_now WHERE id = p_tx
    RETURNING completion_uri INTO v_uri;
  IF v_uri IS NOT NULL THEN
    INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at)
    VALUES (p_tx, v_uri, p_now, p_now);
  END IF;
  PERFORM owcp_notify('tx:' || p_tx);
END $$;
