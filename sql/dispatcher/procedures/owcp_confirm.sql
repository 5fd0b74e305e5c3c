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
  v record;
  v_old record;
BEGIN
  o_retry_after := 0;
  -- The rate limit was counted by owcp_rate_take() just before.

  -- Everything the checks below need in one statement (one plan, one
  -- index probe each): the requestor, an earlier transaction with this
  -- identifier, the active account, its consented registration and a
  -- "Not Me" block of this requestor (issue 11: fewer statements per flow).
  -- The checks keep their order: an inactive requestor is refused first,
  -- a repeated identifier is answered before the account is looked at.
  SELECT q.address AS requestor, q.status,
         o.id AS old_id, o.request_sha256 AS old_sha256,
         o.expires_at AS old_expires,
         a.id AS account_id, a.address AS account,
         EXISTS (SELECT 1 FROM registrations r
                  WHERE r.requestor_id = q.id AND r.account_id = a.id
                    AND r.consent IS NOT NULL) AS registered,
         (SELECT ceil(extract(epoch FROM b.until - v_now))::integer
            FROM fraud_blocks b
           WHERE b.requestor_id = q.id AND b.account_id = a.id
             AND b.until > v_now) AS blocked_for
    INTO v
    FROM requestors q
    LEFT JOIN transactions o ON o.requestor_id = q.id
                            AND o.identifier = p_identifier
    LEFT JOIN accounts a ON a.address = p_account AND a.status = 'active'
   WHERE q.id = p_requestor;
  IF NOT FOUND OR v.status <> 'active' THEN
    o_status := 403;
    RETURN;
  END IF;
  IF p_timeout IS NULL OR p_timeout <= 0 THEN
    RAISE EXCEPTION 'owcp_confirm: timeout must be positive, got %', p_timeout;
  END IF;
  IF v.old_id IS NOT NULL THEN
    IF v.old_sha256 = p_request_sha256 THEN
      o_status := 202;
      o_transaction := v.old_id;
      o_expires := v.old_expires;
    ELSE
      o_status := 409;
    END IF;
    RETURN;
  END IF;
  IF v.account_id IS NULL THEN
    o_status := 404;
    RETURN;
  END IF;
  -- Only a consented registration counts (007_consent.sql): one made
  -- while the option was off (consent NULL) does not.
  IF p_require_registration AND NOT v.registered THEN
    o_status := 403;
    RETURN;
  END IF;
  -- A "Not Me" report of the account's user blocks this requestor
  -- (owcp_reply(), 006_approval_caps.sql): 403 with o_retry_after the
  -- seconds the block still lasts (a plain 403 has 0).
  IF v.blocked_for IS NOT NULL THEN
    o_retry_after := greatest(1, v.blocked_for);
    o_status := 403;
    RETURN;
  END IF;

  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type,
                            completion_uri, created_at, expires_at)
  VALUES (p_new_id, p_requestor, v.account_id, p_identifier, p_request_xml,
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

  -- owcp_log_append() and owcp_notify() written out here: a PERFORM of a
  -- PL/pgSQL function is one more statement and one more function call
  -- for every flow (≈ 15 and 30 µs of database time each under
  -- bench/run.sh; issue 11). The same for owcp_reply().
  INSERT INTO log (event, account, requestor, transaction, client, detail)
  VALUES ('transaction.created', v.account, v.requestor, p_new_id, NULL,
          'identifier=' || p_identifier || ' type=' || p_type);
  IF current_setting('owcp.notify', true) = 'client' THEN
    RAISE NOTICE USING MESSAGE = 'account:' || v.account_id,
                       ERRCODE = 'OWCPN';
  ELSE
    PERFORM owcp_notify('account:' || v.account_id);
  END IF;
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;
