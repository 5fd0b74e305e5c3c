-- Records one thing handed out. p_tx (NULL under confirm = off) names the
-- accepted confirmation that allowed it, fresh or cached; the table's
-- foreign key refuses one that is not accepted or is for another front,
-- account or scope. Returns the new row's id.
CREATE OR REPLACE FUNCTION bridge_issuance_record(
  p_front text, p_account text, p_scope text, p_kind text,
  p_description text, p_details jsonb, p_tx text, p_serial text,
  p_now timestamptz)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint;
BEGIN
  INSERT INTO issuances (front, account, scope, kind, description, details,
                         confirmation_id, certificate_serial, created_at)
  VALUES (p_front, p_account, p_scope, p_kind, p_description,
          coalesce(p_details, '{}'), bridge_confirmation_id(p_tx), p_serial,
          coalesce(p_now, now()))
  RETURNING id INTO v_id;
  RETURN v_id;
END $$;
COMMENT ON FUNCTION bridge_issuance_record(text, text, text, text, text, jsonb, text, text, timestamptz) IS
  'Records what was handed out, with the accepted confirmation (transaction) that allowed it; returns its id.';
