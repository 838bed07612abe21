/*
 * API routing, authentication and response helpers (DESIGN.md sections 5-6).
 * Every non-health endpoint needs a bearer token of the right scope; tokens
 * are looked up by their SHA-256, so the secret itself is never stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_alerts.h"
#include "api_graph.h"
#include "api_impl.h"
#include "api_insights.h"
#include "api_metrics.h"
#include "api_packages.h"
#include "api_web.h"
#include "app.h"
#include "authlimit.h"
#include "clock.h"
#include "crypto.h"
#include "jsonlimit.h"
#include "log.h"
#include "mem.h"

void api_response_cleanup(struct api_response *resp)
{
    if (resp->static_body == NULL)
        free(resp->body);
    resp->body = NULL;
    if (resp->body_free != NULL)
        resp->body_free(resp->body_cls);
    resp->body_read = NULL;
    resp->body_free = NULL;
    resp->body_cls = NULL;
}

void api_json_take(struct api_response *resp, int status, char *json)
{
    api_response_cleanup(resp);
    resp->status = status;
    resp->body = json;
    resp->body_len = strlen(json);
    resp->static_body = NULL;
    resp->content_type = "application/json";
}

void api_json_tree(struct api_response *resp, int status, struct cJSON *tree)
{
    char *text = cJSON_PrintUnformatted(tree);

    cJSON_Delete(tree);
    if (text == NULL) {
        log_error("api: out of memory printing JSON");
        abort();
    }
    api_json_take(resp, status, text);
}

void api_error(struct api_response *resp, enum ho_code rc, const char *field, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "error", msg);
    if (field != NULL && field[0] != '\0')
        cJSON_AddStringToObject(o, "field", field);
    api_json_tree(resp, ho_code_http_status(rc), o);
}

/* Whether If-None-Match value inm ("*" or a list of entity tags) names etag. */
static int api_etag_listed(const char *inm, const char *etag)
{
    size_t n = strlen(etag), len;
    const char *p = inm;

    while (*p != '\0') {
        p += strspn(p, " \t,");
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        len = strcspn(p, " \t,");
        if ((len == 1 && p[0] == '*') || (len == n && strncmp(p, etag, n) == 0))
            return 1;
        p += len;
    }
    return 0;
}

void api_etag(const struct api_request *req, struct api_response *resp)
{
    char hex[CRYPTO_SHA256_HEX_LEN];
    const void *body = resp->static_body != NULL ? (const void *)resp->static_body : resp->body;

    if (resp->status != 200 || body == NULL)
        return;
    crypto_sha256_hex(body, resp->body_len, hex);
    snprintf(resp->etag, sizeof(resp->etag), "\"%.32s\"", hex);
    if (req->if_none_match == NULL || !api_etag_listed(req->if_none_match, resp->etag))
        return;
    api_response_cleanup(resp);
    resp->static_body = NULL;
    resp->body_len = 0;
    resp->content_type = NULL;
    resp->status = 304;
}

const char *api_param(const struct api_request *req, const char *key)
{
    size_t i;

    for (i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].key, key) == 0)
            return req->params[i].value;
    }
    return NULL;
}

/* Answers 401 with msg and counts the failure against the client's address. */
static enum ho_code api_auth_failed(struct app *app, const struct api_request *req,
                                    const char *why, const char *msg, struct api_response *resp)
{
    const char *addr = req->remote_addr != NULL ? req->remote_addr : "-";

    log_info("auth: %s from %s path=%s", why, addr, req->path);
    if (authlimit_fail(app->authlimit, req->remote_addr, clock_mono_ms()))
        log_warnx("auth: %lld failed authentications from %s within a minute; refusing it for "
                  "%lld s", app->cfg.auth_failures, addr, app->cfg.auth_block);
    api_error(resp, HO_EAUTH, NULL, msg);
    return HO_EAUTH;
}

enum ho_code api_auth(struct app *app, const struct api_request *req, unsigned scopes,
                      struct api_principal *who, struct api_response *resp)
{
    char hash[CRYPTO_SHA256_HEX_LEN];
    struct store_token tok;
    const char *h = req->authorization, *t;
    enum ho_code rc;
    size_t len;
    int wait;

    wait = authlimit_blocked(app->authlimit, req->remote_addr, clock_mono_ms());
    if (wait > 0) {
        api_error(resp, HO_ELIMIT, NULL,
                  "too many failed authentications from this address; try again later");
        resp->retry_after = wait;
        return HO_ELIMIT;
    }
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return api_auth_failed(app, req, "no bearer token",
                               "missing bearer token (Authorization: Bearer TOKEN)", resp);
    t = h + 7;
    while (*t == ' ')
        t++;
    len = strlen(t);
    if (len == 0 || len > 256)
        return api_auth_failed(app, req, "malformed token", "invalid token", resp);
    crypto_sha256_hex(t, len, hash);
    rc = store_token_lookup(app->store, hash, clock_wall_ms(), &tok);
    if (rc != HO_OK) {
        if (rc == HO_EAUTH) {
            return api_auth_failed(app, req, "unknown, revoked or expired token",
                                   "invalid token", resp);
        } else {
            api_error(resp, rc, NULL, "token store unavailable");
        }
        return rc;
    }
    if ((scopes & API_SCOPE(tok.scope)) == 0) {
        api_error(resp, HO_EPERM, NULL, "token scope not allowed here");
        return HO_EPERM;
    }
    if (who != NULL) {
        who->scope = tok.scope;
        who->token_id = tok.id;
        memcpy(who->agent_id, tok.agent_id, sizeof(who->agent_id));
    }
    return HO_OK;
}

static void api_healthz(struct api_response *resp)
{
    api_json_take(resp, 200, xstrdup("{\"status\":\"ok\"}"));
}

static void api_readyz(struct app *app, struct api_response *resp)
{
    struct store_token tok;
    char hash[CRYPTO_SHA256_HEX_LEN];
    enum ho_code rc;

    /* a lookup of a token that cannot exist proves the database answers */
    memset(hash, '0', 64);
    hash[64] = '\0';
    rc = store_token_lookup(app->store, hash, clock_wall_ms(), &tok);
    if (rc == HO_OK || rc == HO_EAUTH)
        api_json_take(resp, 200, xstrdup("{\"status\":\"ready\"}"));
    else
        api_error(resp, HO_EBUSY, NULL, "database not ready");
}

static int api_is(const struct api_request *req, const char *method, const char *path)
{
    return strcmp(req->method, method) == 0 && strcmp(req->path, path) == 0;
}

/* Routes under /api/v1; returns 0 when no route matched the path. */
static int api_route_v1(struct app *app, const struct api_request *req, const char *p,
                        struct api_response *resp)
{
    int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    int post = strcmp(req->method, "POST") == 0;

    if (strcmp(p, "/runs") == 0 && (get || post)) {
        if (post)
            api_runs_post(app, req, resp);
        else
            api_runs_get(app, req, resp, 0);
    } else if (strcmp(p, "/repairs") == 0 && get) {
        api_runs_get(app, req, resp, 1);
    } else if (strcmp(p, "/state") == 0 && get) {
        api_state_get(app, req, resp);
    } else if (strcmp(p, "/state/summary") == 0 && get) {
        api_state_summary_get(app, req, resp);
    } else if (strcmp(p, "/agents") == 0 && get) {
        api_agents_get(app, req, resp);
    } else if (strcmp(p, "/agents/enroll") == 0 && post) {
        api_enroll(app, req, resp);
    } else if (strcmp(p, "/agents/heartbeat") == 0 && post) {
        api_heartbeat(app, req, resp);
    } else if (strncmp(p, "/agents/", 8) == 0 && strchr(p + 8, '/') == NULL && p[8] && get) {
        api_agent_get(app, req, resp, p + 8);
    } else if (strcmp(p, "/tokens") == 0 && post) {
        api_tokens_post(app, req, resp);
    } else if (strncmp(p, "/tokens/", 8) == 0 && strcmp(req->method, "DELETE") == 0) {
        api_tokens_delete(app, req, resp, p + 8);
    } else if (strcmp(p, "/metrics") == 0 && post) {
        api_metrics_post(app, req, resp);
    } else if (strcmp(p, "/insights") == 0 && get) {
        api_insights_get(app, req, resp);
    } else if (strcmp(p, "/forwarders") == 0 && get) {
        api_forwarders_get(app, req, resp);
    } else if (strcmp(p, "/alerts") == 0 && get) {
        api_alerts_get(app, req, resp);
    } else if (strcmp(p, "/receivers") == 0 && get) {
        api_receivers_get(app, req, resp);
    } else if (strncmp(p, "/checks/", 8) == 0 && strlen(p) > 15 &&
               strcmp(p + strlen(p) - 7, "/series") == 0 && get) {
        api_series_get(app, req, resp, p + 8, strlen(p) - 15);
    } else if (strcmp(p, "/graph.png") == 0 && get) {
        api_graph_get(app, req, resp);
    } else {
        /* packages, bundles, assignments and agents/self/packages; 0 when none matched */
        return api_packages_route(app, req, p, resp);
    }
    return 1;
}

/* A JSON body (it starts with { or [) nested deeper than JSON_MAX_DEPTH. */
static int api_body_too_deep(const struct api_request *req)
{
    size_t i = 0;

    while (i < req->body_len && strchr(" \t\r\n", req->body[i]) != NULL)
        i++;
    if (i == req->body_len || (req->body[i] != '{' && req->body[i] != '['))
        return 0;
    return json_depth(req->body + i, req->body_len - i, JSON_MAX_DEPTH) < 0;
}

void api_handle(struct app *app, const struct api_request *req, struct api_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->status = 500;
    if (req->too_many_params) {
        api_error(resp, HO_EINVAL, NULL, "too many query parameters");
        return;
    }
    if (api_body_too_deep(req)) {
        api_error(resp, HO_EINVAL, "body", "JSON nested more than 32 levels deep");
        return;
    }
    if (api_is(req, "GET", "/healthz") || api_is(req, "HEAD", "/healthz")) {
        api_healthz(resp);
        return;
    }
    if (api_is(req, "GET", "/readyz")) {
        api_readyz(app, resp);
        return;
    }
    if (api_is(req, "GET", "/metrics") || api_is(req, "HEAD", "/metrics")) {
        api_prom_get(app, req, resp);
        return;
    }
    if (strncmp(req->path, "/api/v1/", 8) == 0 && api_route_v1(app, req, req->path + 7, resp))
        return;
    if (api_web_get(req, resp))
        return;
    if (strncmp(req->path, "/api/v1/", 8) == 0 || strcmp(req->path, "/healthz") == 0)
        api_error(resp, HO_ENOENT, NULL, "no such endpoint or method");
    else
        api_error(resp, HO_ENOENT, NULL, "not found");
}
