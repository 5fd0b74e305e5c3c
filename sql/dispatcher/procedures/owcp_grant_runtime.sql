-- owcp_grant_runtime(role): what `owcp-admin migrate --runtime-role ROLE`
-- runs after the migration, as the migrating role (docs/operations.md).
--
-- The dispatcher's own database role (ROLE) must not be able to erase
-- evidence: it may add to the confirmation log and read it, never update,
-- delete, truncate or alter it. Triggers refuse UPDATE, DELETE and
-- TRUNCATE (001_initial.sql), but a table's owner can disable them, so
-- every table, view and function is owned by the migrating role and ROLE
-- gets only the privileges each statement of dispatcher/store_*.c and of
-- procedures/ needs. The procedures stay SECURITY INVOKER: they run with
-- ROLE's privileges, so the grants below are exactly its limits (and with
-- no SECURITY DEFINER function there is no search_path to hijack).
--
-- A table that is not listed makes the call fail, so a new table cannot be
-- forgotten here: add it with the privileges its statements need.
CREATE OR REPLACE FUNCTION owcp_grant_runtime(p_role text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_schema text := current_schema();
  v_ns oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
  v_me oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
  v_role pg_roles%ROWTYPE;
  r record;
  v_granted integer := 0;
BEGIN
  SELECT * INTO v_role FROM pg_roles WHERE rolname = p_role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'runtime role "%" does not exist (create it first: CREATE ROLE % LOGIN)',
      p_role, quote_ident(p_role) USING ERRCODE = 'undefined_object';
  END IF;
  IF v_role.rolsuper OR v_role.rolbypassrls THEN
    RAISE EXCEPTION 'runtime role "%" is a superuser: no grant can limit it', p_role
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF pg_has_role(p_role, current_user, 'MEMBER') THEN
    RAISE EXCEPTION 'runtime role "%" is (or is a member of) the migrating role "%": it would own the log',
      p_role, current_user USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- Ownership: everything of the schema belongs to the migrating role
  -- (a database once migrated as the dispatcher's role is taken over;
  -- identity sequences follow their tables).
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
            WHERE c.relnamespace = v_ns
              AND c.relkind IN ('r', 'p', 'v', 'm')
              AND c.relowner <> v_me LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO %I', r.rel, current_user);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
            WHERE p.pronamespace = v_ns
              AND p.proowner <> v_me LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO %I', r.fn, current_user);
  END LOOP;

  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', v_schema, p_role);
  EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', v_schema, p_role);
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', v_schema, p_role);

  FOR r IN SELECT c.relname AS tbl, g.privs
             FROM pg_class c
             LEFT JOIN (VALUES
               -- the confirmation log: append and read, nothing else
               ('log', 'SELECT, INSERT'),
               ('log_chain', 'SELECT, INSERT'),
               -- the sealer moves its horizon (002_seal_horizon.sql)
               ('log_seal_horizon', 'SELECT, UPDATE'),
               -- open-service CD-Register creates accounts
               ('accounts', 'SELECT, INSERT'),
               -- the approval requests' system requestor
               ('requestors', 'SELECT, INSERT'),
               -- CD-Register by code consumes the code
               ('enrollment_codes', 'SELECT, UPDATE'),
               -- CD-Register, CD-Deregister (revoke)
               ('clients', 'SELECT, INSERT, UPDATE'),
               -- RD-Register, RD-Deregister; a consent Accept (the
               -- transactions_consent trigger) upgrades a registration
               ('registrations', 'SELECT, INSERT, UPDATE, DELETE'),
               -- RD-Register's consent requests (007_consent.sql); only
               -- owcp-admin's consent add/remove retire them
               ('consent_requests', 'SELECT, INSERT'),
               -- RD-Confirm, CD-List, CD-Reply, RD-Final, expiry
               ('transactions', 'SELECT, INSERT, UPDATE'),
               ('device_approvals', 'SELECT, INSERT, UPDATE'),
               -- DR-Complete delivery
               ('outbox', 'SELECT, INSERT, UPDATE'),
               -- the per-requestor rate limit (old windows are deleted)
               ('rate_windows', 'SELECT, INSERT, UPDATE, DELETE'),
               -- device-approval caps, per-address CD-Register limit and
               -- "Not Me" blocks (006_approval_caps.sql)
               ('approval_asks', 'SELECT, INSERT'),
               ('register_windows', 'SELECT, INSERT, UPDATE, DELETE'),
               ('fraud_blocks', 'SELECT, INSERT, UPDATE'),
               ('schema_migrations', 'SELECT')
             ) AS g(tbl, privs) ON g.tbl = c.relname
            WHERE c.relnamespace = v_ns
              AND c.relkind IN ('r', 'p')
            ORDER BY c.relname LOOP
    IF r.privs IS NULL THEN
      RAISE EXCEPTION 'table "%" has no runtime grants: add it to sql/dispatcher/procedures/owcp_grant_runtime.sql',
        r.tbl USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('GRANT %s ON TABLE %I.%I TO %I', r.privs, v_schema, r.tbl, p_role);
    v_granted := v_granted + 1;
  END LOOP;
  RETURN v_granted;
END $$;
-- Only the migrating role runs it (it would fail for anyone else anyway).
REVOKE ALL ON FUNCTION owcp_grant_runtime(text) FROM PUBLIC;
