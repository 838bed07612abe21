/*
 * Unit tests for GET /metrics and GET /api/v1/checks/AGENT/CHECK/series
 * (server/api_metrics.c, server/store_sqlite_read.c) through api_handle,
 * against a real SQLite store in a mkdtemp folder. Runs arrive as agents post
 * them; series come from runs written straight into the runs table by
 * store_read_test_insert_run (one metric each), so a test says exactly which
 * points a check has. The wall clock is fixed.
 */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "api.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "prom.h"
#include "store.h"
#include "store_read.h"

#define NOW  1795528800000LL /* 2026-11-24T14:00:00Z */
#define HOUR 3600000LL

#define TOKEN_READ   "hot_test_read_token"
#define TOKEN_ADMIN  "hot_test_admin_token"
#define TOKEN_ENROLL "hot_test_enroll_token"
#define PROMTOOL     "/usr/bin/promtool"

struct fixture {
    char dir[64];
    char db[128];
    struct app app;
    struct api_request req;
    struct api_response resp;
    char *path_copy;
    char auth[300];
    cJSON *json;
    char agent_id[CRYPTO_UUID_LEN];
    char agent_token[CRYPTO_TOKEN_LEN];
};

static void make_token(struct fixture *fx, enum token_scope scope, const char *text)
{
    char hash[CRYPTO_SHA256_HEX_LEN];
    int64_t id = 0;

    crypto_sha256_hex(text, strlen(text), hash);
    assert_int_equal(store_token_create(fx->app.store, scope, "test", hash, 0, NOW, &id), HO_OK);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    struct ho_error err;

    log_set_level(LOG_LEVEL_ERROR);
    clock_set_wall_override(NOW);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/metrics_test.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->db, sizeof(fx->db), "%s/healops.db", fx->dir);
    ho_error_clear(&err);
    if (store_open(fx->db, &fx->app.store, &err) != HO_OK)
        fail_msg("store_open: %s", err.msg);
    fx->app.cfg.db = fx->db;
    fx->app.cfg.max_body_bytes = 4 * 1024 * 1024;
    fx->app.cfg.max_batch_runs = 1000;
    fx->app.cfg.agent_silent_after = 180;
    fx->app.started_at_ms = NOW - 90500;
    make_token(fx, TOKEN_SCOPE_READ, TOKEN_READ);
    make_token(fx, TOKEN_SCOPE_ADMIN, TOKEN_ADMIN);
    make_token(fx, TOKEN_SCOPE_ENROLL, TOKEN_ENROLL);
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;

    api_response_cleanup(&fx->resp);
    cJSON_Delete(fx->json);
    free(fx->path_copy);
    store_close(fx->app.store);
    nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fx);
    clock_set_wall_override(0);
    return 0;
}

/*
 * Reads a streamed body (api_response body_read) into resp->body as http.c
 * hands it to MHD, in pieces of 1 to 97 bytes so that lines are cut anywhere,
 * and checks it is exactly body_len bytes.
 */
static void read_stream(struct api_response *resp)
{
    size_t len = resp->body_len, o = 0, n, step = 1;
    char *body = xmalloc(len + 1);

    while (o < len) {
        step = step % 97 + 1;
        n = resp->body_read(resp->body_cls, body + o, len - o < step ? len - o : step);
        if (n == 0 || n > step)
            fail_msg("streamed body: %zu bytes at %zu of %zu", n, o, len);
        o += n;
    }
    body[len] = '\0';
    api_response_cleanup(resp); /* frees the stream */
    resp->body = body;
    resp->body_len = len;
}

/*
 * Sends method target (path, then an optional "?k=v&k2=v2" query, already
 * decoded as MHD hands it over) with token (NULL: none) and body. Leaves the
 * response in fx->resp, and its parsed JSON in fx->json when it is JSON.
 */
static void call(struct fixture *fx, const char *method, const char *target, const char *token,
                 const char *body)
{
    char *q, *kv, *amp, *eq;

    api_response_cleanup(&fx->resp);
    cJSON_Delete(fx->json);
    fx->json = NULL;
    free(fx->path_copy);
    memset(&fx->req, 0, sizeof(fx->req));
    fx->path_copy = xstrdup(target);
    q = strchr(fx->path_copy, '?');
    if (q != NULL) {
        *q++ = '\0';
        for (kv = q; kv != NULL; kv = amp) {
            amp = strchr(kv, '&');
            if (amp != NULL)
                *amp++ = '\0';
            eq = strchr(kv, '=');
            if (eq != NULL)
                *eq++ = '\0';
            fx->req.params[fx->req.nparams].key = kv;
            fx->req.params[fx->req.nparams].value = eq != NULL ? eq : "";
            fx->req.nparams++;
        }
    }
    fx->req.method = method;
    fx->req.path = fx->path_copy;
    fx->req.body = body;
    fx->req.body_len = body != NULL ? strlen(body) : 0;
    fx->req.remote_addr = "127.0.0.1";
    if (token != NULL) {
        snprintf(fx->auth, sizeof(fx->auth), "Bearer %s", token);
        fx->req.authorization = fx->auth;
    }
    api_handle(&fx->app, &fx->req, &fx->resp);
    if (fx->resp.body_read != NULL && strcmp(method, "HEAD") != 0)
        read_stream(&fx->resp);
    if (fx->resp.body_read == NULL)
        assert_non_null(fx->resp.body);
    assert_non_null(fx->resp.content_type);
    if (strcmp(fx->resp.content_type, "application/json") == 0) {
        fx->json = cJSON_ParseWithLength(fx->resp.body, fx->resp.body_len);
        if (fx->json == NULL)
            fail_msg("%s %s: body is not JSON: %.200s", method, target, fx->resp.body);
    }
}

static const cJSON *expect_at(int line, struct fixture *fx, int status, const char *method,
                              const char *target, const char *token, const char *body)
{
    call(fx, method, target, token, body);
    if (fx->resp.status != status)
        fail_msg("line %d: %s %s: status %d, want %d: %.300s", line, method, target,
                 fx->resp.status, status, fx->resp.body);
    return fx->json;
}
#define expect(fx, status, ...) expect_at(__LINE__, fx, status, __VA_ARGS__)

/* Checks a JSON error answer naming field (NULL: none). */
static void expect_error_at(int line, struct fixture *fx, int status, const char *target,
                            const char *token, const char *field)
{
    const cJSON *j = expect_at(line, fx, status, "GET", target, token, NULL), *f;

    assert_non_null(j);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    f = cJSON_GetObjectItemCaseSensitive(j, "field");
    if (field == NULL && f != NULL)
        fail_msg("line %d: %s: unexpected field %s", line, target, cJSON_Print(f));
    if (field != NULL && (!cJSON_IsString(f) || strcmp(f->valuestring, field) != 0))
        fail_msg("line %d: %s: field %s, want %s", line, target,
                 cJSON_IsString(f) ? f->valuestring : "(none)", field);
}
#define expect_error(fx, status, target, token, field)                                             \
    expect_error_at(__LINE__, fx, status, target, token, field)

static void enroll(struct fixture *fx, const char *name)
{
    char *body = xasprintf("{\"name\": \"%s\"}", name);
    const cJSON *j;

    j = expect(fx, 201, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, body);
    free(body);
    snprintf(fx->agent_id, sizeof(fx->agent_id), "%s",
             cJSON_GetObjectItemCaseSensitive(j, "agent_id")->valuestring);
    snprintf(fx->agent_token, sizeof(fx->agent_token), "%s",
             cJSON_GetObjectItemCaseSensitive(j, "token")->valuestring);
}

/* Posts one run of check_json (a JSON string literal, escapes included) with the agent token. */
static void post_run(struct fixture *fx, const char *check_json, const char *outcome, int64_t at)
{
    char id[CRYPTO_UUID_LEN], t[CLOCK_RFC3339_LEN], *body;
    int bad = strcmp(outcome, "ok") != 0;
    const cJSON *j;

    assert_int_equal(crypto_uuid_v7(at, id), HO_OK);
    clock_format_rfc3339(at, t);
    body = xasprintf("{\"runs\": [{\"id\": \"%s\", \"package\": \"base\", \"check\": %s, "
                     "\"started_at\": \"%s\", \"duration_ms\": 5, \"manual\": false, "
                     "\"interval\": 300, \"test\": {\"status\": \"%s\", \"exit_code\": %d, "
                     "\"duration_ms\": 3}, \"outcome\": \"%s\"}]}",
                     id, check_json, t, bad ? "critical" : "ok", bad ? 2 : 0, outcome);
    j = expect(fx, 200, "POST", "/api/v1/runs", fx->agent_token, body);
    free(body);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "accepted")->valueint, 1);
}

/* The value on the exposition line that starts with prefix then a space; fails if none. */
static double sample(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);

    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    fail_msg("no sample %s in:\n%s", prefix, text);
    return -1;
}

static size_t count_lines(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = 0;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            n++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return n;
}

/* Runs promtool check metrics on text when the tool is installed. */
static void promtool_check(const struct fixture *fx, const char *text, size_t len)
{
    char path[160], *cmd;
    FILE *fp;
    int rc;

    if (access(PROMTOOL, X_OK) != 0) {
        fprintf(stderr, "metrics_test: %s not installed, lint skipped\n", PROMTOOL);
        return;
    }
    snprintf(path, sizeof(path), "%s/exposition.txt", fx->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
    cmd = xasprintf("%s check metrics < %s >%s.out 2>&1", PROMTOOL, path, path);
    rc = system(cmd);
    free(cmd);
    if (rc != 0) {
        cmd = xasprintf("cat %s.out >&2", path);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot show promtool output\n");
        free(cmd);
        fail_msg("promtool check metrics failed (%d)", rc);
    }
}

static void test_metrics_exposition_lines(void **state)
{
    struct fixture *fx = *state;
    const char *t;

    enroll(fx, "web01");
    post_run(fx, "\"nginx.running\"", "ok", NOW - 60000);
    post_run(fx, "\"disk\\\\root \\\"x\\\"\"", "failed", NOW - 50000); /* disk\root "x" */
    post_run(fx, "\"disk\\\\root \\\"x\\\"\"", "failed", NOW - 40000);
    post_run(fx, "\"old.check\"", "ok", NOW - 3 * HOUR); /* no run for 2 x 300 s: stale */
    post_run(fx, "\"caf\\u00e9/\\u20ac\"", "ok", NOW - 1000);
    clock_set_wall_override(NOW + 100 * 1000);
    enroll(fx, "db01");
    post_run(fx, "\"nginx.running\"", "error", NOW - 500);
    /* web01 was last seen 200 s ago (silent past 180 s), db01 100 s ago */
    clock_set_wall_override(NOW + 200 * 1000);

    expect(fx, 200, "GET", "/metrics", TOKEN_READ, NULL);
    assert_string_equal(fx->resp.content_type, PROM_CONTENT_TYPE);
    assert_int_equal(strlen(fx->resp.body), fx->resp.body_len);
    t = fx->resp.body;
    assert_true(fx->resp.body_len > 0 && t[fx->resp.body_len - 1] == '\n');
    promtool_check(fx, t, fx->resp.body_len);

    assert_true(strstr(t, "healops_build_info{version=\"") != NULL);
    assert_true(sample(t, "healops_start_time_seconds") == (NOW - 90500) / 1000.0);
    assert_true(sample(t, "healops_uptime_seconds") == 290.5);
    assert_true(sample(t, "healops_agents{silent=\"false\"}") == 1);
    assert_true(sample(t, "healops_agents{silent=\"true\"}") == 1);
    assert_true(sample(t, "healops_check_outcome{node=\"web01\",package=\"base\","
                          "check=\"nginx.running\"}") == 0);
    assert_true(sample(t, "healops_check_outcome{node=\"db01\",package=\"base\","
                          "check=\"nginx.running\"}") == 3);
    assert_true(sample(t, "healops_check_outcome{node=\"web01\",package=\"base\","
                          "check=\"disk\\\\root \\\"x\\\"\"}") == 2);
    assert_true(sample(t, "healops_check_consecutive_failures{node=\"web01\",package=\"base\","
                          "check=\"disk\\\\root \\\"x\\\"\"}") == 2);
    assert_true(sample(t, "healops_check_outcome{node=\"web01\",package=\"base\","
                          "check=\"caf\xc3\xa9/\xe2\x82\xac\"}") == 0);
    assert_true(sample(t, "healops_check_last_run_timestamp_seconds{node=\"web01\","
                          "package=\"base\",check=\"nginx.running\"}") == (NOW - 60000) / 1000.0);
    assert_true(sample(t, "healops_check_stale{node=\"web01\",package=\"base\","
                          "check=\"old.check\"}") == 1);
    assert_true(sample(t, "healops_check_stale{node=\"web01\",package=\"base\","
                          "check=\"nginx.running\"}") == 0);
    /* one HELP and one TYPE per family, each family's samples together */
    assert_int_equal(count_lines(t, "# TYPE healops_check_outcome gauge"), 1);
    assert_int_equal(count_lines(t, "# HELP healops_check_outcome "), 1);
    assert_int_equal(count_lines(t, "healops_check_outcome{"), 5);
    assert_int_equal(count_lines(t, "healops_check_stale{"), 5);
    assert_true(strstr(t, "healops_check_outcome{") < strstr(t, "# TYPE healops_check_stale"));
    assert_true(sample(t, "healops_runs_received_total{outcome=\"failed\"}") >= 2);
}

static void test_metrics_auth_and_params(void **state)
{
    struct fixture *fx = *state;

    expect_error(fx, 401, "/metrics", NULL, NULL);
    expect_error(fx, 401, "/metrics", "hot_not_a_token", NULL);
    enroll(fx, "web01");
    expect_error(fx, 403, "/metrics", fx->agent_token, NULL);
    expect_error(fx, 403, "/metrics", TOKEN_ENROLL, NULL);
    expect_error(fx, 400, "/metrics?format=json", TOKEN_READ, "format");
    expect(fx, 200, "HEAD", "/metrics", TOKEN_READ, NULL);
    expect_error(fx, 404, "/metrics/", TOKEN_READ, NULL);
    expect(fx, 200, "GET", "/metrics", TOKEN_ADMIN, NULL);
    /* a fleet without checks is still a valid exposition */
    promtool_check(fx, fx->resp.body, fx->resp.body_len);
}

static void test_metrics_unreadable_db_is_503(void **state)
{
    struct fixture *fx = *state;
    char missing[160];

    snprintf(missing, sizeof(missing), "%s/nope/healops.db", fx->dir);
    fx->app.cfg.db = missing;
    expect_error(fx, 503, "/metrics", TOKEN_READ, NULL);
    expect_error(fx, 503, "/api/v1/checks/a/b/series", TOKEN_READ, NULL);
    fx->app.cfg.db = fx->db;
}

/* --- series --- */

static void point(struct fixture *fx, const char *agent, const char *check, const char *name,
                  int64_t ts, double v)
{
    assert_int_equal(store_read_test_insert_run(fx->db, agent, check, name, ts, v), HO_OK);
}

/* The points array of the last answer as "t=v,t=v" with t in minutes before NOW. */
static void assert_points(const struct fixture *fx, const char *want)
{
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(fx->json, "points"), *p;
    char got[2048] = "", item[64];
    int64_t ms;

    assert_true(cJSON_IsArray(pts));
    cJSON_ArrayForEach (p, pts) {
        assert_int_equal(
            clock_parse_rfc3339(cJSON_GetObjectItemCaseSensitive(p, "t")->valuestring, &ms), HO_OK);
        snprintf(item, sizeof(item), "%s%lld=%g", got[0] ? "," : "",
                 (long long)((NOW - ms) / 60000),
                 cJSON_GetObjectItemCaseSensitive(p, "v")->valuedouble);
        strncat(got, item, sizeof(got) - strlen(got) - 1);
    }
    assert_string_equal(got, want);
}

static int truncated(const struct fixture *fx)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fx->json, "truncated"));
}

static void test_series_window_and_order(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;
    char *target;

    enroll(fx, "web01");
    /* inserted out of order; the answer is oldest first */
    point(fx, "web01", "nginx.running", "nginx.workers", NOW - 60 * 60000, 4);
    point(fx, "web01", "nginx.running", "nginx.workers", NOW - 25 * HOUR, 9); /* too old */
    point(fx, "web01", "nginx.running", "nginx.workers", NOW - 1 * 60000, 2.5);
    point(fx, "web01", "nginx.running", "nginx.workers", NOW - 120 * 60000, 0.1);
    point(fx, "web01", "nginx.running", "other.metric", NOW - 1 * 60000, 77);
    point(fx, "web01", "other.check", "nginx.workers", NOW - 1 * 60000, 88);

    j = expect(fx, 200, "GET", "/api/v1/checks/web01/nginx.running/series?metric=nginx.workers",
               TOKEN_READ, NULL);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "agent")->valuestring, "web01");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "agent_id")->valuestring, fx->agent_id);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "check")->valuestring, "nginx.running");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "metric")->valuestring,
                        "nginx.workers");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "since")->valuestring,
                        "2026-11-23T14:00:00.000Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "until")));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "metrics"));
    assert_points(fx, "120=0.1,60=4,1=2.5");
    assert_false(truncated(fx));
    /* by agent id as well; since inclusive, until exclusive */
    target = xasprintf("/api/v1/checks/%s/nginx.running/series?metric=nginx.workers"
                       "&since=2026-11-24T12:00:00Z&until=2026-11-24T13:59:00Z",
                       fx->agent_id);
    expect(fx, 200, "GET", target, TOKEN_READ, NULL);
    free(target);
    assert_points(fx, "120=0.1,60=4");
    expect(fx, 200, "GET",
           "/api/v1/checks/web01/nginx.running/series?metric=nginx.workers"
           "&since=2026-11-22T00:00:00Z",
           TOKEN_ADMIN, NULL);
    assert_points(fx, "1500=9,120=0.1,60=4,1=2.5");
    /* until alone moves the default window (24 h) with it */
    expect(fx, 200, "GET",
           "/api/v1/checks/web01/nginx.running/series?metric=nginx.workers"
           "&until=2026-11-24T13:00:00Z",
           TOKEN_READ, NULL);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fx->json, "since")->valuestring,
                        "2026-11-23T13:00:00.000Z");
    assert_points(fx, "1500=9,120=0.1");
}

static void test_series_limit_keeps_newest(void **state)
{
    struct fixture *fx = *state;
    int i;

    enroll(fx, "web01");
    for (i = 1; i <= 10; i++)
        point(fx, "web01", "c", "m", NOW - i * 60000, i);
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?metric=m&limit=3", TOKEN_READ, NULL);
    assert_points(fx, "3=3,2=2,1=1");
    assert_true(truncated(fx));
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?metric=m&limit=10", TOKEN_READ, NULL);
    assert_points(fx, "10=10,9=9,8=8,7=7,6=6,5=5,4=4,3=3,2=2,1=1");
    assert_false(truncated(fx));
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?metric=m&limit=10000", TOKEN_READ, NULL);
    assert_false(truncated(fx));
    /* the run's own figures are series too, read from the same runs */
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?metric=healops.check.outcome&limit=2",
           TOKEN_READ, NULL);
    assert_points(fx, "2=0,1=0");
    assert_true(truncated(fx));
    /* no metric named: several, so they are listed and no points answered */
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?limit=2", TOKEN_READ, NULL);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(fx->json, "metric")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(fx->json, "metrics")), 3);
    assert_points(fx, "");
}

static void test_series_lists_metrics_when_several(void **state)
{
    struct fixture *fx = *state;
    const cJSON *names;

    enroll(fx, "web01");
    point(fx, "web01", "disk/root", "used \"pct\"", NOW - 60000, 40);
    point(fx, "web01", "disk/root", "free.bytes", NOW - 60000, 1e12);
    point(fx, "web01", "disk/root", "free.bytes", NOW - 50000, 2e12);
    point(fx, "web01", "disk/root", "inodes", NOW - 60000, 5);
    expect(fx, 200, "GET", "/api/v1/checks/web01/disk/root/series", TOKEN_READ, NULL);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(fx->json, "metric")));
    names = cJSON_GetObjectItemCaseSensitive(fx->json, "metrics");
    assert_int_equal(cJSON_GetArraySize(names), 5);
    assert_string_equal(cJSON_GetArrayItem(names, 0)->valuestring, "free.bytes");
    assert_string_equal(cJSON_GetArrayItem(names, 1)->valuestring, "healops.check.duration_ms");
    assert_string_equal(cJSON_GetArrayItem(names, 2)->valuestring, "healops.check.outcome");
    assert_string_equal(cJSON_GetArrayItem(names, 3)->valuestring, "inodes");
    assert_string_equal(cJSON_GetArrayItem(names, 4)->valuestring, "used \"pct\"");
    assert_points(fx, "");
    assert_false(truncated(fx));
    /* a check name holding '/' and a metric needing JSON escapes */
    expect(fx, 200, "GET", "/api/v1/checks/web01/disk/root/series?metric=used \"pct\"", TOKEN_READ,
           NULL);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fx->json, "check")->valuestring,
                        "disk/root");
    assert_points(fx, "1=40");
    expect(fx, 200, "GET", "/api/v1/checks/web01/disk/root/series?metric=free.bytes", TOKEN_READ,
           NULL);
    assert_points(fx, "1=1e+12,0=2e+12");
}

static void test_series_unknown_is_404(void **state)
{
    struct fixture *fx = *state;

    enroll(fx, "web01");
    post_run(fx, "\"nginx.running\"", "ok", NOW - 60000); /* a check with state */
    point(fx, "web01", "c", "m", NOW - 60000, 1);
    expect_error(fx, 404, "/api/v1/checks/nobody/c/series", TOKEN_READ, "agent");
    expect_error(fx, 404, "/api/v1/checks/web01/nope/series", TOKEN_READ, "check");
    expect_error(fx, 404, "/api/v1/checks/web01/c/series?metric=nope", TOKEN_READ, "metric");
    /* a known check whose points are out of the window is no error */
    expect(fx, 200, "GET", "/api/v1/checks/web01/c/series?metric=m&since=2026-11-24T13:59:30Z",
           TOKEN_READ, NULL);
    assert_points(fx, "");
    /* a check known by its state answers even without points of the metric asked */
    expect(fx, 200, "GET", "/api/v1/checks/web01/nginx.running/series", TOKEN_READ, NULL);
}

static void test_series_bad_input_is_400(void **state)
{
    struct fixture *fx = *state;
    char longcheck[400], *target;

    enroll(fx, "web01");
    point(fx, "web01", "c", "m", NOW - 60000, 1);
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?limit=0", TOKEN_READ, "limit");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?limit=10001", TOKEN_READ, "limit");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?limit=ten", TOKEN_READ, "limit");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?since=yesterday", TOKEN_READ, "since");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?until=2026-13-01T00:00:00Z", TOKEN_READ,
                 "until");
    expect_error(fx, 400,
                 "/api/v1/checks/web01/c/series?since=2026-11-24T12:00:00Z"
                 "&until=2026-11-24T12:00:00Z",
                 TOKEN_READ, "until");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?metric=", TOKEN_READ, "metric");
    expect_error(fx, 400, "/api/v1/checks/web01/c/series?agent=x", TOKEN_READ, "agent");
    expect_error(fx, 400, "/api/v1/checks//c/series", TOKEN_READ, "agent");
    expect_error(fx, 400, "/api/v1/checks/web01/\x01/series", TOKEN_READ, "check");
    expect_error(fx, 400, "/api/v1/checks/web01//series", TOKEN_READ, "check");
    memset(longcheck, 'c', sizeof(longcheck) - 1);
    longcheck[sizeof(longcheck) - 1] = '\0';
    target = xasprintf("/api/v1/checks/web01/%s/series", longcheck);
    expect_error(fx, 400, target, TOKEN_READ, "check");
    free(target);
    expect_error(fx, 400, "/api/v1/checks/web01/series", TOKEN_READ, "check");
    expect_error(fx, 404, "/api/v1/checks/web01/c/graph", TOKEN_READ, NULL);
    expect_error(fx, 401, "/api/v1/checks/web01/c/series", NULL, NULL);
    expect_error(fx, 403, "/api/v1/checks/web01/c/series", fx->agent_token, NULL);
}

static void test_series_invalid_utf8_stays_json(void **state)
{
    struct fixture *fx = *state;

    enroll(fx, "web01");
    point(fx, "web01", "bad\xff", "m\xc3", NOW - 60000, 1);
    point(fx, "web01", "bad\xff", "ok", NOW - 60000, 1);
    /* the body must parse as JSON: call() fails the test when it does not */
    expect(fx, 200, "GET", "/api/v1/checks/web01/bad\xff/series", TOKEN_READ, NULL);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fx->json, "check")->valuestring,
                        "bad\xef\xbf\xbd");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_metrics_exposition_lines),       T(test_metrics_auth_and_params),
        T(test_metrics_unreadable_db_is_503),   T(test_series_window_and_order),
        T(test_series_limit_keeps_newest),      T(test_series_lists_metrics_when_several),
        T(test_series_unknown_is_404),          T(test_series_bad_input_is_400),
        T(test_series_invalid_utf8_stays_json),
    };

    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
