-- RD-Confirm without the rate limit (owcp_rate_take counts it first).
-- o_status 403 with o_retry_after > 0: blocked by a "Not Me" report.
CREATE OR REPLACE FUNCTION owcp_confirm(p_requestor bigint, p_account text,
                             p_identifier text, p_request_xml text,
                             p_request_sha256 bytea, p_type text,
                             p_completion text, p_timeout integer,
                             p_now timestamptz, p_new_id text,
                             p_require_registration boolean,
                             OUT o_status integer, OUT o_transaction text,
                             OUT o_expires timestamptz,
                             OUT o_retry_after integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_req record;
  v_acc record;
  v_old record;
BEGIN
  o_retry_after := 0;
  SELECT id, address, rate_per_minute, status INTO v_req
    FROM requestors WHERE id = p_requestor;
  IF NOT FOUND OR v_req.status <> 'active' THEN
    o_status := 403;
    RETURN;
  END IF;
  IF p_timeout IS NULL OR p_timeout <= 0 THEN
    RAISE EXCEPTION 'owcp_confirm: timeout must be positive, got %', p_timeout;
  END IF;

  -- The rate limit was counted by owcp_rate_take() just before.

  SELECT id, request_sha256, expires_at INTO v_old FROM transactions
    WHERE requestor_id = p_requestor AND identifier = p_identifier;
  IF FOUND THEN
    IF v_old.request_sha256 = p_request_sha256 THEN
      o_status := 202;
      o_transaction := v_old.id;
      o_expires := v_old.expires_at;
    ELSE
      o_status := 409;
    END IF;
    RETURN;
  END IF;

  SELECT id, address INTO v_acc FROM accounts
    WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  -- Only a consented registration counts (007_consent.sql): one made
  -- while the option was off (consent NULL) does not.
  IF p_require_registration AND NOT EXISTS (
       SELECT 1 FROM registrations
        WHERE requestor_id = p_requestor AND account_id = v_acc.id
          AND consent IS NOT NULL) THEN
    o_status := 403;
    RETURN;
  END IF;
  -- A "Not Me" report of the account's user blocks this requestor
  -- (owcp_reply(), 006_approval_caps.sql): 403 with o_retry_after the
  -- seconds the block still lasts (a plain 403 has 0).
  SELECT ceil(extract(epoch FROM until - v_now))::integer INTO o_retry_after
    FROM fraud_blocks
   WHERE requestor_id = p_requestor AND account_id = v_acc.id
     AND until > v_now;
  IF FOUND THEN
    o_retry_after := greatest(1, o_retry_after);
    o_status := 403;
    RETURN;
  END IF;
  o_retry_after := 0;

  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type,
                            completion_uri, created_at, expires_at)
  VALUES (p_new_id, p_requestor, v_acc.id, p_identifier, p_request_xml,
          p_request_sha256, p_type, p_completion, v_now,
          v_now + make_interval(secs => p_timeout))
  ON CONFLICT (requestor_id, identifier) DO NOTHING;
  IF NOT FOUND THEN
    -- A concurrent submission of the same identifier won the insert.
    SELECT id, request_sha256, expires_at INTO v_old FROM transactions
      WHERE requestor_id = p_requestor AND identifier = p_identifier;
    IF v_old.request_sha256 = p_request_sha256 THEN
      o_status := 202;
      o_transaction := v_old.id;
      o_expires := v_old.expires_at;
    ELSE
      o_status := 409;
    END IF;
    RETURN;
  END IF;

  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          v_req.address, p_new_id, NULL,
                          'identifier=' || p_identifier || ' type=' || p_type);
  PERFORM owcp_notify('account:' || v_acc.id);
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;
