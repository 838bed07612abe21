-- HealOps schema 6: a run's metric points are no longer stored one row each. Ingest wrote
-- 5-6 point rows per run (the check's metrics, healops.check.outcome, .duration_ms,
-- healops.repair), each with two index entries: most of the work of storing a run. Now
-- the run row keeps what those points are made of (server/points.c points_from_run:
-- the run's own columns plus the two below) and `points` gets one small row per run,
-- which stands for all of them in the forwarders' outbox order; a forwarder turns it
-- back into the points when it reads it. Series (GET /api/v1/checks/A/C/series,
-- graph.png) read the runs through runs_agent_check instead of points_series.
-- Point rows stored before this migration stay as they are and are forwarded as before.
ALTER TABLE runs ADD COLUMN environment TEXT;  -- the agent's environment tag, NULL = default
ALTER TABLE runs ADD COLUMN tags TEXT;         -- the package's tags, JSON object, NULL = none
-- Not NULL: this row stands for the points of the run with this seq (name is '',
-- value 0, ts the run's started_at, tags '{}'). NULL: a point of a stat batch, or of a
-- run stored before this migration.
ALTER TABLE points ADD COLUMN run INTEGER;
-- Nothing reads points by series any more: stat batches have no check, and check series
-- come from runs.
DROP INDEX points_series;
