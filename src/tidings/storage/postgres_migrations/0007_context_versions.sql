-- tidings on PostgreSQL, schema version 7: a version of each queue's post context (its
-- metadata and its subscriptions). A process keeps the context it read with its version,
-- and its next post to the queue names that version instead of reading the context again:
-- the post writes nothing once the version moved (MESSAGES_POST).
--
-- Triggers move the version in the transaction of every change of a queue or of one of its
-- subscriptions (an update never changes a row's queue), whichever statement makes it, to a
-- number never given before. A queue with neither row nor subscription has no version row
-- (read as 0). Moving takes the version row's lock first, so a change that empties the
-- queue's context and one that fills it again take turns, and the one that empties it sees
-- the other's rows once it may delete the version.

CREATE SEQUENCE context_version;

CREATE TABLE context_versions (
    project text COLLATE "C" NOT NULL,
    queue text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (project, queue)
);

INSERT INTO context_versions (project, queue, version)
SELECT project, queue, nextval('context_version')
FROM (SELECT project, name AS queue FROM queues
      UNION SELECT project, source FROM subscriptions) AS contexts;

CREATE FUNCTION move_context_version(of_project text, of_queue text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO context_versions (project, queue, version)
    VALUES (of_project, of_queue, nextval('context_version'))
    ON CONFLICT (project, queue) DO UPDATE SET version = excluded.version;
    DELETE FROM context_versions
    WHERE project = of_project AND queue = of_queue
      AND NOT EXISTS (SELECT FROM queues WHERE project = of_project AND name = of_queue)
      AND NOT EXISTS (
          SELECT FROM subscriptions WHERE project = of_project AND source = of_queue
      );
END
$$;

CREATE FUNCTION queue_context_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM move_context_version(OLD.project, OLD.name);
    ELSE
        PERFORM move_context_version(NEW.project, NEW.name);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION subscription_context_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM move_context_version(OLD.project, OLD.source);
    ELSE
        PERFORM move_context_version(NEW.project, NEW.source);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER queues_move_context_version
AFTER INSERT OR UPDATE OR DELETE ON queues
FOR EACH ROW EXECUTE FUNCTION queue_context_moved();

CREATE TRIGGER subscriptions_move_context_version
AFTER INSERT OR UPDATE OR DELETE ON subscriptions
FOR EACH ROW EXECUTE FUNCTION subscription_context_moved();
