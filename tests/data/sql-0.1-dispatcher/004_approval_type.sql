-- Approval transactions (CD-Register by approval from an existing device)
-- are typed "Registration", the same name their XML Request carries
-- (<Request type="Registration">, dispatcher/cd_register.c), so clients see
-- one name in CD-List's Type and in the request they render. They were
-- typed "device-approval" before.
UPDATE transactions t SET type = 'Registration'
  FROM device_approvals d
 WHERE d.transaction_id = t.id AND t.type = 'device-approval';

CREATE OR REPLACE FUNCTION owcp_cd_approval_start(p_account text, p_description text,
                                       p_csr_sha256 bytea, p_new_id text,
                                       p_request_xml text,
                                       p_request_sha256 bytea,
                                       p_system_address text,
                                       p_timeout integer, p_now timestamptz,
                                       OUT o_status integer,
                                       OUT o_transaction text,
                                       OUT o_expires timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_acc record;
  v_sys bigint;
BEGIN
  SELECT id, address INTO v_acc FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM clients
                  WHERE account_id = v_acc.id AND status = 'active') THEN
    o_status := 403;
    RETURN;
  END IF;
  INSERT INTO requestors (address, token_hash) VALUES (p_system_address, NULL)
  ON CONFLICT (address) DO NOTHING;
  SELECT id INTO v_sys FROM requestors
   WHERE address = p_system_address AND token_hash IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'system requestor % collides with a token requestor',
      p_system_address;
  END IF;
  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type, created_at,
                            expires_at)
  VALUES (p_new_id, v_sys, v_acc.id, p_new_id, p_request_xml,
          p_request_sha256, 'Registration', v_now,
          v_now + make_interval(secs => p_timeout));
  INSERT INTO device_approvals (transaction_id, account_id, description,
                                csr_sha256)
  VALUES (p_new_id, v_acc.id, p_description, p_csr_sha256);
  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          p_system_address, p_new_id, NULL,
                          'type=Registration');
  PERFORM pg_notify('owcp', 'account:' || v_acc.id);
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;
