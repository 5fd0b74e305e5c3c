-- A WSTEP Issue answered "Issued" at once (confirm = off, or a cached
-- approval): records the certificate and its issuance
-- (bridge_certificate_insert; p_tx NULL under confirm = off, else an
-- accepted confirmation of the same account and template) and a request
-- row already issued, so that the RequestID of the answer names it and a
-- later QueryTokenStatus says Issued again. Returns the new RequestID.
CREATE OR REPLACE FUNCTION bridge_wstep_issue_now(
  p_account text, p_template text, p_csr bytea, p_tx text, p_serial text,
  p_subject text, p_der bytea, p_not_before timestamptz,
  p_not_after timestamptz, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_id integer;
BEGIN
  PERFORM bridge_certificate_insert(p_serial, p_subject, p_template,
                                    p_account, p_tx, p_der, p_not_before,
                                    p_not_after, v_now);
  INSERT INTO wstep_requests (account, template, csr, confirmation_id, state,
                              certificate_serial, created_at, decided_at)
  VALUES (p_account, p_template, p_csr, bridge_confirmation_id(p_tx),
          'issued', p_serial, v_now, v_now)
  RETURNING request_id INTO v_id;
  RETURN v_id;
END $$;
COMMENT ON FUNCTION bridge_wstep_issue_now(text, text, bytea, text, text, text, bytea, timestamptz, timestamptz, timestamptz) IS
  'Records a WSTEP certificate issued without waiting (confirm = off or a cached approval) with an issued request row; returns its RequestID.';
