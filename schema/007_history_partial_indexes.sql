-- HealOps schema 7: GET /api/v1/repairs and manual=true with an agent, a check or a package
-- (or an agent and a check).
-- Repairs are a few percent of runs and manual runs fewer still, so without these the
-- planner walks every run of the agent (or of the check) newest first to find the few that
-- match: about 200 ms at 10 million runs. Partial, so ingest of runs without a repair
-- pays nothing for them; queries repeat "repair_status IS NOT NULL" / "manual <> 0" to use
-- them. Building them reads the runs table once each (1 to 2.5 s per index at 3 million
-- runs on a 2-core machine), once, when the server starts after the upgrade.
CREATE INDEX runs_agent_repairs ON runs (agent, started_at) WHERE repair_status IS NOT NULL;
CREATE INDEX runs_agent_check_repairs ON runs (agent, check_name, started_at)
    WHERE repair_status IS NOT NULL;
CREATE INDEX runs_check_repairs ON runs (check_name, started_at) WHERE repair_status IS NOT NULL;
CREATE INDEX runs_package_repairs ON runs (package, started_at) WHERE repair_status IS NOT NULL;
CREATE INDEX runs_agent_manual ON runs (agent, started_at) WHERE manual <> 0;
