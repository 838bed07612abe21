-- HealOps schema 4: alerts (DESIGN.md section 8), their durable delivery outbox and the
-- delivery counters of each receiver. Times are integer milliseconds since the Unix epoch.

-- One row per alert, open (resolved_at NULL) or resolved: the alert history.
CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL,             -- de-dup key "healops:AGENT_ID:CHECK" ("-": agent-level)
    agent          INTEGER NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    check_name     TEXT NOT NULL,             -- "-" for agent-level alerts (silent)
    package        TEXT,                      -- NULL for agent-level alerts
    kind           TEXT NOT NULL,             -- failed | silent | flapping | guard_exhausted | stale
    severity       TEXT NOT NULL,             -- critical | warning | info
    summary        TEXT NOT NULL,             -- one line
    context        TEXT NOT NULL DEFAULT '{}', -- JSON object: manifest alert block, outputs, ...
    opened_at      INTEGER NOT NULL,
    last_sent_at   INTEGER NOT NULL,          -- last trigger or repeat
    last_resend_at INTEGER NOT NULL,          -- last re-send to receivers that need it (Alertmanager)
    count          INTEGER NOT NULL DEFAULT 1, -- times triggered or repeated
    resolved_at    INTEGER,                   -- NULL = open
    last_run_id    TEXT                       -- runs.id of the newest run seen by the alert
);
-- At most one open alert per agent x check; also the lookup of "the open alert of KEY".
CREATE UNIQUE INDEX alerts_open ON alerts (key) WHERE resolved_at IS NULL;
-- GET /api/v1/alerts: newest first by (opened_at, id), with or without an agent.
CREATE INDEX alerts_opened ON alerts (opened_at);
CREATE INDEX alerts_agent ON alerts (agent, opened_at);

-- One row per (alert event x receiver): the encoded request, kept until delivered or
-- refused, so nothing is lost while a receiver is down and a restart resumes delivery.
-- url, headers and body may hold secrets: no API returns them, and they are cleared once
-- the row is finished (delivered or failed).
CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY,
    alert           INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,            -- trigger | repeat | resolve | resend
    receiver        TEXT NOT NULL,            -- receiver name in the server config
    url             TEXT,
    content_type    TEXT,
    headers         TEXT,                     -- "Name: value" lines
    body            BLOB,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,                  -- set: done
    failed_at       INTEGER,                  -- set: refused for good (or could not be encoded)
    last_status     INTEGER,                  -- HTTP status of the last answer, NULL = none
    last_error      TEXT,
    fallback_of     INTEGER REFERENCES alert_outbox(id) ON DELETE SET NULL
);
-- The delivery thread's "what is due": pending rows only, a small part of the table.
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX alert_outbox_alert ON alert_outbox (alert);
CREATE INDEX alert_outbox_fallback ON alert_outbox (fallback_of);
CREATE INDEX alert_outbox_receiver ON alert_outbox (receiver)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Delivery counters of each receiver (by name), so a failing receiver is visible.
CREATE TABLE receiver_state (
    name             TEXT PRIMARY KEY,
    delivered        INTEGER NOT NULL DEFAULT 0, -- messages delivered, total
    failed           INTEGER NOT NULL DEFAULT 0, -- messages refused for good, total
    attempts_failed  INTEGER NOT NULL DEFAULT 0, -- failed attempts (retried or not), total
    last_error       TEXT,
    last_error_at    INTEGER,
    last_success_at  INTEGER
) WITHOUT ROWID;
