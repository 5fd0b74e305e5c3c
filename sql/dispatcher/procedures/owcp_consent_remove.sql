-- `owcp-admin consent remove ACCOUNT REQUESTOR` (007_consent.sql): the
-- requestor's registration with the account is removed, whatever consent
-- it had, and the pair's consent requests are retired, so a rejection is
-- forgotten too: the requestor's next RD-Register asks the user afresh.
-- 200 removed, 409 nothing was recorded (no registration, no consent
-- request), 404 unknown account or requestor.
CREATE OR REPLACE FUNCTION owcp_consent_remove(p_account text,
                                    p_requestor text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_acc bigint;
  v_req bigint;
  v_removed boolean;
  v_retired boolean;
BEGIN
  SELECT id INTO v_acc FROM accounts WHERE address = p_account;
  SELECT id INTO v_req FROM requestors
   WHERE address = p_requestor AND token_hash IS NOT NULL;
  IF v_acc IS NULL OR v_req IS NULL THEN
    RETURN 404;
  END IF;
  DELETE FROM registrations WHERE requestor_id = v_req AND account_id = v_acc;
  v_removed := FOUND;
  UPDATE consent_requests SET active = false
   WHERE requestor_id = v_req AND account_id = v_acc AND active;
  v_retired := FOUND;
  IF NOT v_removed AND NOT v_retired THEN
    RETURN 409;
  END IF;
  PERFORM owcp_log_append('requestor.deregistered', p_account, p_requestor,
                          NULL, NULL, 'consent removed by=admin');
  RETURN 200;
END $$;
