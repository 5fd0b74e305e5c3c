CREATE OR REPLACE FUNCTION owcp_requestor_disable(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE requestors SET status = 'disabled'
   WHERE address = p_address AND status = 'active' AND token_hash IS NOT NULL;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('requestor.disabled', NULL, p_address, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;
