-- Open self-subscription: only for an address that never had an account
-- (accounts are disabled, never deleted, so a disabled one stays closed).
CREATE OR REPLACE FUNCTION owcp_cd_register_open(p_account text, p_client text,
                                      p_description text, p_token_hash bytea,
                                      p_cert bytea, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_id bigint;
BEGIN
  INSERT INTO accounts (address, created_at) VALUES (p_account, v_now)
  ON CONFLICT (address) DO NOTHING RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    RETURN 403;
  END IF;
  PERFORM owcp_log_append('account.added', p_account, NULL, NULL, NULL,
                          'by=self-subscription');
  PERFORM owcp_client_insert(v_id, p_account, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'open');
  RETURN 200;
END $$;
