/*
 * The SQLite side of server/store_retention.h. Runs go oldest first through
 * the runs_started index, a bounded number per statement, so each call holds
 * the store lock for one short transaction (https://sqlite.org/lang_delete.html).
 */
#include "store_retention.h"
#include "store_sqlite_impl.h"

/*
 * A run's outbox row goes in right after the run, in the same transaction, so
 * outbox order is run order: the first run row after delivered_seq (?3) bounds
 * the runs whose points every forwarder has (a few stat rows may come first).
 */
static const char sql_runs_prune[] =
    "DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE started_at < ?1 "
    "AND seq < coalesce((SELECT run FROM points WHERE seq > ?3 AND run IS NOT NULL "
    "ORDER BY seq LIMIT 1), 9223372036854775807) ORDER BY started_at LIMIT ?2)";
static const char sql_states_prune[] =
    "DELETE FROM state WHERE id IN (SELECT id FROM state WHERE last_run_at < ?1 LIMIT ?2)";

/* Runs sql with ?1 before_ms, ?2 limit and, when given, ?3 *delivered_seq. */
static enum ho_code HO_WUR prune(struct store *st, const char *sql, const char *what,
                                 int64_t before_ms, const int64_t *delivered_seq, size_t limit,
                                 size_t *deleted)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    *deleted = 0;
    store_lock(st);
    rc = store_stmt(st, sql, &s);
    if (rc == HO_OK) {
        sqlite3_bind_int64(s, 1, before_ms);
        sqlite3_bind_int64(s, 2, (int64_t)limit);
        if (delivered_seq != NULL)
            sqlite3_bind_int64(s, 3, *delivered_seq);
        rc = store_stmt_exec(st, s, what);
        if (rc == HO_OK)
            *deleted = (size_t)sqlite3_changes(store_db(st));
    }
    store_unlock(st);
    return rc;
}

enum ho_code store_runs_prune(struct store *st, int64_t before_ms, int64_t delivered_seq,
                              size_t limit, size_t *deleted)
{
    return prune(st, sql_runs_prune, "prune runs", before_ms, &delivered_seq, limit, deleted);
}

enum ho_code store_states_prune(struct store *st, int64_t before_ms, size_t limit,
                                size_t *deleted)
{
    return prune(st, sql_states_prune, "prune states", before_ms, NULL, limit, deleted);
}
