-- 006_approval_caps.sql — push fatigue through device approvals (issue 10
-- sections 1 and 2, binding §5 and §6): caps on approvals, number
-- matching, the per-address limit on unauthenticated CD-Register, and
-- "Not Me" fraud reports. The procedures that use these tables are
-- procedures/owcp_cd_approval_start.sql, owcp_cd_approval_check.sql,
-- owcp_cd_approval_finish.sql, owcp_register_rate_take.sql,
-- owcp_reply.sql and owcp_confirm.sql.

-- Every CD-Register that asked for a device approval, whether or not the
-- account exists, is active, has a client or accepts approvals: the caps
-- (one pending per account, approvals_per_hour) count these rows, so an
-- outsider sees the same answers for every account name. sent: a
-- transaction went to the account's clients (its device_approvals row
-- carries the rest); otherwise nobody was asked and the repeats answer
-- 202 until expires_at, then 408, exactly as an unanswered approval.
-- Rows are kept like transactions: a repeat after expiry must keep
-- answering 408 (not 404) for both kinds.
CREATE TABLE approval_asks (
  transaction_id text PRIMARY KEY
    CHECK (transaction_id ~ '^[A-Za-z0-9_-]{22,64}$'),
  account text NOT NULL,
  asked_from text NOT NULL,
  csr_sha256 bytea NOT NULL CHECK (octet_length(csr_sha256) = 32),
  description text NOT NULL,
  asked_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL CHECK (expires_at > asked_at),
  sent boolean NOT NULL
);
CREATE INDEX approval_asks_account ON approval_asks (account, asked_at);

-- Number matching: the two digits the new device shows; an Accept whose
-- receipt carries other digits ends the approval as rejected
-- (mismatched_at set, the receipt kept as evidence of what was signed).
ALTER TABLE device_approvals
  ADD COLUMN match text CHECK (match ~ '^[0-9]{2}$'),
  ADD COLUMN mismatched_at timestamptz;

-- Unauthenticated CD-Register (first asks and enrollment codes) counted
-- per client address (IPv6 per /64) and minute.
CREATE TABLE register_windows (
  address text NOT NULL,
  window_start timestamptz NOT NULL,
  count integer NOT NULL CHECK (count >= 0),
  PRIMARY KEY (address, window_start)
);
CREATE INDEX register_windows_start ON register_windows (window_start);

-- "Not Me" (binding §5 CD-Reply): the account's user reported a request of
-- this requestor as not theirs; RD-Confirm from it to the account is 403
-- until `until`.
CREATE TABLE fraud_blocks (
  requestor_id bigint NOT NULL REFERENCES requestors (id),
  account_id bigint NOT NULL REFERENCES accounts (id),
  reported_at timestamptz NOT NULL,
  until timestamptz NOT NULL,
  PRIMARY KEY (requestor_id, account_id)
);
