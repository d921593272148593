-- tidings on PostgreSQL, schema version 8: a post notifies the queues it wrote to only when
-- some process watches them. NOTIFY serializes the commits of every notifying transaction
-- of the cluster (it holds one lock from before the commit until after it, the WAL flush
-- included), so every post notifying made the cluster's posts commit one at a time.
--
-- The connection a process LISTENs on registers each queue it listens to, under the queue's
-- advisory lock, which every insert of messages holds until it commits: a post either
-- committed before the registration (the watcher looks again once it listens), or sees it
-- and notifies. gc deletes the rows of connections that are gone.

CREATE TABLE watched_queues (
    project text COLLATE "C" NOT NULL,
    queue text COLLATE "C" NOT NULL,
    listener integer NOT NULL,  -- pg_backend_pid() of the LISTENing connection
    PRIMARY KEY (project, queue, listener)
);

CREATE OR REPLACE FUNCTION tidings_notify_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('t' || md5(queues.project || '/' || queues.queue), '')
    FROM (SELECT DISTINCT project, queue FROM posted) AS queues
    WHERE EXISTS (
        SELECT FROM watched_queues AS watched
        WHERE watched.project = queues.project AND watched.queue = queues.queue
    );
    RETURN NULL;
END
$$;
