/*
 * Moves spooled runs to the server: batches of the oldest runs, posted to
 * /api/v1/runs; every run the server answers for (accepted, duplicate or
 * rejected) leaves the spool, nothing else does. A batch refused whole (400,
 * 413) is split until the one bad item is found and dropped, so a corrupt item
 * can never block the spool.
 *
 * Metric batches (stats) go one spool item per POST /api/v1/metrics: the item
 * already is the body, with the batch id it was spooled with, so a re-send
 * after a lost answer is a duplicate the server ignores. Merging items would
 * need a new id per merge and lose that.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "buf.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "pkgsync.h"
#include "spool.h"

#define SENDER_MAX_BATCH_BYTES (4u * 1024 * 1024)
#define SENDER_MAX_RESPONSE    (1024u * 1024)

enum ho_code sender_client(struct agent *ag, struct httpc **out)
{
    struct httpc_opts o;

    memset(&o, 0, sizeof(o));
    o.ca_file = ag->cfg.ca_file;
    o.client_cert = ag->cfg.tls_client_cert;
    o.client_key = ag->cfg.tls_client_key;
    o.timeout_ms = ag->cfg.send_timeout * 1000;
    o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
    return httpc_new(&o, out);
}

static char *sender_body(const struct spool_item *items, size_t n)
{
    struct buf b;
    size_t i;
    enum ho_code rc;

    buf_init(&b, SENDER_MAX_BATCH_BYTES * 2);
    rc = buf_appends(&b, "{\"runs\":[");
    for (i = 0; i < n && rc == HO_OK; i++) {
        if (i > 0)
            rc = buf_append(&b, ",", 1);
        if (rc == HO_OK)
            rc = buf_append(&b, items[i].data, items[i].len);
    }
    if (rc == HO_OK)
        rc = buf_appends(&b, "]}");
    if (rc != HO_OK) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_take(&b);
}

/* Logs the runs the server rejected (they are dropped with the rest). */
static void sender_log_rejected(const char *body, size_t len, const struct spool_item *items,
                                size_t n, size_t *accepted)
{
    cJSON *root = cJSON_ParseWithLength(body, len), *it;
    const cJSON *rej, *idx, *msg, *field, *acc, *dup;

    *accepted = n;
    if (root == NULL)
        return;
    acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
    dup = cJSON_GetObjectItemCaseSensitive(root, "duplicates");
    if (cJSON_IsNumber(acc) && cJSON_IsNumber(dup))
        *accepted = (size_t)(acc->valuedouble + dup->valuedouble);
    rej = cJSON_GetObjectItemCaseSensitive(root, "rejected");
    cJSON_ArrayForEach(it, rej)
    {
        idx = cJSON_GetObjectItemCaseSensitive(it, "index");
        msg = cJSON_GetObjectItemCaseSensitive(it, "error");
        field = cJSON_GetObjectItemCaseSensitive(it, "field");
        if (!cJSON_IsNumber(idx) || idx->valuedouble < 0 || idx->valuedouble >= (double)n)
            continue;
        log_warnx("sender: server rejected run %s: %s: %s; dropped",
                  items[(size_t)idx->valuedouble].id,
                  cJSON_IsString(field) ? field->valuestring : "",
                  cJSON_IsString(msg) ? msg->valuestring : "?");
    }
    cJSON_Delete(root);
}

static void sender_remove(struct agent *ag, const struct spool_item *items, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (spool_remove(ag->spool, items[i].kind, items[i].id) != HO_OK)
            log_warnx("sender: %s %s already gone from the spool", items[i].kind, items[i].id);
    }
}

/* Posts one batch; *limit shrinks when the server refuses the batch whole. */
static enum ho_code sender_batch(struct agent *ag, struct httpc *hc, const char *url,
                                 struct spool_item *items, size_t n, size_t *limit,
                                 size_t *sent, struct ho_error *err)
{
    struct httpc_response resp = {0};
    char token[256], *body = sender_body(items, n);
    size_t acked = 0;
    enum ho_code rc;

    identity_token(ag, token, sizeof(token));
    if (token[0] == '\0') {
        free(body);
        return ho_error_set(err, HO_EAUTH, "token", "not enrolled yet");
    }
    if (body == NULL) {
        *limit = n > 1 ? n / 2 : 1;
        return HO_OK;
    }
    rc = httpc_request(hc, "POST", url, token, "application/json", body, strlen(body), NULL,
                       SENDER_MAX_RESPONSE, &resp, err);
    crypto_wipe(token, sizeof(token));
    free(body);
    if (rc != HO_OK)
        return rc;
    if (resp.status == 200) {
        sender_log_rejected(resp.body, resp.body_len, items, n, &acked);
        sender_remove(ag, items, n);
        *sent += acked;
        *limit = (size_t)ag->cfg.batch_size;
    } else if ((resp.status == 400 || resp.status == 413) && n > 1) {
        *limit = n / 2;
    } else if (resp.status == 400 || resp.status == 413) {
        log_warnx("sender: server refused run %s (%ld: %.200s); dropped", items[0].id,
                  resp.status, resp.body);
        sender_remove(ag, items, n);
    } else if (resp.status == 401 || resp.status == 403) {
        rc = ho_error_set(err, HO_EAUTH, "token", "server refused the agent token (%ld)",
                          resp.status);
    } else {
        rc = ho_error_set(err, HO_EIO, "server", "server answered %ld", resp.status);
    }
    httpc_response_cleanup(&resp);
    return rc;
}

enum ho_code sender_send_items(struct agent *ag, struct httpc *hc, struct spool_item *items,
                               size_t n, size_t *sent, struct ho_error *err)
{
    size_t limit = n;
    char *url = xasprintf("%s/api/v1/runs", ag->cfg.server);
    enum ho_code rc;

    *sent = 0;
    rc = sender_batch(ag, hc, url, items, n, &limit, sent, err);
    free(url);
    if (rc == HO_OK && limit < n)
        rc = ho_error_set(err, HO_EINVAL, "runs", "the server refused the batch");
    return rc;
}

enum ho_code sender_flush(struct agent *ag, struct httpc *hc, size_t max_batches, size_t *sent,
                          struct ho_error *err)
{
    struct spool_item *items = NULL;
    size_t n = 0, b, limit = (size_t)ag->cfg.batch_size;
    char *url = xasprintf("%s/api/v1/runs", ag->cfg.server);
    enum ho_code rc = HO_OK;

    *sent = 0;
    for (b = 0; b < max_batches; b++) {
        rc = spool_peek(ag->spool, "run", limit, SENDER_MAX_BATCH_BYTES, &items, &n);
        if (rc != HO_OK || n == 0)
            break;
        rc = sender_batch(ag, hc, url, items, n, &limit, sent, err);
        spool_items_free(items, n);
        items = NULL;
        if (rc != HO_OK)
            break;
    }
    free(url);
    return rc;
}

/* Logs the server's answer to a metric batch at debug level. */
static void sender_log_metrics_ack(const struct spool_item *it, const struct httpc_response *resp)
{
    cJSON *root = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
    const cJSON *dup = cJSON_GetObjectItemCaseSensitive(root, "duplicate");

    log_debug("sender: metric batch %s: %.0f accepted%s", it->id,
              cJSON_IsNumber(acc) ? acc->valuedouble : -1.0,
              cJSON_IsTrue(dup) ? " (duplicate)" : "");
    cJSON_Delete(root);
}

/* Posts one spooled metric batch; it leaves the spool when answered 200, 400 or 413. */
static enum ho_code sender_metrics_item(struct agent *ag, struct httpc *hc, const char *url,
                                        const struct spool_item *it, size_t *sent,
                                        struct ho_error *err)
{
    struct httpc_response resp = {0};
    char token[256], text[256];
    enum ho_code rc;

    identity_token(ag, token, sizeof(token));
    if (token[0] == '\0')
        return ho_error_set(err, HO_EAUTH, "token", "not enrolled yet");
    rc = httpc_request(hc, "POST", url, token, "application/json", it->data, it->len, NULL,
                       SENDER_MAX_RESPONSE, &resp, err);
    crypto_wipe(token, sizeof(token));
    if (rc != HO_OK)
        return rc;
    if (resp.status == 200) {
        sender_log_metrics_ack(it, &resp);
        sender_remove(ag, it, 1);
        (*sent)++;
    } else if (resp.status == 400 || resp.status == 413) {
        log_safe(text, sizeof(text), resp.body);
        log_warnx("sender: server refused metric batch %s (%ld: %s); dropped", it->id,
                  resp.status, text);
        sender_remove(ag, it, 1);
    } else if (resp.status == 401 || resp.status == 403) {
        rc = ho_error_set(err, HO_EAUTH, "token", "server refused the agent token (%ld)",
                          resp.status);
    } else {
        rc = ho_error_set(err, HO_EIO, "server", "server answered %ld to metrics", resp.status);
    }
    httpc_response_cleanup(&resp);
    return rc;
}

enum ho_code sender_flush_metrics(struct agent *ag, struct httpc *hc, size_t max_items,
                                  size_t *sent, struct ho_error *err)
{
    struct spool_item *items = NULL;
    size_t n = 0, i;
    char *url = xasprintf("%s/api/v1/metrics", ag->cfg.server);
    enum ho_code rc = HO_OK;

    *sent = 0;
    for (i = 0; i < max_items; i++) {
        rc = spool_peek(ag->spool, "metrics", 1, 1, &items, &n);
        if (rc != HO_OK || n == 0)
            break;
        rc = sender_metrics_item(ag, hc, url, &items[0], sent, err);
        spool_items_free(items, n);
        items = NULL;
        if (rc != HO_OK)
            break;
    }
    free(url);
    return rc;
}

/*
 * Adds "packages" (what runs: --package-dir and synced packages, as the
 * daemon reported them) and "package_errors" (failed installs) to root.
 */
static void sender_heartbeat_packages(struct agent *ag, cJSON *root)
{
    struct pkgsync_item *run = NULL, *errs = NULL;
    size_t nrun = 0, nerrs = 0, i;
    cJSON *pk = cJSON_CreateArray(), *pe = cJSON_CreateArray(), *o;

    if (ag->sync == NULL || !pkgsync_report(ag->sync, &run, &nrun, &errs, &nerrs)) {
        for (i = 0; i < ag->npackages; i++) {
            o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", ag->packages[i].name);
            cJSON_AddStringToObject(o, "version", ag->packages[i].version);
            cJSON_AddItemToArray(pk, o);
        }
    }
    for (i = 0; i < nrun; i++) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", run[i].name);
        cJSON_AddStringToObject(o, "version", run[i].version);
        cJSON_AddItemToArray(pk, o);
    }
    for (i = 0; i < nerrs; i++) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", errs[i].name);
        cJSON_AddStringToObject(o, "version", errs[i].version);
        cJSON_AddStringToObject(o, "error", errs[i].error);
        cJSON_AddItemToArray(pe, o);
    }
    cJSON_AddItemToObject(root, "packages", pk);
    cJSON_AddItemToObject(root, "package_errors", pe);
    pkgsync_items_free(run, nrun);
    pkgsync_items_free(errs, nerrs);
}

enum ho_code sender_heartbeat(struct agent *ag, struct httpc *hc, struct ho_error *err)
{
    struct httpc_response resp = {0};
    cJSON *root = cJSON_CreateObject();
    char token[256], *body, *url;
    enum ho_code rc;

    cJSON_AddStringToObject(root, "version", HO_VERSION);
    sender_heartbeat_packages(ag, root);
    cJSON_AddNumberToObject(root, "spool_depth", (double)spool_depth(ag->spool));
    cJSON_AddNumberToObject(root, "dropped", (double)spool_dropped(ag->spool));
    body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    url = xasprintf("%s/api/v1/agents/heartbeat", ag->cfg.server);
    identity_token(ag, token, sizeof(token));
    rc = httpc_request(hc, "POST", url, token, "application/json", body, strlen(body), NULL,
                       SENDER_MAX_RESPONSE, &resp, err);
    crypto_wipe(token, sizeof(token));
    if (rc == HO_OK && (resp.status == 401 || resp.status == 403))
        rc = ho_error_set(err, HO_EAUTH, "token", "server refused the agent token");
    else if (rc == HO_OK && resp.status != 200)
        rc = ho_error_set(err, HO_EIO, "server", "heartbeat answered %ld", resp.status);
    httpc_response_cleanup(&resp);
    cJSON_free(body);
    free(url);
    return rc;
}
