-- tidings on PostgreSQL, schema version 5: claims and pops take a queue's free messages (never
-- claimed, or released) in post order from messages_free, and those whose claim ended from
-- messages_claimed, by the claim's end, instead of walking the queue past every message
-- other consumers hold. A message is in one of the two.
--
-- Built CONCURRENTLY, so that posts, claims and deletes go on while a large table is indexed;
-- an index a stopped run left half built (invalid) is dropped and built again.
-- tidings: outside a transaction

DROP INDEX CONCURRENTLY IF EXISTS messages_free;
CREATE INDEX CONCURRENTLY messages_free ON messages (project, queue, seq)
    WHERE claim_expires = 0;
DROP INDEX CONCURRENTLY IF EXISTS messages_claimed;
CREATE INDEX CONCURRENTLY messages_claimed ON messages (project, queue, claim_expires)
    WHERE claim_expires > 0;
