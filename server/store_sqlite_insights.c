/*
 * The SQLite side of server/store_insights.h. Three statements, each driven by
 * the partial index runs_not_ok (outcome, started_at) WHERE outcome <> 0, so
 * they read the failures and repairs of the window and never the ok runs:
 *
 *   totals     per package x check: failures, repairs, mean repair time;
 *   incidents  failure streaks that began in the window (a failed run whose
 *              previous run of that agent x check was good: one index seek
 *              back), each followed to the next good run (an index walk
 *              forward over the streak, so all streaks together cost about
 *              the number of failed runs) for the time to recovery;
 *   flapping   agents x checks with at least N repaired runs since a time.
 *
 * Every value is bound (https://sqlite.org/c3ref/stmt.html); an optional
 * filter is "(?N IS NULL OR col = ?N)" so one statement serves every filter.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "store_insights.h"
#include "store_read_impl.h"

#define FILTERS(tbl)                                                                            \
    " AND (?3 = 0 OR " tbl "agent = ?3) AND (?4 IS NULL OR " tbl "package = ?4)"              \
    " AND (?5 IS NULL OR " tbl "check_name = ?5)"

static const char totals_sql[] =
    "SELECT package, check_name, count(DISTINCT agent), sum(outcome >= 2),"
    " sum(repair_status IN (0, 1, 2)), sum(outcome = 1), sum(repair_status = 3),"
    " avg(CASE WHEN outcome = 1 THEN duration_ms END)"
    " FROM runs WHERE outcome <> 0 AND started_at >= ?1 AND started_at < ?2" FILTERS("")
    " GROUP BY package, check_name ORDER BY 5 DESC, 4 DESC, package, check_name LIMIT ?6";

static const char incidents_sql[] =
    "WITH starts AS (SELECT r.agent, r.package, r.check_name, r.started_at FROM runs r"
    " WHERE r.outcome IN (2, 3) AND r.outcome <> 0 AND r.started_at >= ?1 AND r.started_at < ?2"
    FILTERS("r.")
    " AND coalesce((SELECT p.outcome FROM runs p WHERE p.agent = r.agent"
    " AND p.check_name = r.check_name AND p.started_at < r.started_at"
    " ORDER BY p.started_at DESC LIMIT 1), 0) < 2),"
    " recovered AS (SELECT s.package, s.check_name, s.started_at,"
    " (SELECT n.started_at FROM runs n WHERE n.agent = s.agent AND n.check_name = s.check_name"
    " AND n.started_at > s.started_at AND n.outcome < 2 ORDER BY n.started_at LIMIT 1) AS back"
    " FROM starts s)"
    " SELECT package, check_name, count(*), sum(back IS NULL), avg(back - started_at)"
    " FROM recovered GROUP BY package, check_name";

static const char flapping_sql[] =
    "SELECT f.package, f.check_name, a.name FROM (SELECT agent, package, check_name FROM runs"
    " WHERE outcome = 1 AND outcome <> 0 AND started_at >= ?1 AND started_at < ?2" FILTERS("")
    " GROUP BY agent, package, check_name HAVING count(*) >= ?6) f"
    " JOIN agents a ON a.id = f.agent ORDER BY f.package, f.check_name, a.name";

static enum ho_code insights_fail(sqlite3 *db, struct ho_error *err, const char *what)
{
    log_warnx("store_insights: %s: %s", what, sqlite3_errmsg(db));
    return ho_error_set(err, HO_EDB, NULL, "database error (%s)", what);
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Prepares sql and binds the window (?1, ?2), the filters (?3-?5) and ?6. */
static enum ho_code HO_WUR insights_prepare(sqlite3 *db, const char *sql,
                                            const struct insights_query *q, int64_t since_ms,
                                            int64_t p6, sqlite3_stmt **out, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return insights_fail(db, err, "prepare");
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int64(s, 2, q->until_ms);
    sqlite3_bind_int64(s, 3, q->agent_rowid);
    bind_opt_text(s, 4, q->package);
    bind_opt_text(s, 5, q->check);
    sqlite3_bind_int64(s, 6, p6);
    *out = s;
    return HO_OK;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    return xstrdup(t != NULL ? (const char *)t : "");
}

static double col_mean(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL ? -1.0 : sqlite3_column_double(s, i);
}

/* The entry for package x check among c[0..n), NULL when it is not listed. */
static struct check_insight *insight_find(struct check_insight *c, size_t n, sqlite3_stmt *s)
{
    const char *pkg = (const char *)sqlite3_column_text(s, 0);
    const char *chk = (const char *)sqlite3_column_text(s, 1);
    size_t i;

    if (pkg == NULL || chk == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (strcmp(c[i].package, pkg) == 0 && strcmp(c[i].check, chk) == 0)
            return &c[i];
    }
    return NULL;
}

static enum ho_code HO_WUR insights_totals(sqlite3 *db, const struct insights_query *q,
                                           struct check_insight **out, size_t *n,
                                           struct ho_error *err)
{
    struct check_insight *c = NULL;
    sqlite3_stmt *s;
    size_t cap = 0;
    enum ho_code rc;
    int step;

    rc = insights_prepare(db, totals_sql, q, q->since_ms, (int64_t)q->limit, &s, err);
    if (rc != HO_OK)
        return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct check_insight *e;

        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            c = xrealloc(c, cap * sizeof(*c));
        }
        e = &c[(*n)++];
        memset(e, 0, sizeof(*e));
        e->package = col_dup(s, 0);
        e->check = col_dup(s, 1);
        e->agents = sqlite3_column_int64(s, 2);
        e->failures = sqlite3_column_int64(s, 3);
        e->repairs_attempted = sqlite3_column_int64(s, 4);
        e->repairs_succeeded = sqlite3_column_int64(s, 5);
        e->repairs_suppressed = sqlite3_column_int64(s, 6);
        e->mean_repair_ms = col_mean(s, 7);
        e->mean_recovery_s = -1.0;
    }
    *out = c;
    rc = step == SQLITE_DONE ? HO_OK : insights_fail(db, err, "totals");
    sqlite3_finalize(s);
    return rc;
}

static enum ho_code HO_WUR insights_incidents(sqlite3 *db, const struct insights_query *q,
                                              struct check_insight *c, size_t n,
                                              struct ho_error *err)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int step;

    rc = insights_prepare(db, incidents_sql, q, q->since_ms, 0, &s, err);
    if (rc != HO_OK)
        return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct check_insight *e = insight_find(c, n, s);
        double ms = col_mean(s, 4);

        if (e == NULL)
            continue;
        e->incidents = sqlite3_column_int64(s, 2);
        e->open_incidents = sqlite3_column_int64(s, 3);
        e->mean_recovery_s = ms < 0 ? -1.0 : ms / 1000.0;
    }
    rc = step == SQLITE_DONE ? HO_OK : insights_fail(db, err, "incidents");
    sqlite3_finalize(s);
    return rc;
}

static enum ho_code HO_WUR insights_flapping(sqlite3 *db, const struct insights_query *q,
                                             struct check_insight *c, size_t n,
                                             struct ho_error *err)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int step;

    rc = insights_prepare(db, flapping_sql, q, q->flap_since_ms, q->flap_repairs, &s, err);
    if (rc != HO_OK)
        return rc;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct check_insight *e = insight_find(c, n, s);

        if (e == NULL)
            continue;
        e->flapping_agents++;
        if (e->nflapping_names < INSIGHTS_MAX_FLAPPING_SHOWN) {
            if (e->flapping_names == NULL)
                e->flapping_names =
                    xcalloc(INSIGHTS_MAX_FLAPPING_SHOWN, sizeof(*e->flapping_names));
            e->flapping_names[e->nflapping_names++] = col_dup(s, 2);
        }
    }
    rc = step == SQLITE_DONE ? HO_OK : insights_fail(db, err, "flapping");
    sqlite3_finalize(s);
    return rc;
}

enum ho_code store_insights_query(struct store_read *r, const struct insights_query *q,
                                  struct check_insight **out, size_t *n, struct ho_error *err)
{
    sqlite3 *db = store_read_db(r);
    struct check_insight *c = NULL;
    size_t nc = 0;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    /* one read transaction: the three statements see the same snapshot */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return insights_fail(db, err, "begin");
    rc = insights_totals(db, q, &c, &nc, err);
    if (rc == HO_OK && nc > 0)
        rc = insights_incidents(db, q, c, nc, err);
    if (rc == HO_OK && nc > 0 && q->flap_repairs > 0)
        rc = insights_flapping(db, q, c, nc, err);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != HO_OK) {
        store_insights_free(c, nc);
        return rc;
    }
    *out = c;
    *n = nc;
    return HO_OK;
}

enum ho_code store_insights_agent(struct store_read *r, const char *id_or_name, int64_t *rowid,
                                  struct ho_error *err)
{
    static const char sql[] = "SELECT id FROM agents WHERE uid = ?1 OR name = ?1 LIMIT 1";
    sqlite3 *db = store_read_db(r);
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int step;

    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return insights_fail(db, err, "prepare");
    sqlite3_bind_text(s, 1, id_or_name, -1, SQLITE_STATIC);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(s, 0);
        rc = HO_OK;
    } else if (step == SQLITE_DONE) {
        rc = ho_error_set(err, HO_ENOENT, "agent", "no such agent");
    } else {
        rc = insights_fail(db, err, "agent");
    }
    sqlite3_finalize(s);
    return rc;
}

void store_insights_free(struct check_insight *c, size_t n)
{
    size_t i, k;

    for (i = 0; i < n && c != NULL; i++) {
        free(c[i].package);
        free(c[i].check);
        for (k = 0; k < c[i].nflapping_names; k++)
            free(c[i].flapping_names[k]);
        free(c[i].flapping_names);
    }
    free(c);
}
