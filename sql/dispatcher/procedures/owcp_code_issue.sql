CREATE OR REPLACE FUNCTION owcp_code_issue(p_account text, p_code_hash bytea,
                                p_ttl integer, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_id bigint;
BEGIN
  SELECT id INTO v_id FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  INSERT INTO enrollment_codes (account_id, code_hash, expires_at)
  VALUES (v_id, p_code_hash, v_now + make_interval(secs => p_ttl));
  PERFORM owcp_log_append('code.issued', p_account, NULL, NULL, NULL,
                          'ttl=' || p_ttl);
  RETURN 200;
END $$;
