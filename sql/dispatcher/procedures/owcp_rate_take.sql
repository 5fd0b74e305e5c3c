-- Every RD-Confirm of a requestor used to update that requestor's one
-- rate_windows row and hold its lock through the durable commit, so one
-- requestor's confirmations committed one at a time. The count happens
-- here instead, in its own short transaction that does not wait for its
-- WAL flush (a crash may forget a few counts of the current minute; it
-- never loses a confirmation), called by dispatcher/store_rd.c before
-- owcp_confirm(). Every attempt still counts.
--
-- Since issue 11 a call may take a CHUNK of units at once (p_max > 1): the
-- dispatcher keeps the rest in its per-process lease (dispatcher/ratelease.h)
-- and spends them on later attempts without a database call, so most
-- RD-Confirms cost no transaction here. The units are counted here when
-- granted, so the window's count never lets more than the limit through,
-- whatever the processes do with their leases. The chunk shrinks as the
-- window fills: at most 1/256 of what is left (and p_max), at least 1, so
-- a small limit (fewer than 512 units left) is taken one attempt at a
-- time exactly as before, and units a process loses unused (its lease
-- expires with the window, is replaced, or is dropped when the auth cache
-- is flushed) are never more than 1/256 of the limit per process.
--
-- o_retry_after is 0 when the attempt is within the limit (then o_granted
-- ≥ 1 units are counted: this attempt's and o_granted - 1 for the lease),
-- else the seconds until the window ends (o_granted 0; the refused attempt
-- still counts, as it always did). o_valid_ms: how long the window lasts
-- after p_now (or now()), rounded down, so a lease never outlives it; 0
-- when nothing may be kept. An unknown requestor is within no limit (the
-- confirmation itself then answers 403) and a disabled one gets no more
-- than the attempt's unit.
--
-- Called as owcp_rate_take(requestor, now) it takes one unit, as its
-- earlier signature did.
DROP FUNCTION IF EXISTS owcp_rate_take(bigint, timestamptz);
CREATE OR REPLACE FUNCTION owcp_rate_take(p_requestor bigint, p_now timestamptz,
                               p_max integer DEFAULT 1,
                               OUT o_retry_after integer,
                               OUT o_granted integer,
                               OUT o_valid_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_window timestamptz := date_trunc('minute', coalesce(p_now, now()));
  v_req record;
  v_max integer := greatest(1, coalesce(p_max, 1));
  v_count integer;
  v_left integer;
  v_take integer;
BEGIN
  o_retry_after := 0;
  o_granted := 1;
  o_valid_ms := 0;
  PERFORM set_config('synchronous_commit', 'off', true);
  SELECT rate_per_minute, status INTO v_req
    FROM requestors WHERE id = p_requestor;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF v_req.status <> 'active' THEN
    v_max := 1;
  END IF;
  DELETE FROM rate_windows
    WHERE requestor_id = p_requestor AND window_start < v_window;
  LOOP
    SELECT count INTO v_count FROM rate_windows
      WHERE requestor_id = p_requestor AND window_start = v_window
      FOR UPDATE;
    v_left := v_req.rate_per_minute - coalesce(v_count, 0);
    -- The chunk: what is left / 256, at least 1, at most p_max and never
    -- more than is left; 0 when the limit is reached.
    v_take := CASE WHEN v_left <= 0 THEN 0
                   ELSE least(v_max, v_left, greatest(1, v_left / 256)) END;
    IF v_count IS NOT NULL THEN
      UPDATE rate_windows SET count = v_count + greatest(v_take, 1)
        WHERE requestor_id = p_requestor AND window_start = v_window;
      EXIT;
    END IF;
    INSERT INTO rate_windows (requestor_id, window_start, count)
      VALUES (p_requestor, v_window, greatest(v_take, 1))
      ON CONFLICT (requestor_id, window_start) DO NOTHING;
    EXIT WHEN FOUND;
    -- Another session created the row first: lock it and count again.
  END LOOP;
  o_granted := v_take;
  IF v_take = 0 THEN
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       (v_window + interval '1 minute' - v_now)))::integer);
  ELSIF v_max > 1 THEN
    o_valid_ms := floor(extract(epoch FROM
                    (v_window + interval '1 minute' - v_now)) * 1000)::integer;
  END IF;
END $$;

