-- NOTIFY after the commit, not inside it. PostgreSQL serialises every
-- transaction that sent a NOTIFY with a database-wide lock held from
-- pre-commit until its commit record is flushed, so notifying inside
-- RD-Confirm and CD-Reply made all durable commits queue behind one another
-- (no group commit; found by bench/run.sh). A connection that sets
-- owcp.notify = 'after-commit' (the dispatcher's do, dispatcher/
-- store_pool.c) collects the payloads in the session instead, and sends
-- them with owcp_notify_flush() right after the commit, in a transaction of
-- their own that does not wait for its WAL flush. Any other connection
-- (psql, an old dispatcher) still notifies in the transaction. If a process
-- dies between the commit and the flush, the long polls waiting for it
-- answer at their deadline instead of at once: later, never wrong.
CREATE OR REPLACE FUNCTION owcp_notify(p_payload text)
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
