/*
 * The store's read for graph images (server/api_graph.c): when the failed and
 * error runs of one agent x check happened, to mark them on the graph.
 * Implemented by store_sqlite_graph.c.
 */
#ifndef HO_STORE_GRAPH_H
#define HO_STORE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct store;

#define STORE_GRAPH_FAILURES_MAX 2000 /* failed runs marked on one graph */

struct store_failure {
    int64_t started_at_ms;
    int64_t duration_ms;
    int outcome; /* enum run_outcome: RUN_OUTCOME_FAILED or RUN_OUTCOME_ERROR */
};

/*
 * The newest max (1..STORE_GRAPH_FAILURES_MAX) runs with outcome failed or error
 * of the agent with rowid agent_rowid (store_read_check_find) and check, with
 * since_ms <= started_at < until_ms, oldest first into out (at least max
 * entries, owned by the caller). HO_EDB with err filled on a database failure.
 */
enum ho_code store_graph_failures(struct store *st, int64_t agent_rowid, const char *check,
                                  int64_t since_ms, int64_t until_ms, size_t max,
                                  struct store_failure *out, size_t *n,
                                  struct ho_error *err) HO_WUR;

#endif
