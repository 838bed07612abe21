/*
 * Unit tests for server/api*.c through api_handle, against a real SQLite store
 * in a mkdtemp folder. Tokens are made directly in the store (by the SHA-256 of
 * their text); requests are api_request records, response bodies are parsed
 * with cJSON. The wall clock is fixed with clock_set_wall_override.
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
#include "store.h"
#include "store_alerts.h"

#define T0  1795528800000LL /* 2026-11-24T14:00:00Z: runs start from here */
#define NOW (T0 + 3600000LL)  /* the server's wall clock during a test */

#define TOKEN_ADMIN  "hot_test_admin_token"
#define TOKEN_READ   "hot_test_read_token"
#define TOKEN_ENROLL "hot_test_enroll_token"

struct fixture {
    char dir[64];
    struct app app;
    struct api_request req;
    struct api_response resp;
    char *path_copy;           /* path and query of the last request, split in place */
    char auth[300];
    cJSON *json;               /* parsed body of the last response */
    char agent_id[CRYPTO_UUID_LEN];
    char agent_token[CRYPTO_TOKEN_LEN];
};

static void make_token(struct fixture *fx, enum token_scope scope, const char *text)
{
    char hash[CRYPTO_SHA256_HEX_LEN];
    int64_t id = 0;

    crypto_sha256_hex(text, strlen(text), hash);
    assert_int_equal(store_token_create(fx->app.store, scope, "test", hash, 0, NOW, &id), HO_OK);
    assert_true(id > 0);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    struct ho_error err;
    char *db;

    log_set_level(LOG_LEVEL_ERROR);
    clock_set_wall_override(NOW);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/api_test.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    db = xasprintf("%s/healops.db", fx->dir);
    ho_error_clear(&err);
    if (store_open(db, &fx->app.store, &err) != HO_OK)
        fail_msg("store_open: %s", err.msg);
    free(db);
    fx->app.cfg.max_body_bytes = 4 * 1024 * 1024;
    fx->app.cfg.max_batch_runs = 1000;
    fx->app.cfg.agent_silent_after = 180;
    fx->app.started_at_ms = NOW;
    make_token(fx, TOKEN_SCOPE_ADMIN, TOKEN_ADMIN);
    make_token(fx, TOKEN_SCOPE_READ, TOKEN_READ);
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
 * Sends method target (path with an optional "?k=v&k2=v2" query) with token
 * (NULL: no Authorization header) and body (may be NULL). Returns the parsed
 * JSON body (owned by the fixture, valid until the next call); fails the test
 * when the body is not JSON.
 */
static cJSON *call(struct fixture *fx, const char *method, const char *target, const char *token,
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
            assert_true(fx->req.nparams < API_MAX_PARAMS);
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
    assert_non_null(fx->resp.body);
    assert_non_null(fx->resp.content_type);
    assert_string_equal(fx->resp.content_type, "application/json");
    fx->json = cJSON_ParseWithLength(fx->resp.body, fx->resp.body_len);
    if (fx->json == NULL)
        fail_msg("%s %s: body is not JSON: %.200s", method, target, fx->resp.body);
    return fx->json;
}

/* Like call, and checks the status (printing the body when it differs). */
static cJSON *expect_at(int line, struct fixture *fx, int status, const char *method,
                        const char *target, const char *token, const char *body)
{
    cJSON *j = call(fx, method, target, token, body);

    if (fx->resp.status != status)
        fail_msg("line %d: %s %s: status %d, want %d: %.300s", line, method, target,
                 fx->resp.status, status, fx->resp.body);
    return j;
}
#define expect(fx, status, ...) expect_at(__LINE__, fx, status, __VA_ARGS__)

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsString(v))
        fail_msg("\"%s\" is not a string", key);
    return v->valuestring;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v))
        fail_msg("\"%s\" is not a number", key);
    return v->valuedouble;
}

static const cJSON *jarr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsArray(v))
        fail_msg("\"%s\" is not an array", key);
    return v;
}

/* Checks a JSON error body: {"error": "...", "field": field} (field NULL: none). */
static void assert_error_body(const cJSON *j, const char *field)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "field");

    assert_true(strlen(jstr(j, "error")) > 0);
    if (field == NULL) {
        assert_null(f);
    } else {
        if (!cJSON_IsString(f))
            fail_msg("error body has no field, want \"%s\"", field);
        assert_string_equal(f->valuestring, field);
    }
}

/* Enrolls agent name with the enroll token; keeps its id and token in the fixture. */
static void enroll(struct fixture *fx, const char *name)
{
    char *body = xasprintf("{\"name\": \"%s\", \"labels\": {\"role\": \"web\"}}", name);
    const cJSON *j;

    j = expect(fx, 201, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, body);
    free(body);
    snprintf(fx->agent_id, sizeof(fx->agent_id), "%s", jstr(j, "agent_id"));
    snprintf(fx->agent_token, sizeof(fx->agent_token), "%s", jstr(j, "token"));
}

/* --- runs, built by hand as DESIGN.md section 5 shows them --- */

enum kind { K_OK, K_REPAIRED, K_FAILED, K_SUPPRESSED, K_WARNING, K_BAD_STATUS };

struct rspec {
    const char *check;
    int64_t at; /* started_at */
    enum kind kind;
    int manual;
    char id[CRYPTO_UUID_LEN];
};

/* Gives r a fresh UUIDv7 id for its started_at. */
static void rspec_id(struct rspec *r)
{
    assert_int_equal(crypto_uuid_v7(r->at, r->id), HO_OK);
}

static void append_run(struct buf *b, const struct rspec *r)
{
    static const char *const steps[] = {
        [K_OK] = "\"test\": {\"status\": \"ok\", \"exit_code\": 0, \"output\": \"4 workers\","
                 " \"duration_ms\": 31}, \"outcome\": \"ok\"",
        [K_REPAIRED] = "\"test\": {\"status\": \"critical\", \"exit_code\": 2, \"output\": \"2 "
                       "workers\", \"duration_ms\": 31}, \"repair\": {\"status\": \"succeeded\", "
                       "\"exit_code\": 0, \"output\": \"restarted\", \"duration_ms\": 2050}, "
                       "\"retest\": {\"status\": \"ok\", \"exit_code\": 0, \"output\": \"4 "
                       "workers\", \"duration_ms\": 28}, \"outcome\": \"repaired\"",
        [K_FAILED] = "\"test\": {\"status\": \"critical\", \"exit_code\": 2, \"duration_ms\": 3},"
                     " \"repair\": {\"status\": \"failed\", \"exit_code\": 1, \"duration_ms\": 9},"
                     " \"retest\": {\"status\": \"critical\", \"exit_code\": 2, \"duration_ms\": "
                     "3}, \"outcome\": \"failed\"",
        [K_SUPPRESSED] = "\"test\": {\"status\": \"critical\", \"exit_code\": 2, \"duration_ms\": "
                         "3}, \"repair\": {\"status\": \"suppressed\", \"output\": \"loop "
                         "guard\", \"duration_ms\": 0}, \"outcome\": \"failed\"",
        [K_WARNING] = "\"test\": {\"status\": \"warning\", \"exit_code\": 1, \"duration_ms\": 3},"
                      " \"outcome\": \"failed\"",
        [K_BAD_STATUS] = "\"test\": {\"status\": \"broken\", \"exit_code\": 2, \"duration_ms\": "
                         "3}, \"outcome\": \"failed\"",
    };
    char at[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(r->at, at);
    assert_int_equal(
        buf_printf(b,
                   "{\"id\": \"%s\", \"package\": \"nginx\", \"version\": \"1.4.0\", "
                   "\"check\": \"%s\", \"started_at\": \"%s\", \"duration_ms\": 2140, "
                   "\"manual\": %s%s, \"interval\": 60, %s, "
                   "\"metrics\": [{\"name\": \"nginx.workers\", \"value\": 4, \"tags\": {}}]}",
                   r->id, r->check, at, r->manual ? "true" : "false",
                   r->manual ? ", \"operator\": \"alice\"" : "", steps[r->kind]),
        HO_OK);
}

/* Returns a new {"runs": [...]} text of the n runs (caller frees). */
static char *batch(const struct rspec *runs, size_t n)
{
    struct buf b;
    size_t i;

    buf_init(&b, 1 << 22);
    assert_int_equal(buf_appends(&b, "{\"runs\": ["), HO_OK);
    for (i = 0; i < n; i++) {
        if (i > 0)
            assert_int_equal(buf_appends(&b, ", "), HO_OK);
        append_run(&b, &runs[i]);
    }
    assert_int_equal(buf_appends(&b, "]}"), HO_OK);
    return buf_take(&b);
}

/* Posts the runs with the fixture's agent token; checks 200 and the counts. */
static const cJSON *post_runs(struct fixture *fx, const struct rspec *runs, size_t n, int accepted,
                              int duplicates, int rejected)
{
    char *body = batch(runs, n);
    const cJSON *j;

    j = expect(fx, 200, "POST", "/api/v1/runs", fx->agent_token, body);
    free(body);
    assert_int_equal((int)jnum(j, "accepted"), accepted);
    assert_int_equal((int)jnum(j, "duplicates"), duplicates);
    assert_int_equal(cJSON_GetArraySize(jarr(j, "rejected")), rejected);
    return j;
}

/* GET target with the read token; returns the "runs" array after checking 200. */
static const cJSON *get_runs(struct fixture *fx, const char *target)
{
    const cJSON *j = expect(fx, 200, "GET", target, TOKEN_READ, NULL);

    return jarr(j, "runs");
}

/* Checks that the runs array holds exactly the ids of want[], in that order. */
static void assert_run_ids(const cJSON *runs, const struct rspec *const *want, size_t n)
{
    size_t i;

    if ((size_t)cJSON_GetArraySize(runs) != n) {
        char *t = cJSON_PrintUnformatted(runs), shown[700];

        snprintf(shown, sizeof(shown), "%s", t);
        cJSON_free(t);
        fail_msg("%d runs, want %zu: %s", cJSON_GetArraySize(runs), n, shown);
    }
    for (i = 0; i < n; i++)
        assert_string_equal(jstr(cJSON_GetArrayItem(runs, (int)i), "id"), want[i]->id);
}

/*
 * The fleet history most query tests use: agent web-1 (the fixture's agent
 * at the end) and db-1.
 */
enum { R1, R2, R3, R4, R5, R6, NSEED };

static void seed(struct fixture *fx, struct rspec *r)
{
    struct rspec db[1];
    char web_token[CRYPTO_TOKEN_LEN];
    char web_id[CRYPTO_UUID_LEN];

    r[R1] = (struct rspec){"nginx.running", T0, K_OK, 0, ""};
    r[R2] = (struct rspec){"nginx.running", T0 + 60000, K_REPAIRED, 0, ""};
    r[R3] = (struct rspec){"nginx.port", T0 + 120000, K_FAILED, 0, ""};
    r[R4] = (struct rspec){"nginx.running", T0 + 180000, K_SUPPRESSED, 0, ""};
    r[R5] = (struct rspec){"nginx.port", T0 + 240000, K_OK, 1, ""};
    r[R6] = (struct rspec){"pg.running", T0 + 90000, K_REPAIRED, 0, ""};
    for (size_t i = 0; i < NSEED; i++)
        rspec_id(&r[i]);
    enroll(fx, "web-1");
    memcpy(web_token, fx->agent_token, sizeof(web_token));
    memcpy(web_id, fx->agent_id, sizeof(web_id));
    post_runs(fx, r, 5, 5, 0, 0);
    enroll(fx, "db-1");
    db[0] = r[R6];
    post_runs(fx, db, 1, 1, 0, 0);
    memcpy(fx->agent_token, web_token, sizeof(web_token));
    memcpy(fx->agent_id, web_id, sizeof(web_id));
}

/* ---------------------------------------------------------------- tests */

static void test_api_healthz_without_token(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    j = expect(fx, 200, "GET", "/healthz", NULL, NULL);
    assert_string_equal(jstr(j, "status"), "ok");
    j = expect(fx, 200, "GET", "/readyz", NULL, NULL);
    assert_string_equal(jstr(j, "status"), "ready");
}

static void test_api_runs_without_token_401(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    j = expect(fx, 401, "GET", "/api/v1/runs", NULL, NULL);
    assert_error_body(j, NULL);
    j = expect(fx, 401, "GET", "/api/v1/runs", "hot_not_a_known_token", NULL);
    assert_error_body(j, NULL);
    /* not a bearer token */
    fx->req.authorization = "Basic dXNlcjpwdw==";
    memset(&fx->req.params, 0, sizeof(fx->req.params));
    api_response_cleanup(&fx->resp);
    api_handle(&fx->app, &fx->req, &fx->resp);
    assert_int_equal(fx->resp.status, 401);
    j = expect(fx, 401, "GET", "/api/v1/state", NULL, NULL);
    j = expect(fx, 401, "POST", "/api/v1/runs", NULL, "{\"runs\": []}");
    j = expect(fx, 401, "POST", "/api/v1/agents/enroll", NULL, "{\"name\": \"x\"}");
}

static void test_api_wrong_scope_403(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    j = expect(fx, 403, "GET", "/api/v1/runs", TOKEN_ENROLL, NULL);
    assert_error_body(j, NULL);
    enroll(fx, "web-1");
    expect(fx, 403, "GET", "/api/v1/runs", fx->agent_token, NULL);
    expect(fx, 403, "POST", "/api/v1/runs", TOKEN_READ, "{\"runs\": []}");
    expect(fx, 403, "POST", "/api/v1/runs", TOKEN_ADMIN, "{\"runs\": []}");
    expect(fx, 403, "POST", "/api/v1/tokens", TOKEN_READ, "{\"scope\": \"read\"}");
    expect(fx, 403, "POST", "/api/v1/agents/enroll", TOKEN_READ, "{\"name\": \"x\"}");
    expect(fx, 403, "POST", "/api/v1/agents/enroll", fx->agent_token, "{\"name\": \"x\"}");
}

static void test_api_enroll_returns_agent_id_and_token(void **state)
{
    struct fixture *fx = *state;
    char first_id[CRYPTO_UUID_LEN], first_token[CRYPTO_TOKEN_LEN];
    const cJSON *j;

    j = expect(fx, 201, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL,
               "{\"name\": \"web-1\", \"labels\": {\"role\": \"web\", \"dc\": \"fra1\"}}");
    assert_true(crypto_uuid_valid(jstr(j, "agent_id")));
    assert_string_equal(jstr(j, "name"), "web-1");
    assert_int_equal(strlen(jstr(j, "token")), CRYPTO_TOKEN_LEN - 1);
    assert_memory_equal(jstr(j, "token"), "hot_", 4);
    snprintf(first_id, sizeof(first_id), "%s", jstr(j, "agent_id"));
    snprintf(first_token, sizeof(first_token), "%s", jstr(j, "token"));
    /* the new token is an agent token */
    expect(fx, 200, "POST", "/api/v1/agents/heartbeat", first_token, "{\"spool_depth\": 0}");
    /* the agent is listed with its labels */
    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_string_equal(jstr(j, "agent_id"), first_id);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(j, "labels"), "dc"), "fra1");

    /* enrolling the same name again keeps the id and replaces the token */
    enroll(fx, "web-1");
    assert_string_equal(fx->agent_id, first_id);
    assert_string_not_equal(fx->agent_token, first_token);
    expect(fx, 401, "POST", "/api/v1/agents/heartbeat", first_token, "{\"spool_depth\": 0}");
    expect(fx, 200, "POST", "/api/v1/agents/heartbeat", fx->agent_token, "{\"spool_depth\": 0}");
}

static void test_api_enroll_bad_input_400(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    j = expect(fx, 400, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, "{\"name\": \"-bad\"}");
    assert_error_body(j, "name");
    j = expect(fx, 400, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, "{\"labels\": {}}");
    assert_error_body(j, "name");
    j = expect(fx, 400, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL,
               "{\"name\": \"web-1\", \"labels\": {\"role\": 1}}");
    assert_error_body(j, "labels.role");
    j = expect(fx, 400, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, "not json");
    assert_error_body(j, NULL);
    expect(fx, 400, "POST", "/api/v1/agents/enroll", TOKEN_ENROLL, NULL);
    /* nothing was enrolled */
    j = expect(fx, 200, "GET", "/api/v1/agents", TOKEN_READ, NULL);
    assert_int_equal(cJSON_GetArraySize(jarr(j, "agents")), 0);
}

static void test_api_runs_post_batch_accepted(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[3] = {{"nginx.running", T0, K_OK, 0, ""},
                         {"nginx.running", T0 + 60000, K_REPAIRED, 0, ""},
                         {"nginx.port", T0 + 120000, K_FAILED, 0, ""}};
    const struct rspec *want[3] = {&r[2], &r[1], &r[0]};
    const cJSON *runs, *run;

    rspec_id(&r[0]);
    rspec_id(&r[1]);
    rspec_id(&r[2]);
    enroll(fx, "web-1");
    post_runs(fx, r, 3, 3, 0, 0);
    runs = get_runs(fx, "/api/v1/runs");
    assert_run_ids(runs, want, 3); /* newest first */
    /* what was stored is what was sent, plus the agent */
    run = cJSON_GetArrayItem(runs, 1);
    assert_string_equal(jstr(run, "outcome"), "repaired");
    assert_string_equal(jstr(run, "check"), "nginx.running");
    assert_string_equal(jstr(run, "package"), "nginx");
    assert_string_equal(jstr(run, "started_at"), "2026-11-24T14:01:00.000Z");
    assert_string_equal(jstr(run, "agent"), "web-1");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(run, "repair"), "status"),
                        "succeeded");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(run, "retest"), "status"), "ok");
    assert_int_equal(cJSON_GetArraySize(jarr(run, "metrics")), 1);
}

static void test_api_runs_post_same_batch_is_duplicates(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[3] = {{"nginx.running", T0, K_OK, 0, ""},
                         {"nginx.running", T0 + 60000, K_REPAIRED, 0, ""},
                         {"nginx.port", T0 + 120000, K_FAILED, 0, ""}};
    const cJSON *j;

    rspec_id(&r[0]);
    rspec_id(&r[1]);
    rspec_id(&r[2]);
    enroll(fx, "web-1");
    post_runs(fx, r, 3, 3, 0, 0);
    post_runs(fx, r, 3, 0, 3, 0);
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs")), 3);
    /* a duplicate does not count as one more failure */
    j = expect(fx, 200, "GET", "/api/v1/state?check=nginx.port", TOKEN_READ, NULL);
    assert_int_equal((int)jnum(cJSON_GetArrayItem(jarr(j, "states"), 0), "consecutive_failures"),
                     1);
    /* a batch mixing one new run with the old ones */
    r[0].at = T0 + 180000;
    rspec_id(&r[0]);
    post_runs(fx, r, 3, 1, 2, 0);
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs")), 4);
}

static void test_api_runs_post_one_bad_run_rejected(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[3] = {{"nginx.running", T0, K_OK, 0, ""},
                         {"nginx.running", T0 + 60000, K_BAD_STATUS, 0, ""},
                         {"nginx.port", T0 + 120000, K_FAILED, 0, ""}};
    const struct rspec *want[2] = {&r[2], &r[0]};
    const cJSON *j, *rej;

    rspec_id(&r[0]);
    rspec_id(&r[1]);
    rspec_id(&r[2]);
    enroll(fx, "web-1");
    j = post_runs(fx, r, 3, 2, 0, 1);
    rej = cJSON_GetArrayItem(jarr(j, "rejected"), 0);
    assert_int_equal((int)jnum(rej, "index"), 1);
    assert_string_equal(jstr(rej, "field"), "test.status");
    assert_true(strlen(jstr(rej, "error")) > 0);
    assert_run_ids(get_runs(fx, "/api/v1/runs"), want, 2);
}

static void test_api_runs_post_malformed_json_400(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[1] = {{"nginx.running", T0, K_OK, 0, ""}};
    char *good, *cut;
    const cJSON *j;

    rspec_id(&r[0]);
    enroll(fx, "web-1");
    good = batch(r, 1);
    cut = xstrndup(good, strlen(good) - 3); /* truncated in the middle */
    j = expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, cut);
    assert_error_body(j, NULL);
    free(cut);
    cut = xasprintf("%s junk", good); /* data after the envelope */
    expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, cut);
    free(cut);
    free(good);
    expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, "");
    expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, NULL);
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs")), 0);
}

static void test_api_runs_post_runs_not_array_400(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    enroll(fx, "web-1");
    j = expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, "{\"runs\": {}}");
    assert_error_body(j, "runs");
    j = expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, "{\"runs\": \"x\"}");
    assert_error_body(j, "runs");
    j = expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, "{\"run\": []}");
    assert_error_body(j, "runs");
    j = expect(fx, 400, "POST", "/api/v1/runs", fx->agent_token, "[]");
    assert_error_body(j, NULL);
    /* an empty batch is fine */
    j = expect(fx, 200, "POST", "/api/v1/runs", fx->agent_token, "{\"runs\": []}");
    assert_int_equal((int)jnum(j, "accepted"), 0);
}

static void test_api_runs_post_too_many_runs_413(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[3] = {{"a.b", T0, K_OK, 0, ""},
                         {"a.b", T0 + 1, K_OK, 0, ""},
                         {"a.b", T0 + 2, K_OK, 0, ""}};
    char *body;
    const cJSON *j;

    rspec_id(&r[0]);
    rspec_id(&r[1]);
    rspec_id(&r[2]);
    enroll(fx, "web-1");
    fx->app.cfg.max_batch_runs = 2;
    body = batch(r, 3);
    j = expect(fx, 413, "POST", "/api/v1/runs", fx->agent_token, body);
    free(body);
    assert_error_body(j, "runs");
    post_runs(fx, r, 2, 2, 0, 0);
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs")), 2);
}

static void test_api_runs_get_filters(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[NSEED];
    const cJSON *runs;
    char *target;

    seed(fx, r);
    {
        const struct rspec *want[] = {&r[R5], &r[R4], &r[R3], &r[R6], &r[R2], &r[R1]};
        assert_run_ids(get_runs(fx, "/api/v1/runs"), want, 6);
    }
    {
        const struct rspec *want[] = {&r[R6], &r[R2]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?outcome=repaired"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R4], &r[R3]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?outcome=failed"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R5], &r[R1]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?outcome=ok"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R5], &r[R3]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?check=nginx.port"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R5], &r[R4], &r[R3], &r[R2], &r[R1]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?agent=web-1"), want, 5);
        /* by id as well as by name */
        target = xasprintf("/api/v1/runs?agent=%s", fx->agent_id);
        assert_run_ids(get_runs(fx, target), want, 5);
        free(target);
    }
    {
        const struct rspec *want[] = {&r[R6]};
        runs = get_runs(fx, "/api/v1/runs?agent=db-1");
        assert_run_ids(runs, want, 1);
        assert_string_equal(jstr(cJSON_GetArrayItem(runs, 0), "agent"), "db-1");
    }
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs?agent=nobody")), 0);
    {
        /* since inclusive, until exclusive */
        const struct rspec *want[] = {&r[R3], &r[R6], &r[R2]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?since=2026-11-24T14:01:00Z"
                                    "&until=2026-11-24T14:03:00Z"),
                       want, 3);
    }
    {
        /* parameters arrive decoded: "+01:00" is an offset */
        const struct rspec *want[] = {&r[R5], &r[R4]};
        assert_run_ids(get_runs(fx, "/api/v1/runs?since=2026-11-24T15:03:00+01:00"), want, 2);
        assert_run_ids(get_runs(fx, "/api/v1/runs?since=2026-11-24T14:03:00.000Z"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R5]};
        runs = get_runs(fx, "/api/v1/runs?manual=true");
        assert_run_ids(runs, want, 1);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, 0),
                                                                  "manual")));
        assert_string_equal(jstr(cJSON_GetArrayItem(runs, 0), "operator"), "alice");
        assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs?manual=false")), 5);
    }
    {
        const struct rspec *want[] = {&r[R4]};
        assert_run_ids(
            get_runs(fx, "/api/v1/runs?agent=web-1&outcome=failed&check=nginx.running"), want,
            1);
    }
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs?package=nginx")), 6);
    assert_int_equal(cJSON_GetArraySize(get_runs(fx, "/api/v1/runs?package=postgres")), 0);
}

/* Pages through target (which has a limit) and checks the ids come as want[]. */
static void page_all(struct fixture *fx, const char *target, size_t per_page,
                     const struct rspec *const *want, size_t n)
{
    char cursor[STORE_CURSOR_LEN + 1] = "";
    const cJSON *j, *runs, *next;
    size_t seen = 0, pages = 0;
    char *t;
    int i;

    for (;;) {
        if (cursor[0] != '\0')
            t = xasprintf("%s&cursor=%s", target, cursor);
        else
            t = xstrdup(target);
        j = expect(fx, 200, "GET", t, TOKEN_READ, NULL);
        free(t);
        runs = jarr(j, "runs");
        pages++;
        assert_true((size_t)cJSON_GetArraySize(runs) <= per_page);
        for (i = 0; i < cJSON_GetArraySize(runs); i++) {
            assert_true(seen < n);
            assert_string_equal(jstr(cJSON_GetArrayItem(runs, i), "id"), want[seen]->id);
            seen++;
        }
        next = cJSON_GetObjectItemCaseSensitive(j, "next_cursor");
        assert_non_null(next);
        if (cJSON_IsNull(next))
            break;
        assert_true(cJSON_IsString(next));
        assert_true(strlen(next->valuestring) > 0);
        assert_true(strlen(next->valuestring) < sizeof(cursor));
        /* a cursor is only handed out when there is more */
        assert_int_equal(cJSON_GetArraySize(runs), (int)per_page);
        snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
        assert_true(pages < 10);
    }
    assert_int_equal(seen, n);
    assert_int_equal(pages, (n + per_page - 1) / per_page);
}

static void test_api_runs_get_paging(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[NSEED];

    seed(fx, r);
    {
        const struct rspec *want[] = {&r[R5], &r[R4], &r[R3], &r[R6], &r[R2], &r[R1]};
        page_all(fx, "/api/v1/runs?limit=2", 2, want, 6);
        page_all(fx, "/api/v1/runs?limit=4", 4, want, 6);
        page_all(fx, "/api/v1/runs?limit=6", 6, want, 6);
    }
    {
        const struct rspec *want[] = {&r[R5], &r[R4], &r[R3], &r[R2], &r[R1]};
        page_all(fx, "/api/v1/runs?agent=web-1&limit=2", 2, want, 5);
    }
    {
        const struct rspec *want[] = {&r[R4], &r[R3], &r[R6], &r[R2]};
        page_all(fx, "/api/v1/repairs?limit=1", 1, want, 4);
    }
}

static void test_api_runs_paging_same_started_at(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[5];
    const struct rspec *want[5];
    size_t i;

    enroll(fx, "web-1");
    for (i = 0; i < 5; i++) {
        r[i] = (struct rspec){"nginx.running", T0, K_OK, 0, ""};
        rspec_id(&r[i]);
    }
    post_runs(fx, r, 5, 5, 0, 0);
    /* equal started_at: newest insert first */
    for (i = 0; i < 5; i++)
        want[i] = &r[4 - i];
    page_all(fx, "/api/v1/runs?limit=2", 2, want, 5);
}

static void expect_bad_param(struct fixture *fx, const char *target, const char *field)
{
    const cJSON *j = call(fx, "GET", target, TOKEN_READ, NULL);

    if (fx->resp.status != 400)
        fail_msg("%s: status %d, want 400: %.300s", target, fx->resp.status, fx->resp.body);
    assert_error_body(j, field);
}

static void test_api_runs_get_bad_filters_400(void **state)
{
    struct fixture *fx = *state;

    expect_bad_param(fx, "/api/v1/runs?limit=0", "limit");
    expect_bad_param(fx, "/api/v1/runs?limit=abc", "limit");
    expect_bad_param(fx, "/api/v1/runs?limit=-1", "limit");
    expect_bad_param(fx, "/api/v1/runs?limit=1001", "limit");
    expect_bad_param(fx, "/api/v1/runs?limit=", "limit");
    expect_bad_param(fx, "/api/v1/runs?outcome=bogus", "outcome");
    expect_bad_param(fx, "/api/v1/runs?outcome=OK", "outcome");
    expect_bad_param(fx, "/api/v1/runs?since=yesterday", "since");
    expect_bad_param(fx, "/api/v1/runs?until=2026-02-30T00:00:00Z", "until");
    expect_bad_param(fx, "/api/v1/runs?since=2026-11-24T15:00:00Z&until=2026-11-24T14:00:00Z",
                     "until");
    expect_bad_param(fx, "/api/v1/runs?manual=maybe", "manual");
    expect_bad_param(fx, "/api/v1/runs?foo=1", "foo");
    expect_bad_param(fx, "/api/v1/runs?limit=2&foo", "foo");
    expect_bad_param(fx, "/api/v1/runs?check=", "check");
    expect_bad_param(fx, "/api/v1/runs?cursor=not-a-cursor", "cursor");
    expect_bad_param(fx, "/api/v1/repairs?outcome=bogus", "outcome");
    expect_bad_param(fx, "/api/v1/state?since=2026-11-24T14:00:00Z", "since");
    expect_bad_param(fx, "/api/v1/agents?limit=0", "limit");
    /* too many parameters for the request record */
    call(fx, "GET", "/api/v1/runs", TOKEN_READ, NULL);
    fx->req.too_many_params = 1;
    api_response_cleanup(&fx->resp);
    api_handle(&fx->app, &fx->req, &fx->resp);
    assert_int_equal(fx->resp.status, 400);
}

static void test_api_repairs_only_runs_with_repair(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[NSEED];
    const cJSON *runs;
    int i;

    seed(fx, r);
    {
        /* R3's repair failed and R4's was suppressed: both were attempted */
        const struct rspec *want[] = {&r[R4], &r[R3], &r[R6], &r[R2]};
        runs = get_runs(fx, "/api/v1/repairs");
        assert_run_ids(runs, want, 4);
    }
    for (i = 0; i < cJSON_GetArraySize(runs); i++)
        assert_non_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(runs, i), "repair"));
    {
        /* filters apply as on /runs */
        const struct rspec *want[] = {&r[R6], &r[R2]};
        assert_run_ids(get_runs(fx, "/api/v1/repairs?outcome=repaired"), want, 2);
    }
    {
        const struct rspec *want[] = {&r[R4], &r[R3], &r[R2]};
        assert_run_ids(get_runs(fx, "/api/v1/repairs?agent=web-1"), want, 3);
    }
}

/* The state row of agent x check in a GET /state answer, or a failure. */
static const cJSON *find_state(const cJSON *states, const char *agent, const char *check)
{
    const cJSON *s;

    cJSON_ArrayForEach(s, states)
    {
        if (strcmp(jstr(s, "agent"), agent) == 0 && strcmp(jstr(s, "check"), check) == 0)
            return s;
    }
    fail_msg("no state for %s %s", agent, check);
    return NULL;
}

static void test_api_state_last_outcome_and_failures(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[NSEED], more[2], late[1];
    const cJSON *j, *states, *s;

    seed(fx, r);
    j = expect(fx, 200, "GET", "/api/v1/state", TOKEN_READ, NULL);
    states = jarr(j, "states");
    assert_int_equal(cJSON_GetArraySize(states), 3);
    /* ordered by agent name, then check */
    assert_string_equal(jstr(cJSON_GetArrayItem(states, 0), "agent"), "db-1");
    assert_string_equal(jstr(cJSON_GetArrayItem(states, 1), "check"), "nginx.port");
    assert_string_equal(jstr(cJSON_GetArrayItem(states, 2), "check"), "nginx.running");

    s = find_state(states, "web-1", "nginx.running");
    assert_string_equal(jstr(s, "outcome"), "failed");
    assert_string_equal(jstr(s, "last_run_id"), r[R4].id);
    assert_string_equal(jstr(s, "test_status"), "critical");
    assert_string_equal(jstr(s, "repair_status"), "suppressed");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "retest_status")));
    assert_int_equal((int)jnum(s, "consecutive_failures"), 1);
    assert_string_equal(jstr(s, "last_run_at"), "2026-11-24T14:03:00.000Z");
    assert_string_equal(jstr(s, "last_ok_at"), "2026-11-24T14:01:00.000Z"); /* R2 repaired */
    assert_string_equal(jstr(s, "agent_id"), fx->agent_id);

    s = find_state(states, "web-1", "nginx.port");
    assert_string_equal(jstr(s, "outcome"), "ok");
    assert_int_equal((int)jnum(s, "consecutive_failures"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "manual")));

    s = find_state(states, "db-1", "pg.running");
    assert_string_equal(jstr(s, "outcome"), "repaired");
    assert_string_equal(jstr(s, "retest_status"), "ok");

    /* two more failures in a row */
    more[0] = (struct rspec){"nginx.running", T0 + 300000, K_WARNING, 0, ""};
    more[1] = (struct rspec){"nginx.running", T0 + 360000, K_FAILED, 0, ""};
    rspec_id(&more[0]);
    rspec_id(&more[1]);
    post_runs(fx, more, 2, 2, 0, 0);
    j = expect(fx, 200, "GET", "/api/v1/state?agent=web-1&check=nginx.running", TOKEN_READ, NULL);
    states = jarr(j, "states");
    assert_int_equal(cJSON_GetArraySize(states), 1);
    s = cJSON_GetArrayItem(states, 0);
    assert_int_equal((int)jnum(s, "consecutive_failures"), 3);
    assert_string_equal(jstr(s, "last_run_id"), more[1].id);
    assert_string_equal(jstr(s, "retest_status"), "critical");

    /* a late run older than the state held does not replace it */
    late[0] = (struct rspec){"nginx.running", T0 + 200000, K_OK, 0, ""};
    rspec_id(&late[0]);
    post_runs(fx, late, 1, 1, 0, 0);
    j = expect(fx, 200, "GET", "/api/v1/state?agent=web-1&check=nginx.running", TOKEN_READ, NULL);
    s = cJSON_GetArrayItem(jarr(j, "states"), 0);
    assert_string_equal(jstr(s, "last_run_id"), more[1].id);
    assert_string_equal(jstr(s, "outcome"), "failed");
    assert_int_equal((int)jnum(s, "consecutive_failures"), 3);

    /* a passing run resets the count */
    late[0] = (struct rspec){"nginx.running", T0 + 420000, K_REPAIRED, 0, ""};
    rspec_id(&late[0]);
    post_runs(fx, late, 1, 1, 0, 0);
    j = expect(fx, 200, "GET", "/api/v1/state?outcome=repaired", TOKEN_READ, NULL);
    states = jarr(j, "states");
    assert_int_equal(cJSON_GetArraySize(states), 2);
    s = find_state(states, "web-1", "nginx.running");
    assert_int_equal((int)jnum(s, "consecutive_failures"), 0);
    assert_string_equal(jstr(s, "last_ok_at"), "2026-11-24T14:07:00.000Z");
}

static void test_api_state_stale(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[1] = {{"nginx.running", NOW - 30000, K_OK, 0, ""}};
    const cJSON *j, *s;

    rspec_id(&r[0]);
    enroll(fx, "web-1");
    post_runs(fx, r, 1, 1, 0, 0);
    j = expect(fx, 200, "GET", "/api/v1/state", TOKEN_READ, NULL);
    s = cJSON_GetArrayItem(jarr(j, "states"), 0);
    assert_int_equal((int)jnum(s, "interval"), 60);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "stale")));
    /* no run for more than 2 x interval */
    clock_set_wall_override(NOW + 100000);
    j = expect(fx, 200, "GET", "/api/v1/state", TOKEN_READ, NULL);
    s = cJSON_GetArrayItem(jarr(j, "states"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "stale")));
}

/*
 * A state carries its check's open alert, read in the same query: its summary
 * (any text a rule writes) goes out as valid JSON; resolved, the member is null.
 * Paged one by one, every state comes once and the last page has no cursor.
 */
static void test_api_state_open_alert_and_paging(void **state)
{
    struct fixture *fx = *state;
    struct rspec r[NSEED];
    struct store_alert a;
    const cJSON *j, *s, *al;
    char key[STORE_ALERTS_KEY_MAX], target[200], cursor[STORE_CURSOR_LEN] = "";
    int64_t id = 0;
    int pages = 0;

    seed(fx, r);
    memset(&a, 0, sizeof(a));
    snprintf(key, sizeof(key), "healops:%s:nginx.running", fx->agent_id);
    a.key = key;
    memcpy(a.agent_id, fx->agent_id, sizeof(a.agent_id));
    a.check = "nginx.running";
    a.package = "nginx";
    a.kind = "failed";
    a.severity = "critical";
    a.summary = "web-1 nginx.running failed: \"2 workers\"\n\x01 \xff end";
    a.context_json = "{}";
    assert_int_equal(store_alert_apply(fx->app.store, STORE_ALERT_OPEN, &a, NOW - 5000, NULL,
                                       NULL, &id),
                     HO_OK);
    j = expect(fx, 200, "GET", "/api/v1/state", TOKEN_READ, NULL);
    al = cJSON_GetObjectItemCaseSensitive(find_state(jarr(j, "states"), "web-1", "nginx.running"),
                                          "alert");
    assert_true(cJSON_IsObject(al));
    assert_int_equal((int64_t)jnum(al, "id"), id);
    assert_string_equal(jstr(al, "kind"), "failed");
    assert_string_equal(jstr(al, "severity"), "critical");
    assert_string_equal(jstr(al, "opened_at"), "2026-11-24T14:59:55.000Z");
    /* the control byte escaped, the byte that is not UTF-8 made '?' */
    assert_string_equal(jstr(al, "summary"), "web-1 nginx.running failed: \"2 workers\"\n\x01 ? end");
    s = find_state(jarr(j, "states"), "web-1", "nginx.port");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "alert")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "next_cursor")));

    do {
        snprintf(target, sizeof(target), "/api/v1/state?limit=1%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        j = expect(fx, 200, "GET", target, TOKEN_READ, NULL);
        assert_int_equal(cJSON_GetArraySize(jarr(j, "states")), 1);
        s = cJSON_GetArrayItem(jarr(j, "states"), 0);
        al = cJSON_GetObjectItemCaseSensitive(s, "alert");
        assert_int_equal(cJSON_IsObject(al), strcmp(jstr(s, "check"), "nginx.running") == 0);
        cursor[0] = '\0';
        if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "next_cursor")))
            snprintf(cursor, sizeof(cursor), "%s", jstr(j, "next_cursor"));
        pages++;
    } while (cursor[0] != '\0' && pages < 10);
    assert_int_equal(pages, 3);

    a.id = id;
    assert_int_equal(store_alert_apply(fx->app.store, STORE_ALERT_RESOLVE, &a, NOW, NULL, NULL,
                                       NULL),
                     HO_OK);
    j = expect(fx, 200, "GET", "/api/v1/state", TOKEN_READ, NULL);
    s = find_state(jarr(j, "states"), "web-1", "nginx.running");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "alert")));
}

static const cJSON *find_agent(const cJSON *agents, const char *name)
{
    const cJSON *a;

    cJSON_ArrayForEach(a, agents)
    {
        if (strcmp(jstr(a, "name"), name) == 0)
            return a;
    }
    fail_msg("no agent %s", name);
    return NULL;
}

static void test_api_heartbeat_spool_depth_visible(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j, *a, *pk;
    char *target;

    enroll(fx, "db-1");
    enroll(fx, "web-1");
    /* enrolled, never heard from: silent */
    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "silent")));

    j = expect(fx, 200, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"version\": \"0.1.0\", \"packages\": [{\"name\": \"nginx\", \"version\": "
               "\"1.4.0\"}], \"spool_depth\": 7, \"dropped\": 2}");
    assert_string_equal(jstr(j, "status"), "ok");

    j = expect(fx, 200, "GET", "/api/v1/agents", TOKEN_READ, NULL);
    assert_int_equal(cJSON_GetArraySize(jarr(j, "agents")), 2);
    a = find_agent(jarr(j, "agents"), "web-1");
    assert_int_equal((int)jnum(a, "spool_depth"), 7);
    assert_int_equal((int)jnum(a, "dropped"), 2);
    assert_string_equal(jstr(a, "version"), "0.1.0");
    assert_string_equal(jstr(a, "agent_id"), fx->agent_id);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "silent")));
    pk = jarr(a, "packages");
    assert_int_equal(cJSON_GetArraySize(pk), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(pk, 0), "name"), "nginx");
    a = find_agent(jarr(j, "agents"), "db-1");
    assert_int_equal((int)jnum(a, "spool_depth"), 0);

    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_int_equal((int)jnum(j, "spool_depth"), 7);
    assert_string_equal(jstr(j, "last_seen"), "2026-11-24T15:00:00.000Z");
    target = xasprintf("/api/v1/agents/%s", fx->agent_id);
    j = expect(fx, 200, "GET", target, TOKEN_READ, NULL);
    free(target);
    assert_string_equal(jstr(j, "name"), "web-1");
    assert_int_equal((int)jnum(j, "spool_depth"), 7);

    /* the spool drains */
    clock_set_wall_override(NOW + 60000);
    expect(fx, 200, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
           "{\"spool_depth\": 0, \"dropped\": 2}");
    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_int_equal((int)jnum(j, "spool_depth"), 0);
    assert_string_equal(jstr(j, "last_seen"), "2026-11-24T15:01:00.000Z");

    /* silent after agent_silent_after (180 s) without a word */
    clock_set_wall_override(NOW + 60000 + 181000);
    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "silent")));

    j = expect(fx, 404, "GET", "/api/v1/agents/nobody", TOKEN_READ, NULL);
    assert_error_body(j, NULL);
}

static void test_api_heartbeat_bad_input_400(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    enroll(fx, "web-1");
    j = expect(fx, 400, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"spool_depth\": -1}");
    assert_error_body(j, "spool_depth");
    j = expect(fx, 400, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"spool_depth\": 1.5}");
    assert_error_body(j, "spool_depth");
    j = expect(fx, 400, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"dropped\": \"3\"}");
    assert_error_body(j, "dropped");
    j = expect(fx, 400, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"packages\": [{\"version\": \"1\"}]}");
    assert_error_body(j, "packages[0]");
    j = expect(fx, 400, "POST", "/api/v1/agents/heartbeat", fx->agent_token,
               "{\"version\": 3}");
    assert_error_body(j, "version");
    /* nothing of it was stored */
    j = expect(fx, 200, "GET", "/api/v1/agents/web-1", TOKEN_READ, NULL);
    assert_int_equal((int)jnum(j, "spool_depth"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "last_seen")));
    expect(fx, 403, "POST", "/api/v1/agents/heartbeat", TOKEN_ADMIN, "{}");
}

static void test_api_unknown_path_404(void **state)
{
    struct fixture *fx = *state;
    const cJSON *j;

    j = expect(fx, 404, "GET", "/api/v1/nope", TOKEN_READ, NULL);
    assert_error_body(j, NULL);
    expect(fx, 404, "GET", "/api/v1/nope", NULL, NULL);
    expect(fx, 404, "GET", "/api/v2/runs", TOKEN_READ, NULL);
    expect(fx, 404, "GET", "/api/v1/runs/extra", TOKEN_READ, NULL);
    expect(fx, 404, "GET", "/api/v1/agents/a/b", TOKEN_READ, NULL);
    expect(fx, 404, "DELETE", "/api/v1/runs", TOKEN_ADMIN, NULL);
    expect(fx, 404, "POST", "/api/v1/state", TOKEN_ADMIN, "{}");
    expect(fx, 404, "POST", "/healthz", NULL, NULL);
    expect(fx, 404, "GET", "/nothing-here", NULL, NULL);
}

static void test_api_tokens_admin_creates_read_token(void **state)
{
    struct fixture *fx = *state;
    char token[CRYPTO_TOKEN_LEN];
    const cJSON *j;

    expect(fx, 401, "GET", "/api/v1/runs", "hot_not_yet", NULL);
    j = expect(fx, 201, "POST", "/api/v1/tokens", TOKEN_ADMIN,
               "{\"scope\": \"read\", \"name\": \"grafana\"}");
    assert_string_equal(jstr(j, "scope"), "read");
    assert_true(jnum(j, "id") > 0);
    snprintf(token, sizeof(token), "%s", jstr(j, "token"));
    assert_memory_equal(token, "hot_", 4);
    assert_int_equal(strlen(token), CRYPTO_TOKEN_LEN - 1);
    j = expect(fx, 200, "GET", "/api/v1/runs", token, NULL);
    assert_int_equal(cJSON_GetArraySize(jarr(j, "runs")), 0);
    /* read only */
    expect(fx, 403, "POST", "/api/v1/tokens", token, "{\"scope\": \"read\"}");
    /* an enroll token made this way enrolls */
    j = expect(fx, 201, "POST", "/api/v1/tokens", TOKEN_ADMIN, "{\"scope\": \"enroll\"}");
    snprintf(token, sizeof(token), "%s", jstr(j, "token"));
    expect(fx, 201, "POST", "/api/v1/agents/enroll", token, "{\"name\": \"web-9\"}");
}

static void test_api_tokens_bad_input_and_expiry(void **state)
{
    struct fixture *fx = *state;
    char token[CRYPTO_TOKEN_LEN];
    const cJSON *j;

    j = expect(fx, 400, "POST", "/api/v1/tokens", TOKEN_ADMIN, "{\"scope\": \"agent\"}");
    assert_error_body(j, "scope");
    j = expect(fx, 400, "POST", "/api/v1/tokens", TOKEN_ADMIN, "{\"scope\": \"root\"}");
    assert_error_body(j, "scope");
    j = expect(fx, 400, "POST", "/api/v1/tokens", TOKEN_ADMIN, "{}");
    assert_error_body(j, "scope");
    j = expect(fx, 400, "POST", "/api/v1/tokens", TOKEN_ADMIN,
               "{\"scope\": \"read\", \"expires_in\": 0}");
    assert_error_body(j, "expires_in");
    j = expect(fx, 400, "POST", "/api/v1/tokens", TOKEN_ADMIN,
               "{\"scope\": \"read\", \"name\": 5}");
    assert_error_body(j, "name");

    j = expect(fx, 201, "POST", "/api/v1/tokens", TOKEN_ADMIN,
               "{\"scope\": \"read\", \"expires_in\": 60}");
    snprintf(token, sizeof(token), "%s", jstr(j, "token"));
    expect(fx, 200, "GET", "/api/v1/runs", token, NULL);
    clock_set_wall_override(NOW + 59000);
    expect(fx, 200, "GET", "/api/v1/runs", token, NULL);
    clock_set_wall_override(NOW + 61000);
    expect(fx, 401, "GET", "/api/v1/runs", token, NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_api_healthz_without_token),
        T(test_api_runs_without_token_401),
        T(test_api_wrong_scope_403),
        T(test_api_enroll_returns_agent_id_and_token),
        T(test_api_enroll_bad_input_400),
        T(test_api_runs_post_batch_accepted),
        T(test_api_runs_post_same_batch_is_duplicates),
        T(test_api_runs_post_one_bad_run_rejected),
        T(test_api_runs_post_malformed_json_400),
        T(test_api_runs_post_runs_not_array_400),
        T(test_api_runs_post_too_many_runs_413),
        T(test_api_runs_get_filters),
        T(test_api_runs_get_paging),
        T(test_api_runs_paging_same_started_at),
        T(test_api_runs_get_bad_filters_400),
        T(test_api_repairs_only_runs_with_repair),
        T(test_api_state_last_outcome_and_failures),
        T(test_api_state_stale),
        T(test_api_state_open_alert_and_paging),
        T(test_api_heartbeat_spool_depth_visible),
        T(test_api_heartbeat_bad_input_400),
        T(test_api_unknown_path_404),
        T(test_api_tokens_admin_creates_read_token),
        T(test_api_tokens_bad_input_and_expiry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
