-- CD-Register by one-time code, before anything is signed: 200 when the
-- code is currently valid for this active account, else 401. Read only;
-- owcp_cd_register_code() consumes the code and stores the client
-- atomically afterwards (of two concurrent uses only one succeeds there).
CREATE OR REPLACE FUNCTION owcp_cd_code_check(p_account text, p_code_hash bytea,
                                   p_now timestamptz)
RETURNS integer
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN EXISTS (
    SELECT 1 FROM enrollment_codes e JOIN accounts a ON a.id = e.account_id
     WHERE a.address = p_account AND a.status = 'active'
       AND e.code_hash = p_code_hash AND e.used_at IS NULL
       AND e.expires_at > coalesce(p_now, now()))
  THEN 200 ELSE 401 END
$$;
