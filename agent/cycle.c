/*
 * One check cycle: test -> repair -> re-test -> outcome (DESIGN.md section 4).
 *   ok        the test passed
 *   repaired  the re-test after a repair passed
 *   failed    still broken (including a suppressed or not allowed repair)
 *   error     the test itself could not run (timeout, exec failure, UNKNOWN)
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "cycle.h"
#include "mem.h"
#include "utf8.h"

void cycle_guard_cleanup(struct cycle_guard *g)
{
    free(g->times);
    g->times = NULL;
    g->n = 0;
}

/* Forgets repairs older than the window. */
static void cycle_guard_expire(struct cycle_guard *g, const struct manifest_check *c,
                               int64_t now_ms)
{
    int64_t horizon = now_ms - (int64_t)c->max_repairs_window_s * 1000;
    size_t keep = 0, i;

    for (i = 0; i < g->n; i++) {
        if (g->times[i] > horizon)
            g->times[keep++] = g->times[i];
    }
    g->n = keep;
}

int cycle_guard_exhausted(struct cycle_guard *g, const struct manifest_check *c, int64_t now_ms)
{
    if (c->max_repairs <= 0)
        return 0;
    cycle_guard_expire(g, c, now_ms);
    return g->n >= (size_t)c->max_repairs;
}

static void cycle_guard_record(struct cycle_guard *g, const struct manifest_check *c,
                               int64_t now_ms)
{
    if (c->max_repairs <= 0)
        return;
    g->times = xrealloc(g->times, (g->n + 1) * sizeof(*g->times));
    g->times[g->n++] = now_ms;
}

/* Sets ts_ms on metrics [from, n) that have none. */
static void cycle_stamp(struct run *r, size_t from, int64_t ts)
{
    size_t i;

    for (i = from; i < r->nmetrics; i++) {
        if (r->metrics[i].ts_ms == 0)
            r->metrics[i].ts_ms = ts;
    }
}

static enum run_outcome cycle_broken_outcome(int status)
{
    return status == TEST_STATUS_UNKNOWN ? RUN_OUTCOME_ERROR : RUN_OUTCOME_FAILED;
}

static void cycle_suppress(struct run *r, const struct manifest_check *c)
{
    r->repair.present = 1;
    r->repair.status = REPAIR_STATUS_SUPPRESSED;
    r->repair.output = xasprintf("loop guard: %d repairs in the last %d s; repair suppressed, "
                                 "the check keeps being tested",
                                 c->max_repairs, c->max_repairs_window_s);
}

/* A copy of s cut to RUN_ALERT_MAX_TEXT bytes on a character boundary; NULL for NULL. */
static char *cycle_alert_text(const char *s)
{
    if (s == NULL)
        return NULL;
    return xstrndup(s, utf8_cut(s, strlen(s), RUN_ALERT_MAX_TEXT));
}

/* A copy of the check's manifest alert block, which failed and error runs carry. */
static struct run_alert *cycle_alert(const struct manifest_alert *m)
{
    struct run_alert *a = xcalloc(1, sizeof(*a));
    size_t i, n = 0;

    a->severity = cycle_alert_text(m->severity);
    a->runbook = cycle_alert_text(m->runbook);
    while (m->docs != NULL && m->docs[n] != NULL && n < RUN_ALERT_MAX_DOCS)
        n++;
    if (n > 0) {
        a->docs = xcalloc(n, sizeof(*a->docs));
        for (i = 0; i < n; i++)
            a->docs[i] = cycle_alert_text(m->docs[i]);
        a->ndocs = n;
    }
    a->advice = cycle_alert_text(m->advice);
    a->changelog = cycle_alert_text(m->changelog);
    a->login = cycle_alert_text(m->login);
    return a;
}

static int cycle_should_repair(const struct manifest_check *c, const struct run *r,
                               const struct cycle_opts *opts)
{
    if (r->test.status == TEST_STATUS_OK || !c->has_repair)
        return 0;
    if (opts->report_only || c->report_only)
        return 0;
    return (c->repair_on & (1u << r->test.status)) != 0;
}

enum ho_code cycle_run(const struct cycle_ops *ops, const struct manifest *pkg,
                       const struct manifest_check *c, struct cycle_guard *guard,
                       const struct cycle_opts *opts, struct run *out)
{
    int64_t t0 = clock_mono_ms(), now = clock_wall_ms();
    size_t before;

    memset(out, 0, sizeof(*out));
    if (crypto_uuid_v7(now, out->id) != HO_OK)
        return HO_EIO;
    out->package = xstrdup(pkg->name);
    out->version = xstrdup(pkg->version);
    out->check = xstrdup(c->name);
    out->started_at_ms = now;
    out->interval_s = c->interval_s;
    out->environment = xstrdup(pkg->environment);
    if (pkg->ntags > 0) {
        size_t i;

        out->tags = xcalloc(pkg->ntags, sizeof(*out->tags));
        for (i = 0; i < pkg->ntags; i++) {
            out->tags[i].key = xstrdup(pkg->tags[i].key);
            out->tags[i].value = xstrdup(pkg->tags[i].value);
        }
        out->ntags = pkg->ntags;
    }
    out->manual = opts->manual;
    out->operator_name = opts->manual ? xstrdup(opts->operator_name) : NULL;
    ops->test(ops->ctx, pkg, c, &out->test, &out->metrics, &out->nmetrics);
    cycle_stamp(out, 0, now);
    if (out->test.status == TEST_STATUS_OK) {
        out->outcome = RUN_OUTCOME_OK;
    } else if (!cycle_should_repair(c, out, opts)) {
        out->outcome = cycle_broken_outcome(out->test.status);
    } else if (guard != NULL && cycle_guard_exhausted(guard, c, clock_wall_ms())) {
        cycle_suppress(out, c);
        out->outcome = cycle_broken_outcome(out->test.status);
    } else {
        if (guard != NULL)
            cycle_guard_record(guard, c, clock_wall_ms());
        ops->repair(ops->ctx, pkg, c, &out->test, &out->repair);
        before = out->nmetrics;
        ops->test(ops->ctx, pkg, c, &out->retest, &out->metrics, &out->nmetrics);
        cycle_stamp(out, before, clock_wall_ms());
        if (out->retest.status == TEST_STATUS_OK)
            out->outcome = RUN_OUTCOME_REPAIRED;
        else
            out->outcome = cycle_broken_outcome(out->retest.status);
    }
    if (out->outcome == RUN_OUTCOME_FAILED || out->outcome == RUN_OUTCOME_ERROR)
        out->alert = cycle_alert(&c->alert);
    out->duration_ms = clock_mono_ms() - t0;
    return HO_OK;
}

int cycle_exit_code(const struct run *r)
{
    const struct run_step *s = r->retest.present ? &r->retest : &r->test;

    if (s->status < TEST_STATUS_OK || s->status > TEST_STATUS_UNKNOWN)
        return TEST_STATUS_UNKNOWN;
    return s->status;
}
