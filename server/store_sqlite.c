/*
 * The SQLite backend of server/store.h (DESIGN.md sections 5, 6 and 11):
 * open, migrations, tokens, agents, runs and state. store_sqlite_points.c has
 * the metric points (each accepted run's go in by store_points_insert_run, in
 * the same transaction); store_sqlite_impl.h is what the two share.
 *
 * One connection, serialised by our own mutex held for each public call. Statements
 * are prepared once (sqlite3_prepare_v3 + SQLITE_PREPARE_PERSISTENT) and every value
 * is bound (https://sqlite.org/c3ref/stmt.html). The schema is schema/NNN_*.sql, built
 * in (embedded.h) and applied in order above PRAGMA user_version.
 *
 * History is paged by keyset, never OFFSET: newest first on (started_at, seq), where
 * seq is the rowid and so the implicit tail of every index on runs. A query's SQL is
 * composed from fixed fragments chosen by which filters are set (values are always
 * bound), so each combination keeps its index range scan; the prepared statement of
 * each combination is cached in a table indexed by the filter bitmask. "(?1 IS NULL OR
 * col = ?1)" would read simpler but defeats the indexes.
 *
 * Cursors are base64url of "r1:<started_at>:<seq>" (runs), "s1:<state id>" and
 * "a1:<agent rowid>": names and check names do not fit STORE_CURSOR_LEN, so the state
 * and agent cursors name the last row and its (name, check) is read back.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "embedded.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "points.h"
#include "store.h"
#include "store_sqlite_impl.h"
#include "store_vfs.h"

/* The partial indexes of schema/001_init.sql say "outcome <> 0" and "manual <> 0". */
_Static_assert(RUN_OUTCOME_OK == 0, "runs_not_ok assumes ok is 0");

#define STORE_BUSY_TIMEOUT_MS  5000
/*
 * Pages of a new database. Every page a transaction changes is one WAL frame; a
 * batch of runs changes tens of pages scattered over the runs table, its indexes
 * and the state. With 8 KiB pages a batch of 100 runs changes about a fifth less
 * (2.8 instead of 3.5 ms under the writer's lock at 1.4 M runs, measured before
 * store_vfs.c gathered the frames' writes); 16 KiB is slower again (more bytes per
 * scattered index change).
 */
#define STORE_PAGE_SIZE_PRAGMA "PRAGMA page_size = 8192"
#define STORE_METRICS_JSON_MAX (16u * 1024 * 1024)
#define STORE_SQL_MAX          4096
#define NELEM(a)               (sizeof(a) / sizeof((a)[0]))

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_AGENT_ID_BY_UID,
    ST_AGENT_ID_BY_NAME,
    ST_AGENT_NAME_BY_ID,
    ST_AGENT_UPSERT,
    ST_AGENT_SEEN,
    ST_AGENT_HEARTBEAT,
    ST_AGENT_GET_UID,
    ST_AGENT_GET_NAME,
    ST_AGENTS_PAGE,
    ST_TOKEN_INSERT,
    ST_TOKEN_LOOKUP,
    ST_TOKENS_REVOKE,
    ST_RUN_INSERT,
    ST_STATE_UPSERT,
    ST_STATE_OK,
    ST_STATE_POS,
    ST_COUNT
};

#define AGENT_COLS                                                                                 \
    "SELECT id, uid, name, labels, version, packages, enrolled_at, last_seen, spool_depth, "       \
    "dropped FROM agents "

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_AGENT_ID_BY_UID] = "SELECT id FROM agents WHERE uid = ?1",
    [ST_AGENT_ID_BY_NAME] = "SELECT id FROM agents WHERE name = ?1",
    [ST_AGENT_NAME_BY_ID] = "SELECT name FROM agents WHERE id = ?1",
    [ST_AGENT_UPSERT] =
        "INSERT INTO agents (uid, name, labels, enrolled_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (name) DO UPDATE SET labels = excluded.labels "
        "RETURNING id, uid",
    [ST_AGENT_SEEN] = "UPDATE agents SET last_seen = ?2 WHERE id = ?1",
    [ST_AGENT_HEARTBEAT] = "UPDATE agents SET version = coalesce(?2, version), "
                           "packages = coalesce(?3, packages), spool_depth = ?4, dropped = ?5, "
                           "last_seen = ?6 WHERE uid = ?1",
    [ST_AGENT_GET_UID] = AGENT_COLS "WHERE uid = ?1",
    [ST_AGENT_GET_NAME] = AGENT_COLS "WHERE name = ?1",
    [ST_AGENTS_PAGE] = AGENT_COLS "WHERE name > ?1 ORDER BY name LIMIT ?2",
    [ST_TOKEN_INSERT] = "INSERT INTO tokens (hash, scope, name, agent, created_at, expires_at) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_TOKEN_LOOKUP] = "SELECT t.id, t.scope, t.name, a.uid FROM tokens t "
                        "LEFT JOIN agents a ON a.id = t.agent WHERE t.hash = ?1 "
                        "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)",
    [ST_TOKENS_REVOKE] =
        "UPDATE tokens SET revoked_at = ?2 WHERE agent = ?1 AND revoked_at IS NULL",
    [ST_RUN_INSERT] =
        "INSERT INTO runs (id, agent, package, version, check_name, started_at, duration_ms, "
        "manual, operator, interval_s, test_status, test_exit, test_output, test_ms, "
        "repair_status, repair_exit, repair_output, repair_ms, retest_status, retest_exit, "
        "retest_output, retest_ms, outcome, metrics, received_at, environment, tags) VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
        "?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27) ON CONFLICT (id) DO NOTHING",
    /* Only a run at least as new as the one held replaces it; ?12 is 1 when it failed. */
    [ST_STATE_UPSERT] =
        "INSERT INTO state (agent, check_name, package, run_id, outcome, test_status, "
        "repair_status, retest_status, manual, last_run_at, last_ok_at, consecutive_failures, "
        "interval_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
        "ON CONFLICT (agent, check_name) DO UPDATE SET package = excluded.package, "
        "run_id = excluded.run_id, outcome = excluded.outcome, "
        "test_status = excluded.test_status, repair_status = excluded.repair_status, "
        "retest_status = excluded.retest_status, manual = excluded.manual, "
        "last_run_at = excluded.last_run_at, "
        "consecutive_failures = CASE WHEN ?12 THEN state.consecutive_failures + 1 ELSE 0 END, "
        "last_ok_at = CASE WHEN ?11 > coalesce(state.last_ok_at, -1) THEN ?11 "
        "ELSE state.last_ok_at END, "
        "interval_s = excluded.interval_s WHERE excluded.last_run_at >= state.last_run_at",
    /* Late ok runs (older than the state's run) still move last_ok_at forward. */
    [ST_STATE_OK] = "UPDATE state SET last_ok_at = ?3 WHERE agent = ?1 AND check_name = ?2 "
                    "AND (last_ok_at IS NULL OR last_ok_at < ?3)",
    [ST_STATE_POS] = "SELECT a.name, s.check_name FROM state s JOIN agents a ON a.id = s.agent "
                     "WHERE s.id = ?1",
};

/* Runs query: parameter numbers are fixed whatever the combination. */
enum {
    RP_AGENT = 1,
    RP_PACKAGE,
    RP_CHECK,
    RP_OUTCOME,
    RP_SINCE,
    RP_UNTIL,
    RP_CSTART,
    RP_CSEQ,
    RP_LIMIT
};

/* The columns run_from_row reads, in its order. */
#define RUNS_COLS                                                                                  \
    "SELECT r.seq, r.id, a.uid, a.name, r.package, r.version, r.check_name, r.started_at, "       \
    "r.duration_ms, r.manual, r.operator, r.interval_s, r.test_status, r.test_exit, "             \
    "r.test_output, r.test_ms, r.repair_status, r.repair_exit, r.repair_output, r.repair_ms, "    \
    "r.retest_status, r.retest_exit, r.retest_output, r.retest_ms, r.outcome, r.metrics, "        \
    "r.received_at"
static const char runs_head[] = RUNS_COLS " FROM runs r CROSS JOIN agents a ON a.id = r.agent "
                                          "WHERE 1";
/* One run with what its points need besides (columns 27 and 28), by seq. */
static const char run_by_seq[] = RUNS_COLS ", r.environment, r.tags FROM runs r "
                                           "CROSS JOIN agents a ON a.id = r.agent WHERE r.seq = ?1";
/* CROSS JOIN keeps runs the outer loop, so the index gives the order and LIMIT stops early. */
static const char runs_tail[] = " ORDER BY r.started_at DESC, r.seq DESC LIMIT ?9";
static const char *const runs_frag[] = {
    " AND r.agent = ?1",
    " AND r.package = ?2",
    " AND r.check_name = ?3",
    " AND r.outcome = ?4",
    " AND r.outcome = ?4 AND r.outcome <> 0", /* matches the runs_not_ok partial index */
    " AND r.manual <> 0",                     /* matches runs_manual */
    " AND r.manual = 0",
    " AND r.repair_status IS NOT NULL", /* matches runs_repairs */
    " AND r.started_at >= ?5",
    " AND r.started_at < ?6",
    " AND (r.started_at, r.seq) < (?7, ?8)",
};
enum {
    RQ_AGENT = 1 << 0,
    RQ_PACKAGE = 1 << 1,
    RQ_CHECK = 1 << 2,
    RQ_OUTCOME_OK = 1 << 3,
    RQ_OUTCOME_BAD = 1 << 4,
    RQ_MANUAL = 1 << 5,
    RQ_AUTO = 1 << 6,
    RQ_REPAIRS = 1 << 7,
    RQ_SINCE = 1 << 8,
    RQ_UNTIL = 1 << 9,
    RQ_CURSOR = 1 << 10,
    RQ_COMBOS = 1 << 11
};
_Static_assert(1u << NELEM(runs_frag) == RQ_COMBOS, "one fragment per RQ_ bit");

/* State query, ordered by agent name then check (agents outer, state by its unique index). */
enum {
    SP_AGENT = 1, SP_PACKAGE, SP_CHECK, SP_OUTCOME, SP_CNAME, SP_CCHECK, SP_LIMIT,
    SP_LPATH, SP_LVALUE, SP_SEARCH, SP_NOW
};

static const char state_head[] =
    "SELECT s.id, a.uid, a.name, s.package, s.check_name, s.run_id, s.outcome, s.test_status, "
    "s.repair_status, s.retest_status, s.manual, s.last_run_at, s.last_ok_at, "
    "s.consecutive_failures, s.interval_s, al.id, al.kind, al.severity, al.summary, "
    "al.opened_at FROM agents a CROSS JOIN state s ON s.agent = a.id "
    /* the open alert of the check, by the key the alert engine gives it (alerts.c), found
       through the partial index alerts_open: one lookup a row in the same statement */
    "LEFT JOIN alerts al ON al.key = 'healops:' || a.uid || ':' || s.check_name "
    "AND al.resolved_at IS NULL WHERE 1";
static const char state_tail[] = " ORDER BY a.name, s.check_name LIMIT ?7";
static const char *const state_frag[] = {
    " AND a.id = ?1",
    " AND s.package = ?2",
    " AND s.check_name = ?3",
    " AND s.outcome = ?4",
    " AND a.name >= ?5 AND (a.name > ?5 OR s.check_name > ?6)",
    /* label: the agent's labels object has key (path ?8 = '$."KEY"') = value */
    " AND json_extract(a.labels, ?8) = ?9",
    /* search: a LIKE scan of the rows the other filters leave (about 0.1 s at 200,000) */
    (" AND (a.name LIKE ?10 ESCAPE '\\' OR s.package LIKE ?10 ESCAPE '\\'"
     " OR s.check_name LIKE ?10 ESCAPE '\\')"),
    /* stale as GET /state reports it: no run for 2 x interval */
    " AND s.interval_s > 0 AND s.last_run_at < ?11 - 2000 * s.interval_s",
};
enum {
    SQ_AGENT = 1 << 0,
    SQ_PACKAGE = 1 << 1,
    SQ_CHECK = 1 << 2,
    SQ_OUTCOME = 1 << 3,
    SQ_CURSOR = 1 << 4,
    SQ_LABEL = 1 << 5,
    SQ_SEARCH = 1 << 6,
    SQ_STALE = 1 << 7,
    SQ_COMBOS = 1 << 8
};
/* Counts of the same states: the fragments above without the cursor. */
static const char summary_head[] =
    "SELECT s.outcome, count(*), coalesce(sum(s.interval_s > 0 AND "
    "s.last_run_at < ?11 - 2000 * s.interval_s), 0) FROM agents a CROSS JOIN state s "
    "ON s.agent = a.id WHERE 1";
/* Without agent, label or search filters the agents table is not needed: state alone. */
static const char summary_state_head[] =
    "SELECT s.outcome, count(*), coalesce(sum(s.interval_s > 0 AND "
    "s.last_run_at < ?11 - 2000 * s.interval_s), 0) FROM state s WHERE 1";
static const char summary_tail[] = " GROUP BY s.outcome";
/* Open alerts of the same states: few rows, read through the partial index alerts_open. */
static const char summary_alerts_head[] =
    "SELECT count(*) FROM alerts al CROSS JOIN agents a ON a.id = al.agent "
    "CROSS JOIN state s ON s.agent = al.agent AND s.check_name = al.check_name "
    "WHERE al.resolved_at IS NULL";
_Static_assert(1u << NELEM(state_frag) == SQ_COMBOS, "one fragment per SQ_ bit");

struct store {
    pthread_mutex_t mu; /* held for each public call */
    sqlite3 *db;
    sqlite3_stmt *s[ST_COUNT];
    sqlite3_stmt *runs_q[RQ_COMBOS]; /* prepared on first use */
    sqlite3_stmt *state_q[SQ_COMBOS];
    sqlite3_stmt *summary_q[SQ_COMBOS];
    sqlite3_stmt *summary_alerts_q[SQ_COMBOS];
    struct store_cached *cache; /* store_stmt's statements of the other store_sqlite*.c */
    size_t ncache;
    int ready; /* opened and migrated: close may run PRAGMA optimize */
    /*
     * WAL checkpoints run on their own connection and thread, not inside the commit
     * of whichever request crossed SQLite's auto-checkpoint threshold while holding
     * the store lock (that stalled ingest for hundreds of milliseconds).
     */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    int ckpt_running;
    int ckpt_stop;
    int ckpt_restart_pages; /* under ckpt_mu: STORE_CKPT_RESTART_PAGES unless tuned */
    int ckpt_tail_pages;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
};

struct store_cached {
    const char *sql; /* static text; its address is the key */
    sqlite3_stmt *s;
};

const char *token_scope_str(enum token_scope s)
{
    switch (s) {
    case TOKEN_SCOPE_ENROLL:
        return "enroll";
    case TOKEN_SCOPE_AGENT:
        return "agent";
    case TOKEN_SCOPE_READ:
        return "read";
    case TOKEN_SCOPE_ADMIN:
        return "admin";
    }
    return "unknown";
}

enum ho_code token_scope_parse(const char *s, enum token_scope *out)
{
    static const enum token_scope all[] = {TOKEN_SCOPE_ENROLL, TOKEN_SCOPE_AGENT, TOKEN_SCOPE_READ,
                                           TOKEN_SCOPE_ADMIN};
    size_t i;

    for (i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, token_scope_str(all[i])) == 0) {
            *out = all[i];
            return HO_OK;
        }
    }
    return HO_EINVAL;
}

/* ---- small helpers ---- */

enum ho_code store_fail(struct store *st, struct ho_error *err, const char *what)
{
    log_warnx("store: %s: %s", what, sqlite3_errmsg(st->db));
    return ho_error_set(err, HO_EDB, NULL, "database error (%s)", what);
}

/* Text parameters are bound SQLITE_STATIC: stmt_done clears them before the caller's
 * strings go away. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

void store_stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Steps a statement that returns no rows to its end and readies it for the next use. */
enum ho_code store_stmt_exec(struct store *st, sqlite3_stmt *s, const char *what)
{
    enum ho_code rc = HO_OK;

    if (sqlite3_step(s) != SQLITE_DONE)
        rc = store_fail(st, NULL, what);
    store_stmt_done(s);
    return rc;
}

static int col_null(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL;
}

char *store_col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    if (t == NULL)
        return NULL;
    return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, i);

    snprintf(dst, n, "%s", t != NULL ? (const char *)t : "");
}

static int col_int_or(sqlite3_stmt *s, int i, int dflt)
{
    return col_null(s, i) ? dflt : sqlite3_column_int(s, i);
}

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

void store_lock(struct store *st)
{
    pthread_mutex_lock(&st->mu);
}

void store_unlock(struct store *st)
{
    pthread_mutex_unlock(&st->mu);
}

enum ho_code store_tx_begin(struct store *st)
{
    return store_stmt_exec(st, st->s[ST_BEGIN], "begin");
}

enum ho_code store_tx_commit(struct store *st)
{
    return store_stmt_exec(st, st->s[ST_COMMIT], "commit");
}

/* Rolls back whatever is open; SQLite may already have done so after some errors. */
void store_tx_rollback(struct store *st)
{
    if (!sqlite3_get_autocommit(st->db) &&
        store_stmt_exec(st, st->s[ST_ROLLBACK], "rollback") != HO_OK)
        log_warnx("store: rollback failed");
}

/* Runs a statement bound with one text key that returns one integer; HO_ENOENT for none. */
static enum ho_code HO_WUR lookup_id(struct store *st, enum stmt_id id, const char *key,
                                     int64_t *out, struct ho_error *err)
{
    sqlite3_stmt *s = st->s[id];
    enum ho_code rc = HO_OK;
    int r;

    store_bind_text(s, 1, key);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else if (r == SQLITE_DONE)
        rc = HO_ENOENT;
    else
        rc = store_fail(st, err, "agent lookup");
    store_stmt_done(s);
    return rc;
}

/* An agent's rowid by its id (uid) or, failing that, its name. */
enum ho_code store_agent_rowid(struct store *st, const char *id_or_name, int64_t *out,
                               struct ho_error *err)
{
    enum ho_code rc;

    rc = lookup_id(st, ST_AGENT_ID_BY_UID, id_or_name, out, err);
    if (rc == HO_ENOENT)
        rc = lookup_id(st, ST_AGENT_ID_BY_NAME, id_or_name, out, err);
    return rc;
}

/* ---- cursors: base64url (no padding) of a short text, decoded strictly ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const char *in, size_t n, char *out, size_t outsz)
{
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i < n && o + 5 < outsz; i += 3) {
        v = (uint32_t)(unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint32_t)(unsigned char)in[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64url[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = b64url[v & 63];
    }
    out[o] = '\0';
}

/* Decodes into out (NUL-terminated); -1 for a bad character, length or overflow. */
static int b64url_decode(const char *in, char *out, size_t outsz)
{
    size_t n = strlen(in), i, o = 0;
    uint32_t v = 0;
    int bits = 0;
    const char *p;

    if (n % 4 == 1)
        return -1;
    for (i = 0; i < n; i++) {
        p = in[i] != '\0' ? strchr(b64url, in[i]) : NULL;
        if (p == NULL)
            return -1;
        v = (v << 6) | (uint32_t)(p - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= outsz)
                return -1;
            out[o++] = (char)((v >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return strlen(out) == o ? 0 : -1;
}

void store_cursor_make(char kind, const int64_t *v, int nv, char out[STORE_CURSOR_LEN])
{
    char text[64];

    if (nv == 2)
        snprintf(text, sizeof(text), "%c1:%" PRId64 ":%" PRId64, kind, v[0], v[1]);
    else
        snprintf(text, sizeof(text), "%c1:%" PRId64, kind, v[0]);
    b64url_encode(text, strlen(text), out, STORE_CURSOR_LEN);
}

/*
 * Reads a cursor of this kind with nv non-negative numbers. Only the exact text
 * store_cursor_make would write is accepted (no signs, zeros or other spellings).
 */
enum ho_code store_cursor_parse(const char *cursor, char kind, int64_t *v, int nv,
                                struct ho_error *err)
{
    char text[64], again[STORE_CURSOR_LEN], *p, *colon;
    int i;

    if (strlen(cursor) >= STORE_CURSOR_LEN || b64url_decode(cursor, text, sizeof(text)) != 0)
        goto bad;
    if (text[0] != kind || text[1] != '1' || text[2] != ':')
        goto bad;
    p = text + 3;
    for (i = 0; i < nv; i++) {
        colon = strchr(p, ':');
        if ((colon != NULL) != (i + 1 < nv))
            goto bad;
        if (colon != NULL)
            *colon = '\0';
        if (parse_i64(p, 0, INT64_MAX, &v[i]) != HO_OK)
            goto bad;
        p = colon != NULL ? colon + 1 : p;
    }
    store_cursor_make(kind, v, nv, again);
    if (strcmp(again, cursor) != 0)
        goto bad;
    return HO_OK;
bad:
    return ho_error_set(err, HO_EINVAL, "cursor", "invalid cursor");
}

static int cursor_given(const char *cursor)
{
    return cursor != NULL && cursor[0] != '\0';
}

static size_t clamp_limit(size_t limit)
{
    if (limit < 1)
        return 1;
    return limit > STORE_MAX_LIMIT ? STORE_MAX_LIMIT : limit;
}

/* ---- open, migrate, close ---- */

static enum ho_code HO_WUR store_exec(struct store *st, const char *sql, const char *what,
                                      struct ho_error *err)
{
    char *msg = NULL;
    enum ho_code rc = HO_OK;

    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_warnx("store: %s: %s", what, msg != NULL ? msg : sqlite3_errmsg(st->db));
        rc = ho_error_set(err, HO_EDB, NULL, "%s: %s", what,
                          msg != NULL ? msg : sqlite3_errmsg(st->db));
    }
    sqlite3_free(msg);
    return rc;
}

static enum ho_code HO_WUR read_user_version(struct store *st, int *out)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc = HO_OK;

    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW)
        rc = HO_EDB;
    else
        *out = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

/* Applies one migration and its user_version bump in one transaction. */
static enum ho_code HO_WUR apply_migration(struct store *st, const struct schema_migration *m,
                                           struct ho_error *err)
{
    char bump[64], what[160];
    enum ho_code rc;

    /* PRAGMA takes no parameters; the number is our own built-in version, not input. */
    snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", m->version);
    snprintf(what, sizeof(what), "schema migration %s", m->name);
    rc = store_exec(st, "BEGIN IMMEDIATE", what, err);
    if (rc == HO_OK)
        rc = store_exec(st, m->sql, what, err);
    if (rc == HO_OK)
        rc = store_exec(st, bump, what, err);
    if (rc == HO_OK)
        rc = store_exec(st, "COMMIT", what, err);
    if (rc != HO_OK) {
        if (!sqlite3_get_autocommit(st->db) &&
            store_exec(st, "ROLLBACK", "rollback migration", NULL) != HO_OK)
            log_warnx("store: %s: rollback failed", what);
        return rc;
    }
    log_info("store: applied schema migration %s", m->name);
    return HO_OK;
}

/*
 * Reads the database's schema version into *have and refuses one newer than the
 * built-in migrations, before anything (even the journal mode) is written to it.
 */
static enum ho_code HO_WUR store_check_version(struct store *st, int *have, struct ho_error *err)
{
    int latest = 0;
    size_t i;

    for (i = 0; i < schema_migrations_n; i++) {
        if (schema_migrations[i].version <= latest)
            return ho_error_set(err, HO_EDB, NULL, "built-in schema migrations out of order at %s",
                                schema_migrations[i].name);
        latest = schema_migrations[i].version;
    }
    if (read_user_version(st, have) != HO_OK)
        return ho_error_set(err, HO_EDB, NULL, "cannot read the schema version: %s",
                            sqlite3_errmsg(st->db));
    if (*have > latest)
        return ho_error_set(err, HO_EDB, NULL,
                            "database schema version %d is newer than this server knows (%d); "
                            "run a newer healops-server",
                            *have, latest);
    return HO_OK;
}

/* Applies the built-in migrations newer than have, in order. */
static enum ho_code HO_WUR store_migrate(struct store *st, int have, struct ho_error *err)
{
    enum ho_code rc;
    size_t i;

    for (i = 0; i < schema_migrations_n; i++) {
        if (schema_migrations[i].version <= have)
            continue;
        rc = apply_migration(st, &schema_migrations[i], err);
        if (rc != HO_OK)
            return rc;
    }
    return HO_OK;
}

static enum ho_code HO_WUR store_prepare(struct store *st, const char *sql, sqlite3_stmt **out,
                                         struct ho_error *err)
{
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK) {
        log_warnx("store: prepare: %s: %s", sqlite3_errmsg(st->db), sql);
        return ho_error_set(err, HO_EDB, NULL, "cannot prepare a statement: %s",
                            sqlite3_errmsg(st->db));
    }
    return HO_OK;
}

enum ho_code store_stmt(struct store *st, const char *sql, sqlite3_stmt **out)
{
    enum ho_code rc;
    size_t i;

    for (i = 0; i < st->ncache; i++) {
        if (st->cache[i].sql == sql) {
            *out = st->cache[i].s;
            return HO_OK;
        }
    }
    rc = store_prepare(st, sql, out, NULL);
    if (rc != HO_OK)
        return rc;
    st->cache = xrealloc(st->cache, (st->ncache + 1) * sizeof(*st->cache));
    st->cache[st->ncache].sql = sql;
    st->cache[st->ncache].s = *out;
    st->ncache++;
    return HO_OK;
}

/* WAL lets readers run beside the writer; a file system without it is worth a warning. */
static enum ho_code HO_WUR store_wal(struct store *st, const char *path, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    const unsigned char *mode;
    enum ho_code rc = HO_OK;

    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        rc = ho_error_set(err, HO_EDB, NULL, "%s: %s", path, sqlite3_errmsg(st->db));
    } else {
        mode = sqlite3_column_text(s, 0);
        if (mode == NULL ||
            (strcmp((const char *)mode, "wal") != 0 && strcmp((const char *)mode, "memory") != 0))
            log_warnx("store: %s: journal mode is %s, not wal", path,
                      mode != NULL ? (const char *)mode : "unknown");
    }
    sqlite3_finalize(s);
    return rc;
}

/*
 * Once, before SQLite initialises: no memory statistics (we never read them), so
 * that each of SQLite's allocations does not take its global mutex.
 */
static void store_sqlite_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

#define STORE_STATS_MIN_ROWS "1000" /* fewer rows when analyzed: statistics not kept */

/*
 * Drops the planner's statistics (sqlite_stat1) of tables that held fewer than
 * STORE_STATS_MIN_ROWS rows when they were taken. PRAGMA optimize at close
 * analyzes what a connection used, so the first closes of a new database
 * ("healops-server token create", a server stopped while the fleet was small)
 * store statistics of near-empty tables, and they last. They say nothing about
 * the tables those become: with "one row" in tokens, state, agents or alerts,
 * SQLite plans a scan where a lookup by key is the only sane plan (the token
 * lookup of every request scanned 5,000 tokens at 10,000 agents; alert
 * evaluation would scan 200,000 states a failed run). Without statistics it
 * takes a table to be large. Then has the connection read them again. No-op on
 * a read-only connection or when there is nothing to drop.
 */
static void store_stats_drop_small(sqlite3 *db)
{
    if (sqlite3_table_column_metadata(db, "main", "sqlite_stat1", "stat", NULL, NULL, NULL, NULL,
                                      NULL) != SQLITE_OK)
        return;
    if (sqlite3_exec(db,
                     "DELETE FROM sqlite_stat1 WHERE CAST(stat AS INTEGER) < " STORE_STATS_MIN_ROWS,
                     NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_changes(db) > 0)
        (void)sqlite3_exec(db, "ANALYZE sqlite_master", NULL, NULL, NULL);
}

static enum ho_code HO_WUR store_setup(struct store *st, const char *path, struct ho_error *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    enum ho_code rc;
    int i, have = 0;

    pthread_once(&once, store_sqlite_config);

    /*
     * NOMUTEX: st->mu already serialises every use of the connection. The VFS
     * gathers each transaction's WAL frames into a few writes (store_vfs.c).
     */
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        store_vfs_name()) != SQLITE_OK)
        return ho_error_set(err, HO_EDB, NULL, "cannot open database %s: %s", path,
                            st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    rc = store_check_version(st, &have, err);
    /* A new database only: an existing one keeps its page size (docs/upgrading.md). */
    if (rc == HO_OK && have == 0)
        rc = store_exec(st, STORE_PAGE_SIZE_PRAGMA, path, err);
    if (rc == HO_OK)
        rc = store_wal(st, path, err);
    if (rc == HO_OK)
        rc = store_exec(st, "PRAGMA synchronous = NORMAL", path, err);
    if (rc == HO_OK)
        rc = store_exec(st, "PRAGMA foreign_keys = ON", path, err);
    if (rc == HO_OK)
        rc = store_migrate(st, have, err);
    if (rc == HO_OK)
        store_stats_drop_small(st->db);
    for (i = 0; rc == HO_OK && i < ST_COUNT; i++)
        rc = store_prepare(st, stmt_sql[i], &st->s[i], err);
    st->ready = rc == HO_OK;
    return rc;
}

#define STORE_CKPT_PERIOD_MS     250
#define STORE_CKPT_RESTART_PAGES 40000  /* frames: 330 MB of WAL (8 KiB pages): restart it */
#define STORE_CKPT_TAIL_PAGES    300    /* catch up until no more is left for the locked pass */
#define STORE_CKPT_CATCH_UP      8      /* passes without a pause to get there */
#define STORE_CKPT_SETTLE        2      /* unlocked pass + database sync rounds before the lock */
#define STORE_WRITER_CKPT_PAGES  100000 /* frames, 820 MB: the writer's safety net */

/*
 * One passive checkpoint on the thread's connection; 0, or -1 (logged unless
 * another checkpoint was running). PASSIVE never waits for readers or writers:
 * what it cannot copy now waits for the next.
 */
static int store_ckpt_passive(struct store *st, int *logp, int *done)
{
    if (sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, logp, done) ==
        SQLITE_OK)
        return 0;
    if (sqlite3_errcode(st->ckpt_db) != SQLITE_BUSY)
        log_warnx("store: checkpoint: %s", sqlite3_errmsg(st->ckpt_db));
    return -1;
}

/* Syncs the database file through the thread's connection's own handle of it. */
static void store_ckpt_sync_db(struct store *st)
{
    sqlite3_file *f = NULL;

    if (sqlite3_file_control(st->ckpt_db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
        f == NULL || f->pMethods == NULL)
        return;
    if (f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK)
        log_warnx("store: checkpoint: sync of the database file failed");
}

/*
 * One passive checkpoint; past restart_pages, passes follow without a pause until
 * what is left is a short tail (or STORE_CKPT_CATCH_UP passes), which the last pass
 * copies holding the writer's lock: with no transaction in between the WAL is then
 * copied whole, and the next write starts it again from the beginning. The writer
 * waits only for that tail and two syncs (the WAL's, the database file's), not for
 * the WAL's whole length.
 *
 * SQLite syncs the database file only at the end of a checkpoint that copied the
 * whole WAL, which here is the locked pass: everything the catch-up passes wrote
 * since the last restart would be flushed while the writer waits. So the thread
 * syncs it first, unlocked. That sync is long (all the catch-up passes' pages),
 * and what ingest wrote meanwhile would be the locked pass's tail; so come
 * STORE_CKPT_SETTLE rounds of one more unlocked pass and sync, each copying what
 * came during the round before. At 14,000 runs/s over 10 M runs, the lock was
 * then held 16-21 ms a restart on average instead of 52-56, and POST p99 went
 * from 38-55 ms to 19 ms.
 */
static void store_ckpt_pass(struct store *st, int restart_pages, int tail_pages)
{
    int logp = 0, done = 0, i;

    for (i = 0; i < STORE_CKPT_CATCH_UP; i++) {
        if (store_ckpt_passive(st, &logp, &done) != 0 || logp < restart_pages)
            return;
        if (logp - done <= tail_pages)
            break;
    }
    store_ckpt_sync_db(st);
    for (i = 0; i < STORE_CKPT_SETTLE; i++) {
        if (store_ckpt_passive(st, &logp, &done) != 0)
            return;
        store_ckpt_sync_db(st);
    }
    /* ingest may outrun the passes: then the tail is what came during the last one */
    store_lock(st);
    (void)store_ckpt_passive(st, &logp, &done);
    store_unlock(st);
}

static void *store_ckpt_main(void *arg)
{
    struct store *st = arg;
    struct timespec ts;
    int restart, tail;

    pthread_mutex_lock(&st->ckpt_mu);
    while (!st->ckpt_stop) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += STORE_CKPT_PERIOD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&st->ckpt_cv, &st->ckpt_mu, &ts);
        if (st->ckpt_stop)
            break;
        restart = st->ckpt_restart_pages;
        tail = st->ckpt_tail_pages;
        pthread_mutex_unlock(&st->ckpt_mu);
        store_ckpt_pass(st, restart, tail);
        pthread_mutex_lock(&st->ckpt_mu);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    return NULL;
}

/* Moves checkpoints to a thread of their own; on any failure SQLite's own stay on. */
static void store_ckpt_start(struct store *st, const char *path)
{
    pthread_condattr_t ca;

    if (strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
        return;
    if (sqlite3_open_v2(path, &st->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        return;
    }
    sqlite3_busy_timeout(st->ckpt_db, STORE_BUSY_TIMEOUT_MS);
    /* a connection looks at the file (and sees WAL mode) only once it runs a statement */
    if (sqlite3_exec(st->ckpt_db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        return;
    }
    pthread_mutex_init(&st->ckpt_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->ckpt_cv, &ca);
    pthread_condattr_destroy(&ca);
    st->ckpt_restart_pages = STORE_CKPT_RESTART_PAGES;
    st->ckpt_tail_pages = STORE_CKPT_TAIL_PAGES;
    if (pthread_create(&st->ckpt_thread, NULL, store_ckpt_main, st) != 0) {
        pthread_cond_destroy(&st->ckpt_cv);
        pthread_mutex_destroy(&st->ckpt_mu);
        sqlite3_close(st->ckpt_db);
        st->ckpt_db = NULL;
        return;
    }
    st->ckpt_running = 1;
    /*
     * The writer keeps a far-off checkpoint of its own: under ingest without a pause a
     * passive checkpoint never sees the whole WAL copied, so the WAL could not restart
     * and would grow without bound. The thread restarts it (store_ckpt_pass); should
     * ingest outrun the thread, past this size the writer's commit does, holding every
     * other writer for as long as the copy of what the thread has not copied yet takes.
     */
    sqlite3_wal_autocheckpoint(st->db, STORE_WRITER_CKPT_PAGES);
}

int64_t store_fullscan_steps(struct store *st)
{
    int64_t n = 0;
    int i;

    store_lock(st);
    for (i = 0; i < ST_COUNT; i++) {
        if (st->s[i] != NULL)
            n += sqlite3_stmt_status(st->s[i], SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    }
    store_unlock(st);
    return n;
}

void store_checkpoint_tune(struct store *st, int restart_pages, int tail_pages, int writer_pages)
{
    if (!st->ckpt_running)
        return;
    pthread_mutex_lock(&st->ckpt_mu);
    st->ckpt_restart_pages = restart_pages;
    st->ckpt_tail_pages = tail_pages;
    pthread_mutex_unlock(&st->ckpt_mu);
    store_lock(st);
    sqlite3_wal_autocheckpoint(st->db, writer_pages);
    store_unlock(st);
}

static void store_ckpt_stop(struct store *st)
{
    if (!st->ckpt_running)
        return;
    pthread_mutex_lock(&st->ckpt_mu);
    st->ckpt_stop = 1;
    pthread_cond_signal(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
    pthread_join(st->ckpt_thread, NULL);
    pthread_cond_destroy(&st->ckpt_cv);
    pthread_mutex_destroy(&st->ckpt_mu);
    sqlite3_close(st->ckpt_db);
    st->ckpt_db = NULL;
    st->ckpt_running = 0;
}

enum ho_code store_open(const char *path, struct store **out, struct ho_error *err)
{
    struct store *st = xcalloc(1, sizeof(*st));
    enum ho_code rc;

    *out = NULL;
    pthread_mutex_init(&st->mu, NULL);
    rc = store_setup(st, path, err);
    if (rc != HO_OK) {
        store_close(st);
        return rc;
    }
    store_ckpt_start(st, path);
    *out = st;
    return HO_OK;
}

enum ho_code store_open_reader(const char *path, struct store **out, struct ho_error *err)
{
    struct store *st = xcalloc(1, sizeof(*st));
    enum ho_code rc = HO_OK;
    int i;

    *out = NULL;
    pthread_mutex_init(&st->mu, NULL);
    /* NOMUTEX: st->mu serialises this handle; the writer has a connection of its own */
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK)
        rc = ho_error_set(err, HO_EDB, NULL, "cannot open database %s: %s", path,
                          st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
    else
        sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    for (i = 0; rc == HO_OK && i < ST_COUNT; i++)
        rc = store_prepare(st, stmt_sql[i], &st->s[i], err);
    if (rc != HO_OK) {
        store_close(st);
        return rc;
    }
    *out = st;
    return HO_OK;
}

void store_close(struct store *st)
{
    size_t i;

    if (st == NULL)
        return;
    store_ckpt_stop(st);
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->s[i]);
    for (i = 0; i < RQ_COMBOS; i++)
        sqlite3_finalize(st->runs_q[i]);
    for (i = 0; i < SQ_COMBOS; i++)
        sqlite3_finalize(st->state_q[i]);
    for (i = 0; i < SQ_COMBOS; i++)
        sqlite3_finalize(st->summary_q[i]);
    for (i = 0; i < SQ_COMBOS; i++)
        sqlite3_finalize(st->summary_alerts_q[i]);
    for (i = 0; i < st->ncache; i++)
        sqlite3_finalize(st->cache[i].s);
    free(st->cache);
    if (st->db != NULL) {
        /* Keeps the planner's statistics current (https://sqlite.org/lang_analyze.html). */
        if (st->ready && sqlite3_get_autocommit(st->db)) {
            sqlite3_exec(st->db, "PRAGMA analysis_limit = 400; PRAGMA optimize", NULL, NULL, NULL);
            store_stats_drop_small(st->db);
        }
        if (sqlite3_close(st->db) != SQLITE_OK)
            log_warnx("store: close: %s", sqlite3_errmsg(st->db));
    }
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int store_schema_version(struct store *st)
{
    int v = -1;

    store_lock(st);
    if (read_user_version(st, &v) != HO_OK)
        v = -1;
    store_unlock(st);
    return v;
}

/* ---- tokens and agents ---- */

static enum ho_code HO_WUR token_insert(struct store *st, enum token_scope scope, const char *name,
                                        const char *hash_hex, int64_t agent, int64_t expires_at_ms,
                                        int64_t now_ms)
{
    sqlite3_stmt *s = st->s[ST_TOKEN_INSERT];
    enum ho_code rc = HO_OK;

    store_bind_text(s, 1, hash_hex);
    sqlite3_bind_int(s, 2, (int)scope);
    store_bind_text(s, 3, name != NULL ? name : "");
    if (agent > 0)
        sqlite3_bind_int64(s, 4, agent);
    sqlite3_bind_int64(s, 5, now_ms);
    if (expires_at_ms > 0)
        sqlite3_bind_int64(s, 6, expires_at_ms);
    if (sqlite3_step(s) != SQLITE_DONE) {
        rc = sqlite3_errcode(st->db) == SQLITE_CONSTRAINT ? HO_EEXIST : HO_EDB;
        (void)store_fail(st, NULL, "insert token");
    }
    store_stmt_done(s);
    return rc;
}

enum ho_code store_token_create(struct store *st, enum token_scope scope, const char *name,
                                const char *hash_hex, int64_t expires_at_ms, int64_t now_ms,
                                int64_t *id_out)
{
    enum ho_code rc;

    store_lock(st);
    rc = token_insert(st, scope, name, hash_hex, 0, expires_at_ms, now_ms);
    if (rc == HO_OK && id_out != NULL)
        *id_out = sqlite3_last_insert_rowid(st->db);
    store_unlock(st);
    return rc;
}

enum ho_code store_token_lookup(struct store *st, const char *hash_hex, int64_t now_ms,
                                struct store_token *out)
{
    sqlite3_stmt *s;
    enum ho_code rc = HO_EAUTH;
    int r, scope;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    s = st->s[ST_TOKEN_LOOKUP];
    store_bind_text(s, 1, hash_hex);
    sqlite3_bind_int64(s, 2, now_ms);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        scope = sqlite3_column_int(s, 1);
        if (scope >= TOKEN_SCOPE_ENROLL && scope <= TOKEN_SCOPE_ADMIN) {
            out->id = sqlite3_column_int64(s, 0);
            out->scope = (enum token_scope)scope;
            col_copy(s, 2, out->name, sizeof(out->name));
            if (out->scope == TOKEN_SCOPE_AGENT)
                col_copy(s, 3, out->agent_id, sizeof(out->agent_id));
            rc = HO_OK;
        } else {
            log_warnx("store: token %" PRId64 " has unknown scope %d",
                      (int64_t)sqlite3_column_int64(s, 0), scope);
        }
    } else if (r != SQLITE_DONE) {
        rc = store_fail(st, NULL, "token lookup");
    }
    store_stmt_done(s);
    store_unlock(st);
    return rc;
}

/* Creates or updates the agent by name; returns its rowid and uid. */
static enum ho_code HO_WUR agent_upsert(struct store *st, const char *name, const char *labels,
                                        const char *new_uid, int64_t now_ms, int64_t *rowid,
                                        char uid[CRYPTO_UUID_LEN])
{
    sqlite3_stmt *s = st->s[ST_AGENT_UPSERT];
    enum ho_code rc = HO_OK;

    store_bind_text(s, 1, new_uid);
    store_bind_text(s, 2, name);
    store_bind_text(s, 3, labels != NULL ? labels : "{}");
    sqlite3_bind_int64(s, 4, now_ms);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(s, 0);
        col_copy(s, 1, uid, CRYPTO_UUID_LEN);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = store_fail(st, NULL, "enroll agent");
    } else {
        rc = store_fail(st, NULL, "enroll agent");
    }
    store_stmt_done(s);
    return rc;
}

enum ho_code store_agent_enroll(struct store *st, const char *name, const char *labels_json,
                                const char *token_hash_hex, int64_t now_ms,
                                char agent_id_out[CRYPTO_UUID_LEN])
{
    char new_uid[CRYPTO_UUID_LEN], uid[CRYPTO_UUID_LEN] = "";
    int64_t rowid = 0;
    sqlite3_stmt *s;
    enum ho_code rc;

    rc = crypto_uuid_v7(now_ms, new_uid);
    if (rc != HO_OK)
        return rc;
    store_lock(st);
    rc = store_tx_begin(st);
    if (rc == HO_OK)
        rc = agent_upsert(st, name, labels_json, new_uid, now_ms, &rowid, uid);
    if (rc == HO_OK) {
        s = st->s[ST_TOKENS_REVOKE];
        sqlite3_bind_int64(s, 1, rowid);
        sqlite3_bind_int64(s, 2, now_ms);
        rc = store_stmt_exec(st, s, "revoke agent tokens");
    }
    if (rc == HO_OK)
        rc = token_insert(st, TOKEN_SCOPE_AGENT, name, token_hash_hex, rowid, 0, now_ms);
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
    else
        memcpy(agent_id_out, uid, CRYPTO_UUID_LEN);
    store_unlock(st);
    return rc;
}

enum ho_code store_agent_heartbeat(struct store *st, const char *agent_id,
                                   const struct store_heartbeat *hb, int64_t now_ms)
{
    sqlite3_stmt *s;
    enum ho_code rc;

    store_lock(st);
    s = st->s[ST_AGENT_HEARTBEAT];
    store_bind_text(s, 1, agent_id);
    store_bind_text(s, 2, hb->version);
    store_bind_text(s, 3, hb->packages_json);
    sqlite3_bind_int64(s, 4, hb->spool_depth);
    sqlite3_bind_int64(s, 5, hb->dropped);
    sqlite3_bind_int64(s, 6, now_ms);
    rc = store_stmt_exec(st, s, "heartbeat");
    if (rc == HO_OK && sqlite3_changes(st->db) == 0)
        rc = HO_ENOENT;
    store_unlock(st);
    return rc;
}

/* ---- runs: insert ---- */

static void bind_step(sqlite3_stmt *s, int col, const struct run_step *p)
{
    if (!p->present)
        return; /* all four stay NULL */
    sqlite3_bind_int(s, col, p->status);
    if (p->has_exit_code)
        sqlite3_bind_int(s, col + 1, p->exit_code);
    store_bind_text(s, col + 2, p->output);
    sqlite3_bind_int64(s, col + 3, p->duration_ms);
}

/* Moves the agent x check state to r when r is at least as new as the run held. */
static enum ho_code HO_WUR state_update(struct store *st, int64_t agent, const struct run *r)
{
    sqlite3_stmt *s = st->s[ST_STATE_UPSERT];
    int ok = r->outcome == RUN_OUTCOME_OK || r->outcome == RUN_OUTCOME_REPAIRED;
    int failing = r->outcome == RUN_OUTCOME_FAILED || r->outcome == RUN_OUTCOME_ERROR;
    enum ho_code rc;

    sqlite3_bind_int64(s, 1, agent);
    store_bind_text(s, 2, r->check);
    store_bind_text(s, 3, r->package);
    store_bind_text(s, 4, r->id);
    sqlite3_bind_int(s, 5, (int)r->outcome);
    if (r->test.present)
        sqlite3_bind_int(s, 6, r->test.status);
    if (r->repair.present)
        sqlite3_bind_int(s, 7, r->repair.status);
    if (r->retest.present)
        sqlite3_bind_int(s, 8, r->retest.status);
    sqlite3_bind_int(s, 9, r->manual != 0);
    sqlite3_bind_int64(s, 10, r->started_at_ms);
    if (ok)
        sqlite3_bind_int64(s, 11, r->started_at_ms);
    sqlite3_bind_int(s, 12, failing);
    sqlite3_bind_int(s, 13, r->interval_s);
    rc = store_stmt_exec(st, s, "update state");
    if (rc != HO_OK || !ok || sqlite3_changes(st->db) > 0)
        return rc; /* the upsert moved last_ok_at itself */
    s = st->s[ST_STATE_OK];
    sqlite3_bind_int64(s, 1, agent);
    store_bind_text(s, 2, r->check);
    sqlite3_bind_int64(s, 3, r->started_at_ms);
    return store_stmt_exec(st, s, "update state last_ok_at");
}

/*
 * The metrics and tags JSON of every run of a batch, made before the store lock
 * is taken: one buffer of NUL-terminated texts, each run's two offsets into it
 * (RUN_COLS_NONE: NULL).
 */
#define RUN_COLS_NONE SIZE_MAX

struct run_cols {
    struct buf text;
    size_t *off; /* 2 per run: metrics, tags */
};

/* The run's metrics (into mj) and package tags (into tj) as JSON text, "" for none. */
static enum ho_code HO_WUR run_json_cols(const struct run *r, struct buf *mj, struct buf *tj)
{
    enum ho_code rc = HO_OK;

    buf_reset(mj);
    buf_reset(tj);
    if (r->nmetrics > 0)
        rc = run_metrics_to_json(r->metrics, r->nmetrics, mj);
    if (rc == HO_OK && r->ntags > 0)
        rc = points_tags_to_json(r->tags, r->ntags, tj);
    if (rc != HO_OK)
        log_warnx("store: run %s: metrics or tags do not serialise: %s", r->id, ho_code_str(rc));
    return rc;
}

/* Appends b's text and its NUL to c (or notes none when empty); its offset in *off. */
static enum ho_code HO_WUR run_cols_put(struct run_cols *c, const struct buf *b, size_t *off)
{
    enum ho_code rc;

    *off = RUN_COLS_NONE;
    if (b->len == 0)
        return HO_OK;
    *off = c->text.len;
    rc = buf_append(&c->text, b->data, b->len);
    return rc == HO_OK ? buf_append(&c->text, "", 1) : rc;
}

static enum ho_code HO_WUR run_cols_make(struct run_cols *c, const struct run *const *runs,
                                         size_t n)
{
    struct buf mj, tj;
    enum ho_code rc = HO_OK;
    size_t i;

    buf_init(&c->text, n * (STORE_METRICS_JSON_MAX + POINTS_TAGS_JSON_MAX + 2));
    c->off = xcalloc(2 * n + 1, sizeof(*c->off));
    buf_init(&mj, STORE_METRICS_JSON_MAX);
    buf_init(&tj, POINTS_TAGS_JSON_MAX);
    for (i = 0; rc == HO_OK && i < n; i++) {
        rc = run_json_cols(runs[i], &mj, &tj);
        if (rc == HO_OK)
            rc = run_cols_put(c, &mj, &c->off[2 * i]);
        if (rc == HO_OK)
            rc = run_cols_put(c, &tj, &c->off[2 * i + 1]);
    }
    buf_cleanup(&mj);
    buf_cleanup(&tj);
    return rc;
}

static const char *run_cols_get(const struct run_cols *c, size_t i)
{
    return c->off[i] == RUN_COLS_NONE ? NULL : c->text.data + c->off[i];
}

static void run_cols_free(struct run_cols *c)
{
    buf_cleanup(&c->text);
    free(c->off);
}

static enum ho_code HO_WUR run_insert(struct store *st, int64_t agent, const struct run *r,
                                      int64_t now_ms, const char *metrics_json,
                                      const char *tags_json, enum store_insert *res)
{
    sqlite3_stmt *s = st->s[ST_RUN_INSERT];
    enum ho_code rc;
    int64_t seq;

    store_bind_text(s, 1, r->id);
    sqlite3_bind_int64(s, 2, agent);
    store_bind_text(s, 3, r->package);
    store_bind_text(s, 4, r->version);
    store_bind_text(s, 5, r->check);
    sqlite3_bind_int64(s, 6, r->started_at_ms);
    sqlite3_bind_int64(s, 7, r->duration_ms);
    sqlite3_bind_int(s, 8, r->manual != 0);
    store_bind_text(s, 9, r->operator_name);
    sqlite3_bind_int(s, 10, r->interval_s);
    bind_step(s, 11, &r->test);
    bind_step(s, 15, &r->repair);
    bind_step(s, 19, &r->retest);
    sqlite3_bind_int(s, 23, (int)r->outcome);
    store_bind_text(s, 24, metrics_json);
    sqlite3_bind_int64(s, 25, now_ms);
    store_bind_text(s, 26, r->environment);
    store_bind_text(s, 27, tags_json);
    rc = store_stmt_exec(st, s, "insert run");
    if (rc != HO_OK)
        return rc;
    if (sqlite3_changes(st->db) == 0) {
        *res = STORE_INSERT_DUPLICATE;
        return HO_OK;
    }
    *res = STORE_INSERT_ACCEPTED;
    seq = sqlite3_last_insert_rowid(st->db); /* before the state upsert moves it */
    rc = state_update(st, agent, r);
    if (rc == HO_OK)
        rc = store_points_insert_run(st, agent, r, seq);
    return rc;
}

enum ho_code store_runs_insert(struct store *st, const char *agent_id,
                               const struct run *const *runs, size_t n, int64_t now_ms,
                               enum store_insert *results)
{
    struct run_cols cols;
    int64_t agent = 0;
    sqlite3_stmt *s;
    enum ho_code rc;
    size_t i;

    rc = run_cols_make(&cols, runs, n);
    if (rc != HO_OK) {
        run_cols_free(&cols);
        return rc;
    }
    store_lock(st);
    rc = lookup_id(st, ST_AGENT_ID_BY_UID, agent_id, &agent, NULL);
    if (rc == HO_ENOENT)
        log_warnx("store: runs from unknown agent %s", agent_id);
    if (rc == HO_OK)
        rc = store_tx_begin(st);
    for (i = 0; rc == HO_OK && i < n; i++)
        rc = run_insert(st, agent, runs[i], now_ms, run_cols_get(&cols, 2 * i),
                        run_cols_get(&cols, 2 * i + 1), &results[i]);
    if (rc == HO_OK) {
        s = st->s[ST_AGENT_SEEN];
        sqlite3_bind_int64(s, 1, agent);
        sqlite3_bind_int64(s, 2, now_ms);
        rc = store_stmt_exec(st, s, "update last_seen");
    }
    if (rc == HO_OK)
        rc = store_tx_commit(st);
    if (rc != HO_OK)
        store_tx_rollback(st);
    store_unlock(st);
    run_cols_free(&cols);
    return rc;
}

/* ---- runs: query ---- */

/* The cached statement for one filter combination, composed of fixed fragments. */
static enum ho_code HO_WUR compose(struct store *st, sqlite3_stmt **slot, const char *head,
                                   const char *const *frag, size_t nfrag, unsigned bits,
                                   const char *tail, struct ho_error *err)
{
    struct buf sql;
    enum ho_code rc;
    size_t i;

    if (*slot != NULL)
        return HO_OK;
    buf_init(&sql, STORE_SQL_MAX);
    rc = buf_appends(&sql, head);
    for (i = 0; rc == HO_OK && i < nfrag; i++) {
        if (bits & (1u << i))
            rc = buf_appends(&sql, frag[i]);
    }
    if (rc == HO_OK)
        rc = buf_appends(&sql, tail);
    if (rc == HO_OK)
        rc = store_prepare(st, sql.data, slot, err);
    else
        rc = ho_error_set(err, HO_EINTERNAL, NULL, "query text too long");
    buf_cleanup(&sql);
    return rc;
}

static void col_step(sqlite3_stmt *s, int col, struct run_step *p)
{
    if (col_null(s, col))
        return;
    p->present = 1;
    p->status = sqlite3_column_int(s, col);
    p->has_exit_code = !col_null(s, col + 1);
    p->exit_code = sqlite3_column_int(s, col + 1);
    p->output = store_col_dup(s, col + 2);
    p->duration_ms = sqlite3_column_int64(s, col + 3);
}

/* Fills r from a row of runs_head's columns. */
static enum ho_code HO_WUR run_from_row(sqlite3_stmt *s, struct run *r, struct ho_error *err)
{
    const unsigned char *m;
    struct ho_error perr;
    enum ho_code rc = HO_OK;

    col_copy(s, 1, r->id, sizeof(r->id));
    r->agent_id = store_col_dup(s, 2);
    r->agent_name = store_col_dup(s, 3);
    r->package = store_col_dup(s, 4);
    r->version = store_col_dup(s, 5);
    r->check = store_col_dup(s, 6);
    r->started_at_ms = sqlite3_column_int64(s, 7);
    r->duration_ms = sqlite3_column_int64(s, 8);
    r->manual = sqlite3_column_int(s, 9) != 0;
    r->operator_name = store_col_dup(s, 10);
    r->interval_s = sqlite3_column_int(s, 11);
    col_step(s, 12, &r->test);
    col_step(s, 16, &r->repair);
    col_step(s, 20, &r->retest);
    r->outcome = (enum run_outcome)sqlite3_column_int(s, 24);
    m = sqlite3_column_text(s, 25);
    if (m != NULL) {
        rc = run_metrics_parse((const char *)m, (size_t)sqlite3_column_bytes(s, 25), &r->metrics,
                               &r->nmetrics, &perr);
        if (rc != HO_OK) {
            log_warnx("store: run %s: stored metrics do not parse: %s", r->id, perr.msg);
            rc = ho_error_set(err, HO_EDB, NULL, "stored metrics of run %s do not parse", r->id);
        }
    }
    r->received_at_ms = sqlite3_column_int64(s, 26);
    return rc;
}

enum ho_code store_run_by_seq(struct store *st, int64_t run_seq, struct run *r)
{
    const unsigned char *tags;
    struct ho_error err;
    sqlite3_stmt *s;
    enum ho_code rc;
    int step;

    memset(r, 0, sizeof(*r));
    rc = store_stmt(st, run_by_seq, &s);
    if (rc != HO_OK)
        return rc;
    sqlite3_bind_int64(s, 1, run_seq);
    step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        rc = run_from_row(s, r, &err) == HO_OK ? HO_OK : HO_EINVAL;
        r->environment = store_col_dup(s, 27);
        tags = sqlite3_column_text(s, 28);
        if (rc == HO_OK && tags != NULL &&
            points_tags_parse((const char *)tags, (size_t)sqlite3_column_bytes(s, 28), &r->tags,
                              &r->ntags) != HO_OK) {
            log_warnx("store: run %s: stored package tags do not parse", r->id);
            rc = HO_EINVAL;
        }
    } else {
        rc = step == SQLITE_DONE ? HO_ENOENT : store_fail(st, NULL, "read run by seq");
    }
    store_stmt_done(s);
    if (rc != HO_OK)
        run_cleanup(r);
    return rc;
}

static enum ho_code HO_WUR runs_bits(const struct run_query *q, unsigned *bits,
                                     struct ho_error *err)
{
    *bits = 0;
    if (q->outcome < -1 || q->outcome > RUN_OUTCOME_ERROR)
        return ho_error_set(err, HO_EINVAL, "outcome", "unknown outcome");
    if (q->manual < -1 || q->manual > 1)
        return ho_error_set(err, HO_EINVAL, "manual", "manual must be true or false");
    *bits |= q->agent != NULL ? RQ_AGENT : 0;
    *bits |= q->package != NULL ? RQ_PACKAGE : 0;
    *bits |= q->check != NULL ? RQ_CHECK : 0;
    if (q->outcome >= 0)
        *bits |= q->outcome == RUN_OUTCOME_OK ? RQ_OUTCOME_OK : RQ_OUTCOME_BAD;
    if (q->manual >= 0)
        *bits |= q->manual ? RQ_MANUAL : RQ_AUTO;
    *bits |= q->repairs_only ? RQ_REPAIRS : 0;
    *bits |= q->since_ms > 0 ? RQ_SINCE : 0;
    *bits |= q->until_ms > 0 ? RQ_UNTIL : 0;
    *bits |= cursor_given(q->cursor) ? RQ_CURSOR : 0;
    return HO_OK;
}

/* Steps the bound query, keeping up to limit rows; *more when a further row exists. */
static enum ho_code HO_WUR runs_fetch(struct store *st, sqlite3_stmt *s, size_t limit,
                                      struct run *rows, size_t *n, int64_t last[2], int *more,
                                      struct ho_error *err)
{
    enum ho_code rc;
    int r;

    for (;;) {
        r = sqlite3_step(s);
        if (r != SQLITE_ROW)
            break;
        if (*n == limit) {
            *more = 1;
            return HO_OK;
        }
        last[0] = sqlite3_column_int64(s, 7);
        last[1] = sqlite3_column_int64(s, 0);
        rc = run_from_row(s, &rows[(*n)++], err);
        if (rc != HO_OK)
            return rc;
    }
    return r == SQLITE_DONE ? HO_OK : store_fail(st, err, "query runs");
}

enum ho_code store_runs_query(struct store *st, const struct run_query *q, struct run **out,
                              size_t *n, char next_cursor[STORE_CURSOR_LEN], struct ho_error *err)
{
    size_t limit = clamp_limit(q->limit);
    int64_t cur[2] = {0, 0}, last[2] = {0, 0}, agent = 0;
    struct run *rows = NULL;
    sqlite3_stmt *s = NULL;
    unsigned bits;
    int more = 0;
    enum ho_code rc;

    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    rc = runs_bits(q, &bits, err);
    if (rc == HO_OK && (bits & RQ_CURSOR))
        rc = store_cursor_parse(q->cursor, 'r', cur, 2, err);
    if (rc != HO_OK)
        return rc;
    store_lock(st);
    if (q->agent != NULL) {
        rc = store_agent_rowid(st, q->agent, &agent, err);
        if (rc != HO_OK) /* an unknown agent has no runs */
            goto out;
    }
    rc = compose(st, &st->runs_q[bits], runs_head, runs_frag, NELEM(runs_frag), bits, runs_tail,
                 err);
    if (rc != HO_OK)
        goto out;
    s = st->runs_q[bits];
    if (bits & RQ_AGENT)
        sqlite3_bind_int64(s, RP_AGENT, agent);
    store_bind_text(s, RP_PACKAGE, q->package);
    store_bind_text(s, RP_CHECK, q->check);
    sqlite3_bind_int(s, RP_OUTCOME, q->outcome);
    sqlite3_bind_int64(s, RP_SINCE, q->since_ms);
    sqlite3_bind_int64(s, RP_UNTIL, q->until_ms);
    sqlite3_bind_int64(s, RP_CSTART, cur[0]);
    sqlite3_bind_int64(s, RP_CSEQ, cur[1]);
    sqlite3_bind_int64(s, RP_LIMIT, (int64_t)limit + 1);
    rows = xcalloc(limit, sizeof(*rows));
    rc = runs_fetch(st, s, limit, rows, n, last, &more, err);
    store_stmt_done(s);
out:
    store_unlock(st);
    if (rc == HO_ENOENT)
        rc = HO_OK;
    if (rc != HO_OK || *n == 0) {
        store_runs_free(rows, *n);
        *n = 0;
        return rc;
    }
    if (more)
        store_cursor_make('r', last, 2, next_cursor);
    *out = rows;
    return HO_OK;
}

void store_runs_free(struct run *runs, size_t n)
{
    size_t i;

    if (runs == NULL)
        return;
    for (i = 0; i < n; i++)
        run_cleanup(&runs[i]);
    free(runs);
}

/* ---- state ---- */

static void state_from_row(sqlite3_stmt *s, struct state_row *w)
{
    col_copy(s, 1, w->agent_id, sizeof(w->agent_id));
    w->agent_name = store_col_dup(s, 2);
    w->package = store_col_dup(s, 3);
    w->check = store_col_dup(s, 4);
    col_copy(s, 5, w->last_run_id, sizeof(w->last_run_id));
    w->outcome = (enum run_outcome)sqlite3_column_int(s, 6);
    w->test_status = col_int_or(s, 7, TEST_STATUS_UNKNOWN);
    w->repair_status = col_int_or(s, 8, -1);
    w->retest_status = col_int_or(s, 9, -1);
    w->manual = sqlite3_column_int(s, 10) != 0;
    w->last_run_at_ms = sqlite3_column_int64(s, 11);
    w->last_ok_at_ms = sqlite3_column_int64(s, 12); /* NULL reads as 0: never */
    w->consecutive_failures = sqlite3_column_int(s, 13);
    w->interval_s = sqlite3_column_int(s, 14);
    w->alert_id = sqlite3_column_int64(s, 15); /* NULL reads as 0: no open alert */
    if (w->alert_id != 0) {
        w->alert_kind = store_col_dup(s, 16);
        w->alert_severity = store_col_dup(s, 17);
        w->alert_summary = store_col_dup(s, 18);
        w->alert_opened_at_ms = sqlite3_column_int64(s, 19);
    }
}

/* The (agent name, check) position a state cursor names. */
static enum ho_code HO_WUR state_pos(struct store *st, int64_t id, char **name, char **check,
                                     struct ho_error *err)
{
    sqlite3_stmt *s = st->s[ST_STATE_POS];
    enum ho_code rc = HO_OK;
    int r;

    sqlite3_bind_int64(s, 1, id);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW) {
        *name = store_col_dup(s, 0);
        *check = store_col_dup(s, 1);
    } else if (r == SQLITE_DONE) {
        rc = ho_error_set(err, HO_EINVAL, "cursor", "cursor names a row that no longer exists");
    } else {
        rc = store_fail(st, err, "state cursor");
    }
    store_stmt_done(s);
    return rc;
}

static enum ho_code HO_WUR state_fetch(struct store *st, sqlite3_stmt *s, size_t limit,
                                       struct state_row *rows, size_t *n, int64_t *last, int *more,
                                       struct ho_error *err)
{
    int r;

    for (;;) {
        r = sqlite3_step(s);
        if (r != SQLITE_ROW)
            break;
        if (*n == limit) {
            *more = 1;
            return HO_OK;
        }
        *last = sqlite3_column_int64(s, 0);
        state_from_row(s, &rows[(*n)++]);
    }
    return r == SQLITE_DONE ? HO_OK : store_fail(st, err, "query state");
}

/*
 * The filter bits of q other than the cursor, the JSON path of its label key and
 * its search text as a LIKE pattern ("%text%", with %, _ and \ escaped by \).
 */
static enum ho_code HO_WUR state_filters(const struct state_query *q, unsigned *bits,
                                         char **lpath, char **pattern, struct ho_error *err)
{
    enum ho_code rc;
    const char *c;
    struct buf b;
    size_t i;

    *lpath = NULL;
    *pattern = NULL;
    if (q->outcome < -1 || q->outcome > RUN_OUTCOME_ERROR)
        return ho_error_set(err, HO_EINVAL, "outcome", "unknown outcome");
    *bits = (q->agent != NULL ? SQ_AGENT : 0) | (q->package != NULL ? SQ_PACKAGE : 0) |
            (q->check != NULL ? SQ_CHECK : 0) | (q->outcome >= 0 ? SQ_OUTCOME : 0) |
            (q->stale ? SQ_STALE : 0);
    if (q->label_key != NULL) {
        /* keys are [A-Za-z0-9._-] (enrolment refuses others): nothing to quote */
        for (c = q->label_key; *c != '\0'; c++) {
            if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
                return ho_error_set(err, HO_EINVAL, "label", "invalid label key");
        }
        if (q->label_value == NULL)
            return ho_error_set(err, HO_EINVAL, "label", "must be KEY=VALUE");
        *lpath = xasprintf("$.\"%s\"", q->label_key);
        *bits |= SQ_LABEL;
    }
    if (q->search != NULL) {
        buf_init(&b, STORE_SQL_MAX);
        rc = buf_append(&b, "%", 1);
        for (i = 0; q->search[i] != '\0' && rc == HO_OK; i++) {
            if (q->search[i] == '%' || q->search[i] == '_' || q->search[i] == '\\')
                rc = buf_append(&b, "\\", 1);
            if (rc == HO_OK)
                rc = buf_append(&b, &q->search[i], 1);
        }
        if (rc == HO_OK)
            rc = buf_append(&b, "%", 1);
        if (rc != HO_OK) {
            buf_cleanup(&b);
            free(*lpath);
            *lpath = NULL;
            return ho_error_set(err, HO_EINVAL, "q", "search text too long");
        }
        *pattern = buf_take(&b);
        *bits |= SQ_SEARCH;
    }
    return HO_OK;
}

static void state_bind(sqlite3_stmt *s, const struct state_query *q, int64_t agent,
                       const char *lpath, const char *pattern)
{
    sqlite3_bind_int64(s, SP_AGENT, agent);
    store_bind_text(s, SP_PACKAGE, q->package);
    store_bind_text(s, SP_CHECK, q->check);
    sqlite3_bind_int(s, SP_OUTCOME, q->outcome);
    store_bind_text(s, SP_LPATH, lpath);
    store_bind_text(s, SP_LVALUE, q->label_value);
    store_bind_text(s, SP_SEARCH, pattern);
    sqlite3_bind_int64(s, SP_NOW, q->now_ms);
}

enum ho_code store_state_query(struct store *st, const struct state_query *q,
                               struct state_row **out, size_t *n,
                               char next_cursor[STORE_CURSOR_LEN], struct ho_error *err)
{
    size_t limit = clamp_limit(q->limit);
    int64_t cur = 0, last = 0, agent = 0;
    char *cname = NULL, *ccheck = NULL, *lpath = NULL, *pattern = NULL;
    struct state_row *rows = NULL;
    sqlite3_stmt *s;
    unsigned bits = 0;
    int more = 0;
    enum ho_code rc = HO_OK;

    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    rc = state_filters(q, &bits, &lpath, &pattern, err);
    if (rc != HO_OK)
        return rc;
    bits |= cursor_given(q->cursor) ? SQ_CURSOR : 0;
    if (bits & SQ_CURSOR)
        rc = store_cursor_parse(q->cursor, 's', &cur, 1, err);
    if (rc != HO_OK) {
        free(lpath);
        free(pattern);
        return rc;
    }
    store_lock(st);
    if (q->agent != NULL)
        rc = store_agent_rowid(st, q->agent, &agent, err);
    if (rc == HO_OK && (bits & SQ_CURSOR))
        rc = state_pos(st, cur, &cname, &ccheck, err);
    if (rc == HO_OK)
        rc = compose(st, &st->state_q[bits], state_head, state_frag, NELEM(state_frag), bits,
                     state_tail, err);
    if (rc == HO_OK) {
        s = st->state_q[bits];
        state_bind(s, q, agent, lpath, pattern);
        store_bind_text(s, SP_CNAME, cname);
        store_bind_text(s, SP_CCHECK, ccheck);
        sqlite3_bind_int64(s, SP_LIMIT, (int64_t)limit + 1);
        rows = xcalloc(limit, sizeof(*rows));
        rc = state_fetch(st, s, limit, rows, n, &last, &more, err);
        store_stmt_done(s);
    }
    store_unlock(st);
    free(cname);
    free(ccheck);
    free(lpath);
    free(pattern);
    if (rc == HO_ENOENT)
        rc = HO_OK;
    if (rc != HO_OK || *n == 0) {
        store_state_free(rows, *n);
        *n = 0;
        return rc;
    }
    if (more)
        store_cursor_make('s', &last, 1, next_cursor);
    *out = rows;
    return HO_OK;
}

void store_state_free(struct state_row *rows, size_t n)
{
    size_t i;

    if (rows == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(rows[i].agent_name);
        free(rows[i].package);
        free(rows[i].check);
        free(rows[i].alert_kind);
        free(rows[i].alert_severity);
        free(rows[i].alert_summary);
    }
    free(rows);
}

/* ---- state summary ---- */

static const char summary_agents_sql[] =
    "SELECT count(*), coalesce(sum(last_seen IS NULL OR last_seen < ?2), 0) FROM agents "
    "WHERE (?1 = 0 OR id = ?1) AND (?3 IS NULL OR json_extract(labels, ?3) = ?4)";
static const char summary_silent_sql[] =
    "SELECT name FROM agents WHERE (last_seen IS NULL OR last_seen < ?2) "
    "AND (?1 = 0 OR id = ?1) AND (?3 IS NULL OR json_extract(labels, ?3) = ?4) "
    "ORDER BY name LIMIT ?5";

static const char summary_has_alerts_sql[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'alerts'";

/* Open alerts of the states bits selects; -1 when the database has no alerts table. */
static enum ho_code HO_WUR summary_alerts(struct store *st, const struct state_query *q,
                                          unsigned bits, int64_t agent, const char *lpath,
                                          const char *pattern, struct state_summary *out,
                                          struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int have = 0;

    out->alerts_open = -1;
    rc = store_stmt(st, summary_has_alerts_sql, &s);
    if (rc != HO_OK)
        return store_fail(st, err, "prepare alerts check");
    if (sqlite3_step(s) == SQLITE_ROW)
        have = sqlite3_column_int(s, 0) > 0;
    store_stmt_done(s);
    if (!have)
        return HO_OK;
    rc = compose(st, &st->summary_alerts_q[bits], summary_alerts_head, state_frag,
                 NELEM(state_frag), bits, "", err);
    if (rc != HO_OK)
        return rc;
    s = st->summary_alerts_q[bits];
    state_bind(s, q, agent, lpath, pattern);
    if (sqlite3_step(s) == SQLITE_ROW)
        out->alerts_open = sqlite3_column_int64(s, 0);
    else
        rc = store_fail(st, err, "count open alerts");
    store_stmt_done(s);
    return rc;
}

/* The agent counts and first silent names (agents: at most tens of thousands of rows). */
static enum ho_code HO_WUR summary_agents(struct store *st, const struct state_query *q,
                                          int64_t agent, const char *lpath,
                                          struct state_summary *out, struct ho_error *err)
{
    sqlite3_stmt *s = NULL;
    enum ho_code rc;
    int r;

    rc = store_stmt(st, summary_agents_sql, &s);
    if (rc != HO_OK)
        return store_fail(st, err, "prepare agent counts");
    sqlite3_bind_int64(s, 1, agent);
    sqlite3_bind_int64(s, 2, q->silent_before_ms);
    store_bind_text(s, 3, lpath);
    store_bind_text(s, 4, q->label_value);
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->agents = sqlite3_column_int64(s, 0);
        out->agents_silent = sqlite3_column_int64(s, 1);
    } else {
        rc = store_fail(st, err, "count agents");
    }
    store_stmt_done(s);
    if (rc != HO_OK || out->agents_silent == 0)
        return rc;
    rc = store_stmt(st, summary_silent_sql, &s);
    if (rc != HO_OK)
        return store_fail(st, err, "prepare silent agents");
    sqlite3_bind_int64(s, 1, agent);
    sqlite3_bind_int64(s, 2, q->silent_before_ms);
    store_bind_text(s, 3, lpath);
    store_bind_text(s, 4, q->label_value);
    sqlite3_bind_int(s, 5, STORE_SILENT_NAMES_MAX);
    while ((r = sqlite3_step(s)) == SQLITE_ROW && out->nsilent_names < STORE_SILENT_NAMES_MAX)
        out->silent_names[out->nsilent_names++] = store_col_dup(s, 0);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = store_fail(st, err, "list silent agents");
    store_stmt_done(s);
    return rc;
}

enum ho_code store_state_summary(struct store *st, const struct state_query *q,
                                 struct state_summary *out, struct ho_error *err)
{
    char *lpath = NULL, *pattern = NULL;
    int64_t agent = 0;
    unsigned bits = 0;
    sqlite3_stmt *s;
    enum ho_code rc;
    int r, o;

    memset(out, 0, sizeof(*out));
    rc = state_filters(q, &bits, &lpath, &pattern, err);
    if (rc != HO_OK)
        return rc;
    store_lock(st);
    if (q->agent != NULL)
        rc = store_agent_rowid(st, q->agent, &agent, err);
    if (rc == HO_OK)
        rc = compose(st, &st->summary_q[bits],
                     (bits & (SQ_AGENT | SQ_LABEL | SQ_SEARCH)) ? summary_head : summary_state_head,
                     state_frag, NELEM(state_frag), bits, summary_tail, err);
    if (rc == HO_OK) {
        s = st->summary_q[bits];
        state_bind(s, q, agent, lpath, pattern);
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            o = sqlite3_column_int(s, 0);
            if (o >= 0 && o <= RUN_OUTCOME_ERROR)
                out->outcomes[o] = sqlite3_column_int64(s, 1);
            out->states += sqlite3_column_int64(s, 1);
            out->stale += sqlite3_column_int64(s, 2);
        }
        if (r != SQLITE_DONE)
            rc = store_fail(st, err, "summarise state");
        store_stmt_done(s);
    }
    if (rc == HO_OK)
        rc = summary_alerts(st, q, bits, agent, lpath, pattern, out, err);
    if (rc == HO_OK)
        rc = summary_agents(st, q, agent, lpath, out, err);
    store_unlock(st);
    free(lpath);
    free(pattern);
    if (rc == HO_ENOENT) { /* an unknown agent: nothing matches */
        store_state_summary_cleanup(out);
        rc = HO_OK;
    }
    if (rc != HO_OK)
        store_state_summary_cleanup(out);
    return rc;
}

void store_state_summary_cleanup(struct state_summary *s)
{
    size_t i;

    for (i = 0; i < s->nsilent_names; i++)
        free(s->silent_names[i]);
    memset(s, 0, sizeof(*s));
}

/* ---- agents ---- */

/* Fills a from a row of AGENT_COLS; returns the rowid. */
static int64_t agent_from_row(sqlite3_stmt *s, struct agent_row *a)
{
    col_copy(s, 1, a->id, sizeof(a->id));
    a->name = store_col_dup(s, 2);
    a->labels_json = store_col_dup(s, 3);
    a->version = store_col_dup(s, 4);
    a->packages_json = store_col_dup(s, 5);
    a->enrolled_at_ms = sqlite3_column_int64(s, 6);
    a->last_seen_ms = sqlite3_column_int64(s, 7);
    a->spool_depth = sqlite3_column_int64(s, 8);
    a->dropped = sqlite3_column_int64(s, 9);
    return sqlite3_column_int64(s, 0);
}

static enum ho_code HO_WUR agents_fetch(struct store *st, const char *after, size_t limit,
                                        struct agent_row *rows, size_t *n, int64_t *last, int *more,
                                        struct ho_error *err)
{
    sqlite3_stmt *s = st->s[ST_AGENTS_PAGE];
    enum ho_code rc = HO_OK;
    int r;

    store_bind_text(s, 1, after);
    sqlite3_bind_int64(s, 2, (int64_t)limit + 1);
    for (;;) {
        r = sqlite3_step(s);
        if (r != SQLITE_ROW)
            break;
        if (*n == limit) {
            *more = 1;
            break;
        }
        *last = agent_from_row(s, &rows[(*n)++]);
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = store_fail(st, err, "query agents");
    store_stmt_done(s);
    return rc;
}

enum ho_code store_agents_query(struct store *st, size_t limit, const char *cursor,
                                struct agent_row **out, size_t *n,
                                char next_cursor[STORE_CURSOR_LEN], struct ho_error *err)
{
    struct agent_row *rows = NULL;
    int64_t cur = 0, last = 0;
    char *after = NULL;
    sqlite3_stmt *s;
    int more = 0, r;
    enum ho_code rc = HO_OK;

    limit = clamp_limit(limit);
    *out = NULL;
    *n = 0;
    next_cursor[0] = '\0';
    if (cursor_given(cursor))
        rc = store_cursor_parse(cursor, 'a', &cur, 1, err);
    if (rc != HO_OK)
        return rc;
    store_lock(st);
    if (cursor_given(cursor)) {
        s = st->s[ST_AGENT_NAME_BY_ID];
        sqlite3_bind_int64(s, 1, cur);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            after = store_col_dup(s, 0);
        else if (r == SQLITE_DONE)
            rc = ho_error_set(err, HO_EINVAL, "cursor",
                              "cursor names an agent that no longer exists");
        else
            rc = store_fail(st, err, "agents cursor");
        store_stmt_done(s);
    }
    if (rc == HO_OK) {
        rows = xcalloc(limit, sizeof(*rows));
        rc = agents_fetch(st, after != NULL ? after : "", limit, rows, n, &last, &more, err);
    }
    store_unlock(st);
    free(after);
    if (rc != HO_OK || *n == 0) {
        store_agents_free(rows, *n);
        *n = 0;
        return rc;
    }
    if (more)
        store_cursor_make('a', &last, 1, next_cursor);
    *out = rows;
    return HO_OK;
}

static enum ho_code HO_WUR agent_get_by(struct store *st, enum stmt_id id, const char *key,
                                        struct agent_row *out)
{
    sqlite3_stmt *s = st->s[id];
    enum ho_code rc = HO_OK;
    int r;

    store_bind_text(s, 1, key);
    r = sqlite3_step(s);
    if (r == SQLITE_ROW)
        (void)agent_from_row(s, out);
    else if (r == SQLITE_DONE)
        rc = HO_ENOENT;
    else
        rc = store_fail(st, NULL, "get agent");
    store_stmt_done(s);
    return rc;
}

enum ho_code store_agent_get(struct store *st, const char *id_or_name, struct agent_row *out)
{
    enum ho_code rc;

    memset(out, 0, sizeof(*out));
    store_lock(st);
    rc = agent_get_by(st, ST_AGENT_GET_UID, id_or_name, out);
    if (rc == HO_ENOENT)
        rc = agent_get_by(st, ST_AGENT_GET_NAME, id_or_name, out);
    store_unlock(st);
    return rc;
}

void store_agent_row_cleanup(struct agent_row *a)
{
    if (a == NULL)
        return;
    free(a->name);
    free(a->labels_json);
    free(a->version);
    free(a->packages_json);
    memset(a, 0, sizeof(*a));
}

void store_agents_free(struct agent_row *rows, size_t n)
{
    size_t i;

    if (rows == NULL)
        return;
    for (i = 0; i < n; i++)
        store_agent_row_cleanup(&rows[i]);
    free(rows);
}
