-- Takes a WSTEP request under submission: a new RequestID from
-- wstep_request_ids (1..2^31-1, never reused). p_tx may be NULL when the
-- confirmation is sent after the RequestID is known (so that it can name
-- it); bridge_wstep_attach() links it then.
CREATE OR REPLACE FUNCTION bridge_wstep_create(
  p_account text, p_template text, p_csr bytea, p_tx text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_id integer;
BEGIN
  INSERT INTO wstep_requests (account, template, csr, confirmation_id,
                              created_at)
  VALUES (p_account, p_template, p_csr, bridge_confirmation_id(p_tx),
          coalesce(p_now, now()))
  RETURNING request_id INTO v_id;
  RETURN v_id;
END $$;
COMMENT ON FUNCTION bridge_wstep_create(text, text, bytea, text, timestamptz) IS
  'Stores a pending WSTEP request and returns its new RequestID.';
