-- One durable commit shaped like an OWCP state change: a ~1 KB row
-- inserted (the transaction or its log entry) and one row updated (its
-- state). bench/run.sh runs it with pgbench -n -c 32 -j 2 to measure this
-- machine's durable-commit limit.
\set id random(1, 1000)
BEGIN;
INSERT INTO bench_rows (payload) VALUES (repeat('x', 1000));
UPDATE bench_counters SET n = n + 1 WHERE id = :id;
END;
