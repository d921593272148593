-- tidings on PostgreSQL, schema version 6: claims and pops take a queue's free messages that
-- were never delayed in post order from messages_undelayed, and the free delayed ones by the
-- end of their delay from messages_delayed, instead of walking messages_free past every
-- message whose delay goes on (visible_at is created plus the delay, and never changes). A
-- message is in one of these two or in messages_claimed.
--
-- Built CONCURRENTLY, as in version 5.
-- tidings: outside a transaction

DROP INDEX CONCURRENTLY IF EXISTS messages_undelayed;
CREATE INDEX CONCURRENTLY messages_undelayed ON messages (project, queue, seq)
    WHERE claim_expires = 0 AND visible_at <= created;
DROP INDEX CONCURRENTLY IF EXISTS messages_delayed;
CREATE INDEX CONCURRENTLY messages_delayed ON messages (project, queue, visible_at, seq)
    WHERE claim_expires = 0 AND visible_at > created;
DROP INDEX CONCURRENTLY IF EXISTS messages_free;
