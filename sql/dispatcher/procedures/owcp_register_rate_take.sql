-- The per-address limit on unauthenticated CD-Register (first asks for an
-- approval and enrollment codes; repeats with Transaction create nothing
-- and are not counted): p_address is the client address (IPv6 reduced to
-- its /64 by dispatcher/cd_register.c), counted per minute in its own
-- short transaction as owcp_rate_take() counts RD-Confirm. o_retry_after
-- is 0 within p_limit, else the seconds until the window ends. Windows
-- of earlier minutes are deleted on the way.
CREATE OR REPLACE FUNCTION owcp_register_rate_take(p_address text, p_limit integer,
                                        p_now timestamptz,
                                        OUT o_retry_after integer)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_window timestamptz := date_trunc('minute', coalesce(p_now, now()));
  v_count integer;
BEGIN
  o_retry_after := 0;
  PERFORM set_config('synchronous_commit', 'off', true);
  DELETE FROM register_windows WHERE window_start < v_window;
  INSERT INTO register_windows AS w (address, window_start, count)
    VALUES (p_address, v_window, 1)
    ON CONFLICT (address, window_start)
    DO UPDATE SET count = w.count + 1
    RETURNING w.count INTO v_count;
  IF v_count > p_limit THEN
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       (v_window + interval '1 minute' - v_now)))::integer);
  END IF;
END $$;
