/*
 * GET /metrics (DESIGN.md section 6): the Prometheus text exposition 0.0.4
 * (INTEGRATIONS.md section 4) of build and uptime, the counters of
 * server/stats.c, the fleet, the forwarders' outbox (server/forward.h), and four
 * gauges per agent x check.
 *
 * A fleet of 10,000 agents x 20 checks is 200,000 state rows and 800,000
 * lines (about 75 MB). The rows stream from one statement on a read-only
 * connection (server/store_read.h, one snapshot) into a compact copy: each
 * row's label set escaped once, beside its numbers, in blocks that are never
 * grown or copied. Every row is read before anything is answered, so a
 * database error is still a 503; what is left cannot fail, so the text is
 * written while it is sent (api_response body_read), a piece at a time as
 * the connection takes it, each family whole (Prometheus forbids interleaving
 * families), its exact length known beforehand (Content-Length). The 75 MB body is never
 * held in memory: building it there and sending it afterwards cost twice the
 * time (page faults, and writing then reading back memory no cache holds).
 * No JSON, no allocation per row.
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

#define METRICS_MAX_BYTES    (1024u * 1024 * 1024) /* the exposition */
#define METRICS_HEAD_MAX     (16u * 1024 * 1024)   /* all of it but the per-check families */
#define METRICS_SNAPSHOT_MAX (256u * 1024 * 1024)  /* the per-check snapshot's blocks */
#define METRICS_MAX_CHECKS   5000000               /* agent x check rows */
#define METRICS_BLOCK        (1024u * 1024)        /* the snapshot grows by blocks this large */

static const unsigned api_read_scopes = API_SCOPE(TOKEN_SCOPE_READ) | API_SCOPE(TOKEN_SCOPE_ADMIN);

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

/*
 * One agent x check in the snapshot; its escaped label set follows it, and the
 * next record starts at the next multiple of 8 bytes. Copied in and out with
 * memcpy, so a block's records need no alignment.
 */
struct metrics_check {
    size_t labels_len;
    int64_t last_run_at_ms;
    int consecutive_failures;
    signed char outcome;
    unsigned char stale;
};

/* A run of records, back to back; blocks are never copied or grown. */
struct metrics_block {
    struct metrics_block *next;
    size_t used; /* bytes of records in data */
    size_t size; /* bytes of data */
    char data[];
};

/*
 * A scrape: the text before the per-check families, the snapshot of every
 * agent x check, and, once sent as the body (api_response body_read), where
 * the reader is. Owned by the response from then on (metrics_stream_free).
 */
struct metrics_stream {
    struct buf head;           /* all but the per-check families */
    struct buf fam[MF_COUNT];  /* HELP and TYPE of each per-check family */
    size_t name_len[MF_COUNT]; /* of its metric name */
    struct metrics_block *first, *last;
    size_t nchecks;
    size_t snapshot_bytes; /* of all blocks */
    size_t total;          /* bytes of the exposition */
    size_t line_max;       /* of the longest per-check line */
    int64_t now_ms;
    /* the reader */
    const char *pend; /* text to copy on with before anything else */
    size_t pend_len;
    size_t pend_off;
    int next_family;                /* whose HELP and TYPE come next; MF_COUNT: none */
    int family;                     /* whose samples are being written */
    const struct metrics_block *at; /* block of the next record; NULL: family done */
    size_t at_off;                  /* offset of the next record in it */
    char *line;                     /* line_max bytes: a line that did not fit */
    size_t sent;
};

/*
 * Maps the pages of [p, p + n) at once. A scrape of a large fleet keeps about
 * 20 MB of snapshot in fresh memory, and taking its page faults one by one
 * costs more than writing it on a virtual machine; MADV_POPULATE_WRITE (Linux
 * 5.14) maps them in one call. Where the kernel lacks it, the pages fault in
 * as usual.
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

static struct metrics_stream *metrics_stream_new(int64_t now)
{
    struct metrics_stream *s = xcalloc(1, sizeof(*s));
    int f;

    buf_init(&s->head, METRICS_HEAD_MAX);
    for (f = 0; f < MF_COUNT; f++) {
        buf_init(&s->fam[f], 4096);
        s->name_len[f] = strlen(metrics_check_families[f].name);
    }
    s->now_ms = now;
    return s;
}

static void metrics_stream_free(void *cls)
{
    struct metrics_stream *s = cls;
    struct metrics_block *b, *next;
    int f;

    if (s == NULL)
        return;
    buf_cleanup(&s->head);
    for (f = 0; f < MF_COUNT; f++)
        buf_cleanup(&s->fam[f]);
    for (b = s->first; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(s->line);
    free(s);
}

/* Where the next record of at most need bytes goes: the last block, or a new one. */
static enum ho_code metrics_room(struct metrics_stream *s, size_t need, char **out)
{
    struct metrics_block *b;
    size_t size = need > METRICS_BLOCK ? need : METRICS_BLOCK;

    if (s->last != NULL && s->last->size - s->last->used >= need) {
        *out = s->last->data + s->last->used;
        return HO_OK;
    }
    if (s->snapshot_bytes + size > METRICS_SNAPSHOT_MAX)
        return HO_ETOOBIG;
    b = xmalloc(sizeof(*b) + size);
    metrics_prefault(b, sizeof(*b) + size);
    b->next = NULL;
    b->used = 0;
    b->size = size;
    if (s->last != NULL)
        s->last->next = b;
    else
        s->first = b;
    s->last = b;
    s->snapshot_bytes += size;
    *out = b->data;
    return HO_OK;
}

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

/* Counts c's four lines into the exposition's size and its longest line. */
static void metrics_measure(struct metrics_stream *s, const struct metrics_check *c)
{
    size_t len;
    int f;

    for (f = 0; f < MF_COUNT; f++) {
        len = prom_line_len(s->name_len[f], c->labels_len,
                            metrics_value(c, (enum metrics_field)f, NULL));
        s->total += len;
        if (len > s->line_max)
            s->line_max = len;
    }
}

/* Appends one state row to the snapshot: its label set escaped once, its values. */
static enum ho_code metrics_walk_row(void *ctx, const struct check_state_view *v)
{
    struct metrics_stream *s = ctx;
    struct metrics_check c;
    size_t need;
    char *rec = NULL, *d;
    enum ho_code rc;

    if (s->nchecks >= METRICS_MAX_CHECKS)
        return HO_ETOOBIG;
    /* the record, the label names and quotes, each value escaped at most 3 to 1, padding */
    need = sizeof(c) + 40 + PROM_LABEL_VALUE_MAX(v->node_len + v->package_len + v->check_len);
    rc = metrics_room(s, need, &rec);
    if (rc != HO_OK)
        return rc;
    d = rec + sizeof(c);
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
    memset(&c, 0, sizeof(c));
    c.labels_len = (size_t)(d - rec) - sizeof(c);
    c.last_run_at_ms = v->last_run_at_ms;
    c.consecutive_failures = v->consecutive_failures;
    c.outcome = (signed char)v->outcome;
    /* as GET /api/v1/state: no run for twice the check's interval */
    c.stale = v->interval_s > 0 && s->now_ms - v->last_run_at_ms > 2000LL * v->interval_s;
    memcpy(rec, &c, sizeof(c));
    s->last->used += (sizeof(c) + c.labels_len + 7) & ~(size_t)7;
    s->nchecks++;
    metrics_measure(s, &c);
    return HO_OK;
}

/* After the walk: the families' HELP and TYPE, the size of the whole, the reader at its start. */
static enum ho_code metrics_stream_finish(struct metrics_stream *s)
{
    enum ho_code rc = HO_OK;
    int f;

    s->total += s->head.len;
    for (f = 0; f < MF_COUNT && rc == HO_OK; f++) {
        rc = prom_family(&s->fam[f], metrics_check_families[f].name, PROM_GAUGE,
                         metrics_check_families[f].help);
        s->total += s->fam[f].len;
    }
    if (rc == HO_OK && s->total > METRICS_MAX_BYTES)
        rc = HO_ETOOBIG;
    if (rc != HO_OK)
        return rc;
    s->line = xmalloc(s->line_max > 0 ? s->line_max : 1);
    s->pend = s->head.data;
    s->pend_len = s->head.len;
    s->next_family = 0;
    return HO_OK;
}

/*
 * Writes the next sample line of the current family at dst when it fits in
 * room, else into s->line, pending; moves on to the next record. Returns the
 * bytes written at dst.
 */
static size_t metrics_stream_line(struct metrics_stream *s, char *dst, size_t room)
{
    const struct metrics_block *b = s->at;
    const char *rec = b->data + s->at_off;
    enum metrics_field f = (enum metrics_field)s->family;
    char value[PROM_MILLIS_MAX];
    struct metrics_check c;
    size_t vlen, len, n = 0;

    memcpy(&c, rec, sizeof(c));
    vlen = metrics_value(&c, f, value);
    len = prom_line_len(s->name_len[f], c.labels_len, vlen);
    if (len <= room) {
        n = prom_line_put(dst, metrics_check_families[f].name, s->name_len[f], rec + sizeof(c),
                          c.labels_len, value, vlen);
    } else {
        assert(len <= s->line_max);
        s->pend_len = prom_line_put(s->line, metrics_check_families[f].name, s->name_len[f],
                                    rec + sizeof(c), c.labels_len, value, vlen);
        s->pend = s->line;
        s->pend_off = 0;
    }
    s->at_off += (sizeof(c) + c.labels_len + 7) & ~(size_t)7;
    if (s->at_off >= b->used) {
        s->at = b->next;
        s->at_off = 0;
    }
    return n;
}

/*
 * The body reader (api_response body_read): the head, then each family's HELP
 * and TYPE and its samples, in order, at most max bytes at a time. Made from
 * the snapshot alone, so it cannot fail and gives exactly s->total bytes.
 */
static size_t metrics_stream_read(void *cls, char *dst, size_t max)
{
    struct metrics_stream *s = cls;
    size_t o = 0, k;

    while (o < max) {
        if (s->pend_off < s->pend_len) {
            k = s->pend_len - s->pend_off < max - o ? s->pend_len - s->pend_off : max - o;
            memcpy(dst + o, s->pend + s->pend_off, k);
            s->pend_off += k;
            o += k;
        } else if (s->at != NULL) {
            o += metrics_stream_line(s, dst + o, max - o);
        } else if (s->next_family < MF_COUNT) {
            s->family = s->next_family++;
            s->pend = s->fam[s->family].data;
            s->pend_len = s->fam[s->family].len;
            s->pend_off = 0;
            s->at = s->first != NULL && s->first->used > 0 ? s->first : NULL;
            s->at_off = 0;
        } else {
            break;
        }
    }
    s->sent += o;
    assert(s->sent <= s->total && (o > 0 || max == 0 || s->sent == s->total));
    return o;
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
                    "Outbox rows not yet delivered, per forwarder (a stat point is one, all "
                    "the points of a run are one)."},
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
    struct metrics_stream *s = NULL;
    struct ho_error err;
    int64_t now = clock_wall_ms();
    enum ho_code rc;

    if (api_auth(app, req, api_read_scopes, NULL, resp) != HO_OK)
        return;
    if (req->nparams > 0) {
        api_error(resp, HO_EINVAL, req->params[0].key, "unknown query parameter");
        return;
    }
    ho_error_clear(&err);
    s = metrics_stream_new(now);
    rc = store_read_open(app->cfg.db, &rd, &err);
    if (rc == HO_OK)
        rc = metrics_server(&s->head, app, now);
    if (rc == HO_OK)
        rc = stats_append_prom(&s->head);
    if (rc == HO_OK)
        rc = metrics_agents(&s->head, app, rd, now, &err);
    if (rc == HO_OK)
        rc = metrics_forwarders(&s->head, app, now);
    if (rc == HO_OK)
        rc = store_read_states(rd, metrics_walk_row, s, &err);
    store_read_close(rd);
    if (rc == HO_OK)
        rc = metrics_stream_finish(s);
    if (rc != HO_OK) {
        if (rc == HO_ETOOBIG)
            log_warnx("metrics: exposition over its limits (%zu checks); not served", s->nchecks);
        metrics_stream_free(s);
        api_error(resp, rc == HO_ETOOBIG ? HO_EINTERNAL : rc, NULL,
                  rc == HO_ETOOBIG ? "exposition too large" : "metrics unavailable");
        return;
    }
    /* every row is read: what is left cannot fail, so it is written while it is sent */
    api_response_cleanup(resp);
    resp->status = 200;
    resp->body_len = s->total;
    resp->body_read = metrics_stream_read;
    resp->body_free = metrics_stream_free;
    resp->body_cls = s;
    resp->content_type = PROM_CONTENT_TYPE;
}
