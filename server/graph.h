/*
 * The graph image of one check metric (DESIGN.md section 6, GET
 * /api/v1/graph.png): a PNG line graph drawn with cairo, with axes, min and
 * max labels, time labels, a title, and failed or error runs as red bands.
 */
#ifndef HO_GRAPH_H
#define HO_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define GRAPH_WIDTH_MIN      200
#define GRAPH_WIDTH_MAX      2000
#define GRAPH_WIDTH_DEFAULT  800
#define GRAPH_HEIGHT_MIN     100
#define GRAPH_HEIGHT_MAX     1000
#define GRAPH_HEIGHT_DEFAULT 300
#define GRAPH_PNG_MAX        (8u * 1024 * 1024) /* bytes of one image */

struct graph_point {
    int64_t ts_ms;
    double value; /* NaN and infinities are skipped */
};

/* A failed or error run: drawn as a red band over its duration. */
struct graph_mark {
    int64_t ts_ms;       /* when it started */
    int64_t duration_ms; /* 0 = a thin line */
    int error;           /* 1: outcome error (darker), 0: failed */
};

struct graph_spec {
    const char *title; /* "AGENT CHECK METRIC", any bytes (made printable) */
    int width, height; /* clamped to the bounds above */
    int64_t since_ms;  /* time axis; since >= until means "from the points" */
    int64_t until_ms;
    const struct graph_point *points; /* oldest first */
    size_t npoints;
    const struct graph_mark *marks;
    size_t nmarks;
};

/*
 * Draws g into a new PNG (*png, *len; caller frees). With no finite point the
 * image says "no data". HO_ETOOBIG past GRAPH_PNG_MAX, HO_EINTERNAL when cairo
 * fails; err says why.
 */
enum ho_code graph_png(const struct graph_spec *g, char **png, size_t *len,
                       struct ho_error *err) HO_WUR;

#endif
