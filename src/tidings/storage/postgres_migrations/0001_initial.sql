-- tidings on PostgreSQL, schema version 1: queues, messages and claims.
--
-- Times are seconds since the epoch (double precision) handed in by the service; the database
-- clock is never read. Names sort byte-wise (COLLATE "C"), as on every other backend.

CREATE TABLE queues (
    project text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    metadata json NOT NULL,
    created double precision NOT NULL,
    PRIMARY KEY (project, name)
);

CREATE TABLE messages (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL,
    project text COLLATE "C" NOT NULL,
    queue text COLLATE "C" NOT NULL,
    body bytea NOT NULL,
    client_id text NOT NULL,
    created double precision NOT NULL,
    expires double precision NOT NULL,
    visible_at double precision NOT NULL,
    claim_id text,
    claim_expires double precision NOT NULL DEFAULT 0,
    claim_count integer NOT NULL DEFAULT 0
);

-- List, claim, pop and stats walk one queue in post order.
CREATE INDEX messages_by_queue ON messages (project, queue, seq);
-- Get, delete and move look messages up by id.
CREATE UNIQUE INDEX messages_by_id ON messages (id);
-- A claim's messages (get, renew, release).
CREATE INDEX messages_by_claim ON messages (claim_id) WHERE claim_id IS NOT NULL;
-- gc.
CREATE INDEX messages_by_expiry ON messages (expires);

CREATE TABLE claims (
    id text PRIMARY KEY,
    project text COLLATE "C" NOT NULL,
    queue text COLLATE "C" NOT NULL,
    created double precision NOT NULL,
    expires double precision NOT NULL
);

-- Queue delete and purge.
CREATE INDEX claims_by_queue ON claims (project, queue);
-- gc.
CREATE INDEX claims_by_expiry ON claims (expires);
