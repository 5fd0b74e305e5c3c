-- 007: requestor consent under --require-registration (binding §4,
-- docs/protocol-decisions-rd.md "Consent"). With the option, a requestor
-- may send RD-Confirm to an account only once the account's user (or an
-- administrator) consented; RD-Register asks the user with a confirmation
-- request of type "Consent" that the requestor owns (so RD-Status on it
-- works as for any transaction) and the dispatcher wrote.
--
-- registrations.consent says how a registration was consented to:
--   NULL     registered without consent (the option was off, or the row is
--            older than this migration): it does not let RD-Confirm through
--            while the option is on (procedures/owcp_confirm.sql);
--   'user'   the user accepted consent_tx;
--   'admin'  recorded by `owcp-admin consent add`.
ALTER TABLE registrations
  ADD COLUMN consent text CHECK (consent IN ('user', 'admin')),
  ADD COLUMN consent_tx text REFERENCES transactions (id),
  ADD COLUMN consented_at timestamptz,
  ADD CONSTRAINT registrations_consent_shape CHECK (
    (consent IS NULL AND consent_tx IS NULL AND consented_at IS NULL) OR
    (consent = 'admin' AND consent_tx IS NULL AND consented_at IS NOT NULL) OR
    (consent = 'user' AND consent_tx IS NOT NULL
     AND consented_at IS NOT NULL));

-- One row per consent request (a transaction of type "Consent"). active:
-- the request still decides its requestor and account; an administrator's
-- `consent add` or `consent remove` retires the pair's requests, so that
-- neither an old Reject nor an old Accept outlives the administrator's
-- decision (procedures/owcp_consent_add.sql, owcp_consent_remove.sql).
CREATE TABLE consent_requests (
  transaction_id text PRIMARY KEY REFERENCES transactions (id),
  requestor_id bigint NOT NULL REFERENCES requestors (id),
  account_id bigint NOT NULL REFERENCES accounts (id),
  active boolean NOT NULL DEFAULT true
);
CREATE INDEX consent_requests_pair ON consent_requests (requestor_id, account_id)
  WHERE active;

-- An Accept of an active consent request records the consent in the same
-- database transaction as the answer (CD-Reply, procedures/owcp_reply.sql),
-- so a requestor that saw the Accept through RD-Status can send RD-Confirm
-- at once. A trigger rather than a line in owcp_reply: the answer path
-- stays the same for every transaction, and only consent requests (found
-- by their id in consent_requests, never by the requestor-chosen type
-- alone) change anything here.
CREATE FUNCTION owcp_consent_answered() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  c record;
BEGIN
  SELECT cr.requestor_id, cr.account_id, a.address AS account,
         q.address AS requestor INTO c
    FROM consent_requests cr JOIN accounts a ON a.id = cr.account_id
    JOIN requestors q ON q.id = cr.requestor_id
   WHERE cr.transaction_id = NEW.id AND cr.active;
  IF NOT FOUND OR NEW.response <> 'Accept' THEN
    RETURN NULL;
  END IF;
  INSERT INTO registrations (requestor_id, account_id, consent, consent_tx,
                             consented_at)
  VALUES (c.requestor_id, c.account_id, 'user', NEW.id, NEW.responded_at)
  ON CONFLICT (requestor_id, account_id) DO UPDATE
     SET consent = 'user', consent_tx = EXCLUDED.consent_tx,
         consented_at = EXCLUDED.consented_at
   WHERE registrations.consent IS NULL;
  IF FOUND THEN
    PERFORM owcp_log_append('requestor.registered', c.account, c.requestor,
                            NEW.id, NEW.client_id, 'consent=user');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER transactions_consent AFTER UPDATE OF state ON transactions
  FOR EACH ROW
  WHEN (NEW.state = 'answered' AND OLD.state = 'pending'
        AND NEW.type = 'Consent')
  EXECUTE FUNCTION owcp_consent_answered();
