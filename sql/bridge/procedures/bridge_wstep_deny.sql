-- Ends a pending WSTEP request of p_account without a certificate
-- (rejected, refused, expired, cancelled, failed: p_reason says which).
-- Returns 200, 404 (no such request for this account) or 409 (not
-- pending).
CREATE OR REPLACE FUNCTION bridge_wstep_deny(
  p_request_id integer, p_account text, p_reason text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_state text;
BEGIN
  SELECT state INTO v_state FROM wstep_requests
   WHERE request_id = p_request_id AND account = p_account FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 404;
  ELSIF v_state <> 'pending' THEN
    RETURN 409;
  END IF;
  UPDATE wstep_requests
     SET state = 'denied', reason = p_reason,
         decided_at = coalesce(p_now, now())
   WHERE request_id = p_request_id;
  RETURN 200;
END $$;
COMMENT ON FUNCTION bridge_wstep_deny(integer, text, text, timestamptz) IS
  'Denies a pending WSTEP request with a reason (200, 404, 409).';
