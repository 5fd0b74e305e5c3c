CREATE OR REPLACE FUNCTION owcp_account_disable(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts SET status = 'disabled'
   WHERE address = p_address AND status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('account.disabled', p_address, NULL, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;
