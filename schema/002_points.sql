-- Metric points: every metric of every run and stat, in arrival order.
-- The table is both the forwarders' durable outbox (each forwarder keeps the
-- seq it has delivered up to, so a database down for an hour gets everything
-- later, in order, once) and the recent history behind graphs (series).
CREATE TABLE points (
    seq        INTEGER PRIMARY KEY,          -- outbox order
    agent      INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    check_name TEXT,                         -- NULL for stats not tied to a check
    name       TEXT NOT NULL,                -- metric name
    ts         INTEGER NOT NULL,             -- when it was measured, ms since the epoch
    value      REAL NOT NULL,
    tags       TEXT NOT NULL                 -- JSON object: node, environment, package, check, ...
);
CREATE INDEX points_series ON points(agent, check_name, name, ts);
CREATE INDEX points_ts ON points(ts);

-- Delivery progress of each configured forwarder (by its name).
CREATE TABLE forwarder_state (
    name            TEXT PRIMARY KEY,
    delivered_seq   INTEGER NOT NULL DEFAULT 0, -- every point with seq <= this is delivered
    delivered       INTEGER NOT NULL DEFAULT 0, -- points delivered, total
    dropped         INTEGER NOT NULL DEFAULT 0, -- points the target refused for good (4xx)
    failures        INTEGER NOT NULL DEFAULT 0, -- failed attempts, total
    last_error      TEXT,
    last_attempt_at INTEGER,
    last_success_at INTEGER
) WITHOUT ROWID;

-- Stat batches already stored (POST /api/v1/metrics is idempotent on its batch id).
CREATE TABLE metric_batches (
    id          TEXT PRIMARY KEY,           -- UUIDv7 made by the agent
    agent       INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
