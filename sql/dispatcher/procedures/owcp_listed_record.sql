-- Records first deliveries (CD-List, spec §5) in one batch: for each
-- transaction of p_tx not yet marked, first_listed_at := its earliest
-- p_at and one "transaction.listed" log entry naming the client that got
-- it (p_client, same index). The three arrays run in parallel. Returns one
-- row per transaction it recorded (o_busy false) and per transaction it
-- could not take now (o_busy true); already marked ones are left out.
-- Called by the dispatcher's listing writer (dispatcher/listed.c), which
-- collects what CD-List delivered (owcp_pending(), its read, writes
-- nothing) and passes the busy ones again in its next batch.
--
-- Once per transaction, however often and by however many processes it
-- is passed: rows are locked and re-checked after the lock (READ COMMITTED
-- re-evaluates "first_listed_at IS NULL" on the newest row version).
-- A row another transaction holds is skipped, never waited for (SKIP
-- LOCKED): the holder is nearly always a CD-Reply being committed, which
-- records the listing itself (owcp_reply()), and a batch waiting for it
-- while holding the rows of other transactions made their replies wait
-- in turn, and deadlocked with group commits locking in another order
-- (bench/run.sh: 1 s tails, deadlock_timeout). The writer retries busy
-- rows; by then they are marked (skipped) or free.
--
-- Committed with synchronous_commit off for this one transaction, as the
-- listing always was: the CD-List answer promises the client nothing
-- about durability, and WAL is flushed in order, so any later durable
-- commit (the transaction's CD-Reply, another flow's RD-Confirm) flushes
-- the batch first. What a crash can lose is only "listed" entries: those
-- still in the writer's queue (up to 50 ms and a batch; it writes a listing
-- once 50 ms old) and those committed within the WAL writer's delay (200 ms by
-- default). Never an answer, a creation or a chain link; a transaction
-- whose listing was lost reads as never listed, is marked again on its
-- next delivery, and owcp_reply() records it before the answer if it is
-- still unmarked then (so the log always shows listed before answered).
DROP FUNCTION IF EXISTS owcp_listed_record(text[], text[], timestamptz[]);
CREATE FUNCTION owcp_listed_record(p_tx text[], p_client text[],
                                   p_at timestamptz[])
RETURNS TABLE (o_transaction text, o_busy boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r record;
  v_done text[] := '{}';
BEGIN
  IF cardinality(p_tx) IS DISTINCT FROM cardinality(p_client)
     OR cardinality(p_tx) IS DISTINCT FROM cardinality(p_at) THEN
    RAISE EXCEPTION 'owcp_listed_record: % transactions, % clients, % times',
      cardinality(p_tx), cardinality(p_client), cardinality(p_at)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  FOR r IN
    SELECT t.id, f.client, f.at, a.address AS account, q.address AS requestor
      FROM (SELECT DISTINCT ON (u.tx) u.tx, u.client, u.at
              FROM unnest(p_tx, p_client, p_at) AS u(tx, client, at)
             WHERE u.tx IS NOT NULL AND u.at IS NOT NULL
             ORDER BY u.tx, u.at) f
      JOIN transactions t ON t.id = f.tx
      JOIN accounts a ON a.id = t.account_id
      JOIN requestors q ON q.id = t.requestor_id
     WHERE t.first_listed_at IS NULL
     ORDER BY t.id
       FOR UPDATE OF t SKIP LOCKED
  LOOP
    UPDATE transactions SET first_listed_at = r.at WHERE id = r.id;
    PERFORM owcp_log_append('transaction.listed', r.account, r.requestor,
                            r.id, r.client, NULL);
    v_done := v_done || r.id;
    o_transaction := r.id;
    o_busy := false;
    RETURN NEXT;
  END LOOP;
  -- Still unmarked as of now and not taken above: held by another
  -- transaction.
  RETURN QUERY
    SELECT DISTINCT t.id, true
      FROM unnest(p_tx) AS u(tx)
      JOIN transactions t ON t.id = u.tx
     WHERE t.first_listed_at IS NULL AND t.id <> ALL (v_done);
END $$;
