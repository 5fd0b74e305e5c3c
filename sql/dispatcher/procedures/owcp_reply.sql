-- CD-Reply. The receipt has been verified in C against this transaction and
-- client before this is called; here only the state race is decided.
CREATE OR REPLACE FUNCTION owcp_reply(p_tx text, p_client text, p_response text,
                           p_reason text, p_verification text[],
                           p_receipt bytea, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_cl record;
  t record;
BEGIN
  SELECT c.id, c.account_id, a.address INTO v_cl
    FROM clients c JOIN accounts a ON a.id = c.account_id
   WHERE c.id = p_client AND c.status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  SELECT tr.id, tr.state, tr.expires_at, q.address AS requestor INTO t
    FROM transactions tr JOIN requestors q ON q.id = tr.requestor_id
   WHERE tr.id = p_tx AND tr.account_id = v_cl.account_id
   FOR UPDATE OF tr;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF t.state = 'answered' THEN
    RETURN 409;
  ELSIF t.state <> 'pending' THEN
    RETURN 408;
  ELSIF t.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  END IF;
  UPDATE transactions
     SET state = 'answered', response = p_response, reason = p_reason,
         verification = coalesce(p_verification, '{}'), client_id = p_client,
         responded_at = v_now, receipt = p_receipt
   WHERE id = p_tx;
  PERFORM owcp_log_append('transaction.answered', v_cl.address, t.requestor,
                          p_tx, p_client, 'response=' || p_response);
  PERFORM owcp_tx_finished(p_tx, v_now);
  RETURN 200;
END $$;
