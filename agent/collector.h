/*
 * Stats collectors (DESIGN.md section 3): a package's executables that print
 * tcollector lines, run on their interval. Each collection, and each round of
 * host stats (host_stats.h), becomes one batch for POST /api/v1/metrics.
 * (Named "collector", not "stats": server/stats.h is the server's counters,
 * and unit tests see both include folders.)
 */
#ifndef HO_COLLECTOR_H
#define HO_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "manifest.h"
#include "probe.h"
#include "run.h"

#define COLLECTOR_MAX_METRICS 10000              /* per batch: one POST /api/v1/metrics */
#define COLLECTOR_OUTPUT_CAP  (1024 * 1024)      /* bytes kept of a collector's stdout/stderr */
#define COLLECTOR_MAX_BODY    (8u * 1024 * 1024) /* one encoded batch */
#define COLLECTOR_OWN_TAGS    2                  /* package and environment, added by the agent */

/*
 * Runs collector st of pkg the way probe.c runs a test: the package folder as
 * working directory, a clean environment (PATH, HOME, LANG, HEALOPS_NODE,
 * HEALOPS_PACKAGE, HEALOPS_STAT, HEALOPS_PACKAGE_DIR), the test user when the
 * agent is root, st's timeout, output capped at COLLECTOR_OUTPUT_CAP. Its lines
 * become *metrics (a new array, caller frees each with metric_cleanup, then the
 * array; *n set), each tagged package=NAME and environment=ENV (replacing tags
 * of those keys; a line may carry RUN_MAX_TAGS - COLLECTOR_OWN_TAGS of its own).
 * Bad lines are logged (the first one, escaped) and counted in the metric
 * healops.stats.bad_lines with tag stat=NAME. A collector that cannot start,
 * exits non-zero or times out is logged and still yields the lines it printed.
 * Never fails.
 */
void collector_run(const struct probe_ctx *ctx, const struct manifest *pkg,
                   const struct manifest_stat *st, struct metric **metrics, size_t *n);

/*
 * Appends the body of POST /api/v1/metrics, {"id":ID,"metrics":[...]}, to out.
 * HO_EINVAL when id is not a UUID, HO_ETOOBIG past out's cap (out unchanged).
 */
enum ho_code collector_batch_to_json(const char *id, const struct metric *m, size_t n,
                                     struct buf *out) HO_WUR;

#endif
