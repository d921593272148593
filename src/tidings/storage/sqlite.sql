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
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (project, queue, seq);
CREATE INDEX IF NOT EXISTS messages_by_claim ON messages (claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires);

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
    options BLOB NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0,
    secret TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_by_subscriber
    ON subscriptions (project, source, subscriber);
CREATE INDEX IF NOT EXISTS subscriptions_by_source ON subscriptions (project, source, id);
CREATE INDEX IF NOT EXISTS subscriptions_by_expiry ON subscriptions (expires);
