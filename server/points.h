/*
 * Metric points (DESIGN.md section 7): what every accepted run and stat batch
 * becomes, stored in the `points` table (schema/002_points.sql), sent by the
 * forwarders and read back for graphs.
 *
 * A run gives its own metrics (names kept), healops.check.outcome (0 ok,
 * 1 repaired, 2 failed, 3 error), healops.check.duration_ms and, when a repair
 * was attempted and not suppressed, healops.repair (1 with status=RepairSucceeded,
 * else 0 with status=RepairFailed; tag component=CHECK).
 *
 * Tags are unique by key and kept in priority order, most important first:
 * the server's own (node, environment, package, check, then component and
 * status), the metric's own, the package's. A target with a tag cap (OpenTSDB:
 * 8) keeps the first ones, so package tags go first. The server's tags win over
 * a metric or package tag of the same key.
 */
#ifndef HO_POINTS_H
#define HO_POINTS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "run.h"

#define POINTS_ENV_DEFAULT   "production"
#define POINTS_MAX_BATCH     10000 /* metrics per POST /api/v1/metrics */
#define POINTS_TAGS_JSON_MAX (64u * 1024)

#define POINTS_OUTCOME       "healops.check.outcome"
#define POINTS_DURATION      "healops.check.duration_ms"
#define POINTS_REPAIR        "healops.repair"
#define POINTS_REPAIR_OK     "RepairSucceeded"
#define POINTS_REPAIR_FAILED "RepairFailed"

struct point {
    int64_t seq;      /* outbox order once stored, 0 before */
    char *name;       /* owned */
    char *check;      /* owned; NULL for stats not tied to a check */
    int64_t ts_ms;    /* when it was measured, ms since the epoch */
    double value;     /* finite */
    struct tag *tags; /* owned array, unique keys, priority order */
    size_t ntags;
};

/* A growable array of points; zero-initialised is empty. */
struct point_list {
    struct point *v; /* owned */
    size_t n;
    size_t cap;
};

void point_cleanup(struct point *p);
/* Frees every point and the array; the list is empty and reusable afterwards. */
void point_list_cleanup(struct point_list *l);
/* A new zeroed point at the end of l (the list grows as needed). */
struct point *point_list_add(struct point_list *l);
/* Frees an array of n points (as store_points_after returns); NULL is accepted. */
void points_free(struct point *p, size_t n);

/*
 * Appends the points of accepted run r from the agent named node (at least two:
 * outcome and duration). Copies what it needs; r stays the caller's.
 */
void points_from_run(const struct run *r, const char *node, struct point_list *out);

/*
 * Appends the points of n stats (POST /api/v1/metrics) from agent node: tags
 * node (always the agent's name; a tag "owner" marks stats about another node),
 * environment (the metric's, default production), then the metric's own.
 * A metric with no timestamp (ts_ms 0) gets now_ms.
 */
void points_from_stats(const struct metric *m, size_t n, const char *node, int64_t now_ms,
                       struct point_list *out);

/* Appends tags as one JSON object {"k":"v",...} in their order. HO_ETOOBIG past out's cap. */
enum ho_code points_tags_to_json(const struct tag *t, size_t n, struct buf *out) HO_WUR;
/*
 * Parses a JSON object of string values (as points_tags_to_json writes) into a
 * new array in document order (caller frees with points_tags_free). HO_EINVAL
 * for anything else.
 */
enum ho_code points_tags_parse(const char *json, size_t len, struct tag **out, size_t *n) HO_WUR;
void points_tags_free(struct tag *t, size_t n);

/* The value of tag key, NULL when absent. */
const char *points_tag(const struct point *p, const char *key);

#endif
