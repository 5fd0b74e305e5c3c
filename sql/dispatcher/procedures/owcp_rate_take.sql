-- Every RD-Confirm of a requestor used to update that requestor's one
-- rate_windows row and hold its lock through the durable commit, so one
-- requestor's confirmations committed one at a time. The count happens
-- here instead, in its own short transaction that does not wait for its
-- WAL flush (a crash may forget a few counts of the current minute; it
-- never loses a confirmation), called by dispatcher/store_rd.c before
-- owcp_confirm(). Every attempt still counts.
--
-- The rate limit's count, outside the confirmation's durable transaction.
-- o_retry_after is 0 when the attempt is within the limit, else the seconds
-- until the window ends. An unknown requestor is within no limit: the
-- confirmation itself then answers 403.
CREATE OR REPLACE FUNCTION owcp_rate_take(p_requestor bigint, p_now timestamptz,
                               OUT o_retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_window timestamptz := date_trunc('minute', coalesce(p_now, now()));
  v_limit integer;
  v_count integer;
BEGIN
  o_retry_after := 0;
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT rate_per_minute INTO v_limit FROM requestors WHERE id = p_requestor;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM rate_windows
    WHERE requestor_id = p_requestor AND window_start < v_window;
  INSERT INTO rate_windows AS w (requestor_id, window_start, count)
    VALUES (p_requestor, v_window, 1)
    ON CONFLICT (requestor_id, window_start)
    DO UPDATE SET count = w.count + 1
    RETURNING w.count INTO v_count;
  IF v_count > v_limit THEN
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       (v_window + interval '1 minute' - v_now)))::integer);
  END IF;
END $$;
