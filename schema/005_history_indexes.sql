-- HealOps schema 5: history queries that filter an agent, a check or a package by an
-- outcome other than ok (GET /api/v1/runs?agent=A&outcome=failed, ...). Without these the
-- planner walks every run of the agent (or every not-ok run of the fleet) to find the few
-- that match. Partial like runs_not_ok: only not-ok runs are indexed, so ingest of ok runs
-- does not pay for them. Queries repeat "outcome <> 0" to use them; each index ends in the
-- rowid (seq), the second half of the paging key.
CREATE INDEX runs_agent_not_ok ON runs (agent, outcome, started_at) WHERE outcome <> 0;
CREATE INDEX runs_check_not_ok ON runs (check_name, outcome, started_at) WHERE outcome <> 0;
CREATE INDEX runs_package_not_ok ON runs (package, outcome, started_at) WHERE outcome <> 0;
