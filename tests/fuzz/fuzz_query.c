/*
 * libFuzzer target: query strings of the read endpoints, through api_handle
 * against a real SQLite store seeded with an agent and a few runs. The first
 * byte picks the route, the rest is "key=value&key=value" as libmicrohttpd
 * hands it over (decoded; any byte but NUL). Every answer must be a clean
 * refusal or an answer: a 500 (a bug) or a sanitizer report fails.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"
#include "mem.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/* fontconfig (under cairo's text, graph.png) keeps its caches until exit, by design */
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\n";
}

#define READ_TOKEN "Bearer hot_fuzz_read_token"

static const char *const routes[] = {
    "/api/v1/runs",      "/api/v1/repairs", "/api/v1/state",    "/api/v1/state/summary",
    "/api/v1/agents",    "/api/v1/alerts",  "/api/v1/insights", "/api/v1/packages",
    "/api/v1/receivers", "/api/v1/forwarders", "/api/v1/checks/web01/nginx.running/series",
    "/api/v1/agents/web01", "/api/v1/packages/web", "/api/v1/graph.png",
};

static struct app fuzz_app;
static char fuzz_dir[64];

static void fuzz_post(const char *path, const char *auth, const char *body, char *out,
                      size_t outlen)
{
    struct api_request req;
    struct api_response resp;

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = path;
    req.body = body;
    req.body_len = strlen(body);
    req.authorization = auth;
    req.remote_addr = "127.0.0.1";
    api_handle(&fuzz_app, &req, &resp);
    if (resp.status >= 300) {
        fprintf(stderr, "fuzz_query: seeding %s answered %d\n", path, resp.status);
        abort();
    }
    if (out != NULL)
        snprintf(out, outlen, "%.*s", (int)resp.body_len, resp.body);
    api_response_cleanup(&resp);
}

static void fuzz_token(enum token_scope scope, const char *text)
{
    char hash[CRYPTO_SHA256_HEX_LEN];
    int64_t id;

    crypto_sha256_hex(text, strlen(text), hash);
    if (store_token_create(fuzz_app.store, scope, "fuzz", hash, 0, clock_wall_ms(), &id) != HO_OK)
        abort();
}

/* Seeds one agent with an ok, a repaired and a failed run of nginx.running. */
static void fuzz_seed(void)
{
    char answer[1024], auth[300], *tok, *end, body[4096];
    int64_t now = clock_wall_ms();
    char id[3][CRYPTO_UUID_LEN], t[3][CLOCK_RFC3339_LEN];
    int i;

    fuzz_post("/api/v1/agents/enroll", "Bearer hot_fuzz_enroll_token",
              "{\"name\":\"web01\",\"labels\":{\"role\":\"web\"}}", answer, sizeof(answer));
    tok = strstr(answer, "\"token\":\"");
    if (tok == NULL || (end = strchr(tok + 9, '"')) == NULL)
        abort();
    snprintf(auth, sizeof(auth), "Bearer %.*s", (int)(end - tok - 9), tok + 9);
    for (i = 0; i < 3; i++) {
        if (crypto_uuid_v7(now - 60000 * (3 - i), id[i]) != HO_OK)
            abort();
        clock_format_rfc3339(now - 60000 * (3 - i), t[i]);
    }
    snprintf(body, sizeof(body),
             "{\"runs\":["
             "{\"id\":\"%s\",\"package\":\"web\",\"version\":\"1.0.0\",\"check\":\"nginx.running\","
             "\"started_at\":\"%s\",\"duration_ms\":5,\"manual\":false,\"interval\":60,"
             "\"test\":{\"status\":\"ok\",\"exit_code\":0,\"output\":\"ok\",\"duration_ms\":3},"
             "\"outcome\":\"ok\",\"metrics\":[{\"name\":\"nginx.workers\",\"value\":4,"
             "\"tags\":{}}]},"
             "{\"id\":\"%s\",\"package\":\"web\",\"version\":\"1.0.0\",\"check\":\"nginx.running\","
             "\"started_at\":\"%s\",\"duration_ms\":5,\"manual\":false,\"interval\":60,"
             "\"test\":{\"status\":\"critical\",\"exit_code\":2,\"duration_ms\":3},"
             "\"repair\":{\"status\":\"succeeded\",\"exit_code\":0,\"duration_ms\":1},"
             "\"retest\":{\"status\":\"ok\",\"exit_code\":0,\"duration_ms\":1},"
             "\"outcome\":\"repaired\"},"
             "{\"id\":\"%s\",\"package\":\"web\",\"version\":\"1.0.0\",\"check\":\"nginx.running\","
             "\"started_at\":\"%s\",\"duration_ms\":5,\"manual\":false,\"interval\":60,"
             "\"test\":{\"status\":\"critical\",\"exit_code\":2,\"duration_ms\":3},"
             "\"outcome\":\"failed\"}]}",
             id[0], t[0], id[1], t[1], id[2], t[2]);
    fuzz_post("/api/v1/runs", auth, body, NULL, 0);
}

static void fuzz_cleanup(void)
{
    char *cmd = xasprintf("rm -rf '%s'", fuzz_dir);

    store_close(fuzz_app.store);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_query: cannot remove %s\n", fuzz_dir);
    free(cmd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct ho_error err;
    char *db;

    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_query.XXXXXX");
    if (mkdtemp(fuzz_dir) == NULL)
        abort();
    db = xasprintf("%s/healops.db", fuzz_dir);
    if (store_open(db, &fuzz_app.store, &err) != HO_OK) {
        fprintf(stderr, "fuzz_query: %s\n", err.msg);
        abort();
    }
    fuzz_app.cfg.db = db;
    fuzz_app.cfg.max_body_bytes = 1024 * 1024;
    fuzz_app.cfg.max_batch_runs = 1000;
    fuzz_app.cfg.agent_silent_after = 180;
    fuzz_app.started_at_ms = clock_wall_ms();
    fuzz_token(TOKEN_SCOPE_READ, "hot_fuzz_read_token");
    fuzz_token(TOKEN_SCOPE_ENROLL, "hot_fuzz_enroll_token");
    fuzz_seed();
    atexit(fuzz_cleanup);
    return 0;
}

/* Splits text (NUL-terminated, writable) at '&' and the first '=' of each part. */
static void fuzz_params(char *text, struct api_request *req)
{
    char *p = text, *amp, *eq;

    while (p != NULL) {
        amp = strchr(p, '&');
        if (amp != NULL)
            *amp = '\0';
        eq = strchr(p, '=');
        if (eq != NULL)
            *eq = '\0';
        if (req->nparams == API_MAX_PARAMS) {
            req->too_many_params = 1;
            return;
        }
        req->params[req->nparams].key = p;
        req->params[req->nparams].value = eq != NULL ? eq + 1 : "";
        req->nparams++;
        p = amp != NULL ? amp + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct api_request req;
    struct api_response resp;
    char *text;

    if (size < 1 || size > 4096)
        return 0;
    text = xmalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.path = routes[data[0] % (sizeof(routes) / sizeof(routes[0]))];
    req.authorization = READ_TOKEN;
    req.remote_addr = "127.0.0.1";
    if (strlen(text) > 0)
        fuzz_params(text, &req);
    api_handle(&fuzz_app, &req, &resp);
    if (resp.status >= 500 && resp.status != 503) {
        fprintf(stderr, "fuzz_query: %s answered %d: %.*s\n", req.path, resp.status,
                (int)resp.body_len, resp.body != NULL ? resp.body : "");
        abort();
    }
    api_response_cleanup(&resp);
    free(text);
    return 0;
}
