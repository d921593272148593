-- tidings on PostgreSQL, schema version 5: claims and pops take a queue's free messages (never
-- claimed, or released) in post order from messages_free, and those whose claim ended from
-- messages_claimed, by the claim's end, instead of walking the queue past every message
-- other consumers hold. A message is in one of the two.

CREATE INDEX messages_free ON messages (project, queue, seq) WHERE claim_expires = 0;
CREATE INDEX messages_claimed ON messages (project, queue, claim_expires)
    WHERE claim_expires > 0;
