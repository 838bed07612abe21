/*
 * Read endpoints: run history, repair history, last state per agent x check,
 * and the fleet (DESIGN.md section 6). Filters are validated strictly (an
 * unknown or malformed parameter is a 400 naming it) and paging is keyset
 * based through an opaque cursor, newest first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "api_alerts.h"
#include "api_impl.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "jw.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "run.h"
#include "store_packages.h"

#define API_MAX_RESPONSE  (256u * 1024 * 1024)

static int api_run_query(const struct api_request *req, struct run_query *q,
                         struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "package", "check", "outcome", "since",
                                          "until", "manual", "limit", "cursor", NULL};
    const char *manual;

    memset(q, 0, sizeof(*q));
    q->manual = -1;
    if (api_params_known(req, allowed, resp) || api_param_text(req, "agent", &q->agent, resp) ||
        api_param_text(req, "package", &q->package, resp) ||
        api_param_text(req, "check", &q->check, resp) ||
        api_param_outcome(req, &q->outcome, resp) ||
        api_param_time(req, "since", &q->since_ms, resp) ||
        api_param_time(req, "until", &q->until_ms, resp) ||
        api_param_limit(req, &q->limit, resp) || api_param_cursor(req, &q->cursor, resp))
        return -1;
    manual = api_param(req, "manual");
    if (manual != NULL) {
        if (strcmp(manual, "true") == 0 || strcmp(manual, "1") == 0) {
            q->manual = 1;
        } else if (strcmp(manual, "false") == 0 || strcmp(manual, "0") == 0) {
            q->manual = 0;
        } else {
            api_error(resp, HO_EINVAL, "manual", "must be true or false");
            return -1;
        }
    }
    if (q->since_ms != 0 && q->until_ms != 0 && q->until_ms <= q->since_ms) {
        api_error(resp, HO_EINVAL, "until", "must be after since");
        return -1;
    }
    return 0;
}

static enum ho_code api_cursor_json(struct buf *b, const char *next)
{
    if (next[0] == '\0')
        return buf_appends(b, "],\"next_cursor\":null}");
    /* cursors are made by the store from [A-Za-z0-9_-], nothing to escape */
    return buf_printf(b, "],\"next_cursor\":\"%s\"}", next);
}

void api_runs_get(struct app *app, const struct api_request *req, struct api_response *resp,
                  int repairs_only)
{
    struct run_query q;
    struct run *runs = NULL;
    size_t n = 0, i;
    char next[STORE_CURSOR_LEN] = "";
    struct ho_error err;
    struct buf b;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (api_run_query(req, &q, resp) != 0)
        return;
    q.repairs_only = repairs_only;
    ho_error_clear(&err);
    rc = store_runs_query(app_reads(app), &q, &runs, &n, next, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] ? err.msg : "query failed");
        return;
    }
    buf_init(&b, API_MAX_RESPONSE);
    rc = buf_appends(&b, "{\"runs\":[");
    for (i = 0; i < n && rc == HO_OK; i++) {
        if (i > 0)
            rc = buf_append(&b, ",", 1);
        if (rc == HO_OK)
            rc = run_to_json(&runs[i], &b);
    }
    if (rc == HO_OK)
        rc = api_cursor_json(&b, next);
    store_runs_free(runs, n);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        api_error(resp, rc, "limit", "response too large; ask for fewer runs");
        return;
    }
    api_json_take(resp, 200, buf_take(&b));
    api_etag(req, resp);
}

static void api_add_time(cJSON *o, const char *key, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    if (ms == 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    clock_format_rfc3339(ms, t);
    cJSON_AddStringToObject(o, key, t);
}

static void api_state_json(struct jw *w, const struct state_row *s, int64_t now)
{
    int stale = s->interval_s > 0 && now - s->last_run_at_ms > 2000LL * s->interval_s;

    jw_sep(w);
    jw_open(w, "{");
    jw_kstr(w, "agent_id", s->agent_id);
    jw_kstr(w, "agent", s->agent_name);
    jw_kstr(w, "package", s->package);
    jw_kstr(w, "check", s->check);
    jw_kstr(w, "outcome", run_outcome_str(s->outcome));
    jw_kstr(w, "test_status", test_status_str((enum test_status)s->test_status));
    jw_kstr_or_null(w, "repair_status",
                    s->repair_status >= 0
                        ? repair_status_str((enum repair_status)s->repair_status)
                        : NULL);
    jw_kstr_or_null(w, "retest_status",
                    s->retest_status >= 0 ? test_status_str((enum test_status)s->retest_status)
                                          : NULL);
    jw_kstr(w, "last_run_id", s->last_run_id);
    jw_kbool(w, "manual", s->manual);
    jw_ktime_or_null(w, "last_run_at", s->last_run_at_ms);
    jw_ktime_or_null(w, "last_ok_at", s->last_ok_at_ms);
    jw_kint(w, "consecutive_failures", s->consecutive_failures);
    if (s->interval_s > 0)
        jw_kint(w, "interval", s->interval_s);
    else
        jw_knull(w, "interval");
    jw_kbool(w, "stale", stale);
    if (s->alert_id != 0) {
        jw_key(w, "alert");
        jw_open(w, "{");
        jw_kint(w, "id", s->alert_id);
        jw_kstr(w, "kind", s->alert_kind);
        jw_kstr(w, "severity", s->alert_severity);
        jw_ktime_or_null(w, "opened_at", s->alert_opened_at_ms);
        jw_kstr(w, "summary", s->alert_summary);
        jw_close(w, "}");
    } else {
        jw_knull(w, "alert");
    }
    jw_close(w, "}");
}

static void api_page(struct api_response *resp, const char *key, cJSON *items, const char *next)
{
    cJSON *root = cJSON_CreateObject();

    cJSON_AddItemToObject(root, key, items);
    if (next[0] != '\0')
        cJSON_AddStringToObject(root, "next_cursor", next);
    else
        cJSON_AddNullToObject(root, "next_cursor");
    api_json_tree(resp, 200, root);
}

#define API_SEARCH_MAX 128

/*
 * The filters of GET /state and /state/summary: agent, package, check, outcome,
 * one label=KEY=VALUE, q (a substring of agent, package or check) and stale=true.
 */
static int api_state_filters(const struct app *app, const struct api_request *req,
                             struct state_query *q, struct api_response *resp)
{
    const char *label = NULL, *stale, *eq;
    size_t i, nlabels = 0;

    memset(q, 0, sizeof(*q));
    q->now_ms = clock_wall_ms();
    q->silent_before_ms = q->now_ms - app->cfg.agent_silent_after * 1000;
    if (api_param_text(req, "agent", &q->agent, resp) ||
        api_param_text(req, "package", &q->package, resp) ||
        api_param_text(req, "check", &q->check, resp) ||
        api_param_outcome(req, &q->outcome, resp) || api_param_text(req, "q", &q->search, resp) ||
        api_param_text(req, "label", &label, resp))
        return -1;
    if (q->search != NULL && strlen(q->search) > API_SEARCH_MAX) {
        api_error(resp, HO_EINVAL, "q", "must be 1 to 128 characters");
        return -1;
    }
    for (i = 0; i < req->nparams; i++)
        nlabels += strcmp(req->params[i].key, "label") == 0;
    if (nlabels > 1) {
        api_error(resp, HO_EINVAL, "label", "only one label filter is supported");
        return -1;
    }
    if (label != NULL) {
        eq = strchr(label, '=');
        if (eq == NULL || eq == label || eq - label > 64 || eq[1] == '\0' ||
            strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
                (size_t)(eq - label)) {
            api_error(resp, HO_EINVAL, "label",
                      "must be KEY=VALUE with a key of 1-64 [A-Za-z0-9._-] and a value");
            return -1;
        }
        /* the key is copied into the request's own storage: it outlives the query */
        q->label_key = label;
        q->label_value = eq + 1;
    }
    stale = api_param(req, "stale");
    if (stale != NULL) {
        if (strcmp(stale, "true") == 0 || strcmp(stale, "1") == 0) {
            q->stale = 1;
        } else if (strcmp(stale, "false") != 0 && strcmp(stale, "0") != 0) {
            api_error(resp, HO_EINVAL, "stale", "must be true or false");
            return -1;
        }
    }
    return 0;
}

void api_state_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "package", "check", "outcome", "label", "q",
                                          "stale", "limit", "cursor", NULL};
    struct state_query q;
    struct state_row *rows = NULL;
    size_t n = 0, i;
    char next[STORE_CURSOR_LEN] = "";
    char key[80];
    struct ho_error err;
    struct buf b;
    struct jw w;
    int64_t now = clock_wall_ms();
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (api_params_known(req, allowed, resp) || api_state_filters(app, req, &q, resp) ||
        api_param_limit(req, &q.limit, resp) || api_param_cursor(req, &q.cursor, resp))
        return;
    if (q.label_key != NULL) { /* KEY=VALUE: the store wants the key alone */
        snprintf(key, sizeof(key), "%.*s", (int)(q.label_value - 1 - q.label_key), q.label_key);
        q.label_key = key;
    }
    ho_error_clear(&err);
    rc = store_state_query(app_reads(app), &q, &rows, &n, next, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] ? err.msg : "query failed");
        return;
    }
    buf_init(&b, API_MAX_RESPONSE);
    rc = buf_appends(&b, "{\"states\":[");
    jw_init(&w, &b);
    for (i = 0; i < n; i++)
        api_state_json(&w, &rows[i], now);
    store_state_free(rows, n);
    if (rc == HO_OK)
        rc = jw_end(&w);
    if (rc == HO_OK)
        rc = api_cursor_json(&b, next);
    if (rc != HO_OK) {
        buf_cleanup(&b);
        api_error(resp, rc, "limit", "response too large; ask for fewer states");
        return;
    }
    api_json_take(resp, 200, buf_take(&b));
    api_etag(req, resp);
}

void api_state_summary_get(struct app *app, const struct api_request *req,
                           struct api_response *resp)
{
    static const char *const allowed[] = {"agent", "package", "check", "outcome", "label", "q",
                                          "stale", NULL};
    struct state_query q;
    struct state_summary sum;
    struct ho_error err;
    char key[80];
    cJSON *root, *o, *names;
    enum ho_code rc;
    size_t i;
    int k;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (api_params_known(req, allowed, resp) || api_state_filters(app, req, &q, resp))
        return;
    if (q.label_key != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(q.label_value - 1 - q.label_key), q.label_key);
        q.label_key = key;
    }
    ho_error_clear(&err);
    rc = store_state_summary(app_reads(app), &q, &sum, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] ? err.msg : "query failed");
        return;
    }
    root = cJSON_CreateObject();
    o = cJSON_AddObjectToObject(root, "outcomes");
    for (k = 0; k <= RUN_OUTCOME_ERROR; k++)
        cJSON_AddNumberToObject(o, run_outcome_str((enum run_outcome)k), (double)sum.outcomes[k]);
    cJSON_AddNumberToObject(root, "states", (double)sum.states);
    cJSON_AddNumberToObject(root, "stale", (double)sum.stale);
    o = cJSON_AddObjectToObject(root, "agents");
    cJSON_AddNumberToObject(o, "total", (double)sum.agents);
    cJSON_AddNumberToObject(o, "silent", (double)sum.agents_silent);
    names = cJSON_AddArrayToObject(o, "silent_names");
    for (i = 0; i < sum.nsilent_names; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(sum.silent_names[i]));
    if (sum.alerts_open >= 0)
        cJSON_AddNumberToObject(root, "alerts_open", (double)sum.alerts_open);
    else
        cJSON_AddNullToObject(root, "alerts_open");
    store_state_summary_cleanup(&sum);
    api_json_tree(resp, 200, root);
    api_etag(req, resp);
}

static cJSON *api_agent_json(const struct app *app, const struct agent_row *a, int64_t now)
{
    cJSON *o = cJSON_CreateObject(), *labels, *pk;
    int64_t silent_ms = app->cfg.agent_silent_after * 1000;

    cJSON_AddStringToObject(o, "agent_id", a->id);
    cJSON_AddStringToObject(o, "name", a->name);
    labels = cJSON_Parse(a->labels_json != NULL ? a->labels_json : "{}");
    cJSON_AddItemToObject(o, "labels", labels != NULL ? labels : cJSON_CreateObject());
    if (a->version != NULL)
        cJSON_AddStringToObject(o, "version", a->version);
    else
        cJSON_AddNullToObject(o, "version");
    pk = a->packages_json != NULL ? cJSON_Parse(a->packages_json) : NULL;
    cJSON_AddItemToObject(o, "packages", pk != NULL ? pk : cJSON_CreateArray());
    api_add_time(o, "enrolled_at", a->enrolled_at_ms);
    api_add_time(o, "last_seen", a->last_seen_ms);
    cJSON_AddNumberToObject(o, "spool_depth", (double)a->spool_depth);
    cJSON_AddNumberToObject(o, "dropped", (double)a->dropped);
    cJSON_AddBoolToObject(o, "silent", a->last_seen_ms == 0 || now - a->last_seen_ms > silent_ms);
    return o;
}

void api_agents_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};
    struct agent_row *rows = NULL;
    size_t n = 0, i, limit;
    const char *cursor;
    char next[STORE_CURSOR_LEN] = "";
    struct ho_error err;
    cJSON *arr;
    int64_t now = clock_wall_ms();
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (api_params_known(req, allowed, resp) || api_param_limit(req, &limit, resp) ||
        api_param_cursor(req, &cursor, resp))
        return;
    ho_error_clear(&err);
    rc = store_agents_query(app_reads(app), limit, cursor, &rows, &n, next, &err);
    if (rc != HO_OK) {
        api_error(resp, rc, err.field, err.msg[0] ? err.msg : "query failed");
        return;
    }
    arr = cJSON_CreateArray();
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, api_agent_json(app, &rows[i], now));
    store_agents_free(rows, n);
    api_page(resp, "agents", arr, next);
    api_etag(req, resp);
}

/* "package_errors": the bundles the agent refused or could not install, as it reported. */
static void api_agent_package_errors(struct app *app, const char *agent_id, cJSON *o)
{
    struct pkg_error_row *e = NULL;
    cJSON *arr = cJSON_AddArrayToObject(o, "package_errors"), *it;
    size_t n = 0, i;

    if (store_package_errors_get(app->store, agent_id, &e, &n) != HO_OK)
        return;
    for (i = 0; i < n; i++) {
        it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "name", e[i].package);
        if (e[i].version != NULL)
            cJSON_AddStringToObject(it, "version", e[i].version);
        else
            cJSON_AddNullToObject(it, "version");
        cJSON_AddStringToObject(it, "error", e[i].error);
        api_add_time(it, "at", e[i].at_ms);
        cJSON_AddItemToArray(arr, it);
    }
    store_pkg_error_rows_free(e, n);
}

void api_agent_get(struct app *app, const struct api_request *req, struct api_response *resp,
                   const char *id)
{
    struct agent_row a;
    cJSON *o;
    enum ho_code rc;

    if (api_auth(app, req, API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN), NULL,
                 resp) != HO_OK)
        return;
    if (strlen(id) > 128) {
        api_error(resp, HO_EINVAL, "id", "agent id too long");
        return;
    }
    memset(&a, 0, sizeof(a));
    rc = store_agent_get(app_reads(app), id, &a);
    if (rc != HO_OK) {
        api_error(resp, rc, NULL, rc == HO_ENOENT ? "no such agent" : "query failed");
        return;
    }
    o = api_agent_json(app, &a, clock_wall_ms());
    api_agent_package_errors(app, a.id, o);
    api_json_tree(resp, 200, o);
    store_agent_row_cleanup(&a);
}
