/*
 * ref_sqlite: the ceiling of the store. The same generated rows loadgen
 * sends (bench.c) inserted straight into SQLite with prepared statements, in
 * transactions of --batch rows (one POST /runs is one transaction, DESIGN.md
 * section 8), WAL, synchronous=NORMAL, foreign keys on, as server/
 * store_sqlite.c opens its database. The tables and indexes are not copied
 * here: the schema files (schema/NNN_*.sql) are read at run time and applied
 * in order to a temporary database, so the reference follows the schema.
 *
 * Two modes:
 *   ref_sqlite --schema-dir schema [--prefill N] [--seconds S] [--rounds R] [--full] ...
 *       a temporary database: prefill N runs, then R rounds of S seconds of
 *       batches; prints the insert rate of each round and their median.
 *       --full does all the server does per run: also the state upsert, the
 *       run's outbox row (which stands for its points) and the agent's
 *       last_seen (the plain reference inserts runs only).
 *   ref_sqlite --db FILE [--full] [--prefill 0] ...
 *       the same measure on an existing database (a copy of the server's).
 *   ref_sqlite --db FILE --fill-only --prefill N --agents A
 *       fills an existing (server) database with A agents and N runs, their
 *       points and the state, so the server can be measured at a size.
 * --server-vfs opens the database through the server's writer VFS
 * (server/store_vfs.c: a transaction's WAL frames written together); without it
 * the writes are SQLite's own, a frame header and a page a call.
 */
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "store_vfs.h"

#define REF_PREFILL_TX 10000 /* rows per transaction while prefilling (setup, not measured) */
#define REF_MAX_ROUNDS 100

struct ref_opts {
    const char *schema_dir;
    const char *dir;
    const char *db;
    int fill_only;
    long long prefill;
    int seconds;
    int rounds;
    int batch;
    int agents;
    int random_ids;
    int full;
    int keep;
    int cache_kib;
    int server_vfs; /* open through server/store_vfs.c */
};

struct ref_db {
    sqlite3 *db;
    sqlite3_stmt *run_ins, *state_up, *state_ok, *point_ins, *agent_seen, *begin, *commit;
    int64_t *agent_id;    /* rowids, one per agent */
    char **agent_name;
    int nagents;
    int *cursor;          /* per agent: next check slot */
    int64_t *last_ms;     /* per agent: started_at of its last run */
    int64_t run_seq;      /* seq of the run ref_insert_run stored last */
    struct bench_rng rng;
    /* checkpoints as the server makes them: a thread of their own (store_ckpt_main) */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    atomic_int ckpt_stop;
    int ckpt_running;
};

/* server/store_sqlite.c STORE_PAGE_SIZE_PRAGMA */
#define REF_PAGE_SIZE "8192"
/* server/store_sqlite.c STORE_CKPT_PERIOD_MS */
#define REF_CKPT_PERIOD_MS 250
/* the server's thread restarts the WAL past this (STORE_CKPT_RESTART_PAGES); here, the writer */
#define REF_WRITER_CKPT_PAGES 40000

/* The run columns, the statement of server/store_sqlite.c ST_RUN_INSERT. */
static const char ref_sql_run[] =
    "INSERT INTO runs (id, agent, package, version, check_name, started_at, duration_ms, "
    "manual, operator, interval_s, test_status, test_exit, test_output, test_ms, "
    "repair_status, repair_exit, repair_output, repair_ms, retest_status, retest_exit, "
    "retest_output, retest_ms, outcome, metrics, received_at, environment, tags) VALUES "
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27) ON CONFLICT (id) DO NOTHING";
static const char ref_sql_state[] =
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
    "interval_s = excluded.interval_s WHERE excluded.last_run_at >= state.last_run_at";
/* only for a late ok run, which the upsert left alone */
static const char ref_sql_state_ok[] =
    "UPDATE state SET last_ok_at = ?3 WHERE agent = ?1 AND check_name = ?2 "
    "AND (last_ok_at IS NULL OR last_ok_at < ?3)";
/* The outbox row that stands for a run's points (server/store_sqlite_points.c). */
static const char ref_sql_point[] =
    "INSERT INTO points (agent, check_name, name, ts, value, tags, run) "
    "VALUES (?1, ?2, '', ?3, 0, '{}', ?4)";
static const char ref_sql_seen[] = "UPDATE agents SET last_seen = ?2 WHERE id = ?1";
/* The last run of every agent x check (the bare columns come from the max() row). */
static const char ref_sql_state_fill[] =
    "INSERT INTO state (agent, check_name, package, run_id, outcome, test_status, "
    "repair_status, retest_status, manual, last_run_at, last_ok_at, consecutive_failures, "
    "interval_s) SELECT agent, check_name, package, id, outcome, test_status, repair_status, "
    "retest_status, manual, max(started_at), NULL, 0, interval_s FROM runs WHERE 1 "
    "GROUP BY agent, check_name ON CONFLICT (agent, check_name) DO NOTHING";

static void ref_exec(sqlite3 *db, const char *sql, const char *what)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        bench_fatal("%s: %s", what, msg != NULL ? msg : sqlite3_errmsg(db));
}

static sqlite3_stmt *ref_prepare(sqlite3 *db, const char *sql, int optional)
{
    sqlite3_stmt *s = NULL;

    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        if (optional)
            return NULL;
        bench_fatal("prepare \"%.60s...\": %s", sql, sqlite3_errmsg(db));
    }
    return s;
}

static void ref_step(sqlite3 *db, sqlite3_stmt *s, const char *what)
{
    if (sqlite3_step(s) != SQLITE_DONE)
        bench_fatal("%s: %s", what, sqlite3_errmsg(db));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static char *ref_slurp(const char *path)
{
    FILE *fp = fopen(path, "re");
    char *data;
    long n;

    if (fp == NULL || fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0)
        bench_fatal("cannot read %s: %s", path, strerror(errno));
    data = bench_xmalloc((size_t)n + 1);
    if (fread(data, 1, (size_t)n, fp) != (size_t)n)
        bench_fatal("cannot read %s", path);
    data[n] = '\0';
    fclose(fp);
    return data;
}

/* Applies the .sql files of dir in name order in one transaction; prints their names. */
static void ref_apply_schema(sqlite3 *db, const char *dir)
{
    char pattern[4096], ver[64], *sql;
    glob_t g;
    size_t i;

    snprintf(pattern, sizeof(pattern), "%s/*.sql", dir);
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0)
        bench_fatal("no schema files match %s", pattern);
    ref_exec(db, "BEGIN IMMEDIATE", "schema");
    printf("  schema:");
    for (i = 0; i < g.gl_pathc; i++) {
        sql = ref_slurp(g.gl_pathv[i]);
        ref_exec(db, sql, g.gl_pathv[i]);
        free(sql);
        printf(" %s", g.gl_pathv[i]);
    }
    printf("\n");
    snprintf(ver, sizeof(ver), "PRAGMA user_version = %zu", g.gl_pathc);
    ref_exec(db, ver, "schema version");
    ref_exec(db, "COMMIT", "schema");
    globfree(&g);
}

/* Sets the page cache the measure runs with: --cache-kib, else SQLite's default (2 MB). */
static void ref_cache(struct ref_db *rd, const struct ref_opts *o)
{
    char pragma[64];

    snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d",
             o->cache_kib > 0 ? o->cache_kib : 2000);
    ref_exec(rd->db, pragma, "cache_size");
}

static void *ref_ckpt_main(void *arg)
{
    struct ref_db *rd = arg;
    struct timespec ts = {0, REF_CKPT_PERIOD_MS * 1000000L};
    int logp = 0, done = 0;

    while (!atomic_load(&rd->ckpt_stop)) {
        nanosleep(&ts, NULL);
        (void)sqlite3_wal_checkpoint_v2(rd->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &logp, &done);
    }
    return NULL;
}

/* The server's checkpoint thread (store_ckpt_start); the WAL restart left to the writer. */
static void ref_ckpt_start(struct ref_db *rd, const char *path)
{
    if (sqlite3_open_v2(path, &rd->ckpt_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        bench_fatal("%s: %s", path, sqlite3_errmsg(rd->ckpt_db));
    sqlite3_busy_timeout(rd->ckpt_db, 5000);
    ref_exec(rd->ckpt_db, "PRAGMA journal_mode = WAL", "checkpoint connection");
    if (pthread_create(&rd->ckpt_thread, NULL, ref_ckpt_main, rd) != 0)
        bench_fatal("cannot start the checkpoint thread");
    rd->ckpt_running = 1;
    sqlite3_wal_autocheckpoint(rd->db, REF_WRITER_CKPT_PAGES);
}

/*
 * Opens path as server/store_sqlite.c does: WAL, synchronous=NORMAL, foreign keys,
 * checkpoints on a thread of their own.
 */
static void ref_open(struct ref_db *rd, const char *path, const struct ref_opts *o)
{
    if (sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        o->server_vfs ? store_vfs_name() : NULL) != SQLITE_OK)
        bench_fatal("%s: %s", path, sqlite3_errmsg(rd->db));
    sqlite3_busy_timeout(rd->db, 5000);
    /* the server's new databases (STORE_PAGE_SIZE_PRAGMA); an existing one keeps its own */
    ref_exec(rd->db, "PRAGMA page_size = " REF_PAGE_SIZE, "page_size");
    ref_exec(rd->db, "PRAGMA journal_mode = WAL", "journal_mode");
    ref_exec(rd->db, "PRAGMA synchronous = NORMAL", "synchronous");
    ref_exec(rd->db, "PRAGMA foreign_keys = ON", "foreign_keys");
    ref_cache(rd, o);
    ref_ckpt_start(rd, path);
    bench_rng_seed(&rd->rng);
}

static void ref_prepare_all(struct ref_db *rd)
{
    rd->run_ins = ref_prepare(rd->db, ref_sql_run, 0);
    rd->state_up = ref_prepare(rd->db, ref_sql_state, 1);
    rd->state_ok = ref_prepare(rd->db, ref_sql_state_ok, 1);
    rd->point_ins = ref_prepare(rd->db, ref_sql_point, 1);
    rd->agent_seen = ref_prepare(rd->db, ref_sql_seen, 0);
    rd->begin = ref_prepare(rd->db, "BEGIN IMMEDIATE", 0);
    rd->commit = ref_prepare(rd->db, "COMMIT", 0);
}

/* Adds (or finds) agents prefix-00000 ...; fills rd->agent_id. */
static void ref_agents(struct ref_db *rd, int n, const char *prefix)
{
    sqlite3_stmt *ins = ref_prepare(rd->db,
                                    "INSERT INTO agents (uid, name, labels, enrolled_at) "
                                    "VALUES (?1, ?2, '{\"role\":\"web\"}', ?3) "
                                    "ON CONFLICT DO NOTHING",
                                    0);
    sqlite3_stmt *sel = ref_prepare(rd->db, "SELECT id FROM agents WHERE name = ?1", 0);
    char uid[BENCH_UUID_LEN], name[64];
    int i;

    rd->nagents = n;
    rd->agent_id = calloc((size_t)n, sizeof(*rd->agent_id));
    rd->agent_name = calloc((size_t)n, sizeof(*rd->agent_name));
    rd->cursor = calloc((size_t)n, sizeof(*rd->cursor));
    rd->last_ms = calloc((size_t)n, sizeof(*rd->last_ms));
    if (rd->agent_id == NULL || rd->agent_name == NULL || rd->cursor == NULL ||
        rd->last_ms == NULL)
        bench_fatal("out of memory");
    ref_exec(rd->db, "BEGIN IMMEDIATE", "agents");
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s-%05d", prefix, i);
        bench_uuid(&rd->rng, bench_wall_ms(), uid);
        sqlite3_bind_text(ins, 1, uid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, bench_wall_ms());
        ref_step(rd->db, ins, "insert agent");
        sqlite3_bind_text(sel, 1, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(sel) != SQLITE_ROW)
            bench_fatal("agent %s: %s", name, sqlite3_errmsg(rd->db));
        rd->agent_id[i] = sqlite3_column_int64(sel, 0);
        sqlite3_reset(sel);
        rd->agent_name[i] = bench_xstrdup(name);
        rd->cursor[i] = (int)bench_rng_below(&rd->rng, BENCH_CHECKS_PER_AGENT);
    }
    ref_exec(rd->db, "COMMIT", "agents");
    sqlite3_finalize(ins);
    sqlite3_finalize(sel);
}

static void ref_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static void ref_bind_step(sqlite3_stmt *s, int i, const struct bench_step *p)
{
    if (!p->present)
        return;
    sqlite3_bind_int(s, i, p->status);
    if (p->has_exit)
        sqlite3_bind_int(s, i + 1, p->exit_code);
    ref_bind_text(s, i + 2, p->output);
    sqlite3_bind_int(s, i + 3, p->duration_ms);
}

static void ref_insert_run(struct ref_db *rd, int64_t agent, const struct bench_run *r,
                           int64_t now_ms)
{
    sqlite3_stmt *s = rd->run_ins;

    ref_bind_text(s, 1, r->id);
    sqlite3_bind_int64(s, 2, agent);
    ref_bind_text(s, 3, r->package);
    ref_bind_text(s, 4, r->version);
    ref_bind_text(s, 5, r->check);
    sqlite3_bind_int64(s, 6, r->started_at_ms);
    sqlite3_bind_int(s, 7, r->duration_ms);
    sqlite3_bind_int(s, 8, r->manual);
    ref_bind_text(s, 9, r->operator_name);
    sqlite3_bind_int(s, 10, r->interval_s);
    ref_bind_step(s, 11, &r->test);
    ref_bind_step(s, 15, &r->repair);
    ref_bind_step(s, 19, &r->retest);
    sqlite3_bind_int(s, 23, r->outcome);
    ref_bind_text(s, 24, r->metrics);
    sqlite3_bind_int64(s, 25, now_ms);
    ref_bind_text(s, 26, "production");
    ref_bind_text(s, 27, "{\"role\":\"web\"}");
    ref_step(rd->db, s, "insert run");
    rd->run_seq = sqlite3_last_insert_rowid(rd->db);
}

/* What the server does besides the run row: the state of agent x check. */
static void ref_insert_state(struct ref_db *rd, int64_t agent, const struct bench_run *r)
{
    sqlite3_stmt *s = rd->state_up;
    int ok = r->outcome == 0 || r->outcome == 1;

    if (s == NULL)
        return;
    sqlite3_bind_int64(s, 1, agent);
    ref_bind_text(s, 2, r->check);
    ref_bind_text(s, 3, r->package);
    ref_bind_text(s, 4, r->id);
    sqlite3_bind_int(s, 5, r->outcome);
    sqlite3_bind_int(s, 6, r->test.status);
    if (r->repair.present)
        sqlite3_bind_int(s, 7, r->repair.status);
    if (r->retest.present)
        sqlite3_bind_int(s, 8, r->retest.status);
    sqlite3_bind_int(s, 9, r->manual);
    sqlite3_bind_int64(s, 10, r->started_at_ms);
    if (ok)
        sqlite3_bind_int64(s, 11, r->started_at_ms);
    sqlite3_bind_int(s, 12, !ok);
    sqlite3_bind_int(s, 13, r->interval_s);
    ref_step(rd->db, s, "upsert state");
    if (!ok || rd->state_ok == NULL || sqlite3_changes(rd->db) > 0)
        return;
    s = rd->state_ok;
    sqlite3_bind_int64(s, 1, agent);
    ref_bind_text(s, 2, r->check);
    sqlite3_bind_int64(s, 3, r->started_at_ms);
    ref_step(rd->db, s, "update last_ok_at");
}

/*
 * The outbox row the server stores for a run (server/store_sqlite_points.c
 * store_points_insert_run): one per run, standing for all its points
 * (schema/006_run_points.sql); rd->run_seq is the run just inserted.
 */
static void ref_insert_points(struct ref_db *rd, int a, const struct bench_run *r)
{
    sqlite3_stmt *s = rd->point_ins;

    if (s == NULL)
        return;
    sqlite3_bind_int64(s, 1, rd->agent_id[a]);
    ref_bind_text(s, 2, r->check);
    sqlite3_bind_int64(s, 3, r->started_at_ms);
    sqlite3_bind_int64(s, 4, rd->run_seq);
    ref_step(rd->db, s, "insert outbox row");
}

/* The next run of agent a, started at ms (moved forward to keep the agent's runs ordered). */
static void ref_next_run(struct ref_db *rd, int a, int64_t ms, int random_id, struct bench_run *r)
{
    if (ms <= rd->last_ms[a])
        ms = rd->last_ms[a] + 1;
    rd->last_ms[a] = ms;
    bench_run_make(&rd->rng, rd->cursor[a], ms, random_id, r);
    rd->cursor[a] = (rd->cursor[a] + 1) % BENCH_CHECKS_PER_AGENT;
}

/*
 * n runs of history, oldest first, about 66 runs/s of wall time back from now (200
 * agents x 20 checks every minute), in big transactions. points: their metric points too.
 */
static void ref_prefill(struct ref_db *rd, long long n, int points, const struct ref_opts *o)
{
    struct bench_run r;
    int64_t now = bench_wall_ms(), t0 = bench_now_ns();
    long long i;
    int a;
    double secs;

    if (n <= 0)
        return;
    /* setup, not measured: no syncs and a big cache, put back before anything is timed */
    ref_exec(rd->db, "PRAGMA synchronous = OFF", "prefill synchronous");
    ref_exec(rd->db, "PRAGMA cache_size = -262144", "prefill cache");
    for (i = 0; i < n; i++) {
        if (i % REF_PREFILL_TX == 0)
            ref_exec(rd->db, "BEGIN IMMEDIATE", "prefill");
        a = (int)(i % rd->nagents);
        ref_next_run(rd, a, now - (n - i) * 15, o->random_ids, &r);
        ref_insert_run(rd, rd->agent_id[a], &r, r.started_at_ms + 1000);
        if (points)
            ref_insert_points(rd, a, &r);
        if (i % REF_PREFILL_TX == REF_PREFILL_TX - 1 || i == n - 1)
            ref_exec(rd->db, "COMMIT", "prefill");
    }
    secs = (double)(bench_now_ns() - t0) / 1e9;
    printf("  prefill: %lld runs%s in %.1f s (%.0f rows/s in transactions of %d, synchronous=OFF "
           "and a 256 MiB cache while filling)\n", n,
           points ? " with their outbox rows" : "", secs, (double)n / secs, REF_PREFILL_TX);
    if (points && rd->state_up != NULL) {
        t0 = bench_now_ns();
        ref_exec(rd->db, ref_sql_state_fill, "state from runs");
        printf("  state of every agent x check filled in %.1f s\n",
               (double)(bench_now_ns() - t0) / 1e9);
    }
    ref_exec(rd->db, "PRAGMA synchronous = NORMAL", "synchronous");
    ref_cache(rd, o);
    fflush(stdout);
}

static long long ref_count(sqlite3 *db, const char *table)
{
    char sql[128];
    sqlite3_stmt *s = NULL;
    long long n = -1;

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* One measured round: batches of o->batch rows for o->seconds; returns rows/s. */
static double ref_round(struct ref_db *rd, const struct ref_opts *o, int round,
                        long long *table_rows)
{
    struct bench_run *runs = bench_xmalloc(sizeof(*runs) * (size_t)o->batch);
    struct bench_lat lat = {0};
    int64_t start = bench_now_ns(), in_tx = 0, t1, now_ms;
    long long rows = 0, txs = 0;
    int a, i;
    double rate;

    while (bench_now_ns() - start < (int64_t)o->seconds * 1000000000LL) {
        a = (int)(txs++ % rd->nagents);
        now_ms = bench_wall_ms();
        /* the batch is made before the clock starts: the store alone is measured */
        for (i = 0; i < o->batch; i++)
            ref_next_run(rd, a, now_ms - o->batch + i, o->random_ids, &runs[i]);
        t1 = bench_now_ns();
        ref_step(rd->db, rd->begin, "begin");
        for (i = 0; i < o->batch; i++) {
            ref_insert_run(rd, rd->agent_id[a], &runs[i], now_ms);
            if (o->full) {
                ref_insert_state(rd, rd->agent_id[a], &runs[i]);
                ref_insert_points(rd, a, &runs[i]);
            }
        }
        if (o->full) {
            sqlite3_bind_int64(rd->agent_seen, 1, rd->agent_id[a]);
            sqlite3_bind_int64(rd->agent_seen, 2, now_ms);
            ref_step(rd->db, rd->agent_seen, "last_seen");
        }
        ref_step(rd->db, rd->commit, "commit");
        t1 = bench_now_ns() - t1;
        in_tx += t1;
        bench_lat_add(&lat, (double)t1 / 1e6);
        rows += o->batch;
    }
    rate = (double)rows / ((double)in_tx / 1e9);
    *table_rows = ref_count(rd->db, "runs");
    printf("  round %d: %lld rows in %.1f s of transactions: %.0f rows/s; per transaction of %d: "
           "p50 %.2f ms, p99 %.2f ms, max %.2f ms; runs table now %lld rows\n",
           round, rows, (double)in_tx / 1e9, rate, o->batch, bench_lat_pct(&lat, 50),
           bench_lat_pct(&lat, 99), bench_lat_max(&lat), *table_rows);
    fflush(stdout);
    bench_lat_free(&lat);
    free(runs);
    return rate;
}

static void ref_close(struct ref_db *rd)
{
    sqlite3_stmt *all[] = {rd->run_ins, rd->state_up, rd->state_ok, rd->point_ins,
                           rd->agent_seen, rd->begin, rd->commit};
    size_t i;
    int a;

    if (rd->ckpt_running) {
        atomic_store(&rd->ckpt_stop, 1);
        pthread_join(rd->ckpt_thread, NULL);
        sqlite3_close(rd->ckpt_db);
    }
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(rd->db);
    for (a = 0; a < rd->nagents; a++)
        free(rd->agent_name[a]);
    free(rd->agent_name);
    free(rd->agent_id);
    free(rd->cursor);
    free(rd->last_ms);
}

static void ref_usage(void)
{
    fprintf(stderr,
            "usage: ref_sqlite --schema-dir DIR [options]     measure on a temporary database\n"
            "       ref_sqlite --db FILE [options]             measure on an existing database\n"
            "       ref_sqlite --db FILE --fill-only [options] fill an existing server database\n"
            "  --dir DIR         where the temporary database goes (default /tmp)\n"
            "  --prefill N       runs in the table before measuring (default 500000)\n"
            "  --seconds S       length of a round (default 10)\n"
            "  --rounds R        rounds; the median is reported (default 3)\n"
            "  --batch N         rows per transaction (default 100)\n"
            "  --agents N        agents the rows belong to (default 200)\n"
            "  --full            per run also the state upsert, its points, last_seen\n"
            "  --random-ids      random UUIDv4 ids instead of time-ordered UUIDv7\n"
            "  --cache-kib N     PRAGMA cache_size (default: SQLite's, as the server)\n"
            "  --server-vfs      write through the server's VFS (WAL frames gathered)\n"
            "  --keep            keep the temporary database\n");
    exit(2);
}

static void ref_parse(int argc, char **argv, struct ref_opts *o)
{
    const char *a, *v;
    int i;

    memset(o, 0, sizeof(*o));
    o->dir = "/tmp";
    o->prefill = 500000;
    o->seconds = 10;
    o->rounds = 3;
    o->batch = 100;
    o->agents = 200;
    for (i = 1; i < argc; i++) {
        a = argv[i];
        v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--fill-only") == 0) {
            o->fill_only = 1;
            continue;
        } else if (strcmp(a, "--full") == 0) {
            o->full = 1;
            continue;
        } else if (strcmp(a, "--random-ids") == 0) {
            o->random_ids = 1;
            continue;
        } else if (strcmp(a, "--keep") == 0) {
            o->keep = 1;
            continue;
        } else if (strcmp(a, "--server-vfs") == 0) {
            o->server_vfs = 1;
            continue;
        } else if (v == NULL) {
            ref_usage();
        }
        i++;
        if (strcmp(a, "--schema-dir") == 0)
            o->schema_dir = v;
        else if (strcmp(a, "--dir") == 0)
            o->dir = v;
        else if (strcmp(a, "--db") == 0)
            o->db = v;
        else if (strcmp(a, "--prefill") == 0)
            o->prefill = bench_arg_ll(a, v, 0, 1000000000LL);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = (int)bench_arg_ll(a, v, 1, 86400);
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = (int)bench_arg_ll(a, v, 1, REF_MAX_ROUNDS);
        else if (strcmp(a, "--batch") == 0)
            o->batch = (int)bench_arg_ll(a, v, 1, 100000);
        else if (strcmp(a, "--agents") == 0)
            o->agents = (int)bench_arg_ll(a, v, 1, 10000000);
        else if (strcmp(a, "--cache-kib") == 0)
            o->cache_kib = (int)bench_arg_ll(a, v, 0, 100000000);
        else
            ref_usage();
    }
    if (o->fill_only ? o->db == NULL : o->schema_dir == NULL && o->db == NULL)
        ref_usage();
}

static int ref_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return a < b ? -1 : a > b;
}

/* Fills an existing server database: agents prefill-NNNNN, runs, points, state. */
static int ref_fill(const struct ref_opts *o)
{
    struct ref_db rd;

    memset(&rd, 0, sizeof(rd));
    printf("ref_sqlite: filling %s with %lld runs of %d agents\n", o->db, o->prefill, o->agents);
    ref_open(&rd, o->db, o);
    ref_prepare_all(&rd);
    if (rd.point_ins == NULL)
        printf("  (no points table in this schema: runs only)\n");
    ref_agents(&rd, o->agents, "prefill");
    ref_prefill(&rd, o->prefill, 1, o);
    ref_close(&rd);
    return 0;
}

int main(int argc, char **argv)
{
    struct ref_opts o;
    struct ref_db rd;
    char path[4096];
    double rates[REF_MAX_ROUNDS], med;
    long long rows = 0, start_rows;
    int i;

    ref_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* as the server (store_sqlite.c): no memory statistics, no global mutex per allocation */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (o.fill_only)
        return ref_fill(&o);
    memset(&rd, 0, sizeof(rd));
    if (o.db != NULL)
        snprintf(path, sizeof(path), "%s", o.db);
    else
        snprintf(path, sizeof(path), "%s/ref-sqlite-%d.db", o.dir, (int)getpid());
    printf("ref_sqlite%s: %s, WAL, synchronous=NORMAL, foreign_keys=ON, %s ids, "
           "transactions of %d rows, SQLite %s\n",
           o.full ? " (full: runs + state + outbox row + last_seen)" : " (runs only)", path,
           o.random_ids ? "random (v4)" : "time-ordered (v7)", o.batch, sqlite3_libversion());
    if (o.db == NULL && o.prefill < 10000000)
        printf("  prefill %lld rows (the issue asks 10,000,000: set BENCH_PREFILL=10000000, "
               "or --prefill; the default is kept small to finish in about a minute on 2 cores)\n",
               o.prefill);
    ref_open(&rd, path, &o);
    if (o.db == NULL)
        ref_apply_schema(rd.db, o.schema_dir);
    else
        printf("  an existing database with %lld runs\n", ref_count(rd.db, "runs"));
    ref_prepare_all(&rd);
    if (o.full && (rd.point_ins == NULL || rd.state_up == NULL))
        printf("  (--full: no points or state table in this schema; left out)\n");
    ref_agents(&rd, o.agents, "ref");
    ref_prefill(&rd, o.prefill, o.full, &o);
    start_rows = ref_count(rd.db, "runs");
    for (i = 0; i < o.rounds; i++)
        rates[i] = ref_round(&rd, &o, i + 1, &rows);
    qsort(rates, (size_t)o.rounds, sizeof(rates[0]), ref_cmp);
    med = rates[o.rounds / 2];
    printf("BENCH %s rows_per_s=%.0f rounds=%d prefill=%lld start_rows=%lld end_rows=%lld "
           "batch=%d ids=%s\n",
           o.full ? "ref_sqlite_full" : "ref_sqlite", med, o.rounds, o.prefill, start_rows, rows,
           o.batch, o.random_ids ? "v4" : "v7");
    ref_close(&rd);
    if (!o.keep && o.db == NULL) {
        unlink(path);
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "-wal");
        unlink(path);
        path[strlen(path) - 4] = '\0';
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "-shm");
        unlink(path);
    }
    return 0;
}
