/*
 * Nagios plugin output parsing, after the Nagios Plugin API (Nagios Core
 * "Nagios Plugin API" and the monitoring-plugins development guidelines,
 * section "Performance data"):
 *
 *   TEXT OUTPUT | OPTIONAL PERFDATA
 *   LONG TEXT LINE 1
 *   LONG TEXT LINE N | PERFDATA LINE 2
 *   PERFDATA LINE 3
 *
 * Perfdata items are 'label'=value[UOM];[warn];[crit];[min];[max]. Plugins
 * write all sorts of things, so nothing here is fatal: a bad item is skipped
 * and counted, and the human text is kept whatever happens.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "nagios.h"
#include "parse.h"
#include "utf8.h"

#define NAGIOS_NUM_MAX 64 /* longest numeric value we accept, in bytes */

enum test_status nagios_status(int exit_code)
{
    switch (exit_code) {
    case 0:
        return TEST_STATUS_OK;
    case 1:
        return TEST_STATUS_WARNING;
    case 2:
        return TEST_STATUS_CRITICAL;
    default:
        return TEST_STATUS_UNKNOWN;
    }
}

static int nagios_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int nagios_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Skips to the next blank (the end of a malformed item). */
static size_t nagios_skip_item(const char *s, size_t len, size_t i)
{
    while (i < len && !nagios_blank(s[i]))
        i++;
    return i;
}

/*
 * Reads a label at s[*i]: quoted ('' is a quote) or bare up to '='. On success
 * *i is just past the '=' and *lab is a new NUL-terminated copy (caller frees)
 * of *lablen bytes. On failure *i is past the bad item and -1 is returned.
 */
static int nagios_label(const char *s, size_t len, size_t *i, char **lab, size_t *lablen)
{
    size_t j = *i, k, n = 0;
    int quoted = s[j] == '\'';

    if (quoted) {
        for (j++; j < len; j++) {
            if (s[j] == '\'' && !(j + 1 < len && s[j + 1] == '\''))
                break;
            if (s[j] == '\'')
                j++;
        }
        if (j >= len) {
            *i = len; /* an unclosed quote eats the rest */
            return -1;
        }
        j++;
    } else {
        while (j < len && s[j] != '=' && !nagios_blank(s[j]))
            j++;
    }
    if (j >= len || s[j] != '=') {
        *i = nagios_skip_item(s, len, j);
        return -1;
    }
    *lab = xmalloc(j - *i + 1);
    for (k = *i + (size_t)quoted; k < j - (size_t)quoted; k++) {
        (*lab)[n++] = s[k];
        if (quoted && s[k] == '\'')
            k++;
    }
    (*lab)[n] = '\0';
    *lablen = n;
    *i = j + 1;
    return 0;
}

/* Trims blanks in place; rejects an empty or overlong label and control characters. */
static int nagios_label_ok(char *lab, size_t n)
{
    size_t start = 0, k;

    while (n > 0 && nagios_blank(lab[n - 1]))
        n--;
    while (start < n && nagios_blank(lab[start]))
        start++;
    n -= start;
    memmove(lab, lab + start, n);
    lab[n] = '\0';
    if (n == 0 || n > RUN_MAX_NAME)
        return -1;
    for (k = 0; k < n; k++)
        if ((unsigned char)lab[k] < 0x20 || lab[k] == 0x7f)
            return -1;
    return 0;
}

/*
 * Splits "value[UOM]" (the text before the first ';' of tok) into a number and
 * a unit. A decimal comma is accepted for a point. Returns 1 for a number, 0 for
 * "U" (unknown), -1 when malformed.
 */
static int nagios_value(const char *tok, size_t n, double *value, char *uom, size_t uomsize)
{
    char num[NAGIOS_NUM_MAX + 1];
    char *comma;
    size_t k = 0, digits = 0;

    if (n == 1 && tok[0] == 'U')
        return 0;
    if (k < n && (tok[k] == '-' || tok[k] == '+'))
        k++;
    for (; k < n && nagios_digit(tok[k]); k++)
        digits++;
    if (k < n && (tok[k] == '.' || tok[k] == ','))
        for (k++; k < n && nagios_digit(tok[k]); k++)
            digits++;
    if (digits == 0)
        return -1;
    if (k + 1 < n && (tok[k] == 'e' || tok[k] == 'E') &&
        (nagios_digit(tok[k + 1]) ||
         ((tok[k + 1] == '-' || tok[k + 1] == '+') && k + 2 < n && nagios_digit(tok[k + 2])))) {
        k += 2;
        while (k < n && nagios_digit(tok[k]))
            k++;
    }
    if (k > NAGIOS_NUM_MAX || n - k >= uomsize)
        return -1;
    memcpy(num, tok, k);
    num[k] = '\0';
    comma = memchr(num, ',', k);
    if (comma != NULL)
        *comma = '.';
    if (parse_double(num, value) != HO_OK)
        return -1;
    memcpy(uom, tok + k, n - k);
    uom[n - k] = '\0';
    return 1;
}

static void nagios_metric_add(struct metric **metrics, size_t *n, const char *name, double value,
                              const char *uom)
{
    struct metric *m;

    *metrics = xrealloc(*metrics, (*n + 1) * sizeof(**metrics));
    m = &(*metrics)[*n];
    memset(m, 0, sizeof(*m));
    m->name = xstrdup(name);
    m->value = value;
    if (uom[0] != '\0') {
        m->tags = xcalloc(1, sizeof(*m->tags));
        m->tags[0].key = xstrdup("uom");
        m->tags[0].value = xstrdup(uom);
        m->ntags = 1;
    }
    (*n)++;
}

/* Parses one item at s[*i] (not blank); returns 1 if it was bad. */
static int nagios_item(const char *s, size_t len, size_t *i, struct metric **metrics,
                       size_t *nmetrics)
{
    char uom[RUN_MAX_NAME + 1];
    char *lab = NULL;
    size_t lablen = 0, end, vlen;
    const char *semi;
    double value = 0;
    int r, bad = 1;

    if (nagios_label(s, len, i, &lab, &lablen) == -1)
        return 1;
    end = nagios_skip_item(s, len, *i);
    semi = memchr(s + *i, ';', end - *i);
    vlen = semi != NULL ? (size_t)(semi - (s + *i)) : end - *i;
    r = nagios_value(s + *i, vlen, &value, uom, sizeof(uom));
    *i = end;
    if (r == 0) {
        bad = 0;
        goto out;
    }
    if (r < 0 || nagios_label_ok(lab, lablen) == -1 || *nmetrics >= RUN_MAX_METRICS)
        goto out;
    nagios_metric_add(metrics, nmetrics, lab, value, uom);
    bad = 0;
out:
    free(lab);
    return bad;
}

size_t nagios_perfdata_parse(const char *s, size_t len, struct metric **metrics, size_t *nmetrics)
{
    size_t i = 0, bad = 0;

    for (;;) {
        while (i < len && nagios_blank(s[i]))
            i++;
        if (i >= len)
            break;
        bad += (size_t)nagios_item(s, len, &i, metrics, nmetrics);
    }
    return bad;
}

/* Appends s[0..n) to text with blanks trimmed at both ends; returns the new length. */
static size_t nagios_text_add(char *text, size_t tlen, const char *s, size_t n)
{
    while (n > 0 && nagios_blank(s[n - 1]))
        n--;
    while (n > 0 && nagios_blank(s[0])) {
        s++;
        n--;
    }
    if (n == 0)
        return tlen;
    if (tlen > 0)
        text[tlen++] = '\n';
    memcpy(text + tlen, s, n);
    return tlen + n;
}

/* Cuts text to RUN_MAX_OUTPUT bytes without splitting a UTF-8 sequence. */
static void nagios_text_cap(char *text, size_t *tlen)
{
    size_t n = *tlen;

    if (n <= RUN_MAX_OUTPUT)
        return;
    n = utf8_cut(text, n, RUN_MAX_OUTPUT);
    text[n] = '\0';
    *tlen = n;
}

size_t nagios_parse(const char *out, size_t len, char **text, struct metric **metrics,
                    size_t *nmetrics)
{
    const char *nl, *bar, *rest;
    size_t bad = 0, tlen = 0, line_len, rest_len;
    char *t;

    len = strnlen(out, len);
    t = xmalloc(len + 2);
    nl = memchr(out, '\n', len);
    line_len = nl != NULL ? (size_t)(nl - out) : len;
    bar = memchr(out, '|', line_len);
    if (bar != NULL) {
        tlen = nagios_text_add(t, tlen, out, (size_t)(bar - out));
        bad +=
            nagios_perfdata_parse(bar + 1, line_len - (size_t)(bar - out) - 1, metrics, nmetrics);
    } else {
        tlen = nagios_text_add(t, tlen, out, line_len);
    }
    if (nl != NULL) {
        rest = nl + 1;
        rest_len = len - line_len - 1;
        bar = memchr(rest, '|', rest_len);
        if (bar != NULL) {
            tlen = nagios_text_add(t, tlen, rest, (size_t)(bar - rest));
            bad += nagios_perfdata_parse(bar + 1, rest_len - (size_t)(bar - rest) - 1, metrics,
                                         nmetrics);
        } else {
            tlen = nagios_text_add(t, tlen, rest, rest_len);
        }
    }
    t[tlen] = '\0';
    nagios_text_cap(t, &tlen);
    *text = t;
    return bad;
}
