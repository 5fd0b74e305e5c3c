-- Claimed rows are leased, not locked for the send: a sender that crashes
-- mid-send leaves next_attempt_at in the future and the row comes back when
-- the lease ends.
CREATE OR REPLACE FUNCTION owcp_outbox_claim(p_limit integer, p_lease integer,
                                  p_now timestamptz)
RETURNS TABLE (o_id bigint, o_transaction text, o_uri text, o_body text,
               o_attempts integer, o_created timestamptz)
LANGUAGE sql AS $$
  WITH due AS (
    SELECT id FROM outbox
     WHERE delivered_at IS NULL AND failed_at IS NULL
       AND next_attempt_at <= coalesce(p_now, now())
     ORDER BY next_attempt_at, id
     LIMIT p_limit
     FOR UPDATE SKIP LOCKED)
  UPDATE outbox o
     SET next_attempt_at = coalesce(p_now, now()) + make_interval(secs => p_lease)
    FROM due WHERE o.id = due.id
  RETURNING o.id, o.transaction_id, o.uri, o.body, o.attempts, o.created_at;
$$;
