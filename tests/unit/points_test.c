/*
 * Tests of server/points.h (points of runs and stats, their tags and the tags'
 * JSON codec) and of the store's points verbs (store.h): points written in the
 * runs' transaction, idempotent stat batches, the outbox read in seq order,
 * forwarder progress, and pruning that never reuses a seq.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "embedded.h"
#include "mem.h"
#include "points.h"
#include "store.h"
#include "store_retention.h"
#include "test_db.h"

#define T0 1764000000000LL /* 2025-11-24T16:00:00Z */

static struct tag *mk_tags(size_t n, ...)
{
    struct tag *t = xcalloc(n, sizeof(*t));
    va_list ap;
    size_t i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        t[i].key = xstrdup(va_arg(ap, const char *));
        t[i].value = xstrdup(va_arg(ap, const char *));
    }
    va_end(ap);
    return t;
}

/* A run of check "nginx.running" in package "nginx", with one metric "nginx.workers"=4 {a=b}. */
static void mk_run(struct run *r, enum run_outcome outcome, int repair_status)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(crypto_uuid_v7(T0, r->id), HO_OK);
    r->package = xstrdup("nginx");
    r->check = xstrdup("nginx.running");
    r->started_at_ms = T0;
    r->duration_ms = 2140;
    r->test.present = 1;
    r->test.status = outcome == RUN_OUTCOME_OK ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
    if (repair_status >= 0) {
        r->repair.present = 1;
        r->repair.status = repair_status;
    }
    r->outcome = outcome;
    r->nmetrics = 1;
    r->metrics = xcalloc(1, sizeof(*r->metrics));
    r->metrics[0].name = xstrdup("nginx.workers");
    r->metrics[0].value = 4;
    r->metrics[0].tags = mk_tags(1, "a", "b");
    r->metrics[0].ntags = 1;
}

static const struct point *find(const struct point_list *l, const char *name)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    }
    return NULL;
}

/* "k=v,k=v" of p's tags in their order. */
static void tags_text(const struct point *p, char *out, size_t n)
{
    size_t i, o = 0;

    out[0] = '\0';
    for (i = 0; i < p->ntags; i++)
        o += (size_t)snprintf(out + o, n - o, "%s%s=%s", i ? "," : "", p->tags[i].key,
                              p->tags[i].value);
}

static void test_points_run_ok(void **state)
{
    struct point_list l = {0};
    const struct point *p;
    struct run r;
    char t[512];

    (void)state;
    mk_run(&r, RUN_OUTCOME_OK, -1);
    r.tags = mk_tags(2, "team", "web", "tier", "1");
    r.ntags = 2;
    points_from_run(&r, "web01", &l);
    assert_int_equal(l.n, 3); /* the metric, outcome, duration: no repair */
    p = find(&l, "nginx.workers");
    assert_non_null(p);
    assert_int_equal(p->ts_ms, T0);
    assert_true(p->value == 4);
    assert_string_equal(p->check, "nginx.running");
    tags_text(p, t, sizeof(t));
    assert_string_equal(t, "node=web01,environment=production,package=nginx,check=nginx.running,"
                           "a=b,team=web,tier=1");
    p = find(&l, POINTS_OUTCOME);
    assert_non_null(p);
    assert_true(p->value == 0);
    tags_text(p, t, sizeof(t));
    assert_string_equal(t, "node=web01,environment=production,package=nginx,check=nginx.running,"
                           "team=web,tier=1");
    p = find(&l, POINTS_DURATION);
    assert_non_null(p);
    assert_true(p->value == 2140);
    assert_int_equal(p->ts_ms, T0);
    assert_null(find(&l, POINTS_REPAIR));
    point_list_cleanup(&l);
    run_cleanup(&r);
}

static void test_points_run_repair_status(void **state)
{
    static const struct {
        enum run_outcome outcome;
        int repair;
        int has_point;
        double value;
        const char *status;
    } cases[] = {
        {RUN_OUTCOME_REPAIRED, REPAIR_STATUS_SUCCEEDED, 1, 1, POINTS_REPAIR_OK},
        {RUN_OUTCOME_FAILED, REPAIR_STATUS_SUCCEEDED, 1, 0, POINTS_REPAIR_FAILED}, /* retest failed */
        {RUN_OUTCOME_FAILED, REPAIR_STATUS_FAILED, 1, 0, POINTS_REPAIR_FAILED},
        {RUN_OUTCOME_FAILED, REPAIR_STATUS_TIMEOUT, 1, 0, POINTS_REPAIR_FAILED},
        {RUN_OUTCOME_FAILED, REPAIR_STATUS_SUPPRESSED, 0, 0, NULL},
        {RUN_OUTCOME_ERROR, -1, 0, 0, NULL},
    };
    struct point_list l = {0};
    const struct point *p;
    struct run r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mk_run(&r, cases[i].outcome, cases[i].repair);
        points_from_run(&r, "web01", &l);
        p = find(&l, POINTS_OUTCOME);
        assert_true(p->value == (double)cases[i].outcome);
        p = find(&l, POINTS_REPAIR);
        if (!cases[i].has_point) {
            assert_null(p);
        } else {
            assert_non_null(p);
            assert_true(p->value == cases[i].value);
            assert_string_equal(points_tag(p, "status"), cases[i].status);
            assert_string_equal(points_tag(p, "component"), "nginx.running");
            assert_string_equal(points_tag(p, "check"), "nginx.running");
            assert_null(points_tag(p, "a")); /* the check metric's tags stay on it */
        }
        point_list_cleanup(&l);
        run_cleanup(&r);
    }
}

static void test_points_run_server_tags_win(void **state)
{
    struct point_list l = {0};
    const struct point *p;
    struct run r;
    char t[512];

    (void)state;
    mk_run(&r, RUN_OUTCOME_OK, -1);
    r.environment = xstrdup("staging");
    r.tags = mk_tags(3, "check", "spoofed", "team", "pkg", "a", "package-a");
    r.ntags = 3;
    metric_cleanup(&r.metrics[0]);
    r.metrics[0].name = xstrdup("disk.used");
    r.metrics[0].value = 91.5;
    r.metrics[0].ts_ms = T0 + 5000;
    r.metrics[0].tags = mk_tags(3, "node", "other", "mount", "/var", "team", "metric");
    r.metrics[0].ntags = 3;
    points_from_run(&r, "web01", &l);
    p = find(&l, "disk.used");
    assert_int_equal(p->ts_ms, T0 + 5000);
    tags_text(p, t, sizeof(t));
    assert_string_equal(t, "node=web01,environment=staging,package=nginx,check=nginx.running,"
                           "mount=/var,team=metric,a=package-a");
    point_list_cleanup(&l);
    run_cleanup(&r);
}

static void test_points_stats(void **state)
{
    struct metric m[2];
    struct point_list l = {0};
    char t[512];

    (void)state;
    memset(m, 0, sizeof(m));
    m[0].name = xstrdup("cpu.user");
    m[0].value = 12.5;
    m[0].tags = mk_tags(2, "node", "spoofed", "cpu", "0");
    m[0].ntags = 2;
    m[1].name = xstrdup("db.size");
    m[1].value = 7;
    m[1].ts_ms = T0 - 1000;
    m[1].tags = mk_tags(2, "owner", "db01", "environment", "lab");
    m[1].ntags = 2;
    points_from_stats(m, 2, "web01", T0, &l);
    assert_int_equal(l.n, 2);
    assert_null(l.v[0].check);
    assert_int_equal(l.v[0].ts_ms, T0); /* no timestamp: now */
    tags_text(&l.v[0], t, sizeof(t));
    assert_string_equal(t, "node=web01,environment=production,cpu=0");
    assert_int_equal(l.v[1].ts_ms, T0 - 1000);
    tags_text(&l.v[1], t, sizeof(t));
    assert_string_equal(t, "node=web01,environment=lab,owner=db01");
    point_list_cleanup(&l);
    metric_cleanup(&m[0]);
    metric_cleanup(&m[1]);
}

static void test_points_tags_json_roundtrip(void **state)
{
    struct tag *t = mk_tags(3, "k", "v", "quote\"back\\slash", "tab\there", "utf8", "M\xc3\xbcnchen");
    struct tag *back = NULL;
    struct buf b;
    size_t n = 0;

    (void)state;
    buf_init(&b, 4096);
    assert_int_equal(points_tags_to_json(t, 3, &b), HO_OK);
    assert_string_equal(b.data, "{\"k\":\"v\",\"quote\\\"back\\\\slash\":\"tab\\u0009here\","
                                "\"utf8\":\"M\xc3\xbcnchen\"}");
    assert_int_equal(points_tags_parse(b.data, b.len, &back, &n), HO_OK);
    assert_int_equal(n, 3);
    assert_string_equal(back[1].key, "quote\"back\\slash");
    assert_string_equal(back[1].value, "tab\there");
    assert_string_equal(back[2].value, "M\xc3\xbcnchen");
    points_tags_free(back, n);
    assert_int_equal(points_tags_parse("[1]", 3, &back, &n), HO_EINVAL);
    assert_int_equal(points_tags_parse("{\"a\":1}", 7, &back, &n), HO_EINVAL);
    assert_int_equal(points_tags_parse("{\"a\":", 5, &back, &n), HO_EINVAL);
    assert_int_equal(points_tags_parse("{}", 2, &back, &n), HO_OK);
    assert_int_equal(n, 0);
    points_tags_free(back, n);
    buf_reset(&b);
    assert_int_equal(points_tags_to_json(NULL, 0, &b), HO_OK);
    assert_string_equal(b.data, "{}");
    buf_cleanup(&b);
    points_tags_free(t, 3);
}

/* ---- the store's points ---- */

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    char web1[CRYPTO_UUID_LEN];
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char h[CRYPTO_SHA256_HEX_LEN];
    struct ho_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/points_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    crypto_sha256_hex("tok", 3, h);
    assert_int_equal(store_agent_enroll(f->st, "web1", "{}", h, T0, f->web1), HO_OK);
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

static void all_points(struct store *st, struct point **p, size_t *n)
{
    assert_int_equal(store_points_after(st, 0, 10000, p, n), HO_OK);
}

static void test_points_store_runs_same_transaction(void **state)
{
    struct fx *f = *state;
    const struct run *rp;
    enum store_insert res;
    struct point *p = NULL;
    struct point_list want = {0};
    struct run r, r2;
    char got_tags[256], want_tags[256];
    size_t n = 0, i;

    mk_run(&r, RUN_OUTCOME_REPAIRED, REPAIR_STATUS_SUCCEEDED);
    r.environment = xstrdup("staging");
    r.tags = mk_tags(2, "team", "edge", "tier", "1");
    r.ntags = 2;
    rp = &r;
    assert_int_equal(store_runs_insert(f->st, f->web1, &rp, 1, T0 + 10, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    /* one outbox row for the run: its points come back whole, all with that row's seq,
     * the same as points_from_run makes of the run (environment and package tags kept) */
    all_points(f->st, &p, &n);
    points_from_run(&r, "web1", &want);
    assert_int_equal(n, 4);
    assert_int_equal(want.n, 4);
    for (i = 0; i < n; i++) {
        assert_int_equal(p[i].seq, 1);
        assert_string_equal(p[i].name, want.v[i].name);
        assert_string_equal(p[i].check, "nginx.running");
        assert_int_equal(p[i].ts_ms, want.v[i].ts_ms);
        assert_true(p[i].value == want.v[i].value);
        tags_text(&p[i], got_tags, sizeof(got_tags));
        tags_text(&want.v[i], want_tags, sizeof(want_tags));
        assert_string_equal(got_tags, want_tags);
    }
    assert_string_equal(points_tag(&p[0], "environment"), "staging");
    assert_string_equal(points_tag(&p[0], "tier"), "1");
    assert_string_equal(p[3].name, POINTS_REPAIR);
    assert_string_equal(points_tag(&p[3], "status"), POINTS_REPAIR_OK);
    point_list_cleanup(&want);
    points_free(p, n);
    /* the same run again: a duplicate, and no points */
    assert_int_equal(store_runs_insert(f->st, f->web1, &rp, 1, T0 + 20, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_DUPLICATE);
    all_points(f->st, &p, &n);
    assert_int_equal(n, 4);
    points_free(p, n);
    /* a second run (ok, no repair: 3 points); a limit smaller than a run still gives it whole */
    mk_run(&r2, RUN_OUTCOME_OK, -1);
    assert_int_equal(crypto_uuid_v7(T0 + 1, r2.id), HO_OK);
    rp = &r2;
    assert_int_equal(store_runs_insert(f->st, f->web1, &rp, 1, T0 + 30, &res), HO_OK);
    assert_int_equal(store_points_after(f->st, 0, 1, &p, &n), HO_OK);
    assert_int_equal(n, 4);
    points_free(p, n);
    assert_int_equal(store_points_after(f->st, 1, 10, &p, &n), HO_OK);
    assert_int_equal(n, 3);
    assert_int_equal(p[0].seq, 2);
    assert_int_equal(p[2].seq, 2);
    assert_string_equal(points_tag(&p[0], "environment"), POINTS_ENV_DEFAULT);
    assert_null(points_tag(&p[0], "tier"));
    points_free(p, n);
    assert_int_equal(store_points_after(f->st, 2, 10, &p, &n), HO_OK);
    assert_int_equal(n, 0);
    assert_null(p);
    run_cleanup(&r);
    run_cleanup(&r2);
}

static void test_points_store_stat_batches(void **state)
{
    static const char batch[] = "019a8f3e-0000-7000-8000-000000000001";
    struct fx *f = *state;
    enum store_insert res;
    struct point *p = NULL;
    struct metric m[2];
    size_t n = 0;

    memset(m, 0, sizeof(m));
    m[0].name = xstrdup("load.1");
    m[0].value = 0.25;
    m[1].name = xstrdup("mem.free");
    m[1].value = 1e9;
    m[1].ts_ms = T0 - 60000;
    m[1].tags = mk_tags(1, "owner", "db7");
    m[1].ntags = 1;
    assert_int_equal(store_metrics_insert(f->st, f->web1, batch, m, 2, T0, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    assert_int_equal(store_metrics_insert(f->st, f->web1, batch, m, 2, T0 + 1, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_DUPLICATE);
    all_points(f->st, &p, &n);
    assert_int_equal(n, 2);
    assert_null(p[0].check);
    assert_int_equal(p[0].ts_ms, T0);
    assert_true(p[0].value == 0.25);
    assert_string_equal(points_tag(&p[1], "owner"), "db7");
    assert_string_equal(points_tag(&p[1], "node"), "web1");
    assert_int_equal(p[1].ts_ms, T0 - 60000);
    points_free(p, n);
    assert_int_equal(store_metrics_insert(f->st, "019a8f3e-0000-7000-8000-00000000dead",
                                          "019a8f3e-0000-7000-8000-000000000002", m, 2, T0, &res),
                     HO_ENOENT);
    metric_cleanup(&m[0]);
    metric_cleanup(&m[1]);
}

static void add_stats(struct fx *f, int k, int64_t ts, size_t n)
{
    struct metric *m = xcalloc(n, sizeof(*m));
    enum store_insert res;
    char id[CRYPTO_UUID_LEN];
    size_t i;

    snprintf(id, sizeof(id), "019a8f3e-0000-7000-8000-%012d", k);
    for (i = 0; i < n; i++) {
        m[i].name = xstrdup("x");
        m[i].value = (double)i;
        m[i].ts_ms = ts;
    }
    assert_int_equal(store_metrics_insert(f->st, f->web1, id, m, n, T0, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
}

static void test_points_store_forwarder_progress(void **state)
{
    struct fx *f = *state;
    struct store_forwarder sf;

    assert_int_equal(store_forwarder_get(f->st, "tsdb", &sf), HO_OK);
    assert_int_equal(sf.delivered_seq, 0);
    assert_int_equal(sf.pending, 0);
    assert_null(sf.last_error);
    add_stats(f, 1, T0 - 5000, 10);
    assert_int_equal(store_forwarder_get(f->st, "tsdb", &sf), HO_OK);
    assert_int_equal(sf.pending, 10);
    assert_int_equal(sf.oldest_pending_ms, T0 - 5000);
    assert_int_equal(store_forwarder_record(f->st, "tsdb", STORE_DELIVERY_FAILED, 0, 0,
                                            "HTTP 503", T0 + 1),
                     HO_OK);
    assert_int_equal(store_forwarder_record(f->st, "tsdb", STORE_DELIVERY_SENT, 6, 6, NULL,
                                            T0 + 2),
                     HO_OK);
    assert_int_equal(store_forwarder_record(f->st, "tsdb", STORE_DELIVERY_DROPPED, 8, 2,
                                            "HTTP 400: bad", T0 + 3),
                     HO_OK);
    /* never backwards */
    assert_int_equal(store_forwarder_record(f->st, "tsdb", STORE_DELIVERY_SENT, 3, 0, NULL,
                                            T0 + 4),
                     HO_OK);
    assert_int_equal(store_forwarder_get(f->st, "tsdb", &sf), HO_OK);
    assert_int_equal(sf.delivered_seq, 8);
    assert_int_equal(sf.delivered, 6);
    assert_int_equal(sf.dropped, 2);
    assert_int_equal(sf.failures, 2);
    assert_string_equal(sf.last_error, "HTTP 400: bad");
    assert_int_equal(sf.last_attempt_at_ms, T0 + 4);
    assert_int_equal(sf.last_success_at_ms, T0 + 4);
    assert_int_equal(sf.pending, 2);
    store_forwarder_cleanup(&sf);
    assert_string_equal(store_delivery_str(STORE_DELIVERY_DROPPED), "dropped");
}

static void test_points_store_prune(void **state)
{
    struct fx *f = *state;
    struct store_forwarder sf;
    struct point *p = NULL;
    size_t n = 0, deleted = 0;

    add_stats(f, 1, T0 - 10 * 86400000LL, 5); /* seq 1..5: old */
    add_stats(f, 2, T0, 5);                    /* seq 6..10: recent */
    /* only up to what every forwarder passed (3) */
    assert_int_equal(store_points_prune(f->st, 3, T0 - 86400000LL, 1000, &deleted), HO_OK);
    assert_int_equal(deleted, 3);
    /* in batches */
    assert_int_equal(store_points_prune(f->st, INT64_MAX, T0 - 86400000LL, 1, &deleted), HO_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_points_prune(f->st, INT64_MAX, T0 - 86400000LL, 1000, &deleted),
                     HO_OK);
    assert_int_equal(deleted, 1);
    all_points(f->st, &p, &n);
    assert_int_equal(n, 5);
    assert_int_equal(p[0].seq, 6);
    points_free(p, n);
    /* everything old: the newest point stays, so its seq is never handed out again */
    assert_int_equal(store_points_prune(f->st, INT64_MAX, T0 + 1, 1000, &deleted), HO_OK);
    assert_int_equal(deleted, 4);
    add_stats(f, 3, T0, 1);
    all_points(f->st, &p, &n);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].seq, 10);
    assert_int_equal(p[1].seq, 11);
    points_free(p, n);
    /* pending counts from the oldest point left when delivered_seq is behind it */
    assert_int_equal(store_forwarder_get(f->st, "new", &sf), HO_OK);
    assert_int_equal(sf.pending, 2);
    assert_int_equal(sf.oldest_pending_ms, T0);
    store_forwarder_cleanup(&sf);
}

/* Retention keeps the runs whose outbox rows a forwarder has not passed yet. */
static void test_points_store_retention_keeps_undelivered_runs(void **state)
{
    struct fx *f = *state;
    const struct run *rp;
    enum store_insert res;
    size_t deleted = 0;
    struct run r;
    int k;

    for (k = 0; k < 3; k++) { /* outbox rows 1, 3, 5 with a stat row after each */
        mk_run(&r, RUN_OUTCOME_OK, -1);
        assert_int_equal(crypto_uuid_v7(T0 + k, r.id), HO_OK);
        r.started_at_ms = T0 + k;
        rp = &r;
        assert_int_equal(store_runs_insert(f->st, f->web1, &rp, 1, T0 + 10, &res), HO_OK);
        add_stats(f, k + 1, T0, 1);
        run_cleanup(&r);
    }
    /* every forwarder is past rows 1-2: the first run may go, the others wait */
    assert_int_equal(store_runs_prune(f->st, T0 + 100, 2, 100, &deleted), HO_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_runs_prune(f->st, T0 + 100, 2, 100, &deleted), HO_OK);
    assert_int_equal(deleted, 0);
    /* past everything (or no forwarder at all): the old runs go */
    assert_int_equal(store_runs_prune(f->st, T0 + 100, INT64_MAX, 100, &deleted), HO_OK);
    assert_int_equal(deleted, 2);
}

/*
 * A database of schema 5 (one point row per point, runs without environment and
 * tags) holding a run and its points not yet forwarded; opening it applies 006.
 * The old rows still come out as they were stored, then the runs stored after
 * the upgrade, one outbox row each.
 */
static int setup_schema5(void **state)
{
    static const char uid[] = "019a8f3e-0000-7000-8000-0000000000aa";
    struct fx *f = xcalloc(1, sizeof(*f));
    struct ho_error err;
    sqlite3 *db = NULL;
    char *sql;
    size_t i;

    snprintf(f->dir, sizeof(f->dir), "/tmp/points_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (i = 0; i < schema_migrations_n && schema_migrations[i].version <= 5; i++)
        assert_int_equal(sqlite3_exec(db, schema_migrations[i].sql, NULL, NULL, NULL), SQLITE_OK);
    sql = xasprintf(
        "PRAGMA user_version = 5;"
        "INSERT INTO agents (id, uid, name, enrolled_at) VALUES (1, '%s', 'web1', %lld);"
        "INSERT INTO runs (seq, id, agent, package, check_name, started_at, duration_ms, manual, "
        " interval_s, outcome, received_at) VALUES (1, '019a8f3e-0000-7000-8000-0000000000bb', 1, "
        " 'nginx', 'nginx.running', %lld, 7, 0, 10, 0, %lld);"
        "INSERT INTO points (agent, check_name, name, ts, value, tags) VALUES "
        " (1, 'nginx.running', 'healops.check.outcome', %lld, 0, '{\"node\":\"web1\"}'),"
        " (1, 'nginx.running', 'healops.check.duration_ms', %lld, 7, '{\"node\":\"web1\"}');",
        uid, (long long)T0, (long long)T0, (long long)T0, (long long)T0, (long long)T0);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    snprintf(f->web1, sizeof(f->web1), "%s", uid);
    *state = f;
    return 0;
}

static void test_points_store_upgrade_keeps_old_point_rows(void **state)
{
    struct fx *f = *state;
    struct store_forwarder sf;
    const struct run *rp;
    enum store_insert res;
    struct point *p = NULL;
    struct run r;
    size_t n = 0, i;

    all_points(f->st, &p, &n);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].seq, 1);
    assert_string_equal(p[0].name, POINTS_OUTCOME);
    assert_int_equal(p[1].seq, 2);
    assert_string_equal(p[1].name, POINTS_DURATION);
    assert_true(p[1].value == 7);
    assert_string_equal(points_tag(&p[1], "node"), "web1");
    points_free(p, n);
    mk_run(&r, RUN_OUTCOME_OK, -1);
    assert_int_equal(crypto_uuid_v7(T0 + 5, r.id), HO_OK);
    rp = &r;
    assert_int_equal(store_runs_insert(f->st, f->web1, &rp, 1, T0 + 10, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    assert_int_equal(store_points_after(f->st, 2, 100, &p, &n), HO_OK);
    assert_int_equal(n, 3);
    for (i = 0; i < n; i++) {
        assert_int_equal(p[i].seq, 3);
        assert_string_equal(points_tag(&p[i], "node"), "web1");
    }
    points_free(p, n);
    assert_int_equal(store_forwarder_get(f->st, "tsdb", &sf), HO_OK);
    assert_int_equal(sf.pending, 3); /* two old point rows and the new run's row */
    store_forwarder_cleanup(&sf);
    run_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_points_run_ok),
        cmocka_unit_test(test_points_run_repair_status),
        cmocka_unit_test(test_points_run_server_tags_win),
        cmocka_unit_test(test_points_stats),
        cmocka_unit_test(test_points_tags_json_roundtrip),
        cmocka_unit_test_setup_teardown(test_points_store_runs_same_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_store_stat_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_store_forwarder_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_store_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_points_store_retention_keeps_undelivered_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_points_store_upgrade_keeps_old_point_rows,
                                        setup_schema5, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
