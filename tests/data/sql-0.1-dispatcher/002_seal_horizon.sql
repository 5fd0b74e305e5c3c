-- The sealer's horizon: lets each seal pass look only at recent log entries
-- instead of anti-joining the whole log against log_chain (which grows
-- without bound and made every pass O(log size)).
--
-- Why a transaction id and not a sequence number: log.seq values are taken
-- at INSERT but become visible at COMMIT, so an entry with a lower seq can
-- appear after higher ones were sealed; a "seal everything above the highest
-- sealed seq" cutoff would skip it forever. Every entry records the id of
-- the transaction that wrote it. A seal pass reads the snapshot's xmin X
-- (every transaction with an id below X has finished) before it reads the
-- unsealed entries; once it has sealed all of them, no entry from a
-- transaction below X can still appear, so the next pass starts at X.
ALTER TABLE log ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX log_xid ON log (xid, seq);

CREATE TABLE log_seal_horizon (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  xid xid8 NOT NULL
);
INSERT INTO log_seal_horizon (xid) VALUES ('0');
