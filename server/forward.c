/*
 * The forwarder threads and the pruner (DESIGN.md section 7; retry rules of
 * INTEGRATIONS.md sections 0 and 12).
 *
 * Each forwarder reads the points after its delivered_seq, in seq order and
 * about batch_size at a time (a run's points share one seq and come whole),
 * encodes them for its target and sends them. 2xx (or, for Graphite, the peer
 * closing after reading it all) moves delivered_seq and the counters in one
 * store statement. A transient failure (network, timeout, 5xx, 429, 408,
 * 401/403) is retried with the same batch after an exponential backoff with
 * equal jitter (1 s doubling to max_backoff, at least Retry-After); 400/404/422
 * and other 4xx drop the batch for good (logged, counted, skipped: never
 * retried forever); 413 halves the batch (one run's points, which are never
 * split, are dropped instead). So order holds, nothing is lost
 * while the target is merely down, and nothing is sent twice from our side
 * (a target that stored a batch but failed to answer sees it again).
 *
 * Ingest calls forward_notify after a commit; an idle forwarder waits on a
 * condition variable (monotonic clock) for that or FORWARD_POLL_MS. The pruner
 * deletes, every minute and a thousand rows per short transaction, points
 * older than the series window that every configured forwarder has passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "crypto.h"
#include "forward_impl.h"
#include "httpc.h"
#include "log.h"
#include "mem.h"
#include "points.h"
#include "store.h"

#define FORWARD_POLL_MS        2000  /* an idle forwarder looks anyway this often */
#define FORWARD_TIMEOUT_MS     15000 /* one request or Graphite batch */
#define FORWARD_CONNECT_MS     5000
#define FORWARD_BODY_MAX       (64u * 1024 * 1024)
#define FORWARD_ANSWER_MAX     (64u * 1024)
#define FORWARD_FAILING_AFTER  5     /* failed attempts in a row that make a forwarder failing */
#define FORWARD_LOG_EVERY_MS   60000 /* the same failure is logged again after this long */
#define FORWARD_STORE_RETRY_MS 1000
#define PRUNE_FIRST_MS         10000
#define PRUNE_EVERY_MS         60000
#define PRUNE_BATCH            1000
#define PRUNE_PAUSE_MS         5     /* between prune batches: ingest gets the store */

struct fwd_worker {
    struct forward *fw;
    const struct fwd_target *t;
    pthread_t thread;
    int started;
    struct httpc *http;
    uint32_t rnd;                /* xorshift state for the jitter */
    /* Under fw->mu: */
    int64_t delivered_seq;
    unsigned fails_in_row;
    int permanent;               /* the last failure dropped a batch */
    int64_t tags_dropped;
    /* Only the worker's thread: */
    char last_logged[HO_ERROR_MSG_MAX];
    int64_t last_logged_ms;
};

struct forward {
    struct app *app;
    struct forward_config *cfg;
    struct fwd_worker *w; /* one per cfg->v[i] */
    size_t n;
    pthread_t pruner;
    int pruner_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* stop, for every sleeper */
    pthread_cond_t pts_cv; /* new points, only for workers waiting for them */
    uint64_t gen;          /* bumped by forward_notify */
    int stopping;
};

/* ---- pure helpers ---- */

const char *forward_state_str(enum forward_state s)
{
    switch (s) {
    case FORWARD_STATE_OK:
        return "ok";
    case FORWARD_STATE_RETRYING:
        return "retrying";
    case FORWARD_STATE_FAILING:
        return "failing";
    }
    return "unknown";
}

const char *fwd_verdict_str(enum fwd_verdict v)
{
    switch (v) {
    case FWD_DELIVERED:
        return "delivered";
    case FWD_RETRY:
        return "retry";
    case FWD_DROP:
        return "drop";
    case FWD_SPLIT:
        return "split";
    }
    return "unknown";
}

void fwd_format_double(double v, char out[32])
{
    if (v == 0)
        v = 0; /* no "-0" */
    if (fabs(v) < 1e15 && v == (double)(long long)v) {
        snprintf(out, 32, "%lld", (long long)v);
        return;
    }
    snprintf(out, 32, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, 32, "%.17g", v);
}

enum fwd_verdict fwd_classify(enum ho_code transport, long status)
{
    if (transport != HO_OK)
        return FWD_RETRY;
    if (status >= 200 && status < 300)
        return FWD_DELIVERED;
    if (status == 413)
        return FWD_SPLIT;
    /* A timeout, throttling or credentials an operator can fix: the data is not at fault. */
    if (status == 408 || status == 425 || status == 429 || status == 401 || status == 403)
        return FWD_RETRY;
    if (status >= 400 && status < 500)
        return FWD_DROP;
    return FWD_RETRY; /* 5xx, and 1xx/3xx (a misconfigured URL) too */
}

int64_t fwd_backoff_ms(unsigned attempt, int max_backoff_s, long retry_after_s, uint32_t rnd)
{
    int64_t cap = (int64_t)(max_backoff_s > 0 ? max_backoff_s : 1) * 1000, base = 1000, d;

    while (attempt > 1 && base < cap) {
        base *= 2;
        attempt--;
    }
    if (base > cap)
        base = cap;
    d = base - (int64_t)(rnd % (uint32_t)(base / 2 + 1));
    if (retry_after_s > FWD_MAX_RETRY_AFTER_S)
        retry_after_s = FWD_MAX_RETRY_AFTER_S;
    if (retry_after_s >= 0 && d < retry_after_s * 1000)
        d = retry_after_s * 1000;
    return d;
}

static uint32_t fwd_random(struct fwd_worker *w)
{
    uint32_t x = w->rnd;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rnd = x != 0 ? x : 0x9e3779b9u;
    return w->rnd;
}

/* ---- waiting ---- */

static void fwd_deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * Sleeps up to ms or until stop; with wake_on_points also until forward_notify
 * bumps gen past seen_gen. Returns 1 when stopping.
 */
static int fwd_wait(struct forward *fw, int64_t ms, int wake_on_points, uint64_t seen_gen)
{
    struct timespec until;
    int stop;

    fwd_deadline(&until, ms);
    pthread_mutex_lock(&fw->mu);
    while (!fw->stopping && !(wake_on_points && fw->gen != seen_gen)) {
        if (pthread_cond_timedwait(wake_on_points ? &fw->pts_cv : &fw->cv, &fw->mu, &until) ==
            ETIMEDOUT)
            break;
    }
    stop = fw->stopping;
    pthread_mutex_unlock(&fw->mu);
    return stop;
}

static int fwd_stopping(struct forward *fw, uint64_t *gen)
{
    int stop;

    pthread_mutex_lock(&fw->mu);
    stop = fw->stopping;
    if (gen != NULL)
        *gen = fw->gen;
    pthread_mutex_unlock(&fw->mu);
    return stop;
}

void forward_notify(struct forward *fw)
{
    if (fw == NULL)
        return;
    pthread_mutex_lock(&fw->mu);
    fw->gen++;
    /* not fw->cv: the pruner and workers waiting out a retry stay asleep on every POST */
    pthread_cond_broadcast(&fw->pts_cv);
    pthread_mutex_unlock(&fw->mu);
}

/* ---- one attempt ---- */

struct fwd_attempt {
    enum ho_code rc; /* transport */
    long status;     /* HTTP status (Graphite: 200 once the peer took it), 0 = none */
    long retry_after_s;
    char error[HO_ERROR_MSG_MAX];
};

static void fwd_http_send(struct fwd_worker *w, const struct buf *body, struct fwd_attempt *a)
{
    const char *ctype = w->t->type == FORWARD_OPENTSDB ? "application/json"
                                                       : "text/plain; charset=utf-8";
    struct httpc_response resp = {0};
    struct ho_error err;
    char safe[200];

    ho_error_clear(&err);
    a->rc = httpc_request(w->http, "POST", w->t->url, w->t->secret, ctype, body->data, body->len,
                          NULL, FORWARD_ANSWER_MAX, &resp, &err);
    if (a->rc != HO_OK) {
        snprintf(a->error, sizeof(a->error), "%s", err.msg);
        return;
    }
    a->status = resp.status;
    a->retry_after_s = resp.retry_after_s;
    if (resp.status < 200 || resp.status >= 300) {
        log_safe(safe, sizeof(safe), resp.body != NULL ? resp.body : "");
        snprintf(a->error, sizeof(a->error), "HTTP %ld%s%s", resp.status, safe[0] ? ": " : "",
                 safe);
    }
    httpc_response_cleanup(&resp);
}

static void fwd_send(struct fwd_worker *w, const struct buf *body, struct fwd_attempt *a)
{
    struct ho_error err;

    memset(a, 0, sizeof(*a));
    a->retry_after_s = -1;
    if (w->t->type != FORWARD_GRAPHITE) {
        fwd_http_send(w, body, a);
        return;
    }
    ho_error_clear(&err);
    a->rc = fwd_graphite_send(w->t->host, w->t->port, body->data, body->len, FORWARD_TIMEOUT_MS,
                              &err);
    if (a->rc != HO_OK)
        snprintf(a->error, sizeof(a->error), "%s", err.msg);
    else
        a->status = 200; /* Graphite has no answer: the peer read it all and closed */
}

static enum ho_code fwd_encode(struct fwd_worker *w, const struct point *p, size_t n,
                               struct buf *body)
{
    size_t dropped = 0;
    enum ho_code rc;

    buf_reset(body);
    switch (w->t->type) {
    case FORWARD_OPENTSDB:
        rc = fwd_opentsdb_encode(p, n, body, &dropped);
        break;
    case FORWARD_INFLUXDB:
        rc = fwd_influx_encode(p, n, body);
        break;
    default:
        rc = fwd_graphite_encode(p, n, w->t->plain, body);
        break;
    }
    if (dropped > 0) {
        pthread_mutex_lock(&w->fw->mu);
        if (w->tags_dropped == 0)
            log_warnx("forward %s: points with more than %d tags: the extra (package) tags are "
                      "left out (counted in tags_dropped)",
                      w->t->name, FWD_OPENTSDB_MAX_TAGS);
        w->tags_dropped += (int64_t)dropped;
        pthread_mutex_unlock(&w->fw->mu);
    }
    return rc;
}

/* Logs a failure, the same one again only after FORWARD_LOG_EVERY_MS. */
static void fwd_log_failure(struct fwd_worker *w, const char *what, const char *error)
{
    int64_t now = clock_mono_ms();

    if (strcmp(w->last_logged, error) == 0 && now - w->last_logged_ms < FORWARD_LOG_EVERY_MS) {
        log_debug("forward %s: %s: %s", w->t->name, what, error);
        return;
    }
    log_warnx("forward %s: %s: %s", w->t->name, what, error);
    snprintf(w->last_logged, sizeof(w->last_logged), "%s", error);
    w->last_logged_ms = now;
}

static void fwd_record(struct fwd_worker *w, enum store_delivery what, int64_t upto, size_t n,
                       const char *error)
{
    if (store_forwarder_record(w->fw->app->store, w->t->name, what, upto, (int64_t)n, error,
                               clock_wall_ms()) != HO_OK)
        log_warnx("forward %s: could not record a %s batch up to seq %" PRId64, w->t->name,
                  store_delivery_str(what), upto);
}

/* Moves past a batch (sent or dropped) in memory and in the store. */
static void fwd_advance(struct fwd_worker *w, enum store_delivery what, int64_t upto, size_t n,
                        const char *error)
{
    fwd_record(w, what, upto, n, error);
    pthread_mutex_lock(&w->fw->mu);
    w->delivered_seq = upto;
    if (what == STORE_DELIVERY_SENT) {
        if (w->fails_in_row > 0)
            log_info("forward %s: delivering again after %u failed attempts", w->t->name,
                     w->fails_in_row);
        w->fails_in_row = 0;
        w->permanent = 0;
    } else {
        w->fails_in_row++;
        w->permanent = 1;
    }
    pthread_mutex_unlock(&w->fw->mu);
    if (what == STORE_DELIVERY_SENT)
        w->last_logged[0] = '\0';
}

static void fwd_failed(struct fwd_worker *w, const char *error)
{
    fwd_record(w, STORE_DELIVERY_FAILED, 0, 0, error);
    pthread_mutex_lock(&w->fw->mu);
    w->fails_in_row++;
    w->permanent = 0;
    pthread_mutex_unlock(&w->fw->mu);
}

/*
 * Sends one batch p[0..n) until it is delivered, dropped or we stop. *batch may
 * shrink (413); returns 1 when stopping.
 */
static int fwd_batch(struct fwd_worker *w, const struct point *p, size_t n, size_t *batch,
                     struct buf *body)
{
    struct fwd_attempt a;
    enum fwd_verdict v;
    unsigned attempt = 0;
    int64_t upto = p[n - 1].seq, delay;
    int splittable = p[0].seq != upto; /* one outbox row (a run's points) is not split */
    enum ho_code rc;

    rc = fwd_encode(w, p, n, body);
    if (rc != HO_OK) {
        if (splittable) {
            *batch = n / 2;
            return 0;
        }
        fwd_log_failure(w, "dropped a point", "point too large to encode");
        fwd_advance(w, STORE_DELIVERY_DROPPED, upto, n, "point too large to encode");
        return 0;
    }
    for (;;) {
        fwd_send(w, body, &a);
        v = fwd_classify(a.rc, a.status);
        if (v == FWD_DELIVERED) {
            fwd_advance(w, STORE_DELIVERY_SENT, upto, n, NULL);
            if (*batch < w->t->batch_size)
                *batch = *batch * 2 < w->t->batch_size ? *batch * 2 : w->t->batch_size;
            return 0;
        }
        if (v == FWD_SPLIT && splittable) {
            fwd_log_failure(w, "batch too large, halving it", a.error);
            fwd_failed(w, a.error);
            *batch = n / 2;
            return 0;
        }
        if (v == FWD_DROP || v == FWD_SPLIT) {
            fwd_log_failure(w, "target refused a batch for good; dropped", a.error);
            fwd_advance(w, STORE_DELIVERY_DROPPED, upto, n, a.error);
            return 0;
        }
        fwd_log_failure(w, "will retry", a.error);
        fwd_failed(w, a.error);
        delay = fwd_backoff_ms(++attempt, w->t->max_backoff_s, a.retry_after_s, fwd_random(w));
        if (fwd_wait(w->fw, delay, 0, 0))
            return 1;
    }
}

static void *fwd_worker_main(void *arg)
{
    struct fwd_worker *w = arg;
    struct forward *fw = w->fw;
    struct store_forwarder sf;
    struct point *p = NULL;
    struct buf body;
    size_t n = 0, batch = w->t->batch_size;
    uint64_t gen = 0;
    int stop = 0;

    buf_init(&body, FORWARD_BODY_MAX);
    while (store_forwarder_get(fw->app->store, w->t->name, &sf) != HO_OK) {
        if (fwd_wait(fw, FORWARD_STORE_RETRY_MS, 0, 0))
            goto out;
    }
    pthread_mutex_lock(&fw->mu);
    w->delivered_seq = sf.delivered_seq;
    pthread_mutex_unlock(&fw->mu);
    log_info("forward %s: %s to %s from seq %" PRId64 " (%" PRId64 " pending)", w->t->name,
             forward_type_str(w->t->type), w->t->target, sf.delivered_seq, sf.pending);
    store_forwarder_cleanup(&sf);
    while (!stop && !fwd_stopping(fw, &gen)) {
        /* on the reader connection: not in turn with ingest for the writer's lock */
        if (store_points_after(app_forward_reads(fw->app), w->delivered_seq, batch, &p, &n) != HO_OK) {
            stop = fwd_wait(fw, FORWARD_STORE_RETRY_MS, 0, 0);
            continue;
        }
        if (n == 0)
            stop = fwd_wait(fw, FORWARD_POLL_MS, 1, gen);
        else
            stop = fwd_batch(w, p, n, &batch, &body);
        points_free(p, n);
        p = NULL;
        n = 0;
    }
out:
    buf_cleanup(&body);
    return NULL;
}

/* ---- pruning ---- */

int64_t forward_min_delivered(struct forward *fw)
{
    int64_t m = INT64_MAX;
    size_t i;

    if (fw == NULL)
        return m;
    pthread_mutex_lock(&fw->mu);
    for (i = 0; i < fw->n; i++) {
        if (fw->w[i].delivered_seq < m)
            m = fw->w[i].delivered_seq;
    }
    pthread_mutex_unlock(&fw->mu);
    return m;
}

static void fwd_prune_once(struct forward *fw)
{
    int64_t before = clock_wall_ms() - (int64_t)fw->app->cfg.series_days * 86400 * 1000;
    int64_t upto = forward_min_delivered(fw);
    size_t deleted = 0, total = 0;

    do {
        if (store_points_prune(fw->app->store, upto, before, PRUNE_BATCH, &deleted) != HO_OK)
            break;
        total += deleted;
    } while (deleted == PRUNE_BATCH && !fwd_wait(fw, PRUNE_PAUSE_MS, 0, 0));
    if (total > 0)
        log_info("forward: pruned %zu points older than %lld days", total,
                 (long long)fw->app->cfg.series_days);
}

static void *fwd_pruner_main(void *arg)
{
    struct forward *fw = arg;
    int64_t wait_ms = PRUNE_FIRST_MS;

    while (!fwd_wait(fw, wait_ms, 0, 0)) {
        fwd_prune_once(fw);
        wait_ms = PRUNE_EVERY_MS;
    }
    return NULL;
}

/* ---- start, stop, status ---- */

static enum ho_code fwd_worker_init(struct forward *fw, struct fwd_worker *w,
                                    const struct fwd_target *t, struct ho_error *err)
{
    struct httpc_opts o;

    w->fw = fw;
    w->t = t;
    if (crypto_random(&w->rnd, sizeof(w->rnd)) != HO_OK || w->rnd == 0)
        w->rnd = (uint32_t)clock_mono_ms() | 1u;
    if (t->type == FORWARD_GRAPHITE)
        return HO_OK;
    memset(&o, 0, sizeof(o));
    o.timeout_ms = FORWARD_TIMEOUT_MS;
    o.connect_timeout_ms = FORWARD_CONNECT_MS;
    if (httpc_new(&o, &w->http) != HO_OK)
        return ho_error_set(err, HO_EIO, NULL, "forward %s: cannot make an HTTP client", t->name);
    httpc_set_auth_scheme(w->http, t->auth_scheme);
    return HO_OK;
}

enum ho_code forward_start(struct app *app, struct forward_config *cfg, struct forward **out,
                           struct ho_error *err)
{
    struct forward *fw = xcalloc(1, sizeof(*fw));
    pthread_condattr_t ca;
    enum ho_code rc = HO_OK;
    size_t i;

    *out = NULL;
    fw->app = app;
    fw->cfg = cfg;
    fw->n = forward_config_count(cfg);
    fw->w = xcalloc(fw->n + 1, sizeof(*fw->w));
    pthread_mutex_init(&fw->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fw->cv, &ca);
    pthread_cond_init(&fw->pts_cv, &ca);
    pthread_condattr_destroy(&ca);
    for (i = 0; rc == HO_OK && i < fw->n; i++)
        rc = fwd_worker_init(fw, &fw->w[i], &cfg->v[i], err);
    for (i = 0; rc == HO_OK && i < fw->n; i++) {
        if (pthread_create(&fw->w[i].thread, NULL, fwd_worker_main, &fw->w[i]) != 0)
            rc = ho_error_set(err, HO_EIO, NULL, "forward %s: cannot start a thread",
                              cfg->v[i].name);
        else
            fw->w[i].started = 1;
    }
    if (rc == HO_OK) {
        if (pthread_create(&fw->pruner, NULL, fwd_pruner_main, fw) != 0)
            rc = ho_error_set(err, HO_EIO, NULL, "forward: cannot start the pruner thread");
        else
            fw->pruner_started = 1;
    }
    if (rc != HO_OK) {
        forward_stop(fw);
        return rc;
    }
    *out = fw;
    return HO_OK;
}

void forward_stop(struct forward *fw)
{
    size_t i;

    if (fw == NULL)
        return;
    pthread_mutex_lock(&fw->mu);
    fw->stopping = 1;
    pthread_cond_broadcast(&fw->cv);
    pthread_cond_broadcast(&fw->pts_cv);
    pthread_mutex_unlock(&fw->mu);
    for (i = 0; i < fw->n; i++) {
        if (fw->w[i].started)
            pthread_join(fw->w[i].thread, NULL);
        httpc_free(fw->w[i].http);
    }
    if (fw->pruner_started)
        pthread_join(fw->pruner, NULL);
    pthread_cond_destroy(&fw->cv);
    pthread_cond_destroy(&fw->pts_cv);
    pthread_mutex_destroy(&fw->mu);
    free(fw->w);
    forward_config_free(fw->cfg);
    free(fw);
}

static enum ho_code fwd_status_one(struct forward *fw, struct fwd_worker *w,
                                   struct forward_status *s)
{
    struct store_forwarder sf;
    enum ho_code rc;

    rc = store_forwarder_get(fw->app->store, w->t->name, &sf);
    if (rc != HO_OK)
        return rc;
    snprintf(s->name, sizeof(s->name), "%s", w->t->name);
    s->type = w->t->type;
    s->target = xstrdup(w->t->target);
    s->delivered_seq = sf.delivered_seq;
    s->pending = sf.pending;
    s->oldest_pending_ms = sf.oldest_pending_ms;
    s->delivered = sf.delivered;
    s->dropped = sf.dropped;
    s->failures = sf.failures;
    s->last_error = sf.last_error;
    sf.last_error = NULL;
    s->last_attempt_at_ms = sf.last_attempt_at_ms;
    s->last_success_at_ms = sf.last_success_at_ms;
    pthread_mutex_lock(&fw->mu);
    s->tags_dropped = w->tags_dropped;
    if (w->fails_in_row == 0)
        s->state = FORWARD_STATE_OK;
    else if (w->permanent || w->fails_in_row >= FORWARD_FAILING_AFTER)
        s->state = FORWARD_STATE_FAILING;
    else
        s->state = FORWARD_STATE_RETRYING;
    pthread_mutex_unlock(&fw->mu);
    store_forwarder_cleanup(&sf);
    return HO_OK;
}

enum ho_code forward_status(struct app *app, struct forward_status **out, size_t *n)
{
    struct forward *fw = app->forward;
    struct forward_status *s;
    enum ho_code rc = HO_OK;
    size_t i;

    *out = NULL;
    *n = 0;
    if (fw == NULL || fw->n == 0)
        return HO_OK;
    s = xcalloc(fw->n, sizeof(*s));
    for (i = 0; rc == HO_OK && i < fw->n; i++)
        rc = fwd_status_one(fw, &fw->w[i], &s[i]);
    if (rc != HO_OK) {
        forward_status_free(s, fw->n);
        return rc;
    }
    *out = s;
    *n = fw->n;
    return HO_OK;
}

void forward_status_free(struct forward_status *s, size_t n)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < n; i++) {
        free(s[i].target);
        free(s[i].last_error);
    }
    free(s);
}
