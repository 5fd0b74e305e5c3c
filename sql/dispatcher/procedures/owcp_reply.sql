-- CD-Reply. The receipt has been verified in C against this transaction and
-- client before this is called; here the state race is decided, and:
--  - a device approval (device_approvals row) is answered with number
--    matching (binding §5): p_match is the "Match" of the receipt. Match on
--    any other transaction, or an Accept of an approval without one, is 400
--    and changes nothing. An Accept whose digits differ from the ones the
--    new device shows is recorded (the receipt is evidence of what was
--    signed), ends the approval as rejected (mismatched_at) and is logged
--    as approval.mismatch; the caller gets 403.
--  - Refuse with Reason "Not Me" is a fraud report: logged as
--    fraud.reported, and the transaction's requestor may not send to this
--    account for p_block_seconds (fraud_blocks, checked by owcp_confirm()).
DROP FUNCTION IF EXISTS owcp_reply(text, text, text, text, text[], bytea,
                                   timestamptz);
CREATE OR REPLACE FUNCTION owcp_reply(p_tx text, p_client text, p_response text,
                           p_reason text, p_verification text[],
                           p_receipt bytea, p_now timestamptz,
                           p_match text, p_block_seconds integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  t record;
  v_approval boolean;
  v_uri text;
  v_status integer := 200;
BEGIN
  -- One statement for the client (active, of the transaction's account),
  -- the transaction (locked: the state race is decided here), its
  -- requestor's address and a device approval's digits, if any.
  SELECT tr.id, tr.state, tr.expires_at, tr.requestor_id, tr.first_listed_at,
         q.address AS requestor, c.account_id, a.address AS account,
         d.transaction_id IS NOT NULL AS approval, d.match AS want INTO t
    FROM transactions tr
    JOIN clients c ON c.id = p_client AND c.status = 'active'
                  AND c.account_id = tr.account_id
    JOIN accounts a ON a.id = c.account_id
    JOIN requestors q ON q.id = tr.requestor_id
    LEFT JOIN device_approvals d ON d.transaction_id = tr.id
   WHERE tr.id = p_tx
   FOR UPDATE OF tr;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  v_approval := t.approval;
  IF p_match IS NOT NULL AND NOT v_approval THEN
    RETURN 400;
  ELSIF v_approval AND p_response = 'Accept' AND p_match IS NULL THEN
    RETURN 400;
  END IF;
  IF t.state = 'answered' THEN
    RETURN 409;
  ELSIF t.state <> 'pending' THEN
    RETURN 408;
  ELSIF t.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  END IF;
  -- The first delivery is recorded in batches after CD-List answered
  -- (owcp_listed_record.sql); a reply can commit before its batch, or
  -- after a crash lost it. It is recorded here, in the log just before the
  -- answer (the INSERT below), so the log shows every answered transaction
  -- listed first; the batch then finds it marked and skips it (the row is
  -- locked above). first_listed_at is
  -- set by the answering UPDATE itself, and finished_at too rather than
  -- in owcp_tx_finished(): one new row version per answer (bench/README.md,
  -- issue 11).
  UPDATE transactions
     SET state = 'answered', response = p_response, reason = p_reason,
         verification = coalesce(p_verification, '{}'), client_id = p_client,
         responded_at = v_now, receipt = p_receipt, finished_at = v_now,
         first_listed_at = coalesce(first_listed_at, v_now)
   WHERE id = p_tx
  RETURNING completion_uri INTO v_uri;
  -- The missing listing (above) and the answer in one INSERT, in that
  -- order (seq is assigned row by row as the SELECT yields them): one
  -- statement where owcp_log_append() took two calls (issue 11).
  INSERT INTO log (event, account, requestor, transaction, client, detail)
  SELECT e.event, t.account, t.requestor, p_tx, p_client, e.detail
    FROM (VALUES (1, 'transaction.listed', NULL),
                 (2, 'transaction.answered', 'response=' || p_response))
           AS e(n, event, detail)
   WHERE e.n = 2 OR t.first_listed_at IS NULL
   ORDER BY e.n;
  IF v_approval AND p_response = 'Accept'
     AND p_match IS DISTINCT FROM t.want THEN
    UPDATE device_approvals SET mismatched_at = v_now
     WHERE transaction_id = p_tx;
    PERFORM owcp_log_append('approval.mismatch', t.account, t.requestor,
                            p_tx, p_client,
                            'the number typed differs from the one the new '
                            'device shows; registration rejected');
    v_status := 403;
  END IF;
  IF p_response = 'Refuse' AND p_reason = 'Not Me' THEN
    INSERT INTO fraud_blocks AS b (requestor_id, account_id, reported_at, until)
    VALUES (t.requestor_id, t.account_id, v_now,
            v_now + make_interval(secs => p_block_seconds))
    ON CONFLICT (requestor_id, account_id) DO UPDATE
      SET reported_at = EXCLUDED.reported_at,
          until = greatest(b.until, EXCLUDED.until);
    PERFORM owcp_log_append('fraud.reported', t.account, t.requestor,
                            p_tx, p_client,
                            'Not Me; requestor blocked until ' ||
                            to_char((v_now + make_interval(secs => p_block_seconds))
                                      AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
  END IF;
  -- owcp_tx_announce() written out (one call less per flow, issue 11);
  -- owcp_notify() too, as in owcp_confirm().
  IF v_uri IS NOT NULL THEN
    INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at)
    VALUES (p_tx, v_uri, v_now, v_now);
  END IF;
  IF current_setting('owcp.notify', true) = 'client' THEN
    RAISE NOTICE USING MESSAGE = 'tx:' || p_tx, ERRCODE = 'OWCPN';
  ELSE
    PERFORM owcp_notify('tx:' || p_tx);
  END IF;
  RETURN v_status;
END $$;
