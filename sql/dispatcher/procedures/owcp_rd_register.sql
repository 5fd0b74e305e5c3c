CREATE OR REPLACE FUNCTION owcp_rd_register(p_requestor bigint, p_account text,
                                 OUT o_status integer, OUT o_ready boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_req record;
  v_acc record;
BEGIN
  o_ready := false;
  SELECT id, address, status, token_hash INTO v_req FROM requestors
   WHERE id = p_requestor;
  IF NOT FOUND OR v_req.status <> 'active' OR v_req.token_hash IS NULL THEN
    o_status := 403;
    RETURN;
  END IF;
  SELECT id, address, status INTO v_acc FROM accounts
   WHERE address = p_account;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  INSERT INTO registrations (requestor_id, account_id)
  VALUES (p_requestor, v_acc.id) ON CONFLICT DO NOTHING;
  IF FOUND THEN
    PERFORM owcp_log_append('requestor.registered', v_acc.address,
                            v_req.address, NULL, NULL, NULL);
  END IF;
  o_status := 200;
  o_ready := v_acc.status = 'active' AND EXISTS (
    SELECT 1 FROM clients WHERE account_id = v_acc.id AND status = 'active');
END $$;
