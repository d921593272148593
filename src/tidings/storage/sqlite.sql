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
