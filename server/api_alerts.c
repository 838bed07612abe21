/*
 * Alert endpoints (api_alerts.h): GET /api/v1/alerts, GET /api/v1/receivers
 * and the "alert" field of GET /api/v1/state. Response builders over
 * store_alerts.h; a delivery shows its receiver, state, attempts and last
 * error, never what was sent.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerts.h"
#include "alerts_impl.h"
#include "api_alerts.h"
#include "api_impl.h"
#include "app.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "receiver.h"
#include "store_alerts.h"

static void aa_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    if (ms == 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

static void aa_str(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *aa_delivery(const struct store_alert_delivery *d)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "id", (double)d->id);
    cJSON_AddStringToObject(o, "receiver", d->receiver != NULL ? d->receiver : "");
    cJSON_AddStringToObject(o, "event", d->event != NULL ? d->event : "");
    cJSON_AddStringToObject(o, "state", d->state);
    cJSON_AddNumberToObject(o, "attempts", d->attempts);
    if (d->last_status > 0)
        cJSON_AddNumberToObject(o, "last_status", (double)d->last_status);
    else
        cJSON_AddNullToObject(o, "last_status");
    aa_str(o, "last_error", d->last_error);
    aa_time(o, "created_at", d->created_at_ms);
    aa_time(o, "next_attempt_at",
            d->delivered_at_ms == 0 && d->failed_at_ms == 0 ? d->next_attempt_at_ms : 0);
    aa_time(o, "delivered_at", d->delivered_at_ms);
    aa_time(o, "failed_at", d->failed_at_ms);
    if (d->fallback_of > 0)
        cJSON_AddNumberToObject(o, "fallback_of", (double)d->fallback_of);
    else
        cJSON_AddNullToObject(o, "fallback_of");
    return o;
}

static cJSON *aa_alert(const struct store_alert *a, const struct store_alert_delivery *d, size_t nd)
{
    cJSON *o = cJSON_CreateObject(), *ctx, *arr;
    int agent_level = a->check == NULL || strcmp(a->check, ALERTS_AGENT_CHECK) == 0;
    size_t i;

    cJSON_AddNumberToObject(o, "id", (double)a->id);
    cJSON_AddStringToObject(o, "key", a->key != NULL ? a->key : "");
    cJSON_AddStringToObject(o, "kind", a->kind != NULL ? a->kind : "");
    cJSON_AddStringToObject(o, "severity", a->severity != NULL ? a->severity : "");
    cJSON_AddStringToObject(o, "state", a->resolved_at_ms != 0 ? "resolved" : "open");
    cJSON_AddStringToObject(o, "agent_id", a->agent_id);
    aa_str(o, "agent", a->agent_name);
    aa_str(o, "package", agent_level ? NULL : a->package);
    aa_str(o, "check", agent_level ? NULL : a->check);
    cJSON_AddStringToObject(o, "summary", a->summary != NULL ? a->summary : "");
    aa_time(o, "opened_at", a->opened_at_ms);
    aa_time(o, "last_sent_at", a->last_sent_at_ms);
    aa_time(o, "resolved_at", a->resolved_at_ms);
    cJSON_AddNumberToObject(o, "count", a->count);
    aa_str(o, "last_run_id", a->last_run_id);
    ctx = a->context_json != NULL ? cJSON_Parse(a->context_json) : NULL;
    cJSON_AddItemToObject(o, "context", cJSON_IsObject(ctx) ? ctx : cJSON_CreateObject());
    if (ctx != NULL && !cJSON_IsObject(ctx))
        cJSON_Delete(ctx);
    arr = cJSON_AddArrayToObject(o, "deliveries");
    for (i = 0; i < nd; i++) {
        if (d[i].alert_id == a->id)
            cJSON_AddItemToArray(arr, aa_delivery(&d[i]));
    }
    return o;
}

static int aa_query(const struct api_request *req, struct alert_query *q, struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "check", "package", "kind",   "state",
                                          "since", "until", "limit",   "cursor", NULL};
    enum alert_kind k;
    const char *state;

    memset(q, 0, sizeof(*q));
    q->state = -1;
    if (api_params_known(req, allowed, resp) || api_param_text(req, "agent", &q->agent, resp) ||
        api_param_text(req, "check", &q->check, resp) ||
        api_param_text(req, "package", &q->package, resp) ||
        api_param_text(req, "kind", &q->kind, resp) ||
        api_param_time(req, "since", &q->since_ms, resp) ||
        api_param_time(req, "until", &q->until_ms, resp) || api_param_limit(req, &q->limit, resp) ||
        api_param_cursor(req, &q->cursor, resp))
        return -1;
    if (q->kind != NULL && alert_kind_parse(q->kind, &k) != HO_OK) {
        api_error(resp, HO_EINVAL, "kind",
                  "must be one of failed, silent, flapping, guard_exhausted, stale");
        return -1;
    }
    state = api_param(req, "state");
    if (state != NULL) {
        if (strcmp(state, "open") == 0) {
            q->state = 0;
        } else if (strcmp(state, "resolved") == 0) {
            q->state = 1;
        } else {
            api_error(resp, HO_EINVAL, "state", "must be open or resolved");
            return -1;
        }
    }
    if (q->since_ms != 0 && q->until_ms != 0 && q->until_ms <= q->since_ms) {
        api_error(resp, HO_EINVAL, "until", "must be after since");
        return -1;
    }
    return 0;
}

void api_alerts_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct alert_query q;
    struct store_alert *v = NULL;
    struct store_alert_delivery *d = NULL;
    size_t n = 0, nd = 0, i;
    int64_t *ids = NULL;
    char next[STORE_CURSOR_LEN] = "";
    struct ho_error err;
    cJSON *root, *arr;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (aa_query(req, &q, resp) != 0)
        return;
    ho_error_clear(&err);
    rc = store_alerts_query(app->store, &q, &v, &n, next, &err);
    if (rc == HO_OK && n > 0) {
        ids = xcalloc(n, sizeof(*ids));
        for (i = 0; i < n; i++)
            ids[i] = v[i].id;
        rc = store_alert_deliveries(app->store, ids, n, &d, &nd);
    }
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] ? err.msg : "query failed");
        goto out;
    }
    root = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(root, "alerts");
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, aa_alert(&v[i], d, nd));
    if (next[0] != '\0')
        cJSON_AddStringToObject(root, "next_cursor", next);
    else
        cJSON_AddNullToObject(root, "next_cursor");
    api_json_tree(resp, 200, root);
out:
    free(ids);
    store_alert_deliveries_free(d, nd);
    store_alerts_free(v, n);
}

void api_receivers_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    static const char *const allowed[] = {NULL};
    const struct receivers *rs = alerts_receivers(app->alerts);
    struct store_receiver_stats st;
    cJSON *root, *arr, *o;
    size_t i;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (api_params_known(req, allowed, resp))
        return;
    root = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(root, "receivers");
    for (i = 0; rs != NULL && i < receivers_count(rs); i++) {
        if (store_receiver_stats_get(app->store, receiver_name(rs, i), &st) != HO_OK) {
            cJSON_Delete(root);
            api_error(resp, HO_EDB, NULL, "query failed");
            return;
        }
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", receiver_name(rs, i));
        cJSON_AddStringToObject(o, "type", receiver_type_str(receiver_type(rs, i)));
        cJSON_AddNumberToObject(o, "delivered", (double)st.delivered);
        cJSON_AddNumberToObject(o, "pending", (double)st.pending);
        cJSON_AddNumberToObject(o, "failed", (double)st.failed);
        cJSON_AddNumberToObject(o, "failed_attempts", (double)st.attempts_failed);
        cJSON_AddBoolToObject(o, "failing", st.last_error_at_ms > st.last_success_at_ms);
        aa_str(o, "last_error", st.last_error);
        aa_time(o, "last_error_at", st.last_error_at_ms);
        aa_time(o, "last_success_at", st.last_success_at_ms);
        cJSON_AddItemToArray(arr, o);
        store_receiver_stats_cleanup(&st);
    }
    api_json_tree(resp, 200, root);
}
