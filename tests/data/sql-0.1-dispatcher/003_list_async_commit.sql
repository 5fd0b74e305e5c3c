-- CD-List records "transaction.listed" the first time a transaction is
-- delivered. That write no longer waits for its own WAL flush
-- (synchronous_commit off for that one transaction), so a complete
-- confirmation costs two durable commits (RD-Confirm and CD-Reply), not
-- three.
--
-- Why this loses nothing that was acknowledged: the CD-List answer promises
-- the client nothing about durability, and WAL is flushed in order, so the
-- durable commit of the transaction's CD-Reply (or of anything committed
-- after it) flushes the listing entry first. A crash within the WAL
-- writer's delay (200 ms by default) of a listing can lose only that
-- "listed" entry, never an answer, a creation or a chain link; the
-- transaction then simply reads as never listed and is listed (and logged)
-- again.
CREATE OR REPLACE FUNCTION owcp_list(p_client text, p_max integer, p_now timestamptz)
RETURNS TABLE (o_transaction text, o_from text, o_type text,
               o_issued timestamptz, o_expires timestamptz,
               o_request text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_cl record;
  r record;
BEGIN
  SELECT c.id, c.account_id, a.address INTO v_cl
    FROM clients c JOIN accounts a ON a.id = c.account_id
   WHERE c.id = p_client AND c.status = 'active' AND a.status = 'active';
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT t.id, q.address, t.type, t.created_at, t.expires_at,
           t.request_xml, t.first_listed_at
      FROM transactions t JOIN requestors q ON q.id = t.requestor_id
     WHERE t.account_id = v_cl.account_id AND t.state = 'pending'
       AND t.expires_at > v_now
     ORDER BY t.created_at, t.ord
     LIMIT greatest(p_max, 0)
  LOOP
    IF r.first_listed_at IS NULL THEN
      UPDATE transactions SET first_listed_at = v_now
       WHERE id = r.id AND first_listed_at IS NULL;
      IF FOUND THEN
        PERFORM set_config('synchronous_commit', 'off', true);
        PERFORM owcp_log_append('transaction.listed', v_cl.address,
                                r.address, r.id, p_client, NULL);
      END IF;
    END IF;
    o_transaction := r.id;
    o_from := r.address;
    o_type := r.type;
    o_issued := r.created_at;
    o_expires := r.expires_at;
    o_request := r.request_xml;
    RETURN NEXT;
  END LOOP;
END $$;
