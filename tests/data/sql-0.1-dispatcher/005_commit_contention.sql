-- Two commit-time serialisations removed from the hot path (found by
-- bench/run.sh: sessions waited on Lock/transactionid in owcp_confirm and
-- Lock/object in owcp_reply while the machine sat partly idle).
--
-- 1. NOTIFY. PostgreSQL serialises every transaction that sent a NOTIFY
--    with a database-wide lock held from pre-commit until its commit
--    record is flushed, so notifying inside RD-Confirm and CD-Reply made
--    all durable commits queue behind one another (no group commit). A
--    connection that sets owcp.notify = 'after-commit' (the dispatcher's
--    store does, dispatcher/store.c) collects the payloads in the session
--    instead, and sends them with owcp_notify_flush() right after the
--    commit, in a transaction of their own that does not wait for its WAL
--    flush. Any other connection (psql, an old dispatcher) still notifies
--    in the transaction. If a process dies between the commit and the
--    flush, the long polls waiting for it answer at their deadline instead
--    of at once: later, never wrong.
--
-- 2. The rate limit. Every RD-Confirm of a requestor updated that
--    requestor's one rate_windows row and held its lock through the durable
--    commit, so one requestor's confirmations committed one at a time. The
--    count now happens in owcp_rate_take(), its own short transaction that
--    does not wait for its WAL flush (a crash may forget a few counts of
--    the current minute; it never loses a confirmation), called by
--    dispatcher/store.c before owcp_confirm(). Every attempt still counts.

CREATE FUNCTION owcp_notify(p_payload text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('owcp.notify', true) = 'after-commit' THEN
    -- is_local false: kept past this statement, undone if it rolls back.
    PERFORM set_config('owcp.notify_pending',
      coalesce(nullif(current_setting('owcp.notify_pending', true), '')
               || ' ', '') || p_payload, false);
  ELSE
    PERFORM pg_notify('owcp', p_payload);
  END IF;
END $$;

-- Sends (and forgets) the payloads collected by owcp_notify(); returns how
-- many. Payloads never contain spaces ("account:<id>", "tx:<id>").
CREATE FUNCTION owcp_notify_flush()
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_pending text := current_setting('owcp.notify_pending', true);
  v_payload text;
  v_n integer := 0;
BEGIN
  IF v_pending IS NULL OR v_pending = '' THEN
    RETURN 0;
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM set_config('owcp.notify_pending', '', false);
  FOREACH v_payload IN ARRAY string_to_array(v_pending, ' ') LOOP
    PERFORM pg_notify('owcp', v_payload);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END $$;

-- The rate limit's count, outside the confirmation's durable transaction.
-- o_retry_after is 0 when the attempt is within the limit, else the seconds
-- until the window ends. An unknown requestor is within no limit: the
-- confirmation itself then answers 403.
CREATE FUNCTION owcp_rate_take(p_requestor bigint, p_now timestamptz,
                               OUT o_retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_window timestamptz := date_trunc('minute', coalesce(p_now, now()));
  v_limit integer;
  v_count integer;
BEGIN
  o_retry_after := 0;
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT rate_per_minute INTO v_limit FROM requestors WHERE id = p_requestor;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM rate_windows
    WHERE requestor_id = p_requestor AND window_start < v_window;
  INSERT INTO rate_windows AS w (requestor_id, window_start, count)
    VALUES (p_requestor, v_window, 1)
    ON CONFLICT (requestor_id, window_start)
    DO UPDATE SET count = w.count + 1
    RETURNING w.count INTO v_count;
  IF v_count > v_limit THEN
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       (v_window + interval '1 minute' - v_now)))::integer);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION owcp_tx_finished(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_uri text;
BEGIN
  UPDATE transactions SET finished_at = p_now WHERE id = p_tx
    RETURNING completion_uri INTO v_uri;
  IF v_uri IS NOT NULL THEN
    INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at)
    VALUES (p_tx, v_uri, p_now, p_now);
  END IF;
  PERFORM owcp_notify('tx:' || p_tx);
END $$;

-- RD-Confirm without the rate limit (owcp_rate_take counts it first).
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
  IF p_require_registration AND NOT EXISTS (
       SELECT 1 FROM registrations
        WHERE requestor_id = p_requestor AND account_id = v_acc.id) THEN
    o_status := 403;
    RETURN;
  END IF;

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
