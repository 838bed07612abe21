/*
 * Metric points from runs and stats (DESIGN.md section 7, INTEGRATIONS.md
 * section 12), and the JSON codec of their tags (the `tags` column of
 * schema/002_points.sql). Pure: no store, no clock, no I/O.
 *
 * Tags are collected in priority order and a key already present is not added
 * again, so the server's tags are never overridden by a metric's or the
 * package's own tag of the same name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mem.h"
#include "points.h"

/* node, environment, package, check, component, status */
#define POINTS_SERVER_TAGS 6

void point_cleanup(struct point *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->check);
    points_tags_free(p->tags, p->ntags);
    memset(p, 0, sizeof(*p));
}

void point_list_cleanup(struct point_list *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        point_cleanup(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void points_free(struct point *p, size_t n)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < n; i++)
        point_cleanup(&p[i]);
    free(p);
}

void points_tags_free(struct tag *t, size_t n)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(t[i].key);
        free(t[i].value);
    }
    free(t);
}

const char *points_tag(const struct point *p, const char *key)
{
    size_t i;

    for (i = 0; i < p->ntags; i++) {
        if (strcmp(p->tags[i].key, key) == 0)
            return p->tags[i].value;
    }
    return NULL;
}

struct point *point_list_add(struct point_list *l)
{
    struct point *p;

    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 8 : l->cap * 2;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    p = &l->v[l->n++];
    memset(p, 0, sizeof(*p));
    return p;
}

/* A new point at the end of l, with room for up to maxtags tags. */
static struct point *point_new(struct point_list *l, const char *name, const char *check,
                               int64_t ts_ms, double value, size_t maxtags)
{
    struct point *p = point_list_add(l);

    p->name = xstrdup(name);
    p->check = xstrdup(check);
    p->ts_ms = ts_ms;
    p->value = value;
    p->tags = xcalloc(maxtags > 0 ? maxtags : 1, sizeof(*p->tags));
    return p;
}

/* Adds key=value unless key is there already or value is empty (room was made by point_new). */
static void tag_add(struct point *p, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0' || points_tag(p, key) != NULL)
        return;
    p->tags[p->ntags].key = xstrdup(key);
    p->tags[p->ntags].value = xstrdup(value);
    p->ntags++;
}

static void tags_add(struct point *p, const struct tag *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        tag_add(p, t[i].key, t[i].value);
}

/* A point of run r with the server's tags; own tags (may be NULL) go before the package's. */
static struct point *run_point(const struct run *r, const char *node, struct point_list *out,
                               const char *name, int64_t ts_ms, double value,
                               const struct tag *own, size_t nown, const char *status)
{
    struct point *p;

    p = point_new(out, name, r->check, ts_ms, value, POINTS_SERVER_TAGS + nown + r->ntags);
    tag_add(p, "node", node);
    tag_add(p, "environment",
            r->environment != NULL && r->environment[0] != '\0' ? r->environment
                                                                : POINTS_ENV_DEFAULT);
    tag_add(p, "package", r->package);
    tag_add(p, "check", r->check);
    if (status != NULL) {
        tag_add(p, "component", r->check);
        tag_add(p, "status", status);
    }
    tags_add(p, own, nown);
    tags_add(p, r->tags, r->ntags);
    return p;
}

void points_from_run(const struct run *r, const char *node, struct point_list *out)
{
    const struct metric *m;
    int ok;
    size_t i;

    for (i = 0; i < r->nmetrics; i++) {
        m = &r->metrics[i];
        (void)run_point(r, node, out, m->name, m->ts_ms != 0 ? m->ts_ms : r->started_at_ms,
                        m->value, m->tags, m->ntags, NULL);
    }
    (void)run_point(r, node, out, POINTS_OUTCOME, r->started_at_ms, (double)r->outcome, NULL, 0,
                    NULL);
    (void)run_point(r, node, out, POINTS_DURATION, r->started_at_ms, (double)r->duration_ms, NULL,
                    0, NULL);
    if (r->repair.present && r->repair.status != REPAIR_STATUS_SUPPRESSED) {
        ok = r->repair.status == REPAIR_STATUS_SUCCEEDED && r->outcome == RUN_OUTCOME_REPAIRED;
        (void)run_point(r, node, out, POINTS_REPAIR, r->started_at_ms, ok ? 1.0 : 0.0, NULL, 0,
                        ok ? POINTS_REPAIR_OK : POINTS_REPAIR_FAILED);
    }
}

void points_from_stats(const struct metric *m, size_t n, const char *node, int64_t now_ms,
                       struct point_list *out)
{
    const char *env;
    struct point *p;
    size_t i, j;

    for (i = 0; i < n; i++) {
        env = POINTS_ENV_DEFAULT;
        for (j = 0; j < m[i].ntags; j++) {
            if (strcmp(m[i].tags[j].key, "environment") == 0)
                env = m[i].tags[j].value;
        }
        p = point_new(out, m[i].name, NULL, m[i].ts_ms != 0 ? m[i].ts_ms : now_ms, m[i].value,
                      2 + m[i].ntags);
        tag_add(p, "node", node);
        tag_add(p, "environment", env);
        tags_add(p, m[i].tags, m[i].ntags);
    }
}

/* ---- tags as JSON text ---- */

static enum ho_code json_str(struct buf *out, const char *s)
{
    enum ho_code rc = buf_append(out, "\"", 1);
    const char *run = s;
    char esc[8];

    for (; rc == HO_OK && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = buf_append(out, run, (size_t)(s - run));
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        if (rc == HO_OK)
            rc = buf_appends(out, esc);
        run = s + 1;
    }
    if (rc == HO_OK)
        rc = buf_append(out, run, (size_t)(s - run));
    if (rc == HO_OK)
        rc = buf_append(out, "\"", 1);
    return rc;
}

enum ho_code points_tags_to_json(const struct tag *t, size_t n, struct buf *out)
{
    enum ho_code rc = buf_append(out, "{", 1);
    size_t i;

    for (i = 0; rc == HO_OK && i < n; i++) {
        if (i > 0)
            rc = buf_append(out, ",", 1);
        if (rc == HO_OK)
            rc = json_str(out, t[i].key);
        if (rc == HO_OK)
            rc = buf_append(out, ":", 1);
        if (rc == HO_OK)
            rc = json_str(out, t[i].value);
    }
    if (rc == HO_OK)
        rc = buf_append(out, "}", 1);
    return rc;
}

enum ho_code points_tags_parse(const char *json, size_t len, struct tag **out, size_t *n)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *it;
    struct tag *t = NULL;
    size_t count = 0;
    enum ho_code rc = HO_EINVAL;

    *out = NULL;
    *n = 0;
    if (root == NULL || !cJSON_IsObject(root))
        goto out;
    t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*t));
    cJSON_ArrayForEach(it, root)
    {
        if (!cJSON_IsString(it) || it->string == NULL)
            goto out;
        t[count].key = xstrdup(it->string);
        t[count].value = xstrdup(it->valuestring);
        count++;
    }
    *out = t;
    *n = count;
    t = NULL;
    rc = HO_OK;
out:
    points_tags_free(t, count);
    cJSON_Delete(root);
    return rc;
}
