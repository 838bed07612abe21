/*
 * Write endpoints: agent enrollment, run batches, stat batches (POST
 * /api/v1/metrics), heartbeats, and token creation (DESIGN.md sections 5-6).
 * A run batch answers per run so one bad run never blocks an agent's spool; a
 * stat batch is stored whole or not at all, once per batch id. Both are
 * acknowledged only after commit, and then wake the forwarders.
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerts.h"
#include "api_impl.h"
#include "api_packages.h"
#include "app.h"
#include "clock.h"
#include "crypto.h"
#include "forward.h"
#include "log.h"
#include "mem.h"
#include "points.h"
#include "parse.h"
#include "run.h"
#include "stats.h"
#include "store_packages.h"

#define API_MAX_LABELS   64
#define API_MAX_PACKAGES 256

/* Parses body as a JSON object; fills resp with 400 and returns NULL on failure. */
static cJSON *api_parse_object(const struct api_request *req, struct api_response *resp)
{
    cJSON *root;

    if (req->body == NULL || req->body_len == 0) {
        api_error(resp, HO_EINVAL, NULL, "request body must be a JSON object");
        return NULL;
    }
    root = cJSON_ParseWithLength(req->body, req->body_len);
    if (root == NULL || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_error(resp, HO_EINVAL, NULL, "request body is not a JSON object");
        return NULL;
    }
    return root;
}

static int api_valid_name(const char *s, size_t max)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > max || !isalnum((unsigned char)s[0]))
        return 0;
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
            return 0;
    }
    return 1;
}

static int api_valid_text(const char *s, size_t max)
{
    size_t i, n = strlen(s);

    if (n > max)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* Validates a labels object; returns its canonical JSON text (caller frees) or NULL. */
static char *api_labels(const cJSON *labels, struct ho_error *err)
{
    const cJSON *it;
    char field[96];

    if (labels == NULL)
        return xstrdup("{}");
    if (!cJSON_IsObject(labels)) {
        ho_error_set(err, HO_EINVAL, "labels", "must be an object of strings");
        return NULL;
    }
    if (cJSON_GetArraySize(labels) > API_MAX_LABELS) {
        ho_error_set(err, HO_EINVAL, "labels", "at most %d labels", API_MAX_LABELS);
        return NULL;
    }
    cJSON_ArrayForEach(it, labels)
    {
        snprintf(field, sizeof(field), "labels.%.64s", it->string);
        if (!api_valid_name(it->string, 64)) {
            ho_error_set(err, HO_EINVAL, field, "label keys are 1-64 of [A-Za-z0-9._-]");
            return NULL;
        }
        if (!cJSON_IsString(it) || !api_valid_text(it->valuestring, 255)) {
            ho_error_set(err, HO_EINVAL, field, "must be a string of at most 255 characters");
            return NULL;
        }
    }
    return cJSON_PrintUnformatted(labels);
}

void api_enroll(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct api_principal who;
    struct ho_error err;
    cJSON *root = NULL, *out;
    const cJSON *name;
    char *labels = NULL;
    char token[CRYPTO_TOKEN_LEN], hash[CRYPTO_SHA256_HEX_LEN], agent_id[CRYPTO_UUID_LEN];
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ENROLL) | API_SCOPE(TOKEN_SCOPE_ADMIN), &who,
                 resp) != HO_OK)
        return;
    root = api_parse_object(req, resp);
    if (root == NULL)
        return;
    ho_error_clear(&err);
    name = cJSON_GetObjectItemCaseSensitive(root, "name");
    if (!cJSON_IsString(name) || !api_valid_name(name->valuestring, 128)) {
        api_error(resp, HO_EINVAL, "name", "must be 1-128 of [A-Za-z0-9._-], starting alphanumeric");
        goto out;
    }
    labels = api_labels(cJSON_GetObjectItemCaseSensitive(root, "labels"), &err);
    if (labels == NULL) {
        api_error(resp, HO_EINVAL, err.field, err.msg);
        goto out;
    }
    if (crypto_token_new(token) != HO_OK) {
        api_error(resp, HO_EINTERNAL, NULL, "no randomness for a token");
        goto out;
    }
    crypto_sha256_hex(token, strlen(token), hash);
    rc = store_agent_enroll(app->store, name->valuestring, labels, hash, clock_wall_ms(), agent_id);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not store the agent");
        goto out;
    }
    log_info("enroll: agent %s id=%s", name->valuestring, agent_id);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "agent_id", agent_id);
    cJSON_AddStringToObject(out, "name", name->valuestring);
    cJSON_AddStringToObject(out, "token", token);
    api_json_tree(resp, 201, out);
out:
    crypto_wipe(token, sizeof(token));
    cJSON_free(labels);
    cJSON_Delete(root);
}

static cJSON *api_batch_result(const struct run_batch *b, const enum store_insert *res)
{
    cJSON *out = cJSON_CreateObject(), *rej = cJSON_CreateArray(), *o;
    size_t i, v = 0;
    int accepted = 0, dup = 0;

    for (i = 0; i < b->n; i++) {
        if (b->items[i].rc == HO_OK) {
            if (res[v++] == STORE_INSERT_ACCEPTED) {
                accepted++;
                stats_run_received(b->items[i].run.outcome);
            } else {
                dup++;
            }
            continue;
        }
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)i);
        cJSON_AddStringToObject(o, "error", b->items[i].err.msg);
        cJSON_AddStringToObject(o, "field", b->items[i].err.field);
        cJSON_AddItemToArray(rej, o);
    }
    cJSON_AddNumberToObject(out, "accepted", accepted);
    cJSON_AddNumberToObject(out, "duplicates", dup);
    cJSON_AddItemToObject(out, "rejected", rej);
    stats_run_batch((uint64_t)dup, b->n - v);
    return out;
}

void api_runs_post(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct api_principal who;
    struct run_batch batch = {0};
    struct ho_error err;
    const struct run **valid = NULL;
    enum store_insert *res = NULL;
    size_t i, nvalid = 0;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_AGENT), &who, resp) != HO_OK)
        return;
    ho_error_clear(&err);
    rc = run_batch_parse(req->body != NULL ? req->body : "", req->body_len,
                         (size_t)app->cfg.max_batch_runs, &batch, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg);
        return;
    }
    valid = xcalloc(batch.n + 1, sizeof(*valid));
    res = xcalloc(batch.n + 1, sizeof(*res));
    for (i = 0; i < batch.n; i++) {
        if (batch.items[i].rc == HO_OK)
            valid[nvalid++] = &batch.items[i].run;
        else
            log_info("ingest: agent %s run %zu rejected: %s: %s", who.agent_id, i,
                     batch.items[i].err.field, batch.items[i].err.msg);
    }
    rc = nvalid > 0 ? store_runs_insert(app->store, who.agent_id, valid, nvalid, clock_wall_ms(),
                                        res)
                    : HO_OK;
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not store the runs; nothing was stored, send again");
    } else {
        for (i = 0; i < nvalid && res[i] != STORE_INSERT_ACCEPTED; i++)
            ;
        if (i < nvalid)
            forward_notify(app->forward); /* new points */
        alerts_runs_stored(app->alerts, who.agent_id, valid, res, nvalid);
        api_json_tree(resp, 200, api_batch_result(&batch, res));
    }
    free(valid);
    free(res);
    run_batch_cleanup(&batch);
}

static int api_get_count(const cJSON *root, const char *key, int64_t *out,
                         struct api_response *resp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

    *out = 0;
    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
        floor(v->valuedouble) != v->valuedouble) {
        api_error(resp, HO_EINVAL, key, "must be a non-negative integer");
        return -1;
    }
    *out = (int64_t)v->valuedouble;
    return 0;
}

/* Validates heartbeat "packages": [{"name","version"}]; returns JSON text or NULL. */
static char *api_packages(const cJSON *pk, struct api_response *resp)
{
    const cJSON *it, *n, *v;
    char field[64];
    int i = 0;

    if (pk == NULL)
        return NULL;
    if (!cJSON_IsArray(pk) || cJSON_GetArraySize(pk) > API_MAX_PACKAGES) {
        api_error(resp, HO_EINVAL, "packages", "must be an array of at most 256 packages");
        return NULL;
    }
    cJSON_ArrayForEach(it, pk)
    {
        snprintf(field, sizeof(field), "packages[%d]", i++);
        n = cJSON_GetObjectItemCaseSensitive(it, "name");
        v = cJSON_GetObjectItemCaseSensitive(it, "version");
        if (!cJSON_IsObject(it) || !cJSON_IsString(n) || !api_valid_name(n->valuestring, 64) ||
            (v != NULL && (!cJSON_IsString(v) || !api_valid_text(v->valuestring, 64)))) {
            api_error(resp, HO_EINVAL, field, "must be {\"name\": NAME, \"version\": VERSION}");
            return NULL;
        }
    }
    return cJSON_PrintUnformatted(pk);
}

void api_heartbeat(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct api_principal who;
    struct store_heartbeat hb;
    cJSON *root = NULL, *out;
    const cJSON *ver, *pk, *pe;
    struct pkg_error *perr = NULL;
    size_t nperr = 0;
    char *packages = NULL;
    char now[CLOCK_RFC3339_LEN];
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_AGENT), &who, resp) != HO_OK)
        return;
    root = api_parse_object(req, resp);
    if (root == NULL)
        return;
    memset(&hb, 0, sizeof(hb));
    pe = cJSON_GetObjectItemCaseSensitive(root, "package_errors");
    if (pe != NULL && api_package_errors_parse(pe, &perr, &nperr, resp) != 0)
        goto out;
    ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (ver != NULL && (!cJSON_IsString(ver) || !api_valid_text(ver->valuestring, 64))) {
        api_error(resp, HO_EINVAL, "version", "must be a string of at most 64 characters");
        goto out;
    }
    hb.version = ver != NULL ? ver->valuestring : NULL;
    pk = cJSON_GetObjectItemCaseSensitive(root, "packages");
    packages = api_packages(pk, resp);
    if (pk != NULL && packages == NULL)
        goto out;
    hb.packages_json = packages;
    if (api_get_count(root, "spool_depth", &hb.spool_depth, resp) != 0 ||
        api_get_count(root, "dropped", &hb.dropped, resp) != 0)
        goto out;
    rc = store_agent_heartbeat(app->store, who.agent_id, &hb, clock_wall_ms());
    /* "package_errors", when sent, replaces the agent's set ([] clears it) */
    if (rc == HO_OK && pe != NULL)
        rc = store_package_errors_set(app->store, who.agent_id, perr, nperr, clock_wall_ms());
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, rc == HO_ENOENT ? "unknown agent" : "could not store");
        goto out;
    }
    clock_format_rfc3339(clock_wall_ms(), now);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", "ok");
    cJSON_AddStringToObject(out, "server_time", now);
    api_json_tree(resp, 200, out);
out:
    free(perr);
    cJSON_free(packages);
    cJSON_Delete(root);
}

void api_tokens_post(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct api_principal who;
    enum token_scope scope;
    cJSON *root = NULL, *out;
    const cJSON *sc, *nm, *exp;
    char token[CRYPTO_TOKEN_LEN], hash[CRYPTO_SHA256_HEX_LEN];
    int64_t id = 0, now = clock_wall_ms(), expires = 0;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ADMIN), &who, resp) != HO_OK)
        return;
    root = api_parse_object(req, resp);
    if (root == NULL)
        return;
    sc = cJSON_GetObjectItemCaseSensitive(root, "scope");
    nm = cJSON_GetObjectItemCaseSensitive(root, "name");
    exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    if (!cJSON_IsString(sc) || token_scope_parse(sc->valuestring, &scope) != HO_OK ||
        scope == TOKEN_SCOPE_AGENT) {
        api_error(resp, HO_EINVAL, "scope", "must be one of enroll, read, admin");
        goto out;
    }
    if (nm != NULL && (!cJSON_IsString(nm) || !api_valid_text(nm->valuestring, 127))) {
        api_error(resp, HO_EINVAL, "name", "must be a string of at most 127 characters");
        goto out;
    }
    if (exp != NULL) {
        if (!cJSON_IsNumber(exp) || exp->valuedouble < 1 || exp->valuedouble > 10 * 365 * 86400.0) {
            api_error(resp, HO_EINVAL, "expires_in", "must be seconds between 1 and 10 years");
            goto out;
        }
        expires = now + (int64_t)exp->valuedouble * 1000;
    }
    if (crypto_token_new(token) != HO_OK) {
        api_error(resp, HO_EINTERNAL, NULL, "no randomness for a token");
        goto out;
    }
    crypto_sha256_hex(token, strlen(token), hash);
    rc = store_token_create(app->store, scope, nm != NULL ? nm->valuestring : "", hash, expires,
                            now, &id);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not store the token");
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "id", (double)id);
    cJSON_AddStringToObject(out, "scope", token_scope_str(scope));
    cJSON_AddStringToObject(out, "token", token);
    api_json_tree(resp, 201, out);
out:
    crypto_wipe(token, sizeof(token));
    cJSON_Delete(root);
}

/* Rewrites err->field "metrics[K]..." of a chunk that starts at offset to the batch index. */
static void api_metrics_field(struct ho_error *err, size_t offset)
{
    char tail[HO_ERROR_FIELD_MAX];
    unsigned long k;
    char *end;

    if (strncmp(err->field, "metrics[", 8) != 0)
        return;
    k = strtoul(err->field + 8, &end, 10);
    if (*end != ']')
        return;
    snprintf(tail, sizeof(tail), "%s", end);
    snprintf(err->field, sizeof(err->field), "metrics[%lu%s", k + (unsigned long)offset, tail);
}

/*
 * Parses the metrics array a (at most POINTS_MAX_BATCH) with run_metrics_parse,
 * which takes RUN_MAX_METRICS at a time: each chunk is printed back from
 * references to its items and parsed as an array of its own.
 */
static enum ho_code api_metrics_parse(const cJSON *a, struct metric **out, size_t *n,
                                      struct ho_error *err)
{
    const cJSON *it = a->child;
    struct metric *all = NULL, *part = NULL;
    size_t total = (size_t)cJSON_GetArraySize(a), done = 0, np = 0, k;
    cJSON *chunk;
    char *text;
    enum ho_code rc = HO_OK;

    *out = NULL;
    *n = 0;
    if (total == 0)
        return HO_OK;
    all = xcalloc(total, sizeof(*all));
    while (rc == HO_OK && it != NULL) {
        chunk = cJSON_CreateArray();
        for (k = 0; it != NULL && k < RUN_MAX_METRICS; k++, it = it->next)
            cJSON_AddItemReferenceToArray(chunk, (cJSON *)(uintptr_t)it);
        text = cJSON_PrintUnformatted(chunk);
        cJSON_Delete(chunk);
        if (text == NULL) {
            log_error("api: out of memory printing metrics");
            abort();
        }
        rc = run_metrics_parse(text, strlen(text), &part, &np, err);
        cJSON_free(text);
        if (rc != HO_OK) {
            api_metrics_field(err, done);
            break;
        }
        memcpy(all + done, part, np * sizeof(*part)); /* the metrics move; only the array goes */
        free(part);
        part = NULL;
        done += np;
    }
    if (rc != HO_OK) {
        for (k = 0; k < done; k++)
            metric_cleanup(&all[k]);
        free(all);
        return rc;
    }
    *out = all;
    *n = done;
    return HO_OK;
}

/* The batch "id": a UUID, lowercased into id. */
static int api_batch_id(const cJSON *root, char id[CRYPTO_UUID_LEN], struct api_response *resp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "id");
    size_t i;

    if (!cJSON_IsString(v) || !crypto_uuid_valid(v->valuestring)) {
        api_error(resp, HO_EINVAL, "id", "must be the batch's UUID (UUIDv7 made by the agent)");
        return -1;
    }
    for (i = 0; i < CRYPTO_UUID_LEN - 1; i++)
        id[i] = (char)tolower((unsigned char)v->valuestring[i]);
    id[CRYPTO_UUID_LEN - 1] = '\0';
    return 0;
}

void api_metrics_post(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct api_principal who;
    struct metric *m = NULL;
    struct ho_error err;
    enum store_insert res = STORE_INSERT_DUPLICATE;
    char id[CRYPTO_UUID_LEN];
    const cJSON *arr;
    cJSON *root, *out;
    size_t i, n = 0;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_AGENT), &who, resp) != HO_OK)
        return;
    root = api_parse_object(req, resp);
    if (root == NULL)
        return;
    ho_error_clear(&err);
    if (api_batch_id(root, id, resp) != 0)
        goto out;
    arr = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (!cJSON_IsArray(arr)) {
        api_error(resp, HO_EINVAL, "metrics", "must be an array of metrics");
        goto out;
    }
    if (cJSON_GetArraySize(arr) > POINTS_MAX_BATCH) {
        api_error(resp, HO_ETOOBIG, "metrics", "at most 10000 metrics per batch");
        goto out;
    }
    rc = api_metrics_parse(arr, &m, &n, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg);
        goto out;
    }
    rc = store_metrics_insert(app->store, who.agent_id, id, m, n, clock_wall_ms(), &res);
    if (rc != HO_OK) {
        api_error(resp, rc == HO_ENOENT ? HO_EAUTH : rc, NULL,
                  rc == HO_ENOENT ? "unknown agent" : "could not store the metrics; send again");
        goto out;
    }
    if (res == STORE_INSERT_ACCEPTED)
        forward_notify(app->forward);
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "accepted", res == STORE_INSERT_ACCEPTED ? (double)n : 0);
    cJSON_AddBoolToObject(out, "duplicate", res == STORE_INSERT_DUPLICATE);
    api_json_tree(resp, 200, out);
out:
    for (i = 0; i < n; i++)
        metric_cleanup(&m[i]);
    free(m);
    cJSON_Delete(root);
}

void api_tokens_delete(struct app *app, const struct api_request *req, struct api_response *resp,
                       const char *id_text)
{
    struct api_principal who;
    uint64_t id;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_ADMIN), &who, resp) != HO_OK)
        return;
    if (parse_u64(id_text, 1, INT64_MAX, &id) != HO_OK) {
        api_error(resp, HO_EINVAL, "id", "must be a token id (a positive integer)");
        return;
    }
    rc = store_token_revoke(app->store, (int64_t)id, clock_wall_ms());
    if (rc == HO_ENOENT) {
        api_error(resp, HO_ENOENT, "id", "no such live token");
        return;
    }
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "could not revoke the token");
        return;
    }
    log_info("tokens: token %llu revoked by token %lld", (unsigned long long)id,
             (long long)who.token_id);
    api_json_take(resp, 200, xasprintf("{\"id\":%llu,\"revoked\":true}",
                                       (unsigned long long)id));
}
