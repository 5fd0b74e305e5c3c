-- 001_initial.sql — the dispatcher's schema: tables, the append-only
-- confirmation log and one stored procedure per state-changing operation.
--
-- Why procedures: each operation's state change, its log entry, its
-- DR-Complete outbox row and its NOTIFY must commit together, in one round
-- trip, so that an acknowledged change always has its evidence and its
-- side effects (see docs/dispatcher-design.md).
--
-- Conventions: procedures return an HTTP-like status (section 3 of the
-- binding) instead of raising, so the caller maps outcomes without parsing
-- error text; they raise only on genuine faults. p_now NULL means now().
-- Applied by store_migrate() inside one transaction.

CREATE TABLE accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  address text NOT NULL UNIQUE CHECK (address ~ '^[^@\s]+@[^@\sA-Z]+$'),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- token_hash NULL: the dispatcher's own system requestor (approval requests),
-- which no bearer token can ever authenticate as.
CREATE TABLE requestors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  address text NOT NULL UNIQUE,
  token_hash bytea UNIQUE CHECK (octet_length(token_hash) = 32),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  rate_per_minute integer NOT NULL DEFAULT 600 CHECK (rate_per_minute > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollment_codes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts (id),
  code_hash bytea NOT NULL UNIQUE CHECK (octet_length(code_hash) = 32),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);

CREATE TABLE clients (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
  account_id bigint NOT NULL REFERENCES accounts (id),
  description text NOT NULL,
  token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
  cert_der bytea NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX clients_account ON clients (account_id) WHERE status = 'active';

CREATE TABLE registrations (
  requestor_id bigint NOT NULL REFERENCES requestors (id),
  account_id bigint NOT NULL REFERENCES accounts (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (requestor_id, account_id)
);

CREATE TABLE transactions (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{22,64}$'),
  ord bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  requestor_id bigint NOT NULL REFERENCES requestors (id),
  account_id bigint NOT NULL REFERENCES accounts (id),
  identifier text NOT NULL,
  request_xml text NOT NULL,
  request_sha256 bytea NOT NULL CHECK (octet_length(request_sha256) = 32),
  type text NOT NULL,
  completion_uri text,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'answered', 'expired', 'cancelled')),
  first_listed_at timestamptz,
  response text CHECK (response IN ('Accept', 'Reject', 'Refuse')),
  reason text,
  verification text[],
  client_id text REFERENCES clients (id),
  responded_at timestamptz,
  receipt bytea,
  finished_at timestamptz,
  UNIQUE (requestor_id, identifier),
  CHECK ((state = 'answered') = (response IS NOT NULL AND client_id IS NOT NULL
                                 AND responded_at IS NOT NULL
                                 AND receipt IS NOT NULL)),
  CHECK (response IS DISTINCT FROM 'Refuse' OR reason IS NOT NULL)
);
CREATE INDEX transactions_pending ON transactions (account_id, created_at, ord)
  WHERE state = 'pending';
CREATE INDEX transactions_expiring ON transactions (expires_at)
  WHERE state = 'pending';

CREATE TABLE device_approvals (
  transaction_id text PRIMARY KEY REFERENCES transactions (id),
  account_id bigint NOT NULL REFERENCES accounts (id),
  description text NOT NULL,
  csr_sha256 bytea NOT NULL CHECK (octet_length(csr_sha256) = 32),
  client_id text REFERENCES clients (id)
);

-- body NULL: the sender renders DR-Complete from the transaction's final
-- state when it sends (the signed body must reflect the stored outcome).
CREATE TABLE outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id text NOT NULL REFERENCES transactions (id),
  uri text NOT NULL,
  body text,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  delivered_at timestamptz,
  failed_at timestamptz,
  last_error text
);
CREATE INDEX outbox_due ON outbox (next_attempt_at)
  WHERE delivered_at IS NULL AND failed_at IS NULL;

CREATE TABLE rate_windows (
  requestor_id bigint NOT NULL REFERENCES requestors (id),
  window_start timestamptz NOT NULL,
  count integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (requestor_id, window_start)
);

-- The confirmation log. Entries name parties by address/identifier (not
-- internal ids) so the log stays meaningful on its own.
CREATE TABLE log (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  event text NOT NULL CHECK (event ~ '^[a-z]+\.[a-z]+$'),
  account text,
  requestor text,
  transaction text,
  client text,
  detail text
);
CREATE INDEX log_account ON log (account, seq);
CREATE INDEX log_requestor ON log (requestor, seq);
CREATE INDEX log_transaction ON log (transaction, seq);
CREATE INDEX log_at ON log (at);

-- hash = SHA-256(prev_hash || canonical(entry)), computed in C by the
-- sealer (dispatcher/logchain.c); pos starts at 1, genesis prev_hash is 32
-- zero bytes.
CREATE TABLE log_chain (
  pos bigint PRIMARY KEY CHECK (pos > 0),
  seq bigint NOT NULL UNIQUE REFERENCES log (seq),
  prev_hash bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE FUNCTION owcp_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'the confirmation log is evidence; it is never changed';
END $$;

CREATE TRIGGER log_no_change BEFORE UPDATE OR DELETE ON log
  FOR EACH ROW EXECUTE FUNCTION owcp_log_immutable();
CREATE TRIGGER log_no_truncate BEFORE TRUNCATE ON log
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_log_immutable();
CREATE TRIGGER log_chain_no_change BEFORE UPDATE OR DELETE ON log_chain
  FOR EACH ROW EXECUTE FUNCTION owcp_log_immutable();
CREATE TRIGGER log_chain_no_truncate BEFORE TRUNCATE ON log_chain
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_log_immutable();

-- Internal helpers -------------------------------------------------------

CREATE FUNCTION owcp_log_append(p_event text, p_account text,
                                p_requestor text, p_transaction text,
                                p_client text, p_detail text)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO log (event, account, requestor, transaction, client, detail)
  VALUES (p_event, p_account, p_requestor, p_transaction, p_client, p_detail);
$$;

-- A transaction reached a final state: queue DR-Complete (when asked for)
-- and wake RD-Status long polls. Caller has already logged the event.
CREATE FUNCTION owcp_tx_finished(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_uri text;
BEGIN
  UPDATE transactions SET finished_at = p_now WHERE id = p_tx
    RETURNING completion_uri INTO v_uri;
  IF v_uri IS NOT NULL THEN
    INSERT INTO outbox (transaction_id, uri, next_attempt_at, created_at)
    VALUES (p_tx, v_uri, p_now, p_now);
  END IF;
  PERFORM pg_notify('owcp', 'tx:' || p_tx);
END $$;

-- Marks one locked pending transaction expired, with its evidence.
CREATE FUNCTION owcp_tx_expire_locked(p_tx text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  UPDATE transactions t SET state = 'expired' WHERE t.id = p_tx
    RETURNING t.account_id, t.requestor_id INTO r;
  PERFORM owcp_log_append('transaction.expired',
    (SELECT address FROM accounts WHERE id = r.account_id),
    (SELECT address FROM requestors WHERE id = r.requestor_id), p_tx, NULL,
    NULL);
  PERFORM owcp_tx_finished(p_tx, p_now);
END $$;

-- RD-Confirm ---------------------------------------------------------------

CREATE FUNCTION owcp_confirm(p_requestor bigint, p_account text,
                             p_identifier text, p_request_xml text,
                             p_request_sha256 bytea, p_type text,
                             p_completion text, p_timeout integer,
                             p_now timestamptz, p_new_id text,
                             p_require_registration boolean,
                             OUT o_status integer, OUT o_transaction text,
                             OUT o_expires timestamptz,
                             OUT o_retry_after integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_window timestamptz := date_trunc('minute', coalesce(p_now, now()));
  v_req record;
  v_acc record;
  v_count integer;
  v_old record;
BEGIN
  o_retry_after := 0;
  SELECT id, address, rate_per_minute, status INTO v_req
    FROM requestors WHERE id = p_requestor;
  IF NOT FOUND OR v_req.status <> 'active' THEN
    o_status := 403;
    RETURN;
  END IF;
  IF p_timeout IS NULL OR p_timeout <= 0 THEN
    RAISE EXCEPTION 'owcp_confirm: timeout must be positive, got %', p_timeout;
  END IF;

  -- Fixed one-minute window shared by every dispatcher process.
  DELETE FROM rate_windows
    WHERE requestor_id = p_requestor AND window_start < v_window;
  INSERT INTO rate_windows AS w (requestor_id, window_start, count)
    VALUES (p_requestor, v_window, 1)
    ON CONFLICT (requestor_id, window_start)
    DO UPDATE SET count = w.count + 1
    RETURNING w.count INTO v_count;
  IF v_count > v_req.rate_per_minute THEN
    o_status := 429;
    o_retry_after := greatest(1, ceil(extract(epoch FROM
                       (v_window + interval '1 minute' - v_now)))::integer);
    RETURN;
  END IF;

  SELECT id, request_sha256, expires_at INTO v_old FROM transactions
    WHERE requestor_id = p_requestor AND identifier = p_identifier;
  IF FOUND THEN
    IF v_old.request_sha256 = p_request_sha256 THEN
      o_status := 202;
      o_transaction := v_old.id;
      o_expires := v_old.expires_at;
    ELSE
      o_status := 409;
    END IF;
    RETURN;
  END IF;

  SELECT id, address INTO v_acc FROM accounts
    WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  IF p_require_registration AND NOT EXISTS (
       SELECT 1 FROM registrations
        WHERE requestor_id = p_requestor AND account_id = v_acc.id) THEN
    o_status := 403;
    RETURN;
  END IF;

  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type,
                            completion_uri, created_at, expires_at)
  VALUES (p_new_id, p_requestor, v_acc.id, p_identifier, p_request_xml,
          p_request_sha256, p_type, p_completion, v_now,
          v_now + make_interval(secs => p_timeout))
  ON CONFLICT (requestor_id, identifier) DO NOTHING;
  IF NOT FOUND THEN
    -- A concurrent submission of the same identifier won the insert.
    SELECT id, request_sha256, expires_at INTO v_old FROM transactions
      WHERE requestor_id = p_requestor AND identifier = p_identifier;
    IF v_old.request_sha256 = p_request_sha256 THEN
      o_status := 202;
      o_transaction := v_old.id;
      o_expires := v_old.expires_at;
    ELSE
      o_status := 409;
    END IF;
    RETURN;
  END IF;

  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          v_req.address, p_new_id, NULL,
                          'identifier=' || p_identifier || ' type=' || p_type);
  PERFORM pg_notify('owcp', 'account:' || v_acc.id);
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;

-- CD-List ------------------------------------------------------------------

CREATE FUNCTION owcp_list(p_client text, p_max integer, p_now timestamptz)
RETURNS TABLE (o_transaction text, o_from text, o_type text,
               o_issued timestamptz, o_expires timestamptz,
               o_request text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_cl record;
  r record;
BEGIN
  SELECT c.id, c.account_id, a.address INTO v_cl
    FROM clients c JOIN accounts a ON a.id = c.account_id
   WHERE c.id = p_client AND c.status = 'active' AND a.status = 'active';
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT t.id, q.address, t.type, t.created_at, t.expires_at,
           t.request_xml, t.first_listed_at
      FROM transactions t JOIN requestors q ON q.id = t.requestor_id
     WHERE t.account_id = v_cl.account_id AND t.state = 'pending'
       AND t.expires_at > v_now
     ORDER BY t.created_at, t.ord
     LIMIT greatest(p_max, 0)
  LOOP
    IF r.first_listed_at IS NULL THEN
      UPDATE transactions SET first_listed_at = v_now
       WHERE id = r.id AND first_listed_at IS NULL;
      IF FOUND THEN
        PERFORM owcp_log_append('transaction.listed', v_cl.address,
                                r.address, r.id, p_client, NULL);
      END IF;
    END IF;
    o_transaction := r.id;
    o_from := r.address;
    o_type := r.type;
    o_issued := r.created_at;
    o_expires := r.expires_at;
    o_request := r.request_xml;
    RETURN NEXT;
  END LOOP;
END $$;

-- CD-Reply -----------------------------------------------------------------
-- The receipt has been verified in C against this transaction and client
-- before this is called; here only the state race is decided.

CREATE FUNCTION owcp_reply(p_tx text, p_client text, p_response text,
                           p_reason text, p_verification text[],
                           p_receipt bytea, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_cl record;
  t record;
BEGIN
  SELECT c.id, c.account_id, a.address INTO v_cl
    FROM clients c JOIN accounts a ON a.id = c.account_id
   WHERE c.id = p_client AND c.status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  SELECT tr.id, tr.state, tr.expires_at, q.address AS requestor INTO t
    FROM transactions tr JOIN requestors q ON q.id = tr.requestor_id
   WHERE tr.id = p_tx AND tr.account_id = v_cl.account_id
   FOR UPDATE OF tr;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF t.state = 'answered' THEN
    RETURN 409;
  ELSIF t.state <> 'pending' THEN
    RETURN 408;
  ELSIF t.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  END IF;
  UPDATE transactions
     SET state = 'answered', response = p_response, reason = p_reason,
         verification = coalesce(p_verification, '{}'), client_id = p_client,
         responded_at = v_now, receipt = p_receipt
   WHERE id = p_tx;
  PERFORM owcp_log_append('transaction.answered', v_cl.address, t.requestor,
                          p_tx, p_client, 'response=' || p_response);
  PERFORM owcp_tx_finished(p_tx, v_now);
  RETURN 200;
END $$;

-- RD-Final -----------------------------------------------------------------

CREATE FUNCTION owcp_final(p_requestor bigint, p_tx text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  t record;
BEGIN
  SELECT tr.id, tr.state, tr.expires_at, a.address AS account,
         q.address AS requestor INTO t
    FROM transactions tr JOIN accounts a ON a.id = tr.account_id
    JOIN requestors q ON q.id = tr.requestor_id
   WHERE tr.id = p_tx AND tr.requestor_id = p_requestor
   FOR UPDATE OF tr;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF t.state = 'answered' THEN
    RETURN 200;
  ELSIF t.state <> 'pending' THEN
    RETURN 408;
  ELSIF t.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  END IF;
  UPDATE transactions SET state = 'cancelled' WHERE id = p_tx;
  PERFORM owcp_log_append('transaction.cancelled', t.account, t.requestor,
                          p_tx, NULL, NULL);
  PERFORM owcp_tx_finished(p_tx, v_now);
  RETURN 408;
END $$;

-- Expiry sweep -------------------------------------------------------------

CREATE FUNCTION owcp_expire(p_limit integer, p_now timestamptz)
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

-- RD-Register / RD-Deregister ----------------------------------------------

CREATE FUNCTION owcp_rd_register(p_requestor bigint, p_account text,
                                 OUT o_status integer, OUT o_ready boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_req record;
  v_acc record;
BEGIN
  o_ready := false;
  SELECT id, address, status, token_hash INTO v_req FROM requestors
   WHERE id = p_requestor;
  IF NOT FOUND OR v_req.status <> 'active' OR v_req.token_hash IS NULL THEN
    o_status := 403;
    RETURN;
  END IF;
  SELECT id, address, status INTO v_acc FROM accounts
   WHERE address = p_account;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  INSERT INTO registrations (requestor_id, account_id)
  VALUES (p_requestor, v_acc.id) ON CONFLICT DO NOTHING;
  IF FOUND THEN
    PERFORM owcp_log_append('requestor.registered', v_acc.address,
                            v_req.address, NULL, NULL, NULL);
  END IF;
  o_status := 200;
  o_ready := v_acc.status = 'active' AND EXISTS (
    SELECT 1 FROM clients WHERE account_id = v_acc.id AND status = 'active');
END $$;

CREATE FUNCTION owcp_rd_deregister(p_requestor bigint, p_account text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_acc record;
BEGIN
  SELECT id, address INTO v_acc FROM accounts WHERE address = p_account;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  DELETE FROM registrations
   WHERE requestor_id = p_requestor AND account_id = v_acc.id;
  IF FOUND THEN
    PERFORM owcp_log_append('requestor.deregistered', v_acc.address,
      (SELECT address FROM requestors WHERE id = p_requestor), NULL, NULL,
      NULL);
  END IF;
  RETURN 200;
END $$;

-- CD-Register --------------------------------------------------------------

CREATE FUNCTION owcp_client_insert(p_account_id bigint, p_account text,
                                   p_client text, p_description text,
                                   p_token_hash bytea, p_cert bytea,
                                   p_now timestamptz, p_how text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO clients (id, account_id, description, token_hash, cert_der,
                       created_at)
  VALUES (p_client, p_account_id, p_description, p_token_hash, p_cert, p_now);
  PERFORM owcp_log_append('client.registered', p_account, NULL, NULL,
                          p_client, 'by=' || p_how);
END $$;

-- By one-time code: the code is consumed by the same UPDATE that checks it,
-- so two concurrent uses cannot both succeed.
CREATE FUNCTION owcp_cd_register_code(p_account text, p_code_hash bytea,
                                      p_client text, p_description text,
                                      p_token_hash bytea, p_cert bytea,
                                      p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_acc record;
BEGIN
  SELECT id, address INTO v_acc FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    RETURN 401;
  END IF;
  UPDATE enrollment_codes SET used_at = v_now
   WHERE code_hash = p_code_hash AND account_id = v_acc.id
     AND used_at IS NULL AND expires_at > v_now;
  IF NOT FOUND THEN
    RETURN 401;
  END IF;
  PERFORM owcp_client_insert(v_acc.id, v_acc.address, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'code');
  RETURN 200;
END $$;

-- Open self-subscription: only for an address that never had an account
-- (accounts are disabled, never deleted, so a disabled one stays closed).
CREATE FUNCTION owcp_cd_register_open(p_account text, p_client text,
                                      p_description text, p_token_hash bytea,
                                      p_cert bytea, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_id bigint;
BEGIN
  INSERT INTO accounts (address, created_at) VALUES (p_account, v_now)
  ON CONFLICT (address) DO NOTHING RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    RETURN 403;
  END IF;
  PERFORM owcp_log_append('account.added', p_account, NULL, NULL, NULL,
                          'by=self-subscription');
  PERFORM owcp_client_insert(v_id, p_account, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'open');
  RETURN 200;
END $$;

-- By approval, first call: a confirmation request from the dispatcher's
-- system requestor (created here on first use, with no token) to the
-- account's existing clients. 404 unknown/disabled account, 403 when the
-- account has no active client to approve.
CREATE FUNCTION owcp_cd_approval_start(p_account text, p_description text,
                                       p_csr_sha256 bytea, p_new_id text,
                                       p_request_xml text,
                                       p_request_sha256 bytea,
                                       p_system_address text,
                                       p_timeout integer, p_now timestamptz,
                                       OUT o_status integer,
                                       OUT o_transaction text,
                                       OUT o_expires timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_acc record;
  v_sys bigint;
BEGIN
  SELECT id, address INTO v_acc FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM clients
                  WHERE account_id = v_acc.id AND status = 'active') THEN
    o_status := 403;
    RETURN;
  END IF;
  INSERT INTO requestors (address, token_hash) VALUES (p_system_address, NULL)
  ON CONFLICT (address) DO NOTHING;
  SELECT id INTO v_sys FROM requestors
   WHERE address = p_system_address AND token_hash IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'system requestor % collides with a token requestor',
      p_system_address;
  END IF;
  INSERT INTO transactions (id, requestor_id, account_id, identifier,
                            request_xml, request_sha256, type, created_at,
                            expires_at)
  VALUES (p_new_id, v_sys, v_acc.id, p_new_id, p_request_xml,
          p_request_sha256, 'device-approval', v_now,
          v_now + make_interval(secs => p_timeout));
  INSERT INTO device_approvals (transaction_id, account_id, description,
                                csr_sha256)
  VALUES (p_new_id, v_acc.id, p_description, p_csr_sha256);
  PERFORM owcp_log_append('transaction.created', v_acc.address,
                          p_system_address, p_new_id, NULL,
                          'type=device-approval');
  PERFORM pg_notify('owcp', 'account:' || v_acc.id);
  o_status := 202;
  o_transaction := p_new_id;
  o_expires := v_now + make_interval(secs => p_timeout);
END $$;

-- By approval, repeat: 202 pending, 408 expired/cancelled, 403 rejected or
-- refused, 200 approved (client stored now), 409 already issued, 404 when
-- the transaction is not an approval for this account and CSR.
CREATE FUNCTION owcp_cd_approval_finish(p_tx text, p_account text,
                                        p_csr_sha256 bytea, p_client text,
                                        p_description text,
                                        p_token_hash bytea, p_cert bytea,
                                        p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  d record;
BEGIN
  SELECT da.transaction_id, da.client_id, da.account_id, a.address,
         t.state, t.response, t.expires_at INTO d
    FROM device_approvals da JOIN transactions t ON t.id = da.transaction_id
    JOIN accounts a ON a.id = da.account_id
   WHERE da.transaction_id = p_tx AND a.address = p_account
     AND da.csr_sha256 = p_csr_sha256
     -- the client is stored with the description the user approved, or not
     -- at all: a repeat may not swap in another one
     AND da.description = p_description
   FOR UPDATE OF da, t;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  IF d.client_id IS NOT NULL THEN
    RETURN 409;
  ELSIF d.state = 'pending' AND d.expires_at <= v_now THEN
    PERFORM owcp_tx_expire_locked(p_tx, v_now);
    RETURN 408;
  ELSIF d.state = 'pending' THEN
    RETURN 202;
  ELSIF d.state <> 'answered' THEN
    RETURN 408;
  ELSIF d.response <> 'Accept' THEN
    RETURN 403;
  END IF;
  PERFORM owcp_client_insert(d.account_id, d.address, p_client, p_description,
                             p_token_hash, p_cert, v_now, 'approval');
  UPDATE device_approvals SET client_id = p_client
   WHERE transaction_id = p_tx;
  RETURN 200;
END $$;

-- CD-Deregister and administrative revocation.
CREATE FUNCTION owcp_client_revoke(p_client text, p_actor text,
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

-- Administration -----------------------------------------------------------

CREATE FUNCTION owcp_account_add(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO accounts (address) VALUES (p_address)
  ON CONFLICT (address) DO NOTHING;
  IF NOT FOUND THEN
    RETURN 409;
  END IF;
  PERFORM owcp_log_append('account.added', p_address, NULL, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;

CREATE FUNCTION owcp_account_disable(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts SET status = 'disabled'
   WHERE address = p_address AND status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('account.disabled', p_address, NULL, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;

CREATE FUNCTION owcp_code_issue(p_account text, p_code_hash bytea,
                                p_ttl integer, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_id bigint;
BEGIN
  SELECT id INTO v_id FROM accounts
   WHERE address = p_account AND status = 'active';
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  INSERT INTO enrollment_codes (account_id, code_hash, expires_at)
  VALUES (v_id, p_code_hash, v_now + make_interval(secs => p_ttl));
  PERFORM owcp_log_append('code.issued', p_account, NULL, NULL, NULL,
                          'ttl=' || p_ttl);
  RETURN 200;
END $$;

CREATE FUNCTION owcp_requestor_add(p_address text, p_token_hash bytea,
                                   p_rate integer,
                                   OUT o_status integer, OUT o_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO requestors (address, token_hash, rate_per_minute)
  VALUES (p_address, p_token_hash, p_rate)
  ON CONFLICT (address) DO NOTHING RETURNING id INTO o_id;
  IF o_id IS NULL THEN
    o_status := 409;
    RETURN;
  END IF;
  PERFORM owcp_log_append('requestor.added', NULL, p_address, NULL, NULL,
                          'rate=' || p_rate);
  o_status := 200;
END $$;

CREATE FUNCTION owcp_requestor_disable(p_address text) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE requestors SET status = 'disabled'
   WHERE address = p_address AND status = 'active' AND token_hash IS NOT NULL;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('requestor.disabled', NULL, p_address, NULL, NULL,
                          'by=admin');
  RETURN 200;
END $$;

-- DR-Complete outbox ---------------------------------------------------------

-- Claimed rows are leased, not locked for the send: a sender that crashes
-- mid-send leaves next_attempt_at in the future and the row comes back when
-- the lease ends.
CREATE FUNCTION owcp_outbox_claim(p_limit integer, p_lease integer,
                                  p_now timestamptz)
RETURNS TABLE (o_id bigint, o_transaction text, o_uri text, o_body text,
               o_attempts integer, o_created timestamptz)
LANGUAGE sql AS $$
  WITH due AS (
    SELECT id FROM outbox
     WHERE delivered_at IS NULL AND failed_at IS NULL
       AND next_attempt_at <= coalesce(p_now, now())
     ORDER BY next_attempt_at, id
     LIMIT p_limit
     FOR UPDATE SKIP LOCKED)
  UPDATE outbox o
     SET next_attempt_at = coalesce(p_now, now()) + make_interval(secs => p_lease)
    FROM due WHERE o.id = due.id
  RETURNING o.id, o.transaction_id, o.uri, o.body, o.attempts, o.created_at;
$$;

CREATE FUNCTION owcp_outbox_delivered(p_id bigint, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  UPDATE outbox SET delivered_at = coalesce(p_now, now()),
                    attempts = attempts + 1
   WHERE id = p_id AND delivered_at IS NULL AND failed_at IS NULL
   RETURNING transaction_id, uri INTO r;
  IF NOT FOUND THEN
    RETURN 404;
  END IF;
  PERFORM owcp_log_append('completion.delivered',
    (SELECT a.address FROM transactions t JOIN accounts a ON a.id = t.account_id
      WHERE t.id = r.transaction_id),
    (SELECT q.address FROM transactions t JOIN requestors q
        ON q.id = t.requestor_id WHERE t.id = r.transaction_id),
    r.transaction_id, NULL, 'uri=' || r.uri);
  RETURN 200;
END $$;

-- Backoff after the n-th failed attempt: min(2^(n-1) s, 10 min); give up
-- once the row is 24 h old.
CREATE FUNCTION owcp_outbox_failed(p_id bigint, p_error text,
                                   p_now timestamptz,
                                   OUT o_status integer,
                                   OUT o_gave_up boolean,
                                   OUT o_next timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  r record;
BEGIN
  o_gave_up := false;
  SELECT id, transaction_id, uri, attempts, created_at INTO r FROM outbox
   WHERE id = p_id AND delivered_at IS NULL AND failed_at IS NULL
   FOR UPDATE;
  IF NOT FOUND THEN
    o_status := 404;
    RETURN;
  END IF;
  o_status := 200;
  IF v_now >= r.created_at + interval '24 hours' THEN
    UPDATE outbox SET attempts = attempts + 1, failed_at = v_now,
                      last_error = p_error
     WHERE id = p_id;
    PERFORM owcp_log_append('completion.failed',
      (SELECT a.address FROM transactions t JOIN accounts a
          ON a.id = t.account_id WHERE t.id = r.transaction_id),
      (SELECT q.address FROM transactions t JOIN requestors q
          ON q.id = t.requestor_id WHERE t.id = r.transaction_id),
      r.transaction_id, NULL, 'uri=' || r.uri || ' attempts=' ||
      (r.attempts + 1));
    o_gave_up := true;
    RETURN;
  END IF;
  o_next := v_now + make_interval(secs => least(600, power(2, least(r.attempts, 20))));
  UPDATE outbox SET attempts = attempts + 1, next_attempt_at = o_next,
                    last_error = p_error
   WHERE id = p_id;
END $$;
