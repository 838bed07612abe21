/*
 * Tests of what the web dashboard asks of the server: the state filters
 * (label, search, stale) and their summary in the store (server/store.h), the
 * ETag / If-None-Match handling (api_etag) and the built-in assets served at "/".
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

#include "api.h"
#include "app.h"
#include "embedded.h"
#include "mem.h"
#include "store.h"
#include "test_db.h"

#define T0  1764000000000LL /* 2025-11-24T16:00:00Z */
#define NOW (T0 + 30000)    /* runs below are at most 30 s old, interval 60 s */

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    char web1[CRYPTO_UUID_LEN], web2[CRYPTO_UUID_LEN], db1[CRYPTO_UUID_LEN], idle[CRYPTO_UUID_LEN];
};

static void enroll(struct store *st, const char *name, const char *labels, int64_t now,
                   char id[CRYPTO_UUID_LEN])
{
    char h[CRYPTO_SHA256_HEX_LEN];

    crypto_sha256_hex(name, strlen(name), h);
    assert_int_equal(store_agent_enroll(st, name, labels, h, now, id), HO_OK);
}

static void insert(struct store *st, const char *agent, const char *package, const char *check,
                   enum run_outcome outcome, int64_t started)
{
    struct run r;
    const struct run *p = &r;
    enum store_insert res;

    memset(&r, 0, sizeof(r));
    assert_int_equal(crypto_uuid_v7(started, r.id), HO_OK);
    r.package = xstrdup(package);
    r.check = xstrdup(check);
    r.started_at_ms = started;
    r.duration_ms = 10;
    r.interval_s = 60;
    r.test.present = 1;
    r.test.status = outcome == RUN_OUTCOME_OK ? TEST_STATUS_OK : TEST_STATUS_CRITICAL;
    r.test.output = xstrdup("out");
    r.outcome = outcome;
    assert_int_equal(store_runs_insert(st, agent, &p, 1, T0, &res), HO_OK);
    assert_int_equal(res, STORE_INSERT_ACCEPTED);
    run_cleanup(&r);
}

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct ho_error err;

    snprintf(f->dir, sizeof(f->dir), "/tmp/dashboard_test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/healops.db", f->dir);
    assert_int_equal(store_open(f->path, &f->st, &err), HO_OK);
    enroll(f->st, "web-1", "{\"role\":\"web\",\"dc\":\"ams\"}", T0, f->web1);
    enroll(f->st, "web-2", "{\"role\":\"web\",\"dc\":\"fra\"}", T0, f->web2);
    enroll(f->st, "db-1", "{\"role\":\"db\",\"dc\":\"ams\"}", T0, f->db1);
    enroll(f->st, "idle", "{\"role\":\"web\"}", T0, f->idle); /* never reports: silent */
    insert(f->st, f->web1, "nginx", "nginx.running", RUN_OUTCOME_OK, T0);
    insert(f->st, f->web1, "nginx", "nginx.port", RUN_OUTCOME_FAILED, T0);
    insert(f->st, f->web1, "base", "disk_free%", RUN_OUTCOME_REPAIRED, T0);
    insert(f->st, f->web2, "nginx", "nginx.running", RUN_OUTCOME_REPAIRED, T0);
    insert(f->st, f->web2, "base", "Disk.Free", RUN_OUTCOME_ERROR, T0);
    insert(f->st, f->db1, "postgres", "pg.running", RUN_OUTCOME_FAILED, T0);
    insert(f->st, f->db1, "base", "old.check", RUN_OUTCOME_OK, T0 - 600000); /* stale */
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

static struct state_query q_all(void)
{
    struct state_query q;

    memset(&q, 0, sizeof(q));
    q.outcome = -1;
    q.limit = STORE_MAX_LIMIT;
    q.now_ms = NOW;
    q.silent_before_ms = NOW - 180000;
    return q;
}

/* "agent/check,agent/check,..." of every state q selects, paged limit at a time. */
static char *list(struct store *st, struct state_query q, size_t limit)
{
    char next[STORE_CURSOR_LEN], cursor[STORE_CURSOR_LEN] = "";
    struct state_row *rows;
    struct ho_error err;
    char *out = xstrdup(""), *t;
    size_t n, i, pages = 0;

    q.limit = limit;
    do {
        q.cursor = cursor[0] != '\0' ? cursor : NULL;
        rows = NULL;
        assert_int_equal(store_state_query(st, &q, &rows, &n, next, &err), HO_OK);
        assert_true(n <= limit);
        for (i = 0; i < n; i++) {
            t = xasprintf("%s%s%s/%s", out, out[0] ? "," : "", rows[i].agent_name, rows[i].check);
            free(out);
            out = t;
        }
        store_state_free(rows, n);
        memcpy(cursor, next, sizeof(cursor));
        assert_true(++pages < 20);
    } while (cursor[0] != '\0');
    return out;
}

static void expect_list(struct store *st, struct state_query q, const char *want)
{
    char *got1 = list(st, q, STORE_MAX_LIMIT), *got2 = list(st, q, 1);

    assert_string_equal(got1, want);
    assert_string_equal(got2, want); /* the same, one row a page */
    free(got1);
    free(got2);
}

static void test_state_label_filter(void **state)
{
    struct fx *f = *state;
    struct state_query q = q_all();

    q.label_key = "role";
    q.label_value = "web";
    expect_list(f->st, q, "web-1/disk_free%,web-1/nginx.port,web-1/nginx.running,"
                          "web-2/Disk.Free,web-2/nginx.running");
    q.label_key = "dc";
    q.label_value = "ams";
    q.outcome = RUN_OUTCOME_FAILED;
    expect_list(f->st, q, "db-1/pg.running,web-1/nginx.port");
    q.label_value = "nowhere";
    expect_list(f->st, q, "");
    q.label_key = "ro\"le";
    {
        struct state_row *rows = NULL;
        char next[STORE_CURSOR_LEN];
        struct ho_error err;
        size_t n;

        assert_int_equal(store_state_query(f->st, &q, &rows, &n, next, &err), HO_EINVAL);
        assert_string_equal(err.field, "label");
    }
}

static void test_state_search_filter(void **state)
{
    struct fx *f = *state;
    struct state_query q = q_all();

    q.search = "PORT"; /* ASCII case-insensitive */
    expect_list(f->st, q, "web-1/nginx.port");
    q.search = "disk.free";
    expect_list(f->st, q, "web-2/Disk.Free");
    q.search = "db-";      /* agent names */
    expect_list(f->st, q, "db-1/old.check,db-1/pg.running");
    q.search = "postgres"; /* packages */
    expect_list(f->st, q, "db-1/pg.running");
    q.search = "free%";    /* LIKE wildcards are literal */
    expect_list(f->st, q, "web-1/disk_free%");
    q.search = "k_f";
    expect_list(f->st, q, "web-1/disk_free%");
    q.search = "_";
    expect_list(f->st, q, "web-1/disk_free%");
    q.search = "nginx";
    q.label_key = "dc";
    q.label_value = "fra";
    expect_list(f->st, q, "web-2/nginx.running");
}

static void test_state_stale_filter(void **state)
{
    struct fx *f = *state;
    struct state_query q = q_all();

    q.stale = 1;
    expect_list(f->st, q, "db-1/old.check");
    q.now_ms = T0 + 200000; /* every run older than 2 x 60 s now */
    q.agent = "web-2";
    expect_list(f->st, q, "web-2/Disk.Free,web-2/nginx.running");
}

static void test_state_summary_matches(void **state)
{
    struct fx *f = *state;
    struct state_query q = q_all();
    struct state_summary s;
    struct ho_error err;
    int have_alerts = 0;
    size_t i;

    for (i = 0; i < schema_migrations_n; i++)
        have_alerts |= strstr(schema_migrations[i].sql, "CREATE TABLE alerts") != NULL;
    assert_int_equal(store_state_summary(f->st, &q, &s, &err), HO_OK);
    assert_int_equal(s.outcomes[RUN_OUTCOME_OK], 2);
    assert_int_equal(s.outcomes[RUN_OUTCOME_REPAIRED], 2);
    assert_int_equal(s.outcomes[RUN_OUTCOME_FAILED], 2);
    assert_int_equal(s.outcomes[RUN_OUTCOME_ERROR], 1);
    assert_int_equal(s.states, 7);
    assert_int_equal(s.stale, 1);
    assert_int_equal(s.agents, 4);
    assert_int_equal(s.agents_silent, 1);
    assert_int_equal(s.nsilent_names, 1);
    assert_string_equal(s.silent_names[0], "idle");
    assert_int_equal(s.alerts_open, have_alerts ? 0 : -1);
    store_state_summary_cleanup(&s);

    q.label_key = "role";
    q.label_value = "web";
    q.search = "nginx";
    assert_int_equal(store_state_summary(f->st, &q, &s, &err), HO_OK);
    assert_int_equal(s.states, 3);
    assert_int_equal(s.outcomes[RUN_OUTCOME_OK], 1);
    assert_int_equal(s.outcomes[RUN_OUTCOME_FAILED], 1);
    assert_int_equal(s.outcomes[RUN_OUTCOME_REPAIRED], 1);
    assert_int_equal(s.agents, 3); /* agents: agent and label filters only */
    assert_int_equal(s.agents_silent, 1);
    store_state_summary_cleanup(&s);

    q = q_all();
    q.agent = "nobody";
    assert_int_equal(store_state_summary(f->st, &q, &s, &err), HO_OK);
    assert_int_equal(s.states, 0);
    assert_int_equal(s.agents, 0);
    store_state_summary_cleanup(&s);
}

/* ---- ETag and assets ---- */

static void test_api_etag_304(void **state)
{
    struct api_request req;
    struct api_response resp;
    char etag[80];

    (void)state;
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    resp.body = xstrdup("{\"a\":1}");
    resp.body_len = strlen(resp.body);
    api_etag(&req, &resp);
    assert_int_equal(resp.status, 200);
    assert_true(resp.etag[0] == '"' && strlen(resp.etag) == 34);
    memcpy(etag, resp.etag, sizeof(etag));
    api_response_cleanup(&resp);

    {
        char inm[3][200];
        size_t i;

        snprintf(inm[0], sizeof(inm[0]), "*");
        snprintf(inm[1], sizeof(inm[1]), "\"x\", W/%s", etag);
        snprintf(inm[2], sizeof(inm[2]), "%s", etag);
        for (i = 0; i < 3; i++) {
            req.if_none_match = inm[i];
            memset(&resp, 0, sizeof(resp));
            resp.status = 200;
            resp.body = xstrdup("{\"a\":1}");
            resp.body_len = strlen(resp.body);
            api_etag(&req, &resp);
            assert_int_equal(resp.status, 304);
            assert_null(resp.body);
            assert_int_equal(resp.body_len, 0);
            assert_string_equal(resp.etag, etag);
            api_response_cleanup(&resp);
        }
    }
    req.if_none_match = "\"other\"";
    memset(&resp, 0, sizeof(resp));
    resp.status = 200;
    resp.body = xstrdup("{\"a\":1}");
    resp.body_len = strlen(resp.body);
    api_etag(&req, &resp);
    assert_int_equal(resp.status, 200);
    api_response_cleanup(&resp);
    /* errors get no ETag */
    req.if_none_match = "*";
    memset(&resp, 0, sizeof(resp));
    api_error(&resp, HO_EINVAL, "x", "bad");
    api_etag(&req, &resp);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.etag, "");
    api_response_cleanup(&resp);
}

static void get(struct app *app, const char *method, const char *path, const char *inm,
                struct api_response *resp)
{
    struct api_request req;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.if_none_match = inm;
    api_handle(app, &req, resp);
}

static void test_assets_served(void **state)
{
    struct fx *f = *state;
    struct app app;
    struct api_response resp;
    char etag[80];

    memset(&app, 0, sizeof(app));
    app.store = f->st;
    get(&app, "GET", "/", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/html; charset=utf-8");
    assert_non_null(resp.static_body);
    assert_non_null(strstr((const char *)resp.static_body, "app.js"));
    assert_string_equal(resp.cache_control, "no-cache");
    memcpy(etag, resp.etag, sizeof(etag));
    api_response_cleanup(&resp);
    get(&app, "HEAD", "/index.html", etag, &resp);
    assert_int_equal(resp.status, 304);
    api_response_cleanup(&resp);
    get(&app, "GET", "/app.js", NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.content_type, "text/javascript; charset=utf-8");
    api_response_cleanup(&resp);
    get(&app, "GET", "/favicon.svg", NULL, &resp);
    assert_string_equal(resp.content_type, "image/svg+xml");
    api_response_cleanup(&resp);
    get(&app, "GET", "/missing.js", NULL, &resp);
    assert_int_equal(resp.status, 404);
    api_response_cleanup(&resp);
    get(&app, "POST", "/", NULL, &resp);
    assert_int_equal(resp.status, 404);
    api_response_cleanup(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_label_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_search_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_stale_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_summary_matches, setup, teardown),
        cmocka_unit_test(test_api_etag_304),
        cmocka_unit_test_setup_teardown(test_assets_served, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
