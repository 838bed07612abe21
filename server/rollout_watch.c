/*
 * The rollout watcher (rollout_watch.h). A pass reads the assignments, and for
 * each rollout in progress has the store add the runs stored since the last
 * pass to its running counts (store_rollout_tally: a short read of new rows
 * only), then applies the halting rule. A halt names the versions and rates in
 * its reason, is logged at warning, and does not undo a PUT that came in
 * between (store_rollout_halt checks updated_at). Stop wakes the thread at once.
 */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "rollout.h"
#include "rollout_watch.h"
#include "store_packages.h"
#include "ticker.h"

struct rollout_watch {
    struct app *app;
    struct rollout_limits limits;
    struct ticker *ticker;
};

/* rollout_max_failure_increase as a number; the default when it is not set. */
static enum ho_code watch_increase(const struct server_config *c, double *out, struct ho_error *err)
{
    *out = 0.25;
    if (c->rollout_max_failure_increase == NULL)
        return HO_OK;
    if (parse_double(c->rollout_max_failure_increase, out) != HO_OK || *out < 0 || *out > 1)
        return ho_error_set(err, HO_EINVAL, "rollout_max_failure_increase",
                            "must be a number from 0 to 1 (a failure rate increase, 0.25 = 25 "
                            "points)");
    return HO_OK;
}

enum ho_code rollout_watch_check_config(const struct server_config *c, struct ho_error *err)
{
    double v;

    return watch_increase(c, &v, err);
}

/* Looks at the rollout of one package; halts it when its new version fails too often. */
static void watch_one(struct rollout_watch *w, const char *package)
{
    struct pkg_assignment a;
    struct rollout_counts c;
    char reason[ROLLOUT_REASON_LEN];
    enum ho_code rc;

    rc = store_rollout_tally(w->app->store, package, &a, &c);
    if (rc == HO_ENOENT)
        return;
    if (rc != HO_OK) {
        log_warnx("rollout: cannot count the runs of %s; trying again later", package);
        return;
    }
    if (rollout_should_halt(&c, &w->limits, a.resolved_version, a.previous_version, reason,
                            sizeof(reason))) {
        rc = store_rollout_halt(w->app->store, package, a.updated_at_ms, reason, clock_wall_ms());
        if (rc == HO_OK)
            log_warnx("rollout: halted %s %s, agents go back to %s: %s", package,
                      a.resolved_version, a.previous_version, reason);
        else if (rc != HO_ENOENT)
            log_warnx("rollout: cannot halt %s: the store failed", package);
    }
    store_pkg_assignment_cleanup(&a);
}

static void watch_pass(void *arg, struct ticker *t)
{
    struct rollout_watch *w = arg;
    struct pkg_assignment *as = NULL;
    size_t n = 0, i;

    if (store_assignments_all(w->app->store, &as, &n) != HO_OK) {
        log_warnx("rollout: cannot read the assignments; trying again later");
        return;
    }
    for (i = 0; i < n && !ticker_wait(t, 0); i++)
        if (!as[i].halted && as[i].previous_version != NULL)
            watch_one(w, as[i].package);
    store_pkg_assignments_free(as, n);
}

enum ho_code rollout_watch_start(struct app *app, struct rollout_watch **out, struct ho_error *err)
{
    struct rollout_watch *w;
    enum ho_code rc;

    *out = NULL;
    w = xcalloc(1, sizeof(*w));
    w->app = app;
    rc = watch_increase(&app->cfg, &w->limits.max_increase, err);
    w->limits.min_runs = app->cfg.rollout_min_runs;
    if (rc == HO_OK)
        rc = ticker_start("rollout", watch_pass, w, app->cfg.rollout_check_interval * 1000,
                          app->cfg.rollout_check_interval * 1000, &w->ticker, err);
    if (rc != HO_OK) {
        free(w);
        return rc;
    }
    *out = w;
    return HO_OK;
}

void rollout_watch_stop(struct rollout_watch *w)
{
    if (w == NULL)
        return;
    ticker_stop(w->ticker);
    free(w);
}
