-- tidings on PostgreSQL, schema version 9: VACUUM leaves the empty pages at the end of the
-- messages and claims tables in place instead of cutting them off. Cutting them takes an
-- ACCESS EXCLUSIVE lock on the table, and every post, claim and delete waited behind it
-- (posts were seen queued on it during benchmarks, after queues had been drained or
-- deleted): the next posts fill those pages again anyway. `VACUUM (TRUNCATE) messages`
-- still gives the space back on demand.

ALTER TABLE messages SET (vacuum_truncate = false);
ALTER TABLE claims SET (vacuum_truncate = false);
