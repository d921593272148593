-- tidings on PostgreSQL, schema version 3: every statement that inserts messages (post, move,
-- outbox) notifies, in its own transaction, the channel of each queue it wrote to, so that
-- waiters in any process wake at commit (Storage.watch, long polling, WebSocket push).
-- The channel is 't' followed by the md5 of '<project>/<queue>' (a queue name has no '/');
-- the driver computes the same name.

CREATE FUNCTION tidings_notify_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('t' || md5(queues.project || '/' || queues.queue), '')
    FROM (SELECT DISTINCT project, queue FROM posted) AS queues;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_posted
    AFTER INSERT ON messages
    REFERENCING NEW TABLE AS posted
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_notify_posted();
