CREATE TABLE IF NOT EXISTS queues (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata BLOB NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (project, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    client_id TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    visible_at REAL NOT NULL,
    claim_id TEXT,
    claim_expires REAL NOT NULL DEFAULT 0,
    claim_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_claim ON messages (claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires);
-- A claim (or pop) takes a queue's free messages (never claimed, or released) that were never
-- delayed in post order from messages_undelayed, the free delayed ones by the end of their
-- delay from messages_delayed, and those whose claim ended from messages_claimed, by the
-- claim's end, without walking past the messages other consumers hold or whose delay goes
-- on. A message is in one of the three (visible_at is created plus the delay, never changed).
-- An index entry ends with the rowid (seq): messages_delayed reads by (visible_at, seq).
CREATE INDEX IF NOT EXISTS messages_undelayed ON messages (project, queue, seq)
    WHERE claim_expires = 0 AND visible_at <= created;
CREATE INDEX IF NOT EXISTS messages_delayed ON messages (project, queue, visible_at)
    WHERE claim_expires = 0 AND visible_at > created;
CREATE INDEX IF NOT EXISTS messages_claimed ON messages (project, queue, claim_expires)
    WHERE claim_expires > 0;
-- A queue's messages in post order: messages_undelayed holds the free ones never delayed (most
-- of a backlog), messages_held_or_delayed all the others, so a post writes one of the two and
-- a claim moves what it takes from the first to the second. Reads of a whole queue merge the
-- two (QUEUE_PARTS in sqlite.py); one index of all the queue's messages cost every post a
-- second entry, and a commit of posts to several queues a leaf page more per queue.
CREATE INDEX IF NOT EXISTS messages_held_or_delayed ON messages (project, queue, seq)
    WHERE claim_expires > 0 OR visible_at > created;
DROP INDEX IF EXISTS messages_by_queue;
-- Free messages, delayed or not, in post order: claims read the two indexes above instead.
DROP INDEX IF EXISTS messages_free;

CREATE TABLE IF NOT EXISTS claims (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_by_expiry ON claims (expires);

-- Delivery workers find outbox queues (internal names ending in '#outbox') holding work.
CREATE INDEX IF NOT EXISTS messages_in_outboxes ON messages (project, queue, visible_at)
    WHERE queue GLOB '*#outbox';

-- A subscriber is subscribed at most once to a source (a queue); expired rows are deleted
-- before a subscriber is (re)written, so the unique index only ever meets live ones.
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    source TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    ttl INTEGER NOT NULL,  -- files made before it had the column get it (SUBSCRIPTION_TTL)
    options BLOB NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    secret TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_by_subscriber
    ON subscriptions (project, source, subscriber);
CREATE INDEX IF NOT EXISTS subscriptions_by_source ON subscriptions (project, source, id);
CREATE INDEX IF NOT EXISTS subscriptions_by_expiry ON subscriptions (expires);

-- What a post reads of its queue first (the queue's metadata and its subscriptions) has a
-- version: the processes keep the context they read with it. Every change to a queue or its
-- subscriptions takes the next value of context_clock, which only grows, as its version; the
-- version goes when neither the queue nor a subscription of it is left. A batch of posts reads
-- the clock; a post reads its queue's version only when the clock moved since it was last
-- read, and the whole context only when the version moved (storage/known_contexts.py).
CREATE TABLE IF NOT EXISTS context_clock (n INTEGER NOT NULL);
INSERT INTO context_clock (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM context_clock);
CREATE TABLE IF NOT EXISTS context_versions (
    project TEXT NOT NULL,
    queue TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (project, queue)
) WITHOUT ROWID;
-- Queues and subscriptions made before this table existed get a version too.
INSERT INTO context_versions (project, queue, version)
    SELECT project, queue, 0 FROM (
        SELECT project, name AS queue FROM queues UNION SELECT project, source FROM subscriptions
    ) WHERE true
    ON CONFLICT DO NOTHING;

-- Every change to a queue or its subscriptions inserts (project, queue) here, and this one
-- trigger moves the version: the next value of the clock, or none when neither is left.
CREATE VIEW IF NOT EXISTS context_changes (project, queue) AS
    SELECT project, queue FROM context_versions;
CREATE TRIGGER IF NOT EXISTS context_changed INSTEAD OF INSERT ON context_changes BEGIN
    UPDATE context_clock SET n = n + 1;
    INSERT INTO context_versions VALUES (new.project, new.queue, (SELECT n FROM context_clock))
        ON CONFLICT DO UPDATE SET version = excluded.version;
    DELETE FROM context_versions WHERE project = new.project AND queue = new.queue
        AND NOT EXISTS (SELECT 1 FROM queues WHERE project = new.project AND name = new.queue)
        AND NOT EXISTS (
            SELECT 1 FROM subscriptions WHERE project = new.project AND source = new.queue
        );
END;
CREATE TRIGGER IF NOT EXISTS context_of_new_queue AFTER INSERT ON queues BEGIN
    INSERT INTO context_changes VALUES (new.project, new.name);
END;
CREATE TRIGGER IF NOT EXISTS context_of_queue_metadata AFTER UPDATE OF metadata ON queues BEGIN
    INSERT INTO context_changes VALUES (new.project, new.name);
END;
CREATE TRIGGER IF NOT EXISTS context_of_deleted_queue AFTER DELETE ON queues BEGIN
    INSERT INTO context_changes VALUES (old.project, old.name);
END;
CREATE TRIGGER IF NOT EXISTS context_of_new_subscription AFTER INSERT ON subscriptions BEGIN
    INSERT INTO context_changes VALUES (new.project, new.source);
END;
CREATE TRIGGER IF NOT EXISTS context_of_changed_subscription AFTER UPDATE ON subscriptions
BEGIN
    INSERT INTO context_changes VALUES (old.project, old.source);
    INSERT INTO context_changes VALUES (new.project, new.source);
END;
CREATE TRIGGER IF NOT EXISTS context_of_deleted_subscription AFTER DELETE ON subscriptions
BEGIN
    INSERT INTO context_changes VALUES (old.project, old.source);
END;
