/*
 * The alert context codec and the assembly of struct alert (alert.h) for the
 * receiver encoders. The context is the part of an alert that is not a column
 * of its row: the newest run's version, environment, outcome and output
 * excerpts, and the check's manifest "alert" block (runbook, docs, advice,
 * changelog, login with {node} expanded), kept as one JSON object in
 * alerts.context and shown as is by GET /api/v1/alerts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alerts_impl.h"
#include "log.h"
#include "mem.h"
#include "run.h"
#include "store_alerts.h"

#define ALERT_LABELS_MAX 64

void alert_context_cleanup(struct alert_context *c)
{
    size_t i;

    if (c == NULL)
        return;
    free(c->version);
    free(c->environment);
    free(c->outcome);
    free(c->test_output);
    free(c->repair_output);
    free(c->retest_output);
    free(c->runbook);
    free(c->advice);
    free(c->changelog);
    free(c->login);
    for (i = 0; i < c->ndocs; i++)
        free(c->docs[i]);
    free(c->docs);
    free(c->last_run_at);
    memset(c, 0, sizeof(*c));
}

static void ctx_add(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
}

char *alert_context_to_json(const struct alert_context *c)
{
    cJSON *o = cJSON_CreateObject(), *docs;
    char *text;
    size_t i;

    ctx_add(o, "version", c->version);
    ctx_add(o, "environment", c->environment);
    ctx_add(o, "outcome", c->outcome);
    ctx_add(o, "last_run_at", c->last_run_at);
    if (c->interval_s > 0)
        cJSON_AddNumberToObject(o, "interval", c->interval_s);
    if (c->consecutive_failures >= 0)
        cJSON_AddNumberToObject(o, "consecutive_failures", c->consecutive_failures);
    if (c->repairs_in_window >= 0)
        cJSON_AddNumberToObject(o, "repairs_in_window", c->repairs_in_window);
    ctx_add(o, "test_output", c->test_output);
    ctx_add(o, "repair_output", c->repair_output);
    ctx_add(o, "retest_output", c->retest_output);
    ctx_add(o, "runbook", c->runbook);
    if (c->ndocs > 0) {
        docs = cJSON_AddArrayToObject(o, "docs");
        for (i = 0; i < c->ndocs; i++)
            cJSON_AddItemToArray(docs, cJSON_CreateString(c->docs[i]));
    }
    ctx_add(o, "advice", c->advice);
    ctx_add(o, "changelog", c->changelog);
    ctx_add(o, "login", c->login);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) {
        log_error("alerts: out of memory printing an alert context");
        abort();
    }
    return text;
}

static char *ctx_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) && v->valuestring != NULL ? xstrdup(v->valuestring) : NULL;
}

static int ctx_int(const cJSON *o, const char *key, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9)
        return dflt;
    return (int)v->valuedouble;
}

void alert_context_parse(const char *json, struct alert_context *c)
{
    const cJSON *docs, *it;
    cJSON *o;

    memset(c, 0, sizeof(*c));
    c->consecutive_failures = -1;
    c->repairs_in_window = -1;
    o = json != NULL ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return;
    }
    c->version = ctx_str(o, "version");
    c->environment = ctx_str(o, "environment");
    c->outcome = ctx_str(o, "outcome");
    c->last_run_at = ctx_str(o, "last_run_at");
    c->interval_s = ctx_int(o, "interval", 0);
    c->consecutive_failures = ctx_int(o, "consecutive_failures", -1);
    c->repairs_in_window = ctx_int(o, "repairs_in_window", -1);
    c->test_output = ctx_str(o, "test_output");
    c->repair_output = ctx_str(o, "repair_output");
    c->retest_output = ctx_str(o, "retest_output");
    c->runbook = ctx_str(o, "runbook");
    c->advice = ctx_str(o, "advice");
    c->changelog = ctx_str(o, "changelog");
    c->login = ctx_str(o, "login");
    docs = cJSON_GetObjectItemCaseSensitive(o, "docs");
    if (cJSON_IsArray(docs) && cJSON_GetArraySize(docs) > 0) {
        c->docs = xcalloc((size_t)cJSON_GetArraySize(docs), sizeof(*c->docs));
        cJSON_ArrayForEach (it, docs) {
            if (cJSON_IsString(it) && c->ndocs < RUN_ALERT_MAX_DOCS)
                c->docs[c->ndocs++] = xstrdup(it->valuestring);
        }
    }
    cJSON_Delete(o);
}

struct tag *alert_tags_parse(const char *json, size_t *n)
{
    const cJSON *it;
    struct tag *t;
    cJSON *o;

    *n = 0;
    o = json != NULL ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o) || cJSON_GetArraySize(o) == 0) {
        cJSON_Delete(o);
        return NULL;
    }
    t = xcalloc((size_t)cJSON_GetArraySize(o), sizeof(*t));
    cJSON_ArrayForEach (it, o) {
        if (!cJSON_IsString(it) || *n >= ALERT_LABELS_MAX)
            continue;
        t[*n].key = xstrdup(it->string);
        t[*n].value = xstrdup(it->valuestring);
        (*n)++;
    }
    cJSON_Delete(o);
    return t;
}

void alert_tags_free(struct tag *t, size_t n)
{
    size_t i;

    for (i = 0; t != NULL && i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

/* Appends s percent-encoded (all but A-Z a-z 0-9 - . _ ~) to out at *len. */
static void url_enc(char *out, size_t *len, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char ch;

    for (; *s != '\0'; s++) {
        ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch) != NULL) {
            out[(*len)++] = (char)ch;
        } else {
            out[(*len)++] = '%';
            out[(*len)++] = hex[ch >> 4];
            out[(*len)++] = hex[ch & 15];
        }
    }
    out[*len] = '\0';
}

char *alert_dashboard_url(const char *public_url, const char *agent, const char *check)
{
    size_t base, len, cap;
    char *out;

    if (public_url == NULL || public_url[0] == '\0' || agent == NULL)
        return NULL;
    base = strlen(public_url);
    while (base > 0 && public_url[base - 1] == '/')
        base--;
    cap = base + 16 + 3 * strlen(agent) + 3 * (check != NULL ? strlen(check) : 0) + 1;
    out = xmalloc(cap);
    memcpy(out, public_url, base);
    len = base;
    if (check == NULL) {
        memcpy(out + len, "/#/fleet", 9);
        return out;
    }
    memcpy(out + len, "/#/check/", 9);
    len += 9;
    url_enc(out, &len, agent);
    out[len++] = '/';
    url_enc(out, &len, check);
    return out;
}

void alert_view_init(struct alert_view *v, const struct store_alert *s, enum alert_event ev,
                     const char *public_url)
{
    struct alert *a = &v->a;
    int agent_level = s->check == NULL || strcmp(s->check, ALERTS_AGENT_CHECK) == 0;

    memset(v, 0, sizeof(*v));
    alert_context_parse(s->context_json, &v->ctx);
    v->labels = alert_tags_parse(s->labels_json, &v->nlabels);
    if (alert_kind_parse(s->kind, &v->kind) != HO_OK)
        v->kind = ALERT_KIND_FAILED;
    v->dashboard_url =
        alert_dashboard_url(public_url, s->agent_name, agent_level ? NULL : s->check);
    a->id = s->id;
    a->key = s->key;
    a->kind = v->kind;
    a->event = ev;
    a->severity = s->severity;
    a->summary = s->summary;
    a->agent_id = s->agent_id;
    a->agent_name = s->agent_name;
    a->package = agent_level ? NULL : s->package;
    a->version = agent_level ? NULL : v->ctx.version;
    a->check = agent_level ? NULL : s->check;
    a->environment = v->ctx.environment;
    a->labels = v->labels;
    a->nlabels = v->nlabels;
    a->outcome = v->ctx.outcome;
    a->test_output = v->ctx.test_output;
    a->repair_output = v->ctx.repair_output;
    a->retest_output = v->ctx.retest_output;
    a->runbook = v->ctx.runbook;
    a->advice = v->ctx.advice;
    a->changelog = v->ctx.changelog;
    a->login = v->ctx.login;
    a->docs = (const char *const *)v->ctx.docs;
    a->ndocs = v->ctx.ndocs;
    a->dashboard_url = v->dashboard_url;
    a->graph_url = NULL;
    a->started_at_ms = s->opened_at_ms;
    a->resolved_at_ms = s->resolved_at_ms;
    a->count = s->count;
}

void alert_view_cleanup(struct alert_view *v)
{
    if (v == NULL)
        return;
    alert_context_cleanup(&v->ctx);
    alert_tags_free(v->labels, v->nlabels);
    free(v->dashboard_url);
    free(v->graph_url);
    memset(v, 0, sizeof(*v));
}
