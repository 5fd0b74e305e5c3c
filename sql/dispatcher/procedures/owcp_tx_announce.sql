-- The effects of a transaction's final state once it is stored (state and
-- finished_at set): queue DR-Complete when the requestor asked for it
-- (p_completion, the transaction's completion_uri) and wake RD-Status long
-- polls (through owcp_notify, so after the commit on the dispatcher's
-- connections). owcp_tx_finished() calls it after setting finished_at;
-- owcp_reply() sets finished_at in its answering UPDATE and does the same
-- as this function in its own body (one function call less per flow).
CREATE OR REPLACE FUNCTION owcp_tx_announce(p_tx text, p_completion text,
                                            p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_completion IS NOT NULL THEN
    INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at)
    VALUES (p_tx, p_completion, p_now, p_now);
  END IF;
  PERFORM owcp_notify('tx:' || p_tx);
END $$;
