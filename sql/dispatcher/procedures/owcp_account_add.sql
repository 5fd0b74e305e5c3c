CREATE OR REPLACE FUNCTION owcp_account_add(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO accounts (address) VALUES (p_address)
  ON CONFLICT (address) DO NOTHING;
  IF NOT FOUND THEN
    RETURN 409;
  END IF;
  PERFORM owcp_log_append('account.added', p_address, NULL, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;
