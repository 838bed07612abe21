/*
 * GET /metrics (DESIGN.md section 6): the Prometheus text exposition 0.0.4
 * (INTEGRATIONS.md section 4) of build and uptime, the counters of
 * server/stats.c, the fleet, the forwarders' outbox (server/forward.h), and four
 * gauges per agent x check.
 *
 * A fleet of 10,000 agents x 20 checks is 200,000 state rows and 800,000
 * lines (about 90 MB). The rows stream from one statement on a read-only
 * connection (server/store_read.h); each row's label set is escaped once into
 * one array and its numbers kept in another; then each family is written whole
 * (Prometheus forbids interleaving families) into one body of the exact size,
 * measured first, so nothing is grown or copied on the way. No JSON, no
 * allocation per row.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api.h"
#include "api_impl.h"
#include "api_metrics.h"
#include "app.h"
#include "buf.h"
#include "clock.h"
#include "forward.h"
#include "log.h"
#include "mem.h"
#include "prom.h"
#include "stats.h"
#include "store_read.h"

#ifndef HO_VERSION
#define HO_VERSION "0.0.0"
#endif
#ifndef HO_COMMIT
#define HO_COMMIT "unknown"
#endif

#define METRICS_MAX_BYTES  (1024u * 1024 * 1024) /* the exposition */
#define METRICS_HEAD_MAX   (16u * 1024 * 1024)   /* all of it but the per-check families */
#define METRICS_LABELS_MAX (256u * 1024 * 1024)  /* escaped label sets of all checks */
#define METRICS_MAX_CHECKS 5000000               /* agent x check rows */

static const unsigned api_read_scopes = API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN);

/* One agent x check: where its label set is, and its values. */
struct metrics_check {
    size_t labels_off;
    size_t labels_len;
    int64_t last_run_at_ms;
    int consecutive_failures;
    signed char outcome;
    unsigned char stale;
};

struct metrics_walk {
    char *labels; /* every check's escaped label set, back to back */
    size_t labels_len;
    size_t labels_size;
    struct metrics_check *rows; /* one per agent x check */
    size_t n;
    size_t size;
    int64_t now_ms;
};

/*
 * Maps the pages of [p, p + n) at once. A scrape of a large fleet writes about
 * 100 MB into fresh memory, and taking its 25,000 page faults one by one costs
 * more than writing it (300 ms against 60 ms on a virtual machine measured);
 * MADV_POPULATE_WRITE (Linux 5.14) maps them in one call. Where the kernel
 * lacks it, the pages fault in as usual.
 */
static void metrics_prefault(void *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a, e;

    if (page == 0 || page == (uintptr_t)-1 || n == 0)
        return;
    a = ((uintptr_t)p + page - 1) & ~(page - 1);
    e = ((uintptr_t)p + n) & ~(page - 1);
#ifdef MADV_POPULATE_WRITE
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#endif
}

/*
 * Grows *p (of *size elements of elem bytes) to hold need; HO_ETOOBIG past max.
 * Not realloc: the new block is mapped whole before the old one is copied in.
 */
static enum ho_code metrics_grow(void **p, size_t *size, size_t need, size_t elem, size_t max)
{
    size_t want = *size > 0 ? *size : 4096;
    void *np;

    if (need <= *size)
        return HO_OK;
    if (need > max)
        return HO_ETOOBIG;
    while (want < need)
        want *= 2;
    if (want > max)
        want = max;
    np = xmalloc(want * elem);
    metrics_prefault(np, want * elem);
    if (*size > 0)
        memcpy(np, *p, *size * elem);
    free(*p);
    *p = np;
    *size = want;
    return HO_OK;
}

static enum ho_code metrics_walk_row(void *ctx, const struct check_state_view *v)
{
    struct metrics_walk *w = ctx;
    struct metrics_check *c;
    size_t off = w->labels_len, need;
    char *d;
    enum ho_code rc;

    need = 32 + PROM_LABEL_VALUE_MAX(v->node_len + v->package_len + v->check_len);
    rc = metrics_grow((void **)&w->rows, &w->size, w->n + 1, sizeof(*w->rows), METRICS_MAX_CHECKS);
    if (rc == HO_OK)
        rc = metrics_grow((void **)&w->labels, &w->labels_size, w->labels_len + need, 1,
                          METRICS_LABELS_MAX);
    if (rc != HO_OK)
        return rc;
    d = w->labels + off;
    memcpy(d, "node=\"", 6);
    d += 6;
    d += prom_label_value_put(d, v->node, v->node_len);
    memcpy(d, "\",package=\"", 11);
    d += 11;
    d += prom_label_value_put(d, v->package, v->package_len);
    memcpy(d, "\",check=\"", 9);
    d += 9;
    d += prom_label_value_put(d, v->check, v->check_len);
    *d++ = '"';
    w->labels_len = (size_t)(d - w->labels);
    c = &w->rows[w->n++];
    c->labels_off = off;
    c->labels_len = w->labels_len - off;
    c->last_run_at_ms = v->last_run_at_ms;
    c->consecutive_failures = v->consecutive_failures;
    c->outcome = (signed char)v->outcome;
    /* as GET /api/v1/state: no run for twice the check's interval */
    c->stale = v->interval_s > 0 && w->now_ms - v->last_run_at_ms > 2000LL * v->interval_s;
    return HO_OK;
}

enum metrics_field { MF_OUTCOME, MF_FAILURES, MF_LAST_RUN, MF_STALE, MF_COUNT };

static const struct {
    const char *name;
    const char *help;
} metrics_check_families[MF_COUNT] = {
    [MF_OUTCOME] = {"healops_check_outcome",
                    "Last outcome per agent and check (0 ok, 1 repaired, 2 failed, 3 error)."},
    [MF_FAILURES] = {"healops_check_consecutive_failures",
                     "Newest runs in a row that ended failed or error, per agent and check."},
    [MF_LAST_RUN] = {"healops_check_last_run_timestamp_seconds",
                     "Start of the last run per agent and check, in Unix seconds."},
    [MF_STALE] = {"healops_check_stale",
                  "1 when a check has not run for twice its interval, else 0."},
};

/* Writes the value of field f of c at dst, or only measures it when dst is NULL. */
static size_t metrics_value(const struct metrics_check *c, enum metrics_field f, char *dst)
{
    int64_t v;

    if (f == MF_LAST_RUN)
        return dst != NULL ? prom_millis_put(dst, c->last_run_at_ms)
                           : prom_millis_len(c->last_run_at_ms);
    if (f == MF_OUTCOME)
        v = c->outcome;
    else if (f == MF_FAILURES)
        v = c->consecutive_failures;
    else
        v = c->stale;
    return dst != NULL ? prom_i64_put(dst, v) : prom_i64_len(v);
}

/*
 * Makes the body: head, then the four per-check families, in one allocation of
 * the exact size (measured first), so nothing is copied or grown on the way.
 */
static enum ho_code metrics_body(const struct buf *head, const struct metrics_walk *w, char **body,
                                 size_t *len)
{
    struct buf hdr[MF_COUNT];
    size_t nlen[MF_COUNT], total = head->len, i, o, vlen;
    char value[PROM_MILLIS_MAX], *out;
    const struct metrics_check *c;
    enum ho_code rc = HO_OK;
    int f;

    for (f = 0; f < MF_COUNT; f++) {
        buf_init(&hdr[f], 4096);
        if (rc == HO_OK)
            rc = prom_family(&hdr[f], metrics_check_families[f].name, PROM_GAUGE,
                             metrics_check_families[f].help);
        nlen[f] = strlen(metrics_check_families[f].name);
        total += hdr[f].len;
        for (i = 0; i < w->n; i++)
            total += prom_line_len(nlen[f], w->rows[i].labels_len,
                                   metrics_value(&w->rows[i], (enum metrics_field)f, NULL));
    }
    if (rc == HO_OK && total > METRICS_MAX_BYTES)
        rc = HO_ETOOBIG;
    if (rc == HO_OK) {
        out = xmalloc(total + 1);
        metrics_prefault(out, total + 1);
        memcpy(out, head->data, head->len);
        o = head->len;
        for (f = 0; f < MF_COUNT; f++) {
            memcpy(out + o, hdr[f].data, hdr[f].len);
            o += hdr[f].len;
            for (i = 0; i < w->n; i++) {
                c = &w->rows[i];
                vlen = metrics_value(c, (enum metrics_field)f, value);
                o += prom_line_put(out + o, metrics_check_families[f].name, nlen[f],
                                   w->labels + c->labels_off, c->labels_len, value, vlen);
            }
        }
        assert(o == total);
        out[o] = '\0';
        *body = out;
        *len = o;
    }
    for (f = 0; f < MF_COUNT; f++)
        buf_cleanup(&hdr[f]);
    return rc;
}

static enum ho_code metrics_server(struct buf *b, const struct app *app, int64_t now)
{
    struct prom_label build[] = {{"version", HO_VERSION}, {"commit", HO_COMMIT}};
    struct buf labels;
    enum ho_code rc;

    buf_init(&labels, 1024);
    rc = prom_labels_append(&labels, build, 2);
    if (rc == HO_OK)
        rc = prom_family(b, "healops_build_info", PROM_GAUGE,
                         "Build information of the HealOps server.");
    if (rc == HO_OK)
        rc = prom_sample_i64(b, "healops_build_info", labels.data, labels.len, 1);
    buf_cleanup(&labels);
    if (rc == HO_OK)
        rc = prom_family(b, "healops_start_time_seconds", PROM_GAUGE,
                         "When the server started, in Unix seconds.");
    if (rc == HO_OK)
        rc = prom_sample_millis(b, "healops_start_time_seconds", NULL, 0, app->started_at_ms);
    if (rc == HO_OK)
        rc = prom_family(b, "healops_uptime_seconds", PROM_GAUGE,
                         "Seconds since the server started.");
    if (rc == HO_OK)
        rc = prom_sample_millis(b, "healops_uptime_seconds", NULL, 0,
                                app->started_at_ms > 0 ? now - app->started_at_ms : 0);
    return rc;
}

static enum ho_code metrics_agents(struct buf *b, const struct app *app, struct store_read *rd,
                                   int64_t now, struct ho_error *err)
{
    static const char name[] = "healops_agents";
    int64_t total = 0, silent = 0;
    enum ho_code rc;

    rc =
        store_read_agent_counts(rd, now - app->cfg.agent_silent_after * 1000, &total, &silent, err);
    if (rc == HO_OK)
        rc = prom_family(b, name, PROM_GAUGE,
                         "Enrolled agents, by whether they are silent (no run or heartbeat "
                         "within agent_silent_after).");
    if (rc == HO_OK)
        rc = prom_sample_i64(b, name, "silent=\"false\"", 14, total - silent);
    if (rc == HO_OK)
        rc = prom_sample_i64(b, name, "silent=\"true\"", 13, silent);
    return rc;
}

/* One forwarder's label set: forwarder="NAME". */
static enum ho_code metrics_fwd_labels(struct buf *l, const struct forward_status *f)
{
    struct prom_label lab = {"forwarder", f->name};

    buf_reset(l);
    return prom_labels_append(l, &lab, 1);
}

enum fwd_field {
    FF_INFO,
    FF_PENDING,
    FF_OLDEST,
    FF_DELIVERED,
    FF_DROPPED,
    FF_FAILURES,
    FF_TAGS_DROPPED,
    FF_STATE,
    FF_LAST_SUCCESS,
    FF_COUNT
};

static const struct {
    const char *name;
    enum prom_type type;
    const char *help;
} metrics_fwd_families[FF_COUNT] = {
    [FF_INFO] = {"healops_forwarder_info", PROM_GAUGE,
                 "Configured metric forwarders: type and target (always 1)."},
    [FF_PENDING] = {"healops_points_pending", PROM_GAUGE,
                    "Metric points in the outbox not yet delivered, per forwarder."},
    [FF_OLDEST] = {"healops_forwarder_oldest_pending_age_seconds", PROM_GAUGE,
                   "Age of the oldest point not yet delivered (0 when none), per forwarder."},
    [FF_DELIVERED] = {"healops_forwarder_delivered_total", PROM_COUNTER,
                      "Metric points delivered, per forwarder."},
    [FF_DROPPED] = {"healops_forwarder_dropped_total", PROM_COUNTER,
                    "Metric points the target refused for good, per forwarder."},
    [FF_FAILURES] = {"healops_forwarder_failures_total", PROM_COUNTER,
                     "Failed delivery attempts, per forwarder."},
    [FF_TAGS_DROPPED] = {"healops_forwarder_tags_dropped_total", PROM_COUNTER,
                         "Tags left out over a target's limit since the server started."},
    [FF_STATE] = {"healops_forwarder_state", PROM_GAUGE,
                  "Delivery state per forwarder (0 ok, 1 retrying, 2 failing)."},
    [FF_LAST_SUCCESS] = {"healops_forwarder_last_success_timestamp_seconds", PROM_GAUGE,
                         "When a forwarder last delivered a batch, in Unix seconds (0 never)."},
};

/* One sample of family f for forwarder s (labels l hold forwarder="NAME"). */
static enum ho_code metrics_fwd_sample(struct buf *b, enum fwd_field f,
                                       const struct forward_status *s, struct buf *l, int64_t now)
{
    const char *name = metrics_fwd_families[f].name;
    struct prom_label info[] = {{"forwarder", s->name},
                                {"type", forward_type_str(s->type)},
                                {"target", s->target != NULL ? s->target : ""}};
    enum ho_code rc;

    if (f == FF_INFO) {
        buf_reset(l);
        rc = prom_labels_append(l, info, 3);
        return rc == HO_OK ? prom_sample_i64(b, name, l->data, l->len, 1) : rc;
    }
    rc = metrics_fwd_labels(l, s);
    if (rc != HO_OK)
        return rc;
    switch (f) {
    case FF_PENDING:
        return prom_sample_i64(b, name, l->data, l->len, s->pending);
    case FF_OLDEST:
        return prom_sample_millis(b, name, l->data, l->len,
                                  s->oldest_pending_ms > 0 && now > s->oldest_pending_ms
                                      ? now - s->oldest_pending_ms
                                      : 0);
    case FF_DELIVERED:
        return prom_sample_i64(b, name, l->data, l->len, s->delivered);
    case FF_DROPPED:
        return prom_sample_i64(b, name, l->data, l->len, s->dropped);
    case FF_FAILURES:
        return prom_sample_i64(b, name, l->data, l->len, s->failures);
    case FF_TAGS_DROPPED:
        return prom_sample_i64(b, name, l->data, l->len, s->tags_dropped);
    case FF_STATE:
        return prom_sample_i64(b, name, l->data, l->len, (int64_t)s->state);
    default:
        return prom_sample_millis(b, name, l->data, l->len, s->last_success_at_ms);
    }
}

/* The forwarders' families (server/forward.h); none when no forwarder is configured. */
static enum ho_code metrics_forwarders(struct buf *b, struct app *app, int64_t now)
{
    struct forward_status *st = NULL;
    struct buf labels;
    size_t n = 0, i;
    enum ho_code rc;
    int f;

    rc = forward_status(app, &st, &n);
    if (rc != HO_OK)
        return rc;
    buf_init(&labels, 64 * 1024);
    for (f = 0; f < FF_COUNT && n > 0 && rc == HO_OK; f++) {
        rc = prom_family(b, metrics_fwd_families[f].name, metrics_fwd_families[f].type,
                         metrics_fwd_families[f].help);
        for (i = 0; i < n && rc == HO_OK; i++)
            rc = metrics_fwd_sample(b, (enum fwd_field)f, &st[i], &labels, now);
    }
    buf_cleanup(&labels);
    forward_status_free(st, n);
    return rc;
}

void api_prom_get(struct app *app, const struct api_request *req, struct api_response *resp)
{
    struct store_read *rd = NULL;
    struct metrics_walk w;
    struct ho_error err;
    struct buf head;
    int64_t now = clock_wall_ms();
    char *body = NULL;
    size_t len = 0;
    enum ho_code rc;

    if (api_auth(app, req, api_read_scopes, NULL, resp) != HO_OK)
        return;
    if (req->nparams > 0) {
        api_error(resp, HO_EINVAL, req->params[0].key, "unknown query parameter");
        return;
    }
    ho_error_clear(&err);
    memset(&w, 0, sizeof(w));
    w.now_ms = now;
    buf_init(&head, METRICS_HEAD_MAX);
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK)
        rc = metrics_server(&head, app, now);
    if (rc == HO_OK)
        rc = stats_append_prom(&head);
    if (rc == HO_OK)
        rc = metrics_agents(&head, app, rd, now, &err);
    if (rc == HO_OK)
        rc = metrics_forwarders(&head, app, now);
    if (rc == HO_OK)
        rc = store_read_states(rd, metrics_walk_row, &w, &err);
    store_read_close(rd);
    if (rc == HO_OK)
        rc = metrics_body(&head, &w, &body, &len);
    buf_cleanup(&head);
    free(w.labels);
    free(w.rows);
    if (rc != HO_OK) {
        if (rc == HO_ETOOBIG)
            log_warnx("metrics: exposition over its limits (%zu checks); not served", w.n);
        api_error(resp, rc == HO_ETOOBIG ? HO_EINTERNAL : rc, NULL,
                  rc == HO_ETOOBIG ? "exposition too large" : "metrics unavailable");
        return;
    }
    api_response_cleanup(resp);
    resp->status = 200;
    resp->body = body;
    resp->body_len = len;
    resp->content_type = PROM_CONTENT_TYPE;
}
