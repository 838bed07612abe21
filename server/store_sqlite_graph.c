/*
 * The SQLite side of store_graph.h: failed and error runs of one agent x check
 * in a time window, for the red bands of a graph image. One backwards range
 * scan of runs_agent_check (agent, check_name, started_at) stopped by LIMIT;
 * the outcome filter reads only rows of that check in the window.
 */
#include <sqlite3.h>
#include <string.h>

#include "run.h"
#include "store_graph.h"
#include "store_sqlite_impl.h"

static const char sql_graph_failures[] =
    "SELECT started_at, duration_ms, outcome FROM runs "
    "WHERE agent = ?1 AND check_name = ?2 AND started_at >= ?3 AND started_at < ?4 "
    "AND outcome IN (2, 3) ORDER BY started_at DESC LIMIT ?5";

enum ho_code store_graph_failures(struct store *st, int64_t agent_rowid, const char *check,
                                  int64_t since_ms, int64_t until_ms, size_t max,
                                  struct store_failure *out, size_t *n, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    size_t k = 0, i;
    int r = SQLITE_DONE;

    *n = 0;
    if (max == 0 || max > STORE_GRAPH_FAILURES_MAX)
        return ho_error_set(err, HO_EINVAL, NULL, "failures: max out of range");
    store_lock(st);
    rc = store_stmt(st, sql_graph_failures, &s);
    if (rc != HO_OK) {
        rc = store_fail(st, err, "graph failures");
        goto out;
    }
    sqlite3_bind_int64(s, 1, agent_rowid);
    store_bind_text(s, 2, check);
    sqlite3_bind_int64(s, 3, since_ms);
    sqlite3_bind_int64(s, 4, until_ms);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)max);
    while (k < max && (r = sqlite3_step(s)) == SQLITE_ROW) {
        out[k].started_at_ms = sqlite3_column_int64(s, 0);
        out[k].duration_ms = sqlite3_column_int64(s, 1);
        out[k].outcome = sqlite3_column_int(s, 2);
        k++;
    }
    if (k < max && r != SQLITE_DONE)
        rc = store_fail(st, err, "graph failures");
    store_stmt_done(s);
    /* newest first from the index; the graph wants oldest first */
    for (i = 0; i < k / 2; i++) {
        struct store_failure t = out[i];

        out[i] = out[k - 1 - i];
        out[k - 1 - i] = t;
    }
    *n = rc == HO_OK ? k : 0;
out:
    store_unlock(st);
    return rc;
}
