CREATE OR REPLACE FUNCTION owcp_final(p_requestor bigint, p_tx text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  t record;
BEGIN
  SELECT tr.id, tr.state, tr.expires_at, a.address AS account,
         q.address AS requestor INTO t
    FROM transactions tr JOIN accounts a ON a.id = tr.account_id
    JOIN requestors q ON q.id = tr.requestor_id
   WHERE tr.id = p_tx AND tr.requestor_id = p_requestor
   FOR UPDATE OF tr;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF t.state = 'answered' THEN
    RETURN 200;
  ELSIF t.state <> 'pending' THEN
    RETURN 408;
  ELSIF t.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  END IF;
  UPDATE transactions SET state = 'cancelled' WHERE id = p_tx;
  PERFORM owcp_log_append('transaction.cancelled', t.account, t.requestor,
                          p_tx, NULL, NULL);
  PERFORM owcp_tx_finished(p_tx, v_now);
  RETURN 408;
END $$;
