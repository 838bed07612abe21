/*
 * Parsing the tcollector line format (OpenTSDB "Writing Data", telnet "put"
 * without the verb, as printed by tcollector collectors):
 *
 *   name timestamp value [tagk=tagv ...]
 *
 * Strict where OpenTSDB is strict: names, tag keys and values are made of
 * a-z, A-Z, 0-9, '-', '_', '.', '/' and Unicode letters; tag keys are unique.
 * A collector's output is untrusted text, so every field is bounded, NUL bytes
 * and invalid UTF-8 make a line bad, and no line can stop the others: a bad
 * line is counted, the first one kept (cut) so the caller can log it.
 *
 * Unicode letters are what glibc's C.UTF-8 locale calls alphabetic; the locale
 * object is made per call (no global state); without it only ASCII passes.
 */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "mem.h"
#include "parse.h"
#include "tcollector.h"

#define TC_BAD_TS "timestamp is not 0, seconds (10 digits) or milliseconds (13 digits)"

/* A slice of the input: not NUL-terminated. */
struct tc_span {
    const char *p;
    size_t n;
};

static int tc_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int tc_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int tc_ascii_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || tc_digit((char)c) || c == '-' ||
           c == '_' || c == '.' || c == '/';
}

/*
 * Decodes one UTF-8 sequence of at most n bytes at p: returns its length and
 * the code point, or 0 when it is invalid (truncated, overlong, surrogate,
 * beyond U+10FFFF).
 */
static size_t tc_utf8(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len, i;
    uint32_t c, min;

    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2, c = p[0] & 0x1F, min = 0x80;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3, c = p[0] & 0x0F, min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* 1 when s is a valid name, tag key or tag value. */
static int tc_word_ok(struct tc_span s, locale_t loc)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0, k;
    uint32_t cp;

    if (s.n == 0 || s.n > RUN_MAX_NAME)
        return 0;
    while (i < s.n) {
        if (p[i] < 0x80) {
            if (!tc_ascii_ok(p[i]))
                return 0;
            i++;
            continue;
        }
        k = tc_utf8(p + i, s.n - i, &cp);
        if (k == 0 || loc == (locale_t)0 || !iswalpha_l((wint_t)cp, loc))
            return 0;
        i += k;
    }
    return 1;
}

/* Reads digits s[*i..] (at most max of them); returns how many, 0 = none or too many. */
static size_t tc_digits(struct tc_span s, size_t *i, size_t max, int64_t *v)
{
    size_t start = *i;

    *v = 0;
    while (*i < s.n && tc_digit(s.p[*i])) {
        if (*i - start >= max)
            return 0;
        *v = *v * 10 + (s.p[*i] - '0');
        (*i)++;
    }
    return *i - start;
}

/*
 * Timestamp: "0" (now), seconds of up to 10 digits with an optional fraction
 * of up to 9 digits (kept to the millisecond), or milliseconds of 13 digits.
 */
static const char *tc_timestamp(struct tc_span s, const struct tcollector_opts *o, int64_t *ms)
{
    size_t i = 0, nd, nf;
    int64_t whole, frac;

    if (s.n == 1 && s.p[0] == '0') {
        *ms = o->now_ms;
        return NULL;
    }
    nd = tc_digits(s, &i, 13, &whole);
    if (nd == 0)
        return TC_BAD_TS;
    if (i == s.n && nd == 13) {
        *ms = whole;
    } else if (nd <= 10 && i == s.n) {
        *ms = whole * 1000;
    } else if (nd <= 10 && s.p[i] == '.') {
        i++;
        nf = tc_digits(s, &i, 9, &frac);
        if (nf == 0 || i != s.n)
            return TC_BAD_TS;
        for (; nf > 3; nf--)
            frac /= 10;
        for (; nf < 3; nf++)
            frac *= 10;
        *ms = whole * 1000 + frac;
    } else {
        return TC_BAD_TS;
    }
    if (*ms < TCOLLECTOR_MIN_MS)
        return "timestamp before the year 2000";
    if (*ms > o->now_ms + TCOLLECTOR_MAX_AHEAD_MS)
        return "timestamp more than a day in the future";
    return NULL;
}

/* Value: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?, finite. */
static const char *tc_value(struct tc_span s, double *v)
{
    char num[TCOLLECTOR_MAX_VALUE + 1];
    size_t i = 0, nint = 0, nfrac = 0, nexp = 0;

    if (s.n > TCOLLECTOR_MAX_VALUE)
        return "value too long";
    if (i < s.n && (s.p[i] == '+' || s.p[i] == '-'))
        i++;
    for (; i < s.n && tc_digit(s.p[i]); i++)
        nint++;
    if (i < s.n && s.p[i] == '.') {
        for (i++; i < s.n && tc_digit(s.p[i]); i++)
            nfrac++;
    }
    if (nint + nfrac == 0)
        return "value is not a number";
    if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
        i++;
        if (i < s.n && (s.p[i] == '+' || s.p[i] == '-'))
            i++;
        for (; i < s.n && tc_digit(s.p[i]); i++)
            nexp++;
        if (nexp == 0)
            return "value is not a number";
    }
    if (i != s.n)
        return "value is not a number";
    memcpy(num, s.p, s.n);
    num[s.n] = '\0';
    if (parse_double(num, v) != HO_OK)
        return "value out of range";
    return NULL;
}

/* Splits line into blank-separated fields; returns their count, at most max (+1 = too many). */
static size_t tc_fields(struct tc_span line, struct tc_span *f, size_t max)
{
    size_t i = 0, n = 0, start;

    while (i < line.n) {
        while (i < line.n && tc_blank(line.p[i]))
            i++;
        if (i == line.n)
            break;
        if (n == max)
            return max + 1;
        start = i;
        while (i < line.n && !tc_blank(line.p[i]))
            i++;
        f[n].p = line.p + start;
        f[n].n = i - start;
        n++;
    }
    return n;
}

static const char *tc_tags(const struct tc_span *f, size_t nt, locale_t loc, struct metric *m)
{
    struct tc_span key[RUN_MAX_TAGS], val;
    const char *eq;
    size_t i, j;

    for (i = 0; i < nt; i++) {
        eq = memchr(f[i].p, '=', f[i].n);
        if (eq == NULL)
            return "tag is not key=value";
        key[i].p = f[i].p;
        key[i].n = (size_t)(eq - f[i].p);
        val.p = eq + 1;
        val.n = f[i].n - key[i].n - 1;
        if (!tc_word_ok(key[i], loc) || !tc_word_ok(val, loc))
            return "bad tag key or value";
        for (j = 0; j < i; j++) {
            if (key[j].n == key[i].n && memcmp(key[j].p, key[i].p, key[i].n) == 0)
                return "duplicate tag key";
        }
    }
    m->tags = nt > 0 ? xcalloc(nt, sizeof(*m->tags)) : NULL;
    m->ntags = nt;
    for (i = 0; i < nt; i++) {
        eq = memchr(f[i].p, '=', f[i].n);
        m->tags[i].key = xstrndup(f[i].p, (size_t)(eq - f[i].p));
        m->tags[i].value = xstrndup(eq + 1, f[i].n - (size_t)(eq - f[i].p) - 1);
    }
    return NULL;
}

/* Parses one line (no newline, blanks trimmed, not empty) into m; returns why it is bad. */
static const char *tc_line(struct tc_span line, const struct tcollector_opts *o, locale_t loc,
                           struct metric *m)
{
    struct tc_span f[3 + RUN_MAX_TAGS];
    size_t nf, max_tags = o->max_tags < RUN_MAX_TAGS ? o->max_tags : RUN_MAX_TAGS;
    const char *why;
    double v;
    int64_t ms;

    memset(m, 0, sizeof(*m));
    if (line.n > TCOLLECTOR_MAX_LINE)
        return "line too long";
    if (memchr(line.p, '\0', line.n) != NULL)
        return "NUL byte in line";
    nf = tc_fields(line, f, 3 + RUN_MAX_TAGS);
    if (nf < 3)
        return "want: name timestamp value [tag=value ...]";
    if (nf > 3 + max_tags)
        return "too many tags";
    if (!tc_word_ok(f[0], loc))
        return "bad metric name";
    why = tc_timestamp(f[1], o, &ms);
    if (why == NULL)
        why = tc_value(f[2], &v);
    if (why == NULL)
        why = tc_tags(f + 3, nf - 3, loc, m);
    if (why != NULL)
        return why;
    m->name = xstrndup(f[0].p, f[0].n);
    m->value = v;
    m->ts_ms = ms;
    return NULL;
}

/* Counts a bad line; the first one is kept for the caller's log. */
static void tc_bad(struct tcollector_result *r, struct tc_span line, size_t lineno, const char *why)
{
    size_t i, o = 0, keep = TCOLLECTOR_BAD_MAX - 4; /* room for one "\x00" */

    r->bad++;
    if (r->first_bad_lineno != 0)
        return;
    r->first_bad_lineno = lineno;
    r->first_bad_why = why;
    for (i = 0; i < line.n && o < keep; i++) {
        if (line.p[i] == '\0') {
            memcpy(r->first_bad + o, "\\x00", 4);
            o += 4;
        } else {
            r->first_bad[o++] = line.p[i];
        }
    }
    if (i < line.n) {
        memcpy(r->first_bad + o, "...", 3);
        o += 3;
    }
    r->first_bad[o] = '\0';
}

static struct tc_span tc_trim(struct tc_span s)
{
    if (s.n > 0 && s.p[s.n - 1] == '\r')
        s.n--;
    while (s.n > 0 && tc_blank(s.p[s.n - 1]))
        s.n--;
    while (s.n > 0 && tc_blank(s.p[0])) {
        s.p++;
        s.n--;
    }
    return s;
}

static void tc_add(struct tcollector_result *r, size_t *cap, const struct metric *m)
{
    if (r->n == *cap) {
        *cap = *cap == 0 ? 64 : *cap * 2;
        r->metrics = xrealloc(r->metrics, *cap * sizeof(*r->metrics));
    }
    r->metrics[r->n++] = *m;
}

void tcollector_parse(const char *text, size_t len, const struct tcollector_opts *opts,
                      struct tcollector_result *out)
{
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    const char *p = text, *end = text + len, *nl, *why;
    struct tc_span line;
    struct metric m;
    size_t lineno = 0, cap = 0;

    memset(out, 0, sizeof(*out));
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line.p = p;
        line.n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        p = nl != NULL ? nl + 1 : end;
        lineno++;
        line = tc_trim(line);
        if (line.n == 0)
            continue;
        out->lines++;
        memset(&m, 0, sizeof(m));
        if (nl == NULL && opts->truncated)
            why = "cut at the output cap";
        else if (out->n >= opts->max_metrics)
            why = "over the limit of metrics per run";
        else
            why = tc_line(line, opts, loc, &m);
        if (why != NULL) {
            metric_cleanup(&m);
            tc_bad(out, line, lineno, why);
        } else {
            tc_add(out, &cap, &m);
        }
    }
    if (loc != (locale_t)0)
        freelocale(loc);
}

void tcollector_result_cleanup(struct tcollector_result *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++)
        metric_cleanup(&r->metrics[i]);
    free(r->metrics);
    memset(r, 0, sizeof(*r));
}
