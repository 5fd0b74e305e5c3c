-- By approval, repeat: 202 pending, 408 expired/cancelled, 403 rejected or
-- refused, 200 approved (client stored now), 409 already issued, 404 when
-- the transaction is not an approval for this account and CSR.
CREATE OR REPLACE FUNCTION owcp_cd_approval_finish(p_tx text, p_account text,
                                        p_csr_sha256 bytea, p_client text,
                                        p_description text,
                                        p_token_hash bytea, p_cert bytea,
                                        p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  d record;
BEGIN
  SELECT da.transaction_id, da.client_id, da.account_id, a.address,
         t.state, t.response, t.expires_at INTO d
    FROM device_approvals da JOIN transactions t ON t.id = da.transaction_id
    JOIN accounts a ON a.id = da.account_id
   WHERE da.transaction_id = p_tx AND a.address = p_account
     AND da.csr_sha256 = p_csr_sha256
     -- the client is stored with the description the user approved, or not
     -- at all: a repeat may not swap in another one
     AND da.description = p_description
   FOR UPDATE OF da, t;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF d.client_id IS NOT NULL THEN
    RETURN 409;
  ELSIF d.state = 'pending' AND d.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  ELSIF d.state = 'pending' THEN
    RETURN 202;
  ELSIF d.state <> 'answered' THEN
    RETURN 408;
  ELSIF d.response <> 'Accept' THEN
    RETURN 403;
  END IF;
  PERFORM owcp_client_insert(d.account_id, d.address, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'approval');
  UPDATE device_approvals SET client_id = p_client
   WHERE transaction_id = p_tx;
  RETURN 200;
END $$;
