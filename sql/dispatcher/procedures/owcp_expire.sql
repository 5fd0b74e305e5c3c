CREATE OR REPLACE FUNCTION owcp_expire(p_limit integer, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_n integer := 0;
  r record;
BEGIN
  FOR r IN
    SELECT id FROM transactions
     WHERE state = 'pending' AND expires_at <= v_now
     ORDER BY expires_at LIMIT p_limit
     FOR UPDATE SKIP LOCKED
  LOOP
    PERFORM owcp_tx_expire_locked(r.id, v_now);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END $$;
