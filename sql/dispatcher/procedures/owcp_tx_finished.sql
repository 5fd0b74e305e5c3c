-- A transaction reached a final state (expired, cancelled): stamp
-- finished_at, then queue DR-Complete and wake RD-Status long polls
-- (owcp_tx_announce). Caller has already logged the event. owcp_reply()
-- does not call this: its answering UPDATE sets finished_at itself.
CREATE OR REPLACE FUNCTION owcp_tx_finished(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_uri text;
BEGIN
  UPDATE transactions SET finished_at = p_now WHERE id = p_tx
    RETURNING completion_uri INTO v_uri;
  PERFORM owcp_tx_announce(p_tx, v_uri, p_now);
END $$;
