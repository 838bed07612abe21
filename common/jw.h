/*
 * A JSON text writer that appends straight into a struct buf, for answers too
 * large or too hot for a cJSON tree (GET /api/v1/runs, /state): no node per
 * value and no second copy of the text. Strings come from scripts and agents,
 * so they are made valid JSON text (RFC 8259 section 8.1: UTF-8): a byte that
 * does not start a well-formed sequence (RFC 3629 section 4) becomes '?', one
 * byte for one, control characters are escaped, and U+2028/U+2029 too so the
 * text can sit inside a <script>.
 *
 * The first failure (HO_ETOOBIG when the buf's cap is reached) sticks and
 * every later write does nothing; jw_end reports it and takes back what was
 * written since jw_init.
 */
#ifndef HO_JW_H
#define HO_JW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

struct jw {
    struct buf *b;
    enum ho_code rc; /* first failure; later writes do nothing */
    int comma;       /* a member or element came before: the next one needs "," */
    size_t start;    /* b's length at jw_init: where jw_end rolls back to */
};

/* Starts writing at the end of b. */
void jw_init(struct jw *w, struct buf *b);

/* Returns the first failure (HO_OK when none); on one, takes the writes back off b. */
enum ho_code jw_end(struct jw *w) HO_WUR;

/* n bytes as they are (JSON the caller vouches for). */
void jw_raw(struct jw *w, const void *p, size_t n);

/* s (NULL as "") as a JSON string. */
void jw_str(struct jw *w, const char *s);

void jw_int(struct jw *w, int64_t v);

/* The shortest of %.15g and %.17g that reads back as v; null for NaN and infinities. */
void jw_double(struct jw *w, double v);

/* Opens ("{" or "[") or closes ("}" or "]") an object or an array. */
void jw_open(struct jw *w, const char *c);
void jw_close(struct jw *w, const char *c);

/* Starts an array element (writes "," after the first). */
void jw_sep(struct jw *w);

/* Starts object member k: the separator, the key and ":". */
void jw_key(struct jw *w, const char *k);

/* Whole members: k with a string, an integer, true/false, null, an RFC 3339 UTC time. */
void jw_kstr(struct jw *w, const char *k, const char *v);
void jw_kint(struct jw *w, const char *k, int64_t v);
void jw_kbool(struct jw *w, const char *k, int v);
void jw_knull(struct jw *w, const char *k);
void jw_ktime(struct jw *w, const char *k, int64_t ms);

/* k with string v, or with null when v is NULL. */
void jw_kstr_or_null(struct jw *w, const char *k, const char *v);

/* k with the RFC 3339 UTC time ms, or with null when ms is 0 (never). */
void jw_ktime_or_null(struct jw *w, const char *k, int64_t ms);

#endif
