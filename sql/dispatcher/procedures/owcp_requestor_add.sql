CREATE OR REPLACE FUNCTION owcp_requestor_add(p_address text, p_token_hash bytea,
                                   p_rate integer,
                                   OUT o_status integer, OUT o_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO requestors (address, token_hash, rate_per_minute)
  VALUES (p_address, p_token_hash, p_rate)
  ON CONFLICT (address) DO NOTHING RETURNING id INTO o_id;
  IF o_id IS NULL THEN
    o_status := 409;
    RETURN;
  END IF;
  PERFORM owcp_log_append('requestor.added', NULL, p_address, NULL, NULL,
                          'rate=' || p_rate);
  o_status := 200;
END $$;
