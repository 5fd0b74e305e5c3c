-- Marks one locked pending transaction expired, with its evidence.
CREATE OR REPLACE FUNCTION owcp_tx_expire_locked(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  UPDATE transactions t SET state = 'expired' WHERE t.id = p_tx
    RETURNING t.account_id, t.requestor_id INTO r;
  PERFORM owcp_log_append('transaction.expired',
    (SELECT address FROM accounts WHERE id = r.account_id),
    (SELECT address FROM requestors WHERE id = r.requestor_id), p_tx, NULL,
    NULL);
  PERFORM owcp_tx_finished(p_tx, p_now);
END $$;
