-- Claimed rows are leased, not locked for the send: a sender that crashes
-- mid-send leaves next_attempt_at in the future and the row comes back when
-- the lease ends.
--
-- Fairness: each requestor offers at most p_per_requestor of its due rows,
-- oldest first; they are taken in turns, a row's turn being its rank within
-- its requestor plus the deliveries this sender already has in flight for
-- that requestor (p_busy_ids/p_busy_counts). So a requestor with a large
-- backlog, or many slow deliveries running, yields to one with a single
-- due row. o_lease_us (the lease end, microseconds since the epoch) lets
-- owcp_outbox_release() return only rows this claim still holds.
DROP FUNCTION IF EXISTS owcp_outbox_claim(integer, integer, timestamptz);
CREATE OR REPLACE FUNCTION owcp_outbox_claim(p_limit integer,
                                  p_per_requestor integer,
                                  p_busy_ids bigint[], p_busy_counts integer[],
                                  p_lease integer, p_now timestamptz)
RETURNS TABLE (o_id bigint, o_transaction text, o_uri text, o_body text,
               o_attempts integer, o_created timestamptz,
               o_requestor bigint, o_lease_us bigint)
LANGUAGE sql AS $$
  WITH offered AS (
    SELECT c.id, c.next_attempt_at, c.rn + coalesce(b.busy, 0) AS turn
      FROM requestors q
      CROSS JOIN LATERAL (
        SELECT o.id, o.next_attempt_at,
               row_number() OVER (ORDER BY o.next_attempt_at, o.id) AS rn
          FROM outbox o
         WHERE o.requestor_id = q.id
           AND o.delivered_at IS NULL AND o.failed_at IS NULL
           AND o.next_attempt_at <= coalesce(p_now, now())
         ORDER BY o.next_attempt_at, o.id
         LIMIT p_per_requestor) c
      LEFT JOIN unnest(p_busy_ids, p_busy_counts) AS b(requestor_id, busy)
        ON b.requestor_id = q.id
     ORDER BY turn, c.next_attempt_at, c.id
     LIMIT p_limit),
  due AS (
    SELECT o.id FROM outbox o
     WHERE o.id IN (SELECT id FROM offered)
       AND o.delivered_at IS NULL AND o.failed_at IS NULL
       AND o.next_attempt_at <= coalesce(p_now, now())
     FOR UPDATE SKIP LOCKED)
  UPDATE outbox o
     SET next_attempt_at = coalesce(p_now, now()) + make_interval(secs => p_lease)
    FROM due WHERE o.id = due.id
  RETURNING o.id, o.transaction_id, o.uri, o.body, o.attempts, o.created_at,
            o.requestor_id,
            (extract(epoch FROM o.next_attempt_at) * 1000000)::bigint;
$$;
