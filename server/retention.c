/*
 * The retention pruner (retention.h). A pass deletes runs older than
 * retention_days in batches of RETENTION_BATCH, pausing RETENTION_PAUSE_MS
 * between batches so ingest gets the store lock in between, then the states
 * of checks not run since then. A run whose points a forwarder has not
 * delivered yet stays (its outbox row is made back from it). The first pass
 * runs shortly after start, the next ones every RETENTION_EVERY_MS. Stop wakes
 * the thread at once.
 */
#include <stdlib.h>

#include "app.h"
#include "clock.h"
#include "forward.h"
#include "log.h"
#include "mem.h"
#include "retention.h"
#include "store_retention.h"
#include "ticker.h"

#define RETENTION_BATCH    2000
#define RETENTION_PAUSE_MS 50
#define RETENTION_FIRST_MS 5000
#define RETENTION_EVERY_MS (10 * 60 * 1000)

struct retention {
    struct app *app;
    struct ticker *ticker;
};

/* The runs older than before_ms whose points every forwarder has (forward.h). */
static enum ho_code prune_runs(struct retention *r, int64_t before_ms, size_t limit,
                               size_t *deleted)
{
    return store_runs_prune(r->app->store, before_ms, forward_min_delivered(r->app->forward),
                            limit, deleted);
}

static enum ho_code prune_states(struct retention *r, int64_t before_ms, size_t limit,
                                 size_t *deleted)
{
    return store_states_prune(r->app->store, before_ms, limit, deleted);
}

/* Deletes in batches with prune_fn until a batch comes back short; the total deleted. */
static size_t retention_drain(struct retention *r, struct ticker *t, int64_t before_ms,
                              const char *what,
                              enum ho_code (*prune_fn)(struct retention *, int64_t, size_t,
                                                       size_t *))
{
    size_t deleted = 0, total = 0;

    do {
        if (prune_fn(r, before_ms, RETENTION_BATCH, &deleted) != HO_OK) {
            log_warnx("retention: pruning %s failed; trying again later", what);
            break;
        }
        total += deleted;
    } while (deleted == RETENTION_BATCH && !ticker_wait(t, RETENTION_PAUSE_MS));
    return total;
}

static void retention_pass(void *arg, struct ticker *t)
{
    struct retention *r = arg;
    int64_t days = r->app->cfg.retention_days;
    int64_t before = clock_wall_ms() - days * 86400 * 1000;
    size_t runs, states;

    runs = retention_drain(r, t, before, "runs", prune_runs);
    states = retention_drain(r, t, before, "states", prune_states);
    if (runs > 0 || states > 0)
        log_info("retention: deleted %zu runs and %zu check states older than %lld days", runs,
                 states, (long long)days);
}

enum ho_code retention_start(struct app *app, struct retention **out, struct ho_error *err)
{
    struct retention *r;
    enum ho_code rc;

    *out = NULL;
    if (app->cfg.retention_days <= 0)
        return HO_OK;
    r = xcalloc(1, sizeof(*r));
    r->app = app;
    rc = ticker_start("retention", retention_pass, r, RETENTION_FIRST_MS, RETENTION_EVERY_MS,
                      &r->ticker, err);
    if (rc != HO_OK) {
        free(r);
        return rc;
    }
    *out = r;
    return HO_OK;
}

void retention_stop(struct retention *r)
{
    if (r == NULL)
        return;
    ticker_stop(r->ticker);
    free(r);
}
