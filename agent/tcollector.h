/*
 * The OpenTSDB tcollector line format that stats collectors print (DESIGN.md
 * section 3): one metric per line, "name timestamp value [tag=value ...]".
 * Bad lines are counted and described, never fatal.
 */
#ifndef HO_TCOLLECTOR_H
#define HO_TCOLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "run.h"

#define TCOLLECTOR_MAX_LINE     16384                /* bytes of one line, longer lines are bad */
#define TCOLLECTOR_MAX_VALUE    64                   /* bytes of the value field */
#define TCOLLECTOR_MIN_MS       946684800000LL       /* 2000-01-01: earlier timestamps are bad */
#define TCOLLECTOR_MAX_AHEAD_MS (24LL * 3600 * 1000) /* most a timestamp may be after now */
#define TCOLLECTOR_BAD_MAX      200                  /* bytes kept of the first bad line */

struct tcollector_opts {
    int64_t now_ms;     /* replaces timestamp 0; bounds timestamps in the future */
    size_t max_metrics; /* metrics kept; further lines count as bad */
    size_t max_tags;    /* tags one line may carry, at most RUN_MAX_TAGS */
    int truncated;      /* 1: text was cut at a cap, so an unterminated last line is bad */
};

struct tcollector_result {
    struct metric *metrics; /* owned array, in line order; every ts_ms set */
    size_t n;
    size_t lines;              /* lines that were not empty */
    size_t bad;                /* lines that did not become a metric */
    size_t first_bad_lineno;   /* 1-based line number of the first bad line, 0 = none */
    const char *first_bad_why; /* static text: why it was bad, NULL = none */
    char first_bad[TCOLLECTOR_BAD_MAX + 8]; /* its first bytes, NUL bytes written as \x00 and
                                              "..." when cut; still raw: log it via log_safe */
};

/*
 * Parses text (len bytes; may hold NUL bytes and invalid UTF-8) into out
 * (zeroed first; free with tcollector_result_cleanup). Lines end with "\n" or
 * "\r\n"; fields are separated by blanks (spaces, tabs). Names, tag keys and tag
 * values are 1..RUN_MAX_NAME bytes of [A-Za-z0-9-_./] and Unicode letters; tag
 * keys are unique. The timestamp is 0 (now), seconds (up to 10 digits, with an
 * optional fraction) or milliseconds (13 digits), from 2000 to a day after now;
 * the value is a finite decimal number. Empty lines are skipped. Never fails.
 */
void tcollector_parse(const char *text, size_t len, const struct tcollector_opts *opts,
                      struct tcollector_result *out);

/* Frees the metrics of r and zeroes it; NULL is accepted. */
void tcollector_result_cleanup(struct tcollector_result *r);

#endif
