/*
 * Prometheus text exposition format 0.0.4 (prometheus/docs
 * content/docs/instrumenting/exposition_formats.md; INTEGRATIONS.md section 4):
 * "# HELP" and "# TYPE" once per family, samples "name{l="v"} value", label
 * values with \ " and newline escaped, values as Go floats (NaN, +Inf, -Inf).
 *
 * A scrape of a large fleet writes hundreds of thousands of lines, so a sample
 * line is composed on the stack and appended once, integers are formatted by
 * hand, and a label value without anything to escape is copied whole. Label
 * values must be UTF-8 or Prometheus refuses the whole scrape: an invalid byte
 * from an agent's check name becomes U+FFFD here rather than break everyone's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "prom.h"
#include "utf8.h"

#define PROM_LINE_MAX 1024 /* sample lines up to this are composed on the stack */

const char *prom_type_str(enum prom_type t)
{
    switch (t) {
    case PROM_COUNTER:
        return "counter";
    case PROM_GAUGE:
        return "gauge";
    case PROM_HISTOGRAM:
        return "histogram";
    case PROM_UNTYPED:
        return "untyped";
    }
    return "untyped";
}

static int prom_name_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':')
        return 1;
    return !first && c >= '0' && c <= '9';
}

size_t prom_name_sanitize(const char *in, char *out)
{
    size_t i = 0, o = 0;

    if (in[0] >= '0' && in[0] <= '9')
        out[o++] = '_';
    for (i = 0; in[i] != '\0' && o < PROM_NAME_MAX - 1; i++)
        out[o++] = prom_name_char(in[i], 0) ? in[i] : '_';
    if (o == 0)
        out[o++] = '_';
    out[o] = '\0';
    return o;
}


/*
 * 1 for the bytes that end a run copied as it is: the three escaped characters
 * and every non-ASCII byte (checked as UTF-8).
 */
static const unsigned char prom_stop[256] = {
    ['\n'] = 1, ['"'] = 1,  ['\\'] = 1, [0x80] = 1, [0x81] = 1, [0x82] = 1, [0x83] = 1, [0x84] = 1,
    [0x85] = 1, [0x86] = 1, [0x87] = 1, [0x88] = 1, [0x89] = 1, [0x8a] = 1, [0x8b] = 1, [0x8c] = 1,
    [0x8d] = 1, [0x8e] = 1, [0x8f] = 1, [0x90] = 1, [0x91] = 1, [0x92] = 1, [0x93] = 1, [0x94] = 1,
    [0x95] = 1, [0x96] = 1, [0x97] = 1, [0x98] = 1, [0x99] = 1, [0x9a] = 1, [0x9b] = 1, [0x9c] = 1,
    [0x9d] = 1, [0x9e] = 1, [0x9f] = 1, [0xa0] = 1, [0xa1] = 1, [0xa2] = 1, [0xa3] = 1, [0xa4] = 1,
    [0xa5] = 1, [0xa6] = 1, [0xa7] = 1, [0xa8] = 1, [0xa9] = 1, [0xaa] = 1, [0xab] = 1, [0xac] = 1,
    [0xad] = 1, [0xae] = 1, [0xaf] = 1, [0xb0] = 1, [0xb1] = 1, [0xb2] = 1, [0xb3] = 1, [0xb4] = 1,
    [0xb5] = 1, [0xb6] = 1, [0xb7] = 1, [0xb8] = 1, [0xb9] = 1, [0xba] = 1, [0xbb] = 1, [0xbc] = 1,
    [0xbd] = 1, [0xbe] = 1, [0xbf] = 1, [0xc0] = 1, [0xc1] = 1, [0xc2] = 1, [0xc3] = 1, [0xc4] = 1,
    [0xc5] = 1, [0xc6] = 1, [0xc7] = 1, [0xc8] = 1, [0xc9] = 1, [0xca] = 1, [0xcb] = 1, [0xcc] = 1,
    [0xcd] = 1, [0xce] = 1, [0xcf] = 1, [0xd0] = 1, [0xd1] = 1, [0xd2] = 1, [0xd3] = 1, [0xd4] = 1,
    [0xd5] = 1, [0xd6] = 1, [0xd7] = 1, [0xd8] = 1, [0xd9] = 1, [0xda] = 1, [0xdb] = 1, [0xdc] = 1,
    [0xdd] = 1, [0xde] = 1, [0xdf] = 1, [0xe0] = 1, [0xe1] = 1, [0xe2] = 1, [0xe3] = 1, [0xe4] = 1,
    [0xe5] = 1, [0xe6] = 1, [0xe7] = 1, [0xe8] = 1, [0xe9] = 1, [0xea] = 1, [0xeb] = 1, [0xec] = 1,
    [0xed] = 1, [0xee] = 1, [0xef] = 1, [0xf0] = 1, [0xf1] = 1, [0xf2] = 1, [0xf3] = 1, [0xf4] = 1,
    [0xf5] = 1, [0xf6] = 1, [0xf7] = 1, [0xf8] = 1, [0xf9] = 1, [0xfa] = 1, [0xfb] = 1, [0xfc] = 1,
    [0xfd] = 1, [0xfe] = 1, [0xff] = 1,
};

/* Length of the prefix of s that is copied as it is (ASCII with nothing to escape). */
static size_t prom_plain_len(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n && !prom_stop[s[i]])
        i++;
    return i;
}

size_t prom_label_value_put(char *dst, const char *v, size_t n)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t i = 0, o = 0, k;
    const char *esc;

    for (;;) {
        k = prom_plain_len(s + i, n - i);
        memcpy(dst + o, v + i, k);
        o += k;
        i += k;
        if (i == n)
            return o;
        k = s[i] >= 0x80 ? utf8_seq_len(s + i, n - i) : 0;
        if (k > 0) { /* a well-formed multibyte character */
            memcpy(dst + o, v + i, k);
            o += k;
            i += k;
            continue;
        }
        if (s[i] == '\\')
            esc = "\\\\";
        else if (s[i] == '"')
            esc = "\\\"";
        else if (s[i] == '\n')
            esc = "\\n";
        else
            esc = "\xef\xbf\xbd"; /* U+FFFD for a byte that is not UTF-8 */
        k = strlen(esc);
        memcpy(dst + o, esc, k);
        o += k;
        i++;
    }
}

enum ho_code prom_label_value(struct buf *b, const char *v, size_t n)
{
    char small[768], *big = NULL, *dst = small;
    enum ho_code rc;

    if (n > SIZE_MAX / 3)
        return HO_ETOOBIG;
    if (PROM_LABEL_VALUE_MAX(n) > sizeof(small))
        dst = big = xmalloc(PROM_LABEL_VALUE_MAX(n));
    rc = buf_append(b, dst, prom_label_value_put(dst, v, n));
    free(big);
    return rc;
}

enum ho_code prom_labels_append(struct buf *b, const struct prom_label *l, size_t n)
{
    enum ho_code rc = HO_OK;
    size_t i;

    for (i = 0; i < n && rc == HO_OK; i++) {
        if (i > 0)
            rc = buf_append(b, ",", 1);
        if (rc == HO_OK)
            rc = buf_appends(b, l[i].name);
        if (rc == HO_OK)
            rc = buf_append(b, "=\"", 2);
        if (rc == HO_OK)
            rc = prom_label_value(b, l[i].value, strlen(l[i].value));
        if (rc == HO_OK)
            rc = buf_append(b, "\"", 1);
    }
    return rc;
}

/* HELP text: only backslash and newline are escaped. */
static enum ho_code prom_help_text(struct buf *b, const char *help)
{
    enum ho_code rc = HO_OK;
    size_t i, run = 0;

    for (i = 0; help[i] != '\0' && rc == HO_OK; i++) {
        if (help[i] != '\\' && help[i] != '\n')
            continue;
        rc = buf_append(b, help + run, i - run);
        if (rc == HO_OK)
            rc = buf_appends(b, help[i] == '\\' ? "\\\\" : "\\n");
        run = i + 1;
    }
    if (rc == HO_OK)
        rc = buf_appends(b, help + run);
    return rc;
}

enum ho_code prom_family(struct buf *b, const char *name, enum prom_type t, const char *help)
{
    enum ho_code rc;

    rc = buf_printf(b, "# HELP %s ", name);
    if (rc == HO_OK)
        rc = prom_help_text(b, help);
    if (rc == HO_OK)
        rc = buf_printf(b, "\n# TYPE %s %s\n", name, prom_type_str(t));
    return rc;
}

size_t prom_i64_len(int64_t v)
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, p = 10;
    size_t n = 1;

    while (n < 20 && u >= p) {
        n++;
        p *= 10;
    }
    return n + (v < 0);
}

size_t prom_i64_put(char *dst, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930"
                                "31323334353637383940414243444546474849505152535455565758596061"
                                "62636465666768697071727374757677787980818283848586878889909192"
                                "93949596979899";
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t n = prom_i64_len(v), o = n;

    while (u >= 10) {
        o -= 2;
        memcpy(dst + o, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (o > (size_t)(v < 0))
        dst[--o] = (char)('0' + u);
    if (v < 0)
        dst[0] = '-';
    return n;
}

size_t prom_millis_len(int64_t ms)
{
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;

    return (ms < 0 ? 1 : 0) + prom_i64_len((int64_t)(a / 1000)) + (a % 1000 != 0 ? 4 : 0);
}

size_t prom_millis_put(char *dst, int64_t ms)
{
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    unsigned frac = (unsigned)(a % 1000);
    size_t n = 0;

    if (ms < 0)
        dst[n++] = '-';
    n += prom_i64_put(dst + n, (int64_t)(a / 1000));
    if (frac != 0) {
        dst[n++] = '.';
        dst[n++] = (char)('0' + frac / 100);
        dst[n++] = (char)('0' + frac / 10 % 10);
        dst[n++] = (char)('0' + frac % 10);
    }
    return n;
}

size_t prom_format_double(double v, char out[32])
{
    int prec;

    if (isnan(v))
        return (size_t)snprintf(out, 32, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 1e15) {
        out[prom_i64_put(out, (int64_t)v)] = '\0';
        return strlen(out);
    }
    /* the shortest of 15..17 significant digits that reads back as v */
    for (prec = 15; prec < 17; prec++) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)snprintf(out, 32, "%.*g", prec, v);
}

size_t prom_line_len(size_t name_len, size_t labels_len, size_t value_len)
{
    return name_len + (labels_len > 0 ? labels_len + 2 : 0) + 1 + value_len + 1;
}

size_t prom_line_put(char *dst, const char *name, size_t name_len, const char *labels,
                     size_t labels_len, const char *value, size_t value_len)
{
    size_t o = name_len;

    memcpy(dst, name, name_len);
    if (labels_len > 0) {
        dst[o++] = '{';
        memcpy(dst + o, labels, labels_len);
        o += labels_len;
        dst[o++] = '}';
    }
    dst[o++] = ' ';
    memcpy(dst + o, value, value_len);
    o += value_len;
    dst[o++] = '\n';
    return o;
}

/* Appends one sample line, composed on the stack when it fits. */
static enum ho_code prom_line(struct buf *b, const char *name, const char *labels,
                              size_t labels_len, const char *value, size_t value_len)
{
    char line[PROM_LINE_MAX], *big = NULL, *dst = line;
    size_t nlen = strlen(name), len = prom_line_len(nlen, labels_len, value_len);
    enum ho_code rc;

    if (len > sizeof(line))
        dst = big = xmalloc(len);
    rc = buf_append(b, dst, prom_line_put(dst, name, nlen, labels, labels_len, value, value_len));
    free(big);
    return rc;
}

enum ho_code prom_sample_i64(struct buf *b, const char *name, const char *labels, size_t labels_len,
                             int64_t v)
{
    char text[PROM_I64_MAX];

    return prom_line(b, name, labels, labels_len, text, prom_i64_put(text, v));
}

enum ho_code prom_sample_double(struct buf *b, const char *name, const char *labels,
                                size_t labels_len, double v)
{
    char text[32];
    size_t n = prom_format_double(v, text);

    return prom_line(b, name, labels, labels_len, text, n);
}

enum ho_code prom_sample_millis(struct buf *b, const char *name, const char *labels,
                                size_t labels_len, int64_t ms)
{
    char text[PROM_MILLIS_MAX];

    return prom_line(b, name, labels, labels_len, text, prom_millis_put(text, ms));
}

/* Appends "name_bucket{labels,le="bound"} count". */
static enum ho_code prom_bucket(struct buf *b, const char *bucket, const char *labels,
                                size_t labels_len, const char *le, uint64_t cum)
{
    char set[PROM_LINE_MAX];
    int n;

    n = snprintf(set, sizeof(set), "%.*s%sle=\"%s\"", (int)labels_len, labels,
                 labels_len > 0 ? "," : "", le);
    if (n < 0 || (size_t)n >= sizeof(set))
        return HO_ETOOBIG;
    return prom_sample_i64(b, bucket, set, (size_t)n, (int64_t)cum);
}

enum ho_code prom_histogram_append(struct buf *b, const char *name, const char *labels,
                                   size_t labels_len, const struct prom_histogram *h)
{
    char series[PROM_NAME_MAX + 16], le[32];
    uint64_t cum = 0;
    enum ho_code rc = HO_OK;
    size_t i;

    snprintf(series, sizeof(series), "%s_bucket", name);
    for (i = 0; i < h->nbounds && rc == HO_OK; i++) {
        cum += h->counts[i];
        prom_format_double(h->bounds[i], le);
        rc = prom_bucket(b, series, labels, labels_len, le, cum);
    }
    cum += h->counts[h->nbounds];
    if (rc == HO_OK)
        rc = prom_bucket(b, series, labels, labels_len, "+Inf", cum);
    snprintf(series, sizeof(series), "%s_sum", name);
    if (rc == HO_OK)
        rc = prom_sample_double(b, series, labels, labels_len, h->sum);
    snprintf(series, sizeof(series), "%s_count", name);
    if (rc == HO_OK)
        rc = prom_sample_i64(b, series, labels, labels_len, (int64_t)cum);
    return rc;
}
