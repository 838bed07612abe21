/*
 * Read-only queries for GET /metrics and the graph series endpoint, on a
 * connection of their own to the server's database file (WAL mode: a reader
 * sees a consistent snapshot and neither waits for nor blocks the writer, so a
 * scrape walking 200,000 state rows never stalls ingest behind the store's
 * mutex). A struct store_read is for one thread at a time; opening one is
 * cheap (a file open, statements prepared on first use), so a handler opens
 * one per request. Only store_sqlite_read.c knows SQL.
 */
#ifndef HO_STORE_READ_H
#define HO_STORE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "error.h"

#define STORE_SERIES_MAX_LIMIT 10000 /* points per series answer */
#define STORE_METRIC_NAMES_MAX 1000  /* metric names listed per check */

struct store_read;

/*
 * Opens the database file at path (created and migrated before by store_open)
 * read-only. HO_EDB with err filled when it cannot be opened.
 */
enum ho_code store_read_open(const char *path, struct store_read **out,
                             struct ho_error *err) HO_WUR;
/* Finalizes the statements and closes the connection; NULL is accepted. */
void store_read_close(struct store_read *r);

/* Number of agents, and of those not seen (run or heartbeat) since silent_before_ms. */
enum ho_code store_read_agent_counts(struct store_read *r, int64_t silent_before_ms, int64_t *total,
                                     int64_t *silent, struct ho_error *err) HO_WUR;

/* The last state of one agent x check, as store_read_states hands it over. */
struct check_state_view {
    const char *node; /* agent name; borrowed, valid during the callback only */
    size_t node_len;
    const char *package; /* borrowed */
    size_t package_len;
    const char *check; /* borrowed */
    size_t check_len;
    int outcome; /* enum run_outcome */
    int consecutive_failures;
    int64_t last_run_at_ms;
    int interval_s; /* 0 = unknown */
};

/*
 * Calls fn for the state row of every agent x check, in no particular order,
 * from one statement (no copy, no allocation per row). A fn result other than
 * HO_OK stops the walk and is returned.
 */
enum ho_code store_read_states(struct store_read *r,
                               enum ho_code (*fn)(void *ctx, const struct check_state_view *row),
                               void *ctx, struct ho_error *err) HO_WUR;

/*
 * Finds an agent by id or name and makes sure check is one of its checks (it has
 * a state or runs). Fills agent_rowid, agent_id and agent_name (name buffer of
 * name_size bytes). HO_ENOENT with err->field "agent" or "check" when unknown.
 */
enum ho_code store_read_check_find(struct store_read *r, const char *agent, const char *check,
                                   int64_t *agent_rowid, char agent_id[CRYPTO_UUID_LEN],
                                   char *agent_name, size_t name_size, struct ho_error *err) HO_WUR;

/*
 * Names of the metrics of an agent x check (those of its newest 1000 runs: its
 * own metrics and the healops.* figures points_from_run adds), sorted, at most max
 * (1..STORE_METRIC_NAMES_MAX); *more is set when there are more. Fills *names
 * with a new array of new strings (caller frees with store_read_names_free).
 */
enum ho_code store_read_metric_names(struct store_read *r, int64_t agent_rowid, const char *check,
                                     size_t max, char ***names, size_t *n, int *more,
                                     struct ho_error *err) HO_WUR;
/* Frees the n names and the array; NULL is accepted. */
void store_read_names_free(char **names, size_t n);

/* Whether the metric is one of those names of the agent x check (HO_ENOENT if not). */
enum ho_code store_read_metric_known(struct store_read *r, int64_t agent_rowid, const char *check,
                                     const char *metric, struct ho_error *err) HO_WUR;

struct series_point {
    int64_t ts_ms;
    double value;
};

/*
 * The newest limit (1..STORE_SERIES_MAX_LIMIT) points of one metric from the
 * runs with since_ms <= started_at < until_ms (until_ms 0 = no bound), each at
 * the metric's own timestamp (the run's start when it has none), oldest first in
 * out (an array of at least limit points, owned by the caller). *truncated is
 * set when older points in the window were left out.
 */
enum ho_code store_read_series(struct store_read *r, int64_t agent_rowid, const char *check,
                               const char *metric, int64_t since_ms, int64_t until_ms, size_t limit,
                               struct series_point *out, size_t *n, int *truncated,
                               struct ho_error *err) HO_WUR;

/*
 * Test helper: inserts one ok run of check started at ts_ms (outcome ok,
 * duration 0) whose only metric is name = value, straight into the runs table
 * of the database file at path, for the agent with this id or name; a separate
 * read-write connection, opened and closed here.
 */
enum ho_code store_read_test_insert_run(const char *path, const char *agent, const char *check,
                                        const char *name, int64_t ts_ms, double value) HO_WUR;

#endif
