-- tidings on PostgreSQL, schema version 2: subscriptions, and the index delivery workers use to
-- find outbox queues (internal queues named '<queue>#outbox') that hold work.

CREATE TABLE subscriptions (
    id text COLLATE "C" PRIMARY KEY,
    project text COLLATE "C" NOT NULL,
    source text COLLATE "C" NOT NULL,
    subscriber text COLLATE "C" NOT NULL,
    created double precision NOT NULL,
    expires double precision NOT NULL,
    options json NOT NULL,
    confirmed boolean NOT NULL DEFAULT false,
    secret text NOT NULL
);

-- One subscription per subscriber and source: create, and the conflict check of update. An
-- expired row is replaced (create) or deleted first (update), so it never blocks a live one.
CREATE UNIQUE INDEX subscriptions_by_subscriber ON subscriptions (project, source, subscriber);
-- List (sorted by id, paged by marker) and the subscribers of a source.
CREATE INDEX subscriptions_by_source ON subscriptions (project, source, id);
-- gc.
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires);

-- outboxes(): small, since outboxes are drained as they fill.
CREATE INDEX messages_in_outboxes ON messages (project, queue, visible_at)
    WHERE queue LIKE '%#outbox';
