-- Bearer-token authentications are cached per dispatcher process
-- (dispatcher/authcache.h): the tables a token is checked against tell every
-- process when anything in them that can withdraw a token changes, and each
-- process then empties its cache. Statement-level, so one revocation (or one
-- account disabling many clients) sends one notification; PostgreSQL also
-- folds identical notifications of one transaction into one. Nothing on the
-- request path updates or deletes these rows: inserts (new requestors,
-- accounts and clients) withdraw nothing and notify nothing. The NOTIFY is
-- sent in the changing transaction itself (not after it, as owcp_notify()
-- does for long polls), so a process that dies right after the commit
-- cannot lose it.
CREATE FUNCTION owcp_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('owcp', 'auth');
  RETURN NULL;
END $$;

CREATE TRIGGER requestors_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE
  ON requestors FOR EACH STATEMENT EXECUTE FUNCTION owcp_auth_changed();
CREATE TRIGGER clients_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE
  ON clients FOR EACH STATEMENT EXECUTE FUNCTION owcp_auth_changed();
CREATE TRIGGER accounts_auth_changed AFTER UPDATE OR DELETE OR TRUNCATE
  ON accounts FOR EACH STATEMENT EXECUTE FUNCTION owcp_auth_changed();
