-- Records how a confirmation ended, once: pending -> p_state with its
-- verified receipt and reason. An Accept under confirm = cached:MINUTES
-- (p_cache_minutes > 0) also caches the approval for the confirmation's
-- front, account and scope in the same transaction, so an Accept is never
-- recorded without the approval it grants, nor the other way round.
-- Returns o_status 200 (recorded), 404 (unknown transaction) or 409
-- (already decided), and o_state, the state now stored.
CREATE OR REPLACE FUNCTION bridge_confirmation_decide(
  p_tx text, p_state text, p_receipt bytea, p_reason text,
  p_cache_minutes integer, p_now timestamptz,
  OUT o_status integer, OUT o_state text)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  c record;
BEGIN
  IF p_state IS NULL OR p_state = 'pending' THEN
    RAISE EXCEPTION 'a confirmation''s outcome must be a final state, not %',
      coalesce(p_state, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_cache_minutes IS NOT NULL AND p_cache_minutes < 0 THEN
    RAISE EXCEPTION 'cache minutes must not be negative (got %)',
      p_cache_minutes USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT id, state, front, account, scope INTO c
    FROM confirmations WHERE transaction = p_tx FOR UPDATE;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  o_state := c.state;
  IF c.state <> 'pending' THEN
    o_status := 409;
    RETURN;
  END IF;
  UPDATE confirmations
     SET state = p_state, receipt = p_receipt, reason = p_reason,
         decided_at = v_now
   WHERE id = c.id;
  IF p_state = 'accepted' AND coalesce(p_cache_minutes, 0) > 0 THEN
    INSERT INTO approvals AS a (front, account, scope, approved_at,
                                expires_at, confirmation_id)
    VALUES (c.front, c.account, c.scope, v_now,
            v_now + make_interval(mins => p_cache_minutes), c.id)
    ON CONFLICT (front, account, scope) DO UPDATE
       SET approved_at = EXCLUDED.approved_at,
           expires_at = EXCLUDED.expires_at,
           confirmation_id = EXCLUDED.confirmation_id;
  END IF;
  o_status := 200;
  o_state := p_state;
END $$;
COMMENT ON FUNCTION bridge_confirmation_decide(text, text, bytea, text, integer, timestamptz) IS
  'Records a confirmation''s outcome once (200, 404 unknown, 409 already decided) and, for an Accept under confirm = cached, its approval in the same transaction.';
