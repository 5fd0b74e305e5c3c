-- Sends (and forgets) the payloads collected by owcp_notify() in the
-- 'after-commit' mode; returns how many. Kept for older dispatcher binaries
-- that still run against a migrated database during an upgrade; today's
-- dispatcher uses the 'client' mode (owcp_notify.sql). Payloads never
-- contain spaces ("account:<id>", "tx:<id>").
CREATE OR REPLACE FUNCTION owcp_notify_flush()
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_pending text := current_setting('owcp.notify_pending', true);
  v_payload text;
  v_n integer := 0;
BEGIN
  IF v_pending IS NULL OR v_pending = '' THEN
    RETURN 0;
  END IF;
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM set_config('owcp.notify_pending', '', false);
  FOREACH v_payload IN ARRAY string_to_array(v_pending, ' ') LOOP
    PERFORM pg_notify('owcp', v_payload);
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END $$;
