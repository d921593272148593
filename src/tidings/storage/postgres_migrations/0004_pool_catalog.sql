-- tidings on PostgreSQL, schema version 4: the pool catalog (storage/postgres_catalog.py), used
-- when this database is the default storage of a deployment with pools.

CREATE TABLE catalog_pools (
    name text COLLATE "C" PRIMARY KEY,
    uri text NOT NULL,
    weight bigint NOT NULL,
    flavor text COLLATE "C",
    options json NOT NULL
);

CREATE TABLE catalog_flavors (name text COLLATE "C" PRIMARY KEY);

CREATE TABLE catalog_placements (
    project text COLLATE "C" NOT NULL,
    queue text COLLATE "C" NOT NULL,
    pool text COLLATE "C" NOT NULL,
    PRIMARY KEY (project, queue)
);
-- Whether a pool still holds queues (pool delete).
CREATE INDEX catalog_placements_by_pool ON catalog_placements (pool);

CREATE TABLE catalog_version (
    one integer PRIMARY KEY CHECK (one = 1),
    version bigint NOT NULL
);
INSERT INTO catalog_version VALUES (1, 0);
