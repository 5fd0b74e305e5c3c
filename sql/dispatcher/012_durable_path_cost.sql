-- Less work per flow on the durable path (issue 11, bench/README.md "What
-- each change bought"). Every flow appends three log entries, seals them
-- and writes one transaction row that is answered once; each index and
-- each foreign key on those tables is more work (CPU and WAL) per row.

-- The chain's reference to its entry was checked by a foreign key: one
-- SELECT ... FOR KEY SHARE per sealed entry, which also stamps a row lock
-- on the log entry (one more WAL record, a dirtied log page). Entries are
-- never deleted (log_no_change, log_no_truncate), the sealer chains only
-- entries it has just read, and `owcp-admin log verify` reports a chain
-- position whose entry is missing ("its log entry is missing").
ALTER TABLE log_chain DROP CONSTRAINT log_chain_seq_fkey;

-- The same for the rows every flow writes. A foreign key is checked by
-- locking the referenced row (SELECT ... FOR KEY SHARE): every RD-Confirm
-- locked its requestor's and account's rows, every answer the client's,
-- every DR-Complete queued the transaction's and the requestor's. The
-- requestor's row is shared by all its concurrent flows, so each lock
-- after the first made PostgreSQL create a new MultiXact holding every
-- current locker (WAL and CPU growing with the concurrency: 3.5 MultiXact
-- records per flow at 8 concurrent flows, besides five row-lock records).
-- The procedures write ids they have just read from the referenced rows,
-- and those rows are never deleted: the triggers below refuse it (there
-- is no DELETE of them anywhere; they are disabled, not removed), so the
-- references stay valid without a lock per row written.
ALTER TABLE transactions DROP CONSTRAINT transactions_requestor_id_fkey,
                         DROP CONSTRAINT transactions_account_id_fkey,
                         DROP CONSTRAINT transactions_client_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_transaction_id_fkey,
                   DROP CONSTRAINT outbox_requestor_id_fkey;

CREATE FUNCTION owcp_referenced_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are never removed: % refused', TG_TABLE_NAME,
                  TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'transactions, the outbox and the log refer to them; '
                 'disable an account, requestor or client instead';
END $$;

CREATE TRIGGER requestors_kept BEFORE DELETE OR TRUNCATE ON requestors
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_referenced_kept();
CREATE TRIGGER accounts_kept BEFORE DELETE OR TRUNCATE ON accounts
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_referenced_kept();
CREATE TRIGGER clients_kept BEFORE DELETE OR TRUNCATE ON clients
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_referenced_kept();
CREATE TRIGGER transactions_kept BEFORE DELETE OR TRUNCATE ON transactions
  FOR EACH STATEMENT EXECUTE FUNCTION owcp_referenced_kept();

-- The requestor filter: a deployment has a handful of requestors, each
-- with a large share of the log, so an index on it selects little; the
-- console's page walks the primary key backwards (newest first) and stops
-- at its limit (it did so with this index too), `log show --requestor`
-- reads the log, or the period's entries through log_at when --since or
-- --until is given. The other indexes stay: log_account and
-- log_transaction select a few entries among many, log_at serves time
-- filters (a BRIN index was tried: the console's newest-first page then
-- walked the primary key through every newer entry), log_xid is the
-- sealer's. docs/dispatcher-design.md has the plans.
DROP INDEX log_requestor;

-- transactions.ord is an identity column (unique by construction) that
-- only orders: CD-List's page through transactions_pending, RD-Register's
-- latest consent request among a few rows. Its UNIQUE index served no
-- query and took an entry at every insert and every answer (the answer
-- is not a HOT update).
ALTER TABLE transactions DROP CONSTRAINT transactions_ord_key;
