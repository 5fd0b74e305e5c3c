-- Links the confirmation sent for a pending WSTEP request of p_account.
-- Returns 200, 404 (no such request for this account) or 409 (a
-- confirmation is already linked, or the request is no longer pending).
CREATE OR REPLACE FUNCTION bridge_wstep_attach(
  p_request_id integer, p_account text, p_tx text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
  v_conf bigint := bridge_confirmation_id(p_tx);
BEGIN
  IF v_conf IS NULL THEN
    RAISE EXCEPTION 'a WSTEP request needs a transaction to attach'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT state, confirmation_id INTO r FROM wstep_requests
   WHERE request_id = p_request_id AND account = p_account FOR UPDATE;
  IF NOT FOUND THEN
    RETURN 404;
  ELSIF r.state <> 'pending' OR r.confirmation_id IS NOT NULL THEN
    RETURN 409;
  END IF;
  UPDATE wstep_requests SET confirmation_id = v_conf
   WHERE request_id = p_request_id;
  RETURN 200;
END $$;
COMMENT ON FUNCTION bridge_wstep_attach(integer, text, text) IS
  'Links the confirmation of a pending WSTEP request once (200, 404, 409).';
