-- HealOps schema 3: package versions and their bundles, assignments (which version
-- which agents run, with staged rollouts and automatic halting), and the package
-- errors agents report in heartbeats. DESIGN.md sections 3, 5 and 6.
-- Applied by server/store_sqlite.c in one transaction with PRAGMA user_version = 3.
-- Times are integer milliseconds since the Unix epoch.

-- One row per published NAME + VERSION; immutable once stored.
CREATE TABLE package_versions (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,              -- semantic version x.y.z[-pre][+build]
    sha256       TEXT NOT NULL,              -- lowercase hex of the bundle bytes
    size         INTEGER NOT NULL,           -- bundle bytes
    signature    TEXT,                       -- base64 Ed25519 signature, NULL = unsigned
    key_id       TEXT,                       -- publisher key that verified it, NULL = none
    manifest     TEXT NOT NULL,              -- healops-package.json as published
    description  TEXT,
    checks       TEXT NOT NULL DEFAULT '[]', -- JSON array of the check names
    published_at INTEGER NOT NULL,
    UNIQUE (name, version)
);

-- The bundle bytes, apart from the metadata so listing versions never reads them.
CREATE TABLE package_bundles (
    version INTEGER PRIMARY KEY REFERENCES package_versions(id) ON DELETE CASCADE,
    data    BLOB NOT NULL
);

-- At most one assignment per package. resolved_version is what "version" (a version
-- or "latest") stands for now; previous_version what it stood for before, which
-- agents outside the rollout percentage (or every agent, once halted) keep.
-- watch_* are the rollout watcher's running counts of runs since updated_at,
-- gathered incrementally from runs with seq > watch_seq.
CREATE TABLE assignments (
    package          TEXT PRIMARY KEY,
    selector         TEXT NOT NULL DEFAULT '{}', -- JSON object of label = value
    version          TEXT NOT NULL,              -- as asked: a version or "latest"
    resolved_version TEXT NOT NULL,
    previous_version TEXT,
    rollout_percent  INTEGER NOT NULL CHECK (rollout_percent BETWEEN 0 AND 100),
    updated_at       INTEGER NOT NULL,
    halted           INTEGER NOT NULL DEFAULT 0,
    halt_reason      TEXT,
    halted_at        INTEGER,
    watch_seq        INTEGER NOT NULL DEFAULT 0,
    new_runs         INTEGER NOT NULL DEFAULT 0,
    new_failed       INTEGER NOT NULL DEFAULT 0,
    prev_runs        INTEGER NOT NULL DEFAULT 0,
    prev_failed      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- What each agent's last heartbeat said failed (download, verification, install),
-- one row per agent and package; a heartbeat with "package_errors" replaces its set.
CREATE TABLE package_errors (
    agent   INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    version TEXT,
    error   TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (agent, package)
) WITHOUT ROWID;
CREATE INDEX package_errors_package ON package_errors (package);
