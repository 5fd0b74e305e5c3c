-- RD-Register (binding §4). Without consent (p_require_consent false, the
-- dispatcher's default): the registration is recorded at once, 200 with
-- o_ready. With --require-registration the account's user must consent
-- (007_consent.sql, docs/protocol-decisions-rd.md "Consent"):
--   200  consent recorded (by the user's Accept or an administrator);
--   202  a consent request is pending: o_transaction (the same one on every
--        repeat, until it is answered or expires); a new one is created
--        from p_new_id, p_identifier and p_request_xml (written by the
--        dispatcher, dispatcher/rd_register.c) when none is pending;
--   403  o_reason 'rejected': the user's last answer was Reject or Refuse
--        (final until an administrator's `consent add` or `consent remove`);
--        'no-client': the account is disabled or has no active client to
--        ask; 'requestor': this requestor is disabled;
--   429  the requestor cancelled (RD-Final) its last consent request: a new
--        one may be asked only once that one would have expired
--        (o_retry_after seconds), so that cancelling and asking again
--        cannot flood the user's devices;
--   404  unknown account.
DROP FUNCTION IF EXISTS owcp_rd_register(bigint, text);
CREATE OR REPLACE FUNCTION owcp_rd_register(p_requestor bigint, p_account text,
                                 p_require_consent boolean, p_new_id text,
                                 p_identifier text, p_request_xml text,
                                 p_request_sha256 bytea, p_timeout integer,
                                 p_now timestamptz,
                                 OUT o_status integer, OUT o_ready boolean,
                                 OUT o_transaction text,
                                 OUT o_expires timestamptz,
                                 OUT o_retry_after integer,
                                 OUT o_reason text)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_req record;
  v_acc record;
  v_last record;
BEGIN
  o_ready := false;
  o_retry_after := 0;
  -- FOR NO KEY UPDATE: one RD-Register of this requestor at a time, so two
  -- concurrent calls cannot both start a consent request.
  SELECT id, address, status, token_hash INTO v_req FROM requestors
   WHERE id = p_requestor FOR NO KEY UPDATE;
  IF NOT FOUND OR v_req.status <> 'active' OR v_req.token_hash IS NULL THEN
    o_status := 403;
    o_reason := 'requestor';
    RETURN;
  END IF;
  SELECT id, address, status INTO v_acc FROM accounts
   WHERE address = p_account;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  o_ready := v_acc.status = 'active' AND EXISTS (
    SELECT 1 FROM clients WHERE account_id = v_acc.id AND status = 'active');

  IF NOT p_require_consent THEN
    INSERT INTO registrations (requestor_id, account_id)
    VALUES (p_requestor, v_acc.id) ON CONFLICT DO NOTHING;
    IF FOUND THEN
      PERFORM owcp_log_append('requestor.registered', v_acc.address,
                              v_req.address, NULL, NULL, NULL);
    END IF;
    o_status := 200;
    RETURN;
  END IF;

  IF EXISTS (SELECT 1 FROM registrations
              WHERE requestor_id = p_requestor AND account_id = v_acc.id
                AND consent IS NOT NULL) THEN
    o_status := 200;
    RETURN;
  END IF;

  SELECT t.id, t.state, t.response, t.expires_at INTO v_last
    FROM consent_requests cr JOIN transactions t ON t.id = cr.transaction_id
   WHERE cr.requestor_id = p_requestor AND cr.account_id = v_acc.id
     AND cr.active
   ORDER BY t.ord DESC LIMIT 1
   FOR UPDATE OF t;
  IF FOUND THEN
    IF v_last.state = 'pending' AND v_last.expires_at > v_now THEN
      o_status := 202;
      o_transaction := v_last.id;
      o_expires := v_last.expires_at;
      RETURN;
    ELSIF v_last.state = 'answered' AND v_last.response <> 'Accept' THEN
      o_status := 403;
      o_reason := 'rejected';
      o_transaction := v_last.id;
      RETURN;
    ELSIF v_last.state = 'cancelled' AND v_last.expires_at > v_now THEN
      o_status := 429;
      o_transaction := v_last.id;
      o_retry_after := greatest(1, ceil(extract(epoch FROM
                                  v_last.expires_at - v_now))::integer);
      RETURN;
    ELSIF v_last.state = 'pending' THEN
      -- past its expiry but not yet swept
      PERFORM owcp_tx_expire_locked(v_last.id, v_now);
    END IF;
    -- Otherwise expired unanswered, or accepted and since withdrawn by
    -- RD-Deregister: ask again.
  END IF;

  IF NOT o_ready THEN
    o_status := 403;
    o_reason := 'no-client';
    RETURN;
  END IF;
  IF p_timeout IS NULL OR p_timeout <= 0 OR p_request_xml IS NULL THEN
    RAISE EXCEPTION 'owcp_rd_register: a consent request needs its XML and a positive timeout';
  END IF;
  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type, created_at,
                            expires_at)
  VALUES (p_new_id, p_requestor, v_acc.id, p_identifier, p_request_xml,
          p_request_sha256, 'Consent', v_now,
          v_now + make_interval(secs => p_timeout));
  INSERT INTO consent_requests (transaction_id, requestor_id, account_id)
  VALUES (p_new_id, p_requestor, v_acc.id);
  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          v_req.address, p_new_id, NULL,
                          'identifier=' || p_identifier || ' type=Consent');
  PERFORM owcp_notify('account:' || v_acc.id);
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;
