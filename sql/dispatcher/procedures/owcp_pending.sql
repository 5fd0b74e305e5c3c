-- CD-List's read: the pending, unexpired transactions of an active
-- client's (active) account, oldest first, at most p_max, and whether
-- each one's first delivery is still unrecorded (o_unlisted).
--
-- Read-only (issue 11). It used to record the first delivery itself (an
-- UPDATE of the transaction row and a "transaction.listed" log entry): one
-- write transaction per flow. The dispatcher now hands the unlisted rows
-- it delivered to its listing writer (dispatcher/listed.c), which records
-- them in batches with owcp_listed_record() (see there for what a crash
-- can lose, which is no more than before).
--
-- LANGUAGE sql, STABLE, one SELECT: PostgreSQL inlines it into the
-- caller's statement (no PL/pgSQL call, no per-row RETURN NEXT), so the
-- prepared statement of dispatcher/store_cd.c plans it as a plain join.
-- It replaces owcp_list(), which also wrote (a new name, so that a
-- database not yet migrated refuses this statement as "no such function",
-- which the dispatcher prepares again after migrating, rather than with a
-- wrong column).
DROP FUNCTION IF EXISTS owcp_list(text, integer, timestamptz);

CREATE OR REPLACE FUNCTION owcp_pending(p_client text, p_max integer, p_now timestamptz)
RETURNS TABLE (o_transaction text, o_from text, o_type text,
               o_issued timestamptz, o_expires timestamptz,
               o_request text, o_unlisted boolean)
LANGUAGE sql STABLE AS $$
  SELECT t.id, q.address, t.type, t.created_at, t.expires_at, t.request_xml,
         t.first_listed_at IS NULL
    FROM clients c
    JOIN accounts a ON a.id = c.account_id
    JOIN transactions t ON t.account_id = c.account_id
    JOIN requestors q ON q.id = t.requestor_id
   WHERE c.id = p_client AND c.status = 'active' AND a.status = 'active'
     AND t.state = 'pending'
     AND t.expires_at > coalesce(p_now, now())
   ORDER BY t.created_at, t.ord
   LIMIT greatest(p_max, 0)
$$;
