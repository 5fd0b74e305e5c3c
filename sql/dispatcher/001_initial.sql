-- 001_initial.sql — the dispatcher's schema: tables and the append-only
-- confirmation log. The stored procedures, one per state-changing
-- operation, live in procedures/ (one file each, re-applied by every
-- migrate; docs/database-migrations.md).
--
-- Why procedures: each operation's state change, its log entry, its
-- DR-Complete outbox row and its NOTIFY must commit together, in one round
-- trip, so that an acknowledged change always has its evidence and its
-- side effects (see docs/dispatcher-design.md).
--
-- Conventions: procedures return an HTTP-like status (section 3 of the
-- binding) instead of raising, so the caller maps outcomes without parsing
-- error text; they raise only on genuine faults. p_now NULL means now().
-- owcp_log_immutable() stays here with the triggers that need it (it is
-- part of the tables' definition, and must exist before them).

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
