/*
 * OpenTSDB HTTP /api/put bodies (INTEGRATIONS.md sections 1 and 12, after
 * OpenTSDB's docs api_http/put and user_guide/writing): a JSON array of
 * {"metric","timestamp","value","tags"}. Timestamps are milliseconds (13
 * digits, never mixed with seconds for one series). OpenTSDB has no escaping,
 * so names, tag keys and tag values are sanitized to [A-Za-z0-9-_./] (as
 * Icinga 2's writer does); a key that collides after sanitizing keeps its first
 * value. At most 8 tags per point (OpenTSDB's default): points.h keeps tags in
 * priority order, so those left out are the package's, and they are counted.
 */
#include <stdio.h>
#include <string.h>

#include "forward_impl.h"
#include "points.h"

#define OTSDB_TEXT_MAX 256

void fwd_opentsdb_sanitize(const char *s, char *out, size_t outsz)
{
    size_t i;

    if (outsz == 0)
        return;
    for (i = 0; s[i] != '\0' && i + 1 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '/')
            out[i] = (char)c;
        else
            out[i] = '_';
    }
    out[i] = '\0';
}

/* Appends "s" sanitized, quoted (the sanitized set needs no JSON escaping). */
static enum ho_code otsdb_str(struct buf *out, const char *s)
{
    char clean[OTSDB_TEXT_MAX];

    fwd_opentsdb_sanitize(s, clean, sizeof(clean));
    return buf_printf(out, "\"%s\"", clean);
}

static enum ho_code otsdb_tags(struct buf *out, const struct point *p, size_t *dropped)
{
    char keys[FWD_OPENTSDB_MAX_TAGS][OTSDB_TEXT_MAX];
    enum ho_code rc = buf_appends(out, "{");
    size_t i, j, kept = 0;

    for (i = 0; rc == HO_OK && i < p->ntags; i++) {
        char key[OTSDB_TEXT_MAX];

        fwd_opentsdb_sanitize(p->tags[i].key, key, sizeof(key));
        for (j = 0; j < kept && strcmp(keys[j], key) != 0; j++)
            ;
        if (j < kept)
            continue; /* collides with a tag of higher priority */
        if (kept == FWD_OPENTSDB_MAX_TAGS) {
            (*dropped)++;
            continue;
        }
        memcpy(keys[kept], key, sizeof(key));
        rc = buf_printf(out, "%s\"%s\":", kept > 0 ? "," : "", key);
        if (rc == HO_OK)
            rc = otsdb_str(out, p->tags[i].value);
        kept++;
    }
    if (rc == HO_OK)
        rc = buf_appends(out, "}");
    return rc;
}

enum ho_code fwd_opentsdb_encode(const struct point *p, size_t n, struct buf *out,
                                 size_t *tags_dropped)
{
    enum ho_code rc = buf_appends(out, "[");
    char num[32];
    size_t i;

    for (i = 0; rc == HO_OK && i < n; i++) {
        fwd_format_double(p[i].value, num);
        rc = buf_appends(out, i > 0 ? ",{\"metric\":" : "{\"metric\":");
        if (rc == HO_OK)
            rc = otsdb_str(out, p[i].name);
        if (rc == HO_OK)
            rc = buf_printf(out, ",\"timestamp\":%lld,\"value\":%s,\"tags\":",
                            (long long)p[i].ts_ms, num);
        if (rc == HO_OK)
            rc = otsdb_tags(out, &p[i], tags_dropped);
        if (rc == HO_OK)
            rc = buf_appends(out, "}");
    }
    if (rc == HO_OK)
        rc = buf_appends(out, "]");
    return rc;
}
