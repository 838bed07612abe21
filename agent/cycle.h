/*
 * The check cycle (DESIGN.md section 4): test; when broken and allowed,
 * repair and test again; decide the outcome. The loop guard (max_repairs)
 * counts repairs in a wall-clock window whatever the state does in between.
 */
#ifndef HO_CYCLE_H
#define HO_CYCLE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "manifest.h"
#include "run.h"

/* How tests and repairs are run; probe.c in the agent, fakes in unit tests. */
struct cycle_ops {
    void (*test)(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                 struct run_step *step, struct metric **metrics, size_t *nmetrics);
    void (*repair)(void *ctx, const struct manifest *pkg, const struct manifest_check *c,
                   const struct run_step *test, struct run_step *step);
    void *ctx;
};

/* Repair times of one check (wall-clock ms), oldest first. */
struct cycle_guard {
    int64_t *times; /* owned */
    size_t n;
};

void cycle_guard_cleanup(struct cycle_guard *g);
/* 1 when another repair now would exceed c's max_repairs in its window. */
int cycle_guard_exhausted(struct cycle_guard *g, const struct manifest_check *c, int64_t now_ms);

struct cycle_opts {
    int report_only;           /* never repair (agent flag or manual --report-only) */
    int manual;                /* run by hand */
    const char *operator_name; /* who ran it by hand, may be NULL */
};

/*
 * Runs one cycle of check c of package pkg and fills out (a new run: UUIDv7 id,
 * started_at now, steps, outcome, metrics). guard may be NULL (no loop guard).
 * Fails only when no run id can be made (HO_EIO).
 */
enum ho_code cycle_run(const struct cycle_ops *ops, const struct manifest *pkg,
                       const struct manifest_check *c, struct cycle_guard *guard,
                       const struct cycle_opts *opts, struct run *out) HO_WUR;

/* The Nagios exit code of a run's final state (retest when there was one). */
int cycle_exit_code(const struct run *r);

#endif
