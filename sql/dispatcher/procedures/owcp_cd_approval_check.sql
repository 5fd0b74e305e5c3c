-- CD-Register by approval, repeat with Transaction: where the approval
-- stands, read only, so that dispatcher/cd_register.c signs a certificate
-- only for an approval that was accepted (owcp_cd_approval_finish then
-- decides again under lock before the client is stored):
-- 200 accepted with the right number and no client issued yet, 202 pending,
-- 403 rejected, refused or accepted with the wrong number, 408 expired or
-- cancelled, 409 a client was already issued, 404 no approval of that
-- transaction for this account, CSR and description. An ask that was sent
-- to nobody (approval_asks.sent false: unknown, disabled or client-less
-- account, or approvals blocked by "Not Me") answers 202 until it expires
-- and 408 after, as an approval nobody answers does.
CREATE OR REPLACE FUNCTION owcp_cd_approval_check(p_tx text, p_account text,
                                       p_csr_sha256 bytea,
                                       p_description text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  d record;
  q record;
BEGIN
  SELECT da.client_id, da.mismatched_at, t.state, t.response,
         t.expires_at INTO d
    FROM device_approvals da JOIN transactions t ON t.id = da.transaction_id
    JOIN accounts a ON a.id = da.account_id
   WHERE da.transaction_id = p_tx AND a.address = p_account
     AND da.csr_sha256 = p_csr_sha256
     -- the client is stored with the description the user approved, or not
     -- at all: a repeat may not swap in another one
     AND da.description = p_description;
  IF NOT FOUND THEN
    SELECT expires_at INTO q FROM approval_asks
     WHERE transaction_id = p_tx AND account = p_account
       AND csr_sha256 = p_csr_sha256 AND description = p_description
       AND NOT sent;
    IF NOT FOUND THEN
      RETURN 404;
    END IF;
    RETURN CASE WHEN q.expires_at > v_now THEN 202 ELSE 408 END;
  END IF;
  IF d.client_id IS NOT NULL THEN
    RETURN 409;
  ELSIF d.state = 'pending' AND d.expires_at > v_now THEN
    RETURN 202;
  ELSIF d.state <> 'answered' THEN
    RETURN 408;
  ELSIF d.response <> 'Accept' OR d.mismatched_at IS NOT NULL THEN
    RETURN 403;
  END IF;
  RETURN 200;
END $$;
