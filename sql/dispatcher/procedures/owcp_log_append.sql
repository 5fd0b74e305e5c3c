-- Appends one entry to the confirmation log (the sealer chains it later,
-- dispatcher/logchain.c).
--
-- PL/pgSQL, not LANGUAGE sql: PostgreSQL 15 parses and plans the body of a
-- non-inlinable SQL function again on every call from another statement
-- (each PERFORM in the calling procedure), and every flow appends three
-- entries (created, listed, answered). PL/pgSQL keeps the INSERT's plan for
-- the session. Measured with pg_stat_user_functions during bench/run.sh's
-- flows: see bench/README.md, "What each change bought".
CREATE OR REPLACE FUNCTION owcp_log_append(p_event text, p_account text,
                                p_requestor text, p_transaction text,
                                p_client text, p_detail text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO log (event, account, requestor, transaction, client, detail)
  VALUES (p_event, p_account, p_requestor, p_transaction, p_client, p_detail);
END $$;
