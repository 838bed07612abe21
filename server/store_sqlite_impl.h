/*
 * Declarations shared by the store_sqlite*.c files, the SQLite backend of
 * store.h split by subject (store_sqlite.c: open, migrations, tokens, agents,
 * runs, state; store_sqlite_points.c: metric points, stat batches, forwarder
 * progress). Nothing outside store_sqlite*.c includes this (nor sqlite3.h).
 *
 * Every public store_* call takes store_lock for its whole duration, so one
 * call's transaction never interleaves with another's on the one connection.
 * Statements a split file needs come from store_stmt: prepared once
 * (persistent) on first use, cached by the address of their SQL text, so
 * each file keeps its SQL beside its code.
 */
#ifndef HO_STORE_SQLITE_IMPL_H
#define HO_STORE_SQLITE_IMPL_H

#include <stdint.h>

#include <sqlite3.h>

#include "error.h"
#include "store.h"

struct point;
struct run;

void store_lock(struct store *st);
void store_unlock(struct store *st);
/* The connection; only with the lock held. */
sqlite3 *store_db(struct store *st);

/*
 * The prepared statement for sql (a string with static storage: its address is
 * the cache key), prepared on first use and finalized by store_close. Lock held.
 */
enum ho_code store_stmt(struct store *st, const char *sql, sqlite3_stmt **out) HO_WUR;

/* Logs sqlite's message for what, fills err (may be NULL), returns HO_EDB. */
enum ho_code store_fail(struct store *st, struct ho_error *err, const char *what);
/* Binds v (NULL binds NULL) without copying: store_stmt_done clears it before v goes. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Resets s and clears its bindings, ready for the next use. */
void store_stmt_done(sqlite3_stmt *s);
/* Steps a statement that returns no rows to its end, then store_stmt_done. */
enum ho_code store_stmt_exec(struct store *st, sqlite3_stmt *s, const char *what) HO_WUR;
/* A new copy of text column i (NULL for NULL); caller frees. */
char *store_col_dup(sqlite3_stmt *s, int i);

enum ho_code store_tx_begin(struct store *st) HO_WUR;
enum ho_code store_tx_commit(struct store *st) HO_WUR;
/* Rolls back whatever is open (no-op when SQLite already did). */
void store_tx_rollback(struct store *st);

/*
 * Opaque keyset cursors: kind (a letter per query) and nv (1 or 2) non-negative
 * numbers, base64url. Parsing accepts only the exact text store_cursor_make writes;
 * anything else is HO_EINVAL with err->field "cursor".
 */
void store_cursor_make(char kind, const int64_t *v, int nv, char out[STORE_CURSOR_LEN]);
enum ho_code store_cursor_parse(const char *cursor, char kind, int64_t *v, int nv,
                                struct ho_error *err) HO_WUR;

/* An agent's rowid by its id (uid) or, failing that, its name; HO_ENOENT when unknown. */
enum ho_code store_agent_rowid(struct store *st, const char *id_or_name, int64_t *out,
                               struct ho_error *err) HO_WUR;

/*
 * store_sqlite_points.c: inserts the outbox row (schema/006_run_points.sql) that
 * stands for the points of the run just stored with seq run_seq (points.h
 * points_from_run), inside the caller's transaction.
 */
enum ho_code store_points_insert_run(struct store *st, int64_t agent, const struct run *r,
                                     int64_t run_seq) HO_WUR;

/*
 * store_sqlite.c: the stored run with seq run_seq into *r as points_from_run
 * needs it (environment, package tags and metrics included; agent_name is the
 * node). Lock held. HO_ENOENT when it is gone (pruned), HO_EINVAL when its stored
 * metrics or tags do not parse (logged), HO_EDB on a database error; on any error r
 * is clean.
 */
enum ho_code store_run_by_seq(struct store *st, int64_t run_seq, struct run *r) HO_WUR;

#endif
