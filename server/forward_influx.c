/*
 * InfluxDB line protocol (INTEGRATIONS.md sections 2 and 12, after
 * influxdata/docs-v2 reference/syntax/line-protocol.md):
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 * Escaping: measurement comma and space; tag keys, tag values and field keys
 * comma, equals sign and space; string field values double quote and
 * backslash. A point becomes "NAME,tags value=FLOAT TS" with its tags sorted
 * by key (InfluxDB's advice for faster writes), one float field forever (a
 * field keeps its first type) and ms timestamps (the URL says precision=ms).
 *
 * Line protocol has no way to write a backslash that ends an element or stands
 * before a character we escape (1.x reads "\\," as an escaped backslash and
 * then a separator), so such backslashes are left out. Control characters
 * (never valid in our names, but a line must not break) become spaces.
 */
#include <stdlib.h>
#include <string.h>

#include "forward_impl.h"
#include "mem.h"
#include "points.h"

#define INFLUX_MEASUREMENT ", "
#define INFLUX_KEY         ",= "

/* Appends s escaped for an element whose separators are special; *written = bytes appended. */
static enum ho_code influx_escape(struct buf *out, const char *s, const char *special,
                                  size_t *written)
{
    enum ho_code rc = HO_OK;
    size_t start = out->len, run;
    char c;

    while (rc == HO_OK && *s != '\0') {
        if (*s == '\\') {
            for (run = 0; s[run] == '\\'; run++)
                ;
            if (s[run] != '\0' && strchr(special, s[run]) == NULL &&
                (unsigned char)s[run] >= 0x20)
                rc = buf_append(out, s, run);
            s += run;
            continue;
        }
        c = (unsigned char)*s < 0x20 ? ' ' : *s;
        if (strchr(special, c) != NULL)
            rc = buf_append(out, "\\", 1);
        if (rc == HO_OK)
            rc = buf_append(out, &c, 1);
        s++;
    }
    *written = out->len - start;
    return rc;
}

static enum ho_code influx_string(struct buf *out, const char *s)
{
    enum ho_code rc = buf_append(out, "\"", 1);

    for (; rc == HO_OK && *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            rc = buf_append(out, "\\", 1);
        if (rc == HO_OK)
            rc = buf_append(out, s, 1);
    }
    if (rc == HO_OK)
        rc = buf_append(out, "\"", 1);
    return rc;
}

static enum ho_code influx_field_value(struct buf *out, const struct influx_field *f)
{
    char num[32];

    switch (f->type) {
    case INFLUX_FLOAT:
        fwd_format_double(f->f, num);
        return buf_appends(out, num);
    case INFLUX_INT:
        return buf_printf(out, "%lldi", (long long)f->i);
    case INFLUX_BOOL:
        return buf_appends(out, f->b ? "true" : "false");
    case INFLUX_STRING:
        return influx_string(out, f->s != NULL ? f->s : "");
    }
    return HO_EINVAL;
}

/* Appends ",key=value" unless either comes out empty (line protocol has no empty tags). */
static enum ho_code influx_tag(struct buf *out, const struct tag *t)
{
    size_t mark = out->len, w = 0;
    enum ho_code rc;

    rc = buf_append(out, ",", 1);
    if (rc == HO_OK)
        rc = influx_escape(out, t->key, INFLUX_KEY, &w);
    if (rc == HO_OK && w == 0)
        goto undo;
    if (rc == HO_OK)
        rc = buf_append(out, "=", 1);
    if (rc == HO_OK)
        rc = influx_escape(out, t->value, INFLUX_KEY, &w);
    if (rc == HO_OK && w == 0)
        goto undo;
    return rc;
undo:
    out->len = mark;
    out->data[mark] = '\0';
    return HO_OK;
}

enum ho_code influx_line(struct buf *out, const char *measurement, const struct tag *tags,
                         size_t ntags, const struct influx_field *fields, size_t nfields,
                         int has_ts, int64_t ts)
{
    size_t mark = out->len, i, w = 0;
    enum ho_code rc;

    if (nfields == 0)
        return HO_EINVAL;
    rc = influx_escape(out, measurement, INFLUX_MEASUREMENT, &w);
    if (rc == HO_OK && w == 0)
        rc = buf_append(out, "_", 1);
    for (i = 0; rc == HO_OK && i < ntags; i++)
        rc = influx_tag(out, &tags[i]);
    for (i = 0; rc == HO_OK && i < nfields; i++) {
        rc = buf_append(out, i == 0 ? " " : ",", 1);
        if (rc == HO_OK)
            rc = influx_escape(out, fields[i].key, INFLUX_KEY, &w);
        if (rc == HO_OK && w == 0)
            rc = buf_append(out, "_", 1);
        if (rc == HO_OK)
            rc = buf_append(out, "=", 1);
        if (rc == HO_OK)
            rc = influx_field_value(out, &fields[i]);
    }
    if (rc == HO_OK && has_ts)
        rc = buf_printf(out, " %lld", (long long)ts);
    if (rc == HO_OK)
        rc = buf_append(out, "\n", 1);
    if (rc != HO_OK && out->data != NULL) {
        out->len = mark; /* a line is whole or absent */
        out->data[mark] = '\0';
    }
    return rc;
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tag *)a)->key, ((const struct tag *)b)->key);
}

enum ho_code fwd_influx_encode(const struct point *p, size_t n, struct buf *out)
{
    struct influx_field value = {"value", INFLUX_FLOAT, 0, 0, 0, NULL};
    struct tag *sorted = NULL;
    size_t i, cap = 0;
    enum ho_code rc = HO_OK;

    for (i = 0; rc == HO_OK && i < n; i++) {
        if (p[i].ntags > cap) {
            cap = p[i].ntags;
            sorted = xrealloc(sorted, cap * sizeof(*sorted));
        }
        if (p[i].ntags > 0) {
            memcpy(sorted, p[i].tags, p[i].ntags * sizeof(*sorted));
            qsort(sorted, p[i].ntags, sizeof(*sorted), tag_cmp);
        }
        value.f = p[i].value;
        rc = influx_line(out, p[i].name, sorted, p[i].ntags, &value, 1, 1, p[i].ts_ms);
    }
    free(sorted);
    return rc;
}
