-- 001_initial.sql — the enrollment bridge's own database (owcp-bridge,
-- contract §3 and §5): never the dispatcher's. Everything the bridge must
-- not lose across a restart lives here: confirmations in progress (the
-- OWCP transaction and the exact request bytes, so the answer can still be
-- fetched and verified), cached approvals, pending WSTEP requests and
-- their RequestIDs, issued certificates, what was handed out, and MRAS
-- Digest (nonce, nc) pairs already used.
--
-- State changes that touch several tables are stored procedures
-- (procedures/, one file each, re-applied by every migrate;
-- docs/database-migrations.md) so that one request is one round trip and
-- commits as a whole. Invariants are constraints, named so that a
-- violation reads as a sentence (docs/enrollment-bridge-store.md).
--
-- Conventions: procedures return an HTTP-like status for expected
-- outcomes (200, 404, 409) and raise only on faults; p_now NULL means
-- now(). "front" is one of otpce | wstep | mras; "scope" is what an
-- approval covers: the template for OTPCE and WSTEP, the identity for MRAS.

CREATE TABLE confirmations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  front text NOT NULL
    CONSTRAINT confirmation_front_known CHECK (front IN ('otpce', 'wstep', 'mras')),
  account text NOT NULL
    CONSTRAINT confirmation_account_not_empty CHECK (account <> ''),
  scope text NOT NULL
    CONSTRAINT confirmation_scope_not_empty CHECK (scope <> ''),
  transaction text NOT NULL
    CONSTRAINT confirmation_transaction_unique UNIQUE
    CONSTRAINT confirmation_transaction_not_empty CHECK (transaction <> ''),
  request bytea NOT NULL
    CONSTRAINT confirmation_request_not_empty CHECK (octet_length(request) > 0),
  state text NOT NULL DEFAULT 'pending'
    CONSTRAINT confirmation_state_known CHECK (state IN (
      'pending', 'accepted', 'rejected', 'refused', 'expired', 'cancelled',
      'failed', 'unreachable')),
  receipt bytea,
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  decided_at timestamptz,
  CONSTRAINT confirmation_expires_after_created CHECK (expires_at > created_at),
  CONSTRAINT confirmation_decided_iff_not_pending
    CHECK ((state = 'pending') = (decided_at IS NULL)),
  CONSTRAINT confirmation_answer_has_receipt
    CHECK (state NOT IN ('accepted', 'rejected') OR receipt IS NOT NULL),
  CONSTRAINT confirmation_receipt_only_when_answered
    CHECK (receipt IS NULL OR state IN ('accepted', 'rejected', 'refused')),
  CONSTRAINT confirmation_receipt_not_empty
    CHECK (receipt IS NULL OR octet_length(receipt) > 0),
  -- The target of the composite foreign keys below: an approval or an
  -- issuance may only point at an accepted confirmation of the same front,
  -- account and scope.
  CONSTRAINT confirmation_covers UNIQUE (id, state, front, account, scope)
);
CREATE INDEX confirmations_pending ON confirmations (created_at)
  WHERE state = 'pending';
COMMENT ON TABLE confirmations IS
  'Every OWCP confirmation the bridge sent, from send to outcome: what is needed to fetch and verify the answer after a restart, and the evidence of how it ended.';
COMMENT ON COLUMN confirmations.id IS 'Internal key, referenced by approvals, issuances, wstep_requests and certificates.';
COMMENT ON COLUMN confirmations.front IS 'The front that asked: otpce, wstep or mras.';
COMMENT ON COLUMN confirmations.account IS 'The mapped OWCP account the request was sent to (its <To>).';
COMMENT ON COLUMN confirmations.scope IS 'What an Accept may cover under confirm = cached: the template (OTPCE, WSTEP) or the identity (MRAS).';
COMMENT ON COLUMN confirmations.transaction IS 'The dispatcher''s Transaction identifier (RD-Confirm answer).';
COMMENT ON COLUMN confirmations.request IS 'The exact XML Request bytes sent; the receipt must cover them byte for byte.';
COMMENT ON COLUMN confirmations.state IS 'pending until decided; then accepted, rejected, refused, expired, cancelled, failed (verification or protocol failure) or unreachable (the bridge gave up because no dispatcher answered). Final states never change.';
COMMENT ON COLUMN confirmations.receipt IS 'The verified CMS receipt (DER) of an answer; required for accepted and rejected, possible for refused, absent otherwise.';
COMMENT ON COLUMN confirmations.reason IS 'Why it ended so (the client''s Refuse reason, the failure sentence); NULL when nothing to say.';
COMMENT ON COLUMN confirmations.created_at IS 'When the request was sent.';
COMMENT ON COLUMN confirmations.expires_at IS 'When the user''s time to answer runs out (the dispatcher''s Expires).';
COMMENT ON COLUMN confirmations.decided_at IS 'When the outcome was recorded; NULL exactly while pending.';
COMMENT ON INDEX confirmations_pending IS 'The confirmations still waiting for an answer, oldest first (resumed after a restart).';

-- One row per (front, account, scope): the latest cached Accept. Its
-- foreign key carries the confirmation's state, front, account and scope,
-- so a row can only exist for an accepted confirmation of that very key.
CREATE TABLE approvals (
  front text NOT NULL,
  account text NOT NULL,
  scope text NOT NULL,
  approved_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  confirmation_id bigint NOT NULL,
  confirmation_state text GENERATED ALWAYS AS ('accepted') STORED,
  PRIMARY KEY (front, account, scope),
  CONSTRAINT approval_expires_after_approved CHECK (expires_at > approved_at),
  CONSTRAINT approval_needs_accepted_confirmation
    FOREIGN KEY (confirmation_id, confirmation_state, front, account, scope)
    REFERENCES confirmations (id, state, front, account, scope)
);
CREATE INDEX approvals_confirmation ON approvals (confirmation_id);
COMMENT ON TABLE approvals IS
  'Cached approvals (confirm = cached:MINUTES): an Accept covers the same front, account and scope until expires_at, also across restarts.';
COMMENT ON COLUMN approvals.front IS 'The front the Accept was for.';
COMMENT ON COLUMN approvals.account IS 'The OWCP account that accepted.';
COMMENT ON COLUMN approvals.scope IS 'The template (OTPCE, WSTEP) or identity (MRAS) covered.';
COMMENT ON COLUMN approvals.approved_at IS 'When the Accept was recorded; the approval covers approved_at <= now < expires_at.';
COMMENT ON COLUMN approvals.expires_at IS 'approved_at + the configured MINUTES.';
COMMENT ON COLUMN approvals.confirmation_id IS 'The accepted confirmation (its transaction and receipt are the evidence).';
COMMENT ON COLUMN approvals.confirmation_state IS 'Always accepted: part of the foreign key that forbids an approval without an accepted confirmation of the same key.';
COMMENT ON INDEX approvals_confirmation IS 'Foreign key lookups from confirmations.';

CREATE TABLE certificates (
  serial text CONSTRAINT certificate_serial_unique PRIMARY KEY
    CONSTRAINT certificate_serial_canonical_hex
    CHECK (serial ~ '^([1-9A-F][0-9A-F]{0,39}|0)$'),
  subject text NOT NULL
    CONSTRAINT certificate_subject_not_empty CHECK (subject <> ''),
  template text NOT NULL
    CONSTRAINT certificate_template_not_empty CHECK (template <> ''),
  requester text NOT NULL
    CONSTRAINT certificate_requester_not_empty CHECK (requester <> ''),
  confirmation_id bigint REFERENCES confirmations (id),
  der bytea NOT NULL
    CONSTRAINT certificate_der_not_empty CHECK (octet_length(der) > 0),
  not_before timestamptz NOT NULL,
  not_after timestamptz NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT certificate_validity_ordered CHECK (not_after > not_before)
);
CREATE INDEX certificates_requester ON certificates (requester, issued_at);
CREATE INDEX certificates_issued ON certificates (issued_at);
COMMENT ON TABLE certificates IS
  'Every certificate the built-in CA (WSTEP) issued, listable by an administrator; the serial is unique.';
COMMENT ON COLUMN certificates.serial IS 'Serial number: upper-case hexadecimal of its value, no leading zeros (so one number has one spelling and uniqueness means something).';
COMMENT ON COLUMN certificates.subject IS 'Subject DN as text (RFC 4514).';
COMMENT ON COLUMN certificates.template IS 'The configured template it was issued under.';
COMMENT ON COLUMN certificates.requester IS 'The OWCP account it was issued to (the confirmation''s account).';
COMMENT ON COLUMN certificates.confirmation_id IS 'The accepted confirmation that allowed it (its transaction); NULL under confirm = off.';
COMMENT ON COLUMN certificates.der IS 'The certificate, DER.';
COMMENT ON COLUMN certificates.not_before IS 'Start of validity.';
COMMENT ON COLUMN certificates.not_after IS 'End of validity.';
COMMENT ON COLUMN certificates.issued_at IS 'When it was recorded.';
COMMENT ON INDEX certificates_requester IS 'Listing one account''s certificates.';
COMMENT ON INDEX certificates_issued IS 'Listing every certificate by issue time.';

-- What was handed out after an Accept (or under confirm = off): one row
-- per CMC request, certificate or TURN credential. A non-NULL confirmation
-- must be an accepted one of the same front, account and scope.
CREATE TABLE issuances (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  front text NOT NULL
    CONSTRAINT issuance_front_known CHECK (front IN ('otpce', 'wstep', 'mras')),
  account text NOT NULL
    CONSTRAINT issuance_account_not_empty CHECK (account <> ''),
  scope text NOT NULL
    CONSTRAINT issuance_scope_not_empty CHECK (scope <> ''),
  kind text NOT NULL
    CONSTRAINT issuance_kind_known CHECK (kind IN ('cmc', 'certificate', 'turn')),
  description text NOT NULL
    CONSTRAINT issuance_description_not_empty CHECK (description <> ''),
  details jsonb NOT NULL DEFAULT '{}'
    CONSTRAINT issuance_details_object CHECK (jsonb_typeof(details) = 'object'),
  confirmation_id bigint,
  confirmation_state text GENERATED ALWAYS AS (
    CASE WHEN confirmation_id IS NOT NULL THEN 'accepted' END) STORED,
  certificate_serial text REFERENCES certificates (serial),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT issuance_needs_accepted_confirmation
    FOREIGN KEY (confirmation_id, confirmation_state, front, account, scope)
    REFERENCES confirmations (id, state, front, account, scope),
  CONSTRAINT issuance_certificate_iff_kind
    CHECK ((kind = 'certificate') = (certificate_serial IS NOT NULL))
);
CREATE INDEX issuances_confirmation ON issuances (confirmation_id);
CREATE INDEX issuances_account ON issuances (account, created_at);
COMMENT ON TABLE issuances IS
  'The record of everything handed out: with the confirmation (OWCP transaction and verified receipt) that allowed it.';
COMMENT ON COLUMN issuances.id IS 'Internal key.';
COMMENT ON COLUMN issuances.front IS 'otpce, wstep or mras.';
COMMENT ON COLUMN issuances.account IS 'The OWCP account it was handed out for.';
COMMENT ON COLUMN issuances.scope IS 'The template (OTPCE, WSTEP) or identity (MRAS).';
COMMENT ON COLUMN issuances.kind IS 'cmc (OTPCE signed request), certificate (WSTEP) or turn (MRAS credentials).';
COMMENT ON COLUMN issuances.description IS 'One line for an administrator: what was handed out (never a secret).';
COMMENT ON COLUMN issuances.details IS 'Details as a JSON object (client host, duration, TURN user name...; never a secret).';
COMMENT ON COLUMN issuances.confirmation_id IS 'The accepted confirmation (cached or fresh) that allowed it; NULL under confirm = off.';
COMMENT ON COLUMN issuances.confirmation_state IS 'accepted when confirmation_id is set: part of the foreign key that allows only accepted confirmations of the same key.';
COMMENT ON COLUMN issuances.certificate_serial IS 'kind certificate: the certificate issued.';
COMMENT ON COLUMN issuances.created_at IS 'When it was handed out.';
COMMENT ON INDEX issuances_confirmation IS 'Foreign key lookups and "what did this transaction issue".';
COMMENT ON INDEX issuances_account IS 'An account''s history.';

-- WSTEP RequestIDs: MS-WSTEP carries them as a positive 32-bit integer.
-- NO CYCLE: wrapping would hand out an ID a client may still query.
CREATE SEQUENCE wstep_request_ids AS integer
  MINVALUE 1 MAXVALUE 2147483647 START 1 NO CYCLE;
COMMENT ON SEQUENCE wstep_request_ids IS
  'WSTEP RequestIDs, 1..2^31-1, never reused (a restart continues after the last one).';

CREATE TABLE wstep_requests (
  request_id integer PRIMARY KEY DEFAULT nextval('wstep_request_ids')
    CONSTRAINT wstep_request_id_range CHECK (request_id BETWEEN 1 AND 2147483647),
  account text NOT NULL
    CONSTRAINT wstep_account_not_empty CHECK (account <> ''),
  template text NOT NULL
    CONSTRAINT wstep_template_not_empty CHECK (template <> ''),
  csr bytea NOT NULL
    CONSTRAINT wstep_csr_not_empty CHECK (octet_length(csr) > 0),
  confirmation_id bigint REFERENCES confirmations (id),
  state text NOT NULL DEFAULT 'pending'
    CONSTRAINT wstep_state_known CHECK (state IN ('pending', 'issued', 'denied')),
  certificate_serial text REFERENCES certificates (serial),
  reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  decided_at timestamptz,
  CONSTRAINT wstep_certificate_iff_issued
    CHECK ((state = 'issued') = (certificate_serial IS NOT NULL)),
  CONSTRAINT wstep_decided_iff_not_pending
    CHECK ((state = 'pending') = (decided_at IS NULL))
);
ALTER SEQUENCE wstep_request_ids OWNED BY wstep_requests.request_id;
CREATE INDEX wstep_requests_confirmation ON wstep_requests (confirmation_id);
COMMENT ON TABLE wstep_requests IS
  'WSTEP requests taken under submission (pending a confirmation): answered by QueryTokenStatus, also after a restart.';
COMMENT ON COLUMN wstep_requests.request_id IS 'The RequestID given to the client: 1..2^31-1, unique, never reused.';
COMMENT ON COLUMN wstep_requests.account IS 'The mapped OWCP account that submitted it: only this account may query it.';
COMMENT ON COLUMN wstep_requests.template IS 'The configured template requested.';
COMMENT ON COLUMN wstep_requests.csr IS 'The checked certificate request (DER), issued from once accepted.';
COMMENT ON COLUMN wstep_requests.confirmation_id IS 'The confirmation sent for it; NULL only until it is attached (sent after the RequestID was taken, so that the RequestID can name it).';
COMMENT ON COLUMN wstep_requests.state IS 'pending, issued (certificate_serial set) or denied (rejected, expired, cancelled, failed: reason says which).';
COMMENT ON COLUMN wstep_requests.certificate_serial IS 'The certificate issued for it.';
COMMENT ON COLUMN wstep_requests.reason IS 'Why it was denied.';
COMMENT ON COLUMN wstep_requests.created_at IS 'When it was submitted.';
COMMENT ON COLUMN wstep_requests.decided_at IS 'When it was issued or denied; NULL exactly while pending.';
COMMENT ON INDEX wstep_requests_confirmation IS 'Foreign key lookups from confirmations.';

CREATE TABLE digest_nonces (
  nonce text NOT NULL
    CONSTRAINT digest_nonce_not_empty CHECK (nonce <> ''),
  nc bigint NOT NULL
    CONSTRAINT digest_nc_range CHECK (nc BETWEEN 1 AND 4294967295),
  used_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (nonce, nc),
  CONSTRAINT digest_nonce_expires_after_use CHECK (expires_at > used_at)
);
CREATE INDEX digest_nonces_expiry ON digest_nonces (expires_at);
COMMENT ON TABLE digest_nonces IS
  'MRAS Digest (nonce, nc) pairs already accepted: each is accepted once, also across restarts; purged once the nonce has expired (a stale nonce is refused before this table is asked).';
COMMENT ON COLUMN digest_nonces.nonce IS 'The server nonce, as sent in the challenge.';
COMMENT ON COLUMN digest_nonces.nc IS 'The nonce count (8 hex digits in the header), 1..2^32-1.';
COMMENT ON COLUMN digest_nonces.used_at IS 'When the pair was accepted.';
COMMENT ON COLUMN digest_nonces.expires_at IS 'When the nonce stops being valid; the row may be purged after it.';
COMMENT ON INDEX digest_nonces_expiry IS 'Purging expired pairs.';
