-- Backoff after the n-th failed attempt: min(2^(n-1) s, 10 min); give up
-- once the row is 24 h old. p_uri_logged: the Completion URI as the log may
-- show it (without userinfo, query and fragment; see owcp_outbox_delivered).
DROP FUNCTION IF EXISTS owcp_outbox_failed(bigint, text, timestamptz);
CREATE OR REPLACE FUNCTION owcp_outbox_failed(p_id bigint, p_error text,
                                   p_uri_logged text,
                                   p_now timestamptz,
                                   OUT o_status integer,
                                   OUT o_gave_up boolean,
                                   OUT o_next timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  r record;
BEGIN
  o_gave_up := false;
  SELECT id, transaction_id, attempts, created_at INTO r FROM outbox
   WHERE id = p_id AND delivered_at IS NULL AND failed_at IS NULL
   FOR UPDATE;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  o_status := 200;
  IF v_now >= r.created_at + interval '24 hours' THEN
    UPDATE outbox SET attempts = attempts + 1, failed_at = v_now,
                      last_error = p_error
     WHERE id = p_id;
    PERFORM owcp_log_append('completion.failed',
      (SELECT a.address FROM transactions t JOIN accounts a
          ON a.id = t.account_id WHERE t.id = r.transaction_id),
      (SELECT q.address FROM transactions t JOIN requestors q
          ON q.id = t.requestor_id WHERE t.id = r.transaction_id),
      r.transaction_id, NULL, 'uri=' || p_uri_logged || ' attempts=' ||
      (r.attempts + 1));
    o_gave_up := true;
    RETURN;
  END IF;
  o_next := v_now + make_interval(secs => least(600, power(2, least(r.attempts, 20))));
  UPDATE outbox SET attempts = attempts + 1, next_attempt_at = o_next,
                    last_error = p_error
   WHERE id = p_id;
END $$;
