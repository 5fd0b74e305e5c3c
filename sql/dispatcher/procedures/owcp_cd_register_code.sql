-- By one-time code: the code is consumed by the same UPDATE that checks it,
-- so two concurrent uses cannot both succeed.
CREATE OR REPLACE FUNCTION owcp_cd_register_code(p_account text, p_code_hash bytea,
                                      p_client text, p_description text,
                                      p_token_hash bytea, p_cert bytea,
                                      p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_acc record;
BEGIN
  SELECT id, address INTO v_acc FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    RETURN 401;
  END IF;
  UPDATE enrollment_codes SET used_at = v_now
   WHERE code_hash = p_code_hash AND account_id = v_acc.id
     AND used_at IS NULL AND expires_at > v_now;
  IF NOT FOUND THEN
    RETURN 401;
  END IF;
  PERFORM owcp_client_insert(v_acc.id, v_acc.address, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'code');
  RETURN 200;
END $$;
