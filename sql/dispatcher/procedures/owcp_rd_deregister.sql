CREATE OR REPLACE FUNCTION owcp_rd_deregister(p_requestor bigint, p_account text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_acc record;
BEGIN
  SELECT id, address INTO v_acc FROM accounts WHERE address = p_account;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  DELETE FROM registrations
   WHERE requestor_id = p_requestor AND account_id = v_acc.id;
  IF FOUND THEN
    PERFORM owcp_log_append('requestor.deregistered', v_acc.address,
      (SELECT address FROM requestors WHERE id = p_requestor), NULL, NULL,
      NULL);
  END IF;
  RETURN 200;
END $$;
