/*
 * GET /api/v1/forwarders (read or admin token): the delivery status of every
 * configured forwarder (forward.h), in config order. Times are RFC 3339 UTC,
 * null when never; targets never carry a secret.
 */
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api_impl.h"
#include "app.h"
#include "clock.h"
#include "forward.h"

static void api_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

static cJSON *api_forwarder_json(const struct forward_status *s)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddStringToObject(o, "type", forward_type_str(s->type));
    cJSON_AddStringToObject(o, "target", s->target != NULL ? s->target : "");
    cJSON_AddNumberToObject(o, "delivered_seq", (double)s->delivered_seq);
    cJSON_AddNumberToObject(o, "pending", (double)s->pending);
    api_time(o, "oldest_pending_at", s->oldest_pending_ms);
    cJSON_AddNumberToObject(o, "delivered", (double)s->delivered);
    cJSON_AddNumberToObject(o, "dropped", (double)s->dropped);
    cJSON_AddNumberToObject(o, "failures", (double)s->failures);
    cJSON_AddNumberToObject(o, "tags_dropped", (double)s->tags_dropped);
    if (s->last_error != NULL)
        cJSON_AddStringToObject(o, "last_error", s->last_error);
    else
        cJSON_AddNullToObject(o, "last_error");
    api_time(o, "last_attempt_at", s->last_attempt_at_ms);
    api_time(o, "last_success_at", s->last_success_at_ms);
    cJSON_AddStringToObject(o, "state", forward_state_str(s->state));
    return o;
}

void api_forwarders_get(struct app *app, const struct api_request *req,
                        struct api_response *resp)
{
    struct forward_status *s = NULL;
    cJSON *arr;
    size_t i, n = 0;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (req->nparams > 0) {
        api_error(resp, HO_EINVAL, req->params[0].key, "unknown query parameter");
        return;
    }
    rc = forward_status(app, &s, &n);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, "forwarder status unavailable");
        return;
    }
    arr = cJSON_CreateArray();
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, api_forwarder_json(&s[i]));
    forward_status_free(s, n);
    api_json_tree(resp, 200, arr);
}
