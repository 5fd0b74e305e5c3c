-- Less work per flow on the durable path (issue 11, bench/README.md "What
-- each change bought"). Every flow appends three log entries, seals them
-- and writes one transaction row that is answered once; each index on
-- those tables is one more insertion (CPU and WAL) per row.

-- The chain's reference to its entry was checked by a foreign key: one
-- SELECT ... FOR KEY SHARE per sealed entry, which also stamps a row lock
-- on the log entry (one more WAL record, a dirtied log page). Entries are
-- never deleted (log_no_change, log_no_truncate), the sealer chains only
-- entries it has just read, and `owcp-admin log verify` reports a chain
-- position whose entry is missing ("its log entry is missing").
ALTER TABLE log_chain DROP CONSTRAINT log_chain_seq_fkey;

-- Time filters (`owcp-admin log show --since/--until`, the console's) on
-- a block-range index: entries are appended in time order, so a BRIN
-- index finds the blocks of a period at a fraction of a B-tree's upkeep
-- (one summary per 128 blocks instead of one entry per row).
DROP INDEX log_at;
CREATE INDEX log_at ON log USING brin (at);

-- The requestor filter: a deployment has a handful of requestors, each
-- with a large share of the log, so an index on it selects little; the
-- console's page walks the primary key backwards (newest first) and stops
-- at its limit, `log show --requestor` reads the log (bounded by the
-- --since/--until BRIN index when given). docs/dispatcher-design.md has
-- the plans.
DROP INDEX log_requestor;

-- Room on each page for the answer's new row version (a non-HOT update:
-- the state leaves the partial indexes' predicate), so that it stays on
-- the page: PostgreSQL then logs only the changed bytes (prefix and suffix
-- shared with the old version are left out of the WAL record), and the
-- "listed" update stays a HOT update. Applies to pages filled from now on.
ALTER TABLE transactions SET (fillfactor = 50);
