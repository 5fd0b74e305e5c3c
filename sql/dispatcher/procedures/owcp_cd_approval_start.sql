-- CD-Register by approval, first call (binding §5). In this order:
--   429  an approval for this account name is pending (o_retry_after: until
--        it expires), or approvals_per_hour were asked within the last hour
--        (o_retry_after: until the oldest of them leaves the hour);
--   404  p_open and no account of that name ever existed: the caller
--        creates it by open self-subscription (nothing is written here);
--   202  otherwise, with a new transaction id and its expiry. The ask is
--        recorded in approval_asks for every account name alike (the caps
--        count these rows); only when the account is active, has an
--        active client and no "Not Me" report blocks approvals
--        (fraud_blocks of the system requestor) is a confirmation request
--        sent to its clients (o_sent): a transaction from the dispatcher's
--        system requestor (created here on first use, with no token) typed
--        "Registration", the name its XML Request carries, with its
--        device_approvals row holding the digits the new device shows.
-- Everything else looks the same to the caller, so the answer does not
-- tell whether the account exists or has clients (o_sent is for the
-- operational log only). Calls for one account name are serialised by an
-- advisory lock, so two concurrent asks cannot both pass the caps.
DROP FUNCTION IF EXISTS owcp_cd_approval_start(text, text, bytea, text, text,
                                               bytea, text, integer,
                                               timestamptz);
CREATE OR REPLACE FUNCTION owcp_cd_approval_start(p_account text, p_description text,
                                       p_csr_sha256 bytea, p_new_id text,
                                       p_request_xml text,
                                       p_request_sha256 bytea,
                                       p_system_address text,
                                       p_timeout integer, p_now timestamptz,
                                       p_asked_from text, p_match text,
                                       p_per_hour integer, p_open boolean,
                                       OUT o_status integer,
                                       OUT o_transaction text,
                                       OUT o_expires timestamptz,
                                       OUT o_retry_after integer,
                                       OUT o_sent boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_until timestamptz;
  v_count integer;
  v_acc record;
  v_sys bigint;
BEGIN
  o_retry_after := 0;
  o_sent := false;
  PERFORM pg_advisory_xact_lock(hashtextextended('owcp-approval:' || p_account, 0));
  SELECT min(q.expires_at) INTO v_until
    FROM approval_asks q LEFT JOIN transactions t ON t.id = q.transaction_id
   WHERE q.account = p_account AND q.expires_at > v_now
     AND (NOT q.sent OR t.state = 'pending');
  IF v_until IS NOT NULL THEN
    o_status := 429;
    o_retry_after := greatest(1, ceil(extract(epoch FROM v_until - v_now))::integer);
    RETURN;
  END IF;
  SELECT count(*), min(asked_at) INTO v_count, v_until FROM approval_asks
   WHERE account = p_account AND asked_at > v_now - interval '1 hour';
  IF v_count >= p_per_hour THEN
    o_status := 429;
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       v_until + interval '1 hour' - v_now))::integer);
    RETURN;
  END IF;
  SELECT id, address, status INTO v_acc FROM accounts WHERE address = p_account;
  IF NOT FOUND AND p_open THEN
    o_status := 404;
    RETURN;
  END IF;
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
  o_sent := v_acc.id IS NOT NULL AND v_acc.status = 'active'
    AND EXISTS (SELECT 1 FROM clients
                 WHERE account_id = v_acc.id AND status = 'active')
    AND NOT EXISTS (SELECT 1 FROM fraud_blocks b
                      JOIN requestors q ON q.id = b.requestor_id
                     WHERE q.address = p_system_address
                       AND b.account_id = v_acc.id AND b.until > v_now);
  INSERT INTO approval_asks (transaction_id, account, asked_from, csr_sha256,
                             description, asked_at, expires_at, sent)
  VALUES (p_new_id, p_account, p_asked_from, p_csr_sha256, p_description,
          v_now, o_expires, o_sent);
  IF NOT o_sent THEN
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
          p_request_sha256, 'Registration', v_now, o_expires);
  INSERT INTO device_approvals (transaction_id, account_id, description,
                                csr_sha256, match)
  VALUES (p_new_id, v_acc.id, p_description, p_csr_sha256, p_match);
  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          p_system_address, p_new_id, NULL,
                          'type=Registration asked_from=' || p_asked_from);
  PERFORM pg_notify('owcp', 'account:' || v_acc.id);
END $$;
