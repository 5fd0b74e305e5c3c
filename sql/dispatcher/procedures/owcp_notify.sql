-- Wakes the long polls waiting for p_payload ("account:<id>", "tx:<id>").
--
-- Not with a NOTIFY inside the dispatcher's transactions: PostgreSQL
-- serialises every transaction that sent a NOTIFY with a database-wide lock
-- held from pre-commit until its commit record is flushed, so notifying
-- inside RD-Confirm and CD-Reply made all durable commits queue behind one
-- another (found by bench/run.sh). Instead, by the connection's
-- owcp.notify setting:
--  'client' (the dispatcher's pooled connections, dispatcher/store_pool.c):
--    the payload goes back to the client as a notice with SQLSTATE OWCPN;
--    once the statement has committed, the dispatcher wakes its own waiters
--    in memory and its notify sender (dispatcher/notify_send.c) passes the
--    payloads of many commits to the other processes in one short NOTIFY
--    transaction. A notice of a statement that failed is dropped.
--  'after-commit' (older dispatcher binaries): the payloads are collected in
--    the session and sent by owcp_notify_flush() after the commit.
--  anything else (psql, owcp-admin, the console): NOTIFY inside the
--    transaction, delivered when it commits.
-- If a process dies between the commit and the send, the long polls
-- waiting elsewhere answer at their deadline instead of at once: later,
-- never wrong.
CREATE OR REPLACE FUNCTION owcp_notify(p_payload text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_mode text := current_setting('owcp.notify', true);
BEGIN
  IF v_mode = 'client' THEN
    RAISE NOTICE USING MESSAGE = p_payload, ERRCODE = 'OWCPN';
  ELSIF v_mode = 'after-commit' THEN
    -- is_local false: kept past this statement, undone if it rolls back.
    PERFORM set_config('owcp.notify_pending',
      coalesce(nullif(current_setting('owcp.notify_pending', true), '')
               || ' ', '') || p_payload, false);
  ELSE
    PERFORM pg_notify('owcp', p_payload);
  END IF;
END $$;
