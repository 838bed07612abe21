/*
 * The retention pruner (retention.h). A pass deletes runs older than
 * retention_days in batches of RETENTION_BATCH, pausing RETENTION_PAUSE_MS
 * between batches so ingest gets the store lock in between, then the states
 * of checks not run since then. The first pass runs shortly after start, the
 * next ones every RETENTION_EVERY_MS. Stop wakes the thread at once.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "retention.h"
#include "store_retention.h"

#define RETENTION_BATCH    2000
#define RETENTION_PAUSE_MS 50
#define RETENTION_FIRST_MS 5000
#define RETENTION_EVERY_MS (10 * 60 * 1000)

struct retention {
    struct app *app;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

/* Waits ms or until stopped; returns 1 when stopped. */
static int retention_wait(struct retention *r, int64_t ms)
{
    struct timespec ts;
    int stop;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

/* Deletes in batches with prune_fn until a batch comes back short; the total deleted. */
static size_t retention_drain(struct retention *r, int64_t before_ms, const char *what,
                              enum ho_code (*prune_fn)(struct store *, int64_t, size_t, size_t *))
{
    size_t deleted = 0, total = 0;

    do {
        if (prune_fn(r->app->store, before_ms, RETENTION_BATCH, &deleted) != HO_OK) {
            log_warnx("retention: pruning %s failed; trying again later", what);
            break;
        }
        total += deleted;
    } while (deleted == RETENTION_BATCH && !retention_wait(r, RETENTION_PAUSE_MS));
    return total;
}

static void retention_pass(struct retention *r)
{
    int64_t days = r->app->cfg.retention_days;
    int64_t before = clock_wall_ms() - days * 86400 * 1000;
    size_t runs, states;

    runs = retention_drain(r, before, "runs", store_runs_prune);
    states = retention_drain(r, before, "states", store_states_prune);
    if (runs > 0 || states > 0)
        log_info("retention: deleted %zu runs and %zu check states older than %lld days", runs,
                 states, (long long)days);
}

static void *retention_main(void *arg)
{
    struct retention *r = arg;
    int64_t wait_ms = RETENTION_FIRST_MS;

    while (!retention_wait(r, wait_ms)) {
        retention_pass(r);
        wait_ms = RETENTION_EVERY_MS;
    }
    return NULL;
}

enum ho_code retention_start(struct app *app, struct retention **out, struct ho_error *err)
{
    struct retention *r;
    pthread_condattr_t ca;

    *out = NULL;
    if (app->cfg.retention_days <= 0)
        return HO_OK;
    r = xcalloc(1, sizeof(*r));
    r->app = app;
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&r->thread, NULL, retention_main, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return ho_error_set(err, HO_EINTERNAL, NULL, "retention: cannot start a thread");
    }
    *out = r;
    return HO_OK;
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
