/*
 * The SQLite backend of store.h for metric points (schema/002_points.sql,
 * 006_run_points.sql): points of runs and stat batches, the forwarders' reads
 * of the outbox and their progress, and pruning.
 *
 * `points` is the forwarders' outbox. A stat batch's points are a row each; a
 * run's are one row (run = its seq) that store_points_after turns back into
 * them, all with that row's seq, from the run itself. seq is the rowid and
 * every store call holds the store lock for its whole transaction, so a reader
 * never sees a seq that a later commit could still fill in below it: reading
 * "seq > delivered ORDER BY seq" loses nothing and repeats nothing. seq is an
 * INTEGER PRIMARY KEY without AUTOINCREMENT, which hands out max(seq) + 1:
 * pruning therefore never removes the newest row, or a seq a forwarder has
 * already passed could be given again.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "points.h"
#include "store.h"
#include "store_sqlite_impl.h"

static const char sql_agent_by_uid[] = "SELECT id, name FROM agents WHERE uid = ?1";
static const char sql_agent_seen[] = "UPDATE agents SET last_seen = ?2 WHERE id = ?1";
static const char sql_point_insert[] =
    "INSERT INTO points (agent, check_name, name, ts, value, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_batch_insert[] = "INSERT INTO metric_batches (id, agent, received_at) "
                                       "VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING";
/* The row that stands for a run's points (schema/006_run_points.sql). */
static const char sql_run_row_insert[] =
    "INSERT INTO points (agent, check_name, name, ts, value, tags, run) "
    "VALUES (?1, ?2, '', ?3, 0, '{}', ?4)";
static const char sql_points_after[] = "SELECT seq, check_name, name, ts, value, tags, run "
                                       "FROM points WHERE seq > ?1 ORDER BY seq LIMIT ?2";
/* By the ts index: old points are few and mostly delivered; a scan by seq would walk the
 * whole recent window each time. */
static const char sql_prune[] =
    "DELETE FROM points WHERE seq IN (SELECT seq FROM points INDEXED BY points_ts "
    "WHERE ts < ?2 AND seq <= ?1 AND seq < (SELECT max(seq) FROM points) LIMIT ?3)";
static const char sql_fwd_get[] =
    "SELECT delivered_seq, delivered, dropped, failures, last_error, last_attempt_at, "
    "last_success_at FROM forwarder_state WHERE name = ?1";
/* Two subqueries so each min/max is one index lookup. */
static const char sql_seq_range[] =
    "SELECT (SELECT min(seq) FROM points), (SELECT max(seq) FROM points)";
static const char sql_first_after[] = "SELECT ts FROM points WHERE seq > ?1 ORDER BY seq LIMIT 1";
static const char sql_fwd_record[] =
    "INSERT INTO forwarder_state (name, delivered_seq, delivered, dropped, failures, last_error, "
    "last_attempt_at, last_success_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (name) DO UPDATE SET "
    "delivered_seq = max(forwarder_state.delivered_seq, excluded.delivered_seq), "
    "delivered = forwarder_state.delivered + excluded.delivered, "
    "dropped = forwarder_state.dropped + excluded.dropped, "
    "failures = forwarder_state.failures + excluded.failures, "
    "last_error = coalesce(excluded.last_error, forwarder_state.last_error), "
    "last_attempt_at = excluded.last_attempt_at, "
    "last_success_at = coalesce(excluded.last_success_at, forwarder_state.last_success_at)";

const char *store_delivery_str(enum store_delivery d)
{
    switch (d) {
    case STORE_DELIVERY_SENT:
        return "sent";
    case STORE_DELIVERY_DROPPED:
        return "dropped";
    case STORE_DELIVERY_FAILED:
        return "failed";
    }
    return "unknown";
}

/* Inserts the points of l for agent; tj is scratch space for the tags text. */
static enum ho_code HO_WUR points_insert(struct store *st, int64_t agent,
                                         const struct point_list *l, struct buf *tj)
{
    const struct point *p;
    sqlite3_stmt *s;
    enum ho_code rc;
    size_t i;

    rc = store_stmt(st, sql_point_insert, &s);
    for (i = 0; rc == HO_OK && i < l->n; i++) {
        p = &l->v[i];
        buf_reset(tj);
        rc = points_tags_to_json(p->tags, p->ntags, tj);
        if (rc != HO_OK) {
            log_warnx("store: tags of point %.64s too long", p->name);
            break;
        }
        sqlite3_bind_int64(s, 1, agent);
        store_bind_text(s, 2, p->check);
        store_bind_text(s, 3, p->name);
        sqlite3_bind_int64(s, 4, p->ts_ms);
        sqlite3_bind_double(s, 5, p->value);
        store_bind_text(s, 6, tj->data);
        rc = store_stmt_exec(st, s, "insert point");
    }
    return rc;
}

enum ho_code store_points_insert_run(struct store *st, int64_t agent, const struct run *r,
                                     int64_t run_seq)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_run_row_insert, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, agent);
    store_bind_text(s, 2, r->check);
    sqlite3_bind_int64(s, 3, r->started_at_ms);
    sqlite3_bind_int64(s, 4, run_seq);
    return store_stmt_exec(st, s, "insert run outbox row");
}

/* The rowid and name (new string) of the agent with uid; HO_ENOENT when unknown. */
static enum ho_code HO_WUR agent_by_uid(struct store *st, const char *uid, int64_t *id,
                                        char **name)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_agent_by_uid, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, uid);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        *name = store_col_dup(s, 1);
    } else {
        rc = r == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "agent lookup");
    }
    store_stmt_done(s);
    return rc;
}

/* Claims batch_id for agent; *fresh is 0 when it was stored before. */
static enum ho_code HO_WUR batch_claim(struct store *st, const char *batch_id, int64_t agent,
                                       int64_t now_ms, int *fresh)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_batch_insert, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, batch_id);
    sqlite3_bind_int64(s, 2, agent);
    sqlite3_bind_int64(s, 3, now_ms);
    rc = store_stmt_exec(st, s, "insert metric batch");
    *fresh = rc == HO_OK && sqlite3_changes(store_db(st)) > 0;
    return rc;
}

static enum ho_code HO_WUR agent_seen(struct store *st, int64_t agent, int64_t now_ms)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_agent_seen, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, agent);
    sqlite3_bind_int64(s, 2, now_ms);
    return store_stmt_exec(st, s, "update last_seen");
}

enum ho_code store_metrics_insert(struct store *st, const char *agent_id, const char *batch_id,
                                  const struct metric *m, size_t n, int64_t now_ms,
                                  enum store_insert *result)
{
    struct point_list l = {0};
    struct buf tj;
    int64_t agent = 0;
    char *node = NULL;
    int fresh = 0;
    enum ho_code rc;

    *result = STORE_INSERT_DUPLICATE;
    buf_init(&tj, POINTS_TAGS_JSON_MAX);
    store_lock(st);
    rc = agent_by_uid(st, agent_id, &agent, &node);
    if (rc == HO_OK)
        rc = store_tx_begin(st);
    else if (rc == HO_ENOENT)
        log_warnx("store: stats from unknown agent %s", agent_id);
    if (rc != HO_OK)
        goto out;
    rc = batch_claim(st, batch_id, agent, now_ms, &fresh);
    if (rc == HO_OK && fresh) {
        points_from_stats(m, n, node, now_ms, &l);
        rc = points_insert(st, agent, &l, &tj);
    }
    if (rc == HO_OK)
        rc = agent_seen(st, agent, now_ms);
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
    else if (fresh)
        *result = STORE_INSERT_ACCEPTED;
out:
    store_unlock(st);
    point_list_cleanup(&l);
    buf_cleanup(&tj);
    free(node);
    return rc;
}

/* Appends the point of a row of sql_points_after to l. */
static void point_from_row(sqlite3_stmt *s, struct point_list *l)
{
    struct point *p = point_list_add(l);
    const unsigned char *tags;

    p->seq = sqlite3_column_int64(s, 0);
    p->check = store_col_dup(s, 1);
    p->name = store_col_dup(s, 2);
    p->ts_ms = sqlite3_column_int64(s, 3);
    p->value = sqlite3_column_double(s, 4);
    tags = sqlite3_column_text(s, 5);
    if (tags == NULL ||
        points_tags_parse((const char *)tags, (size_t)sqlite3_column_bytes(s, 5), &p->tags,
                          &p->ntags) != HO_OK)
        log_warnx("store: point %" PRId64 ": stored tags do not parse; sent without tags",
                  p->seq);
}

/*
 * Appends the points of the run that outbox row seq stands for to l, each
 * with that seq. A run pruned meanwhile has none; a run that no longer reads
 * is logged and skipped (the forwarder must not stall on it).
 */
static enum ho_code HO_WUR points_of_run(struct store *st, int64_t seq, int64_t run_seq,
                                         struct point_list *l)
{
    struct run r;
    enum ho_code rc;
    size_t first = l->n, i;

    rc = store_run_by_seq(st, run_seq, &r);
    if (rc == HO_ENOENT)
        return HO_OK;
    if (rc == HO_EINVAL) {
        log_warnx("store: outbox row %" PRId64 ": run %" PRId64 " does not read; skipped", seq,
                  run_seq);
        return HO_OK;
    }
    if (rc != HO_OK)
        return rc;
    points_from_run(&r, r.agent_name, l);
    for (i = first; i < l->n; i++)
        l->v[i].seq = seq;
    run_cleanup(&r);
    return HO_OK;
}

enum ho_code store_points_after(struct store *st, int64_t after_seq, size_t limit,
                                struct point **out, size_t *n)
{
    struct point_list l = {0};
    sqlite3_stmt *s;
    enum ho_code rc;
    int r = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    if (limit == 0)
        return HO_OK;
    store_lock(st);
    rc = store_stmt(st, sql_points_after, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, after_seq);
        sqlite3_bind_int64(s, 2, (int64_t)limit);
        while (rc == HO_OK && l.n < limit && (r = sqlite3_step(s)) == SQLITE_ROW) {
            if (sqlite3_column_type(s, 6) == SQLITE_NULL)
                point_from_row(s, &l);
            else
                rc = points_of_run(st, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 6),
                                   &l);
        }
        if (rc == HO_OK && r != SQLITE_ROW && r != SQLITE_DONE)
            rc = store_fail(st, NULL, "read points");
        store_stmt_done(s);
    }
    store_unlock(st);
    if (rc != HO_OK || l.n == 0) {
        point_list_cleanup(&l);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return HO_OK;
}

enum ho_code store_points_prune(struct store *st, int64_t max_seq, int64_t before_ms,
                                size_t limit, size_t *deleted)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *deleted = 0;
    store_lock(st);
    rc = store_stmt(st, sql_prune, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, max_seq);
        sqlite3_bind_int64(s, 2, before_ms);
        sqlite3_bind_int64(s, 3, (int64_t)limit);
        rc = store_stmt_exec(st, s, "prune points");
        if (rc == HO_OK)
            *deleted = (size_t)sqlite3_changes(store_db(st));
    }
    store_unlock(st);
    return rc;
}

void store_forwarder_cleanup(struct store_forwarder *f)
{
    if (f == NULL)
        return;
    free(f->last_error);
    memset(f, 0, sizeof(*f));
}

/* The forwarder_state row of name into f (left zero when there is none). */
static enum ho_code HO_WUR fwd_row(struct store *st, const char *name, struct store_forwarder *f)
{
    sqlite3_stmt *s;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, sql_fwd_get, &s);
    if (rc != HO_OK)
        return rc;
    store_bind_text(s, 1, name);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        f->delivered_seq = sqlite3_column_int64(s, 0);
        f->delivered = sqlite3_column_int64(s, 1);
        f->dropped = sqlite3_column_int64(s, 2);
        f->failures = sqlite3_column_int64(s, 3);
        f->last_error = store_col_dup(s, 4);
        f->last_attempt_at_ms = sqlite3_column_int64(s, 5);
        f->last_success_at_ms = sqlite3_column_int64(s, 6);
    } else if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "read forwarder state");
    }
    store_stmt_done(s);
    return rc;
}

/* pending and oldest_pending_ms of f, from its delivered_seq. */
static enum ho_code HO_WUR fwd_backlog(struct store *st, struct store_forwarder *f)
{
    int64_t lo = 0, hi = 0, from;
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = store_stmt(st, sql_seq_range, &s);
    if (rc != HO_OK)
        return rc;
    if (sqlite3_step(s) == SQLITE_ROW) {
        lo = sqlite3_column_int64(s, 0); /* NULL (no points) reads 0 */
        hi = sqlite3_column_int64(s, 1);
    } else {
        rc = store_fail(st, NULL, "points range");
    }
    store_stmt_done(s);
    from = f->delivered_seq > lo - 1 ? f->delivered_seq : lo - 1;
    f->pending = hi > from ? hi - from : 0;
    if (rc != HO_OK || f->pending == 0)
        return rc;
    rc = store_stmt(st, sql_first_after, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, f->delivered_seq);
    if (sqlite3_step(s) == SQLITE_ROW)
        f->oldest_pending_ms = sqlite3_column_int64(s, 0);
    store_stmt_done(s);
    return HO_OK;
}

enum ho_code store_forwarder_get(struct store *st, const char *name, struct store_forwarder *out)
{
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = fwd_row(st, name, out);
    if (rc == HO_OK)
        rc = fwd_backlog(st, out);
    store_unlock(st);
    if (rc != HO_OK)
        store_forwarder_cleanup(out);
    return rc;
}

enum ho_code store_forwarder_record(struct store *st, const char *name, enum store_delivery what,
                                    int64_t upto_seq, int64_t npoints, const char *error,
                                    int64_t now_ms)
{
    int moves = what == STORE_DELIVERY_SENT || what == STORE_DELIVERY_DROPPED;
    sqlite3_stmt *s;
    enum ho_code rc;

    store_lock(st);
    rc = store_stmt(st, sql_fwd_record, &s);
    if (rc == HO_OK) {
        store_bind_text(s, 1, name);
        sqlite3_bind_int64(s, 2, moves ? upto_seq : 0);
        sqlite3_bind_int64(s, 3, what == STORE_DELIVERY_SENT ? npoints : 0);
        sqlite3_bind_int64(s, 4, what == STORE_DELIVERY_DROPPED ? npoints : 0);
        sqlite3_bind_int64(s, 5, what == STORE_DELIVERY_SENT ? 0 : 1);
        store_bind_text(s, 6, what == STORE_DELIVERY_SENT ? NULL : error);
        sqlite3_bind_int64(s, 7, now_ms);
        if (what == STORE_DELIVERY_SENT)
            sqlite3_bind_int64(s, 8, now_ms);
        rc = store_stmt_exec(st, s, "record forwarder progress");
    }
    store_unlock(st);
    return rc;
}
