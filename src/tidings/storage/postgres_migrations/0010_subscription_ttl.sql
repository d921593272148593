-- tidings on PostgreSQL, schema version 10: a subscription keeps the TTL it was last given.
-- An update's TTL counts from the update, so `expires - created` (what the TTL was read as
-- before) grew by the subscription's age at each update. Existing rows get that difference,
-- which is the TTL they were created with unless they were updated.

ALTER TABLE subscriptions ADD COLUMN ttl integer;
UPDATE subscriptions SET ttl = round(expires - created);
ALTER TABLE subscriptions ALTER COLUMN ttl SET NOT NULL;
