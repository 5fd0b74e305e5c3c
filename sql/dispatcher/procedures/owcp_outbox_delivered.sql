-- p_uri_logged: the Completion URI as the log may show it (the sender
-- strips userinfo, query and fragment, which may carry secrets: the stored
-- uri is never copied into the log).
DROP FUNCTION IF EXISTS owcp_outbox_delivered(bigint, timestamptz);
CREATE OR REPLACE FUNCTION owcp_outbox_delivered(p_id bigint,
                                      p_uri_logged text,
                                      p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  UPDATE outbox SET delivered_at = coalesce(p_now, now()),
                    attempts = attempts + 1
   WHERE id = p_id AND delivered_at IS NULL AND failed_at IS NULL
   RETURNING transaction_id INTO r;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('completion.delivered',
    (SELECT a.address FROM transactions t JOIN accounts a ON a.id = t.account_id
      WHERE t.id = r.transaction_id),
    (SELECT q.address FROM transactions t JOIN requestors q
        ON q.id = t.requestor_id WHERE t.id = r.transaction_id),
    r.transaction_id, NULL, 'uri=' || p_uri_logged);
  RETURN 200;
END $$;
