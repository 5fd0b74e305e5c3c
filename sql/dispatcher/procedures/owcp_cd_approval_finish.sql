-- By approval, repeat, once owcp_cd_approval_check() answered 200 and the
-- certificate was signed: decides again with the approval and its
-- transaction locked (so a client is issued at most once) and stores the
-- client on 200; any other status is owcp_cd_approval_check()'s, nothing
-- stored. An approval whose transaction is past its expiry is expired here.
CREATE OR REPLACE FUNCTION owcp_cd_approval_finish(p_tx text, p_account text,
                                        p_csr_sha256 bytea, p_client text,
                                        p_description text,
                                        p_token_hash bytea, p_cert bytea,
                                        p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_status integer;
  d record;
BEGIN
  SELECT da.account_id, a.address, t.state, t.expires_at INTO d
    FROM device_approvals da JOIN transactions t ON t.id = da.transaction_id
    JOIN accounts a ON a.id = da.account_id
   WHERE da.transaction_id = p_tx
   FOR UPDATE OF da, t;
  IF FOUND AND d.state = 'pending' AND d.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
  END IF;
  v_status := owcp_cd_approval_check(p_tx, p_account, p_csr_sha256,
                                     p_description, v_now);
  IF v_status <> 200 THEN
    RETURN v_status;
  END IF;
  PERFORM owcp_client_insert(d.account_id, d.address, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'approval');
  UPDATE device_approvals SET client_id = p_client
   WHERE transaction_id = p_tx;
  RETURN 200;
END $$;
