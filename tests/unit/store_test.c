/*
 * Tests of the SQLite store (server/store.h) against real database files in a
 * temporary directory: migrations, tokens, enrolment, idempotent run batches,
 * keyset paging with every filter, the agent x check state, agents.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "embedded.h"
#include "mem.h"
#include "store.h"
#include "test_db.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z */

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    char web1[CRYPTO_UUID_LEN]; /* agent "web1" */
    char db1[CRYPTO_UUID_LEN];  /* agent "db1" */
};

static void fx_path(const struct fx *f, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s%s", f->path, suffix);
}

static void enroll(struct store *st, const char *name, const char *hash, char id[CRYPTO_UUID_LEN])
{
    char h[CRYPTO_SHA256_HEX_LEN];

    crypto_sha256_hex(hash, strlen(hash), h);
    assert_int_equal(store_agent_enroll(st, name, "{\"role\":\"web\"}", h, T0, id), HO_OK);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct ho_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/store_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    enroll(f->st, "web1", "token-web1", f->web1);
    enroll(f->st, "db1", "token-db1", f->db1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    store_close(f->st);
    test_db_remove(f->path, f->dir);
    free(f);
    return 0;
}

/* A run at started with a test, and with repair + retest when repair is set. */
static void mk_run(struct run *r, int64_t started, const char *package, const char *check,
                   enum run_outcome outcome, int repair, int manual)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(crypto_uuid_v7(started, r->id), HO_OK);
    r->package = xstrdup(package);
    r->version = xstrdup("1.4.0");
    r->check = xstrdup(check);
    r->started_at_ms = started;
    r->duration_ms = 40;
    r->manual = manual;
    r->operator_name = manual ? xstrdup("alice") : NULL;
    r->interval_s = 60;
    r->test.present = 1;
    r->test.status = outcome == RUN_OUTCOME_OK ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
    r->test.has_exit_code = outcome != RUN_OUTCOME_ERROR;
    r->test.exit_code = r->test.has_exit_code ? r->test.status : 0;
    r->test.output = xstrdup("test output");
    r->test.duration_ms = 5;
    if (outcome == RUN_OUTCOME_ERROR)
        r->test.status = TEST_STATUS_UNKNOWN;
    if (repair) {
        r->repair.present = 1;
        r->repair.status =
            outcome == RUN_OUTCOME_REPAIRED ? REPAIR_STATUS_SUCCEEDED : REPAIR_STATUS_FAILED;
        r->repair.has_exit_code = 1;
        r->repair.exit_code = outcome == RUN_OUTCOME_REPAIRED ? 0 : 1;
        r->repair.output = xstrdup("restarted");
        r->repair.duration_ms = 30;
        r->retest.present = 1;
        r->retest.status = outcome == RUN_OUTCOME_REPAIRED ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
        r->retest.has_exit_code = 1;
        r->retest.exit_code = r->retest.status;
        r->retest.duration_ms = 4;
    }
    r->outcome = outcome;
}

static void insert(struct store *st, const char *agent, struct run *runs, size_t n,
                   enum store_insert *res)
{
    const struct run **p = xcalloc(n, sizeof(*p));
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = &runs[i];
    assert_int_equal(store_runs_insert(st, agent, p, n, T0 + 999999, res), HO_OK);
    free(p);
}

static void insert_one(struct store *st, const char *agent, int64_t started, const char *check,
                       enum run_outcome outcome, int repair, int manual)
{
    struct run r;
    enum store_insert res;

    mk_run(&r, started, "nginx", check, outcome, repair, manual);
    insert(st, agent, &r, 1, &res);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    run_cleanup(&r);
}

static void runs_cleanup(struct run *runs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        run_cleanup(&runs[i]);
}

static struct run_query query_all(void)
{
    struct run_query q;

    memset(&q, 0, sizeof(q));
    q.outcome = -1;
    q.manual = -1;
    q.limit = STORE_MAX_LIMIT;
    return q;
}

/* Number of runs q matches on one page (checks the page is newest first too). */
static size_t count(struct store *st, struct run_query q)
{
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    struct run *rows = NULL;
    size_t n = 0, i;

    assert_int_equal(store_runs_query(st, &q, &rows, &n, next, &err), HO_OK);
    assert_string_equal(next, "");
    for (i = 1; i < n; i++)
        assert_true(rows[i - 1].started_at_ms >= rows[i].started_at_ms);
    store_runs_free(rows, n);
    return n;
}

/* Reads user_version from the file header (offset 60, big-endian) or writes it. */
static void header_user_version(const char *path, int set)
{
    unsigned char b[4] = {(unsigned char)(set >> 24), (unsigned char)(set >> 16),
                          (unsigned char)(set >> 8), (unsigned char)set};
    int fd = open(path, O_WRONLY);

    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, sizeof(b), 60), 4);
    assert_int_equal(close(fd), 0);
}

/* The page size in the file header (offset 16, big-endian; 1 stands for 65536). */
static int header_page_size(const char *path)
{
    unsigned char b[2];
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, sizeof(b), 16), 2);
    assert_int_equal(close(fd), 0);
    return b[0] == 0 && b[1] == 1 ? 65536 : b[0] << 8 | b[1];
}

static int latest_version(void)
{
    return schema_migrations[schema_migrations_n - 1].version;
}

/* ---- open and migrations ---- */

static void test_store_open_applies_migrations(void **state)
{
    struct fx *f = *state;

    assert_true(schema_migrations_n >= 1);
    assert_int_equal(schema_migrations[0].version, 1);
    assert_int_equal(store_schema_version(f->st), latest_version());
}

/* A database the store creates gets 8 KiB pages (STORE_PAGE_SIZE_PRAGMA), not 4. */
static void test_store_new_database_page_size(void **state)
{
    struct fx *f = *state;

    assert_int_equal(header_page_size(f->path), 8192);
}

/* One made with other pages (by an older server) keeps them, and works. */
static void test_store_existing_page_size_kept(void **state)
{
    struct fx *f = *state;
    struct store *st = NULL;
    struct ho_error err;
    sqlite3 *db = NULL;
    char path[200], id[CRYPTO_UUID_LEN];

    snprintf(path, sizeof(path), "%s/old.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; "
                                      "CREATE TABLE older (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(header_page_size(path), 4096);
    assert_int_equal(store_open(path, &st, &err), HO_OK);
    assert_int_equal(store_schema_version(st), latest_version());
    enroll(st, "old1", "token-old1", id);
    insert_one(st, id, T0, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(count(st, query_all()), 1);
    store_close(st);
    assert_int_equal(header_page_size(path), 4096);
    test_db_unlink(path);
}

static void test_store_reopen_is_idempotent(void **state)
{
    struct fx *f = *state;
    struct ho_error err;
    struct agent_row a;

    insert_one(f->st, f->web1, T0, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    assert_int_equal(store_schema_version(f->st), latest_version());
    assert_int_equal(store_agent_get(f->st, "web1", &a), HO_OK);
    assert_string_equal(a.id, f->web1);
    store_agent_row_cleanup(&a);
    assert_int_equal(count(f->st, query_all()), 1);
}

static void test_store_refuses_newer_schema(void **state)
{
    struct fx *f = *state;
    struct store *st = NULL;
    struct ho_error err;

    store_close(f->st);
    f->st = NULL;
    header_user_version(f->path, latest_version() + 1);
    assert_int_equal(store_open(f->path, &st, &err), HO_EDB);
    assert_null(st);
    assert_non_null(strstr(err.msg, "newer"));
    /* Refused before anything was written: still refused, same message. */
    assert_int_equal(store_open(f->path, &st, &err), HO_EDB);
    assert_non_null(strstr(err.msg, "newer"));
    /* Teardown needs a store: put the version back. */
    header_user_version(f->path, latest_version());
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
}

static void test_store_open_bad_path(void **state)
{
    struct store *st = NULL;
    struct ho_error err;

    (void)state;
    assert_int_equal(store_open("/nonexistent-dir/x/healops.db", &st, &err), HO_EDB);
    assert_null(st);
    assert_non_null(strstr(err.msg, "cannot open"));
}

static void test_store_memory_database(void **state)
{
    struct store *st = NULL;
    struct ho_error err;
    char id[CRYPTO_UUID_LEN];

    (void)state;
    assert_int_equal(store_open(":memory:", &st, &err), HO_OK);
    assert_int_equal(store_schema_version(st), latest_version());
    enroll(st, "mem1", "token-mem1", id);
    insert_one(st, id, T0, "c", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(count(st, query_all()), 1);
    store_close(st);
}

/* ---- tokens and enrolment ---- */

static void test_store_token_create_lookup(void **state)
{
    struct fx *f = *state;
    char h[CRYPTO_SHA256_HEX_LEN];
    struct store_token t;
    int64_t id = 0;

    crypto_sha256_hex("admin-secret", 12, h);
    assert_int_equal(store_token_create(f->st, TOKEN_SCOPE_ADMIN, "ops", h, 0, T0, &id), HO_OK);
    assert_true(id > 0);
    assert_int_equal(store_token_lookup(f->st, h, T0 + 1, &t), HO_OK);
    assert_int_equal(t.id, id);
    assert_int_equal(t.scope, TOKEN_SCOPE_ADMIN);
    assert_string_equal(t.name, "ops");
    assert_string_equal(t.agent_id, "");
    /* The same hash twice is a conflict. */
    assert_int_equal(store_token_create(f->st, TOKEN_SCOPE_READ, "x", h, 0, T0, NULL), HO_EEXIST);
    crypto_sha256_hex("unknown", 7, h);
    assert_int_equal(store_token_lookup(f->st, h, T0, &t), HO_EAUTH);
}

/*
 * Statistics taken while the tokens table held a row (PRAGMA optimize when a new
 * database is closed after "token create") must not turn the per-request token
 * lookup into a table scan once the fleet has enrolled (store_open drops them):
 * every lookup by a key, agent tokens (with their agent's id) and others, steps
 * through no full scan.
 */
static void test_store_token_lookup_stale_statistics(void **state)
{
    struct fx *f = *state;
    char h[CRYPTO_SHA256_HEX_LEN], name[32], id[CRYPTO_UUID_LEN];
    struct store_token t;
    struct ho_error err;
    sqlite3 *db = NULL;
    int i;

    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "fleet%03d", i);
        enroll(f->st, name, name, id);
    }
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ANALYZE; UPDATE sqlite_stat1 SET stat = '1 1' "
                                  "WHERE tbl = 'tokens'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    for (i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "fleet%03d", i);
        crypto_sha256_hex(name, strlen(name), h);
        assert_int_equal(store_token_lookup(f->st, h, T0, &t), HO_OK);
        assert_int_equal(t.scope, TOKEN_SCOPE_AGENT);
        assert_string_not_equal(t.agent_id, "");
    }
    crypto_sha256_hex("token-web1", 10, h);
    assert_int_equal(store_token_lookup(f->st, h, T0, &t), HO_OK);
    assert_string_equal(t.agent_id, f->web1);
    assert_int_equal(store_fullscan_steps(f->st), 0);
}

/* Rows of sqlite_stat1 whose table held fewer than n rows when analyzed. */
static int stat_rows_below(const char *path, int n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int count = -1;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_stat1 WHERE CAST(stat AS INTEGER) < ?1",
                           -1, &s, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return 0; /* no statistics at all */
    }
    sqlite3_bind_int(s, 1, n);
    if (sqlite3_step(s) == SQLITE_ROW)
        count = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return count;
}

/*
 * Statistics of near-empty tables are not kept: after a close (PRAGMA optimize)
 * there are none, and those already in a database are dropped when the store
 * opens it; statistics of a table that was large when analyzed stay.
 */
static void test_store_small_table_statistics_dropped(void **state)
{
    struct fx *f = *state;
    struct ho_error err;
    char h[CRYPTO_SHA256_HEX_LEN];
    struct store_token t;
    sqlite3 *db = NULL;

    crypto_sha256_hex("token-web1", 10, h);
    assert_int_equal(store_token_lookup(f->st, h, T0, &t), HO_OK);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(stat_rows_below(f->path, 1000), 0);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ANALYZE; DELETE FROM sqlite_stat1; INSERT INTO sqlite_stat1 "
                                  "VALUES ('state', 'sqlite_autoindex_state_1', '1 1 1'), "
                                  "('agents', 'sqlite_autoindex_agents_1', '2 1'), "
                                  "('runs', 'runs_started', '50000 1')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(stat_rows_below(f->path, 1000), 2);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    assert_int_equal(stat_rows_below(f->path, 1000), 0);
    assert_int_equal(stat_rows_below(f->path, 100000), 1); /* runs_started stays */
}

static void test_store_token_expires(void **state)
{
    struct fx *f = *state;
    char h[CRYPTO_SHA256_HEX_LEN];
    struct store_token t;

    crypto_sha256_hex("read-secret", 11, h);
    assert_int_equal(store_token_create(f->st, TOKEN_SCOPE_READ, "r", h, T0 + 1000, T0, NULL),
                     HO_OK);
    assert_int_equal(store_token_lookup(f->st, h, T0 + 999, &t), HO_OK);
    assert_int_equal(t.scope, TOKEN_SCOPE_READ);
    assert_int_equal(store_token_lookup(f->st, h, T0 + 1000, &t), HO_EAUTH);
    assert_int_equal(store_token_lookup(f->st, h, T0 + 5000, &t), HO_EAUTH);
}

static void test_store_enroll_same_name_keeps_id(void **state)
{
    struct fx *f = *state;
    char old_h[CRYPTO_SHA256_HEX_LEN], new_h[CRYPTO_SHA256_HEX_LEN];
    char id[CRYPTO_UUID_LEN];
    struct store_token t;
    struct agent_row a;

    crypto_sha256_hex("token-web1", 10, old_h);
    assert_int_equal(store_token_lookup(f->st, old_h, T0, &t), HO_OK);
    assert_int_equal(t.scope, TOKEN_SCOPE_AGENT);
    assert_string_equal(t.agent_id, f->web1);

    crypto_sha256_hex("token-web1-again", 16, new_h);
    assert_int_equal(store_agent_enroll(f->st, "web1", "{\"role\":\"edge\"}", new_h, T0 + 50, id),
                     HO_OK);
    assert_string_equal(id, f->web1);
    /* The older token is revoked, the new one works. */
    assert_int_equal(store_token_lookup(f->st, old_h, T0 + 60, &t), HO_EAUTH);
    assert_int_equal(store_token_lookup(f->st, new_h, T0 + 60, &t), HO_OK);
    assert_string_equal(t.agent_id, f->web1);
    assert_string_equal(t.name, "web1");
    /* Labels updated, enrolment time kept; the other agent untouched. */
    assert_int_equal(store_agent_get(f->st, f->web1, &a), HO_OK);
    assert_string_equal(a.labels_json, "{\"role\":\"edge\"}");
    assert_int_equal(a.enrolled_at_ms, T0);
    store_agent_row_cleanup(&a);
    crypto_sha256_hex("token-db1", 9, old_h);
    assert_int_equal(store_token_lookup(f->st, old_h, T0 + 60, &t), HO_OK);
    assert_string_equal(t.agent_id, f->db1);
}

static void test_store_scope_names(void **state)
{
    enum token_scope s;

    (void)state;
    assert_string_equal(token_scope_str(TOKEN_SCOPE_AGENT), "agent");
    assert_int_equal(token_scope_parse("admin", &s), HO_OK);
    assert_int_equal(s, TOKEN_SCOPE_ADMIN);
    assert_int_equal(token_scope_parse("enroll", &s), HO_OK);
    assert_int_equal(s, TOKEN_SCOPE_ENROLL);
    assert_int_equal(token_scope_parse("Admin", &s), HO_EINVAL);
    assert_int_equal(token_scope_parse("", &s), HO_EINVAL);
}

/* ---- runs: insert ---- */

static void test_store_runs_insert_idempotent(void **state)
{
    struct fx *f = *state;
    struct run runs[4];
    enum store_insert res[4];
    struct agent_row a;
    int i;

    for (i = 0; i < 3; i++)
        mk_run(&runs[i], T0 + i * 1000, "nginx", "nginx.running", RUN_OUTCOME_OK, 0, 0);
    insert(f->st, f->web1, runs, 3, res);
    for (i = 0; i < 3; i++)
        assert_int_equal(res[i], STORE_INSERT_ACCEPTED);
    insert(f->st, f->web1, runs, 3, res);
    for (i = 0; i < 3; i++)
        assert_int_equal(res[i], STORE_INSERT_DUPLICATE);
    /* A batch mixing a new run, an old one and the new one again. */
    mk_run(&runs[3], T0 + 5000, "nginx", "nginx.running", RUN_OUTCOME_OK, 0, 0);
    {
        const struct run *p[3] = {&runs[3], &runs[0], &runs[3]};

        assert_int_equal(store_runs_insert(f->st, f->web1, p, 3, T0 + 7777, res), HO_OK);
    }
    assert_int_equal(res[0], STORE_INSERT_ACCEPTED);
    assert_int_equal(res[1], STORE_INSERT_DUPLICATE);
    assert_int_equal(res[2], STORE_INSERT_DUPLICATE);
    assert_int_equal(count(f->st, query_all()), 4);
    assert_int_equal(store_agent_get(f->st, "web1", &a), HO_OK);
    assert_int_equal(a.last_seen_ms, T0 + 7777);
    store_agent_row_cleanup(&a);
    runs_cleanup(runs, 4);
}

static void test_store_runs_insert_unknown_agent(void **state)
{
    struct fx *f = *state;
    struct run r;
    const struct run *p = &r;
    enum store_insert res;

    mk_run(&r, T0, "nginx", "nginx.running", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(
        store_runs_insert(f->st, "019a8f3e-0000-7000-8000-000000000000", &p, 1, T0, &res),
        HO_ENOENT);
    assert_int_equal(count(f->st, query_all()), 0);
    run_cleanup(&r);
}

static void test_store_runs_insert_failure_stores_nothing(void **state)
{
    struct fx *f = *state;
    struct run runs[2];
    const struct run *p[2] = {&runs[0], &runs[1]};
    enum store_insert res[2];
    struct state_query sq;
    struct state_row *rows = NULL;
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    size_t n = 0;

    mk_run(&runs[0], T0, "nginx", "nginx.running", RUN_OUTCOME_OK, 0, 0);
    mk_run(&runs[1], T0 + 1, "nginx", "nginx.running", RUN_OUTCOME_OK, 0, 0);
    free(runs[1].package); /* invalid: the database refuses it after runs[0] went in */
    runs[1].package = NULL;
    assert_int_equal(store_runs_insert(f->st, f->web1, p, 2, T0 + 5, res), HO_EDB);
    assert_int_equal(count(f->st, query_all()), 0);
    memset(&sq, 0, sizeof(sq));
    sq.outcome = -1;
    sq.limit = 10;
    assert_int_equal(store_state_query(f->st, &sq, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 0);
    /* The store is usable afterwards and the first run can be sent again. */
    insert(f->st, f->web1, runs, 1, res);
    assert_int_equal(res[0], STORE_INSERT_ACCEPTED);
    runs_cleanup(runs, 2);
}

static void test_store_run_roundtrip_without_repair(void **state)
{
    struct fx *f = *state;
    struct run r, *rows = NULL;
    struct run_query q = query_all();
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    size_t n = 0;

    mk_run(&r, T0 + 42, "nginx", "nginx.running", RUN_OUTCOME_ERROR, 0, 0);
    insert(f->st, f->web1, &r, 1, (enum store_insert[1]){0});
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, r.id);
    assert_string_equal(rows[0].agent_id, f->web1);
    assert_string_equal(rows[0].agent_name, "web1");
    assert_string_equal(rows[0].package, "nginx");
    assert_string_equal(rows[0].version, "1.4.0");
    assert_string_equal(rows[0].check, "nginx.running");
    assert_int_equal(rows[0].started_at_ms, T0 + 42);
    assert_int_equal(rows[0].duration_ms, 40);
    assert_int_equal(rows[0].manual, 0);
    assert_null(rows[0].operator_name);
    assert_int_equal(rows[0].interval_s, 60);
    assert_int_equal(rows[0].test.present, 1);
    assert_int_equal(rows[0].test.status, TEST_STATUS_UNKNOWN);
    assert_int_equal(rows[0].test.has_exit_code, 0);
    assert_string_equal(rows[0].test.output, "test output");
    assert_int_equal(rows[0].test.duration_ms, 5);
    assert_int_equal(rows[0].repair.present, 0);
    assert_int_equal(rows[0].retest.present, 0);
    assert_null(rows[0].repair.output);
    assert_int_equal(rows[0].outcome, RUN_OUTCOME_ERROR);
    assert_int_equal(rows[0].nmetrics, 0);
    assert_int_equal(rows[0].received_at_ms, T0 + 999999);
    store_runs_free(rows, n);
    run_cleanup(&r);
}

static void test_store_run_roundtrip_repair_and_metrics(void **state)
{
    struct fx *f = *state;
    struct run r, *rows = NULL;
    struct run_query q = query_all();
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    size_t n = 0;

    mk_run(&r, T0, "nginx", "nginx.workers", RUN_OUTCOME_REPAIRED, 1, 1);
    r.nmetrics = 2;
    r.metrics = xcalloc(2, sizeof(*r.metrics));
    r.metrics[0].name = xstrdup("nginx.workers");
    r.metrics[0].value = 4;
    r.metrics[1].name = xstrdup("nginx.latency");
    r.metrics[1].value = 0.25;
    r.metrics[1].ts_ms = T0 + 7;
    r.metrics[1].ntags = 1;
    r.metrics[1].tags = xcalloc(1, sizeof(struct tag));
    r.metrics[1].tags[0].key = xstrdup("port");
    r.metrics[1].tags[0].value = xstrdup("443");
    insert(f->st, f->web1, &r, 1, (enum store_insert[1]){0});
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].manual, 1);
    assert_string_equal(rows[0].operator_name, "alice");
    assert_int_equal(rows[0].test.status, TEST_STATUS_CRITICAL);
    assert_int_equal(rows[0].test.has_exit_code, 1);
    assert_int_equal(rows[0].test.exit_code, 2);
    assert_int_equal(rows[0].repair.present, 1);
    assert_int_equal(rows[0].repair.status, REPAIR_STATUS_SUCCEEDED);
    assert_int_equal(rows[0].repair.has_exit_code, 1);
    assert_int_equal(rows[0].repair.exit_code, 0);
    assert_string_equal(rows[0].repair.output, "restarted");
    assert_int_equal(rows[0].repair.duration_ms, 30);
    assert_int_equal(rows[0].retest.present, 1);
    assert_int_equal(rows[0].retest.status, TEST_STATUS_OK);
    assert_null(rows[0].retest.output);
    assert_int_equal(rows[0].outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(rows[0].nmetrics, 2);
    assert_string_equal(rows[0].metrics[0].name, "nginx.workers");
    assert_true(rows[0].metrics[0].value == 4);
    assert_int_equal(rows[0].metrics[0].ntags, 0);
    assert_string_equal(rows[0].metrics[1].name, "nginx.latency");
    assert_true(rows[0].metrics[1].value == 0.25);
    assert_int_equal(rows[0].metrics[1].ts_ms, T0 + 7);
    assert_int_equal(rows[0].metrics[1].ntags, 1);
    assert_string_equal(rows[0].metrics[1].tags[0].key, "port");
    assert_string_equal(rows[0].metrics[1].tags[0].value, "443");
    store_runs_free(rows, n);
    run_cleanup(&r);
}

/* ---- runs: query ---- */

/*
 * web1: nginx.running ok x3 (T0, +1s, +2s), nginx.running repaired (+3s),
 *       nginx.workers failed with failed repair (+4s), manual ok (+5s)
 * db1:  pg.up (package postgres) error (+1.5s), ok (+6s)
 */
static void fill_history(struct fx *f)
{
    struct run r;
    enum store_insert res;

    insert_one(f->st, f->web1, T0, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->web1, T0 + 1000, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->web1, T0 + 2000, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->web1, T0 + 3000, "nginx.running", RUN_OUTCOME_REPAIRED, 1, 0);
    insert_one(f->st, f->web1, T0 + 4000, "nginx.workers", RUN_OUTCOME_FAILED, 1, 0);
    insert_one(f->st, f->web1, T0 + 5000, "nginx.running", RUN_OUTCOME_OK, 0, 1);
    mk_run(&r, T0 + 1500, "postgres", "pg.up", RUN_OUTCOME_ERROR, 0, 0);
    insert(f->st, f->db1, &r, 1, &res);
    run_cleanup(&r);
    mk_run(&r, T0 + 6000, "postgres", "pg.up", RUN_OUTCOME_OK, 0, 0);
    insert(f->st, f->db1, &r, 1, &res);
    run_cleanup(&r);
}

static void test_store_runs_query_filters(void **state)
{
    struct fx *f = *state;
    struct run_query q;

    fill_history(f);
    assert_int_equal(count(f->st, query_all()), 8);
    q = query_all();
    q.agent = f->web1;
    assert_int_equal(count(f->st, q), 6);
    q.agent = "db1";
    assert_int_equal(count(f->st, q), 2);
    q.agent = "nobody";
    assert_int_equal(count(f->st, q), 0);
    q = query_all();
    q.package = "postgres";
    assert_int_equal(count(f->st, q), 2);
    q = query_all();
    q.check = "nginx.running";
    assert_int_equal(count(f->st, q), 5);
    q.agent = "web1";
    assert_int_equal(count(f->st, q), 5);
    q.agent = "db1";
    assert_int_equal(count(f->st, q), 0);
    q = query_all();
    q.outcome = RUN_OUTCOME_OK;
    assert_int_equal(count(f->st, q), 5);
    q.outcome = RUN_OUTCOME_REPAIRED;
    assert_int_equal(count(f->st, q), 1);
    q.outcome = RUN_OUTCOME_FAILED;
    assert_int_equal(count(f->st, q), 1);
    q.outcome = RUN_OUTCOME_ERROR;
    assert_int_equal(count(f->st, q), 1);
    q = query_all();
    q.manual = 1;
    assert_int_equal(count(f->st, q), 1);
    q.manual = 0;
    assert_int_equal(count(f->st, q), 7);
    q = query_all();
    q.repairs_only = 1;
    assert_int_equal(count(f->st, q), 2);
    q.outcome = RUN_OUTCOME_FAILED;
    assert_int_equal(count(f->st, q), 1);
    q = query_all();
    q.since_ms = T0 + 2000;
    assert_int_equal(count(f->st, q), 5);
    q.until_ms = T0 + 5000;
    assert_int_equal(count(f->st, q), 3);
    q.since_ms = 0;
    assert_int_equal(count(f->st, q), 6);
    q.agent = "db1";
    assert_int_equal(count(f->st, q), 1);
}

static void test_store_runs_query_newest_first(void **state)
{
    struct fx *f = *state;
    struct run_query q = query_all();
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    struct run *rows = NULL;
    size_t n = 0;

    fill_history(f);
    q.agent = "web1";
    q.limit = 2;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].started_at_ms, T0 + 5000);
    assert_int_equal(rows[1].started_at_ms, T0 + 4000);
    assert_string_not_equal(next, "");
    store_runs_free(rows, n);
}

static void test_store_runs_query_rejects_bad_filters(void **state)
{
    struct fx *f = *state;
    struct run_query q = query_all();
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    struct run *rows = NULL;
    size_t n = 0;

    q.outcome = 9;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "outcome");
    q = query_all();
    q.manual = 2;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "manual");
    assert_null(rows);
    assert_int_equal(n, 0);
}

/* 250 runs, in pairs sharing a started_at, arriving out of order; pages of 100. */
static void test_store_runs_paging_visits_every_run_once(void **state)
{
    struct fx *f = *state;
    struct run *runs = xcalloc(250, sizeof(*runs));
    enum store_insert *res = xcalloc(250, sizeof(*res));
    char next[STORE_CURSOR_LEN], cursor[STORE_CURSOR_LEN] = "";
    int seen[250] = {0};
    struct run_query q = query_all();
    struct ho_error err;
    struct run *rows;
    int64_t prev = INT64_MAX;
    size_t n, i, j, pages = 0, total = 0;

    for (i = 0; i < 250; i++)
        mk_run(&runs[i], T0 + (int64_t)((i * 37) % 250 / 2) * 1000, "nginx", "nginx.running",
               RUN_OUTCOME_OK, 0, 0);
    insert(f->st, f->web1, runs, 250, res);
    q.limit = 100;
    do {
        q.cursor = cursor[0] != '\0' ? cursor : NULL;
        rows = NULL;
        assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
        pages++;
        for (i = 0; i < n; i++) {
            assert_true(rows[i].started_at_ms <= prev);
            prev = rows[i].started_at_ms;
            for (j = 0; j < 250 && strcmp(runs[j].id, rows[i].id) != 0; j++)
                ;
            assert_true(j < 250);
            assert_int_equal(seen[j], 0);
            seen[j] = 1;
        }
        total += n;
        assert_int_equal(n, pages < 3 ? 100 : 50);
        store_runs_free(rows, n);
        memcpy(cursor, next, sizeof(cursor));
    } while (cursor[0] != '\0');
    assert_int_equal(pages, 3);
    assert_int_equal(total, 250);
    runs_cleanup(runs, 250);
    free(runs);
    free(res);
}

static void test_store_runs_invalid_cursor(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "garbage!",   /* not base64url */
        "cjE6MTIz",   /* "r1:123": one number */
        "czE6MQ",     /* "s1:1": a state cursor */
        "cjE6LTE6Mg", /* "r1:-1:2" */
        "cjE6MDE6Mg", /* "r1:01:2" */
        "cjE6MToy=",  /* padding */
        "cjE6MToyOg", /* "r1:1:2:" */
        "cjE6MTo",    /* "r1:1:" */
        "x",          /* impossible length */
        "cjE6MToyAA", /* NUL inside */
    };
    struct run_query q = query_all();
    char next[STORE_CURSOR_LEN], good[STORE_CURSOR_LEN];
    struct ho_error err;
    struct run *rows = NULL;
    size_t n = 0, i;

    fill_history(f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        q.cursor = bad[i];
        assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
        assert_string_equal(err.field, "cursor");
        assert_null(rows);
    }
    /* A real cursor works; changing one character of it does not. */
    q.cursor = NULL;
    q.limit = 3;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    store_runs_free(rows, n);
    memcpy(good, next, sizeof(good));
    q.cursor = good;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 3);
    store_runs_free(rows, n);
    good[0] = good[0] == 'A' ? 'B' : 'A';
    rows = NULL;
    assert_int_equal(store_runs_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "cursor");
}

/* ---- state ---- */

static struct state_query state_all(void)
{
    struct state_query q;

    memset(&q, 0, sizeof(q));
    q.outcome = -1;
    q.limit = STORE_MAX_LIMIT;
    return q;
}

/* The state row of agent x check; caller frees with store_state_free(row, 1). */
static struct state_row *state_of(struct store *st, const char *agent, const char *check)
{
    struct state_query q = state_all();
    char next[STORE_CURSOR_LEN];
    struct ho_error err;
    struct state_row *rows = NULL;
    size_t n = 0;

    q.agent = agent;
    q.check = check;
    assert_int_equal(store_state_query(st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 1);
    return rows;
}

static void test_store_state_newest_run_wins(void **state)
{
    struct fx *f = *state;
    struct state_row *s;

    insert_one(f->st, f->web1, T0 + 1000, "c", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->web1, T0 + 3000, "c", RUN_OUTCOME_FAILED, 1, 0);
    s = state_of(f->st, "web1", "c");
    assert_int_equal(s->outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(s->last_run_at_ms, T0 + 3000);
    assert_int_equal(s->last_ok_at_ms, T0 + 1000);
    assert_int_equal(s->consecutive_failures, 1);
    assert_int_equal(s->repair_status, REPAIR_STATUS_FAILED);
    assert_int_equal(s->retest_status, TEST_STATUS_CRITICAL);
    assert_string_equal(s->agent_id, f->web1);
    assert_string_equal(s->agent_name, "web1");
    assert_string_equal(s->package, "nginx");
    assert_int_equal(s->interval_s, 60);
    store_state_free(s, 1);

    /* An older run arriving late (from a spool) does not replace the state... */
    insert_one(f->st, f->web1, T0 + 2000, "c", RUN_OUTCOME_OK, 0, 1);
    s = state_of(f->st, "web1", "c");
    assert_int_equal(s->outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(s->last_run_at_ms, T0 + 3000);
    assert_int_equal(s->consecutive_failures, 1);
    assert_int_equal(s->manual, 0);
    /* ...but it was ok later than the last ok known. */
    assert_int_equal(s->last_ok_at_ms, T0 + 2000);
    store_state_free(s, 1);

    /* An older late ok run does not move last_ok_at back. */
    insert_one(f->st, f->web1, T0 + 500, "c", RUN_OUTCOME_OK, 0, 0);
    s = state_of(f->st, "web1", "c");
    assert_int_equal(s->last_ok_at_ms, T0 + 2000);
    store_state_free(s, 1);
}

static void test_store_state_consecutive_failures(void **state)
{
    struct fx *f = *state;
    struct state_row *s;
    struct run r;
    enum store_insert res;

    mk_run(&r, T0, "nginx", "c", RUN_OUTCOME_FAILED, 0, 0);
    insert(f->st, f->db1, &r, 1, &res);
    run_cleanup(&r);
    s = state_of(f->st, f->db1, "c");
    assert_int_equal(s->consecutive_failures, 1);
    assert_int_equal(s->last_ok_at_ms, 0);
    assert_int_equal(s->repair_status, -1);
    assert_int_equal(s->retest_status, -1);
    assert_int_equal(s->test_status, TEST_STATUS_CRITICAL);
    store_state_free(s, 1);
    insert_one(f->st, f->db1, T0 + 1000, "c", RUN_OUTCOME_ERROR, 0, 0);
    insert_one(f->st, f->db1, T0 + 2000, "c", RUN_OUTCOME_FAILED, 1, 0);
    s = state_of(f->st, "db1", "c");
    assert_int_equal(s->consecutive_failures, 3);
    assert_int_equal(s->outcome, RUN_OUTCOME_FAILED);
    assert_int_equal(s->last_ok_at_ms, 0);
    store_state_free(s, 1);
    /* A late failed run is history only: the count stays. */
    insert_one(f->st, f->db1, T0 + 1500, "c", RUN_OUTCOME_FAILED, 0, 0);
    s = state_of(f->st, "db1", "c");
    assert_int_equal(s->consecutive_failures, 3);
    store_state_free(s, 1);
    insert_one(f->st, f->db1, T0 + 3000, "c", RUN_OUTCOME_REPAIRED, 1, 0);
    s = state_of(f->st, "db1", "c");
    assert_int_equal(s->consecutive_failures, 0);
    assert_int_equal(s->outcome, RUN_OUTCOME_REPAIRED);
    assert_int_equal(s->last_ok_at_ms, T0 + 3000);
    assert_string_not_equal(s->last_run_id, "");
    store_state_free(s, 1);
    insert_one(f->st, f->db1, T0 + 4000, "c", RUN_OUTCOME_FAILED, 0, 0);
    s = state_of(f->st, "db1", "c");
    assert_int_equal(s->consecutive_failures, 1);
    assert_int_equal(s->last_ok_at_ms, T0 + 3000);
    store_state_free(s, 1);
}

static void test_store_state_query_order_filters_paging(void **state)
{
    struct fx *f = *state;
    static const char *const want[][2] = {
        {"db1", "a.check"},  {"db1", "b.check"},  {"web1", "a.check"},
        {"web1", "b.check"}, {"web1", "c.check"},
    };
    struct state_query q = state_all();
    char next[STORE_CURSOR_LEN], cursor[STORE_CURSOR_LEN] = "";
    struct ho_error err;
    struct state_row *rows;
    size_t n, i, k = 0;

    insert_one(f->st, f->web1, T0, "c.check", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->web1, T0, "a.check", RUN_OUTCOME_FAILED, 0, 0);
    insert_one(f->st, f->web1, T0, "b.check", RUN_OUTCOME_OK, 0, 0);
    insert_one(f->st, f->db1, T0, "b.check", RUN_OUTCOME_ERROR, 0, 0);
    insert_one(f->st, f->db1, T0, "a.check", RUN_OUTCOME_OK, 0, 0);
    q.limit = 2;
    do {
        q.cursor = cursor[0] != '\0' ? cursor : NULL;
        rows = NULL;
        assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
        for (i = 0; i < n; i++, k++) {
            assert_true(k < 5);
            assert_string_equal(rows[i].agent_name, want[k][0]);
            assert_string_equal(rows[i].check, want[k][1]);
        }
        store_state_free(rows, n);
        memcpy(cursor, next, sizeof(cursor));
    } while (cursor[0] != '\0');
    assert_int_equal(k, 5);

    q = state_all();
    q.outcome = RUN_OUTCOME_OK;
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 3);
    store_state_free(rows, n);
    q.agent = "web1";
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 2);
    store_state_free(rows, n);
    q = state_all();
    q.package = "nginx";
    q.check = "a.check";
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 2);
    store_state_free(rows, n);
    q.package = "postgres";
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 0);
    q = state_all();
    q.agent = "nobody";
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_OK);
    assert_int_equal(n, 0);
    q = state_all();
    q.cursor = "cjE6MToy"; /* a runs cursor */
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "cursor");
    q.cursor = "czE6OTk5"; /* "s1:999": no such row */
    assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "cursor");
}

/* ---- agents ---- */

static void test_store_agents_query_and_get(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {"app1", "app2", "db1", "lb1", "web1"};
    char next[STORE_CURSOR_LEN], cursor[STORE_CURSOR_LEN] = "", id[CRYPTO_UUID_LEN];
    struct agent_row *rows, a;
    struct ho_error err;
    size_t n, i, k = 0;

    enroll(f->st, "lb1", "t-lb1", id);
    enroll(f->st, "app2", "t-app2", id);
    enroll(f->st, "app1", "t-app1", id);
    do {
        rows = NULL;
        assert_int_equal(
            store_agents_query(f->st, 2, cursor[0] != '\0' ? cursor : NULL, &rows, &n, next, &err),
            HO_OK);
        for (i = 0; i < n; i++, k++) {
            assert_true(k < 5);
            assert_string_equal(rows[i].name, names[k]);
            assert_string_equal(rows[i].labels_json, "{\"role\":\"web\"}");
            assert_int_equal(rows[i].last_seen_ms, 0);
            assert_null(rows[i].version);
        }
        store_agents_free(rows, n);
        memcpy(cursor, next, sizeof(cursor));
    } while (cursor[0] != '\0');
    assert_int_equal(k, 5);
    assert_int_equal(store_agents_query(f->st, 2, "bogus", &rows, &n, next, &err), HO_EINVAL);
    assert_string_equal(err.field, "cursor");

    assert_int_equal(store_agent_get(f->st, "db1", &a), HO_OK);
    assert_string_equal(a.id, f->db1);
    assert_int_equal(a.enrolled_at_ms, T0);
    store_agent_row_cleanup(&a);
    assert_int_equal(store_agent_get(f->st, f->db1, &a), HO_OK);
    assert_string_equal(a.name, "db1");
    store_agent_row_cleanup(&a);
    assert_int_equal(store_agent_get(f->st, "nobody", &a), HO_ENOENT);
}

static void test_store_heartbeat(void **state)
{
    struct fx *f = *state;
    struct store_heartbeat hb = {"0.9.1", "[{\"name\":\"nginx\",\"version\":\"1.4.0\"}]", 12, 3};
    struct agent_row a;

    assert_int_equal(store_agent_heartbeat(f->st, f->web1, &hb, T0 + 100), HO_OK);
    assert_int_equal(store_agent_get(f->st, "web1", &a), HO_OK);
    assert_string_equal(a.version, "0.9.1");
    assert_string_equal(a.packages_json, "[{\"name\":\"nginx\",\"version\":\"1.4.0\"}]");
    assert_int_equal(a.spool_depth, 12);
    assert_int_equal(a.dropped, 3);
    assert_int_equal(a.last_seen_ms, T0 + 100);
    store_agent_row_cleanup(&a);
    /* Fields not reported keep their value. */
    hb.version = NULL;
    hb.packages_json = NULL;
    hb.spool_depth = 0;
    assert_int_equal(store_agent_heartbeat(f->st, f->web1, &hb, T0 + 200), HO_OK);
    assert_int_equal(store_agent_get(f->st, f->web1, &a), HO_OK);
    assert_string_equal(a.version, "0.9.1");
    assert_non_null(a.packages_json);
    assert_int_equal(a.spool_depth, 0);
    assert_int_equal(a.last_seen_ms, T0 + 200);
    store_agent_row_cleanup(&a);
    assert_int_equal(store_agent_heartbeat(f->st, "019a8f3e-0000-7000-8000-000000000000", &hb, T0),
                     HO_ENOENT);
    /* The name is not an id for heartbeats. */
    assert_int_equal(store_agent_heartbeat(f->st, "web1", &hb, T0), HO_ENOENT);
}

/* The reader handle sees every committed run at once and refuses to write. */
static void test_store_reader_sees_commits_and_cannot_write(void **state)
{
    struct fx *f = *state;
    struct store *rd = NULL;
    struct state_row *st_row;
    struct ho_error err;
    struct run r;
    const struct run *p = &r;
    enum store_insert res;

    assert_int_equal(store_open_reader(f->path, &rd, &err), HO_OK);
    assert_int_equal(count(rd, query_all()), 0);
    insert_one(f->st, f->web1, T0, "nginx.running", RUN_OUTCOME_REPAIRED, 1, 0);
    insert_one(f->st, f->web1, T0 + 1000, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(count(rd, query_all()), 2);
    st_row = state_of(rd, "web1", "nginx.running");
    assert_int_equal(st_row->outcome, RUN_OUTCOME_OK);
    store_state_free(st_row, 1);
    mk_run(&r, T0 + 2000, "nginx", "nginx.port", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(store_runs_insert(rd, f->web1, &p, 1, T0 + 999999, &res), HO_EDB);
    run_cleanup(&r);
    assert_int_equal(count(f->st, query_all()), 2);
    store_close(rd);
    assert_int_equal(store_open_reader("/nonexistent/dir/healops.db", &rd, &err), HO_EDB);
    assert_null(rd);
}

/*
 * Checkpoints run on the store's own thread (SQLite's automatic ones are off on the
 * writer): while runs keep arriving the WAL is recycled instead of growing for ever.
 */
static void test_store_wal_checkpointed_in_background(void **state)
{
    struct fx *f = *state;
    char wal[160];
    struct stat sb;
    off_t first;
    int i, k = 0;

    fx_path(f, "-wal", wal, sizeof(wal));
    for (i = 0; i < 100; i++, k++)
        insert_one(f->st, f->web1, T0 + k, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(stat(wal, &sb), 0);
    first = sb.st_size;
    /* a pause longer than the thread's period: it copies the whole WAL back */
    usleep(2500 * 1000);
    for (i = 0; i < 100; i++, k++)
        insert_one(f->st, f->web1, T0 + k, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    assert_int_equal(stat(wal, &sb), 0);
    /* the WAL restarted from its beginning: without the checkpoint it would be twice as long */
    assert_true(first > 0);
    assert_true(sb.st_size < first + first / 4);
}

/*
 * Under runs that keep coming (gaps far shorter than the thread's period), the
 * checkpoint thread restarts the WAL each time it is past its restart size,
 * copying the last pages holding the writer's lock; the writer's own checkpoint
 * is out of reach. Every restart starts the file over, so its length stops
 * growing: the same after 2.25 s as after 0.75 s, give or take a period's
 * writes; without the restarts it would be three times as long.
 */
static void test_store_wal_restarted_under_steady_writes(void **state)
{
    struct fx *f = *state;
    struct run runs[50];
    const struct run *p[50];
    enum store_insert res[50];
    char wal[160];
    struct stat sb;
    off_t early = 0;
    int64_t start = T0;
    struct timespec t0, t1;
    double secs = 0;
    int i;

    fx_path(f, "-wal", wal, sizeof(wal));
    store_checkpoint_tune(f->st, 64, 16, 1000000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (secs < 2.25) {
        for (i = 0; i < 50; i++) {
            mk_run(&runs[i], start++, "nginx", i % 2 ? "nginx.port" : "nginx.running",
                   RUN_OUTCOME_OK, 0, 0);
            p[i] = &runs[i];
        }
        assert_int_equal(store_runs_insert(f->st, f->web1, p, 50, T0, res), HO_OK);
        runs_cleanup(runs, 50);
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (early == 0 && secs >= 0.75) {
            assert_int_equal(stat(wal, &sb), 0);
            early = sb.st_size;
        }
    }
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(early > 0);
    assert_true(sb.st_size < 2 * early);
}

/* Open descriptors of this process (/proc/self/fd), not counting the listing's own. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* A store, with its checkpoint thread and connection, gives back every descriptor on close. */
static void test_store_close_releases_descriptors(void **state)
{
    struct fx *f = *state;
    struct store *st = NULL;
    struct ho_error err;
    int before;

    store_close(f->st);
    f->st = NULL;
    before = open_fds();
    assert_int_equal(store_open(f->path, &st, &err), HO_OK);
    assert_true(open_fds() > before);
    insert_one(st, f->web1, T0, "nginx.running", RUN_OUTCOME_OK, 0, 0);
    store_close(st);
    assert_int_equal(open_fds(), before);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_wal_checkpointed_in_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_wal_restarted_under_steady_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_close_releases_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reader_sees_commits_and_cannot_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_open_applies_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_new_database_page_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_existing_page_size_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_newer_schema, setup, teardown),
        cmocka_unit_test(test_store_open_bad_path),
        cmocka_unit_test(test_store_memory_database),
        cmocka_unit_test_setup_teardown(test_store_token_create_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_token_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_enroll_same_name_keeps_id, setup, teardown),
        cmocka_unit_test(test_store_scope_names),
        cmocka_unit_test_setup_teardown(test_store_runs_insert_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_insert_unknown_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_insert_failure_stores_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_run_roundtrip_without_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_run_roundtrip_repair_and_metrics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_query_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_query_newest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_query_rejects_bad_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_paging_visits_every_run_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_runs_invalid_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_newest_run_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_consecutive_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_state_query_order_filters_paging, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_agents_query_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_token_lookup_stale_statistics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_store_small_table_statistics_dropped, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
