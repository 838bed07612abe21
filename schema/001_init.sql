-- HealOps schema 1: agents, tokens, runs, and the last state of every agent x check.
-- Applied by server/store_sqlite.c in one transaction together with PRAGMA user_version = 1.
-- Times are integer milliseconds since the Unix epoch. Enums are the small integers of
-- common/run.h (test_status, repair_status, run_outcome) and server/store.h (token_scope).

CREATE TABLE agents (
    id          INTEGER PRIMARY KEY,         -- rowid, what other tables reference
    uid         TEXT NOT NULL UNIQUE,        -- the agent id (UUIDv7) shown in the API
    name        TEXT NOT NULL UNIQUE CHECK (name <> ''),
    labels      TEXT NOT NULL DEFAULT '{}',  -- JSON object
    version     TEXT,                        -- agent version from the last heartbeat
    packages    TEXT,                        -- JSON array [{"name","version"}]
    spool_depth INTEGER NOT NULL DEFAULT 0,
    dropped     INTEGER NOT NULL DEFAULT 0,
    enrolled_at INTEGER NOT NULL,
    last_seen   INTEGER                      -- NULL = never
);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,         -- lowercase hex SHA-256 of the token
    scope      INTEGER NOT NULL,             -- enum token_scope
    name       TEXT NOT NULL DEFAULT '',
    agent      INTEGER REFERENCES agents(id) ON DELETE CASCADE, -- agent tokens only
    created_at INTEGER NOT NULL,
    expires_at INTEGER,                      -- NULL = never
    revoked_at INTEGER                       -- NULL = live
);
-- Re-enrolment revokes an agent's tokens; also the child index of the foreign key.
CREATE INDEX tokens_agent ON tokens (agent);

-- One row per run. seq (the rowid) orders runs that share a started_at and is the
-- second half of the paging key; every index below ends in it implicitly.
CREATE TABLE runs (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,      -- UUIDv7 made by the agent: time-ordered appends
    agent         INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    package       TEXT NOT NULL,
    version       TEXT,
    check_name    TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    manual        INTEGER NOT NULL,          -- 0/1
    operator      TEXT,
    interval_s    INTEGER NOT NULL,          -- 0 = unknown
    test_status   INTEGER,                   -- NULL = no test step
    test_exit     INTEGER,                   -- NULL = did not exit
    test_output   TEXT,
    test_ms       INTEGER,
    repair_status INTEGER,                   -- NULL = no repair attempted
    repair_exit   INTEGER,
    repair_output TEXT,
    repair_ms     INTEGER,
    retest_status INTEGER,                   -- NULL = no retest
    retest_exit   INTEGER,
    retest_output TEXT,
    retest_ms     INTEGER,
    outcome       INTEGER NOT NULL,
    metrics       TEXT,                      -- JSON array, NULL = none
    received_at   INTEGER NOT NULL
);

-- Newest-first keyset paging: ORDER BY started_at DESC, seq DESC with
-- (started_at, seq) < (cursor) is a backwards range scan of one of these, whichever
-- has the query's equality filter in front; seq is the implicit rowid tail.
CREATE INDEX runs_started ON runs (started_at);
CREATE INDEX runs_agent ON runs (agent, started_at);
CREATE INDEX runs_agent_check ON runs (agent, check_name, started_at);
CREATE INDEX runs_check ON runs (check_name, started_at);
CREATE INDEX runs_package ON runs (package, started_at);
-- GET /repairs: a small part of all runs.
CREATE INDEX runs_repairs ON runs (started_at) WHERE repair_status IS NOT NULL;
-- manual=true: runs by hand are few.
CREATE INDEX runs_manual ON runs (started_at) WHERE manual <> 0;
-- outcome=repaired|failed|error: rare next to ok, which the base index serves by
-- scanning (most rows match). Queries repeat "outcome <> 0" to use it.
CREATE INDEX runs_not_ok ON runs (outcome, started_at) WHERE outcome <> 0;

-- The last run of every agent x check (GET /state). A rowid table (not WITHOUT ROWID)
-- so a paging cursor can name a row in a few bytes.
CREATE TABLE state (
    id                   INTEGER PRIMARY KEY,
    agent                INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    check_name           TEXT NOT NULL,
    package              TEXT NOT NULL,
    run_id               TEXT NOT NULL,      -- runs.id of the newest run
    outcome              INTEGER NOT NULL,
    test_status          INTEGER,
    repair_status        INTEGER,            -- NULL = no repair
    retest_status        INTEGER,            -- NULL = no retest
    manual               INTEGER NOT NULL,
    last_run_at          INTEGER NOT NULL,   -- started_at of the newest run
    last_ok_at           INTEGER,            -- newest ok/repaired started_at, NULL = never
    consecutive_failures INTEGER NOT NULL,   -- newest runs in a row failed or error
    interval_s           INTEGER NOT NULL,
    UNIQUE (agent, check_name)
);
