/*
 * Prometheus text exposition 0.0.4 encoder (INTEGRATIONS.md section 4): metric
 * families with HELP and TYPE, samples, histograms, name sanitising and label
 * value escaping. Appends to a capped struct buf; past the cap every call is
 * HO_ETOOBIG and the buffer keeps what it had.
 *
 * Labels are passed preformatted as the text between the braces
 * (node="web01",check="disk") so a label set built once can serve several
 * families; prom_labels_append makes that text.
 */
#ifndef HO_PROM_H
#define HO_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_NAME_MAX     200 /* buffer size for prom_name_sanitize */

enum prom_type { PROM_COUNTER = 0, PROM_GAUGE, PROM_HISTOGRAM, PROM_UNTYPED };
/* The type as "# TYPE" spells it ("counter"...); never NULL. */
const char *prom_type_str(enum prom_type t);

struct prom_label {
    const char *name;  /* a valid label name, [a-zA-Z_][a-zA-Z0-9_]* */
    const char *value; /* any text; escaped, invalid UTF-8 becomes U+FFFD */
};

/*
 * Writes into out (PROM_NAME_MAX bytes) the metric name for in: every character
 * outside [a-zA-Z0-9_:] becomes '_' ("healops.check.outcome" ->
 * "healops_check_outcome"), a leading digit gets a '_' in front, "" becomes "_".
 * Longer names are cut to PROM_NAME_MAX - 1 bytes. Returns the length.
 */
size_t prom_name_sanitize(const char *in, char *out);

/* Appends "# HELP name help\n# TYPE name type\n"; help is escaped (\\ and \n). */
enum ho_code prom_family(struct buf *b, const char *name, enum prom_type t,
                         const char *help) HO_WUR;

/* Appends v (n bytes) escaped as a label value: \ " and newline; no quotes around. */
enum ho_code prom_label_value(struct buf *b, const char *v, size_t n) HO_WUR;

/* Appends name="value",... for n labels (nothing for n == 0), without braces. */
enum ho_code prom_labels_append(struct buf *b, const struct prom_label *l, size_t n) HO_WUR;

/*
 * Appends one sample line "name{labels} value\n"; labels is the text between the
 * braces (labels_len bytes, 0 = no braces). _i64 writes an integer, _double the
 * shortest text that reads back as v (NaN, +Inf, -Inf as Prometheus spells them),
 * _millis a time in ms as seconds with the fraction ("1795528800.123").
 */
enum ho_code prom_sample_i64(struct buf *b, const char *name, const char *labels, size_t labels_len,
                             int64_t v) HO_WUR;
enum ho_code prom_sample_double(struct buf *b, const char *name, const char *labels,
                                size_t labels_len, double v) HO_WUR;
enum ho_code prom_sample_millis(struct buf *b, const char *name, const char *labels,
                                size_t labels_len, int64_t ms) HO_WUR;

/* Writes v into out (32 bytes) as a Prometheus float; returns the length. */
size_t prom_format_double(double v, char out[32]);

/*
 * The same pieces written into memory the caller has sized, for expositions
 * too large to grow by appending: each returns the bytes written (no NUL), and
 * the _len functions say beforehand how many that will be.
 */
#define PROM_LABEL_VALUE_MAX(n) (3 * (n)) /* most bytes n bytes escape to */
#define PROM_I64_MAX            21
#define PROM_MILLIS_MAX         26
size_t prom_label_value_put(char *dst, const char *v, size_t n);
size_t prom_i64_len(int64_t v);
size_t prom_i64_put(char *dst, int64_t v);
size_t prom_millis_len(int64_t ms);
size_t prom_millis_put(char *dst, int64_t ms);
/* "name{labels} value\n" (no braces when labels_len is 0). */
size_t prom_line_len(size_t name_len, size_t labels_len, size_t value_len);
size_t prom_line_put(char *dst, const char *name, size_t name_len, const char *labels,
                     size_t labels_len, const char *value, size_t value_len);

/*
 * One histogram's samples (no HELP/TYPE): name_bucket{labels,le="B"} for each of
 * the nbounds ascending upper bounds, cumulative, then le="+Inf", name_sum and
 * name_count. counts holds nbounds + 1 per-bucket (not cumulative) counts, the
 * last one above every bound; the +Inf bucket and _count are their total.
 */
struct prom_histogram {
    const double *bounds;
    size_t nbounds;
    const uint64_t *counts;
    double sum;
};
enum ho_code prom_histogram_append(struct buf *b, const char *name, const char *labels,
                                   size_t labels_len, const struct prom_histogram *h) HO_WUR;

#endif
