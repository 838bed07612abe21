/*
 * Process-wide counters and histograms of the server, for GET /metrics:
 * runs accepted by outcome, run batches, HTTP requests by route, method and
 * status, request duration, authentication failures. Updates are lock-free
 * (relaxed atomics on fixed arrays), so any thread may call them at any time;
 * nothing needs initialising. Routes are the templates of stats_route_str,
 * never raw paths, so a scan of random URLs cannot grow the series.
 */
#ifndef HO_STATS_H
#define HO_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"
#include "run.h"

enum stats_route {
    STATS_ROUTE_OTHER = 0, /* anything unknown (404s, probes) */
    STATS_ROUTE_ROOT,
    STATS_ROUTE_HEALTHZ,
    STATS_ROUTE_READYZ,
    STATS_ROUTE_METRICS,
    STATS_ROUTE_RUNS,
    STATS_ROUTE_REPAIRS,
    STATS_ROUTE_STATE,
    STATS_ROUTE_AGENTS,
    STATS_ROUTE_ENROLL,
    STATS_ROUTE_HEARTBEAT,
    STATS_ROUTE_SELF_PACKAGES,
    STATS_ROUTE_AGENT,
    STATS_ROUTE_STATS_POST,
    STATS_ROUTE_TOKENS,
    STATS_ROUTE_FORWARDERS,
    STATS_ROUTE_SERIES,
    STATS_ROUTE_GRAPH,
    STATS_ROUTE_INSIGHTS,
    STATS_ROUTE_PACKAGES,
    STATS_ROUTE_PACKAGE,
    STATS_ROUTE_BUNDLE,
    STATS_ROUTE_ASSIGNMENT,
    STATS_ROUTE_COUNT
};

/* The route's template as exposed in labels ("/api/v1/agents/:agent"). */
const char *stats_route_str(enum stats_route r);
/* The route template a request path (without query) falls under; OTHER when none. */
enum stats_route stats_route_match(const char *path);

/* Monotonic clock in microseconds, for request durations. */
int64_t stats_clock_us(void);
/*
 * Counts one answered request: route, method ("GET"...; others count as
 * "other"), HTTP status and how long the handler took. A 401 or 403 also
 * counts as an authentication failure.
 */
void stats_http_request(enum stats_route route, const char *method, int status,
                        int64_t duration_us);

/* Counts one run stored from an agent (not duplicates or rejected ones). */
void stats_run_received(enum run_outcome outcome);
/* Counts one POST /runs batch that was answered 200, with its duplicates and rejected runs. */
void stats_run_batch(uint64_t duplicates, uint64_t rejected);

/* Appends the families above in the Prometheus text format (server/prom.h). */
enum ho_code stats_append_prom(struct buf *b) HO_WUR;

#endif
