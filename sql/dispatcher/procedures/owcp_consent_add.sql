-- `owcp-admin consent add ACCOUNT REQUESTOR` (007_consent.sql): the
-- administrator records that the account's user consents to the requestor,
-- as if the user had accepted its consent request. Earlier consent requests
-- of the pair are retired (an old Reject no longer refuses; a pending one
-- no longer decides anything). 200 recorded, 409 consent was already
-- recorded (nothing changed), 404 unknown account or requestor (the
-- dispatcher's own system requestor included: it sends no RD-Confirm).
CREATE OR REPLACE FUNCTION owcp_consent_add(p_account text, p_requestor text,
                                 p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_acc bigint;
  v_req bigint;
BEGIN
  SELECT id INTO v_acc FROM accounts WHERE address = p_account;
  SELECT id INTO v_req FROM requestors
   WHERE address = p_requestor AND token_hash IS NOT NULL;
  IF v_acc IS NULL OR v_req IS NULL THEN
    RETURN 404;
  END IF;
  INSERT INTO registrations (requestor_id, account_id, consent, consented_at)
  VALUES (v_req, v_acc, 'admin', v_now)
  ON CONFLICT (requestor_id, account_id) DO UPDATE
     SET consent = 'admin', consent_tx = NULL, consented_at = v_now
   WHERE registrations.consent IS NULL;
  IF NOT FOUND THEN
    RETURN 409;
  END IF;
  UPDATE consent_requests SET active = false
   WHERE requestor_id = v_req AND account_id = v_acc AND active;
  PERFORM owcp_log_append('requestor.registered', p_account, p_requestor,
                          NULL, NULL, 'consent=admin');
  RETURN 200;
END $$;
