-- CD-Deregister and administrative revocation.
CREATE OR REPLACE FUNCTION owcp_client_revoke(p_client text, p_actor text,
                                   p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_acc text;
BEGIN
  UPDATE clients c SET status = 'revoked', revoked_at = coalesce(p_now, now())
    FROM accounts a
   WHERE c.id = p_client AND c.status = 'active' AND a.id = c.account_id
   RETURNING a.address INTO v_acc;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('client.revoked', v_acc, NULL, NULL, p_client,
                          'by=' || p_actor);
  RETURN 200;
END $$;
