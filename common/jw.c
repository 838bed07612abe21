/*
 * JSON text straight into a struct buf (jw.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "jw.h"
#include "utf8.h"

void jw_init(struct jw *w, struct buf *b)
{
    w->b = b;
    w->rc = HO_OK;
    w->comma = 0;
    w->start = b->len;
}

enum ho_code jw_end(struct jw *w)
{
    if (w->rc != HO_OK && w->b->data != NULL) {
        w->b->len = w->start;
        w->b->data[w->start] = '\0';
    }
    return w->rc;
}

void jw_raw(struct jw *w, const void *p, size_t n)
{
    if (w->rc == HO_OK && n > 0)
        w->rc = buf_append(w->b, p, n);
}

/* Length of the multi-byte UTF-8 sequence at NUL-terminated p, 0 when not one. */
static size_t jw_utf8_len(const unsigned char *p)
{
    size_t n = utf8_seq_len(p, strnlen((const char *)p, 4));

    return n > 1 ? n : 0;
}

static int jw_is_linesep(const unsigned char *p)
{
    return p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9);
}

/* Bytes from p that go out as they are: printable ASCII and well-formed UTF-8. */
static size_t jw_verbatim(const unsigned char *p)
{
    const unsigned char *q = p;
    size_t n;

    for (;;) {
        if (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') {
            q++;
            continue;
        }
        n = *q >= 0x80 && !jw_is_linesep(q) ? jw_utf8_len(q) : 0;
        if (n == 0)
            break;
        q += n;
    }
    return (size_t)(q - p);
}

/* The two-character escape of c (RFC 8259 section 7), or 0. */
static char jw_short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    }
    return 0;
}

/* Writes the escape for what starts at p (not NUL); returns the bytes it stands for. */
static size_t jw_escape(struct jw *w, const unsigned char *p)
{
    char u[8];

    u[1] = jw_short_escape(*p);
    if (u[1] != 0) {
        u[0] = '\\';
        jw_raw(w, u, 2);
        return 1;
    }
    if (*p < 0x20) {
        snprintf(u, sizeof(u), "\\u%04x", *p);
        jw_raw(w, u, 6);
        return 1;
    }
    if (jw_is_linesep(p)) {
        jw_raw(w, p[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
        return 3;
    }
    /*
     * A byte that is not UTF-8 becomes '?', one byte for one, so an output capped at
     * RUN_MAX_OUTPUT stays within it once encoded (U+FFFD would triple it).
     */
    jw_raw(w, "?", 1);
    return 1;
}

void jw_str(struct jw *w, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t n;

    jw_raw(w, "\"", 1);
    while (*p != '\0') {
        n = jw_verbatim(p);
        jw_raw(w, p, n);
        p += n;
        if (*p != '\0')
            p += jw_escape(w, p);
    }
    jw_raw(w, "\"", 1);
}

void jw_int(struct jw *w, int64_t v)
{
    char t[24];
    int n;

    n = snprintf(t, sizeof(t), "%" PRId64, v);
    jw_raw(w, t, (size_t)n);
}

void jw_double(struct jw *w, double v)
{
    char t[40];
    int n;

    if (!isfinite(v)) {
        jw_raw(w, "null", 4);
        return;
    }
    n = snprintf(t, sizeof(t), "%.15g", v);
    if (strtod(t, NULL) != v)
        n = snprintf(t, sizeof(t), "%.17g", v);
    jw_raw(w, t, (size_t)n);
}

void jw_open(struct jw *w, const char *c)
{
    jw_raw(w, c, 1);
    w->comma = 0;
}

void jw_close(struct jw *w, const char *c)
{
    jw_raw(w, c, 1);
    w->comma = 1;
}

void jw_sep(struct jw *w)
{
    if (w->comma)
        jw_raw(w, ",", 1);
    w->comma = 1;
}

void jw_key(struct jw *w, const char *k)
{
    jw_sep(w);
    jw_str(w, k);
    jw_raw(w, ":", 1);
}

void jw_kstr(struct jw *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_str(w, v);
}

void jw_kint(struct jw *w, const char *k, int64_t v)
{
    jw_key(w, k);
    jw_int(w, v);
}

void jw_ktime(struct jw *w, const char *k, int64_t ms)
{
    char t[CLOCK_RFC3339_LEN];

    clock_format_rfc3339(ms, t);
    jw_kstr(w, k, t);
}

void jw_kbool(struct jw *w, const char *k, int v)
{
    jw_key(w, k);
    jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_knull(struct jw *w, const char *k)
{
    jw_key(w, k);
    jw_raw(w, "null", 4);
}

void jw_kstr_or_null(struct jw *w, const char *k, const char *v)
{
    if (v != NULL)
        jw_kstr(w, k, v);
    else
        jw_knull(w, k);
}

void jw_ktime_or_null(struct jw *w, const char *k, int64_t ms)
{
    if (ms != 0)
        jw_ktime(w, k, ms);
    else
        jw_knull(w, k);
}
