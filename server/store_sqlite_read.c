/*
 * The SQLite side of server/store_read.h: read-only queries behind GET
 * /metrics and GET /api/v1/checks/AGENT/CHECK/series, on their own read-only
 * connection (https://sqlite.org/wal.html: readers and the one writer do not
 * block each other). Every value is bound (https://sqlite.org/c3ref/stmt.html);
 * statements are prepared on first use and kept until the connection closes.
 *
 * Series come from the runs of the check (schema/006_run_points.sql): one
 * backwards range scan of runs_agent_check (agent, check_name, started_at)
 * stopped by LIMIT, the value taken from the run's columns (healops.check.*,
 * healops.repair, as points_from_run makes them) or, for the check's own
 * metrics, from its metrics JSON (json_each). Which metrics a check has is
 * read from its newest SERIES_NAMES_RUNS runs, so it costs the same however
 * long the history is.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "points.h"
#include "run.h"
#include "store_read.h"
#include "store_read_impl.h"

#define STORE_READ_BUSY_MS 5000
#define SERIES_NAMES_RUNS  "1000" /* newest runs of a check whose metric names are listed */

enum read_stmt {
    RS_AGENT_COUNTS,
    RS_STATES,
    RS_AGENT_BY_UID,
    RS_AGENT_BY_NAME,
    RS_CHECK_KNOWN,
    RS_METRIC_NAMES,
    RS_METRIC_KNOWN,
    RS_SERIES_OUTCOME,
    RS_SERIES_DURATION,
    RS_SERIES_REPAIR,
    RS_SERIES_METRIC,
    RS_COUNT
};

/* The newest runs of agent ?1 x check ?2, by runs_agent_check backwards. */
#define RECENT_RUNS                                                                                \
    "WITH recent AS (SELECT metrics, repair_status FROM runs WHERE agent = ?1 "                    \
    "AND check_name = ?2 ORDER BY started_at DESC LIMIT " SERIES_NAMES_RUNS ") "
/* A series, newest first: column 0 the run's started_at, then the value. */
#define SERIES_HEAD "SELECT r.started_at, "
#define SERIES_FROM                                                                                \
    " FROM runs r WHERE r.agent = ?1 AND r.check_name = ?2 AND r.started_at >= ?3 "                \
    "AND r.started_at < ?4"
#define SERIES_FROM_METRICS                                                                        \
    " FROM runs r CROSS JOIN json_each(r.metrics) j WHERE r.agent = ?1 AND r.check_name = ?2 "     \
    "AND r.started_at >= ?3 AND r.started_at < ?4 AND r.metrics IS NOT NULL"
#define SERIES_TAIL " ORDER BY r.started_at DESC, r.seq DESC LIMIT ?5"

static const char *const read_sql[RS_COUNT] = {
    [RS_AGENT_COUNTS] = "SELECT count(*), coalesce(sum(last_seen IS NULL OR last_seen < ?1), 0) "
                        "FROM agents",
    /* state outer (one pass over its table), each agent's name by its primary key */
    [RS_STATES] = "SELECT a.name, s.package, s.check_name, s.outcome, s.consecutive_failures, "
                  "s.last_run_at, s.interval_s FROM state s CROSS JOIN agents a "
                  "ON a.id = s.agent",
    [RS_AGENT_BY_UID] = "SELECT id, uid, name FROM agents WHERE uid = ?1",
    [RS_AGENT_BY_NAME] = "SELECT id, uid, name FROM agents WHERE name = ?1",
    [RS_CHECK_KNOWN] = "SELECT EXISTS (SELECT 1 FROM state WHERE agent = ?1 AND check_name = ?2) "
                       "OR EXISTS (SELECT 1 FROM runs WHERE agent = ?1 AND check_name = ?2)",
    /* ?3 limit, ?4 REPAIR_STATUS_SUPPRESSED */
    [RS_METRIC_NAMES] = RECENT_RUNS "SELECT name FROM ("
                        " SELECT json_extract(j.value, '$.name') AS name"
                        " FROM recent CROSS JOIN json_each(recent.metrics) j"
                        " UNION SELECT '" POINTS_OUTCOME "' FROM recent"
                        " UNION SELECT '" POINTS_DURATION "' FROM recent"
                        " UNION SELECT '" POINTS_REPAIR "' FROM recent"
                        " WHERE repair_status IS NOT NULL AND repair_status <> ?4)"
                        " WHERE name IS NOT NULL ORDER BY name LIMIT ?3",
    /* ?3 metric, ?4 REPAIR_STATUS_SUPPRESSED */
    [RS_METRIC_KNOWN] = RECENT_RUNS "SELECT 1 FROM recent WHERE ?3 IN ('" POINTS_OUTCOME "', '"
                        POINTS_DURATION "') OR (?3 = '" POINTS_REPAIR "' AND repair_status IS "
                        "NOT NULL AND repair_status <> ?4) OR EXISTS (SELECT 1 FROM "
                        "json_each(recent.metrics) j WHERE json_extract(j.value, '$.name') = ?3) "
                        "LIMIT 1",
    /* ?3 since, ?4 until, ?5 limit; column 1 per metric (series_stmt) */
    [RS_SERIES_OUTCOME] = SERIES_HEAD "r.outcome" SERIES_FROM SERIES_TAIL,
    [RS_SERIES_DURATION] = SERIES_HEAD "r.duration_ms" SERIES_FROM SERIES_TAIL,
    /* ?6 REPAIR_STATUS_SUCCEEDED, ?7 RUN_OUTCOME_REPAIRED, ?8 REPAIR_STATUS_SUPPRESSED */
    [RS_SERIES_REPAIR] = SERIES_HEAD "r.repair_status = ?6 AND r.outcome = ?7" SERIES_FROM
                         " AND r.repair_status IS NOT NULL AND r.repair_status <> ?8" SERIES_TAIL,
    /* ?6 metric name; column 2 its timestamp (RFC 3339, NULL = the run's started_at) */
    [RS_SERIES_METRIC] = SERIES_HEAD "json_extract(j.value, '$.value'), "
                         "json_extract(j.value, '$.timestamp')" SERIES_FROM_METRICS
                         " AND json_extract(j.value, '$.name') = ?6" SERIES_TAIL,
};

struct store_read {
    sqlite3 *db;
    sqlite3_stmt *s[RS_COUNT]; /* prepared on first use */
};

static enum ho_code read_fail(struct store_read *r, struct ho_error *err, const char *what)
{
    log_warnx("store_read: %s: %s", what, sqlite3_errmsg(r->db));
    return ho_error_set(err, HO_EDB, NULL, "database error (%s)", what);
}

/* The statement id, prepared on first use and reset for binding. */
static enum ho_code HO_WUR read_stmt(struct store_read *r, enum read_stmt id, sqlite3_stmt **out,
                                     struct ho_error *err)
{
    if (r->s[id] == NULL &&
        sqlite3_prepare_v3(r->db, read_sql[id], -1, 0, &r->s[id], NULL) != SQLITE_OK)
        return read_fail(r, err, "prepare");
    *out = r->s[id];
    return HO_OK;
}

static void read_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Text is bound SQLITE_STATIC: read_done clears it before the caller's string goes. */
static void read_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

enum ho_code store_read_open(const char *path, struct store_read **out, struct ho_error *err)
{
    struct store_read *r = xcalloc(1, sizeof(*r));

    *out = NULL;
    if (path == NULL || path[0] == '\0') {
        free(r);
        return ho_error_set(err, HO_EDB, NULL, "no database file to read");
    }
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        ho_error_set(err, HO_EDB, NULL, "cannot open database %s: %s", path,
                     r->db != NULL ? sqlite3_errmsg(r->db) : "out of memory");
        store_read_close(r);
        return HO_EDB;
    }
    sqlite3_busy_timeout(r->db, STORE_READ_BUSY_MS);
    *out = r;
    return HO_OK;
}

void store_read_close(struct store_read *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < RS_COUNT; i++)
        sqlite3_finalize(r->s[i]);
    if (r->db != NULL && sqlite3_close(r->db) != SQLITE_OK)
        log_warnx("store_read: close: %s", sqlite3_errmsg(r->db));
    free(r);
}

enum ho_code store_read_agent_counts(struct store_read *r, int64_t silent_before_ms, int64_t *total,
                                     int64_t *silent, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;

    rc = read_stmt(r, RS_AGENT_COUNTS, &s, err);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, silent_before_ms);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *total = sqlite3_column_int64(s, 0);
        *silent = sqlite3_column_int64(s, 1);
    } else {
        rc = read_fail(r, err, "count agents");
    }
    read_done(s);
    return rc;
}

static const char *col_text(sqlite3_stmt *s, int i, size_t *len)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    *len = (size_t)sqlite3_column_bytes(s, i);
    return t != NULL ? (const char *)t : "";
}

enum ho_code store_read_states(struct store_read *r,
                               enum ho_code (*fn)(void *ctx, const struct check_state_view *row),
                               void *ctx, struct ho_error *err)
{
    struct check_state_view v;
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int step = SQLITE_DONE;

    rc = read_stmt(r, RS_STATES, &s, err);
    if (rc != HO_OK)
        return rc;
    while (rc == HO_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
        v.node = col_text(s, 0, &v.node_len);
        v.package = col_text(s, 1, &v.package_len);
        v.check = col_text(s, 2, &v.check_len);
        v.outcome = sqlite3_column_int(s, 3);
        v.consecutive_failures = sqlite3_column_int(s, 4);
        v.last_run_at_ms = sqlite3_column_int64(s, 5);
        v.interval_s = sqlite3_column_int(s, 6);
        rc = fn(ctx, &v);
    }
    if (rc == HO_OK && step != SQLITE_DONE)
        rc = read_fail(r, err, "read states");
    read_done(s);
    return rc;
}

/* Looks an agent up by one key; HO_ENOENT when there is none. */
static enum ho_code HO_WUR read_agent_by(struct store_read *r, enum read_stmt id, const char *key,
                                         int64_t *rowid, char agent_id[CRYPTO_UUID_LEN], char *name,
                                         size_t name_size, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int step;

    rc = read_stmt(r, id, &s, err);
    if (rc != HO_OK)
        return rc;
    read_bind_text(s, 1, key);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(s, 0);
        snprintf(agent_id, CRYPTO_UUID_LEN, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(name, name_size, "%s", (const char *)sqlite3_column_text(s, 2));
    } else if (step == SQLITE_DONE) {
        rc = HO_ENOENT;
    } else {
        rc = read_fail(r, err, "find agent");
    }
    read_done(s);
    return rc;
}

enum ho_code store_read_check_find(struct store_read *r, const char *agent, const char *check,
                                   int64_t *agent_rowid, char agent_id[CRYPTO_UUID_LEN],
                                   char *agent_name, size_t name_size, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;

    rc =
        read_agent_by(r, RS_AGENT_BY_UID, agent, agent_rowid, agent_id, agent_name, name_size, err);
    if (rc == HO_ENOENT)
        rc = read_agent_by(r, RS_AGENT_BY_NAME, agent, agent_rowid, agent_id, agent_name, name_size,
                           err);
    if (rc == HO_ENOENT)
        return ho_error_set(err, HO_ENOENT, "agent", "no such agent");
    if (rc == HO_OK)
        rc = read_stmt(r, RS_CHECK_KNOWN, &s, err);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, *agent_rowid);
    read_bind_text(s, 2, check);
    if (sqlite3_step(s) != SQLITE_ROW)
        rc = read_fail(r, err, "find check");
    else if (sqlite3_column_int(s, 0) == 0)
        rc = ho_error_set(err, HO_ENOENT, "check", "no such check on this agent");
    read_done(s);
    return rc;
}

void store_read_names_free(char **names, size_t n)
{
    size_t i;

    if (names == NULL)
        return;
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

enum ho_code store_read_metric_names(struct store_read *r, int64_t agent_rowid, const char *check,
                                     size_t max, char ***names, size_t *n, int *more,
                                     struct ho_error *err)
{
    char **out = NULL;
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int step;

    *names = NULL;
    *n = 0;
    *more = 0;
    if (max < 1 || max > STORE_METRIC_NAMES_MAX)
        max = STORE_METRIC_NAMES_MAX;
    rc = read_stmt(r, RS_METRIC_NAMES, &s, err);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, agent_rowid);
    read_bind_text(s, 2, check);
    sqlite3_bind_int64(s, 3, (int64_t)max + 1);
    sqlite3_bind_int(s, 4, REPAIR_STATUS_SUPPRESSED);
    out = xcalloc(max, sizeof(*out));
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == max) {
            *more = 1;
            break;
        }
        out[(*n)++] = xstrdup((const char *)sqlite3_column_text(s, 0));
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = read_fail(r, err, "list metrics");
    read_done(s);
    if (rc != HO_OK) {
        store_read_names_free(out, *n);
        *n = 0;
        return rc;
    }
    *names = out;
    return HO_OK;
}

enum ho_code store_read_metric_known(struct store_read *r, int64_t agent_rowid, const char *check,
                                     const char *metric, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int step;

    rc = read_stmt(r, RS_METRIC_KNOWN, &s, err);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, agent_rowid);
    read_bind_text(s, 2, check);
    read_bind_text(s, 3, metric);
    sqlite3_bind_int(s, 4, REPAIR_STATUS_SUPPRESSED);
    step = sqlite3_step(s);
    if (step == SQLITE_DONE)
        rc = ho_error_set(err, HO_ENOENT, "metric", "no such metric for this check");
    else if (step != SQLITE_ROW)
        rc = read_fail(r, err, "find metric");
    read_done(s);
    return rc;
}

/* The series statement for metric, bound but for the window and limit (?3..?5). */
static enum ho_code HO_WUR series_stmt(struct store_read *r, const char *metric,
                                       sqlite3_stmt **out, struct ho_error *err)
{
    enum read_stmt id = RS_SERIES_METRIC;
    enum ho_code rc;

    if (strcmp(metric, POINTS_OUTCOME) == 0)
        id = RS_SERIES_OUTCOME;
    else if (strcmp(metric, POINTS_DURATION) == 0)
        id = RS_SERIES_DURATION;
    else if (strcmp(metric, POINTS_REPAIR) == 0)
        id = RS_SERIES_REPAIR;
    rc = read_stmt(r, id, out, err);
    if (rc != HO_OK)
        return rc;
    if (id == RS_SERIES_REPAIR) {
        sqlite3_bind_int(*out, 6, REPAIR_STATUS_SUCCEEDED);
        sqlite3_bind_int(*out, 7, RUN_OUTCOME_REPAIRED);
        sqlite3_bind_int(*out, 8, REPAIR_STATUS_SUPPRESSED);
    } else if (id == RS_SERIES_METRIC) {
        read_bind_text(*out, 6, metric);
    }
    return HO_OK;
}

/* The point of a series row: a metric's own timestamp when it has one (column 2). */
static void series_point_from_row(sqlite3_stmt *s, struct series_point *p)
{
    const unsigned char *ts;

    p->ts_ms = sqlite3_column_int64(s, 0);
    p->value = sqlite3_column_double(s, 1);
    if (sqlite3_column_count(s) > 2 && (ts = sqlite3_column_text(s, 2)) != NULL &&
        clock_parse_rfc3339((const char *)ts, &p->ts_ms) != HO_OK)
        p->ts_ms = sqlite3_column_int64(s, 0);
}

enum ho_code store_read_series(struct store_read *r, int64_t agent_rowid, const char *check,
                               const char *metric, int64_t since_ms, int64_t until_ms, size_t limit,
                               struct series_point *out, size_t *n, int *truncated,
                               struct ho_error *err)
{
    struct series_point t;
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    size_t i;
    int step;

    *n = 0;
    *truncated = 0;
    if (limit < 1 || limit > STORE_SERIES_MAX_LIMIT)
        return ho_error_set(err, HO_EINVAL, "limit", "must be 1 to %d", STORE_SERIES_MAX_LIMIT);
    rc = series_stmt(r, metric, &s, err);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, agent_rowid);
    read_bind_text(s, 2, check);
    sqlite3_bind_int64(s, 3, since_ms);
    sqlite3_bind_int64(s, 4, until_ms > 0 ? until_ms : INT64_MAX);
    sqlite3_bind_int64(s, 5, (int64_t)limit + 1);
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == limit) { /* one more than asked for: older points were left out */
            *truncated = 1;
            break;
        }
        series_point_from_row(s, &out[(*n)++]);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = read_fail(r, err, "read series");
    read_done(s);
    for (i = 0; rc == HO_OK && i < *n / 2; i++) { /* newest first -> oldest first */
        t = out[i];
        out[i] = out[*n - 1 - i];
        out[*n - 1 - i] = t;
    }
    if (rc != HO_OK)
        *n = 0;
    return rc;
}

enum ho_code store_read_test_insert_run(const char *path, const char *agent, const char *check,
                                        const char *name, int64_t ts_ms, double value)
{
    static const char sql[] =
        "INSERT INTO runs (id, agent, package, check_name, started_at, duration_ms, manual, "
        "interval_s, outcome, metrics, received_at) SELECT lower(hex(randomblob(16))), id, "
        "'test', ?2, ?4, 0, 0, 0, 0, json_array(json_object('name', ?3, 'value', ?5, 'tags', "
        "json_object())), ?4 FROM agents WHERE uid = ?1 OR name = ?1 LIMIT 1";
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    enum ho_code rc = HO_EDB;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(db, STORE_READ_BUSY_MS);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(s, 1, agent, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, check, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, ts_ms);
    sqlite3_bind_double(s, 5, value);
    if (sqlite3_step(s) != SQLITE_DONE)
        goto out;
    rc = sqlite3_changes(db) == 1 ? HO_OK : HO_ENOENT;
out:
    if (rc == HO_EDB && db != NULL)
        log_warnx("store_read: test insert: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

sqlite3 *store_read_db(struct store_read *r)
{
    return r->db;
}
