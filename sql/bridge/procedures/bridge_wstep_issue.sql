-- Completes a pending WSTEP request of p_account whose confirmation was
-- accepted: records the certificate and its issuance
-- (bridge_certificate_insert, template and requester from the request,
-- transaction from its confirmation) and marks the request issued, in one
-- transaction. Returns 200, 404 (no such request for this account), 409
-- (not pending) or 403 (no accepted confirmation linked).
CREATE OR REPLACE FUNCTION bridge_wstep_issue(
  p_request_id integer, p_account text, p_serial text, p_subject text,
  p_der bytea, p_not_before timestamptz, p_not_after timestamptz,
  p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  r record;
BEGIN
  SELECT w.state, w.template, c.transaction, c.state AS confirmation_state
    INTO r
    FROM wstep_requests w LEFT JOIN confirmations c ON c.id = w.confirmation_id
   WHERE w.request_id = p_request_id AND w.account = p_account
   FOR UPDATE OF w;
  IF NOT FOUND THEN
    RETURN 404;
  ELSIF r.state <> 'pending' THEN
    RETURN 409;
  ELSIF r.confirmation_state IS DISTINCT FROM 'accepted' THEN
    RETURN 403;
  END IF;
  PERFORM bridge_certificate_insert(p_serial, p_subject, r.template,
                                    p_account, r.transaction, p_der,
                                    p_not_before, p_not_after, v_now);
  UPDATE wstep_requests
     SET state = 'issued', certificate_serial = p_serial, decided_at = v_now
   WHERE request_id = p_request_id;
  RETURN 200;
END $$;
COMMENT ON FUNCTION bridge_wstep_issue(integer, text, text, text, bytea, timestamptz, timestamptz, timestamptz) IS
  'Issues a pending, accepted WSTEP request: certificate, issuance and request state together (200, 403, 404, 409).';
