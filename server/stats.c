/*
 * Server counters for GET /metrics (after the Prometheus client libraries'
 * process-wide default registry: metrics are facts about the process, and
 * every handler thread counts into them). Fixed arrays of C11 atomics with
 * relaxed ordering: each counter is exact on its own, a scrape is not one
 * instant across counters, which Prometheus does not need. A histogram's
 * _count is the sum of the bucket counts read, so le="+Inf" always equals it.
 *
 * Label sets are closed: routes are matched against the templates below,
 * methods and status codes against short lists, so nothing a client sends can
 * add a series.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "prom.h"
#include "stats.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Path patterns: ":" is one non-empty segment, "+" one or more (a check name
 * may hold "/"). The first match wins, so literals come before parameters.
 */
static const struct {
    const char *pattern;
    const char *label;
} stats_routes[STATS_ROUTE_COUNT] = {
    [STATS_ROUTE_OTHER] = {NULL, "other"},
    [STATS_ROUTE_ROOT] = {"/", "/"},
    [STATS_ROUTE_HEALTHZ] = {"/healthz", "/healthz"},
    [STATS_ROUTE_READYZ] = {"/readyz", "/readyz"},
    [STATS_ROUTE_METRICS] = {"/metrics", "/metrics"},
    [STATS_ROUTE_RUNS] = {"/api/v1/runs", "/api/v1/runs"},
    [STATS_ROUTE_REPAIRS] = {"/api/v1/repairs", "/api/v1/repairs"},
    [STATS_ROUTE_STATE] = {"/api/v1/state", "/api/v1/state"},
    [STATS_ROUTE_AGENTS] = {"/api/v1/agents", "/api/v1/agents"},
    [STATS_ROUTE_ENROLL] = {"/api/v1/agents/enroll", "/api/v1/agents/enroll"},
    [STATS_ROUTE_HEARTBEAT] = {"/api/v1/agents/heartbeat", "/api/v1/agents/heartbeat"},
    [STATS_ROUTE_SELF_PACKAGES] = {"/api/v1/agents/self/packages", "/api/v1/agents/self/packages"},
    [STATS_ROUTE_AGENT] = {"/api/v1/agents/:", "/api/v1/agents/:agent"},
    [STATS_ROUTE_STATS_POST] = {"/api/v1/metrics", "/api/v1/metrics"},
    [STATS_ROUTE_TOKENS] = {"/api/v1/tokens", "/api/v1/tokens"},
    [STATS_ROUTE_FORWARDERS] = {"/api/v1/forwarders", "/api/v1/forwarders"},
    [STATS_ROUTE_SERIES] = {"/api/v1/checks/:/+/series", "/api/v1/checks/:agent/:check/series"},
    [STATS_ROUTE_GRAPH] = {"/api/v1/graph.png", "/api/v1/graph.png"},
    [STATS_ROUTE_INSIGHTS] = {"/api/v1/insights", "/api/v1/insights"},
    [STATS_ROUTE_PACKAGES] = {"/api/v1/packages", "/api/v1/packages"},
    [STATS_ROUTE_PACKAGE] = {"/api/v1/packages/:", "/api/v1/packages/:name"},
    [STATS_ROUTE_BUNDLE] = {"/api/v1/packages/:/:/bundle",
                            "/api/v1/packages/:name/:version/bundle"},
    [STATS_ROUTE_ASSIGNMENT] = {"/api/v1/assignments/:", "/api/v1/assignments/:name"},
};

static const char *const stats_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "other"};
#define STATS_METHODS NELEM(stats_methods)

/* Statuses this server answers; anything else counts under "other". */
static const int stats_codes[] = {200, 201, 202, 204, 206, 301, 302, 304, 400, 401,
                                  403, 404, 405, 406, 408, 409, 411, 413, 414, 415,
                                  416, 422, 429, 431, 500, 501, 502, 503, 504};
#define STATS_CODES (NELEM(stats_codes) + 1)

/* Prometheus' default buckets (client_golang DefBuckets), in seconds. */
static const double stats_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define STATS_BUCKETS (NELEM(stats_bounds) + 1)

static _Atomic uint64_t stats_requests[STATS_ROUTE_COUNT][STATS_METHODS][STATS_CODES];
static _Atomic uint64_t stats_latency[STATS_ROUTE_COUNT][STATS_METHODS][STATS_BUCKETS];
static _Atomic uint64_t stats_latency_us[STATS_ROUTE_COUNT][STATS_METHODS];
static _Atomic uint64_t stats_runs[RUN_OUTCOME_ERROR + 1];
static _Atomic uint64_t stats_batches, stats_duplicates, stats_rejected, stats_auth_failures;

const char *stats_route_str(enum stats_route r)
{
    if ((unsigned)r >= STATS_ROUTE_COUNT)
        return "other";
    return stats_routes[r].label;
}

/* Matches the rest of a pattern against the rest of a path, both just past a '/'. */
static int stats_match(const char *pat, const char *path)
{
    size_t plen = strcspn(pat, "/"), slen = strcspn(path, "/");
    const char *p;

    if (plen == 1 && pat[0] == '+') {
        /* one or more whole segments, then the rest of the pattern */
        if (pat[1] == '\0')
            return path[0] != '\0';
        for (p = path + slen; *p == '/'; p += 1 + strcspn(p + 1, "/")) {
            if (p > path && stats_match(pat + 2, p + 1))
                return 1;
        }
        return 0;
    }
    if (plen == 1 && pat[0] == ':') {
        if (slen == 0)
            return 0;
    } else if (plen != slen || strncmp(pat, path, plen) != 0) {
        return 0;
    }
    if (pat[plen] == '\0' || path[slen] == '\0')
        return pat[plen] == '\0' && path[slen] == '\0';
    return stats_match(pat + plen + 1, path + slen + 1);
}

enum stats_route stats_route_match(const char *path)
{
    size_t i;

    if (path == NULL || path[0] != '/')
        return STATS_ROUTE_OTHER;
    for (i = 1; i < STATS_ROUTE_COUNT; i++) {
        if (stats_match(stats_routes[i].pattern + 1, path + 1))
            return (enum stats_route)i;
    }
    return STATS_ROUTE_OTHER;
}

int64_t stats_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t stats_method_index(const char *method)
{
    size_t i;

    for (i = 0; method != NULL && i < STATS_METHODS - 1; i++) {
        if (strcmp(method, stats_methods[i]) == 0)
            return i;
    }
    return STATS_METHODS - 1;
}

static size_t stats_code_index(int status)
{
    size_t i;

    for (i = 0; i < NELEM(stats_codes); i++) {
        if (stats_codes[i] == status)
            return i;
    }
    return NELEM(stats_codes);
}

static void stats_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t stats_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void stats_http_request(enum stats_route route, const char *method, int status, int64_t duration_us)
{
    size_t m = stats_method_index(method), k;
    double secs;

    if ((unsigned)route >= STATS_ROUTE_COUNT)
        route = STATS_ROUTE_OTHER;
    if (duration_us < 0)
        duration_us = 0;
    secs = (double)duration_us / 1e6;
    for (k = 0; k < NELEM(stats_bounds) && secs > stats_bounds[k]; k++)
        ;
    stats_add(&stats_requests[route][m][stats_code_index(status)], 1);
    stats_add(&stats_latency[route][m][k], 1);
    stats_add(&stats_latency_us[route][m], (uint64_t)duration_us);
    if (status == 401 || status == 403)
        stats_add(&stats_auth_failures, 1);
}

void stats_run_received(enum run_outcome outcome)
{
    if ((unsigned)outcome <= RUN_OUTCOME_ERROR)
        stats_add(&stats_runs[outcome], 1);
}

void stats_run_batch(uint64_t duplicates, uint64_t rejected)
{
    stats_add(&stats_batches, 1);
    stats_add(&stats_duplicates, duplicates);
    stats_add(&stats_rejected, rejected);
}

/* A family without labels holding one counter. */
static enum ho_code stats_counter(struct buf *b, const char *name, const char *help,
                                  _Atomic uint64_t *c)
{
    enum ho_code rc;

    rc = prom_family(b, name, PROM_COUNTER, help);
    if (rc == HO_OK)
        rc = prom_sample_i64(b, name, NULL, 0, (int64_t)stats_get(c));
    return rc;
}

static enum ho_code stats_runs_prom(struct buf *b)
{
    static const char name[] = "healops_runs_received_total";
    char labels[64];
    enum ho_code rc;
    int i, n;

    rc = prom_family(b, name, PROM_COUNTER, "Runs accepted from agents, by outcome.");
    for (i = 0; i <= RUN_OUTCOME_ERROR && rc == HO_OK; i++) {
        n = snprintf(labels, sizeof(labels), "outcome=\"%s\"",
                     run_outcome_str((enum run_outcome)i));
        rc = prom_sample_i64(b, name, labels, (size_t)n, (int64_t)stats_get(&stats_runs[i]));
    }
    if (rc == HO_OK)
        rc = stats_counter(b, "healops_run_batches_total",
                           "Run batches (POST /api/v1/runs) "
                           "answered 200.",
                           &stats_batches);
    if (rc == HO_OK)
        rc = stats_counter(b, "healops_runs_duplicate_total",
                           "Runs received again and ignored (already stored).", &stats_duplicates);
    if (rc == HO_OK)
        rc = stats_counter(b, "healops_runs_rejected_total",
                           "Runs refused as invalid inside well-formed batches.", &stats_rejected);
    return rc;
}

static enum ho_code stats_requests_prom(struct buf *b)
{
    static const char name[] = "healops_http_requests_total";
    char labels[160];
    enum ho_code rc;
    uint64_t v;
    size_t r, m, c;
    int n;

    rc = prom_family(b, name, PROM_COUNTER,
                     "HTTP requests answered, by route template, "
                     "method and status code.");
    for (r = 0; r < STATS_ROUTE_COUNT && rc == HO_OK; r++) {
        for (m = 0; m < STATS_METHODS && rc == HO_OK; m++) {
            for (c = 0; c < STATS_CODES && rc == HO_OK; c++) {
                v = stats_get(&stats_requests[r][m][c]);
                if (v == 0)
                    continue;
                if (c < NELEM(stats_codes))
                    n = snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",code=\"%d\"",
                                 stats_routes[r].label, stats_methods[m], stats_codes[c]);
                else
                    n = snprintf(labels, sizeof(labels),
                                 "route=\"%s\",method=\"%s\",code=\"other\"", stats_routes[r].label,
                                 stats_methods[m]);
                rc = prom_sample_i64(b, name, labels, (size_t)n, (int64_t)v);
            }
        }
    }
    return rc;
}

static enum ho_code stats_latency_prom(struct buf *b)
{
    static const char name[] = "healops_http_request_duration_seconds";
    uint64_t counts[STATS_BUCKETS], total;
    struct prom_histogram h = {stats_bounds, NELEM(stats_bounds), counts, 0};
    char labels[160];
    enum ho_code rc;
    size_t r, m, k;
    int n;

    rc = prom_family(b, name, PROM_HISTOGRAM,
                     "Time the server took to handle a request, "
                     "by route template and method.");
    for (r = 0; r < STATS_ROUTE_COUNT && rc == HO_OK; r++) {
        for (m = 0; m < STATS_METHODS && rc == HO_OK; m++) {
            total = 0;
            for (k = 0; k < STATS_BUCKETS; k++) {
                counts[k] = stats_get(&stats_latency[r][m][k]);
                total += counts[k];
            }
            if (total == 0)
                continue;
            h.sum = (double)stats_get(&stats_latency_us[r][m]) / 1e6;
            n = snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\"",
                         stats_routes[r].label, stats_methods[m]);
            rc = prom_histogram_append(b, name, labels, (size_t)n, &h);
        }
    }
    return rc;
}

enum ho_code stats_append_prom(struct buf *b)
{
    enum ho_code rc;

    rc = stats_runs_prom(b);
    if (rc == HO_OK)
        rc = stats_requests_prom(b);
    if (rc == HO_OK)
        rc = stats_latency_prom(b);
    if (rc == HO_OK)
        rc = stats_counter(b, "healops_auth_failures_total",
                           "Requests refused for a missing, unknown or wrong-scope token "
                           "(401 and 403).",
                           &stats_auth_failures);
    return rc;
}
